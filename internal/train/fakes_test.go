package train

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
)

var warsaw = mustLoad("Europe/Warsaw")

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// at is a time in Warsaw.
func at(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, warsaw)
}

// fakeRunner stands for commands.Service: it "deploys" each car with the
// outcome set for its app and records the requests.
type fakeRunner struct {
	mu   sync.Mutex
	reqs []commands.Request
	// outcome by app; default succeeded; "reverted first" is reverted
	// from a first release, nothing switched back. "refuse: why" refuses as
	// forbidden, "refuse CODE: why" with that code; "hang"
	// starts a deploy that never finishes; "at stop" one that succeeds
	// once the ctx it was started with is done, as the engine finishes
	// the deploys under way when the bot stops; "later" one that succeeds
	// once finishLater is closed, "later OUTCOME" one that ends so then.
	outcome map[string]string
	// finishLater ends the deploys of the apps whose outcome is "later".
	finishLater chan struct{}
	// async sends EventFinished from another goroutine, after Handle returns.
	async bool
	wg    sync.WaitGroup
	// onDeploy, when set, runs as each deploy starts, with its app.
	onDeploy func(app string)
}

func (r *fakeRunner) Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	n := len(r.reqs)
	f := strings.Fields(req.Text) // deploy APP BUILD to ENV
	if len(f) != 5 {
		r.mu.Unlock()
		out.Reply(chat.Message{Level: chat.Failure, Title: "unexpected command " + req.Text})
		return commands.Outcome{Failed: true}
	}
	app, build, env := f[1], f[2], f[4]
	oc := r.outcome[app]
	async, onDeploy := r.async, r.onDeploy
	r.mu.Unlock()
	if onDeploy != nil {
		onDeploy(app)
	}
	if why, ok := strings.CutPrefix(oc, "refuse: "); ok {
		out.Reply(chat.Message{Level: chat.Failure, Title: why})
		return commands.Outcome{Failed: true, Code: errs.Forbidden}
	}
	if rest, ok := strings.CutPrefix(oc, "refuse "); ok {
		code, why, _ := strings.Cut(rest, ": ")
		out.Reply(chat.Message{Level: chat.Failure, Title: why})
		return commands.Outcome{Failed: errs.Code(code) != errs.NoChange, Code: errs.Code(code)}
	}
	id := fmt.Sprintf("d%d", n)
	out.Reply(chat.Message{Level: chat.Info, Title: fmt.Sprintf("Deploying %s %s to %s (deploy %s)", app, build, env, id)})
	if oc == "hang" {
		return commands.Outcome{DeployID: id}
	}
	rec := &deploy.Record{ID: id, Kind: deploy.KindDeploy, App: app, Env: env, Build: build, Requester: req.User,
		Started: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Finished: time.Date(2026, 1, 1, 0, 1, 0, 0, time.UTC),
		Outcome: deploy.OutcomeSucceeded}
	oc, later := strings.CutPrefix(oc, "later")
	oc = strings.TrimSpace(oc)
	if oc != "" && oc != "at stop" {
		o, first := strings.CutSuffix(oc, " first")
		rec.Outcome = deploy.Outcome(o)
		rec.Error = "web-2: health check failed"
		if rec.Outcome == deploy.OutcomeReverted {
			// Switched back, or, the host's first release, left on it.
			hr := deploy.HostResult{Host: "web-2", State: deploy.HostReverted, Current: "76", Previous: "76", Switched: true}
			if first {
				hr = deploy.HostResult{Host: "web-2", State: deploy.HostFailed, Current: build, Switched: true}
			}
			rec.Hosts = []deploy.HostResult{hr}
		}
	}
	finish := func() {
		out.Progress(deploy.Event{Kind: deploy.EventFinished, DeployID: id, Record: rec, Time: rec.Finished})
	}
	switch {
	case oc == "at stop":
		r.wg.Go(func() {
			<-ctx.Done()
			finish()
		})
	case later:
		r.wg.Go(func() {
			<-r.finishLater
			finish()
		})
	case async:
		r.wg.Go(finish)
	default:
		finish()
	}
	return commands.Outcome{DeployID: id}
}

// texts returns the requests as "user@channel via platform: text".
func (r *fakeRunner) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, q := range r.reqs {
		out = append(out, fmt.Sprintf("%s@%s via %s: %s", q.User, q.Channel, q.Platform, q.Text))
	}
	return out
}

// fakeNotifier records the posts. A post whose ctx has ended fails, as a
// chat platform's client does, and is not recorded.
type fakeNotifier struct {
	mu    sync.Mutex
	posts []post
	// onPost, when set, is called with each message recorded, outside
	// the lock: the world changing as a message is posted.
	onPost func(chat.Message)
	// fail, when set, is returned by every post, which records nothing:
	// the chat platform refusing them.
	fail error
}

type post struct {
	channel string
	msg     chat.Message
}

func (n *fakeNotifier) Post(ctx context.Context, channel string, msg chat.Message) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("post to %s: %w", channel, err)
	}
	n.mu.Lock()
	if n.fail != nil {
		n.mu.Unlock()
		return fmt.Errorf("post to %s: %w", channel, n.fail)
	}
	n.posts = append(n.posts, post{channel, msg})
	onPost := n.onPost
	n.mu.Unlock()
	if onPost != nil {
		onPost(msg)
	}
	return nil
}

// titles returns the titles posted to channel.
func (n *fakeNotifier) titles(channel string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, p := range n.posts {
		if p.channel == channel {
			out = append(out, p.msg.Title)
		}
	}
	return out
}

// find returns the messages posted to channel whose title starts with prefix.
func (n *fakeNotifier) find(channel, prefix string) []chat.Message {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []chat.Message
	for _, p := range n.posts {
		if p.channel == channel && strings.HasPrefix(p.msg.Title, prefix) {
			out = append(out, p.msg)
		}
	}
	return out
}

func (n *fakeNotifier) count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.posts)
}

// fakeGate closes apps by lock, and the whole of production on holidays.
type fakeGate struct {
	mu       sync.Mutex
	locks    map[string]string // app → reason
	holidays map[string]bool   // "2026-12-24" in Warsaw
	now      func() time.Time
}

func (g *fakeGate) Closed(ctx context.Context, app, env, user string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holidays[g.now().In(warsaw).Format(time.DateOnly)] {
		return env + " is frozen for the holidays until 28 Dec", true
	}
	if why, ok := g.locks[app]; ok {
		return why, true
	}
	return "", false
}

// Held is Closed: the fake counts nothing.
func (g *fakeGate) Held(ctx context.Context, app, env, user string) (string, bool) {
	return g.Closed(ctx, app, env, user)
}

// Locked is Closed's locks: the fake's have no end.
func (g *fakeGate) Locked(ctx context.Context, app, env, user string, until time.Time) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	why, ok := g.locks[app]
	return why, ok
}

// Forbidden forbids nobody: the fake has no permissions.
func (g *fakeGate) Forbidden(ctx context.Context, app, env, user string, at time.Time) (string, bool) {
	return "", false
}

func (g *fakeGate) lock(app, why string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.locks[app] = why
}

// fakeBuilds knows the builds in it, "app build".
type fakeBuilds map[string]bool

func (b fakeBuilds) Exists(ctx context.Context, app, build string) error {
	if b[app+" "+build] {
		return nil
	}
	return errs.New(errs.NotFound, "build %s of %s was not found", build, app)
}

// testConfig has apps accounting, billing and search with production and
// staging (mail: staging only), and a train daily to production on
// weekdays in Warsaw: boarding 10:00, reminder 13:45, departure 14:00.
func testConfig() *config.Config {
	env := func(names ...string) map[string]*config.Env {
		m := map[string]*config.Env{}
		for _, n := range names {
			m[n] = &config.Env{Name: n}
		}
		return m
	}
	return &config.Config{
		Apps: map[string]*config.App{
			"accounting": {Name: "accounting", Envs: env("production", "staging")},
			"billing":    {Name: "billing", Envs: env("production", "staging")},
			"search":     {Name: "search", Envs: env("production", "staging")},
			"mail":       {Name: "mail", Envs: env("staging")},
		},
		Trains: map[string]*config.Train{"daily": dailyTrain()},
	}
}

func dailyTrain() *config.Train {
	return &config.Train{
		Name: "daily", Env: "production", Channels: []string{"#deploys"}, Timezone: "Europe/Warsaw",
		Boarding: "0 10 * * 1-5", Reminder: "45 13 * * 1-5", Departure: "0 14 * * 1-5",
		MaxCars: 3, Empty: "note", Grace: config.Duration(15 * time.Minute),
	}
}

// harness is a Scheduler with fakes around it.
type harness struct {
	t      *testing.T
	cfg    *config.Config
	store  *MemStore
	runner *fakeRunner
	notes  *fakeNotifier
	gate   *fakeGate
	clock  *testclock.Clock
	leader bool
	// leaderFrom, when set, is when this replica becomes the leader.
	leaderFrom time.Time
	// deployTimeout is Options.DeployTimeout.
	deployTimeout time.Duration
	// stopWait is Options.StopWait.
	stopWait time.Duration
	// log is Options.Log.
	log *slog.Logger
	// once is Options.Once.
	once Once
	// leases and leaseTTL are Options.Leases and Options.LeaseTTL.
	leases   deploy.Leaser
	leaseTTL time.Duration
	s        *Scheduler

	// onSleep, when set, runs at each of the scheduler's sleeps, before
	// the clock moves: the world changing between two looks.
	onSleep func()

	// Set by run for the scheduler's sleep.
	end    time.Time
	cancel context.CancelFunc
	wakes  []time.Time
}

// newHarness returns a harness whose clock reads now; edit changes the
// config before the Scheduler is made.
func newHarness(t *testing.T, now time.Time, edit func(*config.Config)) *harness {
	t.Helper()
	h := &harness{t: t, cfg: testConfig(), store: NewMemStore(), runner: &fakeRunner{outcome: map[string]string{}},
		notes: &fakeNotifier{}, clock: testclock.New(now), leader: true}
	h.gate = &fakeGate{locks: map[string]string{}, holidays: map[string]bool{}, now: h.clock.Now}
	if edit != nil {
		edit(h.cfg)
	}
	h.restart()
	t.Cleanup(h.runner.wg.Wait)
	return h
}

// restart makes a new Scheduler on the same store, as a restarted bot.
func (h *harness) restart() {
	h.t.Helper()
	s, err := New(Options{
		Config: h.cfg, Store: h.store, Runner: h.runner, Notifier: h.notes, Gate: h.gate, Audit: h.store,
		Builds: fakeBuilds{"accounting 1337": true, "accounting 1338": true, "billing 77": true, "billing 78": true, "search 5": true, "mail 1": true},
		Now:    h.clock.Now, Sleep: h.sleep, Leader: h.isLeader, DeployTimeout: h.deployTimeout, StopWait: h.stopWait,
		Log: h.log, Once: h.once, Leases: h.leases, LeaseTTL: h.leaseTTL,
	})
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	h.s = s
}

func (h *harness) isLeader() bool {
	return h.leader && !h.clock.Now().Before(h.leaderFrom)
}

// sleep is the scheduler's timer: it lets the departures in progress end,
// so that every run is deterministic, then moves the clock to until, or
// stops the run once until is past its end.
func (h *harness) sleep(ctx context.Context, until time.Time) error {
	h.s.wg.Wait()
	if until.After(h.end) {
		h.cancel()
		return ctx.Err()
	}
	if h.onSleep != nil {
		h.onSleep()
	}
	h.wakes = append(h.wakes, until)
	h.clock.Set(until)
	return nil
}

// run runs the scheduler from the clock's time until end, then sets the
// clock to end; a new Scheduler for each run.
func (h *harness) run(end time.Time) {
	h.t.Helper()
	h.restart()
	ctx, cancel := context.WithCancel(h.t.Context())
	defer cancel()
	h.end, h.cancel = end, cancel
	if err := h.s.Run(ctx); err != nil {
		h.t.Fatalf("Run: %v", err)
	}
	if h.clock.Now().Before(end) {
		h.clock.Set(end)
	}
}

func (h *harness) board(user, app, build string) {
	h.t.Helper()
	if _, err := h.s.Board(h.t.Context(), user, "daily", app, build, ""); err != nil {
		h.t.Fatalf("Board %s %s: %v", app, build, err)
	}
}

// aboard returns the cars of the train as "app build".
func (h *harness) aboard(name string) []string {
	h.t.Helper()
	cars, err := h.store.Cars(h.t.Context(), name)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, c := range cars {
		out = append(out, c.App+" "+c.Build)
	}
	return out
}

// render renders a message as text: the title, then each line indented.
func render(m chat.Message) string {
	var b strings.Builder
	b.WriteString(m.Title)
	for _, l := range m.Lines {
		b.WriteString("\n  " + l)
	}
	return b.String()
}

// errText renders err as "code: message", or "nil".
func errText(err error) string {
	if err == nil {
		return "nil"
	}
	return string(errs.CodeOf(err)) + ": " + errs.Message(err)
}
