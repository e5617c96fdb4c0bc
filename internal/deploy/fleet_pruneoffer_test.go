package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestFleetPartialPruneOffersWhatRollbackDoes: behind a deploy that ended
// partial within max_failures (host1 failed its health check and went
// back) and is only removing old releases, a cancel and a rollback are
// refused with what undoes that deploy once it has ended. They offered
// `rollback web prod`, which the rollback then refused: its hosts run
// different releases, and only a rollback naming its release is taken.
// The offer names the release, as the partial run's report does, and is
// taken; where no release is on every host, nothing is offered, and the
// refusal says why. The refusals said the deploy had switched web/prod
// to 3, as though every host ran it; they say on how many hosts.
func TestFleetPartialPruneOffersWhatRollbackDoes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(t *testing.T, f *fleetFixture)
		want    string // where the offered rollback goes; "" for none
		why     string // in the refusals without an offer
	}{
		{
			name:    "a host failed after its switch",
			prepare: func(t *testing.T, f *fleetFixture) { f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded) },
			want:    "2",
		},
		{
			// host1 joined with nothing on it and is left on 3, bad.
			name: "a host on its first release failed",
			prepare: func(t *testing.T, f *fleetFixture) {
				f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
				if err := os.RemoveAll(f.root(1)); err != nil {
					t.Fatal(err)
				}
			},
			why: "no release is on every host to roll back to",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 3)
			// Two releases kept: the deploy of 3 prunes 1 where it
			// switched.
			f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, keep: 2, env: []string{"max_failures: 1"}}, nil)
			for _, b := range []string{"1", "2", "3"} {
				f.build(b)
			}
			f.seed("1")
			tt.prepare(t, f)
			if err := os.WriteFile(filepath.Join(fleet.Hosts[1].Root, "sick-3"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			g := f.holdPrune(t)
			_, done, err := f.start(deploy.KindDeploy, "3")
			if err != nil {
				t.Fatal(err)
			}
			<-g.pruning

			// Another replica goes by the deploy's record, once it says
			// the deploy is past its switch.
			other := deploy.NewEngine(deploy.Options{Config: f.cfg, Transport: f.transport, Store: f.store, Leases: f.store, Locks: f.store, Signals: f.store, Owner: "b:1"})
			t.Cleanup(other.Wait)
			f.awaitPruning(t)
			var refusals []string
			for _, r := range []struct {
				name   string
				eng    *deploy.Engine
				cancel func() (deploy.Cancelled, error)
			}{
				{"this replica", f.engine, func() (deploy.Cancelled, error) { return f.engine.Cancel("web", "prod", "bob") }},
				{"another replica", other, func() (deploy.Cancelled, error) {
					return other.SignalCancel(context.Background(), "web", "prod", "bob")
				}},
			} {
				name, eng := r.name, r.eng
				_, err = r.cancel()
				if errs.CodeOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), "not cancelled") {
					t.Errorf("%s: cancel while pruning: got %v, want it refused", name, err)
				}
				refusals = append(refusals, errs.Message(err))
				_, err = eng.Rollback(context.Background(), deploy.Request{App: "web", Env: "prod", Requester: "bob"}, nil)
				if errs.CodeOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), "nothing was rolled back") {
					t.Errorf("%s: rollback while pruning: got %v, want it refused", name, err)
				}
				refusals = append(refusals, errs.Message(err))
			}

			close(g.release)
			rec := f.wait(done)
			if rec.Outcome != deploy.OutcomePartial {
				t.Fatalf("deploy of 3: got %s (%s), want partial", rec.Outcome, rec.Error)
			}

			var offer commands.Command
			for _, msg := range refusals {
				// host1 went back to 2, or failed on 3 and is out of
				// the deploy: the deploy switched the other two.
				if !strings.Contains(msg, "has switched web/prod to 3 on 2 of 3 hosts already") {
					t.Errorf("refusal %q: want it to say the deploy switched web/prod to 3 on 2 of 3 hosts", msg)
				}
				var rollbacks []commands.Command
				for _, c := range offered(t, f.cfg, msg) {
					if c.Verb == commands.VerbRollback {
						rollbacks = append(rollbacks, c)
					}
				}
				if tt.want == "" {
					if len(rollbacks) != 0 || !strings.Contains(msg, tt.why) {
						t.Errorf("refusal %q: offers %+v; want no rollback, and to say %q", msg, rollbacks, tt.why)
					}
					continue
				}
				if len(rollbacks) != 1 || rollbacks[0].App != "web" || rollbacks[0].Env != "prod" || rollbacks[0].Build != tt.want {
					t.Errorf("refusal %q: offers rollbacks %+v, want one of web/prod to %s", msg, rollbacks, tt.want)
					continue
				}
				offer = rollbacks[0]
			}
			if tt.want == "" {
				if _, err := f.rollback("", ""); err == nil {
					t.Errorf("rollback after a refusal that offered none: started, want refused")
				}
				return
			}
			if offer.Verb == "" {
				return // reported above
			}
			back, err := f.rollback(offer.Build, offer.From)
			if err != nil {
				t.Fatalf("the offered rollback (%s): refused: %v", offer.Text, err)
			}
			if back.Outcome != deploy.OutcomeSucceeded || back.Build != tt.want {
				t.Errorf("the offered rollback: got %s to %s (%s), want succeeded to %s", back.Outcome, back.Build, back.Error, tt.want)
			}
			for i, h := range fleet.Hosts {
				if got := f.link(i, "current"); got != "releases/"+tt.want {
					t.Errorf("%s: current %s after the rollback, want releases/%s", h.Name, got, tt.want)
				}
			}
		})
	}
}

// heldPrune holds the first prune a deploy runs on a host until release
// is closed, and closes pruning as it starts.
type heldPrune struct {
	pruning, release chan struct{}
	once             sync.Once
}

type heldPruneTransport struct {
	deploy.Transport
	g *heldPrune
}

func (tr heldPruneTransport) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := tr.Transport.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return heldPruneSession{Session: s, g: tr.g}, nil
}

type heldPruneSession struct {
	deploy.Session
	g *heldPrune
}

func (s heldPruneSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	if strings.Contains(cmd.Script, "pruned=") {
		s.g.once.Do(func() { close(s.g.pruning) })
		<-s.g.release
	}
	return s.Session.Run(ctx, cmd)
}

// awaitPruning polls the store until the record of the running deploy
// says it is only removing old releases.
func (f *fleetFixture) awaitPruning(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(fleetWait)
	for {
		running, err := f.store.Records(context.Background(), deploy.Filter{Outcome: deploy.OutcomeRunning})
		if err != nil {
			t.Fatal(err)
		}
		if len(running) == 1 && running[0].Phase == deploy.PhasePruning {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the running deploy's record: %+v; want it pruning within %s", running, fleetWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// holdPrune gives f an engine whose runs from now on are held at their
// first prune (see heldPrune).
func (f *fleetFixture) holdPrune(t *testing.T) *heldPrune {
	t.Helper()
	g := &heldPrune{pruning: make(chan struct{}), release: make(chan struct{})}
	f.engine = deploy.NewEngine(deploy.Options{
		Config: f.cfg, Store: f.store, Leases: f.store, Locks: f.store,
		Transport: func(app *config.App, env *config.Env) (deploy.Transport, error) {
			tr, err := f.transport(app, env)
			if err != nil {
				return nil, err
			}
			return heldPruneTransport{Transport: tr, g: g}, nil
		},
	})
	t.Cleanup(f.engine.Wait)
	return g
}
