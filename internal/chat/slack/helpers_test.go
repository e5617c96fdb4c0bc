package slack_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/chattest"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// countingHandler is a slack.Handler that counts the commands it is given
// and answers each with an ephemeral reply. It keeps the refusals it is
// asked to audit.
type countingHandler struct {
	chattest.Refusals
	chattest.Undelivered
	mu   sync.Mutex
	runs map[string]int // by text
	reqs []commands.Request
}

var _ slack.Handler = (*countingHandler)(nil)

func (h *countingHandler) Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome {
	h.mu.Lock()
	if h.runs == nil {
		h.runs = map[string]int{}
	}
	h.runs[req.Text]++
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	out.Reply(chat.Message{Level: chat.Info, Title: "ran " + req.Text})
	return commands.Outcome{}
}

func (h *countingHandler) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.reqs)
}

func (h *countingHandler) requests() []commands.Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]commands.Request(nil), h.reqs...)
}

// memDedupe is an in-memory Deduper that can be made to fail, or, with
// stuck set, to wait for the context to end.
type memDedupe struct {
	mu    sync.Mutex
	keys  map[string]bool
	err   error
	stuck bool
}

func (d *memDedupe) SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stuck {
		<-ctx.Done()
		return false, ctx.Err()
	}
	if d.err != nil {
		return false, d.err
	}
	if d.keys == nil {
		d.keys = map[string]bool{}
	}
	if d.keys[key] {
		return false, nil
	}
	d.keys[key] = true
	return true, nil
}

func (d *memDedupe) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.keys)
}

// testConfig is a config with Slack users ana (admin), bob (deployer)
// and carl (no grants).
func testConfig(t *testing.T, apiURL string) *config.Config {
	t.Helper()
	cfg := &config.Config{
		Bot:   config.Bot{Name: "switchman"},
		Users: map[string]config.User{"ana": {Slack: "UANA"}, "bob": {Slack: "UBOB"}, "carl": {Slack: "UCARL"}},
		Slack: config.Slack{SigningSecret: testSecret, BotToken: "xoxb-test", APIURL: apiURL},
	}
	return cfg
}

// newTestAdapter returns an adapter with a counting handler, an in-memory
// dedupe store, a fixed clock and a log captured in a buffer.
func newTestAdapter(t *testing.T, api *fakeSlack, now time.Time, edit ...func(*slack.Options)) (*slack.Adapter, *countingHandler, *memDedupe, *syncbuf.Buffer) {
	t.Helper()
	h, d, logs := &countingHandler{}, &memDedupe{}, &syncbuf.Buffer{}
	opt := slack.Options{
		Config:  testConfig(t, api.apiURL()),
		Handler: h,
		Dedupe:  d,
		Now:     func() time.Time { return now },
		Log:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, e := range edit {
		e(&opt)
	}
	a, err := slack.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Stop()
		a.Wait()
		a.Close()
	})
	return a, h, d, logs
}

// slashForm is the body of a slash command as Slack posts it.
func slashForm(user, channel, command, text, trigger, responseURL string) string {
	v := url.Values{
		"token": {"legacy-verification-token"}, "team_id": {"T1"}, "team_domain": {"example"},
		"channel_id": {channel}, "channel_name": {"general"}, "user_id": {user}, "user_name": {strings.ToLower(user)},
		"command": {command}, "text": {text}, "api_app_id": {"A1"}, "trigger_id": {trigger},
	}
	if responseURL != "" {
		v.Set("response_url", responseURL)
	}
	return v.Encode()
}

// signed returns a POST of body to target, signed with secret at ts as
// Slack signs it.
func signed(t testing.TB, target, secret, body string, ts time.Time, contentType string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	stamp := strconv.FormatInt(ts.Unix(), 10)
	r.Header.Set("Content-Type", contentType)
	r.Header.Set("X-Slack-Request-Timestamp", stamp)
	r.Header.Set("X-Slack-Signature", slack.Sign(secret, stamp, []byte(body)))
	return r
}

const formType = "application/x-www-form-urlencoded"

// waitUntil polls cond until it holds or the deadline passes.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var errStoreDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func interactionForm(user, channel, actionID, value, trigger string) string {
	payload := fmt.Sprintf(`{"type":"block_actions","trigger_id":%q,"user":{"id":%q,"username":"x"},"channel":{"id":%q},"container":{"type":"message","channel_id":%q},"response_url":"","actions":[{"type":"button","action_id":%q,"block_id":"switchman_actions","value":%q,"action_ts":"1700000000.1"}]}`,
		trigger, user, channel, channel, actionID, value)
	return url.Values{"payload": {payload}}.Encode()
}
