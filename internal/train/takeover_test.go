package train_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/train"
)

// sharedStore is a store the replicas of a test share: the train's
// records, its audit log, its leases and its events taken once.
type sharedStore interface {
	train.Store
	train.Auditor
	train.Once
	deploy.Leaser
}

// sharedStores opens each backend with its lease and expiry clock set to
// now, which the test alone moves.
var sharedStores = []struct {
	name string
	open func(t *testing.T, now func() time.Time) sharedStore
}{
	{name: "embedded", open: func(t *testing.T, now func() time.Time) sharedStore {
		st, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), embedded.Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{name: "redis", open: func(t *testing.T, now func() time.Time) sharedStore {
		srv := redisserver.Start(t)
		st, err := redis.Open(context.Background(), redis.Options{URL: srv.URL(), Now: now, MaxClockSkew: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// snapshot returns what p has kept so far.
func (p *titles) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

// TestTakeoverWhileDepartingSaysCutShort: a replica sending the train off
// early (train depart now) takes over the lead while its departure runs,
// and finds the departure the dead leader left unended. It says that one
// was cut short at the takeover, while its own departure still ships, and
// not its own, which is running; another replica taking the lead as well
// says nothing of it: said once between them.
func TestTakeoverWhileDepartingSaysCutShort(t *testing.T) {
	const cutShort = "The 14:00 train to production was cut short: the bot stopped after it fell due, before it said what became of its cars."
	for _, tc := range sharedStores {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			// The leases' clock does not move: neither the departure's
			// lease nor another runs out on a loaded machine.
			leaseClock := testclock.New(time.Now())
			st := tc.open(t, leaseClock.Now)
			cfg := &config.Config{
				Apps: map[string]*config.App{"web": {Name: "web", Envs: map[string]*config.Env{"production": {Name: "production"}}}},
				Trains: map[string]*config.Train{"daily": {Name: "daily", Env: "production", Channels: []string{"#deploys"}, Timezone: "UTC",
					Boarding: "0 10 * * 1-5", Departure: "0 14 * * 1-5", Empty: "note", Grace: config.Duration(15 * time.Minute)}},
			}
			if _, err := st.Board(ctx, "daily", train.Car{App: "web", Build: "7", Env: "production", User: "alice", Boarded: time.Now()}, 0, nil); err != nil {
				t.Fatal(err)
			}
			// The leader died during Monday's 14:00 departure.
			dead := train.Departure{At: time.Date(2026, 6, 1, 14, 0, 0, 0, time.UTC)}
			if err := st.StartDeparture(ctx, "daily", dead); err != nil {
				t.Fatal(err)
			}
			start := time.Date(2026, 6, 1, 14, 5, 0, 0, time.UTC)
			replica := func(out *titles, runner train.Runner, lead func() bool, clock *jumpingClock) *train.Scheduler {
				s, err := train.New(train.Options{Config: cfg, Store: st, Runner: runner, Notifier: out, Audit: st, Once: st,
					Leases: st, LeaseTTL: time.Second, Leader: lead, Now: clock.Now, Sleep: clock.Sleep})
				if err != nil {
					t.Fatal(err)
				}
				train.SetLeaseClock(s, leaseClock.Now)
				return s
			}

			// b, a follower, sends the train off; web's deploy holds it.
			var bLeads atomic.Bool
			var postsA, postsB titles
			runner := &blockingRunner{hold: "web", started: make(chan string, 4), release: make(chan struct{})}
			clockB := &jumpingClock{now: start, end: start}
			b := replica(&postsB, runner, bLeads.Load, clockB)
			bctx, stopB := context.WithCancel(ctx)
			defer stopB()
			doneB := make(chan error, 1)
			go func() { doneB <- b.Run(bctx) }()
			if _, err := b.DepartNow(ctx, "ana", "daily"); err != nil {
				t.Fatal(err)
			}
			if app := <-runner.started; app != "web" {
				t.Fatalf("shipped %s, want web", app)
			}
			// a takes the lead as well, as a leader replaced a moment ago
			// still believes it leads.
			aLeads := func() bool { return true }
			a := replica(&postsA, &countingRunner{}, aLeads, &jumpingClock{now: start, end: start})
			actx, stopA := context.WithCancel(ctx)
			defer stopA()
			doneA := make(chan error, 1)
			go func() { doneA <- a.Run(actx) }()
			// b takes the lead at its next look.
			bLeads.Store(true)
			clockB.Move(start.Add(5 * time.Second))

			said := func() []string {
				var out []string
				for _, title := range append(postsA.snapshot(), postsB.snapshot()...) {
					if strings.Contains(title, "cut short") {
						out = append(out, title)
					}
				}
				return out
			}
			// Said while b's own departure still holds the train.
			waitUntil(t, "the dead leader's departure to be said cut short", func() bool { return len(said()) > 0 })
			close(runner.release)
			waitUntil(t, "b's departure to end", func() bool {
				left, err := st.Unended(ctx, "daily")
				return err == nil && len(left) == 0 && slices.ContainsFunc(postsB.snapshot(), func(s string) bool {
					return strings.HasPrefix(s, "🚂 The 14:05 train to production has left")
				})
			})
			stopA()
			stopB()
			if err := <-doneA; err != nil {
				t.Error(err)
			}
			if err := <-doneB; err != nil {
				t.Error(err)
			}
			if got := said(); !slices.Equal(got, []string{cutShort}) {
				t.Errorf("posts saying a departure was cut short, of both replicas: got %q, want %q once", got, cutShort)
			}
		})
	}
}
