package deploy_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestInterruptedRunIsObserved: a run whose process died never told the
// observers (metrics, StatsD markers, post-deploy work) how it ended; the
// engine that marks it interrupted does, once, whichever way it is found.
func TestInterruptedRunIsObserved(t *testing.T) {
	tests := []struct {
		name string
		find func(f *fixture)
	}{
		{name: "recovery", find: func(f *fixture) {
			if got, err := f.engine.Recover(context.Background()); err != nil || len(got) != 1 {
				t.Fatalf("recover: got %d records, %v; want 1", len(got), err)
			}
		}},
		{name: "taken over by the next deploy", find: func(f *fixture) {
			f.build("2")
			f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			finished := map[string][]deploy.Outcome{}
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				o.Observers = append(o.Observers, func(ev deploy.Event) {
					if ev.Kind == deploy.EventFinished && ev.Record != nil {
						mu.Lock()
						finished[ev.Record.ID] = append(finished[ev.Record.ID], ev.Record.Outcome)
						mu.Unlock()
					}
				})
			})
			f.build("1")
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			dead := f.putDead("2", deploy.HostResult{Host: "localhost", State: deploy.HostDelivering})
			tt.find(f)
			f.engine.Wait()
			mu.Lock()
			defer mu.Unlock()
			if got := finished[dead.ID]; len(got) != 1 || got[0] != deploy.OutcomeInterrupted {
				t.Errorf("observed ends of the dead run: got %v, want [%s]", got, deploy.OutcomeInterrupted)
			}
		})
	}
}
