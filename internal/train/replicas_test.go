package train_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/cluster"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/train"
)

// countingRunner "deploys" by finishing at once, and counts.
type countingRunner struct{ calls atomic.Int32 }

func (r *countingRunner) Handle(_ context.Context, req commands.Request, out commands.Output) commands.Outcome {
	r.calls.Add(1)
	rec := &deploy.Record{ID: "d1", Kind: deploy.KindDeploy, App: "web", Env: "production", Build: "7", Requester: req.User, Outcome: deploy.OutcomeSucceeded}
	out.Progress(deploy.Event{Kind: deploy.EventFinished, DeployID: rec.ID, Record: rec})
	return commands.Outcome{DeployID: rec.ID}
}

// posts counts what a replica posts to the channels.
type posts struct{ n atomic.Int32 }

func (p *posts) Post(context.Context, string, chat.Message) error { p.n.Add(1); return nil }

// TestOneDepartureAcrossReplicas: two replicas share one Redis; only the
// leader departs, and the replica that takes over later does not run the
// same departure again.
func TestOneDepartureAcrossReplicas(t *testing.T) {
	srv := redisserver.Start(t)
	ctx := context.Background()
	st, err := redis.Open(ctx, redis.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	warsaw, _ := time.LoadLocation("Europe/Warsaw")
	cfg := &config.Config{
		Apps: map[string]*config.App{"web": {Name: "web", Envs: map[string]*config.Env{"production": {Name: "production"}}}},
		Trains: map[string]*config.Train{"daily": {Name: "daily", Env: "production", Channels: []string{"#deploys"}, Timezone: "Europe/Warsaw",
			Boarding: "0 10 * * 1-5", Departure: "0 14 * * 1-5", Empty: "note", Grace: config.Duration(15 * time.Minute)}},
	}
	if _, err := st.Board(ctx, "daily", train.Car{App: "web", Build: "7", Env: "production", User: "alice", Boarded: time.Now()}, 0, nil); err != nil {
		t.Fatal(err)
	}

	leaderA := &cluster.Leader{Leases: st, ID: "a", TTL: time.Second}
	leaderB := &cluster.Leader{Leases: st, ID: "b", TTL: time.Second}
	ctxA, stopA := context.WithCancel(ctx)
	doneA := make(chan struct{})
	go func() { leaderA.Run(ctxA); close(doneA) }()
	waitUntil(t, "a leads", leaderA.IsLeader)
	ctxB, stopB := context.WithCancel(ctx)
	defer stopB()
	go leaderB.Run(ctxB)

	runnerA, runnerB := &countingRunner{}, &countingRunner{}
	departed := func() bool { return runnerA.calls.Load()+runnerB.calls.Load() > 0 }
	// replica runs a scheduler on its own clock from start until end.
	postsA, postsB := &posts{}, &posts{}
	replica := func(runner *countingRunner, out *posts, isLeader func() bool, start, end time.Time, waitFor func() bool) {
		// Past end, let a departure under way reach its runner, then stop.
		runReplica(t, ctx, train.Options{Config: cfg, Store: st, Runner: runner, Notifier: out, Audit: st, Leader: isLeader, Once: st},
			start, end, "the departure", waitFor)
	}
	start, end := time.Date(2026, 6, 1, 13, 59, 0, 0, warsaw), time.Date(2026, 6, 1, 14, 1, 0, 0, warsaw) // a Monday
	var wg sync.WaitGroup
	wg.Go(func() { replica(runnerA, postsA, leaderA.IsLeader, start, end, departed) })
	wg.Go(func() { replica(runnerB, postsB, leaderB.IsLeader, start, end, departed) })
	wg.Wait()
	if a, b := runnerA.calls.Load(), runnerB.calls.Load(); a != 1 || b != 0 {
		t.Fatalf("departures: leader a ran %d, follower b ran %d; want 1 and 0", a, b)
	}
	// The follower announced nothing either (no second, empty departure).
	if a, b := postsA.n.Load(), postsB.n.Load(); a == 0 || b != 0 {
		t.Fatalf("posts: leader a %d, follower b %d; want some and none", a, b)
	}

	// a dies; b takes over within the grace period and must not run the
	// 14:00 departure again.
	stopA()
	<-doneA
	waitUntil(t, "b to take over", leaderB.IsLeader)
	replica(runnerB, postsB, leaderB.IsLeader, time.Date(2026, 6, 1, 14, 5, 0, 0, warsaw), time.Date(2026, 6, 1, 14, 6, 0, 0, warsaw), func() bool { return true })
	if b, p := runnerB.calls.Load(), postsB.n.Load(); b != 0 || p != 0 {
		t.Errorf("the new leader ran or announced the 14:00 departure again: %d deploys, %d posts", b, p)
	}
}

// runReplica runs a scheduler with opts on a clock of its own, from start
// to each time it sleeps until. Asked to sleep past end, it waits for
// cond, named what, and stops.
func runReplica(t *testing.T, ctx context.Context, opts train.Options, start, end time.Time, what string, cond func() bool) {
	t.Helper()
	var mu sync.Mutex
	now := start
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	opts.Sleep = func(sctx context.Context, until time.Time) error {
		if until.After(end) {
			waitUntil(t, what, cond)
			cancel()
			return sctx.Err()
		}
		mu.Lock()
		now = until
		mu.Unlock()
		return nil
	}
	s, err := train.New(opts)
	if err != nil {
		t.Error(err)
		return
	}
	if err := s.Run(rctx); err != nil {
		t.Error(err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// blockingRunner "deploys" like countingRunner, but holds each deploy of
// app hold until release is closed, and says when one started.
type blockingRunner struct {
	countingRunner
	hold    string
	started chan string
	release chan struct{}
}

func (r *blockingRunner) Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome {
	app := strings.Fields(req.Text)[1]
	r.started <- app
	if app == r.hold {
		<-r.release
	}
	return r.countingRunner.Handle(ctx, req, out)
}

// leasedTrain returns a Redis store of its own, a config with the apps web
// and billing and the daily train to production at 14:00 UTC, and a func
// that boards an app's build 7 as alice.
func leasedTrain(t *testing.T) (*redis.Store, *config.Config, func(app string)) {
	t.Helper()
	_, st, cfg, board := leasedTrainWith(t, redis.Options{})
	return st, cfg, board
}

// leasedTrainWith is leasedTrain with the store opened with opt (its URL
// set here), and the server it runs on.
func leasedTrainWith(t *testing.T, opt redis.Options) (*redisserver.Server, *redis.Store, *config.Config, func(app string)) {
	t.Helper()
	srv := redisserver.Start(t)
	opt.URL = srv.URL()
	st, err := redis.Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := &config.Config{
		Apps: map[string]*config.App{
			"web":     {Name: "web", Envs: map[string]*config.Env{"production": {Name: "production"}}},
			"billing": {Name: "billing", Envs: map[string]*config.Env{"production": {Name: "production"}}},
		},
		Trains: map[string]*config.Train{"daily": {Name: "daily", Env: "production", Channels: []string{"#deploys"}, Timezone: "UTC",
			Boarding: "0 10 * * 1-5", Departure: "0 14 * * 1-5", Empty: "note", Grace: config.Duration(15 * time.Minute)}},
	}
	board := func(app string) {
		t.Helper()
		if _, err := st.Board(context.Background(), "daily", train.Car{App: app, Build: "7", Env: "production", User: "alice", Boarded: time.Now()}, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	return srv, st, cfg, board
}

// renewCounter counts the renewals of its leases that succeeded, the
// tries to take one, and those that took it.
type renewCounter struct {
	deploy.Leaser
	renewed      atomic.Int32
	tried, taken atomic.Int32
}

func (c *renewCounter) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	l, err := c.Leaser.Acquire(ctx, key, holder, ttl)
	c.tried.Add(1)
	if err != nil {
		return nil, err
	}
	c.taken.Add(1)
	return &countedLease{Lease: l, c: c}, nil
}

type countedLease struct {
	deploy.Lease
	c *renewCounter
}

func (l *countedLease) Renew(ctx context.Context) error {
	err := l.Lease.Renew(ctx)
	if err == nil {
		l.c.renewed.Add(1)
	}
	return err
}

// TestDepartureLeaseAcrossReplicas: while one replica departs a train, a
// `train depart now` on another is refused, and the other's own departure
// of it does not leave; once the first is done, the other may depart it.
// The lease's time, the store's and the replicas', is a clock the test
// moves between the renewals it waits for: a loaded machine that holds
// up a renewal does not run the lease out meanwhile.
func TestDepartureLeaseAcrossReplicas(t *testing.T) {
	const ttl = time.Second
	ctx := context.Background()
	clock := testclock.New(time.Now())
	_, st, cfg, board := leasedTrainWith(t, redis.Options{Now: clock.Now, MaxClockSkew: -1})
	board("web")
	board("billing")
	runnerA := &blockingRunner{hold: "web", started: make(chan string, 4), release: make(chan struct{})}
	runnerB := &blockingRunner{started: make(chan string, 4), release: make(chan struct{})}
	postsA, postsB := &posts{}, &posts{}
	leasesA := &renewCounter{Leaser: st}
	replica := func(r train.Runner, out *posts, leases deploy.Leaser) *train.Scheduler {
		s, err := train.New(train.Options{Config: cfg, Store: st, Runner: r, Notifier: out, Audit: st, Leases: leases, LeaseTTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		train.SetLeaseClock(s, clock.Now)
		return s
	}
	a, b := replica(runnerA, postsA, leasesA), replica(runnerB, postsB, st)
	done := make(chan train.Summary, 1)
	go func() { done <- a.Depart(ctx, "daily", "") }()
	if app := <-runnerA.started; app != "web" {
		t.Fatalf("replica a shipped %s first, want web", app)
	}
	// Longer than the lease's TTL: a renews it meanwhile.
	for range 3 {
		clock.Advance(ttl / 2)
		// The second renewal that succeeds from here was asked after
		// the clock moved: the first may have been asked before.
		want := leasesA.renewed.Load() + 2
		waitUntil(t, "replica a to renew its lease twice", func() bool { return leasesA.renewed.Load() >= want })
	}
	if _, err := b.DepartNow(ctx, "ana", "daily"); errs.CodeOf(err) != errs.Conflict || !strings.Contains(err.Error(), "on another replica of the bot; nothing was sent off:") {
		t.Errorf("train depart now on replica b during a's departure: got %v, want it refused", err)
	}
	if sum := b.Depart(ctx, "daily", ""); errs.CodeOf(sum.Err) != errs.Conflict || postsB.n.Load() != 0 {
		t.Errorf("replica b's own departure during a's: %v, %d posts; want none, said by neither", sum.Err, postsB.n.Load())
	}
	close(runnerA.release)
	sum := <-done
	if len(sum.Shipped) != 2 || runnerB.calls.Load() != 0 {
		t.Errorf("replica a's departure: shipped %d, replica b deployed %d; want 2 and none", len(sum.Shipped), runnerB.calls.Load())
	}
	// a gave the lease back: b departs (an empty train) at once.
	if _, err := b.DepartNow(ctx, "ana", "daily"); err != nil {
		t.Fatalf("train depart now on replica b after a's departure: %v", err)
	}
	waitUntil(t, "replica b's departure to be announced", func() bool { return postsB.n.Load() > 0 })
}

// TestScheduledDepartureWaitsForAnEarlyOne: a train sent off early on one
// replica is still departing at its scheduled time; the leader's
// scheduled departure then waits for it, and leaves with the cars boarded
// since, unless an admin cancelled it while it waited.
func TestScheduledDepartureWaitsForAnEarlyOne(t *testing.T) {
	for _, cancel := range []bool{false, true} {
		name := "leaves once the early one is done"
		if cancel {
			name = "cancelled while it waits"
		}
		t.Run(name, func(t *testing.T) { scheduledAfterEarly(t, cancel) })
	}
}

// scheduledAfterEarly times the departure lease, the store's and the
// replicas', by a clock it moves between the renewals it waits for, as
// TestDepartureLeaseAcrossReplicas does: a renewal held up by a loaded
// machine does not run the lease out, and the scheduled departure does
// not leave for that.
func scheduledAfterEarly(t *testing.T, cancel bool) {
	const ttl = time.Second
	ctx := context.Background()
	leaseClock := testclock.New(time.Now())
	_, st, cfg, board := leasedTrainWith(t, redis.Options{Now: leaseClock.Now, MaxClockSkew: -1})
	board("web")
	early := &blockingRunner{hold: "web", started: make(chan string, 4), release: make(chan struct{})}
	leasesA, leasesB := &renewCounter{Leaser: st}, &renewCounter{Leaser: st}
	a, err := train.New(train.Options{Config: cfg, Store: st, Runner: early, Notifier: &posts{}, Audit: st, Leases: leasesA, LeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	train.SetLeaseClock(a, leaseClock.Now)
	if _, err := a.DepartNow(ctx, "ana", "daily"); err != nil {
		t.Fatal(err)
	}
	<-early.started // web ships, and holds the train
	board("billing")

	scheduled := &blockingRunner{started: make(chan string, 4), release: make(chan struct{})}
	start, end := time.Date(2026, 6, 1, 13, 59, 0, 0, time.UTC), time.Date(2026, 6, 1, 14, 1, 0, 0, time.UTC) // a Monday
	clock := &jumpingClock{now: start, end: end}
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	b, err := train.New(train.Options{Config: cfg, Store: st, Runner: scheduled, Notifier: &posts{}, Audit: st, Leases: leasesB, LeaseTTL: ttl,
		Now: clock.Now, Sleep: clock.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	train.SetLeaseClock(b, leaseClock.Now)
	done := make(chan error, 1)
	go func() { done <- b.Run(bctx) }()
	// The scheduled departure is due, and waits: nothing ships from b
	// while a holds the train, past the lease's TTL through a's renewals.
	waitUntil(t, "the 14:00 departure to wait", func() bool {
		w, err := st.LastRun(ctx, "daily", train.KindWaiting)
		return err == nil && !w.IsZero()
	})
	for range 3 {
		leaseClock.Advance(ttl / 2)
		// The second renewal that succeeds from here was asked after
		// the clock moved: the first may have been asked before.
		want := leasesA.renewed.Load() + 2
		waitUntil(t, "replica a to renew its lease twice", func() bool { return leasesA.renewed.Load() >= want })
	}
	// b tried the lease again since (its first try after the last move
	// may have begun before it).
	tried := leasesB.tried.Load() + 2
	waitUntil(t, "replica b to try the lease again", func() bool { return leasesB.tried.Load() >= tried })
	if n := leasesB.taken.Load(); n != 0 {
		t.Fatalf("replica b took the train's lease %d times while the early one held it", n)
	}
	select {
	case app := <-scheduled.started:
		t.Fatalf("the scheduled departure shipped %s while the early one held the train", app)
	default:
	}
	if cancel {
		if _, err := b.Cancel(ctx, "ana", "daily", "incident"); err != nil {
			t.Fatal(err)
		}
	}
	close(early.release)
	if cancel {
		waitUntil(t, "the cancelled departure to be audited as not leaving", func() bool {
			entries, err := st.Audit(ctx, audit.Query{Limit: 50})
			return err == nil && slices.ContainsFunc(entries, func(e audit.Entry) bool {
				return e.Reason == "did not leave: it was cancelled"
			})
		})
		select {
		case app := <-scheduled.started:
			t.Errorf("the cancelled departure shipped %s", app)
		default:
		}
		if cars, err := st.Cars(ctx, "daily"); err != nil || len(cars) != 1 || cars[0].App != "billing" {
			t.Errorf("aboard: %+v, %v; want billing, staying for the next train", cars, err)
		}
	} else {
		select {
		case app := <-scheduled.started:
			if app != "billing" {
				t.Errorf("the scheduled departure shipped %s first, want billing (boarded since the early one left)", app)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the scheduled departure did not leave once the early one was done")
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestScheduledDepartureWaitsWithinGrace: a scheduled departure due while
// an early one sent off on the same replica holds the train leaves once
// that one is done if it is within the train's grace, and does not leave
// (saying so) if it is not, as it would across replicas.
func TestScheduledDepartureWaitsWithinGrace(t *testing.T) {
	tests := []struct {
		name   string
		grace  time.Duration
		late   time.Duration // how late the scheduler first looks
		leaves bool
	}{
		{name: "done within grace", grace: 15 * time.Minute, leaves: true},
		{name: "done past grace", grace: time.Second},
		// Run late after a restart, 4m59s into a grace of 5m: one
		// second of it is left to wait.
		{name: "run late, done past what is left of its grace", grace: 5 * time.Minute, late: 5*time.Minute - time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, cfg, board := leasedTrain(t)
			cfg.Trains["daily"].Grace = config.Duration(tc.grace)
			board("web")
			runner := &blockingRunner{hold: "web", started: make(chan string, 4), release: make(chan struct{})}
			// The clock stops where the departure starts to wait, and
			// moves past its grace only when the test moves it.
			start, end := time.Date(2026, 6, 1, 13, 59, 0, 0, time.UTC), time.Date(2026, 6, 1, 14, 0, 0, 0, time.UTC) // a Monday
			if tc.late > 0 {
				// The bot was down at 14:00; it ran the one the day before.
				start = time.Date(2026, 6, 1, 14, 0, 0, 0, time.UTC).Add(tc.late)
				end = start
				if err := st.MarkRun(ctx, "daily", train.KindDeparture, time.Date(2026, 5, 29, 14, 0, 0, 0, time.UTC)); err != nil {
					t.Fatal(err)
				}
			}
			clock := &jumpingClock{now: start, end: end}
			rctx, stop := context.WithCancel(ctx)
			defer stop()
			s, err := train.New(train.Options{Config: cfg, Store: st, Runner: runner, Notifier: &posts{}, Audit: st,
				Now: clock.Now, Sleep: clock.Sleep})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.DepartNow(ctx, "ana", "daily"); err != nil {
				t.Fatal(err)
			}
			<-runner.started // web ships, and holds the train
			board("billing")
			done := make(chan error, 1)
			go func() { done <- s.Run(rctx) }()
			waitUntil(t, "the 14:00 departure to wait", func() bool {
				w, err := st.LastRun(ctx, "daily", train.KindWaiting)
				return err == nil && !w.IsZero()
			})
			clock.Move(end.Add(2 * time.Second)) // past the short grace
			if !tc.leaves {
				// It gives up before the early one is done, not in a race
				// with it: a departure said not to leave waits no more.
				waitUntil(t, "the 14:00 departure to stop waiting", func() bool {
					w, err := st.LastRun(ctx, "daily", train.KindWaiting)
					return err == nil && w.IsZero()
				})
			}
			close(runner.release)
			outwaited := func() bool {
				entries, err := st.Audit(ctx, audit.Query{Limit: 50})
				return err == nil && slices.ContainsFunc(entries, func(e audit.Entry) bool {
					return e.Reason == "did not leave: an earlier departure of the train was under way for all of its grace"
				})
			}
			if tc.leaves {
				select {
				case app := <-runner.started:
					if app != "billing" {
						t.Errorf("the scheduled departure shipped %s, want billing", app)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the scheduled departure did not leave once the early one was done")
				}
			} else {
				waitUntil(t, "the departure to be audited as not leaving", outwaited)
				select {
				case app := <-runner.started:
					t.Errorf("the departure that waited past its grace shipped %s", app)
				case <-time.After(500 * time.Millisecond):
				}
				if cars, err := st.Cars(ctx, "daily"); err != nil || len(cars) != 1 || cars[0].App != "billing" {
					t.Errorf("aboard: %+v, %v; want billing, staying for the next train", cars, err)
				}
			}
			stop()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
}

// jumpingClock is a scheduler's clock: each Sleep jumps it to the time
// slept until, and one past end waits for its context to end, or for
// Move to move end, instead.
type jumpingClock struct {
	mu       sync.Mutex
	now, end time.Time
	moved    chan struct{} // closed by Move; nil: none waits
}

// Move moves c to to and end with it, waking the sleeps that wait.
func (c *jumpingClock) Move(to time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now, c.end = to, to
	if c.moved != nil {
		close(c.moved)
		c.moved = nil
	}
}

func (c *jumpingClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *jumpingClock) Sleep(ctx context.Context, until time.Time) error {
	c.mu.Lock()
	if until.After(c.end) {
		if c.moved == nil {
			c.moved = make(chan struct{})
		}
		moved := c.moved
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-moved:
			return nil // early: the caller sleeps again
		}
	}
	c.now = until
	c.mu.Unlock()
	return nil
}

// titles keeps what a replica posts to the channels.
type titles struct {
	mu  sync.Mutex
	got []string
	// msgs holds the messages whose titles got holds.
	msgs []chat.Message
}

func (p *titles) Post(_ context.Context, _ string, m chat.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, m.Title)
	p.msgs = append(p.msgs, m)
	return nil
}

// TestUnendedSaidOnceAcrossReplicas: the departures a dead bot left
// unended, each with its own record (Thursday's, Monday's, and one sent
// off early after it), are found by two replicas sharing one Redis, both
// taking the lead at their start: each departure is said to have been
// cut short once between them, and none is left unended.
func TestUnendedSaidOnceAcrossReplicas(t *testing.T) {
	st, cfg, board := leasedTrain(t)
	ctx := context.Background()
	board("web")
	unended := []train.Departure{
		{At: time.Date(2026, 5, 28, 14, 0, 0, 0, time.UTC)},
		{At: time.Date(2026, 6, 1, 14, 0, 0, 0, time.UTC)},
		{At: time.Date(2026, 6, 1, 15, 30, 0, 0, time.UTC), Early: true},
	}
	for _, d := range unended {
		if err := st.StartDeparture(ctx, "daily", d); err != nil {
			t.Fatal(err)
		}
	}
	start, end := time.Date(2026, 6, 2, 11, 0, 0, 0, time.UTC), time.Date(2026, 6, 2, 11, 1, 0, 0, time.UTC) // a Tuesday
	replica := func(out *titles) {
		// Past end, let the departures found unended be said, by either
		// replica, then stop.
		runReplica(t, ctx, train.Options{Config: cfg, Store: st, Runner: &countingRunner{}, Notifier: out, Audit: st, Once: st, Leases: st,
			LeaseTTL: time.Second},
			start, end, "the departures to be said", func() bool {
				left, err := st.Unended(ctx, "daily")
				return err == nil && len(left) == 0
			})
	}
	var a, b titles
	var wg sync.WaitGroup
	wg.Go(func() { replica(&a) })
	wg.Go(func() { replica(&b) })
	wg.Wait()

	var said []string
	for _, title := range append(a.got, b.got...) {
		if strings.Contains(title, "cut short") {
			said = append(said, title)
		}
	}
	slices.Sort(said)
	want := []string{
		"The Mon 14:00 train to production was cut short: the bot stopped after it fell due, before it said what became of its cars.",
		"The Mon 15:30 train to production was cut short: the bot stopped after it was sent off, before it said what became of its cars.",
		"The Thu 14:00 train to production was cut short: the bot stopped after it fell due, before it said what became of its cars.",
	}
	if !slices.Equal(said, want) {
		t.Errorf("posts saying a departure was cut short, of both replicas: got %q, want %q", said, want)
	}
	if left, err := st.Unended(ctx, "daily"); err != nil || len(left) != 0 {
		t.Errorf("unended after: got %+v, %v; want none", left, err)
	}
}
