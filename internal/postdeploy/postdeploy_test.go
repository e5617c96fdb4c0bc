package postdeploy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/testenv/testclock"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// fakeSentry answers the endpoints the watcher uses: a steady 1 error a
// minute, or 60 a minute after the deploy once spiking is set (until
// spikeTo, when set).
type fakeSentry struct {
	t       *testing.T
	srv     *httptest.Server
	spiking atomic.Bool
	// issuesRefused, when set, refuses the list of issues as Sentry does
	// a token without the project:read scope.
	issuesRefused atomic.Bool
	mu            sync.Mutex
	calls         []string
	deployAt      time.Time
	spikeTo       time.Time
	// reads are the error counts asked for, by server and start.
	reads []sentryRead
	// via is, for each of calls, the server it came through (its address).
	via []string
	// released are the versions created; as Sentry does, a deploy of
	// any other is 404. releaseDelay slows creating one down, and
	// releaseGate, when set, holds it until closed.
	released     map[string]bool
	releaseDelay time.Duration
	releaseGate  chan struct{}
	// stall, when set, holds some of the requests that register a deploy.
	stall *stall
}

// stall holds the requests that create a release (what "release") or a
// deploy (what "deploy") through the server at via, as a Sentry that does
// not answer: held is closed once one is held, and they are answered once
// open is closed.
type stall struct {
	what, via  string
	held, open chan struct{}
	once       sync.Once
}

// stalled holds r while f's stall says so.
func (f *fakeSentry) stalled(r *http.Request, what string) {
	f.mu.Lock()
	s := f.stall
	f.mu.Unlock()
	if s == nil || s.what != what || "http://"+r.Host != s.via {
		return
	}
	s.once.Do(func() { close(s.held) })
	<-s.open
}

// sentryRead is one read of error counts: through which server (its
// address), from when.
type sentryRead struct {
	host  string
	start time.Time
}

func newFakeSentry(t *testing.T) *fakeSentry {
	f := &fakeSentry{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSentry) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer sntrys_test" {
		f.t.Errorf("%s %s: got authorization %q", r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	f.via = append(f.via, r.Host)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/0/organizations/acme/releases/":
		var body struct {
			Version  string   `json:"version"`
			Projects []string `json:"projects"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		if len(body.Projects) != 1 || body.Projects[0] != "web-backend" {
			f.t.Errorf("release projects: got %v", body.Projects)
		}
		f.stalled(r, "release")
		time.Sleep(f.releaseDelay)
		if f.releaseGate != nil {
			<-f.releaseGate
		}
		f.mu.Lock()
		if f.released == nil {
			f.released = map[string]bool{}
		}
		f.released[body.Version] = true
		f.mu.Unlock()
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]any{"version": body.Version})
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/api/0/organizations/acme/releases/") && strings.HasSuffix(r.URL.Path, "/deploys/"):
		f.stalled(r, "deploy")
		version := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/0/organizations/acme/releases/"), "/deploys/")
		f.mu.Lock()
		known := f.released[version]
		f.mu.Unlock()
		if !known {
			w.WriteHeader(404)
			json.NewEncoder(w).Encode(map[string]any{"detail": "The requested resource does not exist"})
			return
		}
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]any{"id": "1", "environment": "production"})
	case r.Method == "GET" && r.URL.Path == "/api/0/projects/acme/web-backend/":
		json.NewEncoder(w).Encode(map[string]any{"id": "42", "slug": "web-backend"})
	case r.Method == "GET" && r.URL.Path == "/api/0/organizations/acme/events-stats/":
		start, _ := time.Parse("2006-01-02T15:04:05", r.URL.Query().Get("start"))
		end, _ := time.Parse("2006-01-02T15:04:05", r.URL.Query().Get("end"))
		f.mu.Lock()
		f.reads = append(f.reads, sentryRead{host: r.Host, start: start})
		f.mu.Unlock()
		var data []any
		for t := start.Truncate(time.Minute); t.Add(time.Minute).Compare(end) <= 0; t = t.Add(time.Minute) {
			n := 1
			if f.spiking.Load() && t.After(f.deployAt) && (f.spikeTo.IsZero() || t.Before(f.spikeTo)) {
				n = 60
			}
			data = append(data, []any{t.Unix(), []any{map[string]any{"count": n}}})
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	case r.Method == "GET" && r.URL.Path == "/api/0/organizations/acme/issues/" && f.issuesRefused.Load():
		w.WriteHeader(403)
		json.NewEncoder(w).Encode(map[string]any{"detail": "You do not have permission to perform this action."})
	case r.Method == "GET" && r.URL.Path == "/api/0/organizations/acme/issues/":
		json.NewEncoder(w).Encode([]any{map[string]any{"id": "7", "shortId": "WEB-7", "title": "KeyError: 'email'", "permalink": "https://sentry.example/issues/7/", "count": "120"}})
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		w.WriteHeader(404)
	}
}

// another returns the URL of one more server answering as f does, as
// the Sentry another replica reaches: its reads are told apart by host.
func (f *fakeSentry) another(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return srv.URL
}

// readsVia returns the starts of the reads of error counts through the
// server at url, from the n-th read of all on.
func (f *fakeSentry) readsVia(url string, n int) []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	var starts []time.Time
	for _, r := range f.reads[min(n, len(f.reads)):] {
		if "http://"+r.host == url {
			starts = append(starts, r.start)
		}
	}
	return starts
}

// countCalls is how many of the calls through the server at url (any,
// when "") were call ("METHOD /path").
func (f *fakeSentry) countCalls(url, call string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i, c := range f.calls {
		if c == call && (url == "" || "http://"+f.via[i] == url) {
			n++
		}
	}
	return n
}

// readCount is how many reads of error counts there were.
func (f *fakeSentry) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reads)
}

type posts struct {
	mu   sync.Mutex
	msgs []chat.Message
	// hang, when set, holds a post whose title starts with hangAt, once
	// recorded, and every post after it, until it is closed: a bot killed
	// as it posted that message does nothing more.
	hang   chan struct{}
	hangAt string
	hung   bool
}

func (p *posts) Post(_ context.Context, channel string, m chat.Message) error {
	if channel != "#deploys" {
		return fmt.Errorf("posted to %q", channel)
	}
	p.mu.Lock()
	if !p.hung {
		p.msgs = append(p.msgs, m)
		p.hung = p.hang != nil && strings.HasPrefix(m.Title, p.hangAt)
	}
	hung, hang := p.hung, p.hang
	p.mu.Unlock()
	if hung {
		<-hang
		return errors.New("the bot was killed")
	}
	return nil
}

func (p *posts) titles() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var t []string
	for _, m := range p.msgs {
		t = append(t, m.Title+" | "+strings.Join(m.Lines, " | "))
	}
	return strings.Join(t, "\n")
}

// webFixture loads yaml as a config file in dir, publishes builds 1 and 2
// of web where its artifact path says, and opens a store in dir, closed
// when the test ends.
func webFixture(t *testing.T, dir, yaml string) (*config.Config, *embedded.Store) {
	t.Helper()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"1", "2"} {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-"+b+".tar.gz"), tgz(t, b))
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return cfg, st
}

func tgz(t *testing.T, build string) []byte {
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	tw.WriteHeader(&tar.Header{Name: "BUILD", Mode: 0o644, Size: int64(len(build)), Typeflag: tar.TypeReg})
	tw.Write([]byte(build))
	tw.Close()
	gw.Close()
	return buf.Bytes()
}

// autoRollbackFixture is web/production on a local host, watched by a
// Sentry whose errors spike while fs.spiking is set, with auto_rollback
// on. run deploys a build and fails the test unless it succeeds.
type autoRollbackFixture struct {
	fs  *fakeSentry
	dir string
	clk *testclock.Clock
	out *posts
	st  *embedded.Store
	eng *deploy.Engine
	w   *postdeploy.Watcher
	run func(build string)
	// before, when set, runs as the automatic rollback is asked of
	// the engine, before the engine has it.
	before func()
}

func newAutoRollbackFixture(t *testing.T) *autoRollbackFixture {
	return newAutoRollbackFixtureAudited(t, nil)
}

// newAutoRollbackFixtureAudited is newAutoRollbackFixture whose watcher
// writes its audit entries with auditor(the store), when auditor is set.
func newAutoRollbackFixtureAudited(t *testing.T, auditor func(*embedded.Store) postdeploy.Auditor) *autoRollbackFixture {
	fs := newFakeSentry(t)
	// Creating a release is slower than a local deploy: its deploy is
	// registered after it all the same.
	fs.releaseDelay = 300 * time.Millisecond
	dir := t.TempDir()
	yaml := fmt.Sprintf(`sentry:
  url: %s
  org: acme
  token: sntrys_test
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'true'
    environments:
      production:
        hosts: [localhost]
        channel: "#deploys"
        sentry:
          project: web-backend
          watch: 10m
          interval: 1m
          auto_rollback: true
`, fs.srv.URL)
	cfg, st := webFixture(t, dir, yaml)
	clk := testclock.New(time.Now().Truncate(time.Minute))
	sc, err := sentry.New(sentry.Options{BaseURL: fs.srv.URL, Token: "sntrys_test"})
	if err != nil {
		t.Fatal(err)
	}
	out := &posts{}
	var eng *deploy.Engine
	var aud postdeploy.Auditor = st
	if auditor != nil {
		aud = auditor(st)
	}
	f := &autoRollbackFixture{}
	w := postdeploy.New(postdeploy.Options{Config: cfg, Sentry: sc, Notifier: out, Audit: aud, History: st,
		Rollback: hookedRollbacker{rollbacker{&eng}, &f.before}, Now: clk.Now, Sleep: clk.Sleep,
		Channel: func(app, env string) string { return "#deploys" }})
	t.Cleanup(w.Close)
	eng = deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store: st, Leases: st, Locks: st, Now: clk.Now, Observers: []deploy.Sink{w.Observe}})
	run := func(build string) {
		t.Helper()
		// Typed in another channel than the env's, where the watch posts.
		mustDeploy(t, eng, deploy.Request{App: "web", Env: "production", Build: build, Requester: "ana", Channel: "#typed"})
	}

	f.fs, f.dir, f.clk, f.out, f.st, f.eng, f.w, f.run = fs, dir, clk, out, st, eng, w, run
	return f
}

// hookedRollbacker is rollbacker that runs *before, when set, first.
type hookedRollbacker struct {
	rollbacker
	before *func()
}

func (h hookedRollbacker) Rollback(ctx context.Context, req deploy.Request, sink deploy.Sink) (*deploy.Record, error) {
	if *h.before != nil {
		(*h.before)()
	}
	return h.rollbacker.Rollback(ctx, req, sink)
}

func TestSpikeRollsBackByItself(t *testing.T) {
	f := newAutoRollbackFixture(t)
	fs, dir, clk, out, st, eng, w, run := f.fs, f.dir, f.clk, f.out, f.st, f.eng, f.w, f.run
	run("1")
	// The engine's goroutine hands the end of the deploy to the watcher
	// before it is done; only then may the watcher be waited for.
	eng.Wait()
	w.Wait() // build 1: registered and watched, quiet
	if got := out.titles(); got != "" {
		t.Errorf("posts after a quiet watch: %q, want none", got)
	}

	fs.deployAt = clk.Now()
	fs.spiking.Store(true)
	run("2")
	// The watcher first: it may start the rollback, and the engine's
	// WaitGroup must not be waited on while a first Add can come. Its
	// watch of deploy 2 counts until the rollback it started has ended,
	// and that rollback's own watch is added before then.
	w.Wait() // the spike, the rollback it started and its end, the watch of the rollback
	eng.Wait()

	current, _ := os.Readlink(filepath.Join(dir, "srv/web/current"))
	if current != "releases/1" {
		t.Errorf("current after the spike: got %q, want releases/1", current)
	}
	got := out.titles()
	for _, want := range []string{
		"📈 Error spike after web 2 to production: 60.0 errors/min (before the deploy: 1.0/min)",
		"new: KeyError: 'email' (120 events) https://sentry.example/issues/7/",
		"auto_rollback is on for web/production: rolling back now",
		"Rolled back web/production to 1 by itself (succeeded)",
		"why: error spike after web 2: 60.0 errors/min vs 1.0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("posts lack %q:\n%s", want, got)
		}
	}
	locks, _ := st.Locks(context.Background())
	if len(locks) != 1 || !strings.Contains(locks[0].Reason, "rolled back from 2") {
		t.Errorf("lock after the automatic rollback: got %+v", locks)
	}
	entries, _ := st.Audit(context.Background(), audit.Query{})
	// The rollback's pending entry, written before it started, is shown
	// as its outcome.
	entries = audit.Fold(entries)
	var spike, rollback bool
	for _, e := range entries {
		spike = spike || e.Action == "spike"
		rollback = rollback || (e.Action == "rollback" && strings.Contains(e.Reason, "automatic rollback"))
	}
	if !spike || !rollback {
		t.Errorf("audit: spike %v, rollback %v; want both", spike, rollback)
	}
	// The spike and the rollback were posted to the env's channel: their
	// entries name it, not the channel the watched deploy was typed in.
	for _, e := range entries {
		if e.User == postdeploy.Requester && e.Channel != "#deploys" {
			t.Errorf("audit entry %s %q: got channel %q, want #deploys, where it was posted", e.Action, e.Reason, e.Channel)
		}
	}
	// The rollback's entries name where it went, as a person's do: named
	// after the watched build, they read as a rollback to 2.
	for _, e := range entries {
		if e.Action == "rollback" && e.Command != "rollback 1 web/production" {
			t.Errorf("audit entry of the automatic rollback (%s): got command %q, want %q", e.Reason, e.Command, "rollback 1 web/production")
		}
	}
	fs.mu.Lock()
	calls := strings.Join(fs.calls, "\n")
	fs.mu.Unlock()
	for _, want := range []string{"POST /api/0/organizations/acme/releases/", "POST /api/0/organizations/acme/releases/web@2/deploys/"} {
		if !strings.Contains(calls, want) {
			t.Errorf("sentry calls lack %q:\n%s", want, calls)
		}
	}
}

// TestSpikeWithIssuesUnlisted: a spike whose release's new issues Sentry
// would not list says so. Told "no new issues first seen in this
// release", the people on call were pointed away from the release as the
// spike's cause, by something nobody had read.
func TestSpikeWithIssuesUnlisted(t *testing.T) {
	f := newAutoRollbackFixture(t)
	f.run("1")
	f.eng.Wait()
	f.w.Wait()
	f.fs.deployAt = f.clk.Now()
	f.fs.spiking.Store(true)
	f.fs.issuesRefused.Store(true)
	f.run("2")
	f.w.Wait()
	f.eng.Wait()
	got := f.out.titles()
	if !strings.Contains(got, "📈 Error spike after web 2 to production") {
		t.Fatalf("no spike posted:\n%s", got)
	}
	if strings.Contains(got, "no new issues") {
		t.Errorf("posts say there are no new issues, which Sentry did not list:\n%s", got)
	}
	if want := "the issues first seen in web@2 could not be listed: Sentry refused the auth token (check its scopes)"; !strings.Contains(got, want) {
		t.Errorf("posts lack %q:\n%s", want, got)
	}
}

// TestSpikeAfterAFirstDeployDoesNotRollBack: with nothing earlier to go
// back to, auto_rollback says so instead of "rolling back now" followed
// by the engine's refusal, and changes nothing.
func TestSpikeAfterAFirstDeployDoesNotRollBack(t *testing.T) {
	f := newAutoRollbackFixture(t)
	f.fs.deployAt = f.clk.Now()
	f.fs.spiking.Store(true)
	f.run("1")
	f.w.Wait()
	f.eng.Wait()
	got := f.out.titles()
	want := "auto_rollback is on for web/production, but there is no earlier good release to roll back to: deploy a fixed build"
	if !strings.Contains(got, "📈 Error spike after web 1") || !strings.Contains(got, want) {
		t.Errorf("posts: got\n%s\nwant the spike and %q", got, want)
	}
	for _, not := range []string{"rolling back now", "Rolled back", "Rollback", "Roll back"} {
		if strings.Contains(got, not) {
			t.Errorf("posts: got\n%s\nwant no %q", got, not)
		}
	}
	if current, _ := os.Readlink(filepath.Join(f.dir, "srv/web/current")); current != "releases/1" {
		t.Errorf("current: got %q, want releases/1", current)
	}
	if locks, _ := f.st.Locks(context.Background()); len(locks) != 0 {
		t.Errorf("locks: got %+v, want none", locks)
	}
}

// fullAudit is an audit log whose disk is full: it refuses every write.
type fullAudit struct{ writes atomic.Int32 }

func (a *fullAudit) AppendAudit(context.Context, *audit.Entry) error {
	a.writes.Add(1)
	return fmt.Errorf("append audit: %w", &errs.Error{Code: errs.Unavailable, Msg: "state store state.db cannot be written: its disk is full (no space left on device)", Err: deploy.ErrStoreFull})
}

// TestSpikeRollbackUnaudited: the automatic rollback is a change of
// state like a person's: when its pending entry cannot be written, it
// does not start, nothing changes (the spiking build stays, no lock is
// taken), and the channel is told why, once, with the spike: told
// "rolling back now" and then "did not start", it read two contradicting
// stories.
func TestSpikeRollbackUnaudited(t *testing.T) {
	aud := &fullAudit{}
	f := newAutoRollbackFixtureAudited(t, func(*embedded.Store) postdeploy.Auditor { return aud })
	f.run("1")
	f.eng.Wait()
	f.w.Wait()
	f.fs.deployAt = f.clk.Now()
	f.fs.spiking.Store(true)
	f.run("2")
	f.w.Wait()
	f.eng.Wait()
	if current, _ := os.Readlink(filepath.Join(f.dir, "srv/web/current")); current != "releases/2" {
		t.Errorf("current after the spike: got %q, want releases/2, nothing rolled back", current)
	}
	if locks, _ := f.st.Locks(context.Background()); len(locks) != 0 {
		t.Errorf("locks: got %+v, want none", locks)
	}
	if recs, _ := f.st.Records(context.Background(), deploy.Filter{}); len(recs) != 2 {
		t.Errorf("records: got %d, want the 2 deploys, no rollback", len(recs))
	}
	want := "📈 Error spike after web 2 to production: 60.0 errors/min (before the deploy: 1.0/min) | new: KeyError: 'email' (120 events) https://sentry.example/issues/7/ | " +
		"auto_rollback is on for web/production, but the automatic rollback did not start: the audit log cannot be written, so nothing was changed: state store state.db cannot be written: its disk is full (no space left on device) | " +
		"nothing rolls this deploy back by itself now; once the audit log can be written, roll it back yourself: the Roll back to 1 button, or "
	got := f.out.titles()
	if !strings.Contains(got, want) {
		t.Errorf("posts: got\n%s\nwant %q", got, want)
	}
	for _, not := range []string{"Rolled back", "rolling back now", "Automatic rollback of web/production did not start"} {
		if strings.Contains(got, not) {
			t.Errorf("posts: got %q, for a rollback that never started:\n%s", not, got)
		}
	}
	if n := strings.Count(got, "📈 Error spike after web 2 to production"); n != 1 {
		t.Errorf("posts: got the spike %d times, want once:\n%s", n, got)
	}
	if aud.writes.Load() == 0 {
		t.Error("audit: got no write, want the refused ones")
	}
}

// rollbacker defers to the engine built after the watcher.
type rollbacker struct{ e **deploy.Engine }

func (r rollbacker) Rollback(ctx context.Context, req deploy.Request, sink deploy.Sink) (*deploy.Record, error) {
	return (*r.e).Rollback(ctx, req, sink)
}

func TestInconclusiveNeverRollsBack(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer down.Close()
	dir := t.TempDir()
	yaml := fmt.Sprintf(`sentry: {url: %s, org: acme, token: sntrys_test}
apps:
  web:
    artifact: {path: "artifacts/{app}-{build}.tar.gz"}
    path: srv/web
    restart: 'true'
    environments:
      production:
        hosts: [localhost]
        channel: "#deploys"
        sentry: {project: web-backend, auto_rollback: true}
`, down.URL)
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-1.tar.gz"), tgz(t, "1"))
	st, _ := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	defer st.Close()
	clk := testclock.New(time.Now())
	sc, _ := sentry.New(sentry.Options{BaseURL: down.URL, Token: "sntrys_test", Attempts: 2, MinBackoff: time.Millisecond, Sleep: clk.Sleep})
	out := &posts{}
	var eng *deploy.Engine
	logs := &lockedBuffer{}
	w := postdeploy.New(postdeploy.Options{Config: cfg, Sentry: sc, Notifier: out, Audit: st, History: st, Rollback: rollbacker{&eng},
		Now: clk.Now, Sleep: clk.Sleep, Channel: func(string, string) string { return "#deploys" },
		Log: slog.New(slog.NewTextHandler(logs, nil))})
	defer w.Close()
	eng = deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store: st, Leases: st, Locks: st, Observers: []deploy.Sink{w.Observe}})
	finished(t, eng, deploy.Request{App: "web", Env: "production", Build: "1", Requester: "ana"})
	eng.Wait()
	w.Wait()
	got := out.titles()
	if strings.Count(got, "Sentry could not") != 1 {
		t.Errorf("Sentry failures should be reported once per deploy:\n%s", got)
	}
	// Each failure is logged with the app and env it concerns: a deploy
	// id alone left an operator to look it up in the history.
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "msg=sentry ") && !strings.Contains(line, "app=web env=production") {
			t.Errorf("got log line %q, want it to name app=web env=production", line)
		}
	}
	if !strings.Contains(logs.String(), "msg=sentry ") {
		t.Errorf("got logs %q, want a sentry warning", logs.String())
	}
	// What the watcher kept of the deploy to say its failure once goes
	// with it: a bot whose Sentry is down for months does not grow.
	if n := postdeploy.InFlight(w); n != 0 {
		t.Errorf("the watcher still holds %d deploys after they finished", n)
	}
	if !strings.Contains(got, "is inconclusive") {
		t.Errorf("no inconclusive note:\n%s", got)
	}
	// Without the rate before the deploy the watch judges nothing until
	// Sentry gives it: the note must not read as if it judged meanwhile,
	// nor as if the watch had given up.
	if !strings.Contains(got, "nothing is judged and nothing rolls this deploy back by itself") || !strings.Contains(got, "asks again at every interval") {
		t.Errorf("the note of a watch that could not read its baseline does not say that it judges nothing until it has it:\n%s", got)
	}
	recs, _ := st.Records(context.Background(), deploy.Filter{})
	for _, r := range recs {
		if r.Kind == deploy.KindRollback {
			t.Errorf("inconclusive data rolled back: %+v", r)
		}
	}
}

// lockedBuffer is a bytes.Buffer for a logger written from several
// goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// finished runs the deploy req on eng and returns its final record.
func finished(t *testing.T, eng *deploy.Engine, req deploy.Request) *deploy.Record {
	t.Helper()
	done := make(chan *deploy.Record, 1)
	if _, err := eng.Deploy(context.Background(), req, func(ev deploy.Event) {
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	}); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// mustDeploy runs the deploy req on eng and fails the test unless it
// succeeds.
func mustDeploy(t *testing.T, eng *deploy.Engine, req deploy.Request) {
	t.Helper()
	if rec := finished(t, eng, req); rec.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("deploy %s: %s %s", req.Build, rec.Outcome, rec.Error)
	}
}
