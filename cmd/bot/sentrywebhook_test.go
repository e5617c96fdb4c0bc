package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/sentry"
)

// TestServeSentryWebhookReplays: the Sentry webhook as the bot mounts it,
// its duplicate check in the bot's store. A signed issue alert is posted
// once to its env's channel, and not again when the same body comes back,
// under its own Sentry-Hook-Resource or another; a signed alert dated
// hours ago (a captured delivery sent again once the store has forgotten
// it) is not posted at all.
func TestServeSentryWebhookReplays(t *testing.T) {
	const secret = "hook-secret"
	t.Setenv("TEST_SLACK_SIGNING_SECRET", "serve-test-secret")
	api := newSlackAPI(t)
	dir, addr := t.TempDir(), freePort(t)
	cfg := filepath.Join(dir, "switchman.yaml")
	y := fmt.Sprintf(serveYAML, addr, api.srv.URL+"/api/", api.srv.URL+"/discord/")
	y = strings.Replace(y, "apps:\n", "sentry:\n  url: http://127.0.0.1:9\n  org: acme\n  token: sntrys-test\n  webhook_secret: "+secret+"\napps:\n", 1)
	y = strings.Replace(y, "        hosts: [localhost]\n", "        hosts: [localhost]\n        channel: C1\n        sentry: {project: web}\n", 1)
	if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	bot := serveBot(t, cfg, addr)

	// alert is an issue alert as Sentry sends it, for an event of web/prod
	// Sentry received at received.
	alert := func(id string, received time.Time) []byte {
		return fmt.Appendf(nil, `{"action":"triggered","actor":{"id":"sentry","name":"Sentry","type":"application"},`+
			`"data":{"event":{"event_id":%q,"title":"TypeError: %s","level":"error","environment":"prod","received":%.3f,`+
			`"url":"https://sentry.example/api/0/projects/acme/web/events/%s/","web_url":"https://sentry.example/organizations/acme/issues/1/events/%s/"},`+
			`"triggered_rule":"errors"},"installation":{"uuid":"a8e5d37a"}}`,
			id, id, float64(received.UnixMilli())/1000, id, id)
	}
	fresh, old := alert("fresh", time.Now()), alert("old", time.Now().Add(-2*time.Hour))
	for i, d := range []struct {
		resource string
		body     []byte
		status   int
	}{
		// First, as the refusals of signed bodies share one log line per
		// 5 s, and the test looks for the reason of this one.
		{sentry.ResourceEventAlert, old, http.StatusNoContent},
		{sentry.ResourceEventAlert, fresh, http.StatusNoContent},
		{sentry.ResourceIssue, fresh, http.StatusBadRequest},
		{sentry.ResourceMetricAlert, fresh, http.StatusBadRequest},
		{sentry.ResourceEventAlert, fresh, http.StatusNoContent},
	} {
		req, err := http.NewRequest(http.MethodPost, bot.base+"/sentry/webhook", bytes.NewReader(d.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(sentry.ResourceHeader, d.resource)
		req.Header.Set(sentry.SignatureHeader, hmacHex(secret, d.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != d.status {
			t.Errorf("delivery %d (%s): got %s, want %d", i, d.resource, resp.Status, d.status)
		}
	}
	// The bot routes every alert it took before it stops.
	if err := bot.stop(t); err != nil {
		t.Errorf("serve: %v", err)
	}
	var posted []string
	for _, c := range api.calls() {
		if strings.HasPrefix(c, "chat.postMessage C1: ") && strings.Contains(c, "Sentry") {
			posted = append(posted, c)
		}
	}
	if len(posted) != 1 || !strings.Contains(posted[0], "TypeError: fresh") {
		t.Errorf("posted to C1: got %q, want the fresh alert once\nlog:\n%s", posted, bot.stderr.String())
	}
	log := bot.stderr.String()
	for _, want := range []string{"delivered before; dropped", "too long ago to tell from a replay"} {
		if !strings.Contains(log, want) {
			t.Errorf("log: want a line saying %q\n%s", want, log)
		}
	}
}

// hmacHex is the Sentry-Hook-Signature of body: its HMAC-SHA256 keyed with
// the integration's client secret, in hex.
func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
