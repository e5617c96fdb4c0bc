package postdeploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// These tests run bots as a process would wire them: a watcher, an engine
// and a command service over a state store, opened again for each "new
// process" (the embedded file, or a new client of one real redis-server),
// against the fake Sentry.

// durableStore is what a bot's state store offers here; both stores are.
type durableStore interface {
	commands.Store
	deploy.Store
	deploy.Leaser
	watchstore.Store
	Close() error
}

// watchLeaseTTL is the lease of a watch in these tests: a killed bot's
// runs out that soon.
const watchLeaseTTL = 2 * time.Second

// durableFixture writes the config of web/production, watched for 10
// minutes with auto_rollback (watch: how long), publishes builds 1 and 2,
// and returns the config and how a new process opens the state store of
// kind ("embedded" or "redis"). Stores are closed when the test ends.
func durableFixture(t *testing.T, dir, kind, sentryURL, watch string) (*config.Config, func(t *testing.T) durableStore) {
	t.Helper()
	yaml := fmt.Sprintf(`sentry: {url: %s, org: acme, token: sntrys_test}
users:
  ana: {}
admins: [ana]
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'true'
    environments:
      production:
        hosts: [localhost]
        channel: "#deploys"
        sentry: {project: web-backend, watch: %s, interval: 1m, auto_rollback: true}
`, sentryURL, watch)
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"1", "2"} {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-"+b+".tar.gz"), tgz(t, b))
	}
	var open func(t *testing.T) (durableStore, error)
	switch kind {
	case "embedded":
		open = func(*testing.T) (durableStore, error) {
			return embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
		}
	case "redis":
		srv := redisserver.Start(t)
		open = func(t *testing.T) (durableStore, error) {
			return redis.Open(t.Context(), redis.Options{URL: srv.URL(), Prefix: "switchman:"})
		}
	default:
		t.Fatalf("no store %q", kind)
	}
	return cfg, func(t *testing.T) durableStore {
		t.Helper()
		st, err := open(t)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
}

// bot is one bot process.
type bot struct {
	st  durableStore
	w   *postdeploy.Watcher
	eng *deploy.Engine
	out *posts
	rb  *holdingRollbacker
}

// holdingRollbacker is a bot's rollbacker. Once hold is set, a rollback
// hangs, unstarted, until hold is closed (held closed as it does): the
// bot was killed as its rollback was to start.
type holdingRollbacker struct {
	rollbacker
	mu         sync.Mutex
	hold, held chan struct{}
}

func (h *holdingRollbacker) Rollback(ctx context.Context, req deploy.Request, sink deploy.Sink) (*deploy.Record, error) {
	h.mu.Lock()
	hold, held := h.hold, h.held
	h.mu.Unlock()
	if hold != nil {
		close(held)
		<-hold
		return nil, errors.New("the bot was killed")
	}
	return h.rollbacker.Rollback(ctx, req, sink)
}

// newBot wires a bot over st, reaching Sentry at sentryURL, named
// replica; its watches sleep with sleep, and its engine tells before of
// each event ahead of the watcher. Its watcher is closed when the test
// ends.
func newBot(t *testing.T, cfg *config.Config, st durableStore, sentryURL, replica string, clk *testclock.Clock, sleep func(context.Context, time.Duration) error, before ...deploy.Sink) *bot {
	t.Helper()
	sc, err := sentry.New(sentry.Options{BaseURL: sentryURL, Token: "sntrys_test"})
	if err != nil {
		t.Fatal(err)
	}
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	b := &bot{st: st, out: &posts{}}
	b.rb = &holdingRollbacker{rollbacker: rollbacker{&b.eng}}
	var svc *commands.Service
	b.w = postdeploy.New(postdeploy.Options{Config: cfg, Sentry: sc, Notifier: b.out, Audit: st, History: st,
		Rollback: b.rb, Gate: gate{&svc}, Now: clk.Now, Sleep: sleep,
		Channel: func(string, string) string { return "#deploys" },
		Watches: st, Leases: st, LeaseTTL: watchLeaseTTL, Replica: replica})
	t.Cleanup(b.w.Close)
	b.eng = deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store: st, Leases: st, Locks: st, Now: clk.Now, Observers: append(before, b.w.Observe)})
	svc = commands.NewService(commands.Deps{Config: cfg, Engine: b.eng, Store: st, Policy: policy})
	return b
}

// deploy deploys build of web/production and waits for it to succeed.
func (b *bot) deploy(t *testing.T, build string) {
	t.Helper()
	mustDeploy(t, b.eng, deploy.Request{App: "web", Env: "production", Build: build, Requester: "ana"})
}

// resume calls Resume until it resumes want watches, as a bot does every
// few seconds: a killed bot's lease must run out first.
func (b *bot) resume(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := b.w.Resume(t.Context())
		if err != nil {
			t.Fatalf("Resume: %v", err)
		}
		if n == want {
			return
		}
		if n != 0 || time.Now().After(deadline) {
			t.Fatalf("Resume: got %d watches resumed, want %d", n, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stoppingSleep is the sleep of a bot's watches that, once armed, lets a
// watch judge two intervals, then tells stopped and waits for ctx (the bot
// stopping) or, when wake is set, for wake (a process paused, then woken).
type stoppingSleep struct {
	clk     *testclock.Clock
	armed   atomic.Bool
	n       atomic.Int32
	stopped chan struct{}
	wake    chan struct{}
}

func newStoppingSleep(clk *testclock.Clock) *stoppingSleep {
	return &stoppingSleep{clk: clk, stopped: make(chan struct{})}
}

func (s *stoppingSleep) sleep(ctx context.Context, d time.Duration) error {
	if s.armed.Load() && s.n.Add(1) == 3 {
		close(s.stopped)
		select {
		case <-s.wake: // nil unless set: never
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.clk.Sleep(ctx, d)
}

func (s *stoppingSleep) waitStopped(t *testing.T) {
	t.Helper()
	select {
	case <-s.stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the watch did not get to its third interval")
	}
}

// watchScene deploys builds 1 and 2 of web/production through b, the
// watch of 1 quiet and ended, that of 2 stopped by sl after judging its
// first two intervals. Deploy 2 finishes at t0; the fake Sentry counts 60
// errors a minute from t0+2m to t0+5m, 1 otherwise.
func watchScene(t *testing.T, fs *fakeSentry, b *bot, clk *testclock.Clock, sl *stoppingSleep, t0 time.Time) {
	t.Helper()
	b.deploy(t, "1")
	b.eng.Wait()
	b.w.Wait()
	sl.armed.Store(true)
	clk.Set(t0)
	b.deploy(t, "2")
	sl.waitStopped(t)
	saved, err := b.st.Watches(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(saved) != 1 || !strings.Contains(string(saved[0].State), fmt.Sprintf(`"next":%q`, t0.Add(2*time.Minute).UTC().Format(time.RFC3339))) {
		t.Fatalf("saved watches: got %+v, want deploy 2's at its third interval (%s)", saved, t0.Add(2*time.Minute).Format(time.RFC3339))
	}
}

// spikeFrom readies fs to count 60 errors a minute in the minutes that
// start after t0+1m and before t0+5m. The watch of build 1 runs half an
// hour before t0.
func spikeFrom(fs *fakeSentry, t0 time.Time) {
	fs.deployAt = t0.Add(time.Minute)
	fs.spikeTo = t0.Add(5 * time.Minute)
	fs.spiking.Store(true)
}

func hhmm(t time.Time) string { return t.Format("15:04 MST") }

// watchZone is the zone of the watchers' clocks here: not UTC, so that a
// time given in UTC where the bot's zone is due shows.
var watchZone = time.FixedZone("CET", 60*60)

// TestWatchSurvivesARestart: the bot watching deploy 2 stops (told to, or
// killed) after judging two intervals; a new bot over the same store
// resumes the watch where it was, in the deploy's channel, finds the
// spike of the intervals that ended while no bot ran, and rolls back by
// itself, past another's lock, announced as today.
func TestWatchSurvivesARestart(t *testing.T) {
	for _, kind := range []string{"embedded", "redis"} {
		for _, how := range []string{"stopped", "killed"} {
			t.Run(kind+", "+how, func(t *testing.T) {
				fs := newFakeSentry(t)
				dir := t.TempDir()
				cfg, open := durableFixture(t, dir, kind, fs.srv.URL, "10m")
				t0 := time.Now().In(watchZone).Truncate(time.Minute)
				spikeFrom(fs, t0)
				clk := testclock.New(t0.Add(-30 * time.Minute))
				sl := newStoppingSleep(clk)
				b1 := newBot(t, cfg, open(t), fs.srv.URL, "bot-1", clk, sl.sleep)
				watchScene(t, fs, b1, clk, sl, t0)
				switch how {
				case "stopped":
					b1.w.Close() // SIGTERM: the watch is left for the next bot
				case "killed":
					// Nothing more of it reaches the store: its lease of
					// the watch runs out, unreleased.
				}
				b1.eng.Wait()
				b1.st.Close()

				// Down for two and a half minutes; meanwhile ana locks.
				clk.Set(t0.Add(5 * time.Minute))
				st2 := open(t)
				if _, ok, err := st2.ReplaceLock(t.Context(), nil, deploy.Lock{App: "web", Env: "production", Owner: "ana", Reason: "db maintenance", Created: clk.Now()}); err != nil || !ok {
					t.Fatalf("lock: %v, %v", ok, err)
				}
				readsBefore := fs.readCount()
				b2 := newBot(t, cfg, st2, fs.srv.URL, "bot-2", clk, clk.Sleep)
				b2.resume(t, 1)
				b2.w.Wait() // the spike, the rollback and its end, the rollback's own watch
				b2.eng.Wait()

				current, _ := os.Readlink(filepath.Join(dir, "srv/web/current"))
				if current != "releases/1" {
					t.Errorf("current after the spike: got %q, want releases/1", current)
				}
				got := b2.out.titles()
				for _, want := range []string{
					fmt.Sprintf("Error watch of web 2 on production resumed from %s", hhmm(t0.Add(2*time.Minute))),
					"📈 Error spike after web 2 to production: 60.0 errors/min (before the deploy: 1.0/min)",
					"auto_rollback is on for web/production: rolling back now",
					"rolling back although web/production is locked: locked by ana since",
					"Rolled back web/production to 1 by itself (succeeded)",
				} {
					if strings.Count(got, want) != 1 {
						t.Errorf("posts of the new bot: want %q once:\n%s", want, got)
					}
				}
				// Judged on from where it was: neither the baseline nor the
				// first two intervals again.
				reads := fs.readsVia(fs.srv.URL, readsBefore)
				if len(reads) == 0 || !reads[0].Equal(t0.Add(2*time.Minute)) {
					t.Errorf("reads of the new bot from: got %v, want the first from %v", reads, t0.Add(2*time.Minute))
				}
				if got := b1.out.titles(); strings.Contains(got, "Error spike") {
					t.Errorf("posts of the stopped bot: %q, want no spike", got)
				}
				if want := "Error watch of web 2 on production paused: the bot is shutting down"; how == "stopped" && !strings.Contains(b1.out.titles(), want) {
					t.Errorf("posts of the stopped bot lack %q:\n%s", want, b1.out.titles())
				}
				if until := regexp.MustCompile(`where it was, until \d\d:\d\d CET`); how == "stopped" && !until.MatchString(b1.out.titles()) {
					t.Errorf("posts of the stopped bot do not give the watch's end in the clock's zone (CET):\n%s", b1.out.titles())
				}
				entries, _ := st2.Audit(t.Context(), audit.Query{})
				var rollbacks int
				for _, e := range entries {
					if e.Action == "rollback" && strings.HasPrefix(e.Reason, "automatic rollback") && strings.Contains(e.Reason, "error spike after web 2") {
						rollbacks++
					}
				}
				if rollbacks != 1 {
					t.Errorf("audit: got %d automatic rollbacks started, want 1", rollbacks)
				}
				if saved, err := st2.Watches(t.Context()); err != nil || len(saved) != 0 {
					t.Errorf("saved watches once all ended: got %+v, %v; want none", saved, err)
				}
				// Saved once registered, as watches were before a watch was
				// saved ahead of its registration: not registered again.
				if n := fs.countCalls("", "POST /api/0/organizations/acme/releases/web@2/deploys/"); n != 1 {
					t.Errorf("deploy 2 registered with Sentry %d times, want once", n)
				}
			})
		}
	}
}

// TestWatchSurvivesACrashWhileRegistering: a bot killed while Sentry does
// not answer the registration of deploy 2 (its release being created, or
// the deploy itself) leaves the watch saved with its registration to
// finish; the next bot finishes it, then watches, finds the spike and
// rolls back by itself.
func TestWatchSurvivesACrashWhileRegistering(t *testing.T) {
	for _, kind := range []string{"embedded", "redis"} {
		for _, what := range []string{"release", "deploy"} {
			t.Run(kind+", stalled creating the "+what, func(t *testing.T) {
				fs := newFakeSentry(t)
				urlB := fs.another(t)
				dir := t.TempDir()
				cfg, open := durableFixture(t, dir, kind, fs.srv.URL, "10m")
				t0 := time.Now().In(watchZone).Truncate(time.Minute)
				spikeFrom(fs, t0)
				clk := testclock.New(t0.Add(-30 * time.Minute))
				// Killed, the bot judges nothing more.
				var dead atomic.Bool
				b1 := newBot(t, cfg, open(t), fs.srv.URL, "bot-1", clk, func(ctx context.Context, d time.Duration) error {
					if dead.Load() {
						<-ctx.Done()
						return ctx.Err()
					}
					return clk.Sleep(ctx, d)
				})
				b1.deploy(t, "1")
				b1.eng.Wait()
				b1.w.Wait()

				s := &stall{what: what, via: fs.srv.URL, held: make(chan struct{}), open: make(chan struct{})}
				fs.mu.Lock()
				fs.stall = s
				fs.mu.Unlock()
				// Before the watcher's Close (cleanups run last first),
				// which waits for the registration.
				t.Cleanup(func() { close(s.open) })
				clk.Set(t0)
				b1.deploy(t, "2")
				b1.eng.Wait()
				select {
				case <-s.held:
				case <-time.After(30 * time.Second):
					t.Fatalf("no creation of a %s reached Sentry", what)
				}
				var saved []watchstore.Watch
				deadline := time.Now().Add(10 * time.Second)
				for len(saved) == 0 && time.Now().Before(deadline) {
					var err error
					if saved, err = b1.st.Watches(t.Context()); err != nil {
						t.Fatal(err)
					}
					time.Sleep(20 * time.Millisecond)
				}
				if len(saved) != 1 || !strings.Contains(string(saved[0].State), `"register":`) {
					t.Fatalf("saved watches while Sentry does not answer: got %+v, want deploy 2's with its registration to finish", saved)
				}
				dead.Store(true)
				b1.st.Close() // killed: its lease of the watch runs out, unreleased

				clk.Set(t0.Add(time.Minute))
				b2 := newBot(t, cfg, open(t), urlB, "bot-2", clk, clk.Sleep)
				b2.resume(t, 1)
				b2.w.Wait() // the registration, the spike, the rollback and its end, the rollback's own watch
				b2.eng.Wait()

				current, _ := os.Readlink(filepath.Join(dir, "srv/web/current"))
				if current != "releases/1" {
					t.Errorf("current after the spike: got %q, want releases/1", current)
				}
				got := b2.out.titles()
				for _, want := range []string{
					fmt.Sprintf("Error watch of web 2 on production resumed from %s | the bot that ran it stopped while registering the deploy with Sentry", hhmm(t0)),
					"📈 Error spike after web 2 to production: 60.0 errors/min (before the deploy: 1.0/min)",
					"Rolled back web/production to 1 by itself (succeeded)",
				} {
					if strings.Count(got, want) != 1 {
						t.Errorf("posts of the new bot: want %q once:\n%s", want, got)
					}
				}
				if strings.Contains(got, "Sentry could not") {
					t.Errorf("posts of the new bot: got a Sentry failure:\n%s", got)
				}
				// The new bot created the release (Sentry takes it twice),
				// without which the deploy is 404, and the deploy.
				if n := fs.countCalls(urlB, "POST /api/0/organizations/acme/releases/web@2/deploys/"); n != 1 {
					t.Errorf("deploy 2 registered with Sentry by the new bot %d times, want once", n)
				}
				if saved, err := b2.st.Watches(t.Context()); err != nil || len(saved) != 0 {
					t.Errorf("saved watches once all ended: got %+v, %v; want none", saved, err)
				}
			})
		}
	}
}

// TestOneReplicaRunsAWatch: of two replicas sharing Redis, the one whose
// deploy finished runs its watch, and the other, asking for watches to
// take over, takes none; once the first stops reaching the store (dead,
// or paused past its lease) the other takes the watch over, finds the
// spike and rolls back, and the first, woken, reads and posts nothing
// more of it.
func TestOneReplicaRunsAWatch(t *testing.T) {
	fs := newFakeSentry(t)
	urlB := fs.another(t)
	dir := t.TempDir()
	cfg, open := durableFixture(t, dir, "redis", fs.srv.URL, "10m")
	t0 := time.Now().In(watchZone).Truncate(time.Minute)
	spikeFrom(fs, t0)
	clk := testclock.New(t0.Add(-30 * time.Minute))
	sl := newStoppingSleep(clk)
	sl.wake = make(chan struct{})
	a := newBot(t, cfg, open(t), fs.srv.URL, "replica-a", clk, sl.sleep)
	b := newBot(t, cfg, open(t), urlB, "replica-b", clk, clk.Sleep)
	watchScene(t, fs, a, clk, sl, t0)

	for range 3 {
		if n, err := b.w.Resume(t.Context()); n != 0 || err != nil {
			t.Fatalf("Resume on replica b while a runs the watch: got %d, %v; want 0, nil", n, err)
		}
	}
	if reads := fs.readsVia(urlB, 0); len(reads) != 0 {
		t.Fatalf("replica b read Sentry while a ran the watch: %v", reads)
	}
	a.st.Close() // a is cut off: its lease of the watch runs out
	b.resume(t, 1)
	b.w.Wait()
	b.eng.Wait()

	readsBefore := fs.readCount()
	close(sl.wake) // a's process goes on
	a.w.Wait()
	if reads := fs.readsVia(fs.srv.URL, readsBefore); len(reads) != 0 {
		t.Errorf("replica a read Sentry after b took its watch over: %v", reads)
	}
	if got := a.out.titles(); got != "" {
		t.Errorf("posts of replica a: got %q, want none", got)
	}
	got := b.out.titles()
	for _, want := range []string{
		fmt.Sprintf("Error watch of web 2 on production resumed from %s", hhmm(t0.Add(2*time.Minute))),
		"📈 Error spike after web 2 to production: 60.0 errors/min (before the deploy: 1.0/min)",
		"Rolled back web/production to 1 by itself (succeeded)",
	} {
		if strings.Count(got, want) != 1 {
			t.Errorf("posts of replica b: want %q once:\n%s", want, got)
		}
	}
	recs, err := b.st.Records(t.Context(), deploy.Filter{App: "web", Env: "production"})
	if err != nil {
		t.Fatal(err)
	}
	var rollbacks []string
	for _, r := range recs {
		if r.Kind == deploy.KindRollback {
			rollbacks = append(rollbacks, r.ID+" "+string(r.Outcome))
		}
	}
	if len(rollbacks) != 1 {
		t.Errorf("rollbacks: got %q, want one", rollbacks)
	}
}

// TestResumeEndsWatches: a watch whose window ended while no bot ran is
// ended with one message, nothing judged nor rolled back; one that a later
// deploy superseded meanwhile ends quietly, as it would have with a bot.
func TestResumeEndsWatches(t *testing.T) {
	tests := []struct {
		name string
		// down is what happens while no bot runs, the clock at t0+3m.
		down func(t *testing.T, cfg *config.Config, st durableStore, clk *testclock.Clock)
		// downFor is how long after t0 the next bot starts.
		downFor time.Duration
		want    string // the one message; "" for none
	}{
		{
			name:    "its window ended",
			downFor: 30 * time.Minute,
			want:    "Error watch of web 2 on production ended while no bot ran it | it was to run until %s; the intervals from %s were never judged, and nothing rolls the deploy back by itself now; check Sentry yourself",
		},
		{
			name: "a later deploy started",
			down: func(t *testing.T, cfg *config.Config, st durableStore, clk *testclock.Clock) {
				// Through a bot that does not watch: its deploy is
				// recorded all the same.
				eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
					Store: st, Leases: st, Locks: st, Now: clk.Now})
				b := &bot{eng: eng}
				b.deploy(t, "1")
				eng.Wait()
			},
			downFor: 4 * time.Minute,
		},
	}
	for _, kind := range []string{"embedded", "redis"} {
		for _, tt := range tests {
			t.Run(kind+", "+tt.name, func(t *testing.T) {
				fs := newFakeSentry(t)
				dir := t.TempDir()
				cfg, open := durableFixture(t, dir, kind, fs.srv.URL, "10m")
				t0 := time.Now().In(watchZone).Truncate(time.Minute)
				spikeFrom(fs, t0)
				clk := testclock.New(t0.Add(-30 * time.Minute))
				sl := newStoppingSleep(clk)
				b1 := newBot(t, cfg, open(t), fs.srv.URL, "bot-1", clk, sl.sleep)
				watchScene(t, fs, b1, clk, sl, t0)
				b1.w.Close()
				b1.eng.Wait()
				b1.st.Close()

				st2 := open(t)
				if tt.down != nil {
					clk.Set(t0.Add(3 * time.Minute))
					tt.down(t, cfg, st2, clk)
				}
				clk.Set(t0.Add(tt.downFor))
				readsBefore := fs.readCount()
				recsBefore, err := st2.Records(t.Context(), deploy.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				b2 := newBot(t, cfg, st2, fs.srv.URL, "bot-2", clk, clk.Sleep)
				b2.resume(t, 0)
				b2.w.Wait()

				want := ""
				if tt.want != "" {
					want = fmt.Sprintf(tt.want, hhmm(t0.Add(10*time.Minute+30*time.Second)), hhmm(t0.Add(2*time.Minute)))
				}
				if got := b2.out.titles(); got != want {
					t.Errorf("posts of the new bot: got %q, want %q", got, want)
				}
				if reads := fs.readsVia(fs.srv.URL, readsBefore); len(reads) != 0 {
					t.Errorf("the new bot read Sentry from %v, want no read", reads)
				}
				if recs, _ := st2.Records(t.Context(), deploy.Filter{}); len(recs) != len(recsBefore) {
					t.Errorf("records: got %d, want %d: nothing rolled back", len(recs), len(recsBefore))
				}
				if saved, err := st2.Watches(t.Context()); err != nil || len(saved) != 0 {
					t.Errorf("saved watches: got %+v, %v; want none", saved, err)
				}
			})
		}
	}
}

// TestUnsavedWatchSaysSo: a watch the store cannot take (Redis went away
// as the deploy ended) is said in the channel; it runs all the same, and
// the deploy was never held up.
func TestUnsavedWatchSaysSo(t *testing.T) {
	fs := newFakeSentry(t)
	fs.releaseGate = make(chan struct{})
	dir := t.TempDir()
	srv := redisserver.Start(t)
	cfg, _ := durableFixture(t, dir, "embedded", fs.srv.URL, "2m")
	st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := testclock.New(time.Now().In(watchZone).Truncate(time.Minute))
	// Redis goes away once the deploy's end is recorded, before the
	// watcher learns of it.
	b := newBot(t, cfg, st, fs.srv.URL, "bot-1", clk, clk.Sleep, func(ev deploy.Event) {
		if ev.Kind == deploy.EventFinished {
			srv.Stop()
		}
	})
	b.deploy(t, "1") // Sentry's release is still being created
	b.eng.Wait()
	close(fs.releaseGate)
	const want = "Error watch of web 1 on production is not saved: state store unreachable | it runs in this bot's memory only: should the bot stop before"
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(b.out.titles(), want) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	b.w.Close()
	if got := b.out.titles(); !strings.Contains(got, want) {
		t.Errorf("posts lack %q:\n%s", want, got)
	} else if !strings.Contains(got, " CET, nothing watches") {
		t.Errorf("posts do not give the time in the clock's zone (CET):\n%s", got)
	}
}

// TestResumedWatchKeepsWhatItDoesNotKnow: a watch saved by a newer
// version, with members this one does not know (in the watch, its policy
// and its progress), keeps them when a bot of this version takes it over
// and saves how far it got: the newer replicas of a rolling upgrade read
// them back.
func TestResumedWatchKeepsWhatItDoesNotKnow(t *testing.T) {
	extra := map[string]string{
		"":         `{"approver":"ana"}`,
		"policy":   `{"Quorum":3}`,
		"progress": `{"seen":["x",{"y":null}]}`,
	}
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			fs := newFakeSentry(t)
			dir := t.TempDir()
			cfg, open := durableFixture(t, dir, kind, fs.srv.URL, "10m")
			t0 := time.Now().In(watchZone).Truncate(time.Minute)
			clk := testclock.New(t0.Add(-30 * time.Minute))
			sl := newStoppingSleep(clk)
			b1 := newBot(t, cfg, open(t), fs.srv.URL, "bot-1", clk, sl.sleep)
			watchScene(t, fs, b1, clk, sl, t0)
			b1.w.Close()
			b1.eng.Wait()
			b1.st.Close()

			// A newer version's write of the watch, under its lease.
			st2 := open(t)
			saved, err := st2.Watches(t.Context())
			if err != nil || len(saved) != 1 {
				t.Fatalf("saved watches: got %+v, %v; want one", saved, err)
			}
			var state map[string]json.RawMessage
			if err := json.Unmarshal(saved[0].State, &state); err != nil {
				t.Fatal(err)
			}
			for in, members := range extra {
				if err := addMembers(state, in, members); err != nil {
					t.Fatal(err)
				}
			}
			newer := saved[0]
			if newer.State, err = json.Marshal(state); err != nil {
				t.Fatal(err)
			}
			l, err := st2.Acquire(t.Context(), watchstore.LeaseKey(newer.ID), "bot-newer", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			newer.Fence = l.Token()
			if err := st2.PutWatch(t.Context(), newer); err != nil {
				t.Fatal(err)
			}
			if err := l.Release(t.Context()); err != nil {
				t.Fatal(err)
			}

			// The new bot judges the intervals that ended meanwhile at
			// once, saves how far it got, and waits in its next sleep.
			clk.Set(t0.Add(6 * time.Minute))
			b2 := newBot(t, cfg, st2, fs.srv.URL, "bot-2", clk, func(ctx context.Context, _ time.Duration) error {
				<-ctx.Done()
				return ctx.Err()
			})
			b2.resume(t, 1)
			var got watchstore.Watch
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if got, err = st2.Watch(t.Context(), newer.ID); err != nil {
					t.Fatal(err)
				}
				if got.Fence != newer.Fence {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the new bot did not save the watch")
				}
			}
			if strings.Contains(string(got.State), fmt.Sprintf(`"next":%q`, t0.Add(2*time.Minute).UTC().Format(time.RFC3339))) {
				t.Errorf("saved by the new bot: %s, want progress past %s", got.State, hhmm(t0.Add(2*time.Minute)))
			}
			state = nil
			if err := json.Unmarshal(got.State, &state); err != nil {
				t.Fatal(err)
			}
			for in, members := range extra {
				var want map[string]json.RawMessage
				if err := json.Unmarshal([]byte(members), &want); err != nil {
					t.Fatal(err)
				}
				obj := state
				if in != "" {
					obj = nil
					if err := json.Unmarshal(state[in], &obj); err != nil {
						t.Fatal(err)
					}
				}
				for name, value := range want {
					if string(obj[name]) != string(value) {
						t.Errorf("member %q of %q saved by the new bot: got %s, want %s (state %s)", name, in, obj[name], value, got.State)
					}
				}
			}
		})
	}
}

// addMembers adds the members of the JSON object members to the object
// state (in "") or to its member in.
func addMembers(state map[string]json.RawMessage, in, members string) error {
	var add map[string]json.RawMessage
	if err := json.Unmarshal([]byte(members), &add); err != nil {
		return err
	}
	obj := state
	if in != "" {
		obj = nil
		if err := json.Unmarshal(state[in], &obj); err != nil {
			return fmt.Errorf("member %q: %w", in, err)
		}
	}
	for name, value := range add {
		obj[name] = value
	}
	if in != "" {
		data, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		state[in] = data
	}
	return nil
}
