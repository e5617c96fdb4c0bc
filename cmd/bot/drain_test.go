package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/audit"
)

// drainYAML is a bot serving Slack (signing secret drain-secret) and
// Sentry that deploys web to localhost. Its arguments are the listen
// address, the Slack and Sentry API URLs, the restart, and the prod env's
// further keys (indented as they are).
const drainYAML = `bot:
  listen: %s
store:
  path: state.db
users:
  bob: {slack: UBOB}
deployers: [bob]
slack:
  signing_secret: drain-secret
  bot_token: xoxb-test
  api_url: %s
sentry:
  url: %s
  org: acme
  token: sntrys-test
apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: %s
    environments:
      prod:
        hosts: [localhost]
%s`

// TestDeployFinishingDuringDrainIsRegistered: a deploy that is restarting
// its app when the bot is told to stop finishes during the drain and is
// still registered with Sentry; the channel hears that its watch stopped
// with the bot (paused, for the next bot to resume), not that Sentry
// could not be reached.
func TestDeployFinishingDuringDrainIsRegistered(t *testing.T) {
	api := newSlackAPI(t)
	var mu sync.Mutex
	var sentryCalls []string
	sentrySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sentryCalls = append(sentryCalls, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(r.URL.Path, "events-stats"):
			// Unanswered until the watch gives up on it: a watch that
			// could read its baseline before the bot closed the watches
			// would end by itself ("inconclusive"), not by the shutdown.
			<-r.Context().Done()
			return
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/0/projects/"):
			// The watch looks its project up first: an answer without
			// an id would end it at once, as inconclusive, too.
			io.WriteString(w, `{"id": "42"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{}`)
	}))
	defer sentrySrv.Close()
	called := func(sub string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range sentryCalls {
			if strings.Contains(c, sub) {
				return true
			}
		}
		return false
	}
	dir, addr := t.TempDir(), freePort(t)
	artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-1.tar.gz"), tarballOf(t, "1"))
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, drainYAML, addr, api.srv.URL+"/api/", sentrySrv.URL, "'sleep 2'", "        sentry: {project: web}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	bot := serveBot(t, cfg, addr)
	postSlash(t, bot.base, "drain-secret", slashBody("web 1", "T1")).Body.Close()
	// The release is created as the deploy starts; the restart then takes
	// 2 s, during which the bot is told to stop.
	deadline := time.Now().Add(20 * time.Second)
	for !called("/releases/") {
		if time.Now().After(deadline) {
			t.Fatalf("no release created; log:\n%s", bot.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := bot.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !hasCallPrefix(api.calls(), "chat.update C1: ✔ Deploy ") {
		t.Errorf("the deploy did not finish during the drain; calls %q", api.calls())
	}
	if !called("/deploys/") {
		t.Errorf("the deploy was never registered with Sentry; calls %v", sentryCalls)
	}
	for _, c := range api.calls() {
		if strings.Contains(c, "Sentry could not") {
			t.Errorf("the channel was told Sentry failed: %q", c)
		}
	}
	if !hasCall(api.calls(), "the bot is shutting down") {
		t.Errorf("the channel was not told the watch stopped with the bot; calls %q", api.calls())
	}
}

func hasCall(calls []string, sub string) bool {
	for _, c := range calls {
		if strings.Contains(c, sub) {
			return true
		}
	}
	return false
}

// spikingSentry is a Sentry whose error count jumps once the release of
// build 2 is created (unless manual: once spike is called): none a second
// before, 10 a second after.
type spikingSentry struct {
	srv       *httptest.Server
	manual    bool
	mu        sync.Mutex
	spikeFrom time.Time
	reads     []time.Time // the starts of the reads of error counts
}

// spike makes the error count jump from now on.
func (s *spikingSentry) spike() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spikeFrom = time.Now().Truncate(time.Second)
}

// readsFrom returns how many reads of error counts started at or after t.
func (s *spikingSentry) readsFrom(t time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.reads {
		if !r.Before(t) {
			n++
		}
	}
	return n
}

func newSpikingSentry(t *testing.T) *spikingSentry {
	t.Helper()
	s := &spikingSentry{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *spikingSentry) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/releases/"):
		var body struct {
			Version string `json:"version"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		if strings.HasSuffix(body.Version, "@2") && !s.manual {
			s.spike()
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{}`)
	case strings.HasSuffix(r.URL.Path, "/deploys/"):
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{}`)
	case strings.HasPrefix(r.URL.Path, "/api/0/projects/"):
		io.WriteString(w, `{"id": "42", "slug": "web"}`)
	case strings.HasSuffix(r.URL.Path, "/events-stats/"):
		q := r.URL.Query()
		start, _ := time.Parse("2006-01-02T15:04:05", q.Get("start"))
		end, _ := time.Parse("2006-01-02T15:04:05", q.Get("end"))
		iv, _ := time.ParseDuration(q.Get("interval"))
		s.mu.Lock()
		from := s.spikeFrom
		s.reads = append(s.reads, start)
		s.mu.Unlock()
		data := []any{}
		for b := start.Truncate(iv); iv > 0 && !b.Add(iv).After(end); b = b.Add(iv) {
			n := 0
			if !from.IsZero() && !b.Before(from) {
				n = 10
			}
			data = append(data, []any{b.Unix(), []any{map[string]any{"count": n}}})
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	case strings.HasSuffix(r.URL.Path, "/issues/"):
		io.WriteString(w, `[]`)
	default:
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"detail": "not found"}`)
	}
}

// TestAutomaticRollbackFinishingDuringDrain: an error spike after build 2
// rolls it back by itself, and the bot is told to stop while the rollback
// restarts the app. The rollback finishes during the drain, and how it
// ended is in the audit log and the channel before the bot exits.
func TestAutomaticRollbackFinishingDuringDrain(t *testing.T) {
	api := newSlackAPI(t)
	sn := newSpikingSentry(t)
	dir, addr := t.TempDir(), freePort(t)
	restarts := filepath.Join(dir, "restarts")
	for _, b := range []string{"1", "2"} {
		artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-"+b+".tar.gz"), tarballOf(t, b))
	}
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, drainYAML, addr, api.srv.URL+"/api/", sn.srv.URL, "'echo restart >> "+restarts+"; sleep 2'",
		"        channel: C-PROD\n        sentry: {project: web, interval: 1s, consecutive: 1, auto_rollback: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	bot := serveBot(t, cfg, addr)
	deploy := func(build, trigger string) {
		t.Helper()
		postSlash(t, bot.base, "drain-secret", slashBody("web "+build, trigger)).Body.Close()
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s never happened; calls %q\nlog:\n%s", what, api.calls(), bot.stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	restarted := func(n int) func() bool {
		return func() bool {
			b, _ := os.ReadFile(restarts)
			return strings.Count(string(b), "restart") >= n
		}
	}

	deploy("1", "T1")
	waitFor("the deploy of build 1", func() bool { return hasCallPrefix(api.calls(), "chat.update C-PROD: ✔ Deploy ") })
	deploy("2", "T2")
	// The third restart is the rollback's: its 2 s are the bot's to drain.
	waitFor("the automatic rollback's restart", restarted(3))
	stopped := time.Now()
	if err := bot.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	calls := api.calls()
	if !hasCall(calls, "auto_rollback is on for web/prod: rolling back now") {
		t.Fatalf("no automatic rollback; calls %q\nlog:\n%s", calls, bot.stderr.String())
	}
	if !hasCall(calls, "Rolled back web/prod to 1 by itself (succeeded)") {
		t.Errorf("the channel was not told how the automatic rollback ended; calls %q", calls)
	}
	out, err := runBot(t, "", "audit", "-config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ends []audit.Entry
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		if strings.HasPrefix(e.Reason, "automatic rollback ") && strings.Contains(e.Reason, " finished: succeeded") {
			ends = append(ends, e)
		}
	}
	if len(ends) != 1 {
		t.Fatalf("the audit log has the automatic rollback's outcome %d times, want once:\n%s", len(ends), out)
	}
	if !ends[0].Time.After(stopped) {
		t.Errorf("the automatic rollback ended at %s, before the bot was told to stop (%s): nothing was drained", ends[0].Time, stopped)
	}
}
