package postdeploy_test

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/sentry"
)

// TestSpikeMessageRollback: a spike after a deploy offers its Rollback,
// naming the release it goes back to when the deploy's record does,
// except after a first deploy (nothing to go back to) and a rollback.
func TestSpikeMessageRollback(t *testing.T) {
	tests := []struct {
		name       string
		kind       deploy.Kind
		previous   string
		rollbackTo string
		noRollback bool
		want       string // the button's label and action, "" for none
	}{
		{"deploy from an earlier release", deploy.KindDeploy, "1", "1", false, "Roll back to 1: rollback web prod to 1 from 2"},
		{"deploy recorded before its rollback target was", deploy.KindDeploy, "1", "", false, "Rollback: rollback web prod from 2"},
		{"first deploy", deploy.KindDeploy, "", "", false, ""},
		{"from a bad release only", deploy.KindDeploy, "1", "", true, ""},
		{"rollback", deploy.KindRollback, "3", "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &deploy.Record{ID: "20261123-120000-abcdef", Kind: tt.kind, App: "web", Env: "prod", Build: "2", Previous: tt.previous,
				Outcome: deploy.OutcomeSucceeded, NoRollback: tt.noRollback, RollbackTo: tt.rollbackTo,
				Hosts: []deploy.HostResult{{Host: "web1", State: deploy.HostActive, Current: "2", Previous: tt.previous}}}
			m := postdeploy.SpikeMessage(r, sentry.SpikeReport{Rate: 60, Baseline: 1, Threshold: 10})
			got := ""
			for _, b := range m.Buttons {
				got += b.Label + ": " + b.Action
			}
			if got != tt.want {
				t.Errorf("buttons: got %+v, want %q", m.Buttons, tt.want)
			}
		})
	}
}

// TestSpikeMessageAfterRollback: a spike in the watch of a rollback is
// told as one after that rollback, not as a deploy of the build it
// restored, and says that nothing rolls back further by itself.
func TestSpikeMessageAfterRollback(t *testing.T) {
	tests := []struct {
		name      string
		kind      deploy.Kind
		build     string
		previous  string
		wantTitle string
		wantLine  string // "" for none about the rollback
		wantField string // the label of the run's id
	}{
		{"deploy", deploy.KindDeploy, "2", "1",
			"📈 Error spike after web 2 to prod: 60.0 errors/min (before the deploy: 1.0/min)", "", "deploy"},
		{"rollback", deploy.KindRollback, "1", "2",
			"📈 Error spike after the rollback of web/prod to 1: 60.0 errors/min (before the rollback: 1.0/min)",
			"the errors did not stop with the rollback to 1 (from 2): the cause may not be the release; nothing rolls back further by itself (to go further back, name the build: rollback web prod to BUILD)",
			"rollback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &deploy.Record{ID: "20261123-120000-abcdef", Kind: tt.kind, App: "web", Env: "prod", Build: tt.build, Previous: tt.previous,
				Outcome: deploy.OutcomeSucceeded, Hosts: []deploy.HostResult{{Host: "web1", State: deploy.HostActive, Current: tt.build, Previous: tt.previous}}}
			m := postdeploy.SpikeMessage(r, sentry.SpikeReport{Rate: 60, Baseline: 1, Threshold: 10})
			if m.Title != tt.wantTitle {
				t.Errorf("title: got %q, want %q", m.Title, tt.wantTitle)
			}
			var line string
			for _, l := range m.Lines {
				if strings.Contains(l, "rollback") {
					line = l
				}
			}
			// The build to go back to is not known here: the command is
			// told as prose, not marked as one to send as it is.
			suggested(t, line)
			if line != tt.wantLine {
				t.Errorf("line about the rollback: got %q, want %q (lines %q)", line, tt.wantLine, m.Lines)
			}
			if last := m.Fields[len(m.Fields)-1]; last.Label != tt.wantField || last.Value != r.ID {
				t.Errorf("field of the run: got %s %s, want %s %s", last.Label, last.Value, tt.wantField, r.ID)
			}
		})
	}
}
