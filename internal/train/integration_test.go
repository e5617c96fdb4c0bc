package train_test

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/train"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// dailyTrain is the train of the tests' configs.
const dailyTrain = `trains:
  daily:
    env: production
    channels: ["#releases"]
    boarding: "0 10 * * 1-5"
    departure: "0 14 * * 1-5"
`

const trainYAML = `users: {ana: {}, bob: {}, carl: {}}
admins: [ana]
deployers: [bob]
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'echo "$SWITCHMAN_APP $SWITCHMAN_BUILD" >> ../order.log'
    health: {command: 'test ! -e current/BROKEN', timeout: 1s, interval: 50ms}
    environments: {production: {hosts: [localhost]}}
  api:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/api
    restart: 'echo "$SWITCHMAN_APP $SWITCHMAN_BUILD" >> ../order.log'
    health: {command: 'test ! -e current/BROKEN', timeout: 1s, interval: 50ms}
    environments: {production: {hosts: [localhost]}}
  billing:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/billing
    restart: 'echo "$SWITCHMAN_APP $SWITCHMAN_BUILD" >> ../order.log'
    environments: {production: {hosts: [localhost]}}
` + dailyTrain

type channel struct {
	mu   sync.Mutex
	msgs []string
	// onPost, when set, sees every message posted (a person reading the
	// channel and clicking).
	onPost func(chat.Message)
}

// all returns the messages posted so far.
func (c *channel) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

func (c *channel) Post(_ context.Context, ch string, m chat.Message) error {
	c.mu.Lock()
	c.msgs = append(c.msgs, ch+": "+chat.Text(m))
	on := c.onPost
	c.mu.Unlock()
	if on != nil {
		on(m)
	}
	return nil
}

func tgz(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	for n, b := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write([]byte(b))
	}
	tw.Close()
	gw.Close()
	return buf.Bytes()
}

// trainSystem is the real command service, engine and embedded store
// behind a scheduler, its channel a recording notifier.
type trainSystem struct {
	dir   string
	st    *embedded.Store
	eng   *deploy.Engine
	svc   *commands.Service
	sched *train.Scheduler
	out   *channel
	// logs holds what the engine, the service and the scheduler log.
	logs *syncbuf.Buffer
	// refused counts the refusals, as the metric does.
	refused *refusalCount
}

// refusalCount is a commands.RefusalCounter.
type refusalCount struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *refusalCount) Refused(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[reason]++
}

func (r *refusalCount) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.n)
}

// newTrainSystem wires yaml with the artifacts arts (file name → files).
func newTrainSystem(t *testing.T, yaml string, arts map[string]map[string]string) *trainSystem {
	t.Helper()
	return newTrainSystemAt(t, yaml, arts, nil)
}

// newTrainSystemAt is newTrainSystem on the clock now; nil: time.Now.
func newTrainSystemAt(t *testing.T, yaml string, arts map[string]map[string]string, now func() time.Time) *trainSystem {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "artifacts"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, files := range arts {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", name), tgz(t, files))
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}}, Store: st, Leases: st, Locks: st, Log: log, Now: now})
	t.Cleanup(eng.Wait)
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	sys := &trainSystem{dir: dir, st: st, eng: eng, out: &channel{}, logs: logs, refused: &refusalCount{}}
	sys.svc = commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy, Refusals: sys.refused, Log: log, Now: now})
	sys.sched, err = train.New(train.Options{Config: cfg, Store: st, Runner: sys.svc, Notifier: sys.out, Gate: sys.svc, Audit: st, Builds: train.ConfigBuilds{Config: cfg}, Log: log, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	sys.svc.SetTrains(sys.sched)
	return sys
}

// A departure through the real command service and engine: cars ship in
// boarding order as their boarders, a failing car is reverted and leaves,
// a locked app waits for the next train, a user without the grant is
// refused at boarding.
func TestDepartureThroughTheService(t *testing.T) {
	sys := newTrainSystem(t, trainYAML, map[string]map[string]string{
		"web-7.tar.gz":     {"BUILD": "7"},
		"api-3.tar.gz":     {"BUILD": "3", "BROKEN": "x"},
		"billing-5.tar.gz": {"BUILD": "5"},
	})
	dir, st, svc, sched, out := sys.dir, sys.st, sys.svc, sys.sched, sys.out
	ctx := context.Background()
	say := func(user, text string) commands.Outcome {
		return svc.Handle(ctx, commands.Request{User: user, Platform: "test", Channel: "#releases", Text: text}, nopOut{})
	}
	for _, c := range []struct {
		user, text string
		failed     bool
	}{
		{"carl", "train board web 7", true}, // no train grant
		{"bob", "train board web 404", true},
		{"bob", "train board nope 1", true},
		{"bob", "train board web 7", false},
		{"ana", "train board api 3", false},
		{"bob", "train board billing 5", false},
		{"ana", "lock deploys billing production waiting for the DBA", false},
		{"carl", "train depart daily now", true},
		{"carl", "train cancel daily not today", true},
	} {
		if got := say(c.user, c.text); got.Failed != c.failed {
			t.Errorf("%s %q: got failed=%v, want %v", c.user, c.text, got.Failed, c.failed)
		}
	}
	// The admin-only refusals name the command, not only the permission.
	// Each wrote its pending entry first, which its refusal closes.
	entries, err := st.Audit(ctx, audit.Query{Limit: 4})
	if err != nil {
		t.Fatal(err)
	}
	entries = audit.Fold(entries)
	for i, want := range []string{"train cancel is for admins: carl may not admin everything", "train depart is for admins: carl may not admin everything"} {
		if len(entries) != 2 || !strings.HasPrefix(entries[i].Reason, want) {
			t.Errorf("audit entries %+v; want %d. to say %q", entries, i+1, want)
		}
	}
	sum := sched.Depart(ctx, "daily", "")
	var shipped, failed, postponed []string
	for _, r := range sum.Shipped {
		shipped = append(shipped, r.Car.App)
	}
	for _, r := range sum.Failed {
		failed = append(failed, r.Car.App+" "+string(r.Outcome))
	}
	for _, r := range sum.Postponed {
		postponed = append(postponed, r.Car.App)
	}
	if strings.Join(shipped, ",") != "web" || strings.Join(failed, ",") != "api reverted" || strings.Join(postponed, ",") != "billing" {
		t.Errorf("departure: shipped %v, failed %v, postponed %v; want [web], [api reverted], [billing]", shipped, failed, postponed)
	}
	order, _ := os.ReadFile(filepath.Join(dir, "srv/order.log"))
	// web first, then api (its restart, then the revert had no earlier release to restart).
	if lines := strings.Split(strings.TrimSpace(string(order)), "\n"); len(lines) < 2 || lines[0] != "web 7" || lines[1] != "api 3" {
		t.Errorf("deploy order: got %q, want web 7 then api 3", order)
	}
	if cur, _ := os.Readlink(filepath.Join(dir, "srv/web/current")); cur != "releases/7" {
		t.Errorf("web current: got %q", cur)
	}
	recs, _ := st.Records(ctx, deploy.Filter{App: "web"})
	if len(recs) != 1 || recs[0].Requester != "bob" {
		t.Errorf("web deploy record: got %+v, want one by bob", recs)
	}
	cars, _ := st.Cars(ctx, "daily")
	if len(cars) != 1 || cars[0].App != "billing" {
		t.Errorf("aboard for the next train: got %+v, want billing", cars)
	}
	out.mu.Lock()
	all := strings.Join(out.msgs, "\n")
	out.mu.Unlock()
	for _, want := range []string{"1 shipped, 1 failed, 1 moves to the next train", "waiting for the DBA"} {
		if !strings.Contains(all, want) {
			t.Errorf("channel lacks %q:\n%s", want, all)
		}
	}
}

type nopOut struct{}

func (nopOut) Reply(chat.Message)    {}
func (nopOut) Progress(deploy.Event) {}

const confirmYAML = `users: {bob: {}}
deployers: [bob]
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'true'
    migrations: {list: 'echo 0042_add_column', run: 'touch ../../migrated'}
    environments: {production: {hosts: [localhost], migrate: ask, confirm_timeout: 1m}}
` + dailyTrain

// TestCarAsksToConfirmInTheChannel: a car whose migrations wait for a
// confirmation posts the prompt, with its button, to the train's channel,
// and the click of someone allowed lets the train go on.
func TestCarAsksToConfirmInTheChannel(t *testing.T) {
	sys := newTrainSystem(t, confirmYAML, map[string]map[string]string{"web-7.tar.gz": {"BUILD": "7"}})
	ctx := context.Background()
	sys.out.onPost = func(m chat.Message) {
		for _, b := range m.Buttons {
			if strings.HasPrefix(b.Action, "deploy confirm ") {
				sys.svc.Handle(ctx, commands.Request{User: "bob", Platform: "test", Channel: "#releases", Text: b.Action}, nopOut{})
			}
		}
	}
	if oc := sys.svc.Handle(ctx, commands.Request{User: "bob", Platform: "test", Channel: "#releases", Text: "train board web 7"}, nopOut{}); oc.Failed {
		t.Fatal("boarding failed")
	}
	sum := sys.sched.Depart(ctx, "daily", "")
	if len(sum.Shipped) != 1 || len(sum.Failed) != 0 {
		t.Fatalf("departure: shipped %d, failed %+v; want web shipped once confirmed", len(sum.Shipped), sum.Failed)
	}
	if _, err := os.Stat(filepath.Join(sys.dir, "srv/web/migrated")); err != nil {
		t.Errorf("the migrations did not run: %v", err)
	}
}

// TestLockOwnersCarDeparts: a lock holds back other people's cars, not the
// cars of its owner, who may deploy through it as by hand.
func TestLockOwnersCarDeparts(t *testing.T) {
	sys := newTrainSystem(t, trainYAML, map[string]map[string]string{"billing-5.tar.gz": {"BUILD": "5"}, "web-7.tar.gz": {"BUILD": "7"}})
	ctx := context.Background()
	for _, c := range []struct{ user, text string }{
		{"ana", "lock deploys billing production DBA at work"},
		{"ana", "lock deploys web production DBA at work"},
		{"ana", "train board billing 5"},
		{"bob", "train board web 7"},
	} {
		if oc := sys.svc.Handle(ctx, commands.Request{User: c.user, Platform: "test", Channel: "#releases", Text: c.text}, nopOut{}); oc.Failed {
			t.Fatalf("%s %q failed", c.user, c.text)
		}
	}
	sum := sys.sched.Depart(ctx, "daily", "")
	if len(sum.Shipped) != 1 || sum.Shipped[0].Car.App != "billing" || len(sum.Postponed) != 1 || sum.Postponed[0].Car.App != "web" {
		t.Errorf("departure: shipped %+v, postponed %+v; want ana's billing shipped, bob's web postponed", sum.Shipped, sum.Postponed)
	}
}

// TestDepartHoldsBackACarLockedMeanwhile: a lock taken while an earlier
// car ships, after the departure looked at the gate, holds the car back
// for the next train as a lock at departure time would, rather than
// webAndBilling is a train system with web 7 and billing 5 aboard the
// daily train; say runs a command as user in its channel.
func webAndBilling(t *testing.T) (sys *trainSystem, say func(user, text string) commands.Outcome) {
	t.Helper()
	sys = newTrainSystem(t, trainYAML, map[string]map[string]string{
		"web-7.tar.gz":     {"BUILD": "7"},
		"billing-5.tar.gz": {"BUILD": "5"},
	})
	say = func(user, text string) commands.Outcome {
		return sys.svc.Handle(context.Background(), commands.Request{User: user, Platform: "test", Channel: "#releases", Text: text}, nopOut{})
	}
	if say("bob", "train board web 7").Failed || say("bob", "train board billing 5").Failed {
		t.Fatal("boarding failed")
	}
	return sys, say
}

// failing it off the train.
func TestDepartHoldsBackACarLockedMeanwhile(t *testing.T) {
	sys, say := webAndBilling(t)
	ctx := context.Background()
	locked := false
	sys.out.mu.Lock()
	sys.out.onPost = func(m chat.Message) {
		if !locked && strings.HasPrefix(m.Title, "Deploying web 7") {
			locked = true
			say("ana", "lock deploys billing production DBA is migrating")
		}
	}
	sys.out.mu.Unlock()
	sum := sys.sched.Depart(ctx, "daily", "")
	if !locked {
		t.Fatal("the lock was not taken during the departure")
	}
	if len(sum.Failed) != 0 || len(sum.Postponed) != 1 || sum.Postponed[0].Car.App != "billing" || !strings.Contains(sum.Postponed[0].Reason, "DBA is migrating") {
		t.Errorf("failed %+v, postponed %+v; want billing held back for the lock", sum.Failed, sum.Postponed)
	}
	cars, err := sys.st.Cars(ctx, "daily")
	if err != nil || len(cars) != 1 || cars[0].App != "billing" {
		t.Errorf("aboard for the next train: %+v, %v; want billing", cars, err)
	}
	// One decision, one entry: the refused deploy, saying why.
	entries, err := sys.st.Audit(ctx, audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var refused []audit.Entry
	for _, e := range entries {
		if e.Decision == audit.Refused && strings.Contains(e.Command, "billing 5") {
			refused = append(refused, e)
		}
	}
	if len(refused) != 1 || !strings.Contains(refused[0].Reason, "DBA is migrating") {
		t.Errorf("audit: got %+v, want one refused deploy of billing 5 naming the lock", refused)
	}
}

// TestDepartureDuringShutdown: the bot starts stopping while a departure
// ships its first car: that deploy finishes, and the next car goes back
// aboard for the next train, the summary saying why (not that the store
// is unreachable, nor that the car failed).
func TestDepartureDuringShutdown(t *testing.T) {
	sys, _ := webAndBilling(t)
	ctx := context.Background()
	stopping := false
	sys.out.mu.Lock()
	sys.out.onPost = func(m chat.Message) {
		if !stopping && strings.HasPrefix(m.Title, "Deploying web 7") {
			stopping = true
			go sys.eng.Drain()
			for !sys.eng.Draining() {
				time.Sleep(time.Millisecond)
			}
		}
	}
	sys.out.mu.Unlock()
	sum := sys.sched.Depart(ctx, "daily", "")
	if !stopping {
		t.Fatal("the bot did not start stopping during the departure")
	}
	if len(sum.Shipped) != 1 || sum.Shipped[0].Car.App != "web" {
		t.Errorf("shipped %+v, want web, which had started", sum.Shipped)
	}
	if len(sum.Failed) != 0 || len(sum.Postponed) != 1 || sum.Postponed[0].Car.App != "billing" || sum.Postponed[0].Reason != "the bot is shutting down" {
		t.Errorf("failed %+v, postponed %+v; want billing held back: the bot is shutting down", sum.Failed, sum.Postponed)
	}
	// Expected at a stop: said at INFO, as what it is, not as a
	// dependency failing.
	logs := sys.logs.String()
	for line := range strings.Lines(logs) {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("logged %s", strings.TrimSpace(line))
		}
	}
	if want := `level=INFO msg="command refused: the bot is shutting down" user=bob command="deploy billing 5 to production"`; !strings.Contains(logs, want) {
		t.Errorf("logs:\n%s\nwant a line %s", logs, want)
	}
	cars, err := sys.st.Cars(ctx, "daily")
	if err != nil || len(cars) != 1 || cars[0].App != "billing" {
		t.Errorf("aboard for the next train: %+v, %v; want billing", cars, err)
	}
}

// TestCarOfKeywordNames: a car whose app or build reads like a word of
// the commands ships as the deploy it boarded with: an app named confirm
// whose build looks like a deploy id (not a confirmation), and a build
// named like the "to" that may follow it (quoted when boarding).
func TestCarOfKeywordNames(t *testing.T) {
	for _, c := range []struct{ name, app, build, board string }{
		{"an app named confirm", "confirm", "20261123-124158-b25a0a", "20261123-124158-b25a0a"},
		{"a build named to", "web", "to", `"to"`},
		{"a build named TO", "web", "TO", `"TO"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			yaml := `users: {bob: {}}
deployers: [bob]
apps:
  ` + c.app + `:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/` + c.app + `
    restart: 'true'
    environments: {production: {hosts: [localhost]}}
` + dailyTrain
			sys := newTrainSystem(t, yaml, map[string]map[string]string{c.app + "-" + c.build + ".tar.gz": {"BUILD": c.build}})
			ctx := context.Background()
			if r := sys.svc.Handle(ctx, commands.Request{User: "bob", Platform: "test", Channel: "#releases", Text: "train board " + c.app + " " + c.board}, nopOut{}); r.Failed {
				t.Fatal("boarding failed")
			}
			sum := sys.sched.Depart(ctx, "daily", "")
			if len(sum.Shipped) != 1 || sum.Shipped[0].Car.App != c.app || sum.Shipped[0].Car.Build != c.build {
				t.Errorf("shipped %+v, failed %+v; want %s %s shipped", sum.Shipped, sum.Failed, c.app, c.build)
			}
		})
	}
}

// TestCarsRefusedThroughTheService: through the real service and engine, a
// car whose build was deployed by hand meanwhile has arrived, and a car
// whose app+env another run holds waits for the next train; neither
// counts as failed nor stops the train.
func TestCarsRefusedThroughTheService(t *testing.T) {
	yaml := trainYAML + "    stop_on_failure: true\n"
	sys := newTrainSystem(t, yaml, map[string]map[string]string{
		"web-7.tar.gz":     {"BUILD": "7"},
		"api-3.tar.gz":     {"BUILD": "3"},
		"billing-5.tar.gz": {"BUILD": "5"},
	})
	ctx := context.Background()
	say := func(user, text string) commands.Outcome {
		return sys.svc.Handle(ctx, commands.Request{User: user, Platform: "test", Channel: "#releases", Text: text}, nopOut{})
	}
	for _, text := range []string{"train board web 7", "train board api 3", "train board billing 5"} {
		if say("bob", text).Failed {
			t.Fatalf("%s refused", text)
		}
	}
	if say("ana", "deploy web 7 to production").Failed {
		t.Fatal("the deploy by hand was refused")
	}
	sys.eng.Wait()
	// A run of api/production under way on some replica.
	l, err := sys.st.Acquire(ctx, "deploy:api/production", "20260602-135959-a1b2c3 rollback of build 2 by ana", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)

	sum := sys.sched.Depart(ctx, "daily", "")
	var shipped, postponed []string
	for _, r := range sum.Shipped {
		shipped = append(shipped, r.Car.App)
	}
	for _, r := range sum.Postponed {
		postponed = append(postponed, r.Car.App+": "+r.Reason)
	}
	if len(sum.Failed) != 0 || strings.Join(shipped, ",") != "web,billing" || len(postponed) != 1 || !strings.HasPrefix(postponed[0], "api: api/production is busy") {
		t.Errorf("departure: shipped %v, failed %+v, postponed %q; want web (live already) and billing shipped, api postponed as busy", shipped, sum.Failed, postponed)
	}
	if cars, err := sys.st.Cars(ctx, "daily"); err != nil || len(cars) != 1 || cars[0].App != "api" {
		t.Errorf("aboard after the departure: %+v, %v; want api's car", cars, err)
	}
}

// TestCarWithoutChecksum: a build published without its checksum does not
// board, and a car whose checksum is gone by its departure fails before
// anything changed.
func TestCarWithoutChecksum(t *testing.T) {
	sys := newTrainSystem(t, trainYAML, map[string]map[string]string{
		"web-7.tar.gz": {"BUILD": "7"},
		"api-3.tar.gz": {"BUILD": "3"},
	})
	ctx := context.Background()
	if err := os.Remove(filepath.Join(sys.dir, "artifacts", "api-3.tar.gz.sha256")); err != nil {
		t.Fatal(err)
	}
	_, err := sys.sched.Board(ctx, "bob", "daily", "api", "3", "")
	if want := "build 3 of api has no published checksum"; err == nil || !strings.Contains(errs.Message(err), want) {
		t.Errorf("board api 3: got %v, want a refusal saying %q", err, want)
	}

	if _, err := sys.sched.Board(ctx, "bob", "daily", "web", "7", ""); err != nil {
		t.Fatalf("board web 7: %v", err)
	}
	if err := os.Remove(filepath.Join(sys.dir, "artifacts", "web-7.tar.gz.sha256")); err != nil {
		t.Fatal(err)
	}
	sum := sys.sched.Depart(ctx, "daily", "")
	if len(sum.Failed) != 1 || sum.Failed[0].Car.App != "web" || !strings.Contains(sum.Failed[0].Reason, "build 7 of web has no published checksum") {
		t.Errorf("departure: failed %+v, shipped %+v, postponed %+v; want web failed for its missing checksum", sum.Failed, sum.Shipped, sum.Postponed)
	}
	if _, err := os.Lstat(filepath.Join(sys.dir, "srv/web")); err == nil {
		t.Error("srv/web exists after a car refused before its deploy started")
	}
}

// TestRefusedCarDoesNotStopTheTrain: with stop_on_failure, a car the
// departure refuses for good (its boarder lost the grant since boarding,
// its build is gone) leaves the train, and the cars after it still ship:
// only a deploy that ran and failed stops the train.
func TestRefusedCarDoesNotStopTheTrain(t *testing.T) {
	tests := []struct {
		name   string
		before func(t *testing.T, sys *trainSystem, say func(user, text string) commands.Outcome)
		reason string // in the refused car's reason
	}{
		{"its boarder lost the grant", func(t *testing.T, _ *trainSystem, say func(user, text string) commands.Outcome) {
			if say("ana", "revoke @carl deployer web production").Failed {
				t.Fatal("revoke refused")
			}
		}, "carl may not deploy web/production"},
		{"its build is gone", func(t *testing.T, sys *trainSystem, _ func(user, text string) commands.Outcome) {
			if err := os.Remove(filepath.Join(sys.dir, "artifacts", "web-7.tar.gz")); err != nil {
				t.Fatal(err)
			}
		}, "web-7.tar.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := newTrainSystem(t, trainYAML+"    stop_on_failure: true\n", map[string]map[string]string{
				"web-7.tar.gz": {"BUILD": "7"},
				"api-3.tar.gz": {"BUILD": "3"},
			})
			ctx := context.Background()
			say := func(user, text string) commands.Outcome {
				return sys.svc.Handle(ctx, commands.Request{User: user, Platform: "test", Channel: "#releases", Text: text}, nopOut{})
			}
			for _, c := range [][2]string{{"ana", "grant @carl deployer web production"}, {"carl", "train board web 7"}, {"bob", "train board api 3"}} {
				if say(c[0], c[1]).Failed {
					t.Fatalf("%s %q refused", c[0], c[1])
				}
			}
			tt.before(t, sys, say)
			sum := sys.sched.Depart(ctx, "daily", "")
			var shipped, failed, postponed []string
			for _, r := range sum.Shipped {
				shipped = append(shipped, r.Car.App)
			}
			for _, r := range sum.Failed {
				failed = append(failed, r.Car.App+": "+r.Reason)
			}
			for _, r := range sum.Postponed {
				postponed = append(postponed, r.Car.App+": "+r.Reason)
			}
			if strings.Join(shipped, ",") != "api" || len(failed) != 1 || !strings.HasPrefix(failed[0], "web: refused") || !strings.Contains(failed[0], tt.reason) || len(postponed) != 0 {
				t.Errorf("departure: shipped %v, failed %q, postponed %q; want api shipped and web refused (%s), nothing postponed", shipped, failed, postponed, tt.reason)
			}
		})
	}
}

// TestBoardWarnsOfWhatHoldsTheCarAtDeparture: boarding warns of a window
// by whether it is open at the departure, not now, naming when it opens
// next, and of another's lock in force now, which may be lifted by then.
// A car boarded at 08:00 for the 14:00 train in a 09:00-16:00 window used
// to be warned that deploys "are closed now … unless that changes by
// departure, the car moves to the next train".
//
// It warns too when who boards may not deploy the app there at the
// departure (a role that grants train and not deploy, a grant that ends
// before then): the car is refused then and leaves the train. Such a car
// used to board with a plain success.
func TestBoardWarnsOfWhatHoldsTheCarAtDeparture(t *testing.T) {
	tests := []struct {
		name   string
		weekly string   // web's production window
		lock   string   // ana's command run first, if any
		user   string   // who boards; default bob, a deployer everywhere
		want   []string // the reply's lines; none: no warning
	}{
		{name: "closed now, open at departure", weekly: "Mon-Fri 09:00-16:00"},
		{name: "closed at departure", weekly: "Mon-Fri 09:00-12:00", want: []string{
			"⚠ deploys to web/production are closed at its departure, Mon 23 Nov 14:00 CET: outside the deploy window (Mon-Fri 09:00-12:00 Europe/Warsaw); the next window opens Tue 24 Nov 09:00 CET; unless that changes, the car moves to the next train."}},
		{name: "another's lock now, window open at departure", weekly: "Mon-Fri 09:00-16:00", lock: "lock deploys web production db move", want: []string{
			"⚠ web/production is locked now: locked by ana since 2026-11-23 08:00:00 CET: db move; unless lifted by departure, the car moves to the next train."}},
		{name: "another's lock ending before departure", weekly: "Mon-Fri 09:00-16:00", lock: "lock deploys web production db move for 2h"},
		{name: "another's lock and closed at departure", weekly: "Mon-Fri 09:00-12:00", lock: "lock deploys web production db move", want: []string{
			"⚠ deploys to web/production are closed at its departure, Mon 23 Nov 14:00 CET: outside the deploy window (Mon-Fri 09:00-12:00 Europe/Warsaw); the next window opens Tue 24 Nov 09:00 CET; unless that changes, the car moves to the next train.",
			"⚠ web/production is locked now: locked by ana since 2026-11-23 08:00:00 CET: db move; unless lifted by departure, the car moves to the next train."}},
		{name: "may board, may not deploy", weekly: "Mon-Fri 09:00-16:00", user: "carl", want: []string{
			`⚠ at its departure, Mon 23 Nov 14:00 CET, carl may not deploy web/production: no role grants "deploy" there; an admin can grant it: ana; unless granted by then, the car is refused and leaves the train.`}},
		{name: "may deploy now, not at departure", weekly: "Mon-Fri 09:00-16:00", user: "dora", lock: "grant @dora deployer web production for 2h", want: []string{
			`⚠ at its departure, Mon 23 Nov 14:00 CET, dora may not deploy web/production: no role grants "deploy" there; an admin can grant it: ana; unless granted by then, the car is refused and leaves the train.`}},
		{name: "may deploy at departure by a grant", weekly: "Mon-Fri 09:00-16:00", user: "dora", lock: "grant @dora deployer web production for 8h"},
	}
	warsaw, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testclock.New(time.Date(2026, 11, 23, 8, 0, 0, 0, warsaw)) // a Monday
			yaml := strings.Replace(trainYAML, "environments: {production: {hosts: [localhost]}}",
				`environments: {production: {hosts: [localhost], window: {timezone: Europe/Warsaw, weekly: ["`+tt.weekly+`"]}}}`, 1)
			yaml = strings.Replace(yaml, "    env: production\n", "    env: production\n    timezone: Europe/Warsaw\n", 1)
			yaml = strings.Replace(yaml, "users: {ana: {}, bob: {}, carl: {}}\n", `users: {ana: {}, bob: {}, carl: {}, dora: {}}
roles: {boarder: [train]}
access: [{role: boarder, users: [carl]}]
`, 1)
			sys := newTrainSystemAt(t, yaml, map[string]map[string]string{"web-7.tar.gz": {"BUILD": "7"}}, clk.Now)
			ctx := context.Background()
			if tt.lock != "" {
				if oc := sys.svc.Handle(ctx, commands.Request{User: "ana", Platform: "test", Channel: "#releases", Text: tt.lock}, nopOut{}); oc.Failed {
					t.Fatalf("%q failed", tt.lock)
				}
			}
			user := cmp.Or(tt.user, "bob")
			m, err := sys.sched.Board(ctx, user, "daily", "web", "7", "")
			if err != nil {
				t.Fatal(err)
			}
			if m.Title != "🎫 web 7 boarded the 14:00 train to production (car 1 of 1)" || !slices.Equal(m.Lines, tt.want) {
				t.Errorf("board:\n%s\n%s\nwant the lines\n%s", m.Title, strings.Join(m.Lines, "\n"), strings.Join(tt.want, "\n"))
			}
			if wantLevel := map[bool]chat.Level{true: chat.Warning, false: chat.Success}[len(tt.want) > 0]; m.Level != wantLevel {
				t.Errorf("board: level %q, want %q", m.Level, wantLevel)
			}
		})
	}
}

// finishOut is a command's output that reports when its deploy finishes.
type finishOut struct{ finished chan *deploy.Record }

func (finishOut) Reply(chat.Message) {}
func (o finishOut) Progress(ev deploy.Event) {
	if ev.Kind == deploy.EventFinished {
		o.finished <- ev.Record
	}
}

// TestDepartureLeavesOutABusyCar: a car whose app+env runs a deploy
// started by hand is not announced as leaving: it is held back with the
// cars the window or a lock hold back, and the announcement names the
// cars that ship. It used to be announced ("leaving with 2 cars: web 7
// (@bob), billing 5 (@bob)"), then moved to the next train.
func TestDepartureLeavesOutABusyCar(t *testing.T) {
	hold := filepath.Join(t.TempDir(), "hold")
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(trainYAML, `restart: 'echo`, `restart: 'while [ -e `+hold+` ]; do sleep 0.05; done; echo`, 1)
	sys := newTrainSystem(t, yaml, map[string]map[string]string{
		"web-7.tar.gz":     {"BUILD": "7"},
		"web-8.tar.gz":     {"BUILD": "8"},
		"billing-5.tar.gz": {"BUILD": "5"},
	})
	ctx := context.Background()
	for _, app := range []string{"web 7", "billing 5"} {
		a, b, _ := strings.Cut(app, " ")
		if _, err := sys.sched.Board(ctx, "bob", "daily", a, b, ""); err != nil {
			t.Fatalf("board %s: %v", app, err)
		}
	}
	out := finishOut{finished: make(chan *deploy.Record, 1)}
	if oc := sys.svc.Handle(ctx, commands.Request{User: "ana", Platform: "test", Channel: "#ops", Text: "deploy web 8"}, out); oc.Failed || oc.DeployID == "" {
		t.Fatalf("deploy web 8 by hand did not start: %+v", oc)
	}
	t.Cleanup(func() {
		os.Remove(hold)
		select {
		case <-out.finished:
		case <-time.After(30 * time.Second):
			t.Error("the deploy of web 8 did not finish")
		}
	})

	sum := sys.sched.Depart(ctx, "daily", "")
	if len(sum.Shipped) != 1 || sum.Shipped[0].Car.App != "billing" || len(sum.Postponed) != 1 || sum.Postponed[0].Car.App != "web" ||
		!strings.HasPrefix(sum.Postponed[0].Reason, "web/production is busy: deploy of build 8 by ana") {
		t.Errorf("departure: shipped %+v, postponed %+v, failed %+v; want billing shipped, web postponed as busy", sum.Shipped, sum.Postponed, sum.Failed)
	}
	sys.out.mu.Lock()
	all := strings.Join(sys.out.msgs, "\n")
	sys.out.mu.Unlock()
	if want := "train to production is leaving with 1 car: billing 5 (@bob).\n  1 car held back; see the summary."; !strings.Contains(all, want) {
		t.Errorf("channel:\n%s\nwant the departure announced as\n%s", all, want)
	}
}

// TestCarOfUserWhoLostThePermissionIsRefused: a car whose boarder may no
// longer deploy is refused at the departure and leaves the train, as a
// typed deploy is refused for the permission before its window or a lock
// is looked at. It used to be held back by a lock or a closed window, day
// after day while they lasted, audited as waiting for them.
func TestCarOfUserWhoLostThePermissionIsRefused(t *testing.T) {
	tests := []struct {
		name   string
		weekly string // web's production window
		lock   string // ana's lock, if any
	}{
		{name: "locked", weekly: "Mon-Fri 09:00-16:00", lock: "lock deploys web production db move"},
		{name: "window closed", weekly: "Mon-Fri 09:00-12:00"},
	}
	warsaw, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testclock.New(time.Date(2026, 11, 23, 10, 0, 0, 0, warsaw)) // a Monday
			yaml := strings.Replace(trainYAML, "environments: {production: {hosts: [localhost]}}",
				`environments: {production: {hosts: [localhost], window: {timezone: Europe/Warsaw, weekly: ["`+tt.weekly+`"]}}}`, 1)
			yaml = strings.Replace(yaml, "users: {ana: {}, bob: {}, carl: {}}\n", "users: {ana: {}, bob: {}, carl: {}, dora: {}}\n", 1)
			sys := newTrainSystemAt(t, yaml, map[string]map[string]string{"web-7.tar.gz": {"BUILD": "7"}}, clk.Now)
			ctx := context.Background()
			say := func(user, text string) {
				t.Helper()
				if oc := sys.svc.Handle(ctx, commands.Request{User: user, Platform: "test", Channel: "#releases", Text: text}, nopOut{}); oc.Failed {
					t.Fatalf("%s %q failed", user, text)
				}
			}
			say("ana", "grant @dora deployer web production for 2h")
			say("dora", "train board web 7")
			if tt.lock != "" {
				say("ana", tt.lock)
			}
			clk.Set(time.Date(2026, 11, 23, 14, 0, 0, 0, warsaw)) // the grant has ended

			sum := sys.sched.Depart(ctx, "daily", "")
			if len(sum.Failed) != 1 || sum.Failed[0].Car.App != "web" || !strings.HasPrefix(sum.Failed[0].Reason, "refused: dora may not deploy web/production") ||
				len(sum.Postponed) != 0 || len(sum.Shipped) != 0 {
				t.Errorf("departure: failed %+v, postponed %+v, shipped %+v; want web refused for dora's permission", sum.Failed, sum.Postponed, sum.Shipped)
			}
			if cars, err := sys.st.Cars(ctx, "daily"); err != nil || len(cars) != 0 {
				t.Errorf("aboard after the departure: %+v (%v); want nobody", cars, err)
			}
			entries, err := sys.st.Audit(ctx, audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range audit.Fold(entries) {
				if strings.Contains(e.Reason, "held back") {
					t.Errorf("audit: %s %s: %s; want no car held back", e.User, e.Command, e.Reason)
				}
			}
		})
	}
}

// TestHeldCarCountsAsRefused: a car a departure holds back is audited as
// a refused deploy, and counted so too, by the refusal's kind, as a car
// refused at its own turn is. It used to be left out of the count.
func TestHeldCarCountsAsRefused(t *testing.T) {
	tests := []struct {
		name   string
		weekly string // web's production window
		lock   string // ana's lock, if any
		want   map[string]int
	}{
		{name: "locked", weekly: "Mon-Fri 09:00-16:00", lock: "lock deploys web production db move", want: map[string]int{"conflict": 1}},
		{name: "window closed", weekly: "Mon-Fri 09:00-12:00", want: map[string]int{"forbidden": 1}},
	}
	warsaw, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testclock.New(time.Date(2026, 11, 23, 10, 0, 0, 0, warsaw)) // a Monday
			yaml := strings.Replace(trainYAML, "environments: {production: {hosts: [localhost]}}",
				`environments: {production: {hosts: [localhost], window: {timezone: Europe/Warsaw, weekly: ["`+tt.weekly+`"]}}}`, 1)
			sys := newTrainSystemAt(t, yaml, map[string]map[string]string{"web-7.tar.gz": {"BUILD": "7"}}, clk.Now)
			ctx := context.Background()
			for _, c := range []struct{ user, text string }{{"bob", "train board web 7"}, {"ana", tt.lock}} {
				if c.text == "" {
					continue
				}
				if oc := sys.svc.Handle(ctx, commands.Request{User: c.user, Platform: "test", Channel: "#releases", Text: c.text}, nopOut{}); oc.Failed {
					t.Fatalf("%s %q failed", c.user, c.text)
				}
			}
			clk.Set(time.Date(2026, 11, 23, 14, 0, 0, 0, warsaw))
			sum := sys.sched.Depart(ctx, "daily", "")
			if len(sum.Postponed) != 1 {
				t.Fatalf("departure: postponed %+v; want web held back", sum.Postponed)
			}
			if got := sys.refused.counts(); !maps.Equal(got, tt.want) {
				t.Errorf("refusals counted: got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestClosedWindowHoldsTheCarWithoutForce: a car a closed window holds back
// is said to wait, with why the window is closed; a car cannot be forced,
// so the summary offers no --force. It used to end with "admins who can
// force it (--force "reason"): ana", as a typed deploy's refusal does.
func TestClosedWindowHoldsTheCarWithoutForce(t *testing.T) {
	tests := []struct {
		name   string
		window string // web's production window
		want   string // the summary's title
	}{
		{
			name:   "outside the weekly window",
			window: `{timezone: Europe/Warsaw, weekly: ["Mon-Fri 09:00-12:00"]}`,
			want:   "🚂 The 14:00 train to production is postponed: deploys to web/production are closed now: outside the deploy window (Mon-Fri 09:00-12:00 Europe/Warsaw); the next window opens Tue 2026-11-24 09:00 CET",
		},
		{
			name:   "no admin around",
			window: `{timezone: Europe/Warsaw, require_admin_present: true}`,
			want:   "🚂 The 14:00 train to production is postponed: deploys to web/production are closed now: no admin is around (an admin checks in with /here)",
		},
	}
	warsaw, err := time.LoadLocation("Europe/Warsaw")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := testclock.New(time.Date(2026, 11, 23, 10, 0, 0, 0, warsaw)) // a Monday
			yaml := strings.Replace(trainYAML, "environments: {production: {hosts: [localhost]}}",
				`environments: {production: {hosts: [localhost], window: `+tt.window+`}}`, 1)
			yaml = strings.Replace(yaml, "    env: production\n", "    env: production\n    timezone: Europe/Warsaw\n", 1)
			sys := newTrainSystemAt(t, yaml, map[string]map[string]string{"web-7.tar.gz": {"BUILD": "7"}}, clk.Now)
			ctx := context.Background()
			if oc := sys.svc.Handle(ctx, commands.Request{User: "bob", Platform: "test", Channel: "#releases", Text: "train board web 7"}, nopOut{}); oc.Failed {
				t.Fatal("boarding failed")
			}
			clk.Set(time.Date(2026, 11, 23, 14, 0, 0, 0, warsaw))

			sum := sys.sched.Depart(ctx, "daily", "")
			if len(sum.Postponed) != 1 {
				t.Fatalf("departure: postponed %+v, failed %+v, shipped %+v; want web held back", sum.Postponed, sum.Failed, sum.Shipped)
			}
			if got := sum.Message.Title; got != tt.want {
				t.Errorf("summary title:\ngot  %s\nwant %s", got, tt.want)
			}
			if text := chat.Text(sum.Message); strings.Contains(text, "--force") {
				t.Errorf("summary offers --force, which a car cannot use:\n%s", text)
			}
		})
	}
}

// replies keeps the replies to one command.
type replies struct {
	mu   sync.Mutex
	msgs []chat.Message
}

func (r *replies) Reply(m chat.Message) { r.mu.Lock(); r.msgs = append(r.msgs, m); r.mu.Unlock() }
func (*replies) Progress(deploy.Event)  {}

// TestCarsOfARenamedTrainThroughTheService: a car aboard a train the
// config renamed (its cars kept under the old name in the store) is named
// by train, and train leave with the old name quoted takes it off; the
// name unquoted is refused, as a typo would be.
func TestCarsOfARenamedTrainThroughTheService(t *testing.T) {
	sys := newTrainSystem(t, trainYAML, nil)
	ctx := context.Background()
	if _, err := sys.st.Board(ctx, "nightly", train.Car{App: "web", Build: "7", Env: "production", User: "bob", Boarded: time.Now()}, 0, nil); err != nil {
		t.Fatal(err)
	}
	say := func(user, text string) (commands.Outcome, string) {
		out := &replies{}
		oc := sys.svc.Handle(ctx, commands.Request{User: user, Platform: "test", Channel: "#releases", Text: text}, out)
		var b strings.Builder
		for _, m := range out.msgs {
			b.WriteString(m.Title + "\n")
			for _, l := range m.Lines {
				b.WriteString("  " + l + "\n")
			}
		}
		return oc, b.String()
	}
	tests := []struct {
		user, text string
		failed     bool
		want       string // in the reply
	}{
		{"bob", "train", false, `⚠ nightly is no longer in the config: its cars never leave: web 7 (@bob); take each off with ` + suggest.Command(`train leave web on "nightly"`)},
		{"bob", "train leave web on nightly", true, `unknown train "nightly"`},
		{"bob", "train leave api on \"nightly\"", true, "api is not aboard the nightly train, which is no longer in the config; aboard: web 7 (@bob)"},
		{"bob", "train leave web on \"nightly\"", false, "web 7 (@bob) left the nightly train, which is no longer in the config"},
		{"bob", "train leave web on \"nightly\"", true, `there is no train "nightly"; trains: daily`},
	}
	for _, tc := range tests {
		oc, got := say(tc.user, tc.text)
		if oc.Failed != tc.failed || !strings.Contains(got, tc.want) {
			t.Errorf("%s: got failed %v, reply %q; want failed %v, a reply with %q", tc.text, oc.Failed, got, tc.failed, tc.want)
		}
	}
	if names, err := sys.st.Trains(ctx); err != nil || len(names) != 0 {
		t.Errorf("trains with cars aboard: got %q, %v; want none", names, err)
	}
}

// TestCarOfARemovedTrainTakenOffWithAnEnvGrant: a user whose train grant
// is limited to the car's app and env takes off a car of a train the
// config no longer has; the grant is checked on the car's env, which the
// config no longer names. It used to be checked on no env, and refused.
func TestCarOfARemovedTrainTakenOffWithAnEnvGrant(t *testing.T) {
	sys := removedTrainAboard(t, "train")
	ctx := context.Background()
	tests := []struct {
		text   string
		failed bool
		want   string // in the reply
	}{
		{`train leave api on "nightly"`, true, "may not train api"},
		{`train leave web on "nightly"`, false, "web 7 (@bob) left the nightly train, which is no longer in the config (taken off by @carl)"},
	}
	for _, tc := range tests {
		oc, got := sys.titles(ctx, "carl", tc.text)
		if oc.Failed != tc.failed || !strings.Contains(got, tc.want) {
			t.Errorf("%s: got failed %v, reply %q; want failed %v, a reply with %q", tc.text, oc.Failed, got, tc.failed, tc.want)
		}
	}
}

// TestCarTakenOffWithAGrantOnItsEnv: the grant to take a car off a train
// the config has is checked on the car's env too, as for a train the
// config no longer has: here the cars boarded when the train went to
// staging (an env the config has since dropped), and it goes to
// production now. It used to be checked on the
// train's env, so that a grant on the car's env could not take it off
// and one on the train's env took off a car of another env.
func TestCarTakenOffWithAGrantOnItsEnv(t *testing.T) {
	yaml := strings.Replace(trainYAML, "users: {ana: {}, bob: {}, carl: {}}\n", `users: {ana: {}, bob: {}, carl: {}}
roles: {boarder: [train]}
access: [{role: boarder, users: [carl], on: ["web/staging", "api/production"]}]
`, 1)
	sys := newTrainSystem(t, yaml, nil)
	ctx := context.Background()
	for _, app := range []string{"web", "api"} {
		if _, err := sys.st.Board(ctx, "daily", train.Car{App: app, Build: "7", Env: "staging", User: "bob", Boarded: time.Now()}, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		text   string
		failed bool
		want   string // in the reply
	}{
		{"train leave api on daily", true, "may not train api"},
		{"train leave web on daily", false, "web 7 (@bob) left the "},
	}
	for _, tc := range tests {
		oc, got := sys.titles(ctx, "carl", tc.text)
		if oc.Failed != tc.failed || !strings.Contains(got, tc.want) {
			t.Errorf("%s: got failed %v, reply %q; want failed %v, a reply with %q", tc.text, oc.Failed, got, tc.failed, tc.want)
		}
	}
	cars, err := sys.st.Cars(ctx, "daily")
	if err != nil || len(cars) != 1 || cars[0].App != "api" {
		t.Errorf("cars aboard: got %+v, %v; want api's alone", cars, err)
	}
}

// TestBoardToAnotherEnvSaysWhereTheTrainGoes: a car goes to its train's
// env, so the grant to board is judged there. A "to ENV" naming another
// env is told where the train goes; it was refused for want of a grant
// on the env typed, which sent the user asking for a grant that would
// not have helped.
func TestBoardToAnotherEnvSaysWhereTheTrainGoes(t *testing.T) {
	yaml := strings.Replace(trainYAML, "users: {ana: {}, bob: {}, carl: {}}\n", `users: {ana: {}, bob: {}, carl: {}, dora: {}}
roles: {boarder: [train]}
access: [{role: boarder, users: [carl], on: ["web/production"]}, {role: boarder, users: [dora], on: ["web/staging"]}]
`, 1)
	yaml = strings.Replace(yaml, "    path: srv/web\n", "    path: /srv/web\n    default_env: production\n", 1) // nothing is deployed
	yaml = strings.Replace(yaml, "    environments: {production: {hosts: [localhost]}}\n", "    environments: {production: {hosts: [localhost]}, staging: {transport: ssh, ssh: {user: deploy, agent: true, known_hosts: known_hosts}, hosts: [staging-1]}}\n", 1)
	sys := newTrainSystem(t, yaml, map[string]map[string]string{"web-7.tar.gz": {"BUILD": "7"}})
	ctx := context.Background()
	tests := []struct {
		user, text string
		want       string // in the reply
	}{
		{"carl", "train board web 7 to staging", "the daily train goes to production, not staging"},
		{"dora", "train board web 7 to staging", "dora may not train web/production"},
	}
	for _, tc := range tests {
		oc, got := sys.titles(ctx, tc.user, tc.text)
		if !oc.Failed || !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: got failed %v, reply %q; want it refused with %q", tc.user, tc.text, oc.Failed, got, tc.want)
		}
	}
	if cars, err := sys.st.Cars(ctx, "daily"); err != nil || len(cars) != 0 {
		t.Errorf("cars aboard: got %+v, %v; want none", cars, err)
	}
	// To the train's own env, named or not, carl boards.
	if oc, got := sys.titles(ctx, "carl", "train board web 7 to production"); oc.Failed {
		t.Errorf("carl boards to production: refused %q", got)
	}
}

// TestRemovedTrainCancelled: a train the config no longer has is called
// off with its name quoted, as its cars are taken off one by one with
// train leave: every car aboard leaves. It is for admins, and the grant
// is checked on each car's app and env, the config naming no env for the
// train. Its name used to be taken for the reason of the only train's
// cancel.
func TestRemovedTrainCancelled(t *testing.T) {
	sys := removedTrainAboard(t, "admin")
	ctx := context.Background()
	tests := []struct {
		user, text string
		failed     bool
		want       string // in the reply
		before     func()
	}{
		{user: "bob", text: `train cancel "nightly" removed`, failed: true, want: "train cancel is for admins"},
		{user: "carl", text: `train cancel "nightly" removed`, failed: true, want: "train cancel is for admins: carl may not admin api/production"},
		{user: "carl", text: `train cancel "nightly" removed`, failed: false,
			want: "🚫 The nightly train, which is no longer in the config, is cancelled by @carl: removed; its cars left: web 7 (@bob)",
			before: func() {
				if _, err := sys.st.Leave(ctx, "nightly", "api", "", time.Time{}); err != nil {
					t.Fatal(err)
				}
			}},
		{user: "ana", text: `train cancel "nightly" removed`, failed: true, want: `there is no train "nightly"; trains: daily`},
	}
	for _, tc := range tests {
		if tc.before != nil {
			tc.before()
		}
		oc, got := sys.titles(ctx, tc.user, tc.text)
		if oc.Failed != tc.failed || !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: got failed %v, reply %q; want failed %v, a reply with %q", tc.user, tc.text, oc.Failed, got, tc.failed, tc.want)
		}
	}
	if names, err := sys.st.Trains(ctx); err != nil || len(names) != 0 {
		t.Errorf("trains with cars aboard: got %q, %v; want none", names, err)
	}
	if at, err := sys.st.LastRun(ctx, "daily", train.KindCancel); err != nil || !at.IsZero() {
		t.Errorf("daily's cancellation: got %v, %v; want none: only nightly was called off", at, err)
	}
}

// TestCarOfARemovedAppTakenOff: the car of an app the config no longer
// has is taken off, named in quotes or on a train the config no longer
// has either; unquoted on a configured train, the name is refused, as a
// typo would be. Such a car could not be taken off at all.
func TestCarOfARemovedAppTakenOff(t *testing.T) {
	sys := newTrainSystem(t, trainYAML, nil)
	ctx := context.Background()
	for _, tr := range []string{"daily", "nightly"} {
		if _, err := sys.st.Board(ctx, tr, train.Car{App: "shop", Build: "7", Env: "production", User: "bob", Boarded: time.Now()}, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		text   string
		failed bool
		want   string // in the reply
	}{
		{"train leave shop on daily", true, `unknown app "shop"`},
		{`train leave "shop" on daily`, false, "shop 7 (@bob) left the "},
		{`train leave shop on "nightly"`, false, "shop 7 (@bob) left the nightly train, which is no longer in the config"},
	}
	for _, tc := range tests {
		oc, got := sys.titles(ctx, "bob", tc.text)
		if oc.Failed != tc.failed || !strings.Contains(got, tc.want) {
			t.Errorf("%s: got failed %v, reply %q; want failed %v, a reply with %q", tc.text, oc.Failed, got, tc.failed, tc.want)
		}
	}
	if names, err := sys.st.Trains(ctx); err != nil || len(names) != 0 {
		t.Errorf("trains with cars aboard: got %q, %v; want none", names, err)
	}
}

// removedTrainAboard returns a system whose config has no nightly train,
// with web 7 and api 7 for production aboard it, boarded by bob, and carl
// granted role on web/production alone.
func removedTrainAboard(t *testing.T, role string) *trainSystem {
	t.Helper()
	yaml := strings.Replace(trainYAML, "users: {ana: {}, bob: {}, carl: {}}\n", `users: {ana: {}, bob: {}, carl: {}}
roles: {granted: [`+role+`]}
access: [{role: granted, users: [carl], on: ["web/production"]}]
`, 1)
	sys := newTrainSystem(t, yaml, nil)
	for _, app := range []string{"web", "api"} {
		if _, err := sys.st.Board(context.Background(), "nightly", train.Car{App: app, Build: "7", Env: "production", User: "bob", Boarded: time.Now()}, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	return sys
}

// titles runs text as user's command and returns its outcome and the
// titles of its replies, a line each.
func (sys *trainSystem) titles(ctx context.Context, user, text string) (commands.Outcome, string) {
	out := &replies{}
	oc := sys.svc.Handle(ctx, commands.Request{User: user, Platform: "test", Channel: "#releases", Text: text}, out)
	var got strings.Builder
	for _, m := range out.msgs {
		got.WriteString(m.Title + "\n")
	}
	return oc, got.String()
}
