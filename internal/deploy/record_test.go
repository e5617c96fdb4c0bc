package deploy_test

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestUnresolved: an interrupted run stays unresolved until a later run
// succeeds; whatever else came after it leaves the hosts as it left them,
// or apart.
func TestUnresolved(t *testing.T) {
	rec := func(id string, o deploy.Outcome) *deploy.Record { return &deploy.Record{ID: id, Outcome: o} }
	tests := []struct {
		name     string
		recs     []*deploy.Record // newest first
		want     string           // id, "" for none
		complete bool
	}{
		{"none", nil, "", false},
		{"last succeeded", []*deploy.Record{rec("b", deploy.OutcomeSucceeded), rec("a", deploy.OutcomeInterrupted)}, "", true},
		{"last interrupted", []*deploy.Record{rec("b", deploy.OutcomeInterrupted), rec("a", deploy.OutcomeSucceeded)}, "b", true},
		{"after a failed, a cancelled, a reverted, a partial and a running run", []*deploy.Record{
			rec("f", deploy.OutcomeRunning), rec("e", deploy.OutcomePartial), rec("d", deploy.OutcomeReverted),
			rec("c", deploy.OutcomeCancelled), rec("b", deploy.OutcomeFailed), rec("a", deploy.OutcomeInterrupted),
		}, "a", true},
		{"two interrupted: the newer", []*deploy.Record{rec("c", deploy.OutcomeFailed), rec("b", deploy.OutcomeInterrupted), rec("a", deploy.OutcomeInterrupted)}, "b", true},
		{"last found every host on its release", []*deploy.Record{rec("c", deploy.OutcomeUnchanged), rec("b", deploy.OutcomeFailed), rec("a", deploy.OutcomeInterrupted)}, "", true},
		{"resolved, then failed", []*deploy.Record{rec("c", deploy.OutcomeFailed), rec("b", deploy.OutcomeSucceeded), rec("a", deploy.OutcomeInterrupted)}, "", true},
		{"no answer yet", []*deploy.Record{rec("b", deploy.OutcomeFailed), rec("a", deploy.OutcomeReverted)}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, complete := deploy.Unresolved(tt.recs)
			id := ""
			if got != nil {
				id = got.ID
			}
			if id != tt.want || complete != tt.complete {
				t.Errorf("got %q, complete %v; want %q, complete %v", id, complete, tt.want, tt.complete)
			}
		})
	}
}

func TestLive(t *testing.T) {
	rec := func(id string, o deploy.Outcome) *deploy.Record { return &deploy.Record{ID: id, Outcome: o} }
	tests := []struct {
		name            string
		recs            []*deploy.Record // newest first
		live, unsettled string           // ids, "" for none
		complete        bool
	}{
		{"none", nil, "", "", false},
		{"last succeeded", []*deploy.Record{rec("b", deploy.OutcomeSucceeded), rec("a", deploy.OutcomeSucceeded)}, "b", "", true},
		{"last partial", []*deploy.Record{rec("b", deploy.OutcomePartial), rec("a", deploy.OutcomeSucceeded)}, "b", "", true},
		{"last found every host on its release", []*deploy.Record{rec("b", deploy.OutcomeUnchanged), rec("a", deploy.OutcomeInterrupted)}, "b", "", true},
		{"after runs that changed nothing", []*deploy.Record{
			rec("d", deploy.OutcomeReverted), rec("c", deploy.OutcomeCancelled), rec("b", deploy.OutcomeFailed), rec("a", deploy.OutcomeSucceeded),
		}, "a", "", true},
		{"interrupted after a success", []*deploy.Record{rec("c", deploy.OutcomeFailed), rec("b", deploy.OutcomeInterrupted), rec("a", deploy.OutcomeSucceeded)}, "", "b", true},
		{"running", []*deploy.Record{rec("b", deploy.OutcomeRunning), rec("a", deploy.OutcomeSucceeded)}, "", "b", true},
		{"no answer yet", []*deploy.Record{rec("b", deploy.OutcomeFailed), rec("a", deploy.OutcomeReverted)}, "", "", false},
	}
	id := func(r *deploy.Record) string {
		if r == nil {
			return ""
		}
		return r.ID
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live, unsettled, complete := deploy.Live(tt.recs)
			if id(live) != tt.live || id(unsettled) != tt.unsettled || complete != tt.complete {
				t.Errorf("got live %q, unsettled %q, complete %v; want %q, %q, %v", id(live), id(unsettled), complete, tt.live, tt.unsettled, tt.complete)
			}
		})
	}
}
