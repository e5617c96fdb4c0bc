package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/sentry"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
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

	fresh, old := issueAlert("fresh", time.Now()), issueAlert("old", time.Now().Add(-2*time.Hour))
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

// issueAlert is an issue alert as Sentry sends it, for an event of
// web/prod Sentry received at received.
func issueAlert(id string, received time.Time) []byte {
	return fmt.Appendf(nil, `{"action":"triggered","actor":{"id":"sentry","name":"Sentry","type":"application"},`+
		`"data":{"event":{"event_id":%q,"title":"TypeError: %s","level":"error","environment":"prod","received":%.3f,`+
		`"url":"https://sentry.example/api/0/projects/acme/web/events/%s/","web_url":"https://sentry.example/organizations/acme/issues/1/events/%s/"},`+
		`"triggered_rule":"errors"},"installation":{"uuid":"a8e5d37a"}}`,
		id, id, float64(received.UnixMilli())/1000, id, id)
}

// lateStore is a state store whose SetOnceToken, while late is set, does
// its work and then fails as one whose answer came too late, or was lost.
type lateStore struct {
	stateStore
	late atomic.Bool
}

func (s *lateStore) SetOnceToken(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	ok, err := s.stateStore.SetOnceToken(ctx, key, token, ttl)
	if err == nil && s.late.Load() {
		return false, fmt.Errorf("set once %s: %w", key, context.DeadlineExceeded)
	}
	return ok, err
}

// TestSentryWebhookResendAfterLateStore: the Sentry webhook as the bot
// wires it to each store. A delivery refused with 503 because the store
// answered too late, though it had remembered the key, is taken when
// Sentry sends it again, and dropped the time after.
func TestSentryWebhookResendAfterLateStore(t *testing.T) {
	// opened is the store s opened, closed at the test's end.
	opened := func(t *testing.T, s stateStore, err error) stateStore {
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	for _, tc := range []struct {
		name string
		open func(t *testing.T) stateStore
	}{
		{"embedded", func(t *testing.T) stateStore {
			s, err := embedded.Open(filepath.Join(t.TempDir(), "switchman.db"), embedded.Options{})
			return opened(t, s, err)
		}},
		{"redis", func(t *testing.T) stateStore {
			s, err := redis.Open(t.Context(), redis.Options{URL: redisserver.Start(t).URL(), Prefix: "switchman-test:"})
			return opened(t, s, err)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const secret = "hook-secret"
			store := &lateStore{stateStore: tc.open(t)}
			var alerts atomic.Int32
			h := sentryWebhook(secret, store, func(sentry.Alert) { alerts.Add(1) })
			body := issueAlert("late", time.Now())
			for i, d := range []struct {
				late   bool
				status int
				alerts int32
			}{
				{true, http.StatusServiceUnavailable, 0},
				{false, http.StatusNoContent, 1}, // Sentry's resend
				{false, http.StatusNoContent, 1},
			} {
				store.late.Store(d.late)
				req := httptest.NewRequest(http.MethodPost, "/sentry/webhook", bytes.NewReader(body))
				req.Header.Set(sentry.ResourceHeader, sentry.ResourceEventAlert)
				req.Header.Set(sentry.SignatureHeader, hmacHex(secret, body))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != d.status || alerts.Load() != d.alerts {
					t.Errorf("delivery %d: got %d, %d alerts so far; want %d, %d", i, rec.Code, alerts.Load(), d.status, d.alerts)
				}
			}
		})
	}
}

// hmacHex is the Sentry-Hook-Signature of body: its HMAC-SHA256 keyed with
// the integration's client secret, in hex.
func hmacHex(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// TestSentryWebhookSaysWhyTheStoreFailed: a delivery refused with 503
// because its duplicate check failed is answered why, as chat is: a Redis
// that refuses writes, a store closed as the bot stops, one that cannot
// be reached. It always said "state store unreachable". Sentry shows the
// answer outside the team running the bot, so it names no host or port.
func TestSentryWebhookSaysWhyTheStoreFailed(t *testing.T) {
	for _, tc := range []struct {
		name string
		// spoil breaks the store; it is closed at the test's end.
		spoil func(t *testing.T, srv *redisserver.Server, s stateStore)
		want  string
	}{
		{"refuses writes", func(t *testing.T, srv *redisserver.Server, _ stateStore) {
			rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
			defer rdb.Close()
			if err := rdb.ConfigSet(t.Context(), "maxmemory", "1").Err(); err != nil {
				t.Fatal(err)
			}
		}, "state store refused the duplicate check; the bot's log says why"},
		{"closed", func(t *testing.T, _ *redisserver.Server, s stateStore) {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}, "Switchman is stopping, so its state store is closed"},
		{"unreachable", func(_ *testing.T, srv *redisserver.Server, _ stateStore) { srv.Kill() }, "state store unreachable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			s, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), Prefix: "switchman-test:"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			const secret = "hook-secret"
			var alerts atomic.Int32
			h := sentryWebhook(secret, s, func(sentry.Alert) { alerts.Add(1) })
			tc.spoil(t, srv, s)
			body := issueAlert("refused", time.Now())
			req := httptest.NewRequest(http.MethodPost, "/sentry/webhook", bytes.NewReader(body))
			req.Header.Set(sentry.ResourceHeader, sentry.ResourceEventAlert)
			req.Header.Set(sentry.SignatureHeader, hmacHex(secret, body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := strings.TrimSpace(rec.Body.String())
			if rec.Code != http.StatusServiceUnavailable || got != tc.want || alerts.Load() != 0 {
				t.Errorf("got %d %q, %d alerts; want %d %q, none", rec.Code, got, alerts.Load(), http.StatusServiceUnavailable, tc.want)
			}
			if strings.Contains(got, srv.Addr()) {
				t.Errorf("answer %q names the store's address", got)
			}
		})
	}
}
