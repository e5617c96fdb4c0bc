package slack_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestResponseURLRateLimitWithoutSeconds: a response_url's 429 is a rate
// limit whatever its Retry-After says: without the header, or with one
// that is not whole seconds, the reply is sent again after a short wait
// rather than dropped after the first try.
func TestResponseURLRateLimitWithoutSeconds(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string // "": no header
		least      time.Duration
	}{
		{"no Retry-After", "", time.Second},
		{"a date", "Wed, 21 Oct 2015 07:28:00 GMT", time.Second},
		{"garbage", "soon", time.Second},
		{"fractional seconds", "1.5", 1500 * time.Millisecond},
		{"negative", "-3", time.Second},
		{"whole seconds", "2", 2 * time.Second},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var at []time.Time
			var texts []string
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				at = append(at, time.Now())
				texts = append(texts, string(body))
				first := len(at) == 1
				mu.Unlock()
				if first {
					if tt.retryAfter != "" {
						w.Header().Set("Retry-After", tt.retryAfter)
					}
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				io.WriteString(w, "ok")
			}))
			t.Cleanup(hook.Close)
			api := newFakeSlack(t)
			// Not a member of the channel: the reply goes through the
			// response URL.
			api.failWith["chat.postEphemeral"] = "channel_not_found"
			a, h, _, _ := newTestAdapter(t, api, time.Now())
			if w := serve(t, a.Commands(), slashForm("UBOB", "C1", "/status", "web", "T-hook-"+string(rune('a'+i)), hook.URL+"/commands/T1/1/x")); w != 200 {
				t.Fatalf("status: got %d, want 200", w)
			}
			waitUntil(t, "the reply through the response URL, sent again", func() bool { mu.Lock(); defer mu.Unlock(); return len(at) >= 2 })
			a.Stop()
			a.Wait()
			mu.Lock()
			defer mu.Unlock()
			if len(at) != 2 {
				t.Fatalf("got %d posts to the response URL, want 2", len(at))
			}
			// The wait is a lower bound: a busy machine only sends the
			// second post later, and it must never come sooner.
			if d := at[1].Sub(at[0]); d < tt.least {
				t.Errorf("second post %s after the 429, want at least %s", d, tt.least)
			}
			if h.total() != 1 || texts[0] != texts[1] {
				t.Errorf("got %d runs and posts %q, want one run whose reply was sent twice alike", h.total(), texts)
			}
		})
	}
}

// TestWebAPIRateLimitWithoutSeconds: a 429 of the Web API is a rate limit
// whatever its Retry-After says, as a response URL's is: the answer to a
// mention, which has no response URL to fall back on, is sent again after
// the wait rather than dropped after its first try.
func TestWebAPIRateLimitWithoutSeconds(t *testing.T) {
	for i, retryAfter := range []string{"", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", "1"} {
		t.Run(fmt.Sprintf("Retry-After %q", retryAfter), func(t *testing.T) {
			t.Parallel()
			api := newFakeSlack(t)
			api.limit["chat.postEphemeral"] = 1
			api.rawRetryAfter["chat.postEphemeral"] = retryAfter
			a, h, _, _ := newTestAdapter(t, api, now)
			body := fmt.Sprintf(`{"type":"event_callback","team_id":"T1","event_id":"EvLimited%d","event":{"type":"app_mention","user":"UBOB","text":"<@UBOT> status web","channel":"C1","ts":"1700000000.000100"}}`, i)
			if code := serveEvent(t, a, body); code != 200 {
				t.Fatalf("status: got %d, want 200", code)
			}
			waitUntil(t, "the mention to run", func() bool { return h.total() == 1 })
			a.Stop()
			a.Wait() // the command, and so its reply, returned
			eph := only(api.snapshot(), "chat.postEphemeral")
			if len(eph) != 2 || eph[0].Status != http.StatusTooManyRequests || eph[1].Status != http.StatusOK || !strings.Contains(eph[1].Text, "status web") {
				t.Errorf("replies: got\n%swant the 429, then the reply sent again and taken", describe(eph))
			}
		})
	}
}
