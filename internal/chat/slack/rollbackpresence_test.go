package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

const slowPresenceYAML = `users:
  ana: {slack: UANA}
  bob: {slack: UBOB}
admins: [ana]
deployers: [bob]
slack:
  signing_secret: %s
  bot_token: xoxb-test
  api_url: %s
apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
        window: {require_admin_present: true}
`

// slowPresence is a Slack Web API whose users.getPresence answers "away"
// only once released: Slack holding the bot back under its rate limits.
type slowPresence struct {
	srv     *httptest.Server
	asked   chan struct{} // closed at the first users.getPresence
	release chan struct{}
	gone    chan struct{} // closed once the bot gave up a users.getPresence before its release
	once    sync.Once
	goneOne sync.Once
}

func newSlowPresence(t *testing.T) *slowPresence {
	t.Helper()
	p := &slowPresence{asked: make(chan struct{}), release: make(chan struct{}), gone: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/users.getPresence") {
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "unknown_method"})
			return
		}
		p.once.Do(func() { close(p.asked) })
		select {
		case <-p.release:
		case <-r.Context().Done():
			p.goneOne.Do(func() { close(p.gone) })
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "presence": "away"})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// events is a commands.Output that passes each progress event on.
type events struct {
	mu      sync.Mutex
	replies []chat.Message
	ch      chan deploy.Event
}

func (e *events) Reply(m chat.Message) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.replies = append(e.replies, m)
}

func (e *events) Progress(ev deploy.Event) { e.ch <- ev }

// TestRollbackStartsWithoutWaitingForSlackPresence: a rollback of an env
// that needs an admin around says whether one is, which reads each
// admin's Slack presence; under Slack's rate limits that takes seconds,
// and a rollback is the fast path. The rollback starts while Slack has
// not answered yet, and its reply still says what the window is.
func TestRollbackStartsWithoutWaitingForSlackPresence(t *testing.T) {
	dir := t.TempDir()
	slow := newSlowPresence(t)
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), fmt.Appendf(nil, slowPresenceYAML, testSecret, slow.srv.URL+"/"), nil)
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
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	svc := commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy, Presence: slack.NewPresence(cfg, nil, log), Log: log})
	for _, b := range []string{"1", "2"} {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-"+b+".tar.gz"), tgz(t, map[string]string{"BUILD": b}))
	}
	do := func(user, text string) (commands.Outcome, *events) {
		t.Helper()
		out := &events{ch: make(chan deploy.Event, 256)}
		return svc.Handle(context.Background(), commands.Request{User: user, Platform: "slack", Channel: "C1", Text: text}, out), out
	}
	// Deployed with ana checked in, which needs no Slack.
	if res, out := do("ana", "here"); res.Failed {
		t.Fatalf("here: %+v", out.replies)
	}
	for _, b := range []string{"1", "2"} {
		res, out := do("bob", "deploy web "+b)
		if res.Failed {
			t.Fatalf("deploy %s: %+v", b, out.replies)
		}
		waitFinished(t, out.ch)
	}
	if res, out := do("ana", "away"); res.Failed {
		t.Fatalf("away: %+v", out.replies)
	}

	type result struct {
		res commands.Outcome
		out *events
	}
	done := make(chan result, 1)
	out := &events{ch: make(chan deploy.Event, 256)}
	go func() {
		res := svc.Handle(context.Background(), commands.Request{User: "bob", Platform: "slack", Channel: "C1", Text: "rollback web"}, out)
		done <- result{res, out}
	}()
	select {
	case <-slow.asked:
	case <-time.After(10 * time.Second):
		t.Fatal("the rollback did not ask Slack for ana's presence")
	}
	// Slack holds the presence back until the rollback is under way: a
	// rollback that waited for the answer starts only once the bot gives
	// the check up (its own bound), which the server sees first.
	select {
	case ev := <-out.ch:
		t.Logf("first progress event %v, Slack still holding ana's presence", ev.Kind)
	case <-slow.gone:
		close(slow.release)
		<-done
		t.Fatalf("the bot gave up the presence check before the rollback started, want the rollback started without waiting for it")
	case <-time.After(time.Minute):
		close(slow.release)
		<-done
		t.Fatalf("the rollback did not start while Slack held back ana's presence")
	}
	close(slow.release)
	r := <-done
	if r.res.Failed {
		t.Fatalf("rollback: got refused %+v, want it to run", r.out.replies)
	}
	reply := chat.Text(r.out.replies[len(r.out.replies)-1])
	// Released once the rollback was under way, Slack's answer came in
	// time: a rollback that waited for it first, until the bot gave up,
	// says ana's presence is unknown.
	if strings.Contains(reply, "presence of ana unknown") {
		t.Errorf("reply: got %q, want ana's presence read once the rollback had started, not given up before it", reply)
	}
	for _, want := range []string{"Rolling back web/prod from 2 to 1", "rolling back although deploys to web/prod are closed now: no admin is around"} {
		if !strings.Contains(reply, want) {
			t.Errorf("reply: got %q, want it to say %q", reply, want)
		}
	}
	if rec := waitFinished(t, out.ch); rec.Outcome != deploy.OutcomeSucceeded {
		t.Errorf("rollback: got %s %s, want succeeded", rec.Outcome, rec.Error)
	}
}

// waitFinished waits for the finished event among ch's and returns its
// record.
func waitFinished(t *testing.T, ch <-chan deploy.Event) *deploy.Record {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev := <-ch:
			if ev.Kind == deploy.EventFinished {
				return ev.Record
			}
		case <-deadline:
			t.Fatal("the run did not finish within 30 s")
			return nil
		}
	}
}
