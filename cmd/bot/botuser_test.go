package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServeLearnsTheSlackBotUserLater: Slack failing auth.test at
// start-up leaves the bot without its member ID, so a slash command that
// starts with the bot's mention is refused; the bot asks again in the
// background and, once Slack answers, runs it without a restart.
func TestServeLearnsTheSlackBotUserLater(t *testing.T) {
	const secret = "botuser-secret"
	t.Setenv("TEST_SLACK_SIGNING_SECRET", secret)
	var mu sync.Mutex
	var authTests int
	var posted []string // texts of ephemeral replies
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		mu.Lock()
		defer mu.Unlock()
		switch strings.TrimPrefix(r.URL.Path, "/api/") {
		case "auth.test":
			authTests++
			if authTests == 1 {
				json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "fatal_error"})
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "user_id": "UBOT", "team_id": "T1"})
		case "chat.postEphemeral":
			posted = append(posted, r.Form.Get("text"))
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "message_ts": "1700000000.000200"})
		default:
			json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.Form.Get("channel"), "ts": "1700000000.000100"})
		}
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
	bot := serveBot(t, cfg, addr)
	whoami := func(trigger string) string {
		t.Helper()
		mu.Lock()
		seen := len(posted)
		mu.Unlock()
		body := url.Values{"command": {"/switchman"}, "text": {"<@UBOT> whoami"}, "user_id": {"UBOB"}, "channel_id": {"C1"}, "trigger_id": {trigger}}.Encode()
		resp := postSlash(t, bot.base, secret, body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/slack/commands: got %s, want 200", resp.Status)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			if len(posted) > seen {
				reply := posted[seen]
				mu.Unlock()
				return reply
			}
			mu.Unlock()
			if time.Now().After(deadline) {
				t.Fatalf("no reply to whoami; log:\n%s", bot.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if reply := whoami("T-before"); !strings.Contains(reply, "nothing was run") {
		t.Errorf("before Slack named the bot: got %q, want the command refused", reply)
	}
	// The bot logs the member ID once it holds it: auth.test being asked
	// again says only that its answer is on its way.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(bot.stderr.String(), "learnt the bot's member ID") {
		if time.Now().After(deadline) {
			mu.Lock()
			n := authTests
			mu.Unlock()
			t.Fatalf("the bot did not learn its member ID (auth.test asked %d times); log:\n%s", n, bot.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if reply := whoami("T-after"); strings.Contains(reply, "nothing was run") || !strings.Contains(reply, "bob") {
		t.Errorf("once Slack named the bot: got %q, want whoami's answer for bob", reply)
	}
	if err := bot.stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if log := bot.stderr.String(); !strings.Contains(log, "learnt the bot's member ID") || strings.Contains(log, "xoxb-test") {
		t.Errorf("log: got\n%s\nwant the member ID learnt, and no token", log)
	}
}
