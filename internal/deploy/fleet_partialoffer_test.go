package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/sentry"
)

// TestFleetPartialDeployAlertOffersWhatRollbackDoes: after a deploy that
// ended partial (host1 failed its health check and went back), the hosts
// run different releases, and a rollback that names no release is
// refused. The Sentry spike alert's Rollback button must name the
// release a rollback goes to, on every host, and a click must run just
// that; where no release is on every host, the alert offers no button
// and says why, as the rollback refuses. A partial deploy recorded no
// target, and its alert offered a plain button that the rollback refused.
func TestFleetPartialDeployAlertOffersWhatRollbackDoes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// prepare readies the fleet, on build 1, for the partial deploy
		// of 3, which fails host1's health check.
		prepare func(t *testing.T, f *fleetFixture)
		want    string // where the button goes; "" for no button
		why     string // in the alert without a button
	}{
		{
			name:    "a host failed after its switch",
			prepare: func(t *testing.T, f *fleetFixture) { f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded) },
			want:    "2",
		},
		{
			// host1 missed the deploy of 2: the release every host has
			// is 1, and 2 (the others' `previous`) is refused as not on
			// host1.
			name: "a host that missed a deploy failed",
			prepare: func(t *testing.T, f *fleetFixture) {
				f.fleet.Stop(1)
				f.mustRun(deploy.KindDeploy, "2", deploy.OutcomePartial)
				f.fleet.Start(1)
			},
			want: "1",
		},
		{
			// host1 joined with nothing on it and is left on 3, bad: no
			// release is on every host.
			name: "a host on its first release failed",
			prepare: func(t *testing.T, f *fleetFixture) {
				f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
				if err := os.RemoveAll(f.root(1)); err != nil {
					t.Fatal(err)
				}
			},
			why: "no release on every host to roll back to after the partial deploy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 3)
			f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, env: []string{"max_failures: 1"}}, nil)
			for _, b := range []string{"1", "2", "3"} {
				f.build(b)
			}
			f.seed("1")
			tt.prepare(t, f)
			if err := os.WriteFile(filepath.Join(fleet.Hosts[1].Root, "sick-3"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)

			m := postdeploy.SpikeMessage(rec, sentry.SpikeReport{App: "web", Env: "prod", Build: "3", Rate: 40, Baseline: 1, Threshold: 10})
			if tt.want == "" {
				if len(m.Buttons) != 0 || !strings.Contains(strings.Join(m.Lines, "\n"), tt.why) {
					t.Errorf("alert: got buttons %+v, lines %q; want none, and a line saying %q", m.Buttons, m.Lines, tt.why)
				}
				// As the rollback says: nothing unnamed, nor the release
				// the others ran before.
				for _, to := range []string{"", "2"} {
					if _, err := f.rollback(to, "3"); err == nil {
						t.Errorf("rollback to %q from 3 after the alert offered none: started, want refused", to)
					}
				}
				return
			}
			if len(m.Buttons) != 1 {
				t.Fatalf("alert: got buttons %+v, want one", m.Buttons)
			}
			b := m.Buttons[0]
			if b.Label != "Roll back to "+tt.want {
				t.Errorf("button label: got %q, want %q", b.Label, "Roll back to "+tt.want)
			}
			res := commands.Parse(b.Action, commands.CatalogOf(f.cfg), commands.Options{})
			if res.Kind != commands.Run {
				t.Fatalf("button action %q: got %s (%s), want a command", b.Action, res.Kind, res.Reply)
			}
			back, err := f.rollback(res.Cmd.Build, res.Cmd.From)
			if err != nil {
				t.Fatalf("the button's rollback (%s): refused: %v", b.Action, err)
			}
			if back.Outcome != deploy.OutcomeSucceeded || back.Build != tt.want {
				t.Errorf("the button's rollback: got %s to %s (%s), want succeeded to %s", back.Outcome, back.Build, back.Error, tt.want)
			}
			for i, h := range fleet.Hosts {
				if got := f.link(i, "current"); got != "releases/"+tt.want {
					t.Errorf("%s: current %s after the rollback, want releases/%s", h.Name, got, tt.want)
				}
			}
		})
	}
}

// rollback runs a rollback to build (or the previous good one) from
// from, as a button's command asks, and waits for its final record.
func (f *fleetFixture) rollback(build, from string) (*deploy.Record, error) {
	f.t.Helper()
	done := make(chan *deploy.Record, 1)
	req := deploy.Request{App: "web", Env: "prod", Build: build, From: from, Requester: "ana"}
	_, err := f.engine.Rollback(context.Background(), req, func(ev deploy.Event) {
		f.sink(ev)
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	})
	if err != nil {
		return nil, err
	}
	return f.wait(done), nil
}
