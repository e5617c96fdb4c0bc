package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat/slack"
)

// TestServeHealthzWhileStarting: a start held up by Slack, slow to answer
// auth.test (the token check waits up to 15 s), answers /healthz at once
// with 503 "starting", which a probe that gives up after 1 s (as
// Kubernetes' does) gets, rather than no answer; /metrics answers 503 as
// well. A slash command sent meanwhile waits and runs once the bot has
// started, which then answers /healthz 200.
func TestServeHealthzWhileStarting(t *testing.T) {
	const secret = "starting-secret"
	t.Setenv("TEST_SLACK_SIGNING_SECRET", secret)
	asked, release := make(chan struct{}), make(chan struct{})
	var once, releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		if strings.TrimPrefix(r.URL.Path, "/api/") == "auth.test" {
			once.Do(func() { close(asked) })
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "user_id": "UBOT", "team_id": "T1"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": "1700000000.000100"})
	}))
	t.Cleanup(api.Close)
	dir, addr := t.TempDir(), freePort(t)
	yaml := fmt.Sprintf("bot:\n  listen: %s\nstore:\n  path: state.db\nusers:\n  bob: {slack: UBOB}\nslack:\n  signing_secret: ${TEST_SLACK_SIGNING_SECRET}\n  bot_token: xoxb-test\n  api_url: %s\n"+
		"apps:\n  web:\n    artifact: {path: 'artifacts/{app}-{build}.tar.gz'}\n    path: srv/web\n    restart: 'true'\n    environments:\n      prod:\n        hosts: [localhost]\n",
		addr, api.URL+"/api/")
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	bot := startServe(t, cfg, addr)
	select {
	case <-asked:
	case err := <-bot.done:
		t.Fatalf("serve ended before asking Slack for its token: %v\n%s", err, bot.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the bot never asked Slack for its token; log:\n%s", bot.stderr.String())
	}

	prober := &http.Client{Timeout: time.Second}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := prober.Get(bot.base + path)
		if err != nil {
			t.Fatalf("%s while the start waits on Slack: %v, want an answer within 1 s", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "starting") {
			t.Errorf("%s while the start waits on Slack: got %d %s, want 503 starting", path, resp.StatusCode, b)
		}
		if want := `{"status":"starting","store":"unchecked"}`; path == "/healthz" && strings.TrimSpace(string(b)) != want {
			t.Errorf("/healthz while the start waits on Slack: got %s, want %s", b, want)
		}
	}

	type answer struct {
		code int
		body string
	}
	whoami := make(chan answer, 1)
	go func() {
		body := url.Values{"command": {"/switchman"}, "text": {"whoami"}, "user_id": {"UBOB"}, "channel_id": {"C1"}, "trigger_id": {"T-start"}}.Encode()
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req, _ := http.NewRequest(http.MethodPost, bot.base+"/slack/commands", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", slack.Sign(secret, ts, []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			whoami <- answer{0, err.Error()}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		whoami <- answer{resp.StatusCode, string(b)}
	}()
	select {
	case a := <-whoami:
		t.Fatalf("a slash command while starting: got %d %s, want it to wait for the bot", a.code, a.body)
	case <-time.After(200 * time.Millisecond):
	}
	releaseOnce.Do(func() { close(release) })
	select {
	case a := <-whoami:
		if a.code != http.StatusOK || !strings.Contains(a.body, "working on it") {
			t.Errorf("the slash command that waited for the start: got %d %s, want 200 working on it", a.code, a.body)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the slash command that waited was not answered once the bot started; log:\n%s", bot.stderr.String())
	}
	pollHTTP(t, bot.base+"/healthz", func(code int, body string) bool {
		return code == http.StatusOK && strings.Contains(body, `"store":"ok"`)
	})
	if err := bot.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
}
