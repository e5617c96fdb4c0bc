package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/ratelog"
)

// TestServeRefusalLogLimited: requests with a bad signature, which anyone
// who reaches the listener can send, are each refused and counted in the
// metrics, but the log has at most one line per endpoint kind per
// ratelog.DefaultEvery, the first of them at once, and the lines held
// back are all accounted for by the time the bot has stopped.
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
	// may come before the bot stops, or else when it stops: the time
	// that bounds the lines runs until the log is read, and one line
	// more may come at the stop.
	log, took := bot.stderr.String(), time.Since(start)
	most := 2 + int(took/ratelog.DefaultEvery)
	suppressed := regexp.MustCompile(` suppressed=(\d+)`)
	for _, e := range endpoints {
		var lines, refusals int
		for l := range strings.Lines(log) {
			if !strings.Contains(l, e.logged) {
				continue
			}
			lines++
			refusals++
			if m := suppressed.FindStringSubmatch(l); m != nil {
				held, _ := strconv.Atoi(m[1])
				refusals += held
			}
		}
		if lines < 1 || lines > most {
			t.Errorf("%s: %d refusals in %v logged %d times, want 1 to %d\n%s", e.path, n, took, lines, most, log)
		}
		if refusals != n {
			t.Errorf("%s: the lines and their suppressed= add up to %d refusals, want all %d\n%s", e.path, refusals, n, log)
		}
	}
}
