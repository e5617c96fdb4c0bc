package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/ratelog"
)

// TestServeRefusalLogLimited: requests with a bad signature, which anyone
// who reaches the listener can send, are each refused and counted in the
// metrics, but the log has at most one line per endpoint kind per
// ratelog.DefaultEvery, the first of them at once (the last of the lines
// held back may follow).
func TestServeRefusalLogLimited(t *testing.T) {
	t.Setenv("TEST_SLACK_SIGNING_SECRET", "serve-test-secret")
	api := newSlackAPI(t)
	dir, addr := t.TempDir(), freePort(t)
	cfg := filepath.Join(dir, "switchman.yaml")
	y := fmt.Sprintf(serveYAML, addr, api.srv.URL+"/api/", api.srv.URL+"/discord/")
	y = strings.Replace(y, "apps:\n", "sentry:\n  url: http://127.0.0.1:9\n  org: acme\n  token: sntrys-test\n  webhook_secret: hook-secret\napps:\n", 1)
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	bot := serveBot(t, cfg, addr)

	const n = 20
	endpoints := []struct{ path, logged string }{
		{"/slack/commands", "refused a slack request"},
		{"/discord/interactions", "discord interaction refused"},
		{"/sentry/webhook", "sentry webhook: bad or missing signature"},
	}
	start := time.Now()
	for _, e := range endpoints {
		for i := range n {
			resp, err := http.Post(bot.base+e.path, "application/json", strings.NewReader(`{"type":1}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("%s, request %d: got %s, want 401", e.path, i, resp.Status)
			}
		}
	}
	pollHTTP(t, bot.base+"/metrics", func(code int, body string) bool {
		for _, e := range endpoints {
			if !strings.Contains(body, fmt.Sprintf(`switchman_http_requests_total{code="401",handler="POST %s"} %d`, e.path, n)) {
				return false
			}
		}
		return true
	})
	if err := bot.stop(t); err != nil {
		t.Errorf("serve: %v", err)
	}
	// The last line held back is written when its window ends, which
	// may come before the bot stops: the time that bounds the lines
	// runs until the log is read.
	log, took := bot.stderr.String(), time.Since(start)
	most := 1 + int(took/ratelog.DefaultEvery)
	for _, e := range endpoints {
		if got := strings.Count(log, e.logged); got < 1 || got > most {
			t.Errorf("%s: %d refusals in %v logged %d times, want 1 to %d\n%s", e.path, n, took, got, most, log)
		}
	}
}
