package commands_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

const serviceYAML = `users:
  ana: {}
  bob: {}
  carl: {}
admins: [ana]
deployers: [bob]
apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    health:
      command: 'test "$(cat current/BUILD)" = {build}'
      timeout: 2s
      interval: 50ms
    environments:
      prod:
        hosts: [localhost]
`

// recorder is a commands.Output that keeps everything it is given.
type recorder struct {
	mu       sync.Mutex
	replies  []chat.Message
	events   []deploy.Event
	finished chan *deploy.Record
}

func newRecorder() *recorder { return &recorder{finished: make(chan *deploy.Record, 16)} }

func (r *recorder) Reply(m chat.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies = append(r.replies, m)
}

func (r *recorder) Progress(ev deploy.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	if ev.Kind == deploy.EventFinished {
		r.finished <- ev.Record
	}
}

func (r *recorder) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.replies) == 0 {
		return ""
	}
	return chat.Text(r.replies[len(r.replies)-1])
}

func (r *recorder) lastMessage() chat.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.replies) == 0 {
		return chat.Message{}
	}
	return r.replies[len(r.replies)-1]
}

type serviceFixture struct {
	t      *testing.T
	svc    *commands.Service
	cfg    *config.Config
	policy *acl.Policy
	store  *embedded.Store
	eng    *deploy.Engine
	app    string
	now    time.Time
}

func newServiceFixture(t *testing.T) *serviceFixture {
	t.Helper()
	return newServiceFixtureFrom(t, serviceYAML, &acl.Rules{
		Users:    []string{"ana", "bob", "carl"},
		Roles:    map[string][]acl.Action{"admin": {acl.Admin}, "deployer": {acl.Deploy, acl.Rollback, acl.Cancel, acl.Lock, acl.Unlock}},
		Bindings: []acl.Binding{{Role: "admin", Users: []string{"ana"}}, {Role: "deployer", Users: []string{"bob"}}},
	})
}

// newServiceFixtureFrom is newServiceFixture with its own config, whose
// app web reads builds 1 and 2 from artifacts/, and its own rules (nil:
// the config's).
func newServiceFixtureFrom(t *testing.T, yaml string, rules *acl.Rules) *serviceFixture {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}}, Store: st, Leases: st, Locks: st})
	t.Cleanup(eng.Wait)
	if rules == nil {
		r := cfg.AccessRules()
		rules = &r
	}
	policy, err := acl.New(*rules)
	if err != nil {
		t.Fatal(err)
	}
	f := &serviceFixture{t: t, cfg: cfg, policy: policy, store: st, eng: eng, app: filepath.Join(dir, "srv/web")}
	f.svc = commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy})
	for _, b := range []string{"1", "2"} {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-"+b+".tar.gz"), tgz(t, map[string]string{"BUILD": b}))
	}
	return f
}

func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(body))
	}
	tw.Close()
	gw.Close()
	return buf.Bytes()
}

// do runs one command as user and, when it started a deploy, waits for it.
func (f *serviceFixture) do(user, text string) (commands.Outcome, *recorder, *deploy.Record) {
	f.t.Helper()
	out := newRecorder()
	res := f.svc.Handle(context.Background(), commands.Request{User: user, Platform: "test", Channel: "C1", Text: text}, out)
	var rec *deploy.Record
	if res.DeployID != "" {
		select {
		case rec = <-out.finished:
		case <-time.After(30 * time.Second):
			f.t.Fatalf("%q: deploy did not finish", text)
		}
	}
	return res, out, rec
}

// auditWatcher is a recorder that reads the audit log when it is told a
// run finished, as someone reading it on seeing the reply would.
type auditWatcher struct {
	*recorder
	store *embedded.Store
	seen  chan bool // whether the run's end was in the log then
}

func (w *auditWatcher) Progress(ev deploy.Event) {
	if ev.Kind == deploy.EventFinished && ev.Record != nil {
		entries, err := w.store.Audit(context.Background(), audit.Query{})
		found := false
		for _, e := range entries {
			found = found || (err == nil && e.DeployID == ev.Record.ID && e.Decision == audit.Event)
		}
		w.seen <- found
	}
	w.recorder.Progress(ev)
}

// TestFinishedIsAuditedBeforeItIsShown: a run's end is in the audit log by
// the time the adapter shows it, so that `audit` typed on seeing the reply
// (in the console, at once) lists it.
func TestFinishedIsAuditedBeforeItIsShown(t *testing.T) {
	f := newServiceFixture(t)
	for _, text := range []string{"deploy web 1", "deploy web 2", "rollback web"} {
		w := &auditWatcher{recorder: newRecorder(), store: f.store, seen: make(chan bool, 1)}
		res := f.svc.Handle(context.Background(), commands.Request{User: "ana", Platform: "test", Channel: "C1", Text: text}, w)
		if res.Failed {
			t.Fatalf("%q failed: %s", text, w.last())
		}
		select {
		case found := <-w.seen:
			if !found {
				t.Errorf("%q: its end was shown before it was in the audit log", text)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%q did not finish", text)
		}
	}
}

func TestServiceSession(t *testing.T) {
	f := newServiceFixture(t)
	type step struct {
		user, text string
		failed     bool
		decision   audit.Decision
		reply      string // substring of the last reply
		outcome    deploy.Outcome
	}
	steps := []step{
		{"carl", "deploy web 1", true, audit.Refused, "carl may not deploy web/prod", ""},
		{"bob", "deploy web 1", false, audit.Allowed, "Deploy", deploy.OutcomeSucceeded},
		{"bob", "deploy web 1", false, audit.Allowed, "already runs build 1", ""},
		{"bob", "deploy web 404", true, audit.Refused, "not found", ""},
		{"bob", "deploy web $(id)", true, audit.Refused, "contains '$', which is not allowed", ""},
		{"bob", "deploy wbe 2", true, audit.Refused, `did you mean "web"`, ""},
		{"bob", "deploy web 2 --dry-run", false, audit.Allowed, "nothing was changed", ""},
		{"carl", "deploy web 2 --dry-run", true, audit.Refused, "carl may not deploy web/prod", ""},
		{"ana", "lock deploys web db maintenance", false, audit.Allowed, "Locked web", ""},
		{"bob", "deploy web 2 --dry-run", false, audit.Allowed, "a deploy now would be refused: web/prod is locked: locked by ana", ""},
		{"bob", "deploy web 2", true, audit.Refused, "web/prod is locked: locked by ana", ""},
		{"ana", "deploy web 2", false, audit.Allowed, "you hold the lock", deploy.OutcomeSucceeded},
		{"bob", "unlock deploys web", false, audit.Allowed, "Unlocked web", ""},
		{"bob", "unlock deploys web", true, audit.Refused, "there is no lock on web; there are no locks", ""},
		{"bob", "unlock deploys", true, audit.Refused, "there is no lock on all deploys; there are no locks", ""},
		{"carl", "lock deploys everything is on fire", true, audit.Refused, "carl may not lock", ""},
		{"bob", "rollback web prod from 1", true, audit.Refused, "web/prod runs 2 now, not 1; nothing was rolled back", ""},
		{"bob", "rollback web prod from 2", false, audit.Allowed, "Rolling back web/prod from 2 to 1", deploy.OutcomeSucceeded},
		{"bob", "deploy web 2", true, audit.Refused, "rolled back from 2", ""},
		{"carl", "status web", false, audit.Allowed, "localhost: current 1, previous 2 (marked bad: a deploy of it failed, or a rollback left it, so no rollback goes to it)", ""},
		{"carl", "history web", false, audit.Allowed, "rollback 1 (from 2) succeeded", ""},
		{"carl", "whoami", false, audit.Allowed, "no grants", ""},
		{"ana", "whoami", false, audit.Allowed, "role admin", ""},
		{"carl", "cancel web", true, audit.Refused, "carl may not cancel", ""},
		{"bob", "cancel web", true, audit.Refused, "no deploy of web/prod is running", ""},
		{"carl", "help", false, audit.Allowed, "deploy APP BUILD", ""},
		{"carl", "frobnicate", true, audit.Refused, "unknown command", ""},
	}
	for i, s := range steps {
		res, out, rec := f.do(s.user, s.text)
		if res.Failed != s.failed {
			t.Errorf("step %d %q: got failed=%v, want %v (reply %q)", i, s.text, res.Failed, s.failed, out.last())
		}
		if s.reply != "" && !strings.Contains(out.last(), s.reply) {
			t.Errorf("step %d %q: got reply %q, want it to contain %q", i, s.text, out.last(), s.reply)
		}
		if s.outcome != "" && (rec == nil || rec.Outcome != s.outcome) {
			t.Errorf("step %d %q: got record %+v, want outcome %s", i, s.text, rec, s.outcome)
		}
	}

	// Every command left exactly one entry with the right decision, in
	// order; finished deploys add event entries.
	entries, err := f.store.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	entries = audit.Fold(entries)
	var cmds []audit.Entry
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i].Decision != audit.Event {
			cmds = append(cmds, entries[i])
		}
	}
	if len(cmds) != len(steps) {
		t.Fatalf("audit: got %d command entries, want %d", len(cmds), len(steps))
	}
	for i, s := range steps {
		e := cmds[i]
		if e.User != s.user || e.Decision != s.decision || e.Platform != "test" || e.Channel != "C1" {
			t.Errorf("audit %d (%q): got user %s decision %s platform %s channel %s, want %s %s test C1", i, s.text, e.User, e.Decision, e.Platform, e.Channel, s.user, s.decision)
		}
		if s.decision == audit.Refused && e.Reason == "" {
			t.Errorf("audit %d (%q): a refusal without a reason", i, s.text)
		}
	}
	events := len(entries) - len(cmds)
	if events != 3 { // two deploys and one rollback finished
		t.Errorf("audit: got %d event entries, want 3", events)
	}
}

func TestHostileInputChangesNothing(t *testing.T) {
	f := newServiceFixture(t)
	inputs := []string{
		"deploy web 1;id", "deploy web $(id)", "deploy web `id`", "deploy web ../1", "deploy web 1 2",
		"deploy web 1\nrollback web", "deploy web ١", "deploy web ａ1", "deploy web " + strings.Repeat("9", 10000),
		"deploy ../../etc/passwd 1", "deploy web 1 to ../prod", "rollback web to $(id)", "lock deploys",
	}
	for _, in := range inputs {
		res, out, _ := f.do("ana", in)
		if !res.Failed || res.DeployID != "" {
			t.Errorf("%q: got %+v, want refused", truncate(in), res)
		}
		if len(out.last()) > 2100 {
			t.Errorf("%q: reply is %d bytes", truncate(in), len(out.last()))
		}
	}
	if _, err := os.Stat(f.app); !os.IsNotExist(err) {
		t.Errorf("the deploy dir exists after refused commands: %v", err)
	}
	recs, _ := f.store.Records(context.Background(), deploy.Filter{})
	if len(recs) != 0 {
		t.Errorf("records after refused commands: got %d, want 0", len(recs))
	}
	entries, _ := f.store.Audit(context.Background(), audit.Query{})
	if len(entries) != len(inputs) {
		t.Errorf("audit entries: got %d, want %d", len(entries), len(inputs))
	}
}

func truncate(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s…(%d bytes)", s[:40], len(s))
	}
	return s
}

// observedEngine is the engine with the hosts' observed state replaced.
type observedEngine struct {
	*deploy.Engine
	hosts []deploy.HostResult
}

func (e observedEngine) Observe(context.Context, string, string) ([]deploy.HostResult, error) {
	return e.hosts, nil
}

// TestStatusCurrentGone: a host whose `current` link points at a
// release that is gone says so, naming the release: "current none" read
// as a host never deployed to.
func TestStatusCurrentGone(t *testing.T) {
	f := newServiceFixture(t)
	eng := observedEngine{Engine: f.eng, hosts: []deploy.HostResult{
		{Host: "web1", Current: "3", Previous: "2"},
		{Host: "web2", Previous: "2", CurrentDangling: true, CurrentGone: "3"},
		{Host: "web3", Previous: "2", CurrentDangling: true},
		{Host: "web4"},
	}}
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: eng, Store: f.store, Policy: f.policy})
	_, out, _ := f.do("carl", "status web")
	got := out.last()
	for _, want := range []string{
		"web1: current 3, previous 2",
		"web2: current gone (the link points at release 3, which is not on the host), previous 2",
		"web3: current gone (the link points at a release that is not on the host), previous 2",
		"web4: current none, previous none",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status: got %q, want a line %q", got, want)
		}
	}
}

// status tells a host that is down from one that answered and was
// refused: they send the reader to different problems.
func TestStatusUnreadHosts(t *testing.T) {
	f := newServiceFixture(t)
	eng := observedEngine{Engine: f.eng, hosts: []deploy.HostResult{
		{Host: "web1", Current: "2", Previous: "1"},
		{Host: "web2", State: deploy.HostUnreachable, Error: "web2: dial tcp 10.0.0.2:22: connect: connection refused: host unreachable"},
		{Host: "web3", State: deploy.HostFailed, Error: "web3: host key changed (SHA256:abc)"},
	}}
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: eng, Store: f.store, Policy: f.policy})
	_, out, _ := f.do("carl", "status web")
	got := out.last()
	for _, want := range []string{
		"web1: current 2, previous 1",
		"web2: unreachable (web2: dial tcp",
		"web3: could not be read (web3: host key changed (SHA256:abc))",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status: got %q, want it to contain %q", got, want)
		}
	}
	if strings.Contains(got, "web3: unreachable") {
		t.Errorf("status: got %q, want web3 not called unreachable", got)
	}
}

// TestAdapterRefusalIsAudited: what an adapter could not make a command of
// is refused without parsing and audited like any other refusal.
func TestAdapterRefusalIsAudited(t *testing.T) {
	f := newServiceFixture(t)
	out := newRecorder()
	res := f.svc.Handle(context.Background(), commands.Request{
		User: "bob", Platform: "discord", Channel: "C1",
		Text: "/deploy app:web build:1 --force x", Refused: "build must be one word",
	}, out)
	if !res.Failed || res.DeployID != "" || !strings.Contains(out.last(), "build must be one word") {
		t.Fatalf("got %+v, reply %q; want a refusal saying why, nothing started", res, out.last())
	}
	entries, err := f.store.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Decision != audit.Refused || entries[0].Reason != "build must be one word" ||
		entries[0].Command != "/deploy app:web build:1 --force x" || entries[0].Platform != "discord" {
		t.Errorf("audit: got %+v, want one refusal of the received text", entries)
	}
	if _, err := os.Stat(filepath.Join(f.app, "current")); !os.IsNotExist(err) {
		t.Errorf("current exists after a refusal: %v", err)
	}
}

// TestAuditRefusal: a request an adapter refused before Handle is
// audited as refused, with why, and nothing else happens.
func TestAuditRefusal(t *testing.T) {
	f := newServiceFixture(t)
	err := f.svc.AuditRefusal(context.Background(), commands.Request{
		User: "bob", Platform: "slack", Channel: "C1", Text: "deploy web 1", Refused: "Switchman was stopping; nothing was run",
	})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := f.store.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Decision != audit.Refused || entries[0].Reason != "Switchman was stopping; nothing was run" ||
		entries[0].Command != "deploy web 1" || entries[0].User != "bob" || entries[0].Platform != "slack" || entries[0].Channel != "C1" {
		t.Errorf("audit: got %+v, want one refusal of bob's command saying why", entries)
	}
	if _, err := os.Stat(filepath.Join(f.app, "current")); !os.IsNotExist(err) {
		t.Errorf("current exists after a refusal: %v", err)
	}
}

// TestAuditDroppedReply: a reply to a command that ran, sent nowhere as
// the adapter had stopped, is audited as an event of the requester's
// command, saying why and what the reply was; not as a refusal, as the
// command ran.
func TestAuditDroppedReply(t *testing.T) {
	f := newServiceFixture(t)
	err := f.svc.AuditDroppedReply(context.Background(), commands.Request{User: "bob", Platform: "discord", Channel: "C1", Text: "deploy web 1"},
		"Deploy d-9 of web/prod failed on host0", "Switchman had stopped; it was sent nowhere")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := f.store.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	const reason = "reply not delivered (Switchman had stopped; it was sent nowhere): Deploy d-9 of web/prod failed on host0"
	if len(entries) != 1 || entries[0].Decision != audit.Event || entries[0].Reason != reason ||
		entries[0].Command != "deploy web 1" || entries[0].User != "bob" || entries[0].Platform != "discord" || entries[0].Channel != "C1" {
		t.Errorf("audit: got %+v, want one event of bob's command saying %q", entries, reason)
	}
}

// TestAuditRefusalRetried: the refusal of a request an adapter refused
// before Handle is written as a command's entry is, so a store failing
// once, or a request ended before the write, does not lose it; a store
// that keeps failing is reported to the adapter.
func TestAuditRefusalRetried(t *testing.T) {
	tests := []struct {
		name     string
		fails    int
		canceled bool
		wantErr  bool
	}{
		{"store fails once", 1, false, false},
		{"request canceled", 0, true, false},
		{"store keeps failing", 3, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			st := &flakyAudit{Store: f.store, fails: tt.fails}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy})
			ctx, cancel := context.WithCancel(context.Background())
			if tt.canceled {
				cancel()
			}
			defer cancel()
			err := svc.AuditRefusal(ctx, commands.Request{User: "bob", Platform: "slack", Channel: "C1", Text: "deploy web 1",
				Refused: "Switchman was stopping; nothing was run", RefusedFor: commands.RefusalDraining})
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want one: %v", err, tt.wantErr)
			}
			entries, err := f.store.Audit(context.Background(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(entries), 1; tt.wantErr {
				want = 0
				if got != want {
					t.Errorf("audit: got %d entries, want %d", got, want)
				}
			} else if got != want || entries[0].Decision != audit.Refused || entries[0].User != "bob" {
				t.Errorf("audit: got %+v, want bob's refusal", entries)
			}
			if got, want := len(st.ctxs), min(tt.fails+1, audit.Tries); got != want {
				t.Errorf("got %d writes, want %d", got, want)
			}
			for i, err := range st.ctxs {
				if err != nil {
					t.Errorf("write %d ran with a done context: %v", i, err)
				}
			}
		})
	}
}

// flakyAudit fails the first fails audit appends, and records the
// contexts it was called with.
type flakyAudit struct {
	*embedded.Store
	mu    sync.Mutex
	fails int
	ctxs  []error
}

func (s *flakyAudit) AppendAudit(ctx context.Context, e *audit.Entry) error {
	s.mu.Lock()
	s.ctxs = append(s.ctxs, ctx.Err())
	fail := s.fails > 0
	s.fails--
	s.mu.Unlock()
	if fail {
		return fmt.Errorf("dial tcp 127.0.0.1:6379: connection refused")
	}
	return s.Store.AppendAudit(ctx, e)
}

// TestAuditAfterTheFact: a command's entry is written after it ran, so
// neither a canceled request nor a store failing once loses it; a store
// that keeps failing is reported to the requester.
func TestAuditAfterTheFact(t *testing.T) {
	tests := []struct {
		name      string
		fails     int
		wantEntry bool
	}{
		{"request canceled, store answers", 0, true},
		{"store fails once", 1, true},
		{"store keeps failing", 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			st := &flakyAudit{Store: f.store, fails: tt.fails}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The request ends as whoami answers, before the entry is written.
			out := &cancelOnReply{recorder: newRecorder(), cancel: cancel}
			res := svc.Handle(ctx, commands.Request{User: "carl", Platform: "test", Channel: "C1", Text: "whoami"}, out)
			entries, err := f.store.Audit(context.Background(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(entries) == 1; got != tt.wantEntry {
				t.Errorf("audit: got %d entries, want the entry written: %v", len(entries), tt.wantEntry)
			}
			for i, err := range st.ctxs {
				if err != nil {
					t.Errorf("append %d ran with a done context: %v", i, err)
				}
			}
			if unreachable := strings.Contains(out.last(), "audit log is unreachable"); unreachable == tt.wantEntry || res.Failed == tt.wantEntry {
				t.Errorf("reply %q, failed %v; want the requester told only when the entry was lost", out.last(), res.Failed)
			}
		})
	}
}

// cancelOnReply ends the request's context at the first reply.
type cancelOnReply struct {
	*recorder
	cancel context.CancelFunc
}

func (c *cancelOnReply) Reply(m chat.Message) {
	c.cancel()
	c.recorder.Reply(m)
}

// TestStatusNamesAnUnreadHostOnce: a host whose error names it with its
// address, as SSH's do, is named once in its line of /status, and the
// cut of the error leaves the reason whole however long the host's name:
// a host key's fingerprint was lost past a long name said twice.
func TestStatusNamesAnUnreadHostOnce(t *testing.T) {
	const fp = "SHA256:sq4bVAl+mVxT8UtVDJx+HMbngbcK2o1YIqIp5WbVZ5A"
	tests := []struct {
		name, host string
		state      deploy.HostState
		err, want  string
	}{
		{name: "changed key, long name", host: "storefront-web-17.eu-west.internal", state: deploy.HostFailed,
			err: "ssh: storefront-web-17.eu-west.internal (127.0.0.1:2201): host key changed (possible man-in-the-middle): it offered ssh-ed25519 " + fp + ", which is not the key in known_hosts; refusing to connect",
			// 160 characters of the reason past the address, cut.
			want: "  could not be read: ssh: storefront-web-17.eu-west.internal (127.0.0.1:2201): host key changed (possible man-in-the-middle): it offered ssh-ed25519 " + fp + ", which is not the key in known_hosts; r…"},
		{name: "down", host: "host1", state: deploy.HostUnreachable,
			err:  "ssh: host1 (127.0.0.1:2201): host unreachable: dial tcp 127.0.0.1:2201: connect: connection refused",
			want: "  unreachable: ssh: host1 (127.0.0.1:2201): host unreachable: dial tcp 127.0.0.1:2201: connect: connection refused"},
		{name: "not named by its error", host: "host1", state: deploy.HostFailed,
			err:  "inspect: exit status 1",
			want: "  host1: could not be read (inspect: exit status 1)"},
		// Named past the first line, which alone is shown: the line
		// names the host itself, or it named none.
		{name: "named past the first line", host: "host1", state: deploy.HostUnreachable,
			err:  "exit status 255:\nssh: host1 (127.0.0.1:2201): host unreachable: connection refused",
			want: "  host1: unreachable (exit status 255: …)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			eng := observedEngine{Engine: f.eng, hosts: []deploy.HostResult{
				{Host: "web1", Current: "2", Previous: "1"},
				{Host: tt.host, State: tt.state, Error: tt.err},
			}}
			f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: eng, Store: f.store, Policy: f.policy})
			_, out, _ := f.do("carl", "status web")
			m := out.replies[len(out.replies)-1]
			if !slices.Contains(m.Lines, tt.want) {
				t.Errorf("status: got lines %q\nwant one %q", m.Lines, tt.want)
			}
		})
	}
}

// TestStatusLargeFleet: /status of a large fleet with failures fits in
// one message (Slack shows at most 3,000 characters of a section, Discord
// 4,096 of an embed) and still names what differs: the hosts on another
// release, every host that could not be read, and the drift.
func TestStatusLargeFleet(t *testing.T) {
	longErr := "inspect: sh: 1: readlink: Permission denied\n" + strings.Repeat("stderr of the inspect script ", 140)
	tests := []struct {
		name  string
		hosts func(i int) deploy.HostResult
		want  []string
	}{
		{
			name: "two on another release, twenty unreachable",
			hosts: func(i int) deploy.HostResult {
				name := fmt.Sprintf("web%02d", i)
				switch {
				case i == 7 || i == 9:
					return deploy.HostResult{Host: name, Current: "1337", Previous: "1336"}
				case i > 30:
					// The far half of the fleet, behind a switch that is down.
					return deploy.HostResult{Host: name, State: deploy.HostUnreachable,
						Error: fmt.Sprintf("ssh: %s (10.0.2.%d:22): host unreachable: dial tcp 10.0.2.%d:22: connect: no route to host", name, i, i)}
				}
				return deploy.HostResult{Host: name, Current: "1338", Previous: "1337"}
			},
			want: []string{"web07, web09: current 1337, previous 1336", "  unreachable: ssh: web31 (10.0.2.31:22): host unreachable", "15 more unreachable: web36, web37", "web50", "⚠ drift"},
		},
		{
			name: "every host unreadable, with a long error",
			hosts: func(i int) deploy.HostResult {
				return deploy.HostResult{Host: fmt.Sprintf("web%02d", i), State: deploy.HostFailed, Error: longErr}
			},
			want: []string{"web01: could not be read (inspect: sh: 1: readlink: Permission denied …)", "45 more could not be read: web06, web07", "web45 and 5 more"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			eng := observedEngine{Engine: f.eng}
			for i := 1; i <= 50; i++ {
				eng.hosts = append(eng.hosts, tt.hosts(i))
			}
			f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: eng, Store: f.store, Policy: f.policy})
			_, out, _ := f.do("carl", "status web")
			m := out.replies[len(out.replies)-1]
			lines := strings.Join(m.Lines, "\n")
			if n := len([]rune(lines)); n > 3000 {
				t.Errorf("status: got %d characters of lines, want at most 3000", n)
			}
			for _, want := range tt.want {
				if !strings.Contains(lines, want) {
					t.Errorf("status: got\n%s\nwant it to contain %q", truncateLines(lines, 3000), want)
				}
			}
		})
	}
}

// truncateLines cuts a long reply for a failure message.
func truncateLines(s string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("%s…(%d bytes)", s[:n], len(s))
	}
	return s
}

// TestLongRepliesFit: history and audit at their largest N fit in one
// message (Slack shows 3,000 characters of a section, Discord 4,096 of an
// embed) with whole lines, and say what they left out and how to see it,
// rather than being cut mid-line where the platform cuts them.
func TestLongRepliesFit(t *testing.T) {
	f := newServiceFixture(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for i := range 100 {
		r := &deploy.Record{ID: fmt.Sprintf("20261123-%06d-abcdef", i), Kind: deploy.KindDeploy, App: "web", Env: "prod",
			Build: fmt.Sprint(1000 + i), Previous: fmt.Sprint(999 + i), Requester: "bob", Outcome: deploy.OutcomeSucceeded,
			Started: start.Add(time.Duration(i) * time.Minute), Finished: start.Add(time.Duration(i)*time.Minute + 41*time.Second)}
		if err := f.store.PutRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		e := &audit.Entry{Time: start.Add(time.Duration(i) * time.Second), User: "bob", Platform: "slack", Channel: "C1", Decision: audit.Refused,
			Command: fmt.Sprintf("deploy web %d to prod --force %q", i, strings.Repeat("<incident> && write-up ", 8)), Reason: "web/prod is locked: locked by ana"}
		if err := f.store.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		text  string
		first string // the newest line, whole
		more  string
	}{
		{"history web prod 100", "20261123-000099-abcdef  web/prod  deploy 1099 (from 1098) succeeded by bob at 2026-11-23 13:39:00 UTC, 41s", "older deploys not shown"},
		{"audit 200", `"history web prod 100"`, "older entries not shown"},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			_, out, _ := f.do("ana", tt.text)
			m := out.replies[len(out.replies)-1]
			lines := strings.Join(m.Lines, "\n")
			// As Slack counts them, with '<', '>' and '&' escaped.
			escaped := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(lines)
			if n := len([]rune(escaped)); n > 3000 {
				t.Errorf("got %d characters of lines as Slack escapes them, want at most 3000", n)
			}
			if len(m.Lines) < 2 || !strings.Contains(m.Lines[0], tt.first) {
				t.Fatalf("got\n%s\nwant the first line to contain %q", truncateLines(lines, 3000), tt.first)
			}
			last := m.Lines[len(m.Lines)-1]
			if !strings.Contains(last, tt.more) {
				t.Errorf("got last line %q, want it to contain %q", last, tt.more)
			}
			for _, l := range m.Lines[:len(m.Lines)-1] {
				if strings.HasSuffix(l, "…") {
					t.Errorf("got a line cut short: %q", l)
				}
			}
		})
	}
}

// TestStatusLongLockReasons: locks whose reasons are as long as a command
// allows do not push the state of the apps out of /status.
func TestStatusLongLockReasons(t *testing.T) {
	f := newServiceFixture(t)
	reason := strings.TrimSpace(strings.Repeat("waiting for the vendor to confirm the fix ", 23))
	for _, text := range []string{"lock deploys " + reason, "lock deploys web " + reason, "lock deploys web prod " + reason} {
		if res, out, _ := f.do("ana", text); res.Failed {
			t.Fatalf("%q: got %q", text[:30], out.last())
		}
	}
	_, out, _ := f.do("carl", "status")
	m := out.replies[len(out.replies)-1]
	lines := strings.Join(m.Lines, "\n")
	if n := len([]rune(lines)); n > 3000 {
		t.Errorf("got %d characters of lines, want at most 3000", n)
	}
	for _, want := range []string{"🔒 all deploys: locked by ana", "🔒 web: locked by ana", "🔒 web/prod: locked by ana", "web/prod: never deployed by Switchman"} {
		if !strings.Contains(lines, want) {
			t.Errorf("got\n%s\nwant it to contain %q", truncateLines(lines, 3000), want)
		}
	}
}

// TestInterruptedFleetLine: the line of an interrupted deploy of a large
// fleet says what its hosts run by release, not host by host.
func TestInterruptedFleetLine(t *testing.T) {
	f := newServiceFixture(t)
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	r := &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "1338", Previous: "1337",
		Requester: "bob", Outcome: deploy.OutcomeInterrupted, Started: start, Finished: start.Add(time.Minute),
		Error: "the process running this deploy (bot-1) stopped before it finished; hosts are as observed at recovery"}
	for i := 1; i <= 50; i++ {
		h := deploy.HostResult{Host: fmt.Sprintf("web%02d", i), State: deploy.HostActive, Current: "1338", Previous: "1337"}
		if i > 20 {
			h.State, h.Current = deploy.HostUnchanged, "1337"
		}
		r.Hosts = append(r.Hosts, h)
	}
	if err := f.store.PutRecord(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	_, out, _ := f.do("carl", "history web")
	m := out.replies[len(out.replies)-1]
	if len(m.Lines) != 1 {
		t.Fatalf("got lines %q, want one", m.Lines)
	}
	want := "; hosts: 20 on 1338 (web01, web02, web03, web04, web05 and 15 more), 30 on 1337 (web21, web22, web23, web24, web25 and 25 more)"
	if !strings.HasSuffix(m.Lines[0], want) {
		t.Errorf("got %q, want it to end with %q", truncateLines(m.Lines[0], 400), want)
	}
}

// TestRefusalTitleIsOneLine: a refusal's title is its first line and the
// usage follows as lines: platforms show a title on one line (a Slack
// header or bold section, whose bold does not span lines; a Discord embed
// title, cut at 256 characters), so a usage inside it was lost or garbled.
func TestRefusalTitleIsOneLine(t *testing.T) {
	tests := []struct {
		text, title string
		lines       []string
	}{
		{"deploy web", "deploy needs a build after the app, e.g. deploy web 1337", []string{`usage: deploy APP BUILD [to ENV] [--dry-run] [--force "reason"]`}},
		{"status web prod", "status takes no env; " + suggest.Command("status web") + " shows every env of web", []string{"usage: status [APP]"}},
		{"frobnicate", `unknown command "frobnicate"; try "help" for the list of commands`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			f := newServiceFixture(t)
			res, out, _ := f.do("bob", tt.text)
			m := out.replies[len(out.replies)-1]
			if !res.Failed || m.Title != tt.title || !slices.Equal(m.Lines, tt.lines) {
				t.Errorf("got failed %v, title %q, lines %q; want a refusal titled %q with lines %q", res.Failed, m.Title, m.Lines, tt.title, tt.lines)
			}
			entries, err := f.store.Audit(context.Background(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			// The log keeps the words; a command's marks are the chat's.
			if want := suggest.Strip(strings.Join(append([]string{tt.title}, tt.lines...), "\n")); len(entries) != 1 || entries[0].Reason != want {
				t.Errorf("audit: got %+v, want one entry with the whole reason %q", entries, want)
			}
		})
	}
}

// TestLongRefusalTitle: a refusal whose first line is longer than a title
// may be (Discord cuts an embed's title at 256 characters, counting its
// markdown escapes) is titled with what comes before its first ": ", and
// the rest follows as a line, so that no part of it is lost.
func TestLongRefusalTitle(t *testing.T) {
	f := newServiceFixtureFrom(t, serviceYAML, &acl.Rules{
		Users:    []string{"ana", "bob", "carl"},
		Roles:    map[string][]acl.Action{"admin": {acl.Admin}},
		Bindings: []acl.Binding{{Role: "admin", Users: []string{"ana", "bob", "carl"}}},
	})
	user := "discord:80351110224678912"
	res, out, _ := f.do(user, "deploy web 1")
	m := out.replies[len(out.replies)-1]
	whole := strings.Join(append([]string{m.Title}, m.Lines...), ": ")
	if !res.Failed || len([]rune(m.Title)) > 240 || m.Title != user+" may not deploy web/prod" || !strings.HasSuffix(whole, "admins, help and whoami") {
		t.Errorf("got failed %v, title %q (%d characters), lines %q; want a refusal titled %q, all of it shown", res.Failed, m.Title, len([]rune(m.Title)), m.Lines, user+" may not deploy web/prod")
	}
}

// barrierEngine answers Observe only once every env of the app is being
// observed at the same time; an env observed alone waits for its deadline.
type barrierEngine struct {
	*deploy.Engine
	envs int
	mu   sync.Mutex
	seen int
	all  chan struct{}
}

func (e *barrierEngine) Observe(ctx context.Context, _, env string) ([]deploy.HostResult, error) {
	e.mu.Lock()
	if e.seen++; e.seen == e.envs {
		close(e.all)
	}
	e.mu.Unlock()
	select {
	case <-e.all:
		return []deploy.HostResult{{Host: env + "-1", Current: "2", Previous: "1"}}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestStatusObservesEnvsAtOnce: status APP reads the hosts of its envs at
// the same time, so that during an outage it waits for one timeout, not
// one per env.
func TestStatusObservesEnvsAtOnce(t *testing.T) {
	// Envs of one app on other machines than this one: on this one they
	// would deploy into the same directory.
	const ssh = "        transport: ssh\n        ssh: {user: deploy, agent: true, known_hosts: known_hosts}\n"
	yaml := strings.Replace(strings.Replace(serviceYAML, "path: srv/web", "path: /srv/web", 1), "    environments:\n      prod:\n        hosts: [localhost]\n",
		"    default_env: prod\n    environments:\n      prod:\n        hosts: [localhost]\n      staging:\n"+ssh+"        hosts: [staging-1]\n      canary:\n"+ssh+"        hosts: [canary-1]\n", 1)
	f := newServiceFixtureFrom(t, yaml, nil)
	eng := &barrierEngine{Engine: f.eng, envs: 3, all: make(chan struct{})}
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: eng, Store: f.store, Policy: f.policy})
	_, out, _ := f.do("carl", "status web")
	got := out.last()
	for _, want := range []string{"prod-1: current 2, previous 1", "staging-1: current 2, previous 1", "canary-1: current 2, previous 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("status: got\n%s\nwant it to contain %q", got, want)
		}
	}
}

// TestServiceHelpNamesConfiguredApp checks that help, as the service
// answers it, shows examples with an app and env of the configuration
// rather than the grammar's placeholders.
func TestServiceHelpNamesConfiguredApp(t *testing.T) {
	f := newServiceFixture(t)
	res, out, _ := f.do("carl", "help rollback")
	got := out.last()
	if res.Failed || !strings.Contains(got, "\n    rollback web\n    rollback web prod to 1336\n") || strings.Contains(got, "accounting") {
		t.Errorf("help rollback: got failed=%v reply %q, want the examples with web and prod", res.Failed, got)
	}
}

// TestAuditKeepsWholeCharactersOfALongRefusedCommand: the audit entry of
// a command refused as too long keeps its first commands.MaxCommandLen
// bytes, cut between characters: a character cut in two would be stored
// as U+FFFD.
func TestAuditKeepsWholeCharactersOfALongRefusedCommand(t *testing.T) {
	tests := []struct {
		name, text string
	}{
		{name: "ascii", text: strings.Repeat("x", 1200)},
		{name: "a two-byte character across the cut", text: "a" + strings.Repeat("ż", 600)},
		{name: "a four-byte character across the cut", text: "ab" + strings.Repeat("🙂", 300)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			if res, out, _ := f.do("bob", tt.text); !res.Failed {
				t.Fatalf("got %q, want a refusal", out.last())
			}
			entries, err := f.store.Audit(context.Background(), audit.Query{})
			if err != nil || len(entries) != 1 {
				t.Fatalf("audit: got %d entries, %v; want 1", len(entries), err)
			}
			got := entries[0].Command
			kept := strings.TrimSuffix(got, "…")
			if strings.ContainsRune(got, utf8.RuneError) || !strings.HasPrefix(tt.text, kept) || len(kept) > commands.MaxCommandLen || len(kept) < commands.MaxCommandLen-3 {
				t.Errorf("got %q (%d bytes kept), want the text's first whole characters within %d bytes", got, len(kept), commands.MaxCommandLen)
			}
		})
	}
}
