package deploy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// fixture is one app deployed with the local transport into a temp dir.
type fixture struct {
	t      testing.TB
	dir    string // everything lives under it
	app    string // the deploy path
	arts   string // the artifact directory
	cfg    *config.Config
	store  *embedded.Store
	engine *deploy.Engine
	// storeAhead is how far the store's clock, by which its leases
	// expire, runs ahead of this process's (see passInStore).
	storeAhead atomic.Int64

	mu     sync.Mutex
	events []deploy.Event
	// watch, set before a run starts, sees each of its events as it
	// happens.
	watch func(deploy.Event)
}

const fixtureYAML = `apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    keep_releases: 3
    shared: [log, config/app.conf]
    restart: 'echo "$SWITCHMAN_BUILD" >> restarts.log; %s'
    migrations:
      list: 'for m in $(ls migrations 2>/dev/null); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m"; done'
      run: 'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'
    health:
      command: 'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'
      timeout: 30s
      interval: 50ms
    environments:
      prod:
        hosts: [localhost]
`

// healthyWithin is the fixture's health timeout. Its healthy hosts pass
// their first check at once, but a loaded machine may stretch that: the
// timeout leaves them room.
const healthyWithin = "timeout: 30s"

// failingHealth returns yaml, fixtureYAML's, with a health timeout of 2s:
// for a test in which a host fails its health check, whose run waits the
// timeout out. Its healthy hosts must still pass within it.
func failingHealth(yaml string) string {
	return strings.Replace(yaml, healthyWithin, "timeout: 2s", 1)
}

// newFailingFixture is newFixture(t, "") for a test in which a host
// fails its health check (see failingHealth).
func newFailingFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureFrom(t, failingHealth(fmt.Sprintf(fixtureYAML, "true")), &local.Transport{})
}

func newFixture(t testing.TB, restartExtra string) *fixture {
	t.Helper()
	if restartExtra == "" {
		restartExtra = "true"
	}
	return newFixtureFrom(t, fmt.Sprintf(fixtureYAML, restartExtra), &local.Transport{})
}

// newFixtureFrom is newFixture with its own config text and transport.
func newFixtureFrom(t testing.TB, yaml string, tr deploy.Transport) *fixture {
	t.Helper()
	return newFixtureWith(t, yaml, func(o *deploy.Options) { o.Transports["local"] = tr })
}

// newFixtureWith is newFixture with its own config text; opt adjusts the
// engine's options (local transport, the store for everything) first.
func newFixtureWith(t testing.TB, yaml string, opt func(*deploy.Options)) *fixture {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "switchman.yaml")
	cfg, err := config.Parse(cfgFile, []byte(yaml), nil)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	f := &fixture{t: t, dir: dir, app: filepath.Join(dir, "srv/web"), arts: filepath.Join(dir, "artifacts"), cfg: cfg}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{Now: func() time.Time {
		return time.Now().Add(time.Duration(f.storeAhead.Load()))
	}})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	f.store = st
	o := deploy.Options{
		Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store: st, Leases: st, Locks: st,
	}
	opt(&o)
	f.engine = deploy.NewEngine(o)
	t.Cleanup(f.engine.Wait)
	if err := os.MkdirAll(f.arts, 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

// passInStore lets d pass at once by the store's clock: a lease nobody
// renewed in d runs out there at that instant, as a paused replica's
// does, instead of after a sleep that a loaded machine may stretch past
// the moment the test wants.
func (f *fixture) passInStore(d time.Duration) {
	f.storeAhead.Add(int64(d))
}

type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64 // 0: 0644
}

// tarball returns the tar archive of entries compressed by zstd or gzip.
// An archive of a megabyte or more goes through the system's gzip (see
// gzipped); no test reads the compressed bytes, only their checksum,
// which write takes of whatever it is given.
func tarball(t testing.TB, zst bool, entries ...tarEntry) []byte {
	t.Helper()
	raw := tarOf(t, entries...)
	if !zst && len(raw) >= 1<<20 {
		return gzipped(t, raw)
	}
	var out bytes.Buffer
	if zst {
		zw, _ := zstd.NewWriter(&out)
		zw.Write(raw)
		zw.Close()
	} else {
		gw := gzip.NewWriter(&out)
		gw.Write(raw)
		gw.Close()
	}
	return out.Bytes()
}

// tarOf returns the uncompressed tar archive of entries.
func tarOf(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: e.typ, Linkname: e.link, ModTime: time.Unix(0, 0)}
		if e.mode != 0 {
			h.Mode = e.mode
		}
		if e.typ == 0 {
			h.Typeflag = tar.TypeReg
		} else {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return raw.Bytes()
}

// build writes artifact web-<build>.tar.gz with its checksum file.
func (f *fixture) build(build string, extra ...tarEntry) {
	f.t.Helper()
	f.write(build, tarball(f.t, false, fixtureEntries(build, extra...)...), "")
}

// fixtureEntries returns the entries of build's artifact (see
// fixture.build).
func fixtureEntries(build string, extra ...tarEntry) []tarEntry {
	return append([]tarEntry{
		{name: "BUILD", body: build},
		{name: "migrations/001_users.sql", body: "create table users();"},
		{name: "config/app.conf", body: "default config of " + build},
	}, extra...)
}

// gzipped returns raw compressed by the system's gzip, which takes a
// fraction of a second for tens of megabytes that Go's deflate, race
// instrumented, takes tens of seconds for.
func gzipped(t testing.TB, raw []byte) []byte {
	t.Helper()
	cmd := exec.Command("gzip", "-c", "-n")
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gzip: %v: %s", err, stderr.Bytes())
	}
	return out
}

// write stores data as the artifact of build; sum overrides its checksum.
func (f *fixture) write(build string, data []byte, sum string) {
	f.t.Helper()
	p := filepath.Join(f.arts, "web-"+build+".tar.gz")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		f.t.Fatal(err)
	}
	if sum == "" {
		h := sha256.Sum256(data)
		sum = hex.EncodeToString(h[:])
	}
	if err := os.WriteFile(p+".sha256", []byte(sum+"  web-"+build+".tar.gz\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) sink(ev deploy.Event) {
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
	if f.watch != nil {
		f.watch(ev)
	}
}

// run starts a deploy (or rollback) and waits for its final record.
func (f *fixture) run(kind deploy.Kind, build string) (*deploy.Record, error) {
	f.t.Helper()
	return f.runFor(kind, build, 30*time.Second)
}

// runFor is run, failing the test if the run does not end within wait.
func (f *fixture) runFor(kind deploy.Kind, build string, wait time.Duration) (*deploy.Record, error) {
	f.t.Helper()
	return f.runRequest(kind, deploy.Request{App: "web", Env: "prod", Build: build, Requester: "ana"}, wait)
}

// runRequest is runFor of req.
func (f *fixture) runRequest(kind deploy.Kind, req deploy.Request, wait time.Duration) (*deploy.Record, error) {
	f.t.Helper()
	done := make(chan *deploy.Record, 1)
	sink := func(ev deploy.Event) {
		f.sink(ev)
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	}
	var err error
	if kind == deploy.KindRollback {
		_, err = f.engine.Rollback(context.Background(), req, sink)
	} else {
		_, err = f.engine.Deploy(context.Background(), req, sink)
	}
	if err != nil {
		return nil, err
	}
	select {
	case rec := <-done:
		return rec, nil
	case <-time.After(wait):
		f.t.Fatalf("%s %s still running after %s", kind, req.Build, wait)
		return nil, nil
	}
}

func (f *fixture) mustRun(kind deploy.Kind, build string, want deploy.Outcome) *deploy.Record {
	f.t.Helper()
	rec, err := f.run(kind, build)
	if err != nil {
		f.t.Fatalf("%s %s: %v", kind, build, err)
	}
	if rec.Outcome != want {
		f.t.Fatalf("%s %s: got outcome %s (%s), want %s", kind, build, rec.Outcome, rec.Error, want)
	}
	return rec
}

// deployThreeAfter deploys builds 1 and 2, calls arm to set up what goes
// wrong next, and returns the record of the deploy of 3 that follows.
func (f *fixture) deployThreeAfter(arm func()) *deploy.Record {
	f.t.Helper()
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	arm()
	f.build("3")
	rec, err := f.run(deploy.KindDeploy, "3")
	if err != nil {
		f.t.Fatal(err)
	}
	return rec
}

func (f *fixture) link(name string) string {
	f.t.Helper()
	target, err := os.Readlink(filepath.Join(f.app, name))
	if err != nil {
		return ""
	}
	return target
}

func (f *fixture) exists(rel string) bool {
	_, err := os.Lstat(filepath.Join(f.app, rel))
	return err == nil
}

func (f *fixture) releases() []string {
	f.t.Helper()
	ents, err := os.ReadDir(filepath.Join(f.app, "releases"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func (f *fixture) read(rel string) string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.app, rel))
	if err != nil {
		f.t.Fatalf("read %s: %v", rel, err)
	}
	return string(b)
}

func TestDeployAndRollback(t *testing.T) {
	f := newFixture(t, "")
	f.build("1")
	f.build("2", tarEntry{name: "migrations/002_email.sql", body: "alter table users;"})

	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	if got := f.link("current"); got != "releases/1" {
		t.Errorf("current after deploy 1: got %q, want releases/1", got)
	}
	if rec.Previous != "" || rec.Hosts[0].State != deploy.HostActive || rec.Hosts[0].Current != "1" {
		t.Errorf("record after deploy 1: got previous %q host %+v", rec.Previous, rec.Hosts[0])
	}
	if got := f.read("applied"); got != "001_users.sql\n" {
		t.Errorf("migrations applied: got %q", got)
	}
	// Shared paths are links into shared/, seeded from the first release.
	if got := f.link("releases/1/config/app.conf"); got != filepath.Join(f.app, "shared/config/app.conf") {
		t.Errorf("shared link: got %q", got)
	}
	if got := f.read("shared/config/app.conf"); got != "default config of 1" {
		t.Errorf("seeded shared file: got %q", got)
	}

	rec = f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	if rec.Previous != "1" || f.link("current") != "releases/2" || f.link("previous") != "releases/1" {
		t.Errorf("after deploy 2: previous %q, current %q, previous link %q", rec.Previous, f.link("current"), f.link("previous"))
	}
	if !slices.Equal(rec.Migrations, []string{"002_email.sql"}) {
		t.Errorf("pending migrations of 2: got %v, want [002_email.sql]", rec.Migrations)
	}
	if got := f.read("shared/config/app.conf"); got != "default config of 1" {
		t.Errorf("shared file must survive deploys: got %q", got)
	}

	// The same build again changes nothing.
	if _, err := f.run(deploy.KindDeploy, "2"); errs.CodeOf(err) != errs.NoChange {
		t.Errorf("deploy of the current build: got %v, want a no-change error", err)
	}

	rec = f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	if rec.Build != "1" || rec.Previous != "2" || f.link("current") != "releases/1" {
		t.Errorf("rollback: got build %s from %s, current %q", rec.Build, rec.Previous, f.link("current"))
	}
	if !f.exists("releases/.bad-2") {
		t.Error("the release rolled back from is not marked bad")
	}
	locks, err := f.store.Locks(context.Background())
	if err != nil || len(locks) != 1 || locks[0].Scope() != "web/prod" || !strings.Contains(locks[0].Reason, "rolled back from 2") {
		t.Errorf("lock after rollback: got %+v, %v", locks, err)
	}

	// Deploying 2 again after the fix re-uses the release on disk.
	f.mu.Lock()
	f.events = nil
	f.mu.Unlock()
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	if f.exists("releases/.bad-2") || f.link("current") != "releases/2" {
		t.Errorf("redeploy of 2: bad marker %v, current %q", f.exists("releases/.bad-2"), f.link("current"))
	}
	if !f.sawNote("skipping the download") {
		t.Error("redeploy of an unpacked build did not skip the download")
	}
	if got := f.read("restarts.log"); got != "1\n2\n1\n2\n" {
		t.Errorf("restarts: got %q", got)
	}
}

// eventsNow returns a copy of the events seen so far.
func (f *fixture) eventsNow() []deploy.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

// noteTexts are the texts of the notes of every run so far.
func (f *fixture) noteTexts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var texts []string
	for _, ev := range f.events {
		if ev.Kind == deploy.EventNote {
			texts = append(texts, ev.Text)
		}
	}
	return texts
}

func (f *fixture) sawNote(substr string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range f.events {
		if ev.Kind == deploy.EventNote && strings.Contains(ev.Text, substr) {
			return true
		}
	}
	return false
}

func TestFailedHealthCheckSwitchesBack(t *testing.T) {
	f := newFailingFixture(t)
	f.build("1")
	f.build("2", tarEntry{name: "BROKEN", body: "x"})
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)

	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeReverted)
	if f.link("current") != "releases/1" {
		t.Errorf("current after failed deploy: got %q, want releases/1", f.link("current"))
	}
	// As before the deploy: 1 was the first release.
	if got := f.link("previous"); got != "" {
		t.Errorf("previous after failed deploy: got %q, want none", got)
	}
	if !f.exists("releases/.bad-2") {
		t.Error("failed release not marked bad")
	}
	h := rec.Hosts[0]
	if h.State != deploy.HostReverted || h.Current != "1" || !strings.Contains(h.Error, "health") {
		t.Errorf("host result: got %+v", h)
	}
	for _, want := range []string{"health", "marked bad", "switched back to 1"} {
		if !strings.Contains(rec.Error, want) {
			t.Errorf("record error %q lacks %q", rec.Error, want)
		}
	}
	// A rollback never picks the bad release.
	if _, err := f.run(deploy.KindRollback, ""); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("rollback with only a bad release left: got %v, want not found", err)
	}
}

// A host's new release is on the record as soon as its switch is done, not
// after its restart and health check: a crash during a long restart must
// leave behind which release the host runs.
func TestSwitchRecordedBeforeRestartEnds(t *testing.T) {
	f := newFixture(t, "while [ ! -e ../../gate ]; do sleep 0.02; done")
	f.build("1")
	f.build("2")
	if err := os.WriteFile(filepath.Join(f.dir, "gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	if err := os.Remove(filepath.Join(f.dir, "gate")); err != nil {
		t.Fatal(err)
	}

	restarting := make(chan string, 1)
	finished := make(chan *deploy.Record, 1)
	_, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", Requester: "ana"}, func(ev deploy.Event) {
		switch {
		case ev.Kind == deploy.EventStep && ev.Step == deploy.StepRestart && !ev.Done:
			restarting <- ev.DeployID
		case ev.Kind == deploy.EventFinished:
			finished <- ev.Record
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	select {
	case id = <-restarting:
	case <-time.After(30 * time.Second):
		t.Fatal("the restart never started")
	}
	rec, err := f.store.Record(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if h := rec.Hosts[0]; h.Current != "2" || h.State != deploy.HostActivating {
		t.Errorf("record during the restart: host %+v, want current 2, activating", h)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case rec = <-finished:
		if rec.Outcome != deploy.OutcomeSucceeded {
			t.Errorf("outcome: got %s (%s)", rec.Outcome, rec.Error)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the deploy did not finish")
	}
}

// The health timeout counts from the first attempt, the one chained with
// the restart, not from the first retry.
func TestHealthTimeoutCountsFromFirstAttempt(t *testing.T) {
	// Each attempt takes 0.6 s and fails: within 1 s of the first
	// starting, no second one can finish.
	f, rec := unhealthyDeploy(t, `sleep 0.6; echo attempt >> ../attempts; false`, "1s")
	if !strings.Contains(rec.Error, "not healthy after 1s") {
		t.Fatalf("deploy: got %+v; want it not healthy after 1s", rec)
	}
	// A first release has nothing to switch back to: the message says so
	// rather than pointing at /rollback.
	if want := "no earlier release to switch back to on localhost, left on 1"; !strings.Contains(rec.Error, want) || strings.Contains(rec.Error, "/rollback") {
		t.Errorf("record error: got %q, want it to say %q", rec.Error, want)
	}
	if got := strings.Count(f.read("../attempts"), "attempt"); got != 1 {
		t.Errorf("health attempts that finished: got %d, want 1 (the timeout counted from a retry)", got)
	}
}

// unhealthyDeploy deploys build 1 with health command cmd and timeout,
// and returns the fixture and the record of a deploy that must not
// succeed.
func unhealthyDeploy(t *testing.T, cmd, timeout string) (*fixture, *deploy.Record) {
	t.Helper()
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"),
		`command: 'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'
      timeout: 30s`,
		"command: "+strconv.Quote(cmd)+"\n      timeout: "+timeout, 1)
	f := newFixtureFrom(t, yaml, &local.Transport{})
	f.build("1")
	rec, err := f.run(deploy.KindDeploy, "1")
	if rec == nil || rec.Outcome == deploy.OutcomeSucceeded {
		t.Fatalf("deploy: got %+v, %v; want it not healthy", rec, err)
	}
	return f, rec
}

// TestLongStepOutput: a restart and a health command printing more than
// the transport keeps of a step's output are judged as any others: the
// health check, whose first attempt runs in the restart's chain and fails
// after printing that much, is retried and passes.
func TestLongStepOutput(t *testing.T) {
	const flood = `head -c 6000000 /dev/zero | tr "\0" x; echo`
	health := `if [ ! -e ../tried ]; then touch ../tried; ` + flood + `; exit 1; fi; test "$(cat current/BUILD)" = {build}`
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, flood),
		`command: 'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'`,
		"command: "+strconv.Quote(health), 1)
	f := newFixtureFrom(t, yaml, &local.Transport{})
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	if !f.exists("../tried") {
		t.Error("the health check's first attempt did not run")
	}
}

// An attempt that the health timeout cuts short does not hide what the
// attempt before it found.
func TestHealthTimeoutKeepsTheLastFinding(t *testing.T) {
	// The first attempt fails at once and says why; the next hangs.
	_, rec := unhealthyDeploy(t, `if [ -e ../tried ]; then sleep 10; fi; touch ../tried; echo "broken build" >&2; false`, "1500ms")
	if want := "not healthy after 1.5s: exit status 1: broken build"; !strings.Contains(rec.Error, want) {
		t.Errorf("record error: got %q, want it to say %q", rec.Error, want)
	}
}

func TestRefusedArtifactsChangeNothing(t *testing.T) {
	good := func(t *testing.T) []byte { return tarball(t, false, tarEntry{name: "BUILD", body: "9"}) }
	tests := []struct {
		name string
		data func(t *testing.T) []byte
		sum  string
		code errs.Code
		want string
	}{
		{"checksum mismatch", good, strings.Repeat("ab", 32), errs.Invalid, "checksum"},
		{"escaping entry", func(t *testing.T) []byte {
			return tarball(t, false, tarEntry{name: "BUILD", body: "9"}, tarEntry{name: "../evil", body: "x"})
		}, "", errs.Invalid, "../evil"},
		{"absolute entry", func(t *testing.T) []byte {
			return tarball(t, false, tarEntry{name: "/tmp/evil", body: "x"})
		}, "", errs.Invalid, "/tmp/evil"},
		{"symlink out", func(t *testing.T) []byte {
			return tarball(t, false, tarEntry{name: "etc", typ: tar.TypeSymlink, link: "../../../etc"})
		}, "", errs.Invalid, "etc"},
		{"corrupt gzip", func(t *testing.T) []byte {
			b := good(t)
			return b[:len(b)/2]
		}, "", errs.Invalid, "refused"},
		{"not a tarball", func(t *testing.T) []byte { return []byte("hello world, no tar here") }, "", errs.Invalid, "not a gzip or zstd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			f.write("9", tt.data(t), tt.sum)
			rec, err := f.run(deploy.KindDeploy, "9")
			if err != nil {
				t.Fatalf("deploy refused before start: %v", err)
			}
			if rec.Outcome != deploy.OutcomeFailed || !strings.Contains(rec.Error, tt.want) {
				t.Errorf("got outcome %s error %q, want failed mentioning %q", rec.Outcome, rec.Error, tt.want)
			}
			if got := f.releases(); len(got) != 0 {
				t.Errorf("releases left on disk: %v", got)
			}
			if f.exists("current") {
				t.Error("current exists after a refused first deploy")
			}
			if _, err := os.Lstat(filepath.Join(f.dir, "evil")); err == nil {
				t.Error("an entry escaped the release dir")
			}
		})
	}
}

// TestRefusedHeaderGNUTarReadsElsewhere: an old-GNU header whose time
// fields hold a name prefix is "p/p/p/p/config" to archive/tar, a symlink
// four levels down whose target stays inside, and "config" to GNU tar on
// the host, a symlink leading out of the release, through which installing
// the shared config/app.conf would move, and a later deploy delete, a
// file outside. The deploy refuses it and nothing outside changes.
func TestRefusedHeaderGNUTarReadsElsewhere(t *testing.T) {
	f := newFixture(t, "")
	victim := filepath.Join(f.dir, "victim")
	if err := os.MkdirAll(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(victim, "app.conf"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	header := func(name string, typ byte, link string, size int, oldGNUPrefix string) []byte {
		b := make([]byte, 512)
		copy(b[0:100], name)
		copy(b[100:108], "0000755\x00")
		copy(b[108:116], "0000000\x00")
		copy(b[116:124], "0000000\x00")
		copy(b[124:136], fmt.Sprintf("%011o\x00", size))
		copy(b[136:148], "14000000000\x00")
		b[156] = typ
		copy(b[157:257], link)
		copy(b[257:265], "ustar\x0000")
		if oldGNUPrefix != "" {
			copy(b[257:265], "ustar  \x00")
			copy(b[345:500], oldGNUPrefix)
		}
		copy(b[148:156], "        ")
		sum := 0
		for _, c := range b {
			sum += int(c)
		}
		copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
		return b
	}
	var raw bytes.Buffer
	raw.Write(header("BUILD", tar.TypeReg, "", 1, ""))
	raw.Write(append([]byte("9"), make([]byte, 511)...))
	// The release unpacks four levels below f.dir (srv/web/releases/.tmp-…).
	raw.Write(header("config", tar.TypeSymlink, "../../../../victim", 0, "p/p/p/p"))
	raw.Write(make([]byte, 1024))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	f.write("9", gz.Bytes(), "")

	rec, err := f.run(deploy.KindDeploy, "9")
	if err != nil {
		t.Fatalf("deploy refused before start: %v", err)
	}
	if want := `read as "config" by GNU tar and as "p/p/p/p/config" by archive/tar`; rec.Outcome != deploy.OutcomeFailed || !strings.Contains(rec.Error, want) {
		t.Errorf("got outcome %s error %q, want failed saying %q", rec.Outcome, rec.Error, want)
	}
	if got := f.releases(); len(got) != 0 {
		t.Errorf("releases left on disk: %v", got)
	}
	if b, err := os.ReadFile(filepath.Join(victim, "app.conf")); err != nil || string(b) != "precious" {
		t.Errorf("victim/app.conf outside the release: %q, %v; want it untouched", b, err)
	}
}

func TestZstdArtifact(t *testing.T) {
	f := newFixture(t, "")
	f.write("7", tarball(t, true, tarEntry{name: "BUILD", body: "7"}), "")
	f.mustRun(deploy.KindDeploy, "7", deploy.OutcomeSucceeded)
	if got := f.read("current/BUILD"); got != "7" {
		t.Errorf("BUILD: got %q, want 7", got)
	}
}

func TestRequestsRefusedBeforeStart(t *testing.T) {
	f := newFixture(t, "")
	tests := []struct {
		name string
		req  deploy.Request
		code errs.Code
	}{
		{"missing artifact", deploy.Request{App: "web", Env: "prod", Build: "404"}, errs.NotFound},
		{"unknown app", deploy.Request{App: "nope", Env: "prod", Build: "1"}, errs.Invalid},
		{"unknown env", deploy.Request{App: "web", Env: "staging", Build: "1"}, errs.Invalid},
		{"path in build", deploy.Request{App: "web", Env: "prod", Build: "../1"}, errs.Invalid},
		{"shell in build", deploy.Request{App: "web", Env: "prod", Build: "1;id"}, errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.engine.Deploy(context.Background(), tt.req, nil)
			if got := errs.CodeOf(err); got != tt.code {
				t.Errorf("got %v (%s), want code %s", err, got, tt.code)
			}
		})
	}
	recs, err := f.store.Records(context.Background(), deploy.Filter{})
	if err != nil || len(recs) != 0 {
		t.Errorf("records after refusals: got %d, %v; want none", len(recs), err)
	}
	if f.exists("") && len(f.releases()) > 0 {
		t.Error("a refused request touched the deploy dir")
	}
}

func TestOneDeployPerAppEnv(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	// The restart waits for the gate file, holding the deploy open.
	f := newFixture(t, "while [ ! -e "+gate+" ]; do sleep 0.05; done")
	f.build("1")
	f.build("2")
	done := make(chan *deploy.Record, 1)
	first, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}, func(ev deploy.Event) {
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", Requester: "bob"}, nil)
	if errs.CodeOf(err) != errs.Conflict || !strings.Contains(errs.Message(err), "ana") || !strings.Contains(errs.Message(err), first.ID) {
		t.Errorf("second deploy: got %v, want a conflict naming ana and %s", err, first.ID)
	}
	// The first deploy's start, as another replica may have recorded it
	// in another zone, is shown with the zone it is read in.
	if since := "since " + first.Started.Local().Format("15:04:05 MST") + " "; !strings.Contains(errs.Message(err), since) {
		t.Errorf("second deploy: got %v, want it to say %q", err, since)
	}
	if running := f.engine.Running(); len(running) != 1 || running[0].ID != first.ID {
		t.Errorf("running: got %v", running)
	}
	os.WriteFile(gate, nil, 0o644)
	if rec := <-done; rec.Outcome != deploy.OutcomeSucceeded {
		t.Errorf("first deploy: got %s (%s)", rec.Outcome, rec.Error)
	}
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
}

// gatedRestart is a restart command that holds build 2's restart until
// the file gate exists.
func gatedRestart(gate string) string {
	return `if [ "$SWITCHMAN_BUILD" = 2 ]; then while [ ! -e ` + gate + ` ]; do sleep 0.05; done; fi`
}

// deployUntilRestart starts a deploy of build and returns once a host's
// restart has begun, with where the finished record will arrive. A deploy
// that ends first fails the test.
func (f *fixture) deployUntilRestart(build string) <-chan *deploy.Record {
	f.t.Helper()
	done := make(chan *deploy.Record, 1)
	restarting := make(chan struct{}, 1)
	_, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: build, Requester: "ana"}, func(ev deploy.Event) {
		if ev.Kind == deploy.EventStep && ev.Step == deploy.StepRestart && !ev.Done {
			select {
			case restarting <- struct{}{}:
			default:
			}
		}
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	})
	if err != nil {
		f.t.Fatal(err)
	}
	select {
	case <-restarting:
	case rec := <-done:
		// Waiting on for a restart that will not come would hang the
		// package until its timeout, with no word of why.
		f.t.Fatalf("deploy of %s ended %s (%s) before any host restarted", build, rec.Outcome, rec.Error)
	}
	return done
}

// deployTwoUntilRestart deploys build 1, then starts a deploy of build 2
// and returns once its restart has begun (see deployUntilRestart).
func (f *fixture) deployTwoUntilRestart() <-chan *deploy.Record {
	f.t.Helper()
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	return f.deployUntilRestart("2")
}

func TestCancelRestoresSwitchedHosts(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	f := newFixture(t, gatedRestart(gate))
	done := f.deployTwoUntilRestart()
	if _, err := f.engine.Cancel("web", "prod", "bob"); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	os.WriteFile(gate, nil, 0o644)
	rec := <-done
	// The host had switched: the activation finished, then the deploy
	// stopped and switched it back.
	if rec.Outcome != deploy.OutcomeCancelled && rec.Outcome != deploy.OutcomeReverted {
		t.Errorf("outcome: got %s (%s), want cancelled", rec.Outcome, rec.Error)
	}
	if f.link("current") != "releases/1" {
		t.Errorf("current after cancel: got %q, want releases/1", f.link("current"))
	}
	if _, err := f.engine.Cancel("web", "prod", "bob"); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("cancel with nothing running: got %v, want not found", err)
	}
}

func TestPruneKeepsCurrentAndPrevious(t *testing.T) {
	f := newFixture(t, "")
	base := time.Now().Add(-time.Hour)
	for i, b := range []string{"1", "2", "3", "4", "5"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
		// Releases are ordered by mtime; space them out as deploys on
		// different days would be, since some file systems keep seconds.
		at := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(filepath.Join(f.app, "releases", b), at, at); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.releases(); !slices.Equal(got, []string{"3", "4", "5"}) {
		t.Errorf("releases after 5 deploys with keep_releases 3: got %v, want [3 4 5]", got)
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	f := newFixture(t, "")
	f.build("1")
	p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Hosts) != 1 || !strings.Contains(p.Hosts[0].Change, "deliver and switch none → 1") {
		t.Errorf("plan hosts: got %+v", p.Hosts)
	}
	if len(p.Steps) < 3 || !strings.Contains(p.Steps[0], "sha256 verified") {
		t.Errorf("plan steps: got %q", p.Steps)
	}
	if f.exists("") {
		t.Error("dry run created the deploy dir")
	}
}

// putDead stores the running record of a deploy of build whose process
// died, with host as it last recorded it.
func (f *fixture) putDead(build string, host deploy.HostResult) *deploy.Record {
	f.t.Helper()
	dead := &deploy.Record{ID: "20260101-000000-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: build, Previous: "1",
		Requester: "ana", Started: time.Now().Add(-time.Minute), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: f.deadFence(),
		Hosts: []deploy.HostResult{host}}
	if err := f.store.PutRecord(context.Background(), dead); err != nil {
		f.t.Fatal(err)
	}
	return dead
}

// deadFence returns the fencing token of a run of web/prod that died just
// now: the one it took (its lease since ran out) or, while another run
// holds web/prod, that one's, the newest handed out. The store refuses a
// record written under an older token than the newest.
func (f *fixture) deadFence() int64 {
	f.t.Helper()
	ctx := context.Background()
	l, err := f.store.Acquire(ctx, deploy.LeaseKey("web", "prod"), "gone:1", time.Minute)
	var held *deploy.LeaseHeldError
	if errors.As(err, &held) {
		return held.Token
	}
	if err != nil {
		f.t.Fatal(err)
	}
	if err := l.Release(ctx); err != nil {
		f.t.Fatal(err)
	}
	return l.Token()
}

func TestRecoverMarksInterrupted(t *testing.T) {
	f := newFixture(t, "")
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	// A record left running by a process that died.
	ctx := context.Background()
	dead := f.putDead("2", deploy.HostResult{Host: "localhost", State: deploy.HostDelivering})
	got, err := f.engine.Recover(ctx)
	if err != nil || len(got) != 1 {
		t.Fatalf("recover: got %v, %v", got, err)
	}
	rec, err := f.store.Record(ctx, dead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != deploy.OutcomeInterrupted || rec.Hosts[0].Current != "1" || !strings.Contains(rec.Error, "stopped before it finished") {
		t.Errorf("recovered record: got %s, host %+v, error %q", rec.Outcome, rec.Hosts[0], rec.Error)
	}
	// The app+env is free again.
	f.build("2")
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	if again, _ := f.engine.Recover(ctx); len(again) != 0 {
		t.Errorf("second recover: got %d records, want 0", len(again))
	}
}

// TestRecoverWhileAnotherDeployRuns: a dead deploy whose app+env another
// deploy took over is reported at once, with the hosts as it recorded
// them (the other deploy is changing them), and fenced against its
// process should that wake up.
func TestRecoverWhileAnotherDeployRuns(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	f := newFixture(t, gatedRestart(gate))
	ctx := context.Background()
	done := f.deployTwoUntilRestart() // recovers nothing itself: no Recover call
	// Put once that deploy holds web/prod: one that began after this
	// record was left running would have marked it itself.
	dead := f.putDead("9", deploy.HostResult{Host: "localhost", State: deploy.HostActivating, Current: "9"})
	got, err := f.engine.Recover(ctx)
	if err != nil || len(got) != 1 || got[0].ID != dead.ID {
		t.Fatalf("recover during another deploy: got %v, %v; want the dead deploy", got, err)
	}
	rec, err := f.store.Record(ctx, dead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != deploy.OutcomeInterrupted || rec.Hosts[0].Current != "9" || !strings.Contains(rec.Error, "took web/prod over") {
		t.Errorf("recovered record: got %s, host %+v, error %q", rec.Outcome, rec.Hosts[0], rec.Error)
	}
	stale := dead.Clone()
	stale.Outcome = deploy.OutcomeSucceeded
	if err := f.store.PutRecord(ctx, stale); !errors.Is(err, deploy.ErrLeaseLost) {
		t.Errorf("a write of the dead deploy's process: got %v, want it refused", err)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if rec := <-done; rec.Outcome != deploy.OutcomeSucceeded {
		t.Errorf("the running deploy: got %s (%s)", rec.Outcome, rec.Error)
	}
}

// TestNextRunTakesOverADeadRun: a run whose process died is marked
// interrupted by the next run of its app+env, when that comes before any
// recovery did (another replica's recovery waits for the dead run's lease
// to run out, then for its next round), and reported. The next run then
// sees what the dead one left: here a host switched to 2 and never
// restarted, which deploying 2 again restarts rather than finding it runs
// 2 already.
func TestNextRunTakesOverADeadRun(t *testing.T) {
	reported := make(chan *deploy.Record, 4)
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Interrupted = func(r *deploy.Record) { reported <- r }
	})
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	// A run of 2 again (say, to restart it) started after those and died
	// once it had switched the host, before its restart passed.
	dead := &deploy.Record{ID: "20260101-000000-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "2",
		Requester: "ana", Started: time.Now(), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: f.deadFence(),
		Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating, Current: "2", Previous: "2", Switched: true}}}
	if err := f.store.PutRecord(t.Context(), dead); err != nil {
		t.Fatal(err)
	}

	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	if hr := rec.Host("localhost"); hr == nil || hr.State != deploy.HostActive {
		t.Errorf("the host the dead run left unrestarted: %+v; want it restarted and active", hr)
	}
	got, err := f.store.Record(t.Context(), dead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != deploy.OutcomeInterrupted || !strings.Contains(got.Error, "found by deploy "+rec.ID) || got.Hosts[0].Current != "2" {
		t.Errorf("the dead run's record: %s, %q, host %+v; want it interrupted, naming the deploy that found it", got.Outcome, got.Error, got.Hosts[0])
	}
	select {
	case r := <-reported:
		if r.ID != dead.ID {
			t.Errorf("reported %s, want the dead run %s", r.ID, dead.ID)
		}
	case <-time.After(30 * time.Second):
		t.Error("the dead run was not reported")
	}
	if again, err := f.engine.Recover(t.Context()); err != nil || len(again) != 0 {
		t.Errorf("a recovery afterwards: %d records, %v; want none: the dead run was reported once", len(again), err)
	}
}

// cancelling cancels a recovery's context as soon as it took its lease:
// a bot stopping in the middle of a recovery.
type cancelling struct {
	deploy.Leaser
	cancel context.CancelFunc
}

func (c cancelling) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	l, err := c.Leaser.Acquire(ctx, key, holder, ttl)
	if strings.HasPrefix(holder, "recovery:") {
		c.cancel()
	}
	return l, err
}

func TestRecoverCancelledReleasesItsLease(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Leases = cancelling{Leaser: o.Leases, cancel: cancel}
	})
	f.build("1")
	f.putDead("1", deploy.HostResult{Host: "localhost", State: deploy.HostDelivering})
	if _, err := f.engine.Recover(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("recover: got %v, want it cut short", err)
	}
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded) // the app+env is free
}

func TestObserve(t *testing.T) {
	f := newFixture(t, "")
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	hs, err := f.engine.Observe(context.Background(), "web", "prod")
	if err != nil || len(hs) != 1 || hs[0].Current != "2" || hs[0].Previous != "1" {
		t.Errorf("observe: got %+v, %v", hs, err)
	}
}

func TestValidBuild(t *testing.T) {
	for _, b := range []string{"1", "1337", "v1.2.3", "2026-11-23_1", "a"} {
		if !deploy.ValidBuild(b) {
			t.Errorf("ValidBuild(%q) = false, want true", b)
		}
	}
	for _, b := range []string{"", ".", "..", "1..2", "-1", ".hidden", "a/b", "a b", "1;id", "$(id)", "`id`", "ａ", strings.Repeat("9", 65)} {
		if deploy.ValidBuild(b) {
			t.Errorf("ValidBuild(%q) = true, want false", b)
		}
	}
}

// TestActivationSteps follows one host's activation, whose host scripts
// run chained in one session: hooks, restart and the first health attempt
// in order, a health check that passes on its third attempt (the two
// further attempts are the bot's, an interval apart), the after_restart
// hook only once it passed, and every step reported in order.
func TestActivationSteps(t *testing.T) {
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"),
		`      command: 'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'`,
		`      command: 'echo health >> ../steps.log; n=$(cat ../attempts 2>/dev/null || echo 0); echo $((n+1)) > ../attempts; [ "$n" -ge 2 ]'`, 1)
	yaml = strings.Replace(yaml, "        hosts: [localhost]", `        hosts: [localhost]
        hooks:
          before_restart: 'echo before >> ../steps.log'
          after_restart: 'echo after >> ../steps.log'`, 1)
	f := newFixtureFrom(t, yaml, &local.Transport{})
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)

	if got := f.read("../attempts"); got != "3\n" {
		t.Errorf("health attempts: got %q, want 3", got)
	}
	if got, want := f.read("../steps.log"), "before\nhealth\nhealth\nhealth\nafter\n"; got != want {
		t.Errorf("host steps: got %q, want %q", got, want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var steps []string
	for _, ev := range f.events {
		if ev.Kind != deploy.EventStep || ev.Step == deploy.StepDeliver || ev.Step == deploy.StepPending || ev.Step == deploy.StepMigrate {
			continue
		}
		s := string(ev.Step)
		if ev.Done {
			s += " done"
		}
		if ev.Err != "" {
			s += " failed"
		}
		steps = append(steps, s)
	}
	want := []string{"activate", "activate done", "hook", "hook done", "restart", "restart done", "health", "health done", "hook", "hook done"}
	if !slices.Equal(steps, want) {
		t.Errorf("step events:\n got %v\nwant %v", steps, want)
	}
}

// TestTakenOverRunReportedWhenTheNewRunIsRefused: a dead run that the next
// run of its app+env marks interrupted is reported at once, even when
// that run is then refused (here: nothing to do); no recovery comes after
// to report it.
func TestTakenOverRunReportedWhenTheNewRunIsRefused(t *testing.T) {
	reported := make(chan *deploy.Record, 4)
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Interrupted = func(r *deploy.Record) { reported <- r }
	})
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	// A deploy of 2 died while delivering: the host still runs 1.
	dead := f.putDead("2", deploy.HostResult{Host: "localhost", State: deploy.HostDelivering, Current: "1"})
	_, err := f.engine.Deploy(t.Context(), deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "bob"}, func(deploy.Event) {})
	if errs.CodeOf(err) != errs.NoChange {
		t.Fatalf("deploy 1 again: %v; want nothing to do", err)
	}
	f.engine.Wait()
	select {
	case r := <-reported:
		if r.ID != dead.ID || r.Outcome != deploy.OutcomeInterrupted {
			t.Errorf("reported %s (%s), want the dead run %s interrupted", r.ID, r.Outcome, dead.ID)
		}
	default:
		t.Errorf("the dead run %s was marked by a refused deploy and reported by no one", dead.ID)
	}
}

// recordHook runs hook once, after reading record id and before returning it.
type recordHook struct {
	deploy.Store
	id   string
	once sync.Once
	hook func()
}

func (s *recordHook) Record(ctx context.Context, id string) (*deploy.Record, error) {
	r, err := s.Store.Record(ctx, id)
	if id == s.id {
		s.once.Do(s.hook)
	}
	return r, err
}

// otherReplica is an engine of another replica sharing o's config, store
// and leases (and signals, when o has them).
func otherReplica(o *deploy.Options) *deploy.Engine {
	return deploy.NewEngine(deploy.Options{Config: o.Config, Transports: o.Transports, Store: o.Store, Leases: o.Leases, Locks: o.Locks, Signals: o.Signals, Owner: "b:1"})
}

// TestTakeOverAndRecoveryReportOnce: another replica's recovery finding a
// dead run while the next run of its app+env marks it interrupted leaves
// it to that run: the dead run is reported once.
func TestTakeOverAndRecoveryReportOnce(t *testing.T) {
	var mu sync.Mutex
	var reports []string
	report := func(who string) func(*deploy.Record) {
		return func(r *deploy.Record) { mu.Lock(); reports = append(reports, who+" "+r.ID); mu.Unlock() }
	}
	var other *deploy.Engine
	dead := &deploy.Record{ID: "20260101-000000-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "ana", Started: time.Now().Add(-time.Minute), Outcome: deploy.OutcomeRunning, Owner: "gone:1",
		Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostDelivering}}}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		other = otherReplica(o)
		o.Store = &recordHook{Store: o.Store, id: dead.ID, hook: func() {
			got, err := other.Recover(context.Background())
			if err != nil {
				t.Errorf("the other replica's recovery: %v", err)
			}
			for _, r := range got {
				report("recovery")(r)
			}
		}}
		o.Owner, o.Interrupted = "a:1", report("take-over")
	})
	f.build("1")
	if err := f.store.PutRecord(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.engine.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(reports) != 1 {
		t.Errorf("the dead run was reported %d times (%s), want once", len(reports), strings.Join(reports, ", "))
	}
}

// TestCancelFromAnotherReplica: a cancel received by a replica that does
// not run the deploy is left for the one that does, which takes it
// within a poll and stops as at a cancel of its own; a rollback is not
// cancelled, and an app+env nothing runs has nothing to cancel.
func TestCancelFromAnotherReplica(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	var other *deploy.Engine
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, gatedRestart(gate)), func(o *deploy.Options) {
		o.Signals = o.Store.(deploy.Signals)
		other = otherReplica(o)
	})
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) }) // before the engines' Wait
	if _, err := other.SignalCancel(t.Context(), "web", "prod", "bob"); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("cancel with nothing running: got %v, want not found", err)
	}
	f.build("1")
	f.build("2", tarEntry{name: "migrations/002_orders.sql", body: "create table orders();"})
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	done := f.deployUntilRestart("2")
	// Its migrations ran without a prompt (migrate: auto): an answer to
	// a prompt is refused, not left to expire unheard.
	running, err := f.store.Records(t.Context(), deploy.Filter{Outcome: deploy.OutcomeRunning})
	if err != nil || len(running) != 1 || len(running[0].Migrations) == 0 {
		t.Fatalf("the running deploy: %+v, %v; want one, with its migrations", running, err)
	}
	if err := other.SignalConfirm(t.Context(), running[0].ID, "bob", false); errs.CodeOf(err) != errs.Conflict || !strings.Contains(err.Error(), "not waiting for a confirmation") {
		t.Errorf("an abort of a deploy that asks nothing, from another replica: got %v, want it refused", err)
	}
	if _, err := other.Cancel("web", "prod", "bob"); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("a local cancel on the replica not running it: got %v, want not found", err)
	}
	cd, err := other.SignalCancel(t.Context(), "web", "prod", "bob")
	if err != nil || !cd.Started {
		t.Fatalf("cancel through the other replica: got %+v, %v; want the running deploy cancelled", cd, err)
	}
	id := cd.ID
	// The restart waits for the gate. Once the deploy has taken the
	// cancel (the signal is gone from the store; a look that finds it
	// puts it back), the gate opens and the deploy stops at its next safe
	// point.
	sig := f.store
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		by, ok, err := sig.TakeSignal(t.Context(), id, "cancel")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deploy did not take the cancel within 10 s")
		}
		if err := sig.Signal(t.Context(), id, "cancel", by, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(gate, nil, 0o644)
	rec := <-done
	if rec.ID != id || (rec.Outcome != deploy.OutcomeCancelled && rec.Outcome != deploy.OutcomeReverted) || !strings.Contains(rec.Error, "cancelled by bob") {
		t.Errorf("deploy %s after a cancel from the other replica: %s (%s); want deploy %s cancelled by bob", rec.ID, rec.Outcome, rec.Error, id)
	}
	if f.link("current") != "releases/1" {
		t.Errorf("current after the cancel: %q, want releases/1", f.link("current"))
	}
	// A rollback holding the app+env is not cancelled.
	if _, err := f.store.Acquire(t.Context(), "deploy:web/prod", "20260101-000000-rb0000 rollback of build 1 by ana", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := other.SignalCancel(t.Context(), "web", "prod", "bob"); errs.CodeOf(err) != errs.Conflict || !strings.Contains(err.Error(), "a rollback is not cancelled") {
		t.Errorf("cancel of a rollback on another replica: got %v, want it refused", err)
	}
}

// TestConfirmFromAnotherReplica: the answer to a migrations prompt given
// on a replica that does not run the deploy reaches the one that does.
func TestConfirmFromAnotherReplica(t *testing.T) {
	var other *deploy.Engine
	f := newFixtureWith(t, askingYAML("true", "1m"), func(o *deploy.Options) {
		o.Signals = o.Store.(deploy.Signals)
		other = otherReplica(o)
	})
	f.build("1")
	d := f.deployAsking(t, "1")
	if err := other.SignalConfirm(t.Context(), "20260101-000000-nope00", "bob", true); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("confirm of an unknown deploy: got %v, want not found", err)
	}
	if err := other.SignalConfirm(t.Context(), d.rec.ID, "bob", true); err != nil {
		t.Fatalf("confirm through the other replica: %v", err)
	}
	got := <-d.done
	if notes := d.noted(); got.Outcome != deploy.OutcomeSucceeded || !slices.Contains(notes, "migrations confirmed by bob") {
		t.Errorf("deploy after a confirmation from the other replica: %s (%s), notes %q; want succeeded, confirmed by bob", got.Outcome, got.Error, notes)
	}
	if err := other.SignalConfirm(t.Context(), d.rec.ID, "bob", true); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("confirm of a finished deploy: got %v, want refused", err)
	}
}

// TestFirstAnswerCounts: of two answers to a migrations prompt given
// before the run has taken either, through the replica running the deploy
// or another one, the first counts. The second is refused, saying which
// answer came first, and changes nothing.
func TestFirstAnswerCounts(t *testing.T) {
	type answer struct {
		here bool // through the replica running the deploy
		by   string
		ok   bool
	}
	for _, tc := range []struct {
		name          string
		first, second answer
		// refused lists what the second answer's refusal may say (one
		// of them); want is what the first answer did, in the deploy's
		// notes or its error.
		refused []string
		want    string
	}{
		{
			name:    "both through other replicas",
			first:   answer{by: "bob", ok: true},
			second:  answer{by: "carl"},
			refused: []string{"already has an answer waiting: bob confirmed the migrations"},
			want:    "migrations confirmed by bob",
		},
		{
			name:    "an abort through another replica, then a confirmation here",
			first:   answer{by: "bob"},
			second:  answer{here: true, by: "carl", ok: true},
			refused: []string{"already has an answer waiting: bob aborted the deploy"},
			want:    "migrations refused by bob",
		},
		{
			name:    "through another replica, then here",
			first:   answer{by: "bob", ok: true},
			second:  answer{here: true, by: "carl"},
			refused: []string{"already has an answer waiting: bob confirmed the migrations"},
			want:    "migrations confirmed by bob",
		},
		{
			// The run holds the answer given here at once; the record
			// may say it waits no more by the time the other replica
			// reads it.
			name:    "here, then through another replica",
			first:   answer{here: true, by: "ana", ok: true},
			second:  answer{by: "bob"},
			refused: []string{"already has an answer waiting: ana confirmed the migrations", "is not waiting for a confirmation"},
			want:    "migrations confirmed by ana",
		},
		{
			name:    "both here",
			first:   answer{here: true, by: "ana", ok: true},
			second:  answer{here: true, by: "carl"},
			refused: []string{"was already answered: ana confirmed the migrations"},
			want:    "migrations confirmed by ana",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The restart waits for the gate: the deploy runs on after
			// the first answer, and still runs at the second.
			gate := filepath.Join(t.TempDir(), "gate")
			t.Cleanup(func() { os.WriteFile(gate, nil, 0o644) }) // before the engines' Wait
			held := heldAnswers{release: make(chan struct{})}
			var other *deploy.Engine
			f := newFixtureWith(t, askingYAML(gatedRestart(gate), "1m"), func(o *deploy.Options) {
				held.Signals = o.Store.(deploy.Signals)
				o.Signals = held
				other = otherReplica(o)
			})
			f.build("2")
			d := f.deployAsking(t, "2")
			give := func(a answer) error {
				if a.here {
					return f.engine.Confirm(t.Context(), d.rec.ID, a.by, a.ok)
				}
				return other.SignalConfirm(t.Context(), d.rec.ID, a.by, a.ok)
			}
			if err := give(tc.first); err != nil {
				t.Fatalf("the first answer: %v", err)
			}
			err := give(tc.second)
			if errs.CodeOf(err) != errs.Conflict || !slices.ContainsFunc(tc.refused, func(s string) bool { return strings.Contains(err.Error(), s) }) {
				t.Errorf("the second answer: got %v, want a conflict saying one of %q", err, tc.refused)
			}
			close(held.release)
			os.WriteFile(gate, nil, 0o644)
			got := <-d.done
			if notes := d.noted(); !slices.Contains(notes, tc.want) && !strings.Contains(got.Error, tc.want) {
				t.Errorf("deploy after both answers: %s (%s), notes %q; want %q", got.Outcome, got.Error, notes, tc.want)
			}
		})
	}
}

// heldAnswers is a store's Signals, except that a run takes no answer to
// its prompt until release is closed: answers given before stay in the
// store, as they do for up to a second (signalPoll) between replicas.
type heldAnswers struct {
	deploy.Signals
	release chan struct{}
}

func (h heldAnswers) TakeSignal(ctx context.Context, id, kind string) (string, bool, error) {
	select {
	case <-h.release:
	default:
		if kind == "confirm" {
			return "", false, nil
		}
	}
	return h.Signals.TakeSignal(ctx, id, kind)
}

// TestCancelFromAnotherReplicaBeforeTheStart: a cancel that the deploy
// takes while it still opens its hosts stops it before it starts, and
// says so: not as a lost lease.
func TestCancelFromAnotherReplicaBeforeTheStart(t *testing.T) {
	var other *deploy.Engine
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		o.Signals = o.Store.(deploy.Signals)
		other = otherReplica(o)
		o.Transports = map[string]deploy.Transport{"local": slowOpen{Transport: o.Transports["local"], d: 2500 * time.Millisecond}}
	})
	f.build("1")
	go func() {
		// Once the deploy holds web/prod, and well before its host opens.
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := other.SignalCancel(context.Background(), "web", "prod", "bob"); err == nil {
				return
			}
		}
		t.Error("the deploy never held web/prod")
	}()
	_, err := f.engine.Deploy(t.Context(), deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}, func(deploy.Event) {})
	if errs.CodeOf(err) != errs.Conflict || !strings.Contains(err.Error(), "was cancelled by bob before it started; nothing was changed") {
		t.Errorf("deploy cancelled while opening its hosts: got %v, want it cancelled before it started", err)
	}
	if recs, err := f.store.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 0 {
		t.Errorf("records: %d, %v; want none", len(recs), err)
	}
}

// TestDrainAbortsAtThePrompt: a deploy waiting for its migrations to be
// confirmed when the bot stops is aborted there, nothing migrated or
// switched, rather than waiting out confirm_timeout past the stop's grace
// period and being killed (interrupted).
func TestDrainAbortsAtThePrompt(t *testing.T) {
	f := newFixtureFrom(t, askingYAML("true", "1h"), &local.Transport{})
	f.build("1", tarEntry{name: "migrations/001.sql", body: "x"})
	d := f.deployAsking(t, "1")
	drained := make(chan struct{})
	go func() {
		f.engine.Drain()
		close(drained)
	}()
	select {
	case rec := <-d.done:
		if rec.Outcome != deploy.OutcomeCancelled || !strings.Contains(rec.Error, "the bot is stopping") || !strings.Contains(rec.Error, "nothing was migrated or switched") {
			t.Errorf("deploy waiting at its prompt as the bot stops: %s (%s); want cancelled, saying the bot is stopping", rec.Outcome, rec.Error)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the deploy waited at its prompt through the drain")
	}
	<-drained
	if f.exists("current") || f.exists("applied") {
		t.Errorf("after the abort: current %v, migrations applied %v; want neither", f.exists("current"), f.exists("applied"))
	}
}

// askingYAML is fixtureYAML with restart, whose env asks before running
// migrations and waits confirmTimeout for the answer.
func askingYAML(restart, confirmTimeout string) string {
	return strings.Replace(fmt.Sprintf(fixtureYAML, restart), "        hosts: [localhost]\n",
		"        hosts: [localhost]\n        migrate: ask\n        confirm_timeout: "+confirmTimeout+"\n", 1)
}

// askingDeploy is a deploy waiting at its migrations prompt, whose notes
// and final record a test follows.
type askingDeploy struct {
	rec  *deploy.Record
	done chan *deploy.Record
	// prompt is the text of its prompt, set before deployAsking returns.
	prompt string

	mu    sync.Mutex
	notes []string
}

// deployAsking starts a deploy of build with f's engine and returns once it
// asks to confirm its migrations.
func (f *fixture) deployAsking(t *testing.T, build string) *askingDeploy {
	t.Helper()
	d := &askingDeploy{done: make(chan *deploy.Record, 1)}
	prompted := make(chan struct{}, 1)
	rec, err := f.engine.Deploy(t.Context(), deploy.Request{App: "web", Env: "prod", Build: build, Requester: "ana"}, func(ev deploy.Event) {
		switch ev.Kind {
		case deploy.EventConfirm:
			d.mu.Lock()
			d.prompt = ev.Text
			d.mu.Unlock()
			prompted <- struct{}{}
		case deploy.EventNote:
			d.mu.Lock()
			d.notes = append(d.notes, ev.Text)
			d.mu.Unlock()
		case deploy.EventFinished:
			d.done <- ev.Record
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	d.rec = rec
	select {
	case <-prompted:
	case <-time.After(30 * time.Second):
		t.Fatal("the deploy never asked to confirm its migrations")
	}
	return d
}

// noted returns the deploy's notes so far.
func (d *askingDeploy) noted() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.notes)
}

// TestLateAnswerRefused: the prompt says until when it waits, and an
// answer after that is refused and changes nothing, through either
// replica, also when the prompt took long to reach people (a slow chat or
// store): the wait ends at the deadline shown, not confirm_timeout after
// the prompt went out.
func TestLateAnswerRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		here bool // answered through the replica running the deploy
	}{
		{name: "here", here: true},
		{name: "through another replica"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var other *deploy.Engine
			f := newFixtureWith(t, askingYAML("true", "1s"), func(o *deploy.Options) {
				o.Signals = o.Store.(deploy.Signals)
				other = otherReplica(o)
			})
			f.build("1")
			late := make(chan struct{}, 1)
			done := make(chan *deploy.Record, 1)
			rec, err := f.engine.Deploy(t.Context(), deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}, func(ev deploy.Event) {
				switch ev.Kind {
				case deploy.EventConfirm:
					// The prompt reaches people only once its deadline
					// has passed.
					for time.Now().Before(ev.Deadline.Add(100 * time.Millisecond)) {
						time.Sleep(10 * time.Millisecond)
					}
					late <- struct{}{}
				case deploy.EventFinished:
					done <- ev.Record
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-late:
			case <-time.After(30 * time.Second):
				t.Fatal("the deploy never asked to confirm its migrations")
			}
			if tc.here {
				err = f.engine.Confirm(t.Context(), rec.ID, "ana", true)
			} else {
				err = other.SignalConfirm(t.Context(), rec.ID, "ana", true)
			}
			if errs.CodeOf(err) != errs.Conflict {
				t.Errorf("an answer after the deadline: got %v, want it refused", err)
			}
			got := <-done
			if got.Outcome != deploy.OutcomeFailed || !strings.Contains(got.Error, "nobody confirmed the migrations within 1s") {
				t.Errorf("deploy answered after its deadline: %s (%s); want failed, nobody confirmed in time", got.Outcome, got.Error)
			}
			if f.exists("applied") || f.exists("current") {
				t.Errorf("after a late answer: migrations applied %v, current %v; want neither", f.exists("applied"), f.exists("current"))
			}
		})
	}
}

// TestConfirmTooLateFromAnotherReplica: an answer given on another
// replica after the prompt's deadline is refused, the deadline shown in
// that replica's zone, as its other replies show times, not in the zone
// the record was written in.
func TestConfirmTooLateFromAnotherReplica(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	var other *deploy.Engine
	f := newFixtureWith(t, askingYAML("true", "1m"), func(o *deploy.Options) {
		o.Signals = o.Store.(deploy.Signals)
		o.Now = func() time.Time { return time.Now().UTC() }
		// The other replica's clock is past the deadline, in Tokyo.
		other = deploy.NewEngine(deploy.Options{Config: o.Config, Transports: o.Transports, Store: o.Store, Leases: o.Leases, Locks: o.Locks, Signals: o.Signals, Owner: "b:1",
			Now: func() time.Time { return time.Now().Add(2 * time.Minute).In(tokyo) }})
	})
	f.build("1")
	d := f.deployAsking(t, "1")
	rec, err := f.store.Record(t.Context(), d.rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := rec.Awaiting.In(tokyo).Format("15:04:05 MST")
	err = other.SignalConfirm(t.Context(), d.rec.ID, "bob", true)
	if errs.CodeOf(err) != errs.Conflict || !strings.Contains(err.Error(), "stopped waiting for a confirmation at "+want) {
		t.Errorf("confirm after the deadline on another replica: got %v, want it refused with the deadline %s", err, want)
	}
	if err := f.engine.Confirm(t.Context(), d.rec.ID, "ana", false); err != nil {
		t.Fatal(err)
	}
	<-d.done
}
