package postdeploy_test

import (
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
