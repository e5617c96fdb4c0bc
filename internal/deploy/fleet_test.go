package deploy_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/ssh"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// The fleet tests deploy over SSH to real OpenSSH hosts on loopback. Each
// host runs in its own mount namespace and sees its own /srv, so the app
// lives at /srv/web on every host, as on a real fleet, while the test
// reads host i's files under fleet.Hosts[i].Root (its /srv seen from
// outside).

// fleetWait bounds how long a test waits for a deploy to finish or an
// event to arrive; nothing in these tests should come close to it.
const fleetWait = 60 * time.Second

// healthyCmd is the default health check: the release current points at is
// the build being checked.
const healthyCmd = `test "$(cat current/BUILD)" = {build}`

// sickableCmd fails the health check of a build on a host whose /srv holds
// a file sick-BUILD, so a test makes one host fail by writing that file.
const sickableCmd = healthyCmd + ` && test ! -e /srv/sick-{build}`

// fleetSpec describes the app and env of a fleet test; its zero value is a
// push deploy to every host of the fleet with a command health check.
type fleetSpec struct {
	delivery string // push (default) or pull
	// recompress is the app's recompress; default: the config's.
	recompress string
	// url is the artifact URL template; default: the fixture's artifact
	// directory.
	url        string
	restart    string // default "true"
	health     string // health command; default healthyCmd
	healthURL  string // instead of health: an HTTP check
	expect     string
	healthTime string // health timeout; default 15s
	migrations bool   // the list/run pair of migrationList and migrationRun
	// migrationRun replaces migrationRun as the migrate command.
	migrationRun string
	// stepTimeout is the env's step_timeout; default 30s.
	stepTimeout string
	// keepalive is the SSH keepalive interval; default 5s.
	keepalive string
	// connectTimeout is the SSH connect_timeout; default 10s.
	connectTimeout string
	// env holds extra lines of the env, such as "max_failures: 1".
	env []string
	// keep is the app's keep_releases; default 3.
	keep int
	// vars gives host i's vars.
	vars func(i int) map[string]string
}

// migrationList prints the migrations of the release not yet recorded in
// /srv/web/shared/applied; migrationRun applies them: it records each name
// in applied, and in migrations.log with the time (ns) and the release
// current pointed at then.
const (
	migrationList = `for m in $(ls migrations); do grep -qx "$m" /srv/web/shared/applied 2>/dev/null || echo "$m"; done`
	migrationRun  = `for m in $(ls migrations); do grep -qx "$m" /srv/web/shared/applied 2>/dev/null && continue; echo "$m" >> /srv/web/shared/applied; echo "$m $(date +%s%N) $(readlink /srv/web/current)" >> /srv/web/shared/migrations.log; done`
)

// yq quotes s for YAML, doubling each $ so that config expansion gives it
// back unchanged.
func yq(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, "'", "''"), "$", "$$") + "'"
}

// yaml renders the config of spec for fleet f, with artifacts in arts.
func (s fleetSpec) yaml(f *sshd.Fleet, arts string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("apps:")
	w("  web:")
	if s.url != "" {
		w("    artifact: {url: %s}", yq(s.url))
	} else {
		w("    artifact: {path: %s}", yq(filepath.Join(arts, "{app}-{build}.tar.gz")))
	}
	w("    delivery: %s", orDefault(s.delivery, "push"))
	if s.recompress != "" {
		w("    recompress: %s", s.recompress)
	}
	w("    path: /srv/web")
	w("    keep_releases: %d", cmp.Or(s.keep, 3))
	w("    restart: %s", yq(orDefault(s.restart, "true")))
	w("    health:")
	if s.healthURL != "" {
		w("      url: %s", yq(s.healthURL))
		if s.expect != "" {
			w("      expect: %s", yq(s.expect))
		}
	} else {
		w("      command: %s", yq(orDefault(s.health, healthyCmd)))
	}
	w("      timeout: %s", orDefault(s.healthTime, "15s"))
	w("      interval: 100ms")
	if s.migrations {
		w("    migrations:")
		w("      list: %s", yq(migrationList))
		w("      run: %s", yq(orDefault(s.migrationRun, migrationRun)))
	}
	w("    environments:")
	w("      prod:")
	w("        transport: ssh")
	w("        ssh:")
	w("          user: %s", yq(f.User))
	w("          key_file: %s", yq(f.ClientKey))
	w("          known_hosts: %s", yq(f.KnownHosts))
	if s.keepalive != "" {
		w("          keepalive: %s", s.keepalive)
	}
	if s.connectTimeout != "" {
		w("          connect_timeout: %s", s.connectTimeout)
	}
	w("        step_timeout: %s", orDefault(s.stepTimeout, "30s"))
	for _, l := range s.env {
		w("        %s", l)
	}
	w("        hosts:")
	for i, h := range f.Hosts {
		w("          - name: %s", h.Name)
		w("            address: %s", yq(h.Addr))
		if s.vars != nil {
			if vars := s.vars(i); len(vars) > 0 {
				w("            vars:")
				keys := make([]string, 0, len(vars))
				for k := range vars {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for _, k := range keys {
					w("              %s: %s", k, yq(vars[k]))
				}
			}
		}
	}
	return b.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// transport is the engine's Options.Transport: the SSH transport of an env
// from its config, built once per env and closed with the test, as the
// bot's main does.
func (f *fleetFixture) transport(app *config.App, env *config.Env) (deploy.Transport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := app.Name + "/" + env.Name
	if tr, ok := f.transports[key]; ok {
		return tr, nil
	}
	s := env.SSH
	if s == nil {
		return nil, fmt.Errorf("env %s has no ssh section", env.Name)
	}
	tr, err := ssh.New(ssh.Config{
		User:                  s.User,
		KeyFile:               s.KeyFile,
		Passphrase:            s.Passphrase,
		UseAgent:              s.Agent,
		KnownHostsFile:        s.KnownHosts,
		InsecureIgnoreHostKey: s.InsecureIgnoreHostKey,
		ConnectTimeout:        s.ConnectTimeout.D(),
		KeepAlive:             s.KeepAlive.D(),
		KeepWarm:              s.KeepWarm.D(),
		Port:                  s.Port,
	})
	if err != nil {
		return nil, err
	}
	if f.transports == nil {
		f.transports = map[string]*ssh.Transport{}
	}
	f.transports[key] = tr
	return tr, nil
}

// closeTransports closes the connections the transports keep warm.
func (f *fleetFixture) closeTransports() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tr := range f.transports {
		tr.Close()
	}
}

// startFleet starts n namespaced sshd hosts.
func startFleet(t testing.TB, n int) *sshd.Fleet {
	t.Helper()
	return sshd.StartFleet(t, n, sshd.Options{})
}

// fleetFixture is the app web deployed over SSH to the hosts of a fleet.
type fleetFixture struct {
	t      testing.TB
	fleet  *sshd.Fleet
	arts   string
	cfg    *config.Config
	store  *embedded.Store
	engine *deploy.Engine

	mu         sync.Mutex
	events     []deploy.Event
	transports map[string]*ssh.Transport // by app/env
}

// newFleetFixture configures spec for fleet through config.Parse and
// returns an engine that reaches the hosts with the SSH transport; pools,
// when set, gives the env's load balancer pool.
func newFleetFixture(t testing.TB, fleet *sshd.Fleet, spec fleetSpec, pools func(*config.App, *config.Env) (deploy.Pool, error)) *fleetFixture {
	t.Helper()
	dir := t.TempDir()
	arts := filepath.Join(dir, "artifacts")
	if err := os.MkdirAll(arts, 0o755); err != nil {
		t.Fatal(err)
	}
	text := spec.yaml(fleet, arts)
	cfg, err := config.Parse(filepath.Join(dir, "switchman.yaml"), []byte(text), nil)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fleetFixture{t: t, fleet: fleet, arts: arts, cfg: cfg, store: st}
	f.engine = deploy.NewEngine(deploy.Options{
		Config: cfg, Transport: f.transport, Pools: pools,
		Store: st, Leases: st, Locks: st,
	})
	t.Cleanup(f.closeTransports)
	// Runs before the transports and the store close and the fleet stops
	// (cleanups run last in, first out): no deploy outlives its test.
	t.Cleanup(f.engine.Wait)
	return f
}

// build writes artifact web-BUILD.tar.gz: BUILD, a migration per build up
// to this one (builds are small integers), a default config file, and
// extra.
func (f *fleetFixture) build(build string, extra ...tarEntry) []byte {
	f.t.Helper()
	data := tarball(f.t, false, buildEntries(build, extra...)...)
	f.write(build, data)
	return data
}

// buildEntries returns the entries of build's artifact (see build).
func buildEntries(build string, extra ...tarEntry) []tarEntry {
	entries := []tarEntry{
		{name: "BUILD", body: build},
		{name: "config/app.conf", body: "default config of " + build},
	}
	var n int
	fmt.Sscanf(build, "%d", &n)
	for i := 1; i <= n; i++ {
		entries = append(entries, tarEntry{name: fmt.Sprintf("migrations/%03d.sql", i), body: "create table t" + fmt.Sprint(i) + "();"})
	}
	return append(entries, extra...)
}

// write stores data as the artifact of build.
func (f *fleetFixture) write(build string, data []byte) {
	f.t.Helper()
	(&fixture{t: f.t, arts: f.arts}).write(build, data, "")
}

// seed lays build out on every host as a finished deploy of it leaves
// it: the artifact unpacked into releases/BUILD and current pointing at
// it, with its migrations recorded as applied. Tests whose subject is a
// later deploy start from it, which saves a deploy over SSH each.
func (f *fleetFixture) seed(build string) {
	f.t.Helper()
	art := filepath.Join(f.arts, "web-"+build+".tar.gz")
	for i := range f.fleet.Hosts {
		rel := filepath.Join(f.root(i), "releases", build)
		if err := os.MkdirAll(rel, 0o755); err != nil {
			f.t.Fatal(err)
		}
		if out, err := exec.Command("tar", "-xzf", art, "-C", rel).CombinedOutput(); err != nil {
			f.t.Fatalf("unpack %s: %v: %s", art, err, out)
		}
		var applied strings.Builder
		ms, _ := filepath.Glob(filepath.Join(rel, "migrations", "*"))
		for _, m := range ms {
			applied.WriteString(filepath.Base(m) + "\n")
		}
		if err := os.MkdirAll(filepath.Join(f.root(i), "shared"), 0o755); err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.root(i), "shared", "applied"), []byte(applied.String()), 0o644); err != nil {
			f.t.Fatal(err)
		}
		if err := os.Symlink("releases/"+build, filepath.Join(f.root(i), "current")); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fleetFixture) sink(ev deploy.Event) {
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.mu.Unlock()
}

// start starts a deploy (or a rollback) and returns its first record and a
// channel that receives its final one.
func (f *fleetFixture) start(kind deploy.Kind, build string) (*deploy.Record, <-chan *deploy.Record, error) {
	f.t.Helper()
	done := make(chan *deploy.Record, 1)
	sink := func(ev deploy.Event) {
		f.sink(ev)
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	}
	req := deploy.Request{App: "web", Env: "prod", Build: build, Requester: "ana"}
	var rec *deploy.Record
	var err error
	if kind == deploy.KindRollback {
		rec, err = f.engine.Rollback(context.Background(), req, sink)
	} else {
		rec, err = f.engine.Deploy(context.Background(), req, sink)
	}
	return rec, done, err
}

// wait returns the final record from done.
func (f *fleetFixture) wait(done <-chan *deploy.Record) *deploy.Record {
	f.t.Helper()
	select {
	case rec := <-done:
		return rec
	case <-time.After(fleetWait):
		f.t.Fatalf("the deploy did not finish within %s", fleetWait)
		return nil
	}
}

// run starts a deploy (or rollback) and waits for its final record.
func (f *fleetFixture) run(kind deploy.Kind, build string) (*deploy.Record, error) {
	f.t.Helper()
	_, done, err := f.start(kind, build)
	if err != nil {
		return nil, err
	}
	return f.wait(done), nil
}

func (f *fleetFixture) mustRun(kind deploy.Kind, build string, want deploy.Outcome) *deploy.Record {
	f.t.Helper()
	rec, err := f.run(kind, build)
	if err != nil {
		f.t.Fatalf("%s %s: %v", kind, build, err)
	}
	if rec.Outcome != want {
		f.t.Fatalf("%s %s: got outcome %s (%s), want %s; hosts %+v", kind, build, rec.Outcome, rec.Error, want, rec.Hosts)
	}
	return rec
}

// await polls the events of deploy id until one matches.
func (f *fleetFixture) await(id, what string, match func(deploy.Event) bool) deploy.Event {
	f.t.Helper()
	deadline := time.Now().Add(fleetWait)
	for {
		f.mu.Lock()
		for _, ev := range f.events {
			if ev.DeployID == id && match(ev) {
				f.mu.Unlock()
				return ev
			}
		}
		f.mu.Unlock()
		if time.Now().After(deadline) {
			f.t.Fatalf("deploy %s: no %s within %s", id, what, fleetWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stepStarted matches the start of step on host.
func stepStarted(host string, step deploy.Step) func(deploy.Event) bool {
	return func(ev deploy.Event) bool {
		return ev.Kind == deploy.EventStep && ev.Host == host && ev.Step == step && !ev.Done
	}
}

// stepsOf returns the steps deploy id ran on host, in order, each once.
func (f *fleetFixture) stepsOf(id, host string) []deploy.Step {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []deploy.Step
	for _, ev := range f.events {
		if ev.DeployID == id && ev.Kind == deploy.EventStep && ev.Host == host && !ev.Done {
			out = append(out, ev.Step)
		}
	}
	return out
}

// notes returns the notes of deploy id.
func (f *fleetFixture) notes(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, ev := range f.events {
		if ev.DeployID == id && ev.Kind == deploy.EventNote {
			out = append(out, ev.Text)
		}
	}
	return out
}

func (f *fleetFixture) sawNote(id, substr string) bool {
	for _, n := range f.notes(id) {
		if strings.Contains(n, substr) {
			return true
		}
	}
	return false
}

// root is host i's /srv/web seen from outside its namespace.
func (f *fleetFixture) root(i int) string { return filepath.Join(f.fleet.Hosts[i].Root, "web") }

// link returns where host i's link name (current, previous) points, or "".
func (f *fleetFixture) link(i int, name string) string {
	target, err := os.Readlink(filepath.Join(f.root(i), name))
	if err != nil {
		return ""
	}
	return target
}

func (f *fleetFixture) exists(i int, rel string) bool {
	_, err := os.Lstat(filepath.Join(f.root(i), rel))
	return err == nil
}

func (f *fleetFixture) read(i int, rel string) string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root(i), rel))
	if err != nil {
		f.t.Fatalf("%s: read %s: %v", f.fleet.Hosts[i].Name, rel, err)
	}
	return string(b)
}

// entries lists host i's releases directory, hidden entries included.
func (f *fleetFixture) entries(i int) []string {
	ents, err := os.ReadDir(filepath.Join(f.root(i), "releases"))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// checkLinks checks host i's current and previous links ("" for none).
func (f *fleetFixture) checkLinks(i int, current, previous string) {
	f.t.Helper()
	name := f.fleet.Hosts[i].Name
	want := func(b string) string {
		if b == "" {
			return ""
		}
		return "releases/" + b
	}
	if got := f.link(i, "current"); got != want(current) {
		f.t.Errorf("%s: current -> %q, want %q", name, got, want(current))
	}
	if got := f.link(i, "previous"); got != want(previous) {
		f.t.Errorf("%s: previous -> %q, want %q", name, got, want(previous))
	}
}

// checkRelease checks that releases/BUILD on host i is complete: its
// files, the shared config seeded from the first release, and no
// temporary directory or download left next to it.
func (f *fleetFixture) checkRelease(i int, build string) {
	f.t.Helper()
	name := f.fleet.Hosts[i].Name
	if got := strings.TrimSpace(f.read(i, "releases/"+build+"/BUILD")); got != build {
		f.t.Errorf("%s: releases/%s/BUILD = %q, want %q", name, build, got, build)
	}
	if !f.exists(i, "releases/"+build+"/config/app.conf") {
		f.t.Errorf("%s: releases/%s lacks config/app.conf", name, build)
	}
	f.checkNoPartial(i)
}

// checkNoPartial checks that host i holds no partial release or download.
func (f *fleetFixture) checkNoPartial(i int) {
	f.t.Helper()
	for _, e := range f.entries(i) {
		if strings.HasPrefix(e, ".tmp-") {
			f.t.Errorf("%s: partial release or download left: releases/%s", f.fleet.Hosts[i].Name, e)
		}
	}
}

func hostResult(t *testing.T, rec *deploy.Record, host string) deploy.HostResult {
	t.Helper()
	h := rec.Host(host)
	if h == nil {
		t.Fatalf("record %s has no host %s: %+v", rec.ID, host, rec.Hosts)
	}
	return *h
}

// checkHost checks the record's result for host.
func checkHost(t *testing.T, rec *deploy.Record, host string, state deploy.HostState, current string) {
	t.Helper()
	h := hostResult(t, rec, host)
	if h.State != state || h.Current != current {
		t.Errorf("record %s, %s: got state %s current %q (error %q), want %s current %q", rec.Kind, host, h.State, h.Current, h.Error, state, current)
	}
}

// records returns every record in the fixture's store.
func (f *fleetFixture) records() []*deploy.Record {
	f.t.Helper()
	recs, err := f.store.Records(context.Background(), deploy.Filter{})
	if err != nil {
		f.t.Fatal(err)
	}
	return recs
}

func TestFleetPushDeployAndRollback(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	f := newFleetFixture(t, fleet, fleetSpec{}, nil)
	f.build("1")
	f.build("2")

	t0 := time.Now()
	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	t1 := time.Now()
	for i, h := range fleet.Hosts {
		f.checkLinks(i, "1", "")
		f.checkRelease(i, "1")
		checkHost(t, rec, h.Name, deploy.HostActive, "1")
	}

	rec = f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	t2 := time.Now()
	if rec.Previous != "1" {
		t.Errorf("deploy 2: got previous %q, want 1", rec.Previous)
	}
	for i, h := range fleet.Hosts {
		f.checkLinks(i, "2", "1")
		f.checkRelease(i, "1")
		f.checkRelease(i, "2")
		checkHost(t, rec, h.Name, deploy.HostActive, "2")
		if hr := hostResult(t, rec, h.Name); hr.Previous != "1" {
			t.Errorf("deploy 2, %s: got previous %q, want 1", h.Name, hr.Previous)
		}
		// Every host ran the same steps, in the same order.
		want := []deploy.Step{deploy.StepDeliver, deploy.StepActivate, deploy.StepRestart, deploy.StepHealth}
		if got := f.stepsOf(rec.ID, h.Name); !slices.Equal(got, want) {
			t.Errorf("deploy 2, %s: got steps %v, want %v", h.Name, got, want)
		}
	}

	rec = f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	t3 := time.Now()
	if rec.Build != "1" || rec.Previous != "2" {
		t.Errorf("rollback: got build %s from %s, want 1 from 2", rec.Build, rec.Previous)
	}
	for i, h := range fleet.Hosts {
		f.checkLinks(i, "1", "2")
		f.checkRelease(i, "2")
		checkHost(t, rec, h.Name, deploy.HostActive, "1")
		if !f.exists(i, "releases/.bad-2") {
			t.Errorf("%s: release 2 is not marked bad after the rollback", h.Name)
		}
	}
	// The stored record is the final one.
	stored, err := f.store.Record(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Outcome != deploy.OutcomeSucceeded || !slices.Equal(stored.Hosts, rec.Hosts) {
		t.Errorf("stored rollback record: got %s %+v, want %s %+v", stored.Outcome, stored.Hosts, rec.Outcome, rec.Hosts)
	}
	// keep_warm (default 10m): the second deploy and the rollback reused
	// the first deploy's connection to each host.
	for i, h := range fleet.Hosts {
		if n := strings.Count(fleet.Log(i), "Accepted publickey"); n != 1 {
			t.Errorf("%s: sshd accepted %d logins over two deploys and a rollback, want 1", h.Name, n)
		}
	}
	t.Logf("3 hosts over SSH: first deploy %s, second deploy %s, rollback %s",
		t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond), t3.Sub(t2).Round(time.Millisecond))
}

// artifactServer serves a fixture's artifact directory over HTTP on
// 127.0.0.1 and counts the GETs of each file by client: "bot" (Go) or
// "host" (curl or wget on a host).
type artifactServer struct {
	*httptest.Server
	dir string
	// released is closed when the test ends, ending stalled transfers.
	released chan struct{}

	mu   sync.Mutex
	gets map[string]int // "host web-2.tar.gz" → count
	// corrupt, when set, may change the body of a GET before it is sent,
	// its length too.
	corrupt func(client, file string, body []byte) []byte
	// stall, when set, is asked for each GET; a GET it accepts gets half
	// of the body, then nothing until its client goes away.
	stall func(client, file string) bool
}

func newArtifactServer(t *testing.T, dir string) *artifactServer {
	t.Helper()
	s := &artifactServer{dir: dir, gets: map[string]int{}, released: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	// Runs before Close, which waits for every request to end.
	t.Cleanup(func() { close(s.released) })
	return s
}

func (s *artifactServer) serve(w http.ResponseWriter, r *http.Request) {
	file := filepath.Base(r.URL.Path)
	client := "bot"
	if ua := r.UserAgent(); strings.HasPrefix(ua, "curl/") || strings.HasPrefix(ua, "Wget/") {
		client = "host"
	}
	body, err := os.ReadFile(filepath.Join(s.dir, file))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		return
	}
	s.mu.Lock()
	s.gets[client+" "+file]++
	corrupt, stall := s.corrupt, s.stall
	s.mu.Unlock()
	if corrupt != nil {
		body = corrupt(client, file, body)
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	if stall != nil && stall(client, file) {
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-s.released:
		}
		return
	}
	w.Write(body)
}

// count returns the GETs of file by client so far.
func (s *artifactServer) count(client, file string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[client+" "+file]
}

// artifactURL is the artifact URL template of a fixture served by s.
func (s *artifactServer) artifactURL() string { return s.URL + "/{app}-{build}.tar.gz" }

// servedFixture is a fixture whose artifacts an artifactServer serves; its
// delivery is pull unless spec says push (the bot then streams from the
// server to the hosts).
func servedFixture(t *testing.T, fleet *sshd.Fleet, spec fleetSpec) (*fleetFixture, *artifactServer) {
	t.Helper()
	// The server needs the fixture's directory and the fixture the
	// server's URL: start the server on a directory made first.
	dir := t.TempDir()
	s := newArtifactServer(t, dir)
	spec.delivery, spec.url = orDefault(spec.delivery, "pull"), s.artifactURL()
	f := newFleetFixture(t, fleet, spec, nil)
	f.arts = dir
	return f, s
}

func TestFleetPullDelivery(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	f, srv := servedFixture(t, fleet, fleetSpec{env: []string{"batch_size: 3"}})
	f.build("1")
	f.build("2")
	f.seed("1")

	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	for i, h := range fleet.Hosts {
		f.checkLinks(i, "2", "1")
		f.checkRelease(i, "2")
		checkHost(t, rec, h.Name, deploy.HostActive, "2")
	}
	// The bot read the artifact once to check it; every host downloaded
	// it once.
	if bot, hosts := srv.count("bot", "web-2.tar.gz"), srv.count("host", "web-2.tar.gz"); bot != 1 || hosts != 3 {
		t.Errorf("GETs of web-2.tar.gz: got %d by the bot and %d by hosts, want 1 and 3", bot, hosts)
	}

	f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	for i := range fleet.Hosts {
		f.checkLinks(i, "1", "2")
	}

	// Release 2 is still on every host: deploying it again downloads
	// nothing.
	rec = f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	if bot, hosts := srv.count("bot", "web-2.tar.gz"), srv.count("host", "web-2.tar.gz"); bot != 1 || hosts != 3 {
		t.Errorf("GETs of web-2.tar.gz after the redeploy: got %d by the bot and %d by hosts, want still 1 and 3", bot, hosts)
	}
	for i, h := range fleet.Hosts {
		f.checkLinks(i, "2", "1")
		f.checkRelease(i, "2")
		if f.exists(i, "releases/.bad-2") {
			t.Errorf("%s: release 2 still marked bad after it was deployed again", h.Name)
		}
		if !f.sawNote(rec.ID, h.Name+" already has release 2; skipping the download") {
			t.Errorf("%s: no note that the download was skipped; notes %q", h.Name, f.notes(rec.ID))
		}
		if got := f.stepsOf(rec.ID, h.Name); slices.Contains(got, deploy.StepDeliver) {
			t.Errorf("%s: redeploy ran steps %v, want no delivery", h.Name, got)
		}
	}
}

// thirdHostDown starts three hosts and two fixtures of builds 1 and 2 on
// them, strict (max_failures 0, every host on 1) and lenient
// (max_failures 1), and stops the third host.
func thirdHostDown(t *testing.T) (fleet *sshd.Fleet, strict, lenient *fleetFixture) {
	t.Helper()
	fleet = startFleet(t, 3)
	strict = newFleetFixture(t, fleet, fleetSpec{}, nil)
	lenient = newFleetFixture(t, fleet, fleetSpec{env: []string{"max_failures: 1"}}, nil)
	for _, f := range []*fleetFixture{strict, lenient} {
		f.build("1")
		f.build("2")
	}
	strict.seed("1")
	fleet.Stop(2)
	return fleet, strict, lenient
}

func TestFleetHostUnreachableAtStart(t *testing.T) {
	t.Parallel()
	fleet, strict, lenient := thirdHostDown(t)

	t.Run("max_failures 0 refuses", func(t *testing.T) {
		before := len(strict.records())
		_, err := strict.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", Requester: "ana"}, nil)
		if got := errs.CodeOf(err); got != errs.Unavailable {
			t.Fatalf("got %v (%s), want an unavailable refusal", err, got)
		}
		msg := errs.Message(err)
		for _, want := range []string{"cannot reach 1 of 3 hosts", "host2", "nothing was changed"} {
			if !strings.Contains(msg, want) {
				t.Errorf("refusal %q does not say %q", msg, want)
			}
		}
		if !errors.Is(err, deploy.ErrUnreachable) {
			t.Errorf("refusal %v does not wrap ErrUnreachable", err)
		}
		if after := len(strict.records()); after != before {
			t.Errorf("got %d records after the refusal, want %d: a refused deploy is not recorded", after, before)
		}
		for i := range fleet.Hosts {
			strict.checkLinks(i, "1", "")
			if strict.exists(i, "releases/2") {
				t.Errorf("%s: releases/2 exists after a refused deploy", fleet.Hosts[i].Name)
			}
		}
	})

	t.Run("max_failures 1 goes on", func(t *testing.T) {
		rec := lenient.mustRun(deploy.KindDeploy, "2", deploy.OutcomePartial)
		for i, h := range fleet.Hosts[:2] {
			lenient.checkLinks(i, "2", "1")
			lenient.checkRelease(i, "2")
			checkHost(t, rec, h.Name, deploy.HostActive, "2")
		}
		h2 := hostResult(t, rec, "host2")
		if h2.State != deploy.HostUnreachable || !strings.Contains(h2.Error, "unreachable") {
			t.Errorf("host2: got state %s error %q, want unreachable", h2.State, h2.Error)
		}
		lenient.checkLinks(2, "1", "")
		if lenient.exists(2, "releases/2") {
			t.Error("host2: releases/2 exists, but the host was down")
		}
		if !strings.Contains(rec.Error, "1 of 3 hosts failed") {
			t.Errorf("record error %q does not count the failed host", rec.Error)
		}
		if !lenient.sawNote(rec.ID, "unreachable and left out (max_failures allows 1): ssh: host2 (") {
			t.Errorf("no note about host2; notes %q", lenient.notes(rec.ID))
		}
	})

	// Rolling back is most needed while part of the fleet is down.
	t.Run("max_failures 1 rolls back the others", func(t *testing.T) {
		rec := lenient.mustRun(deploy.KindRollback, "", deploy.OutcomePartial)
		if rec.Build != "1" || rec.Previous != "2" {
			t.Errorf("rollback: got build %s from %s, want 1 from 2", rec.Build, rec.Previous)
		}
		for i, h := range fleet.Hosts[:2] {
			lenient.checkLinks(i, "1", "2")
			checkHost(t, rec, h.Name, deploy.HostActive, "1")
		}
		if h2 := hostResult(t, rec, "host2"); h2.State != deploy.HostUnreachable {
			t.Errorf("host2: got state %s error %q, want unreachable", h2.State, h2.Error)
		}
		if !strings.Contains(rec.Error, "host2 could not be reached") || !strings.Contains(rec.Error, "roll them back once they are up") {
			t.Errorf("record error %q does not say host2 could not be reached, to roll it back once up", rec.Error)
		}
		lenient.checkLinks(2, "1", "")
	})
}

func TestFleetHostLostMidDeploy(t *testing.T) {
	t.Parallel()
	// The restart of build 2 on host1 waits for a gate file that never
	// comes, holding the deploy there while the host goes away.
	restart := `if [ "$SWITCHMAN_HOST" = host1 ] && [ "$SWITCHMAN_BUILD" = 2 ]; then while [ ! -e /srv/gate ]; do sleep 0.05; done; fi`
	tests := []struct {
		name string
		lose func(f *sshd.Fleet, i int)
		back func(f *sshd.Fleet, i int)
		want string // in host1's error
	}{
		{"killed", (*sshd.Fleet).Kill, (*sshd.Fleet).Start, "connection lost"},
		// A host that hangs keeps its TCP connection open: only the
		// keepalives (500 ms, three missed) tell it is gone.
		{"hung", (*sshd.Fleet).Pause, (*sshd.Fleet).Resume, "stopped answering"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 3)
			f := newFleetFixture(t, fleet, fleetSpec{restart: restart, stepTimeout: "10s", keepalive: "500ms"}, nil)
			f.build("1")
			f.build("2")
			f.seed("1")

			rec, done, err := f.start(deploy.KindDeploy, "2")
			if err != nil {
				t.Fatal(err)
			}
			f.await(rec.ID, "restart on host1", stepStarted("host1", deploy.StepRestart))
			lost := time.Now()
			tt.lose(fleet, 1)
			failed := f.await(rec.ID, "end of the restart on host1", func(ev deploy.Event) bool {
				return ev.Kind == deploy.EventStep && ev.Host == "host1" && ev.Step == deploy.StepRestart && ev.Done
			})
			rec = f.wait(done)
			t.Logf("host1 %s during its restart: its step failed %s later, the deploy ended %s later: %s", tt.name,
				failed.Time.Sub(lost).Round(time.Millisecond), time.Since(lost).Round(time.Millisecond), rec.Error)
			// The SSH connection, not the 10 s step timeout, tells the
			// host is gone: at once when it dies, by keepalives when it
			// hangs. The step's error says which, at any pace.
			if !strings.Contains(failed.Err, tt.want) || strings.Contains(failed.Err, "timed out") {
				t.Errorf("host1's restart failed with %q, want %q from the SSH connection, not the step timeout", failed.Err, tt.want)
			}

			if rec.Outcome != deploy.OutcomeReverted {
				t.Fatalf("got outcome %s (%s), want reverted", rec.Outcome, rec.Error)
			}
			for _, want := range []string{"host1", "switched back to 1 on host0", "could NOT switch back host1"} {
				if !strings.Contains(rec.Error, want) {
					t.Errorf("record error %q does not say %q", rec.Error, want)
				}
			}
			checkHost(t, rec, "host0", deploy.HostReverted, "1")
			checkHost(t, rec, "host2", deploy.HostUnchanged, "1")
			h1 := hostResult(t, rec, "host1")
			if h1.State != deploy.HostFailed || !strings.Contains(h1.Error, tt.want) || !strings.Contains(h1.Error, "switch back") {
				t.Errorf("host1: got state %s error %q, want failed, %q and the failed switch back", h1.State, h1.Error, tt.want)
			}
			// The failed step names host1 once, with the address the
			// SSH error gave, which whoever has to reach it needs.
			if at := "restart on host1 (" + fleet.Hosts[1].Addr + "): "; !strings.HasPrefix(h1.Error, at) || !strings.HasPrefix(failed.Err, at) {
				t.Errorf("host1: got error %q, step %q; want both to start %q", h1.Error, failed.Err, at)
			}
			// Switched back as it was: no previous, as on host2.
			f.checkLinks(0, "1", "")
			f.checkLinks(2, "1", "")
			if got := f.stepsOf(rec.ID, "host2"); slices.Contains(got, deploy.StepActivate) {
				t.Errorf("host2 ran %v, want it never switched", got)
			}
			// host1 switched before it went away and could not be switched
			// back: its disk says so, and deploying 1 again repairs it.
			f.checkLinks(1, "2", "1")
			tt.back(fleet, 1)
			rec = f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			checkHost(t, rec, "host1", deploy.HostActive, "1")
			checkHost(t, rec, "host0", deploy.HostUnchanged, "1")
			for i := range fleet.Hosts {
				if got := f.link(i, "current"); got != "releases/1" {
					t.Errorf("%s after the repair: current -> %q, want releases/1", fleet.Hosts[i].Name, got)
				}
			}
		})
	}
}

func TestFleetFailedHealthCheckRevertsEveryHost(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, healthTime: "8s"}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")
	if err := os.WriteFile(filepath.Join(fleet.Hosts[1].Root, "sick-2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeReverted)
	for _, want := range []string{"health", "host1", "marked bad", "switched back to 1 on host0, host1"} {
		if !strings.Contains(rec.Error, want) {
			t.Errorf("record error %q does not say %q", rec.Error, want)
		}
	}
	checkHost(t, rec, "host0", deploy.HostReverted, "1")
	checkHost(t, rec, "host1", deploy.HostReverted, "1")
	checkHost(t, rec, "host2", deploy.HostUnchanged, "1")
	if h1 := hostResult(t, rec, "host1"); !strings.Contains(h1.Error, "not healthy") {
		t.Errorf("host1 error %q does not say it was not healthy", h1.Error)
	}
	for i, h := range fleet.Hosts {
		if got := f.link(i, "current"); got != "releases/1" {
			t.Errorf("%s: current -> %q, want releases/1", h.Name, got)
		}
		if !f.exists(i, "releases/.bad-2") {
			t.Errorf("%s: release 2 is not marked bad", h.Name)
		}
		f.checkNoPartial(i)
	}
	if got := f.stepsOf(rec.ID, "host2"); slices.Contains(got, deploy.StepActivate) {
		t.Errorf("host2 ran %v, want it never switched", got)
	}
	// The reverted hosts ran their restart and health check on 1 again.
	for _, h := range []string{"host0", "host1"} {
		if got := f.stepsOf(rec.ID, h); !slices.Contains(got, deploy.StepRevert) {
			t.Errorf("%s ran %v, want a revert", h, got)
		}
	}
}

func TestFleetChangedHostKeyIsRefused(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	f := newFleetFixture(t, fleet, fleetSpec{}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")
	before := len(f.records())

	fleet.RegenerateHostKey(1)
	pub, err := os.ReadFile(fleet.Hosts[1].HostKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _, _, _, err := xssh.ParseAuthorizedKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	fingerprint := xssh.FingerprintSHA256(key)

	_, err = f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", Requester: "ana"}, nil)
	if err == nil {
		t.Fatal("deploy to a host with a changed key started, want it refused")
	}
	msg := errs.Message(err)
	t.Logf("refused: %s", msg)
	for _, want := range []string{"cannot use 1 of 3 hosts", "host1", "host key changed", fingerprint, "nothing was changed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not say %q", msg, want)
		}
	}
	var hk *ssh.HostKeyError
	if !errors.As(err, &hk) || hk.Host != "host1" || !hk.Changed {
		t.Errorf("refusal %v: want a changed *ssh.HostKeyError for host1 in its chain", err)
	}
	if after := len(f.records()); after != before {
		t.Errorf("got %d records, want %d: nothing was started", after, before)
	}
	for i, h := range fleet.Hosts {
		f.checkLinks(i, "1", "")
		if f.exists(i, "releases/2") {
			t.Errorf("%s: releases/2 exists after a refused deploy", h.Name)
		}
	}

	// What /status shows of it: refused, not down.
	observed, err := f.engine.Observe(context.Background(), "web", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if h1 := observed[1]; h1.Host != "host1" || h1.State != deploy.HostFailed || !strings.Contains(h1.Error, "host key changed") {
		t.Errorf("observe: got %+v for host1, want it failed, saying the host key changed", h1)
	}

	// Within max_failures the others go on, and the note says the host
	// was refused: it answered, it is not down.
	lenient := newFleetFixture(t, fleet, fleetSpec{env: []string{"max_failures: 1"}}, nil)
	lenient.build("2")
	rec := lenient.mustRun(deploy.KindDeploy, "2", deploy.OutcomePartial)
	if !lenient.sawNote(rec.ID, "refused and left out (max_failures allows 1): ssh: host1 (") || lenient.sawNote(rec.ID, "unreachable and left out") {
		t.Errorf("notes %q: want host1 refused, not unreachable", lenient.notes(rec.ID))
	}
	if h1 := hostResult(t, rec, "host1"); h1.State != deploy.HostFailed || !strings.Contains(h1.Error, "host key changed") {
		t.Errorf("host1: got state %s error %q, want failed, saying the host key changed", h1.State, h1.Error)
	}
	for i := range fleet.Hosts {
		if i != 1 {
			lenient.checkLinks(i, "2", "1")
		}
	}

	// A rollback leaves it out the same way, and says why.
	rec = lenient.mustRun(deploy.KindRollback, "", deploy.OutcomePartial)
	if h1 := hostResult(t, rec, "host1"); h1.State != deploy.HostFailed {
		t.Errorf("rollback, host1: got state %s, want failed", h1.State)
	}
	if !strings.Contains(rec.Error, "refused: ssh: host1 (") || !strings.Contains(rec.Error, "host key changed") || strings.Contains(rec.Error, "could not be reached") || !strings.Contains(rec.Error, "once they are fixed") {
		t.Errorf("rollback error %q: want host1 refused for its changed key, not unreachable", rec.Error)
	}
	f.checkLinks(0, "1", "2")
	f.checkLinks(1, "1", "") // as seeded: never touched
	f.checkLinks(2, "1", "2")
}

func TestFleetSlowHostTimesOut(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	// host1's restart of build 2 outlasts the 8 s step timeout; it writes
	// its shell's pid first, so the test can tell it was killed.
	restart := `if [ "$SWITCHMAN_HOST" = host1 ] && [ "$SWITCHMAN_BUILD" = 2 ]; then echo $$ > /srv/slow.pid; sleep 60; fi`
	f := newFleetFixture(t, fleet, fleetSpec{restart: restart, stepTimeout: "8s"}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")

	start := time.Now()
	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeReverted)
	t.Logf("deploy with a slow host ended in %s: %s", time.Since(start).Round(time.Millisecond), rec.Error)
	h1 := hostResult(t, rec, "host1")
	if !strings.Contains(h1.Error, "restart on host1") || !strings.Contains(h1.Error, "timed out after 8s") {
		t.Errorf("host1 error %q, want its restart timed out after 8s", h1.Error)
	}
	checkHost(t, rec, "host0", deploy.HostReverted, "1")
	checkHost(t, rec, "host1", deploy.HostReverted, "1")
	checkHost(t, rec, "host2", deploy.HostUnchanged, "1")
	for i := range fleet.Hosts {
		if got := f.link(i, "current"); got != "releases/1" {
			t.Errorf("%s: current -> %q, want releases/1", fleet.Hosts[i].Name, got)
		}
	}
	// The timed-out restart was killed, not left running on the host.
	b, err := os.ReadFile(filepath.Join(fleet.Hosts[1].Root, "slow.pid"))
	if err != nil {
		t.Fatalf("the slow restart did not run: %v", err)
	}
	var pid int
	if _, err := fmt.Sscanf(string(b), "%d", &pid); err != nil || pid <= 1 {
		t.Fatalf("slow.pid holds %q", b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the timed-out restart (pid %d) still runs on host1", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFleetPullChecksumMismatchOnOneHost(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	f, srv := servedFixture(t, fleet, fleetSpec{})
	f.build("1")
	f.build("2")
	f.seed("1")

	// The first download of build 2 by a host gets one byte changed: the
	// length is right, the content is not.
	var once sync.Once
	srv.mu.Lock()
	srv.corrupt = func(client, file string, body []byte) []byte {
		if client != "host" || file != "web-2.tar.gz" {
			return body
		}
		once.Do(func() {
			body = slices.Clone(body)
			body[len(body)/2] ^= 0xff
		})
		return body
	}
	srv.mu.Unlock()

	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeFailed)
	if !strings.Contains(rec.Error, "delivery failed on 1 of 3 hosts") || !strings.Contains(rec.Error, "nothing was switched") {
		t.Errorf("record error %q, want a delivery failure on one host with nothing switched", rec.Error)
	}
	bad := -1
	for i, h := range fleet.Hosts {
		hr := hostResult(t, rec, h.Name)
		if hr.State == deploy.HostFailed {
			if bad >= 0 {
				t.Errorf("%s failed too, want exactly one host to fail", h.Name)
			}
			bad = i
			if !strings.Contains(hr.Error, "checksum mismatch") {
				t.Errorf("%s: error %q, want a checksum mismatch", h.Name, hr.Error)
			}
			continue
		}
		if hr.State != deploy.HostUnchanged || hr.Current != "1" {
			t.Errorf("%s: got state %s current %q, want unchanged on 1", h.Name, hr.State, hr.Current)
		}
	}
	if bad < 0 {
		t.Fatalf("no host failed; hosts %+v", rec.Hosts)
	}
	for i, h := range fleet.Hosts {
		f.checkLinks(i, "1", "")
		f.checkNoPartial(i)
		if got := f.stepsOf(rec.ID, h.Name); slices.Contains(got, deploy.StepActivate) {
			t.Errorf("%s ran %v, want nothing switched", h.Name, got)
		}
	}
	if f.exists(bad, "releases/2") {
		t.Errorf("%s: releases/2 exists from a download that failed its checksum", fleet.Hosts[bad].Name)
	}
}

// TestFleetPullOversizedDownload: a host whose download is far longer
// than the artifact the bot checked (a wrong or hostile URL) stops it
// soon past the artifact's length, and fails saying so, naming the sizes;
// the others deliver, nothing is switched, nothing is left behind.
func TestFleetPullOversizedDownload(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	f, srv := servedFixture(t, fleet, fleetSpec{})
	f.build("1")
	f.build("2")
	f.seed("1")
	art, err := os.ReadFile(filepath.Join(f.arts, "web-2.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}

	// The first download of build 2 by a host gets the artifact and
	// 64 MiB more.
	var once sync.Once
	srv.mu.Lock()
	srv.corrupt = func(client, file string, body []byte) []byte {
		if client != "host" || file != "web-2.tar.gz" {
			return body
		}
		once.Do(func() { body = append(slices.Clone(body), make([]byte, 64<<20)...) })
		return body
	}
	srv.mu.Unlock()

	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeFailed)
	if !strings.Contains(rec.Error, "delivery failed on 1 of 3 hosts") || !strings.Contains(rec.Error, "nothing was switched") {
		t.Errorf("record error %q, want a delivery failure on one host with nothing switched", rec.Error)
	}
	failed := 0
	for i, h := range fleet.Hosts {
		f.checkLinks(i, "1", "")
		f.checkNoPartial(i)
		hr := hostResult(t, rec, h.Name)
		if hr.State != deploy.HostFailed {
			continue
		}
		failed++
		want := fmt.Sprintf("deliver on %s: exit status 1: the download is larger than the %d bytes of the build the bot verified (cut off at ", h.Name, len(art))
		if !strings.HasPrefix(hr.Error, want) {
			t.Errorf("%s: error %q, want it to start %q", h.Name, hr.Error, want)
		}
		if f.exists(i, "releases/2") {
			t.Errorf("%s: releases/2 exists from an oversized download", h.Name)
		}
	}
	if failed != 1 {
		t.Errorf("%d hosts failed, want 1; hosts %+v", failed, rec.Hosts)
	}
}

func TestFleetCanaryFailureStopsAtTheCanary(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, healthTime: "8s", env: []string{"canary: 1", "batch_size: 2"}}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")
	if err := os.WriteFile(filepath.Join(fleet.Hosts[0].Root, "sick-2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeReverted)
	if !strings.Contains(rec.Error, "the canary host0 failed") {
		t.Errorf("record error %q does not name the failed canary", rec.Error)
	}
	checkHost(t, rec, "host0", deploy.HostReverted, "1")
	if got := f.stepsOf(rec.ID, "host0"); !slices.Contains(got, deploy.StepActivate) || !slices.Contains(got, deploy.StepRevert) {
		t.Errorf("host0 ran %v, want it switched and switched back", got)
	}
	for _, h := range []string{"host1", "host2"} {
		checkHost(t, rec, h, deploy.HostUnchanged, "1")
		if got := f.stepsOf(rec.ID, h); slices.Contains(got, deploy.StepActivate) || slices.Contains(got, deploy.StepRestart) {
			t.Errorf("%s ran %v, want it never switched or restarted", h, got)
		}
	}
	for i := range fleet.Hosts {
		if got := f.link(i, "current"); got != "releases/1" {
			t.Errorf("%s: current -> %q, want releases/1", fleet.Hosts[i].Name, got)
		}
	}
}

func TestFleetObserveShowsDriftAndUnreachableHosts(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, healthTime: "8s", env: []string{"max_failures: 1"}}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")
	if err := os.WriteFile(filepath.Join(fleet.Hosts[1].Root, "sick-2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// host1 fails within max_failures: it alone goes back to 1.
	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomePartial)
	checkHost(t, rec, "host1", deploy.HostReverted, "1")

	ctx := context.Background()
	got, err := f.engine.Observe(ctx, "web", "prod")
	if err != nil {
		t.Fatal(err)
	}
	want := []deploy.HostResult{
		{Host: "host0", Current: "2", Previous: "1"},
		{Host: "host1", Current: "1", Previous: ""}, // switched back as it was
		{Host: "host2", Current: "2", Previous: "1"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("observe: got %+v, want %+v", got, want)
	}

	fleet.Stop(2)
	got, err = f.engine.Observe(ctx, "web", "prod")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("observe with host2 down: got %+v, want host0 and host1 as before", got)
	}
	if len(got) == 3 && (got[2].Host != "host2" || got[2].State != deploy.HostUnreachable || !strings.Contains(got[2].Error, "unreachable")) {
		t.Errorf("observe with host2 down: got %+v, want host2 unreachable", got[2])
	}

	// A dry run sees the same fleet.
	plan, err := f.engine.Plan(ctx, deploy.Request{App: "web", Env: "prod", Build: "2"})
	if err != nil {
		t.Fatal(err)
	}
	changes := make([]string, len(plan.Hosts))
	for i, hp := range plan.Hosts {
		changes[i] = hp.Host + ": " + hp.Change
	}
	for i, want := range []string{"host0: nothing (already current)", "host1: switch 1 → 2 (release already on disk)", "host2: unreachable"} {
		if i >= len(changes) || !strings.HasPrefix(changes[i], want) {
			t.Errorf("plan: got %q, want %q first", changes, want)
			break
		}
	}
}
