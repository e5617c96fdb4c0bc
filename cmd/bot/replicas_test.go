package main

// Several replicas: two real bot processes (this test binary run as the
// bot, see TestMain) serve Slack in HTTP mode, each on its own port, and
// share one real redis-server and one fake Slack Web API. The tests send
// them signed slash commands as Slack does, and kill, pause and starve
// them of Redis mid-deploy.
//
// The app is deployed with the local transport under a temp dir. Its
// restart waits for a gate file per build (gates/<build>), and marks that
// it started waiting (gates/<build>.waiting, kept) and that it still runs
// (gates/<build>.running, removed as it ends), so a test can hold a deploy
// in its activation for as long as it needs.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/deploy"
	redisstore "github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/procs"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

const (
	replicaSecret   = "replica-test-signing-secret"
	replicaLeaseTTL = 2 * time.Second
	commandChannel  = "CCMD"     // where people type commands
	deployChannel   = "CDEPLOYS" // web/prod's channel: progress and notices
	noticeWorking   = "working on it"
)

// slackUsers are the Slack users of the config, by id.
var slackUsers = map[string]string{"UBOB": "bob", "UCAROL": "carol"}

const replicaYAML = `bot:
  listen: %[1]s
  lease_ttl: 2s
store:
  redis:
    url: %[2]s
users:
  bob: {slack: UBOB}
  carol: {slack: UCAROL}
deployers: [bob, carol]
slack:
  signing_secret: ${SWITCHMAN_REPLICA_TEST_SECRET}
  bot_token: xoxb-test
  api_url: %[3]s
apps:
  web:
    artifact:
      path: %[4]s/{app}-{build}.tar.gz
    path: %[5]s
    keep_releases: 3
    restart: 'touch %[6]s/$SWITCHMAN_BUILD.waiting %[6]s/$SWITCHMAN_BUILD.running; i=0; while [ ! -e %[6]s/$SWITCHMAN_BUILD ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; rm -f %[6]s/$SWITCHMAN_BUILD.running; [ -e %[6]s/$SWITCHMAN_BUILD ]'
%[7]s    environments:
      prod:
        hosts: [localhost]
        channel: CDEPLOYS
%[8]s`

// Build 2 has a pending migration; with migrateAsk the deploy waits for
// a confirmation before running it.
const (
	migrationsYAML = `    migrations:
      list: 'test "$SWITCHMAN_BUILD" = 1 || echo 002_add_email'
      run: 'echo 002_add_email >> %s'
`
	migrateAskYAML = `        migrate: ask
        confirm_timeout: 1m
`
)

type clusterOptions struct {
	migrateAsk bool
}

// replicaCluster is one redis-server, one fake Slack and two bot replicas,
// a and b.
type replicaCluster struct {
	t     *testing.T
	dir   string
	gates string // gates/<build> lets build's restart finish
	app   string // the deploy directory
	redis *redisserver.Server
	slack *fakeSlackAPI
	store *redisstore.Store // the replicas' store, read directly
	a, b  *replica
	seq   atomic.Int64 // trigger ids
}

// replica is one bot process.
type replica struct {
	name   string
	addr   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

func (r *replica) base() string { return "http://" + r.addr }

func newReplicaCluster(t *testing.T, opt clusterOptions) *replicaCluster {
	t.Helper()
	begin := time.Now()
	dir := t.TempDir()
	c := &replicaCluster{t: t, dir: dir, gates: filepath.Join(dir, "gates"), app: filepath.Join(dir, "srv", "web")}
	arts := filepath.Join(dir, "artifacts")
	for _, d := range []string{c.gates, arts} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []string{"1", "2"} {
		artifacttest.Publish(t, filepath.Join(arts, "web-"+b+".tar.gz"), replicaTarball(t, b))
	}
	// Registered first, so it runs last: a restart still waiting in a
	// killed replica's script finishes rather than outlive the test. It
	// is waited for: once the temp dir is gone, it could not see its gate
	// and would loop on until its own limit.
	t.Cleanup(func() {
		for _, b := range []string{"1", "2"} {
			c.openGate(b)
		}
		c.poll("every held restart to end", 10*time.Second, func() bool {
			running, _ := filepath.Glob(filepath.Join(c.gates, "*.running"))
			return len(running) == 0
		})
	})
	// Redis keeps its data across a restart, as a production one must.
	c.redis = redisserver.StartWith(t, redisserver.Options{AppendOnly: true})
	c.slack = newFakeSlackAPI(t)
	store, err := redisstore.Open(context.Background(), redisstore.Options{URL: c.redis.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c.store = store

	var migrations, ask string
	if opt.migrateAsk {
		migrations = fmt.Sprintf(migrationsYAML, filepath.Join(dir, "migrated"))
		ask = migrateAskYAML
	}
	config := func(listen string) string {
		return fmt.Sprintf(replicaYAML, listen, c.redis.URL(), c.slack.apiURL(), arts, c.app, c.gates, migrations, ask)
	}
	c.a = c.startReplica("a", config)
	c.b = c.startReplica("b", config)
	for _, r := range []*replica{c.a, c.b} {
		c.waitHealth(r, http.StatusOK, 15*time.Second)
	}
	t.Logf("cluster up in %s: redis %s, replica a %s, replica b %s", time.Since(begin).Round(time.Millisecond), c.redis.Addr(), c.a.addr, c.b.addr)
	return c
}

// startReplica runs `bot -config FILE serve` as a child process; the test
// kills it by its PID when it ends.
func (c *replicaCluster) startReplica(name string, config func(listen string) string) *replica {
	t := c.t
	t.Helper()
	r := &replica{name: name, addr: replicaFreePort(t), log: filepath.Join(c.dir, "replica-"+name+".log"), exited: make(chan struct{})}
	cfg := filepath.Join(c.dir, "switchman-"+name+".yaml")
	if err := os.WriteFile(cfg, []byte(config(r.addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(os.Args[0], "-config", cfg, "serve")
	r.cmd.Env = append(os.Environ(), "SWITCHMAN_TEST_MAIN=1", "SWITCHMAN_REPLICA_TEST_SECRET="+replicaSecret)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	// Its own process group: a signal meant for the test run does not
	// reach it, and the test's signals reach only it.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	go func() {
		r.cmd.Wait() // a killed replica's exit status says nothing
		logf.Close()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.kill()
		if t.Failed() {
			b, _ := os.ReadFile(r.log)
			t.Logf("log of replica %s:\n%s", r.name, b)
		}
	})
	return r
}

// kill kills the replica with SIGKILL, by its PID, and reaps it.
func (r *replica) kill() {
	select {
	case <-r.exited:
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGKILL) // works on a stopped process too
	<-r.exited
}

func (r *replica) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to replica %s: %v", sig, r.name, err)
	}
}

// openGate lets the restart of build finish.
func (c *replicaCluster) openGate(build string) {
	if err := os.WriteFile(filepath.Join(c.gates, build), nil, 0o644); err != nil {
		c.t.Error(err)
	}
}

// waitRestarting polls until the restart of build waits at its gate.
func (c *replicaCluster) waitRestarting(build string, timeout time.Duration) {
	c.t.Helper()
	c.poll("the restart of build "+build+" to start", timeout, func() bool {
		_, err := os.Stat(filepath.Join(c.gates, build+".waiting"))
		return err == nil
	})
}

// poll calls ok until it holds, or fails the test after timeout.
func (c *replicaCluster) poll(what string, timeout time.Duration, ok func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s; Slack calls:\n%s", timeout, what, describeCalls(c.slack.snapshot()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// health returns the status code of r's /healthz, 0 if it did not answer.
func (c *replicaCluster) health(r *replica) int {
	code, _ := c.healthz(r)
	return code
}

// healthz returns the status code and body of r's /healthz, 0 and "" if
// it did not answer.
func (c *replicaCluster) healthz(r *replica) (int, string) {
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(r.base() + "/healthz")
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, ""
	}
	return resp.StatusCode, string(b)
}

// waitHealth polls until r's /healthz answers code; a 200 counts once the
// start-up recovery is done. /healthz answers 200 "recovering" while it
// runs, and a test that breaks the store then (stops Redis) had it fail
// the recovery, which stops the replica.
func (c *replicaCluster) waitHealth(r *replica, code int, timeout time.Duration) {
	c.t.Helper()
	c.poll(fmt.Sprintf("replica %s /healthz to answer %d", r.name, code), timeout, func() bool {
		select {
		case <-r.exited:
			b, _ := os.ReadFile(r.log)
			c.t.Fatalf("replica %s exited:\n%s", r.name, b)
		default:
		}
		got, body := c.healthz(r)
		return got == code && (code != http.StatusOK || !strings.Contains(body, `"status":"recovering"`))
	})
}

// slashForm is a slash command's body, with the fields Slack sends, in
// its order and encoding.
func (c *replicaCluster) slashForm(userID, command, text string) (body, trigger string) {
	n := c.seq.Add(1)
	trigger = fmt.Sprintf("%d.%d.%032x", 13345224609+n, time.Now().UnixNano()%1e9, n)
	fields := [][2]string{
		{"token", "gIkuvaNzQIHg97ATvDxqgjtO"},
		{"team_id", "T0001"},
		{"team_domain", "example"},
		{"channel_id", commandChannel},
		{"channel_name", "deploys"},
		{"user_id", userID},
		{"user_name", slackUsers[userID]},
		{"command", command},
		{"text", text},
		{"api_app_id", "A0SWITCHMAN"},
		{"is_enterprise_install", "false"},
		{"response_url", c.slack.responseURL(trigger)},
		{"trigger_id", trigger},
	}
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = f[0] + "=" + url.QueryEscape(f[1])
	}
	return strings.Join(parts, "&"), trigger
}

// slashAnswer is a replica's immediate answer to a slash command.
type slashAnswer struct {
	status int
	text   string // the ephemeral text; "" for an empty 200 (a duplicate)
	took   time.Duration
}

// post sends a slash command body to r's /slack/commands, signed now with
// the signing secret; retry > 0 marks it as Slack's retry number retry.
func (c *replicaCluster) post(r *replica, body string, retry int) slashAnswer {
	c.t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, r.base()+"/slack/commands", strings.NewReader(body))
	if err != nil {
		c.t.Error(err)
		return slashAnswer{}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slack.Sign(replicaSecret, ts, []byte(body)))
	if retry > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		c.t.Errorf("POST %s/slack/commands: %v", r.name, err)
		return slashAnswer{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := slashAnswer{status: resp.StatusCode, took: time.Since(start)}
	if len(bytes.TrimSpace(raw)) > 0 {
		var m struct {
			ResponseType string `json:"response_type"`
			Text         string `json:"text"`
		}
		if err := json.Unmarshal(raw, &m); err != nil || m.ResponseType != "ephemeral" {
			c.t.Errorf("replica %s answered %s %q, want an ephemeral JSON answer", r.name, resp.Status, raw)
		}
		a.text = m.Text
	}
	return a
}

// slash sends one new slash command from userID to r.
func (c *replicaCluster) slash(r *replica, userID, command, text string) slashAnswer {
	c.t.Helper()
	body, _ := c.slashForm(userID, command, text)
	return c.post(r, body, 0)
}

// mustRun sends a slash command and fails the test unless r took it.
func (c *replicaCluster) mustRun(r *replica, userID, command, text string) {
	c.t.Helper()
	if a := c.slash(r, userID, command, text); a.status != http.StatusOK || !strings.Contains(a.text, noticeWorking) {
		c.t.Fatalf("%s %s to replica %s: got %d %q, want 200 %q", command, text, r.name, a.status, a.text, noticeWorking)
	}
}

func (c *replicaCluster) records() []*deploy.Record {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	recs, err := c.store.Records(ctx, deploy.Filter{App: "web"})
	if err != nil {
		c.t.Fatalf("read records from redis: %v", err)
	}
	return recs
}

// waitRecord polls the store until a record for which ok holds appears.
func (c *replicaCluster) waitRecord(what string, timeout time.Duration, ok func(*deploy.Record) bool) *deploy.Record {
	c.t.Helper()
	var found *deploy.Record
	c.poll(what, timeout, func() bool {
		for _, r := range c.records() {
			if ok(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// deployOnce deploys build through r and waits for it to succeed.
func (c *replicaCluster) deployOnce(r *replica, build string) *deploy.Record {
	c.t.Helper()
	c.openGate(build)
	c.mustRun(r, "UBOB", "/deploy", "web "+build)
	return c.waitRecord("deploy "+build+" to succeed", 15*time.Second, func(rec *deploy.Record) bool {
		return rec.Kind == deploy.KindDeploy && rec.Build == build && rec.Outcome == deploy.OutcomeSucceeded
	})
}

// startHeld starts a deploy of build through r whose restart waits at its
// gate, and returns its record once the restart waits.
func (c *replicaCluster) startHeld(r *replica, build string) *deploy.Record {
	c.t.Helper()
	c.mustRun(r, "UBOB", "/deploy", "web "+build)
	c.waitRestarting(build, 15*time.Second)
	return c.waitRecord("the record of deploy "+build, 30*time.Second, func(rec *deploy.Record) bool {
		return rec.Build == build && rec.Outcome == deploy.OutcomeRunning
	})
}

// signalLeft reports whether a signal of kind for run id waits in Redis.
func (c *replicaCluster) signalLeft(id, kind string) bool {
	c.t.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: c.redis.Addr()})
	defer rdb.Close()
	n, err := rdb.Exists(c.t.Context(), "switchman:signal:"+id+":"+kind).Result()
	if err != nil {
		c.t.Fatal(err)
	}
	return n > 0
}

// current is the release web's `current` points at.
func (c *replicaCluster) current() string {
	target, _ := os.Readlink(filepath.Join(c.app, "current"))
	return target
}

func replicaFreePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// replicaTarball is a release of web: a gzipped tar with a BUILD file.
func replicaTarball(t *testing.T, build string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	if err := tw.WriteHeader(&tar.Header{Name: "BUILD", Mode: 0o644, Size: int64(len(build)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(build))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var deployIDRE = regexp.MustCompile(`\(deploy ([0-9]{8}-[0-9]{6}-[0-9a-f]{6})\)`)

// Two people send /deploy web 1 at the same instant, one to each replica:
// exactly one deploy runs, and the other person is told, privately, who
// deploys what.
func TestReplicasConcurrentDeploy(t *testing.T) {
	c := newReplicaCluster(t, clusterOptions{})
	begin := time.Now()
	// Build 1's restart is held, so the winner still runs when the loser's
	// deploy is decided.
	bodyA, _ := c.slashForm("UBOB", "/deploy", "web 1")
	bodyB, _ := c.slashForm("UCAROL", "/deploy", "web 1")
	var answers [2]slashAnswer
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, send := range []func() slashAnswer{
		func() slashAnswer { return c.post(c.a, bodyA, 0) },
		func() slashAnswer { return c.post(c.b, bodyB, 0) },
	} {
		wg.Go(func() {
			<-start
			answers[i] = send()
		})
	}
	close(start)
	wg.Wait()
	for i, a := range answers {
		if a.status != http.StatusOK || !strings.Contains(a.text, noticeWorking) {
			t.Fatalf("answer %d: got %d %q, want 200 %q", i, a.status, a.text, noticeWorking)
		}
	}

	started := c.slack.waitCall("the reply to the deploy that started", 15*time.Second,
		allOf(isMethod("chat.postEphemeral"), toChannel(commandChannel), textHas("Deploying web 1 to prod")))
	winner, loser := started.User, "UCAROL"
	if winner == "UCAROL" {
		loser = "UBOB"
	}
	m := deployIDRE.FindStringSubmatch(started.Text)
	if m == nil {
		t.Fatalf("the start reply %q names no deploy id", started.Text)
	}
	id := m[1]
	refusal := c.slack.waitCall("the refusal of the other deploy", 15*time.Second,
		allOf(isMethod("chat.postEphemeral"), toChannel(commandChannel), toUser(loser), textHas("busy")))
	for _, want := range []string{"web/prod is busy", "deploy of build 1 by " + slackUsers[winner], "(deploy " + id + ")", "nothing was deployed: cancel web prod stops that deploy"} {
		if !strings.Contains(refusal.Text, want) {
			t.Errorf("refusal to %s: got %q, want it to contain %q", slackUsers[loser], refusal.Text, want)
		}
	}
	t.Logf("both answered within %s and %s; %s won, %s was refused %s after the requests: %q",
		answers[0].took.Round(time.Millisecond), answers[1].took.Round(time.Millisecond),
		slackUsers[winner], slackUsers[loser], refusal.At.Sub(begin).Round(time.Millisecond), refusal.Text)

	c.openGate("1")
	c.waitRecord("deploy "+id+" to succeed", 15*time.Second, func(r *deploy.Record) bool {
		return r.ID == id && r.Outcome == deploy.OutcomeSucceeded
	})
	if recs := c.records(); len(recs) != 1 {
		t.Errorf("records: got %d, want 1: %+v", len(recs), recs)
	}
	if got := c.slack.matching(allOf(isMethod("chat.postEphemeral"), textHas("Deploying web 1"))); len(got) != 1 {
		t.Errorf("start replies: got %d, want 1:\n%s", len(got), describeCalls(got))
	}
	if got := c.current(); got != "releases/1" {
		t.Errorf("current: got %q, want releases/1", got)
	}
	t.Logf("done in %s", time.Since(begin).Round(time.Millisecond))
}

// Slack delivers a command again (X-Slack-Retry-Num: 1) to the other
// replica, at the same moment as the first delivery: it runs once.
func TestReplicasSlackRetryRunsOnce(t *testing.T) {
	c := newReplicaCluster(t, clusterOptions{})
	begin := time.Now()
	c.openGate("1")
	body, _ := c.slashForm("UBOB", "/deploy", "web 1")
	var first, retry slashAnswer
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Go(func() { <-start; first = c.post(c.a, body, 0) })
	wg.Go(func() { <-start; retry = c.post(c.b, body, 1) })
	close(start)
	wg.Wait()
	ran := 0
	for _, a := range []slashAnswer{first, retry} {
		switch {
		case a.status != http.StatusOK:
			t.Errorf("got status %d, want 200", a.status)
		case strings.Contains(a.text, noticeWorking):
			ran++
		case a.text != "":
			t.Errorf("got %q, want %q or an empty 200 for the duplicate", a.text, noticeWorking)
		}
	}
	if ran != 1 {
		t.Fatalf("delivery to a: %+v, retry to b: %+v; want exactly one to run", first, retry)
	}

	rec := c.waitRecord("the deploy to succeed", 15*time.Second, func(r *deploy.Record) bool { return r.Outcome == deploy.OutcomeSucceeded })
	c.slack.waitCall("the final progress message", 15*time.Second,
		allOf(isMethod("chat.postMessage", "chat.update"), toChannel(deployChannel), textHas("Deploy "+rec.ID, "now runs 1")))
	if recs := c.records(); len(recs) != 1 {
		t.Errorf("records: got %d, want 1", len(recs))
	}
	if got := c.slack.matching(allOf(isMethod("chat.postMessage"), toChannel(deployChannel))); len(got) != 1 {
		t.Errorf("progress messages posted: got %d, want 1:\n%s", len(got), describeCalls(got))
	}
	if got := c.slack.matching(allOf(isMethod("chat.postEphemeral"), textHas("Deploying web 1"))); len(got) != 1 {
		t.Errorf("start replies: got %d, want 1:\n%s", len(got), describeCalls(got))
	}
	t.Logf("done in %s", time.Since(begin).Round(time.Millisecond))
}

// The replica running a deploy is killed with SIGKILL while its restart
// runs: the other replica reports the deploy interrupted, with the state
// of the host and a Rollback button, within the lease TTL and a few
// seconds; a rollback through it works, and first stops the restart the
// dead replica left running on the host, which would otherwise race it.
func TestReplicasKilledMidDeploy(t *testing.T) {
	c := newReplicaCluster(t, clusterOptions{})
	c.deployOnce(c.a, "1")
	held := c.startHeld(c.a, "2")
	begin := time.Now()

	c.a.kill()
	killed := time.Now()
	limit := replicaLeaseTTL + 5*time.Second
	msg := c.slack.waitCall("the interrupted deploy to be reported", limit+time.Second,
		allOf(isMethod("chat.postMessage"), toChannel(deployChannel), textHas(held.ID, "interrupted")))
	after := msg.At.Sub(killed)
	if after > limit {
		t.Errorf("the interrupted deploy was reported %s after the kill, want within %s", after, limit)
	}
	t.Logf("replica a killed; b reported deploy %s interrupted %s later", held.ID, after.Round(time.Millisecond))
	for _, want := range []string{"deploy " + held.ID + " of web 2 to prod was interrupted", "localhost", "on 2", "Roll back to 1: rollback web prod to 1 from 2"} {
		if !strings.Contains(msg.Text, want) {
			t.Errorf("interrupted message: got %q, want it to contain %q", msg.Text, want)
		}
	}
	if !strings.Contains(msg.Blocks, `"value":"rollback web prod to 1 from 2"`) || !strings.Contains(msg.Blocks, `"type":"button"`) {
		t.Errorf("interrupted message: no Rollback button in its blocks %s", msg.Blocks)
	}
	rec := c.waitRecord("the record to be interrupted", 30*time.Second, func(r *deploy.Record) bool {
		return r.ID == held.ID && r.Outcome == deploy.OutcomeInterrupted
	})
	if h := rec.Host("localhost"); h == nil || h.Current != "2" {
		t.Errorf("interrupted record's host: got %+v, want localhost on 2", rec.Hosts)
	}

	// A person decides: roll back, through the replica that is left.
	c.mustRun(c.b, "UBOB", "/rollback", "web")
	rb := c.waitRecord("the rollback to succeed", 15*time.Second, func(r *deploy.Record) bool {
		return r.Kind == deploy.KindRollback && r.Outcome.Done()
	})
	if rb.Outcome != deploy.OutcomeSucceeded || rb.Build != "1" || rb.Previous != "2" {
		t.Errorf("rollback: got %s from %s to %s (%s), want succeeded from 2 to 1", rb.Outcome, rb.Previous, rb.Build, rb.Error)
	}
	if h := rb.Host("localhost"); h == nil || !strings.HasPrefix(h.Stopped, "deploy "+held.ID+": ") {
		t.Errorf("rollback's host: got %+v, want it to say it stopped what deploy %s had begun", rb.Hosts, held.ID)
	}
	if pids := procs.Carrying(rec.Run); len(rec.Run) != deploy.RunTokenLen || len(pids) > 0 {
		t.Errorf("after the rollback, processes %v still carry the dead deploy's token %q", pids, rec.Run)
	}
	// Stopped, the restart never got to remove its mark.
	if err := os.Remove(filepath.Join(c.gates, "2.running")); err != nil {
		t.Errorf("the held restart's mark: %v", err)
	}
	if got := c.current(); got != "releases/1" {
		t.Errorf("current after the rollback: got %q, want releases/1", got)
	}
	c.slack.waitCall("the rollback's final message", 15*time.Second,
		allOf(isMethod("chat.postMessage", "chat.update"), toChannel(deployChannel), textHas("Rollback "+rb.ID, "now runs 1")))
	t.Logf("done in %s", time.Since(begin).Round(time.Millisecond))
}

// The replica running a deploy is paused (SIGSTOP) while the deploy waits
// for its migrations to be confirmed, longer than the lease lives. The
// other replica reports it interrupted; once resumed, the paused replica
// must not go on: it switches nothing, and says it lost its lease.
func TestReplicasPausedReplicaIsFenced(t *testing.T) {
	c := newReplicaCluster(t, clusterOptions{migrateAsk: true})
	c.deployOnce(c.a, "1")
	c.openGate("2") // nothing holds build 2 but the confirmation
	c.mustRun(c.a, "UBOB", "/deploy", "web 2")
	held := c.waitRecord("deploy 2 to wait for its confirmation", 15*time.Second, func(r *deploy.Record) bool {
		return r.Build == "2" && r.Outcome == deploy.OutcomeRunning && len(r.Migrations) > 0
	})
	begin := time.Now()

	c.a.signal(t, syscall.SIGSTOP)
	t.Cleanup(func() { c.a.cmd.Process.Signal(syscall.SIGCONT) })
	paused := time.Now()
	c.waitRecord("replica b to mark the deploy interrupted", replicaLeaseTTL+5*time.Second, func(r *deploy.Record) bool {
		return r.ID == held.ID && r.Outcome == deploy.OutcomeInterrupted
	})
	c.slack.waitCall("the interrupted deploy to be reported", 30*time.Second,
		allOf(isMethod("chat.postMessage"), toChannel(deployChannel), textHas(held.ID, "interrupted", "on 1")))
	t.Logf("replica a paused; b reported deploy %s interrupted %s later", held.ID, time.Since(paused).Round(time.Millisecond))

	// Replica b does not run the deploy, which has ended as b recorded.
	c.mustRun(c.b, "UBOB", "/deploy", "confirm "+held.ID)
	c.slack.waitCall("replica b's refusal of the confirmation", 10*time.Second,
		allOf(isMethod("chat.postEphemeral"), toUser("UBOB"), textHas("deploy "+held.ID+" is not running (it ended interrupted)")))

	// Replica a wakes up and is asked to go on.
	c.a.signal(t, syscall.SIGCONT)
	resumed := time.Now()
	a := c.slash(c.a, "UBOB", "/deploy", "confirm "+held.ID)
	t.Logf("confirmation sent to the resumed replica a: %d %q", a.status, a.text)
	final := c.slack.waitCall("replica a's final message", 15*time.Second,
		allOf(isMethod("chat.postMessage", "chat.update"), toChannel(deployChannel), textHas("Deploy "+held.ID+" of web 2 to prod", "interrupted", "lost the deploy lease")))
	t.Logf("replica a stopped the deploy %s after it resumed: %q", final.At.Sub(resumed).Round(time.Millisecond), final.Text)
	// One end in the audit log, replica b's: each replica audits the end
	// before it posts it, and a's account was refused by the store.
	entries, err := c.store.Audit(t.Context(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var ends []string
	for _, e := range entries {
		if e.DeployID == held.ID && strings.Contains(e.Command, "finished") {
			ends = append(ends, e.Command+": "+e.Reason)
		}
	}
	if len(ends) != 1 || !strings.Contains(ends[0], "finished: interrupted: the process running this deploy") {
		t.Errorf("audit entries of the deploy's end: got %q, want one, replica b's", ends)
	}
	// Whether the confirmation beat the lease renewal that found the
	// lease gone (then the fencing check before the migrations stopped
	// the deploy) or not (then it was refused), a answered it.
	reply := c.slack.waitCall("replica a's answer to the confirmation", 10*time.Second, func(call slackCall) bool {
		return call.Channel == commandChannel && call.At.After(resumed) && strings.Contains(call.Text, held.ID) &&
			!strings.HasPrefix(call.Text, "Progress of deploy")
	})
	t.Logf("replica a answered the confirmation: %q", reply.Text)
	if !strings.Contains(reply.Text, "confirmed the migrations of deploy "+held.ID) && !strings.Contains(reply.Text, "is not waiting for a confirmation") &&
		!strings.Contains(reply.Text, "no running deploy") && !strings.Contains(reply.Text, "is not running (it ended interrupted)") {
		t.Errorf("replica a's answer to the confirmation: got %q, want it confirmed or refused", reply.Text)
	}
	// Interrupted, as replica b recorded it: a's final write came after
	// b's and was refused.
	rec := c.waitRecord("the record to be replica b's account", 30*time.Second, func(r *deploy.Record) bool {
		return r.ID == held.ID && strings.Contains(r.Error, "stopped before it finished")
	})
	if rec.Outcome != deploy.OutcomeInterrupted {
		t.Errorf("record: got outcome %s, want interrupted", rec.Outcome)
	}
	if got := c.current(); got != "releases/1" {
		t.Errorf("current: got %q, want releases/1: the fenced replica switched", got)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "migrated")); err == nil {
		t.Error("the fenced replica ran the migrations")
	}
	if _, err := os.Stat(filepath.Join(c.gates, "2.waiting")); err == nil {
		t.Error("the fenced replica restarted the app on build 2")
	}
	t.Logf("done in %s", time.Since(begin).Round(time.Millisecond))
}

// A deploy runs on replica a; the chat platform hands its confirmation
// and then a cancel to replica b. Both reach a: the migrations run, and
// the deploy stops at its next safe point and switches back.
func TestReplicasConfirmAndCancelReachTheRunningReplica(t *testing.T) {
	c := newReplicaCluster(t, clusterOptions{migrateAsk: true})
	c.deployOnce(c.a, "1")
	c.mustRun(c.a, "UBOB", "/deploy", "web 2")
	held := c.waitRecord("deploy 2 to wait for its confirmation", 15*time.Second, func(r *deploy.Record) bool {
		return r.Build == "2" && r.Outcome == deploy.OutcomeRunning && len(r.Migrations) > 0
	})
	begin := time.Now()
	c.mustRun(c.b, "UCAROL", "/deploy", "confirm "+held.ID)
	c.waitRestarting("2", 15*time.Second)
	if _, err := os.Stat(filepath.Join(c.dir, "migrated")); err != nil {
		t.Errorf("the migrations after a confirmation through replica b: %v", err)
	}
	t.Logf("confirmed through replica b; replica a restarting %s later", time.Since(begin).Round(time.Millisecond))

	c.mustRun(c.b, "UCAROL", "/cancel", "web")
	c.slack.waitCall("replica b's answer to the cancel", 10*time.Second,
		allOf(isMethod("chat.postMessage"), toChannel(commandChannel), textHas("Cancelling deploy "+held.ID, "another replica")))
	// The restart is the step under way: the deploy stops once it ends.
	// Replica a's poll takes the cancel meanwhile (every second): the
	// signal leaves the store.
	for deadline := time.Now().Add(10 * time.Second); c.signalLeft(held.ID, "cancel"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("replica a did not take the cancel within 10 s")
		}
	}
	c.openGate("2")
	rec := c.waitRecord("the deploy to stop", 15*time.Second, func(r *deploy.Record) bool {
		return r.ID == held.ID && r.Outcome != deploy.OutcomeRunning
	})
	if (rec.Outcome != deploy.OutcomeCancelled && rec.Outcome != deploy.OutcomeReverted) || !strings.Contains(rec.Error, "cancelled by carol") {
		t.Errorf("deploy %s after a cancel through replica b: %s (%s); want cancelled by carol", rec.ID, rec.Outcome, rec.Error)
	}
	if got := c.current(); got != "releases/1" {
		t.Errorf("current: got %q, want releases/1", got)
	}
	t.Logf("done in %s", time.Since(begin).Round(time.Millisecond))
}

// Redis goes away during a deploy, for longer than the deploy's lease
// lives, and comes back on the same port. While it is down, commands are
// refused without running and /healthz says 503; the deploy stops at its
// next fencing check and says why, touching no host after it; and both
// replicas serve commands again without being restarted.
func TestReplicasRedisRestart(t *testing.T) {
	c := newReplicaCluster(t, clusterOptions{})
	c.deployOnce(c.a, "1")
	held := c.startHeld(c.a, "2")
	begin := time.Now()

	c.redis.Stop()
	down := time.Now()
	for _, r := range []*replica{c.a, c.b} {
		c.waitHealth(r, http.StatusServiceUnavailable, 30*time.Second)
	}
	var answers [2]slashAnswer
	var wg sync.WaitGroup
	wg.Go(func() { answers[0] = c.slash(c.a, "UBOB", "/status", "") })
	wg.Go(func() { answers[1] = c.slash(c.b, "UCAROL", "/deploy", "web 1") })
	wg.Wait()
	// Redis stays down until both answers are in: a command that waited
	// for the store to come back, instead of answering at once, gets no
	// answer at all here and the request fails.
	for i, a := range answers {
		if a.status != http.StatusOK || !strings.Contains(a.text, "State store unreachable; nothing was changed") {
			t.Errorf("command %d while redis is down: got %d %q, want an ephemeral 'State store unreachable; nothing was changed'", i, a.status, a.text)
		}
		t.Logf("command %d while redis is down answered in %s", i, a.took.Round(time.Millisecond))
	}
	for _, r := range []*replica{c.a, c.b} {
		if code := c.health(r); code != http.StatusServiceUnavailable {
			t.Fatalf("replica %s /healthz after the answers: got %d, want 503 (redis still down)", r.name, code)
		}
	}
	if got := c.slack.matching(allOf(isMethod("chat.postEphemeral"), toUser("UCAROL"))); len(got) > 0 {
		t.Errorf("a command sent while redis was down ran:\n%s", describeCalls(got))
	}
	// The outage outlasts the deploy's lease: /healthz keeps saying so.
	outage := down.Add(replicaLeaseTTL + 250*time.Millisecond)
	c.poll("the outage to outlast the lease", 10*time.Second, func() bool {
		for _, r := range []*replica{c.a, c.b} {
			if code := c.health(r); code != http.StatusServiceUnavailable {
				t.Fatalf("replica %s /healthz while redis is down: got %d, want 503", r.name, code)
			}
		}
		return time.Now().After(outage)
	})

	c.redis.Restart(t)
	up := time.Now()
	for _, r := range []*replica{c.a, c.b} {
		c.waitHealth(r, http.StatusOK, 10*time.Second)
	}
	t.Logf("redis down for %s; /healthz 200 on both replicas %s after it came back", up.Sub(down).Round(time.Millisecond), time.Since(up).Round(time.Millisecond))

	// The lease ran out during the outage: replica b reports the deploy
	// interrupted, with the host as it is (switched, restarting).
	c.slack.waitCall("the interrupted deploy to be reported", replicaLeaseTTL+5*time.Second,
		allOf(isMethod("chat.postMessage"), toChannel(deployChannel), textHas(held.ID, "interrupted")))
	// The restart finishes; replica a's next fencing check stops the deploy.
	c.openGate("2")
	final := c.slack.waitCall("replica a's final message", 15*time.Second,
		allOf(isMethod("chat.postMessage", "chat.update"), toChannel(deployChannel), textHas("Deploy "+held.ID+" of web 2 to prod interrupted", "lost the deploy lease", "stopped before touching more hosts")))
	t.Logf("replica a: %q", final.Text)
	// The record is replica b's: a's final write came after b's and was
	// refused.
	rec := c.waitRecord("the record to be replica b's account", 30*time.Second, func(r *deploy.Record) bool {
		return r.ID == held.ID && strings.Contains(r.Error, "stopped before it finished")
	})
	if rec.Outcome != deploy.OutcomeInterrupted {
		t.Errorf("record: got outcome %s, want interrupted", rec.Outcome)
	}
	// Nothing was switched back without the lease.
	if got := c.current(); got != "releases/2" {
		t.Errorf("current: got %q, want releases/2, as the deploy left it", got)
	}
	if _, err := os.Stat(filepath.Join(c.app, "releases", ".bad-2")); err == nil {
		t.Error("release 2 was marked bad without the lease")
	}

	// Both replicas serve commands again, as they are.
	for _, r := range []*replica{c.a, c.b} {
		user := map[string]string{"a": "UBOB", "b": "UCAROL"}[r.name]
		c.mustRun(r, user, "/history", "web")
		c.slack.waitCall("replica "+r.name+"'s history", 10*time.Second,
			allOf(isMethod("chat.postEphemeral"), toUser(user), textHas(held.ID, "interrupted")))
	}
	t.Logf("done in %s", time.Since(begin).Round(time.Millisecond))
}
