package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/config"
)

// sentryOnlyYAML is a bot with Sentry and no chat platform; its arguments
// are the listen address and the sentry section's further keys.
const sentryOnlyYAML = `bot:
  listen: %s
store:
  path: state.db
sentry:
  url: http://127.0.0.1:9
  org: acme
  token: sntrys-test
%s
apps:
  web:
    artifact:
      path: artifacts/{app}-{build}.tar.gz
    path: srv/web
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
        sentry: {project: web}
`

// TestSentryWebhookOff: an empty sentry.webhook_secret (the reference
// config's ${SENTRY_CLIENT_SECRET:-} unset) keeps /sentry/webhook off, and
// says so: the start-up logs it, check-config prints a note, and a
// delivery is answered 404 saying the webhook is off. With a secret the
// endpoint is on and nothing is said.
func TestSentryWebhookOff(t *testing.T) {
	tests := []struct {
		name    string
		secret  string // the sentry section's webhook_secret line
		status  int
		off     bool
		bodyHas string
	}{
		{"no webhook_secret", "", http.StatusNotFound, true, "sentry webhook is off"},
		{"empty from the environment", "  webhook_secret: ${TEST_SENTRY_CLIENT_SECRET_UNSET:-}", http.StatusNotFound, true, "sentry webhook is off"},
		{"set", "  webhook_secret: hook-secret", http.StatusUnauthorized, false, "bad signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, addr := t.TempDir(), freePort(t)
			cfg := filepath.Join(dir, "switchman.yaml")
			if err := os.WriteFile(cfg, fmt.Appendf(nil, sentryOnlyYAML, addr, tt.secret), 0o644); err != nil {
				t.Fatal(err)
			}

			out, err := runBot(t, "", "-config", cfg, "check-config")
			if err != nil {
				t.Fatalf("check-config: %v\n%s", err, out)
			}
			if got := strings.Contains(out, "note: "+config.WebhookOffNote); got != tt.off {
				t.Errorf("check-config printed the note: got %v, want %v\n%s", got, tt.off, out)
			}

			bot := serveBot(t, cfg, addr)
			resp, err := http.Post(bot.base+"/sentry/webhook", "application/json", strings.NewReader(`{"action":"created","data":{}}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.bodyHas) {
				t.Errorf("POST /sentry/webhook: got %d %q, want %d containing %q", resp.StatusCode, body, tt.status, tt.bodyHas)
			}
			if err := bot.stop(t); err != nil {
				t.Errorf("serve: %v", err)
			}
			log := bot.stderr.String()
			if got := strings.Contains(log, `level=INFO msg="`+config.WebhookOffNote+`"`); got != tt.off {
				t.Errorf("the start-up logged the webhook off: got %v, want %v\n%s", got, tt.off, log)
			}
		})
	}
}
