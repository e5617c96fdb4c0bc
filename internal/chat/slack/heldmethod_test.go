package slack_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

const heldLog = "slack rate limit; holding the method's calls until its Retry-After has passed"

// TestRateLimitHoldsTheMethod: Slack's limits are per method and
// workspace, and a 429 asks the whole app to keep off the method for its
// Retry-After. One longer than a call may wait (a presence check's few
// seconds) was forgotten once that call gave up, and the next calls of
// the method went out at once and met a 429 of their own. They are held
// until it has passed, without reaching Slack, and say how long is left;
// the other methods go on, and the hold is logged once.
func TestRateLimitHoldsTheMethod(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter int // seconds, of the first 429 of users.getPresence
		after      time.Duration
		want       bool // the last presence check answers
		calls      int  // users.getPresence calls Slack sees
	}{
		{name: "a long wait holds later calls", retryAfter: 90, calls: 1},
		{name: "the hold passes", retryAfter: 6, after: 6 * time.Second, want: true, calls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeSlack(t)
			api.retryAfter["users.getPresence"] = tc.retryAfter
			// As Slack does: every call of the method within the
			// Retry-After of its first 429 meets a 429 too.
			var until time.Time
			api.limitWhen = func(c apiCall) bool {
				switch {
				case c.Method != "users.getPresence":
					return false
				case until.IsZero():
					until = time.Now().Add(time.Duration(tc.retryAfter) * time.Second)
					return true
				}
				return time.Now().Before(until)
			}
			logs := &syncbuf.Buffer{}
			client := slack.NewClient("xoxb-test", api.apiURL(), nil, slog.New(slog.NewTextHandler(logs, nil)))

			if _, err := client.Presence(t.Context(), "UACTIVE"); err == nil {
				t.Fatal("first presence check: got no error, want the 429")
			}
			for i := range 3 {
				_, err := client.Presence(t.Context(), "UACTIVE")
				var rl *goslack.RateLimitedError
				if !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Duration(tc.retryAfter)*time.Second {
					t.Errorf("presence check %d during the hold: got %v, want a rate limit of at most %d s", i+2, err, tc.retryAfter)
				}
			}
			if err := client.Post(t.Context(), "#deploys", chat.Message{Title: "hello"}); err != nil {
				t.Errorf("post during the hold of users.getPresence: got %v, want it sent", err)
			}
			if tc.after > 0 {
				time.Sleep(tc.after) // Slack's wait, not a condition
				got, err := client.Presence(t.Context(), "UACTIVE")
				if got != tc.want || err != nil {
					t.Errorf("presence after the hold: got %v, %v; want %v, nil", got, err, tc.want)
				}
			}
			api.mu.Lock()
			n := api.count["users.getPresence"]
			api.mu.Unlock()
			if n != tc.calls {
				t.Errorf("users.getPresence calls: got %d, want %d", n, tc.calls)
			}
			if got := strings.Count(logs.String(), heldLog); got != 1 {
				t.Errorf("log: got %d lines %q in\n%s\nwant 1", got, heldLog, logs)
			}
			for _, want := range []string{"level=WARN", "method=users.getPresence"} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("log: got\n%s\nwant %q", logs, want)
				}
			}
		})
	}
}
