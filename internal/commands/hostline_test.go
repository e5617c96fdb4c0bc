package commands_test

import (
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestHostLineNamesHostOnce: a host's line in a deploy's report and in
// its progress names the host once, up front, with the address an SSH
// error gave, and then what became of it without naming it again. It
// read "h0: reverted — h0 stopped passing its health check …" and
// "host0: failed — deliver on host0: …".
func TestHostLineNamesHostOnce(t *testing.T) {
	tests := []struct {
		name                  string
		host                  deploy.HostResult
		label, text, progress string
	}{
		{"the health gate", deploy.HostResult{Host: "h0", State: deploy.HostReverted, Current: "1",
			Error: "h0 stopped passing its health check after switching: health: exit status 1"},
			"h0", "reverted, on 1 — stopped passing its health check after switching: health: exit status 1",
			"reverted — stopped passing its health check after switching: health: exit status 1"},
		{"a failed step", deploy.HostResult{Host: "host0", State: deploy.HostFailed,
			Error: "deliver on host0: session closed"},
			"host0", "failed — deliver: session closed", "failed — deliver: session closed"},
		{"a failed step with the address", deploy.HostResult{Host: "host0", State: deploy.HostFailed,
			Error: "deliver on host0 (10.0.0.5:22): host unreachable: connection lost"},
			"host0 (10.0.0.5:22)", "failed — deliver: host unreachable: connection lost", "failed — deliver: host unreachable: connection lost"},
		{"no error", deploy.HostResult{Host: "host1", State: deploy.HostActive, Current: "2"},
			"host1", "active, on 2", "active"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2",
				Outcome: deploy.OutcomeReverted, Hosts: []deploy.HostResult{tt.host}}
			want := chat.Field{Label: tt.label, Value: tt.text}
			if m := commands.FinalMessage(rec, time.Now()); len(m.Fields) != 1 || m.Fields[0] != want {
				t.Errorf("report: got %+v, want %+v", m.Fields, want)
			}
			// A run taken over shows its hosts as its record left them.
			var p commands.Progress
			p.Apply(deploy.Event{Kind: deploy.EventStarted, Record: rec})
			want.Value = tt.progress
			if m := p.Message(time.Now()); len(m.Fields) != 1 || m.Fields[0] != want {
				t.Errorf("progress: got %+v, want %+v", m.Fields, want)
			}
		})
	}
}
