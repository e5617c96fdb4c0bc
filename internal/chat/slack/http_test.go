package slack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/slack"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/ratelog"
)

var now = time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)

func TestSignature(t *testing.T) {
	api := newFakeSlack(t)
	body := slashForm("UBOB", "C1", "/status", "web", "T-sig", "")
	valid := func() *http.Request { return signed(t, "/slack/commands", testSecret, body, now, formType) }
	tests := []struct {
		name string
		req  func() *http.Request
		code int
		runs int
	}{
		{"valid", valid, 200, 1},
		{"valid, 4 minutes old", func() *http.Request {
			return signed(t, "/slack/commands", testSecret, body, now.Add(-4*time.Minute), formType)
		}, 200, 1},
		{"valid, clock 4 minutes behind", func() *http.Request {
			return signed(t, "/slack/commands", testSecret, body, now.Add(4*time.Minute), formType)
		}, 200, 1},
		{"wrong secret", func() *http.Request { return signed(t, "/slack/commands", "not-the-secret", body, now, formType) }, 401, 0},
		{"stale timestamp", func() *http.Request {
			return signed(t, "/slack/commands", testSecret, body, now.Add(-5*time.Minute-time.Second), formType)
		}, 401, 0},
		{"future timestamp", func() *http.Request {
			return signed(t, "/slack/commands", testSecret, body, now.Add(5*time.Minute+time.Second), formType)
		}, 401, 0},
		{"body changed by one byte", func() *http.Request {
			r := signed(t, "/slack/commands", testSecret, body, now, formType)
			changed := strings.Replace(body, "text=web", "text=wec", 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(changed)), int64(len(changed))
			return r
		}, 401, 0},
		{"missing signature", func() *http.Request {
			r := valid()
			r.Header.Del("X-Slack-Signature")
			return r
		}, 401, 0},
		{"missing timestamp", func() *http.Request {
			r := valid()
			r.Header.Del("X-Slack-Request-Timestamp")
			return r
		}, 401, 0},
		{"timestamp changed", func() *http.Request {
			r := valid()
			r.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(now.Unix()-1, 10))
			return r
		}, 401, 0},
		{"timestamp not a number", func() *http.Request {
			r := valid()
			r.Header.Set("X-Slack-Request-Timestamp", "soon")
			return r
		}, 401, 0},
		{"signature of another version", func() *http.Request {
			r := valid()
			r.Header.Set("X-Slack-Signature", "v1="+strings.TrimPrefix(r.Header.Get("X-Slack-Signature"), "v0="))
			return r
		}, 401, 0},
		{"signature not hex", func() *http.Request {
			r := valid()
			r.Header.Set("X-Slack-Signature", "v0=zz")
			return r
		}, 401, 0},
		{"ssl_check unsigned", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader("ssl_check=1&token=x"))
			r.Header.Set("Content-Type", formType)
			return r
		}, 401, 0},
		{"ssl_check signed", func() *http.Request {
			return signed(t, "/slack/commands", testSecret, "ssl_check=1&token=x", now, formType)
		}, 200, 0},
		{"GET", func() *http.Request { r, _ := http.NewRequest(http.MethodGet, "/slack/commands", nil); return r }, 405, 0},
		{"body over 64 KiB", func() *http.Request {
			return signed(t, "/slack/commands", testSecret, body+"&x="+strings.Repeat("a", 64<<10), now, formType)
		}, 413, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, h, d, logs := newTestAdapter(t, api, now)
			w := httptest.NewRecorder()
			a.Commands().ServeHTTP(w, tc.req())
			if w.Code != tc.code {
				t.Errorf("status: got %d, want %d (body %q)", w.Code, tc.code, w.Body.String())
			}
			a.Stop()
			a.Wait()
			if got := h.total(); got != tc.runs {
				t.Errorf("commands run: got %d, want %d", got, tc.runs)
			}
			if tc.runs == 0 && d.size() != 0 {
				t.Errorf("dedupe store: got %d keys, want none: a refused request changes nothing", d.size())
			}
			if tc.code == 401 {
				log := logs.String()
				if !strings.Contains(log, "refused a slack request") {
					t.Errorf("log: got %q, want the refusal logged", log)
				}
				sig := strings.TrimPrefix(slack.Sign(testSecret, strconv.FormatInt(now.Unix(), 10), []byte(body)), "v0=")
				if strings.Contains(log, testSecret) || strings.Contains(log, sig[:16]) {
					t.Errorf("log: got %q, want neither the secret nor a signature", log)
				}
			}
		})
	}
}

func TestReplayIsDeduplicated(t *testing.T) {
	api := newFakeSlack(t)
	a, h, _, _ := newTestAdapter(t, api, now)
	body := slashForm("UBOB", "C1", "/status", "web", "T-replay", "")
	var answers []string
	for range 3 {
		w := httptest.NewRecorder()
		a.Commands().ServeHTTP(w, signed(t, "/slack/commands", testSecret, body, now, formType))
		if w.Code != 200 {
			t.Fatalf("status: got %d, want 200", w.Code)
		}
		answers = append(answers, w.Body.String())
	}
	a.Stop()
	a.Wait()
	if got := h.total(); got != 1 {
		t.Errorf("runs of a request sent three times: got %d, want 1", got)
	}
	if !strings.Contains(answers[0], "working on it") || answers[1] != "" || answers[2] != "" {
		t.Errorf("answers: got %q, want the first to say working on it and the replays nothing", answers)
	}
}

func TestCommandAnswer(t *testing.T) {
	api := newFakeSlack(t)
	a, h, _, _ := newTestAdapter(t, api, now)
	body := slashForm("UBOB", "C1", "/deploy", "web 42 &amp; &lt;b&gt;", "T-answer", "")
	w := httptest.NewRecorder()
	a.Commands().ServeHTTP(w, signed(t, "/slack/commands", testSecret, body, now, formType))
	var ack struct{ ResponseType, Text string }
	json.Unmarshal(w.Body.Bytes(), &ack)
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" || ack.Text != "⏳ working on it…" {
		t.Errorf("ack: got %d %q %+v, want 200 with an ephemeral working on it", w.Code, w.Header().Get("Content-Type"), ack)
	}
	a.Stop()
	a.Wait()
	reqs := h.requests()
	if len(reqs) != 1 {
		t.Fatalf("runs: got %d, want 1", len(reqs))
	}
	if got, want := reqs[0], "deploy web 42 & <b>"; got.Text != want || got.User != "bob" || got.Platform != "slack" || got.Channel != "C1" {
		t.Errorf("request: got %+v, want text %q as bob on slack in C1", got, want)
	}
	calls := api.snapshot()
	if len(calls) != 1 || calls[0].Method != "chat.postEphemeral" || calls[0].User != "UBOB" || calls[0].Channel != "C1" {
		t.Errorf("calls: got\n%swant one chat.postEphemeral to UBOB in C1", describe(calls))
	}
}

// TestResponseURLNotLogged: a reply that fails through the response_url
// is logged with the URL's host only: its path is a credential to post
// in the channel for 30 minutes.
func TestResponseURLNotLogged(t *testing.T) {
	api := newFakeSlack(t)
	api.failWith["chat.postEphemeral"] = "channel_not_found" // the bot is not in the channel
	a, _, _, logs := newTestAdapter(t, api, now)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // a refused connection: the error is a *url.Error naming the URL
	host := strings.TrimPrefix(gone.URL, "http://")
	responseURL := gone.URL + "/commands/T1/hookIDx9/s3cr3tHookPath?sig=s3cr3tQuery"
	w := httptest.NewRecorder()
	a.Commands().ServeHTTP(w, signed(t, "/slack/commands", testSecret, slashForm("UBOB", "C1", "/status", "web", "T-leak", responseURL), now, formType))
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	a.Stop()
	a.Wait()
	log := logs.String()
	if !strings.Contains(log, "reply to slack failed") || !strings.Contains(log, host) {
		t.Fatalf("log:\n%s\nwant the failed reply logged with the response URL's host %s", log, host)
	}
	for _, secret := range []string{"hookIDx9", "s3cr3t"} {
		if strings.Contains(log, secret) {
			t.Errorf("log:\n%s\nholds the response URL's path or query (%s)", log, secret)
		}
	}
}

// TestRateLimitedReplyUsesTheResponseURL: a reply Slack rate-limits for
// longer than the reply may take is not waited out to the end of that
// time: it goes through the response_url at once, which chat.postEphemeral's
// rate limit does not hold back, rather than reach nobody.
func TestRateLimitedReplyUsesTheResponseURL(t *testing.T) {
	api := newFakeSlack(t)
	api.limit["chat.postEphemeral"] = 100
	api.retryAfter["chat.postEphemeral"] = 60
	a, _, _, _ := newTestAdapter(t, api, now)
	w := httptest.NewRecorder()
	a.Commands().ServeHTTP(w, signed(t, "/slack/commands", testSecret, slashForm("UBOB", "C1", "/status", "web", "T-limited", api.srv.URL+"/response/1"), now, formType))
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	calls := api.waitFor("the reply through the response URL", func(calls []apiCall) bool {
		return len(only(calls, "response_url")) > 0
	})
	if got := only(calls, "response_url"); got[0].Text != "ran status web" || got[0].User != "ephemeral" {
		t.Errorf("response_url: got\n%swant the reply \"ran status web\", ephemeral", describe(got))
	}
}

// TestRetryWaitsOnlyToCallAgain: retry waits out a rate limit only when it
// will call again within its context; otherwise it returns the rate limit
// at once, so that the caller can answer another way while it has time.
func TestRetryWaitsOnlyToCallAgain(t *testing.T) {
	tests := []struct {
		name     string
		attempts int
		timeout  time.Duration // of the context; 0: none
	}{
		{"after the last attempt", 1, 0},
		{"past the context's deadline", 3, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			if tt.timeout > 0 {
				ctx, cancel = context.WithTimeout(t.Context(), tt.timeout)
			}
			defer cancel()
			var mu sync.Mutex
			calls, returned := 0, false
			var err error
			go func() {
				e := slack.Retry(ctx, tt.attempts, func(context.Context) error {
					mu.Lock()
					calls++
					mu.Unlock()
					return &goslack.RateLimitedError{RetryAfter: time.Hour}
				})
				mu.Lock()
				err, returned = e, true
				mu.Unlock()
			}()
			waitUntil(t, "retry to return", func() bool { mu.Lock(); defer mu.Unlock(); return returned })
			mu.Lock()
			defer mu.Unlock()
			var rl *goslack.RateLimitedError
			if calls != 1 || !errors.As(err, &rl) || ctx.Err() != nil {
				t.Errorf("got %d calls, error %v, context %v; want 1 call, the rate limit, the context still live", calls, err, ctx.Err())
			}
		})
	}
}

// TestAckIsWholeBeforeTheNotice: a click or mention that is not run is
// told so through the Web API after Slack has its acknowledgement; that
// acknowledgement is a whole response (Slack reads it within 3 s), not the
// head of one whose end waits for the notice.
func TestAckIsWholeBeforeTheNotice(t *testing.T) {
	mention := `{"type":"event_callback","team_id":"T1","event_id":"EvAck","event":{"type":"app_mention","user":"UBOB","text":"<@UBOT> status","channel":"C1","ts":"1.2"}}`
	tests := []struct {
		name        string
		path        string
		body        string
		contentType string
		handler     func(*slack.Adapter) http.Handler
	}{
		{"click", "/slack/interactions", interactionForm("UBOB", "C1", "switchman:status", "status", "T-ack"), formType, (*slack.Adapter).Interactions},
		{"mention", "/slack/events", mention, "application/json", (*slack.Adapter).Events},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			noticed := make(chan struct{}, 1)
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case noticed <- struct{}{}:
				default:
				}
				select { // a Web API that does not answer yet
				case <-release:
				case <-r.Context().Done():
				}
				http.Error(w, "unavailable", http.StatusServiceUnavailable)
			}))
			t.Cleanup(api.Close)
			a, _, d, _ := newTestAdapter(t, newFakeSlack(t), time.Now(), func(o *slack.Options) {
				o.Now = time.Now
				o.Config.Slack.APIURL = api.URL + "/api/"
			})
			d.err = errStoreDown // so the request is refused, and its sender told
			srv := httptest.NewServer(tt.handler(a))
			t.Cleanup(srv.Close)
			defer close(release)
			client := &http.Client{Timeout: 10 * time.Second}
			resp, err := client.Do(signed(t, srv.URL+tt.path, testSecret, tt.body, time.Now(), tt.contentType))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err := io.ReadAll(resp.Body); err != nil || resp.StatusCode != 200 {
				t.Errorf("acknowledgement: got %d, %v reading it, want a whole 200 while the notice waits for the Web API", resp.StatusCode, err)
			}
			waitUntil(t, "the notice", func() bool { return len(noticed) > 0 })
		})
	}
}

func TestUnknownUserIsNamespaced(t *testing.T) {
	api := newFakeSlack(t)
	a, h, _, _ := newTestAdapter(t, api, now)
	for _, tc := range []struct{ command, text, want string }{
		{"/switchman", "status", "status"},
		{"/Switchman", "help deploy", "help deploy"},
		{"/status", "", "status"},
	} {
		w := httptest.NewRecorder()
		a.Commands().ServeHTTP(w, signed(t, "/slack/commands", testSecret, slashForm("UNKNOWN", "C1", tc.command, tc.text, "T-"+tc.command, ""), now, formType))
		if w.Code != 200 {
			t.Fatalf("%s: status %d", tc.command, w.Code)
		}
	}
	a.Stop()
	a.Wait()
	for _, r := range h.requests() {
		if r.User != "slack:UNKNOWN" {
			t.Errorf("user: got %q, want slack:UNKNOWN", r.User)
		}
	}
	texts := map[string]bool{}
	for _, r := range h.requests() {
		texts[r.Text] = true
	}
	for _, want := range []string{"status", "help deploy"} {
		if !texts[want] {
			t.Errorf("texts: got %v, want %q among them", texts, want)
		}
	}
}

// TestBareSlashCommandRunsHelp: the bot's own slash command with no text
// answers with help. It used to reach the parser as empty text, which
// answers nothing: the user saw "working on it" and then nothing, and the
// audit log had no entry.
func TestBareSlashCommandRunsHelp(t *testing.T) {
	api := newFakeSlack(t)
	a, h, _, _ := newTestAdapter(t, api, now)
	for i, text := range []string{"", "   "} {
		w := httptest.NewRecorder()
		a.Commands().ServeHTTP(w, signed(t, "/slack/commands", testSecret, slashForm("UBOB", "C1", "/switchman", text, fmt.Sprintf("T-bare-%d", i), ""), now, formType))
		if w.Code != 200 {
			t.Fatalf("%q: status %d", text, w.Code)
		}
	}
	a.Stop()
	a.Wait()
	got := h.requests()
	if len(got) != 2 {
		t.Fatalf("got %d requests, want 2", len(got))
	}
	for _, r := range got {
		if r.Text != "help" {
			t.Errorf("a bare /switchman: got text %q, want \"help\"", r.Text)
		}
	}
}

func TestStoreDownFailsClosed(t *testing.T) {
	api := newFakeSlack(t)
	a, h, d, _ := newTestAdapter(t, api, now)
	d.err = errStoreDown
	w := httptest.NewRecorder()
	a.Commands().ServeHTTP(w, signed(t, "/slack/commands", testSecret, slashForm("UBOB", "C1", "/deploy", "web 1", "T-down", ""), now, formType))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "State store unreachable; nothing was changed") {
		t.Errorf("answer: got %d %q, want 200 saying the state store is unreachable", w.Code, w.Body.String())
	}
	// A click is answered through the Web API.
	w = httptest.NewRecorder()
	a.Interactions().ServeHTTP(w, signed(t, "/slack/interactions", testSecret, interactionForm("UBOB", "C1", "switchman:rollback web prod", "rollback web prod", "T-down-2"), now, formType))
	if w.Code != 200 {
		t.Errorf("interaction: got %d, want 200", w.Code)
	}
	calls := api.waitFor("the notice", func(c []apiCall) bool { return len(c) == 1 })
	if !strings.Contains(calls[0].Text, "State store unreachable; nothing was changed") || calls[0].Method != "chat.postEphemeral" {
		t.Errorf("notice: got\n%swant an ephemeral saying the state store is unreachable", describe(calls))
	}
	a.Stop()
	a.Wait()
	if h.total() != 0 {
		t.Errorf("runs: got %d, want none while the store is down", h.total())
	}
}

// TestRefusalsAreAudited: a request refused before it reaches the handler
// (the duplicate check failed or timed out, the bot is stopping) is
// audited with why, and the answer does not wait for the audit write; one
// that fails is logged.
func TestRefusalsAreAudited(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(a *slack.Adapter, h *countingHandler, d *memDedupe)
		notice     string
		reason     string // in the audited refusal; "" when the audit fails
		auditFails bool
	}{
		{"store down", func(a *slack.Adapter, h *countingHandler, d *memDedupe) { d.err = errStoreDown },
			"State store unreachable", "state store unreachable", false},
		{"duplicate check times out", func(a *slack.Adapter, h *countingHandler, d *memDedupe) { d.stuck = true },
			"State store unreachable", "state store unreachable", false},
		{"stopping", func(a *slack.Adapter, h *countingHandler, d *memDedupe) { a.Stop() },
			"restarting", "stopping", false},
		{"audit store stuck too", func(a *slack.Adapter, h *countingHandler, d *memDedupe) { d.err, h.Stuck = errStoreDown, true },
			"State store unreachable", "", true},
		// A store that answers is said to refuse, as the commands say it.
		{"store refuses writes", func(a *slack.Adapter, h *countingHandler, d *memDedupe) {
			d.err = fmt.Errorf("dedupe: %w", errs.New(errs.Unavailable, "state store redis at 127.0.0.1:6379 refuses writes: OOM command not allowed."))
		}, "State store redis at 127.0.0.1:6379 refuses writes: OOM command not allowed; nothing was changed. Try again in a moment.",
			"state store redis at 127.0.0.1:6379 refuses writes: OOM command not allowed (found by the duplicate check); nothing was run", false},
		{"store closed as the bot stops", func(a *slack.Adapter, h *countingHandler, d *memDedupe) {
			d.err = fmt.Errorf("dedupe: %w", deploy.ErrStoreClosed)
		}, "Switchman is stopping, so its state store is closed; nothing was changed", "Switchman is stopping, so its state store is closed", false},
		// Trying again does not help: the bot must be restarted.
		{"store reset", func(a *slack.Adapter, h *countingHandler, d *memDedupe) {
			d.err = fmt.Errorf("dedupe: %w", deploy.ErrStoreReset)
		}, "The state store was reset", "state store reset", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeSlack(t)
			held := &heldAudits{release: make(chan struct{})}
			a, h, d, logs := newTestAdapter(t, api, now, func(o *slack.Options) {
				o.DedupeTimeout = 50 * time.Millisecond
				held.Handler, o.Handler = o.Handler, held
			})
			var release sync.Once
			// Before the adapter's own cleanup, which waits for the write.
			t.Cleanup(func() { release.Do(func() { close(held.release) }) })
			tc.setup(a, h, d)
			// The answer comes while the audit write is held: it does
			// not wait for the write.
			var answered atomic.Pointer[httptest.ResponseRecorder]
			r := signed(t, "/slack/commands", testSecret, slashForm("UBOB", "C1", "/deploy", "web 1", "T-refused", ""), now, formType)
			go func() {
				w := httptest.NewRecorder()
				a.Commands().ServeHTTP(w, r)
				answered.Store(w)
			}()
			waitUntil(t, "the answer while the audit write is held (an answer that waits for the write never comes)",
				func() bool { return answered.Load() != nil })
			release.Do(func() { close(held.release) })
			w := answered.Load()
			if w.Code != 200 || !strings.Contains(w.Body.String(), tc.notice) {
				t.Errorf("answer: got %d %q, want 200 saying %q", w.Code, w.Body.String(), tc.notice)
			}
			if tc.auditFails {
				waitUntil(t, "the failed audit write logged", func() bool { return strings.Contains(logs.String(), "audit a refused request") })
				if got := h.Audited(); len(got) != 0 {
					t.Errorf("audited: got %+v, want none", got)
				}
			} else {
				waitUntil(t, "the refusal audited", func() bool { return len(h.Audited()) > 0 })
				got := h.Audited()
				if len(got) != 1 || got[0].User != "bob" || got[0].Platform != "slack" || got[0].Channel != "C1" ||
					!strings.Contains(got[0].Text, "web 1") || !strings.Contains(got[0].Refused, tc.reason) {
					t.Errorf("audited: got %+v, want one refusal of bob's \"web 1\" in C1 saying %q", got, tc.reason)
				}
			}
			if h.total() != 0 {
				t.Errorf("runs: got %d, want none", h.total())
			}
		})
	}
}

// heldAudits holds every audit write of a refused request until release
// is closed, then makes it with the handler it wraps.
type heldAudits struct {
	slack.Handler
	release chan struct{}
}

func (h *heldAudits) AuditRefusal(ctx context.Context, req commands.Request) error {
	<-h.release
	return h.Handler.AuditRefusal(ctx, req)
}

func TestEvents(t *testing.T) {
	api := newFakeSlack(t)
	a, h, _, _ := newTestAdapter(t, api, now)

	// url_verification is answered only when signed.
	challenge := `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	w := httptest.NewRecorder()
	a.Events().ServeHTTP(w, signed(t, "/slack/events", testSecret, challenge, now, "application/json"))
	if w.Code != 200 || w.Body.String() != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("challenge: got %d %q, want 200 and the challenge", w.Code, w.Body.String())
	}
	w = httptest.NewRecorder()
	r := signed(t, "/slack/events", "wrong", challenge, now, "application/json")
	a.Events().ServeHTTP(w, r)
	if w.Code != 401 || strings.Contains(w.Body.String(), "3eZb") {
		t.Errorf("unsigned challenge: got %d %q, want 401 without the challenge", w.Code, w.Body.String())
	}

	// An app_mention runs; Slack's retry of it (same event_id, new
	// signature) does not; a bot's message is ignored.
	mention := func(eventID, user, bot string) string {
		return `{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"` + eventID + `","event_time":1700000000,` +
			`"event":{"type":"app_mention","user":"` + user + `","bot_id":"` + bot + `","text":"<@UBOT> deploy web 1 &amp;&amp; more","ts":"1700000000.000100","channel":"C1","event_ts":"1700000000.000100"}}`
	}
	for i, body := range []string{mention("Ev1", "UBOB", ""), mention("Ev1", "UBOB", ""), mention("Ev2", "UBOT", "B1")} {
		r := signed(t, "/slack/events", testSecret, body, now.Add(time.Duration(i)*time.Second), "application/json")
		if i == 1 {
			r.Header.Set("X-Slack-Retry-Num", "1")
			r.Header.Set("X-Slack-Retry-Reason", "http_timeout")
		}
		w := httptest.NewRecorder()
		a.Events().ServeHTTP(w, r)
		if w.Code != 200 {
			t.Errorf("event %d: got %d, want 200", i, w.Code)
		}
	}
	a.Stop()
	a.Wait()
	reqs := h.requests()
	if len(reqs) != 1 || reqs[0].Text != "<@UBOT> deploy web 1 && more" || reqs[0].User != "bob" {
		t.Errorf("runs: got %+v, want one mention run as bob with the text unescaped", reqs)
	}
}

func TestFailClosedConstruction(t *testing.T) {
	h, d := &countingHandler{}, &memDedupe{}
	for _, tc := range []struct {
		name  string
		slack config.Slack
		want  string
	}{
		{"no signing secret", config.Slack{BotToken: "xoxb-1"}, "signing_secret is empty"},
		{"no bot token", config.Slack{SigningSecret: "s"}, "bot_token is empty"},
		{"socket mode without app token", config.Slack{BotToken: "xoxb-1", SocketMode: true}, "app-level token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := slack.New(slack.Options{Config: &config.Config{Slack: tc.slack}, Handler: h, Dedupe: d})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: got %v, want an error saying %q", err, tc.want)
			}
		})
	}
	if _, err := slack.New(slack.Options{Config: &config.Config{Slack: config.Slack{BotToken: "xoxb-1", SigningSecret: "s"}}, Handler: h}); err == nil {
		t.Errorf("New without a dedupe store: got no error, want one")
	}
}

func TestPresence(t *testing.T) {
	api := newFakeSlack(t)
	a, _, _, _ := newTestAdapter(t, api, now)
	for user, want := range map[string]bool{"UACTIVE": true, "UAWAY": false} {
		got, err := a.Client().Presence(t.Context(), user)
		if err != nil || got != want {
			t.Errorf("Presence(%s): got %v, %v, want %v", user, got, err, want)
		}
	}
	// An API error is an error, which the gate counts as "away" and says so.
	if got, err := a.Client().Presence(t.Context(), "UERROR"); err == nil || got {
		t.Errorf("Presence(UERROR): got %v, %v, want an error", got, err)
	}
}

// TestPresenceOfAUserWithoutASlackID: a user the config gives no Slack id
// is never seen on Slack, which the gate is told apart from a presence
// that could not be read (commands.ErrNoPresence), without asking Slack.
func TestPresenceOfAUserWithoutASlackID(t *testing.T) {
	api := newFakeSlack(t)
	cfg := testConfig(t, api.apiURL())
	cfg.Users["dana"] = config.User{}
	p := slack.NewPresence(cfg, nil, nil)
	tests := []struct {
		user     string
		noID     bool
		wantText string
	}{
		{"dana", true, "presence not looked up: dana has no slack id in the config"},
		{"zed", true, "presence not looked up: zed has no slack id in the config"},
		{"ana", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			_, err := p.Active(t.Context(), tt.user)
			if got := errors.Is(err, commands.ErrNoPresence); got != tt.noID {
				t.Errorf("Active(%s): got %v, want commands.ErrNoPresence: %v", tt.user, err, tt.noID)
			}
			if tt.wantText != "" && (err == nil || err.Error() != tt.wantText) {
				t.Errorf("Active(%s): got %v, want %q", tt.user, err, tt.wantText)
			}
		})
	}
	var asked []string
	for _, c := range api.snapshot() {
		if c.Method == "users.getPresence" {
			asked = append(asked, c.User)
		}
	}
	if strings.Join(asked, ",") != "UANA" {
		t.Errorf("users.getPresence asked of %q, want only UANA", asked)
	}
}

// TestPresenceRateLimited: a presence check Slack answers with a 429 is
// asked again after its Retry-After: taken for an error, it counted an
// admin who is around as away, and a deploy that needs one was refused.
// A Retry-After past the check's few seconds is not waited for.
func TestPresenceRateLimited(t *testing.T) {
	for _, tc := range []struct {
		name       string
		limits     int // 429s answered before the presence
		retryAfter int // seconds
		want       bool
		calls      int
	}{
		{name: "one 429", limits: 1, retryAfter: 1, want: true, calls: 2},
		{name: "a wait past the check", limits: 1, retryAfter: 60, want: false, calls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeSlack(t)
			api.limit["users.getPresence"] = tc.limits
			api.retryAfter["users.getPresence"] = tc.retryAfter
			client := slack.NewClient("xoxb-test", api.apiURL(), nil, nil)
			got, err := client.Presence(t.Context(), "UACTIVE")
			if got != tc.want || (err == nil) != tc.want {
				t.Errorf("Presence: got %v, %v; want %v", got, err, tc.want)
			}
			if err != nil && errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Presence: got %v; want the rate limit at once, not a wait for it cut short", err)
			}
			api.mu.Lock()
			n := api.count["users.getPresence"]
			api.mu.Unlock()
			if n != tc.calls {
				t.Errorf("users.getPresence calls: got %d, want %d", n, tc.calls)
			}
		})
	}
}

// TestWebAPIErrorsHideTheAPIURLCredentials covers the calls whose errors
// reach logs and replies outside the adapter: presence in the deploy gate
// and admins, posts of announcements and alerts, the token check at start.
func TestWebAPIErrorsHideTheAPIURLCredentials(t *testing.T) {
	api := brokenAPI(t)
	cfg := testConfig(t, api)
	client := slack.NewClient("xoxb-test", api, nil, nil)
	for _, tc := range []struct {
		name string
		call func(context.Context) error
	}{
		{"presence", func(ctx context.Context) error {
			_, err := slack.NewPresence(cfg, nil, nil).Active(ctx, "ana")
			return err
		}},
		{"post", func(ctx context.Context) error {
			return client.Post(ctx, "#deploys", chat.Message{Title: "hello"})
		}},
		{"check token", client.CheckToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call(t.Context())
			if err == nil {
				t.Fatal("got no error, want one")
			}
			if secret := leaked(err.Error()); secret != "" {
				t.Errorf("got %q in %q, want no credential of the API URL", secret, err)
			}
			if u, _ := url.Parse(api); !strings.Contains(err.Error(), "http://"+u.Host+"/…") {
				t.Errorf("got %q, want it to name http://%s/…", err, u.Host)
			}
		})
	}
}

func TestSocketModeAdapterRefusesHTTP(t *testing.T) {
	api := newFakeSlack(t)
	a, h, _, _ := newTestAdapter(t, api, now, func(o *slack.Options) { o.Config.Slack = slackSocketConfig(api.apiURL()) })
	// Signed with the empty secret the adapter has in socket mode.
	w := httptest.NewRecorder()
	a.Commands().ServeHTTP(w, signed(t, "/slack/commands", "", slashForm("UBOB", "C1", "/status", "", "T-empty", ""), now, formType))
	if w.Code != 401 {
		t.Errorf("status: got %d, want 401", w.Code)
	}
	a.Stop()
	a.Wait()
	if h.total() != 0 {
		t.Errorf("runs: got %d, want none", h.total())
	}
}

// TestOtherWorkspaceRefused: with team_id set, a validly signed command
// from another workspace does not run as its user; it is handed on as a
// refusal, so the audit log has it.
func TestOtherWorkspaceRefused(t *testing.T) {
	api := newFakeSlack(t)
	a, h, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) { o.Config.Slack.TeamID = "T1" })
	body := strings.Replace(slashForm("UEXT", "CSHARED", "/status", "", "trig-other", ""), "team_id=T1", "team_id=TOTHER", 1)
	if code := serve(t, a.Commands(), body); code != 200 {
		t.Fatalf("status %d", code)
	}
	if code := serve(t, a.Commands(), slashForm("UBOB", "C1", "/status", "", "trig-ours", "")); code != 200 {
		t.Fatalf("status %d", code)
	}
	a.Stop()
	a.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reqs) != 2 {
		t.Fatalf("handled %d requests, want 2", len(h.reqs))
	}
	for _, r := range h.reqs {
		other := r.Channel == "CSHARED"
		if got := r.Refused != ""; got != other {
			t.Errorf("request in %s by %s: refused %q, want refused only from the other workspace", r.Channel, r.User, r.Refused)
		}
		if other && !strings.Contains(r.User, "TOTHER") {
			t.Errorf("the other workspace's user: got %q, want it named with its workspace", r.User)
		}
	}
}

// TestSlackConnectMemberRefused: in a channel shared with another
// organisation (Slack Connect), a mention or click by one of its members
// reaches the app with the envelope of the workspace it is installed in;
// the user's own workspace is in user_team (an event) or user.team_id (a
// click). With team_id set, such a request is refused and handed on for
// the audit log, as one from another workspace is, not run as a viewer's.
func TestSlackConnectMemberRefused(t *testing.T) {
	mention := func(user, userTeam string) string {
		return `{"type":"event_callback","team_id":"T1","event_id":"Ev-` + user + `","event":{"type":"app_mention","user":"` + user +
			`","user_team":"` + userTeam + `","source_team":"` + userTeam + `","text":"<@UBOT> status","channel":"CSHARED","ts":"1.2"}}`
	}
	click := func(user, userTeam string) string {
		payload := `{"type":"block_actions","trigger_id":"trig-` + user + `","team":{"id":"T1"},"user":{"id":"` + user + `","team_id":"` + userTeam +
			`"},"channel":{"id":"CSHARED"},"actions":[{"action_id":"switchman:status","value":"status"}]}`
		return url.Values{"payload": {payload}}.Encode()
	}
	tests := []struct {
		name        string
		handler     func(*slack.Adapter) http.Handler
		body        string
		contentType string
		refused     bool
	}{
		{"mention by an external member", (*slack.Adapter).Events, mention("UEXT", "TOTHER"), "application/json", true},
		{"mention by a member", (*slack.Adapter).Events, mention("UBOB", "T1"), "application/json", false},
		{"click by an external member", (*slack.Adapter).Interactions, click("UEXT", "TOTHER"), formType, true},
		{"click by a member", (*slack.Adapter).Interactions, click("UBOB", "T1"), formType, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeSlack(t)
			a, h, _, _ := newTestAdapter(t, api, time.Now(), func(o *slack.Options) { o.Config.Slack.TeamID = "T1" })
			w := httptest.NewRecorder()
			tt.handler(a).ServeHTTP(w, signed(t, "/slack/x", testSecret, tt.body, time.Now(), tt.contentType))
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			a.Stop()
			a.Wait()
			reqs := h.requests()
			if len(reqs) != 1 {
				t.Fatalf("handled %d requests, want 1", len(reqs))
			}
			if got := reqs[0].Refused != ""; got != tt.refused {
				t.Errorf("refused: got %q as %s, want refused %v", reqs[0].Refused, reqs[0].User, tt.refused)
			}
			if tt.refused && reqs[0].User != "slack:TOTHER:UEXT" {
				t.Errorf("user: got %q, want slack:TOTHER:UEXT, named with the workspace", reqs[0].User)
			}
		})
	}
}

// TestCloseWaitsForRefusalAudits: the audit write of a request refused
// before it reached the handler runs in the background, so that the answer
// does not wait for it; Close, which the bot calls before it closes the
// store, waits for it, or the entry would be lost.
func TestCloseWaitsForRefusalAudits(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(a *slack.Adapter, d *memDedupe)
		reason string
		why    commands.Refusal // the reason it is counted under
	}{
		{"store down", func(a *slack.Adapter, d *memDedupe) { d.err = errStoreDown }, "state store unreachable", commands.RefusalUnavailable},
		{"stopping", func(a *slack.Adapter, d *memDedupe) { a.Stop() }, "stopping", commands.RefusalDraining},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeSlack(t)
			a, h, d, _ := newTestAdapter(t, api, now)
			h.Slow = 300 * time.Millisecond
			tc.setup(a, d)
			w := httptest.NewRecorder()
			a.Commands().ServeHTTP(w, signed(t, "/slack/commands", testSecret, slashForm("UBOB", "C1", "/deploy", "web 1", "T-close", ""), now, formType))
			if w.Code != 200 {
				t.Fatalf("answer: got %d %q, want 200", w.Code, w.Body.String())
			}
			a.Stop()
			a.Wait()
			a.Close()
			// No waiting: the write is done by the time Close returns.
			if got := h.Audited(); len(got) != 1 || got[0].User != "bob" || got[0].Text != "deploy web 1" || !strings.Contains(got[0].Refused, tc.reason) || got[0].RefusedFor != tc.why {
				t.Errorf("audited when Close returned: %+v, want bob's \"deploy web 1\" refused saying %q, counted as %s", got, tc.reason, tc.why)
			}
		})
	}
}

// TestRetryAtStopOfARunRequest: Slack's retry of an event that ran,
// reaching the bot as it stops, is a duplicate like any other: not
// refused, audited or answered with "nothing was run", which would have
// its sender run it again. A new event at that moment is refused.
func TestRetryAtStopOfARunRequest(t *testing.T) {
	api := newFakeSlack(t)
	a, h, _, _ := newTestAdapter(t, api, now)
	mention := func(eventID string) string {
		return `{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"` + eventID + `","event_time":1700000000,` +
			`"event":{"type":"app_mention","user":"UBOB","text":"<@UBOT> status","ts":"1700000000.000100","channel":"C1","event_ts":"1700000000.000100"}}`
	}
	post := func(body string, retry bool) {
		t.Helper()
		r := signed(t, "/slack/events", testSecret, body, now, "application/json")
		if retry {
			r.Header.Set("X-Slack-Retry-Num", "1")
			r.Header.Set("X-Slack-Retry-Reason", "http_timeout")
		}
		w := httptest.NewRecorder()
		a.Events().ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("event: got %d, want 200", w.Code)
		}
	}
	post(mention("EvRan"), false)
	waitUntil(t, "the mention run", func() bool { return h.total() == 1 })
	a.Stop()
	post(mention("EvRan"), true)
	post(mention("EvNew"), false)
	a.Wait()
	if n := h.total(); n != 1 {
		t.Errorf("runs: got %d, want the first delivery's alone", n)
	}
	audited := h.Audited()
	if len(audited) != 1 || audited[0].Refused != "Switchman was stopping; nothing was run" {
		t.Errorf("audited %+v, want the new mention alone refused as the bot was stopping", audited)
	}
	var refusals int
	for _, c := range only(api.snapshot(), "chat.postEphemeral") {
		if strings.Contains(c.Text, "nothing was run") {
			refusals++
		}
	}
	if refusals != 1 {
		t.Errorf("notices saying nothing was run: got %d, want one, for the new mention: the retry of the one that ran is dropped\n%s", refusals, describe(api.snapshot()))
	}
}

// TestRefusalLogLimited: requests refused before they are verified (a bad
// signature, a body over the limit), which anyone can send, are each
// answered, but logged at most once per RefusalLog.Every: the first at
// once, the next with the count of those held back.
func TestRefusalLogLimited(t *testing.T) {
	api := newFakeSlack(t)
	at := now
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	a, _, _, logs := newTestAdapter(t, api, now, func(o *slack.Options) {
		o.RefusalLog = &ratelog.Limiter{Every: time.Minute, Now: clock}
	})
	body := slashForm("UBOB", "C1", "/status", "web", "T-sig", "")
	for i := range 30 {
		req, want := signed(t, "/slack/commands", "not-the-secret", body, now, formType), http.StatusUnauthorized
		if i%3 == 0 {
			req, want = signed(t, "/slack/commands", testSecret, body+"&x="+strings.Repeat("a", 64<<10), now, formType), http.StatusRequestEntityTooLarge
		}
		w := httptest.NewRecorder()
		a.Commands().ServeHTTP(w, req)
		if w.Code != want {
			t.Fatalf("request %d: got %d, want %d", i, w.Code, want)
		}
	}
	if n := strings.Count(logs.String(), "refused a slack request"); n != 1 {
		t.Errorf("30 refusals within a minute: got %d log lines, want 1:\n%s", n, logs.String())
	}
	mu.Lock()
	at = at.Add(time.Minute)
	mu.Unlock()
	w := httptest.NewRecorder()
	a.Commands().ServeHTTP(w, signed(t, "/slack/commands", "not-the-secret", body, now, formType))
	if got := logs.String(); strings.Count(got, "refused a slack request") != 2 || !strings.Contains(got, "suppressed=29") {
		t.Errorf("a minute later: got %q, want a second line saying 29 were suppressed", got)
	}
}

// TestMentionAddressedToSomeoneElse: Slack sends app_mention for a message
// that mentions the bot anywhere. One that starts with another member's
// mention is addressed to them, the bot being copied in, and must not run
// as if its first mention were the bot's; one that starts with the bot's
// own mention (as the authorizations of the event name it) runs.
func TestMentionAddressedToSomeoneElse(t *testing.T) {
	tests := []struct {
		name, text, authorizations string
		// checked: the bot asked auth.test, which names it UBOT.
		checked bool
		run     bool
	}{
		{"the bot's mention first", "<@UBOT> lock deploys web prod db work", `[{"team_id":"T1","user_id":"UBOT","is_bot":true}]`, false, true},
		{"the bot's labelled mention first", "<@UBOT|switchman> lock deploys web prod db work", `[{"team_id":"T1","user_id":"UBOT","is_bot":true}]`, false, true},
		{"another member's mention first", "<@UANA> lock deploys web prod db work, says <@UBOT>", `[{"team_id":"T1","user_id":"UBOT","is_bot":true}]`, false, false},
		{"another member's labelled mention first", "<@UANA|ana> lock deploys web prod db work <@UBOT>", `[{"team_id":"T1","user_id":"UBOT","is_bot":true}]`, false, false},
		// The command's parser takes a no-break or ideographic space for a
		// blank, and would strip the mention after it as the bot's.
		{"another member's mention after a no-break space", "\u00a0<@UANA> lock deploys web prod db work <@UBOT>", `[{"team_id":"T1","user_id":"UBOT","is_bot":true}]`, false, false},
		{"another member's mention after an ideographic space, no authorizations", "\u3000<@UANA> lock deploys web prod db work <@UBOT>", `null`, false, false},
		{"no mention first", "lock deploys web prod db work <@UBOT>", `[{"team_id":"T1","user_id":"UBOT","is_bot":true}]`, false, true},
		{"no authorizations", "<@UBOT> lock deploys web prod db work", `null`, false, true},
		{"no authorizations, the bot named twice", "<@UBOT> lock deploys web prod db work, <@UBOT|switchman>", `null`, false, true},
		// Knowing no bot user, the adapter cannot tell whose mention
		// leads a message that names several members, and ran one
		// addressed to another member.
		{"another member's mention first, no authorizations", "<@UANA> lock deploys web prod db work <@UBOT>", `null`, false, false},
		{"another member's mention first, a user's installation authorized", "<@UANA> lock deploys web prod db work <@UBOT>", `[{"team_id":"T1","user_id":"UCAL","is_bot":false}]`, false, false},
		{"the bot's mention first and another's, no authorizations", "<@UBOT> lock deploys web prod db work for <@UANA>", `null`, false, false},
		{"no mention first, no authorizations", "lock deploys web prod db work <@UBOT> <@UANA>", `null`, false, true},
		{"the bot's mention first and another's, no authorizations, the bot known", "<@UBOT> lock deploys web prod db work for <@UANA>", `null`, true, true},
		{"the bot's mention first, another installation's bot authorized", "<@UBOT> lock deploys web prod db work", `[{"team_id":"T2","user_id":"UOTHER","is_bot":true}]`, true, true},
		{"another member's mention first, no authorizations, the bot known", "<@UANA> lock deploys web prod db work <@UBOT>", `null`, true, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeSlack(t)
			a, h, _, _ := newTestAdapter(t, api, now)
			if tc.checked {
				if err := a.Client().CheckToken(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			body := `{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"EvA` + strconv.Itoa(i) + `","event_time":1700000000,` +
				`"event":{"type":"app_mention","user":"UBOB","text":"` + tc.text + `","ts":"1700000000.000100","channel":"C1","event_ts":"1700000000.000100"},` +
				`"authorizations":` + tc.authorizations + `}`
			w := httptest.NewRecorder()
			a.Events().ServeHTTP(w, signed(t, "/slack/events", testSecret, body, now, "application/json"))
			if w.Code != 200 {
				t.Fatalf("status: got %d, want 200", w.Code)
			}
			a.Stop()
			a.Wait()
			wantRun(t, h, tc.run)
		})
	}
}

// TestBotCommandWhateverTheBotName: the app manifest of the README names
// the catch-all slash command /switchman; a bot whose bot.name is another
// takes that command too, as well as the one of its own name.
func TestBotCommandWhateverTheBotName(t *testing.T) {
	tests := []struct{ command, text, want string }{
		{"/switchman", "status web", "status web"},
		{"/switchman", "", "help"},
		{"/Switchman", "whoami", "whoami"},
		{"/shipit", "status web", "status web"},
		{"/shipit", "", "help"},
		{"/deploy", "web 1", "deploy web 1"},
	}
	api := newFakeSlack(t)
	a, h, _, _ := newTestAdapter(t, api, now, func(o *slack.Options) { o.Config.Bot.Name = "shipit" })
	for i, tc := range tests {
		w := httptest.NewRecorder()
		a.Commands().ServeHTTP(w, signed(t, "/slack/commands", testSecret, slashForm("UBOB", "C1", tc.command, tc.text, fmt.Sprintf("T-name-%d", i), ""), now, formType))
		if w.Code != 200 {
			t.Fatalf("%s %q: status %d", tc.command, tc.text, w.Code)
		}
	}
	a.Stop()
	a.Wait()
	got := h.requests()
	if len(got) != len(tests) {
		t.Fatalf("got %d requests, want %d", len(got), len(tests))
	}
	want := map[string]int{}
	for _, tc := range tests {
		want[tc.want]++
	}
	for _, r := range got {
		want[r.Text]--
	}
	for text, n := range want {
		if n != 0 {
			t.Errorf("command text %q: got %d more than wanted (got %+v)", text, -n, got)
		}
	}
}

// TestSlashCommandStartingWithAMention: the parser strips a leading
// mention as the bot's, so a slash command whose text starts with another
// member's mention ("/switchman @ana lock deploys web prod", with Slack
// escaping users) must not run as if it were the bot's; nor one whose
// mention the adapter cannot tell from the bot's, before auth.test named
// it. The bot's own mention, and a mention after the first word, run.
func TestSlashCommandStartingWithAMention(t *testing.T) {
	tests := []struct {
		name, command, text string
		// checked: the bot asked auth.test, which names it UBOT.
		checked bool
		run     bool
	}{
		{"another member's mention first", "/switchman", "<@UANA|ana> lock deploys web prod db work", true, false},
		{"another member's bare mention first", "/switchman", "<@UANA> status web", true, false},
		{"another member's mention after a no-break space", "/switchman", "\u00a0<@UANA|ana> lock deploys web prod db work", true, false},
		{"the bot's mention first", "/switchman", "<@UBOT|switchman> status web", true, true},
		{"a mention, the bot unknown", "/switchman", "<@UBOT> status web", false, false},
		{"no mention first", "/switchman", "lock deploys web prod <@UANA> asked", true, true},
		{"a mention after the verb", "/grant", "<@UANA|ana> deployer web", true, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeSlack(t)
			a, h, _, _ := newTestAdapter(t, api, now)
			if tc.checked {
				if err := a.Client().CheckToken(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			w := httptest.NewRecorder()
			a.Commands().ServeHTTP(w, signed(t, "/slack/commands", testSecret, slashForm("UBOB", "C1", tc.command, tc.text, fmt.Sprintf("T-lead-%d", i), ""), now, formType))
			if w.Code != 200 {
				t.Fatalf("status: got %d, want 200", w.Code)
			}
			a.Stop()
			a.Wait()
			wantRun(t, h, tc.run)
		})
	}
}

// wantRun checks that h was handed one request, which ran or, refused,
// says that nothing was run.
func wantRun(t *testing.T, h *countingHandler, run bool) {
	t.Helper()
	reqs := h.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests handed to the handler: got %d, want 1", len(reqs))
	}
	if ran := reqs[0].Refused == ""; ran != run {
		t.Errorf("run: got %v (refused %q), want %v", ran, reqs[0].Refused, run)
	}
	if !run && !strings.Contains(reqs[0].Refused, "nothing was run") {
		t.Errorf("refusal: got %q, want it to say that nothing was run", reqs[0].Refused)
	}
}

// countingBody counts the bytes read of a request body.
type countingBody struct {
	r    io.Reader
	read int
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func (b *countingBody) Close() error { return nil }

// TestRefusedFromTheHeadersUnread: what the headers alone refuse (no
// signature, a stale timestamp, a Content-Length over the limit) is
// refused before a byte of the body is read, on every endpoint: anyone can
// send such requests, and each would otherwise make the bot read up to the
// limit for nothing.
func TestRefusedFromTheHeadersUnread(t *testing.T) {
	api := newFakeSlack(t)
	body := slashForm("UBOB", "C1", "/status", "web", "T-unread", "")
	big := body + "&x=" + strings.Repeat("a", int(slack.MaxInteractionBody))
	tests := []struct {
		name string
		req  func(target string) *http.Request
		code int
	}{
		{"unsigned", func(target string) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
			r.Header.Set("Content-Type", formType)
			return r
		}, http.StatusUnauthorized},
		{"signature without a timestamp", func(target string) *http.Request {
			r := signed(t, target, testSecret, body, now, formType)
			r.Header.Del("X-Slack-Request-Timestamp")
			return r
		}, http.StatusUnauthorized},
		{"stale timestamp", func(target string) *http.Request {
			return signed(t, target, testSecret, body, now.Add(-6*time.Minute), formType)
		}, http.StatusUnauthorized},
		{"Content-Length over the limit", func(target string) *http.Request {
			return signed(t, target, testSecret, big, now, formType)
		}, http.StatusRequestEntityTooLarge},
	}
	endpoints := []struct {
		target  string
		handler func(*slack.Adapter) http.Handler
	}{
		{"/slack/commands", (*slack.Adapter).Commands},
		{"/slack/interactions", (*slack.Adapter).Interactions},
		{"/slack/events", (*slack.Adapter).Events},
	}
	for _, ep := range endpoints {
		for _, tc := range tests {
			t.Run(ep.target+"/"+tc.name, func(t *testing.T) {
				a, h, _, _ := newTestAdapter(t, api, now)
				r := tc.req(ep.target)
				cb := &countingBody{r: r.Body}
				r.Body = cb
				w := httptest.NewRecorder()
				ep.handler(a).ServeHTTP(w, r)
				a.Stop()
				a.Wait()
				if w.Code != tc.code {
					t.Errorf("status: got %d, want %d (body %q)", w.Code, tc.code, w.Body.String())
				}
				if cb.read != 0 {
					t.Errorf("body bytes read: got %d, want 0", cb.read)
				}
				if got := h.total(); got != 0 {
					t.Errorf("commands run: got %d, want 0", got)
				}
			})
		}
	}
}

// TestUndecodableRequestLogged: a signed request the adapter cannot read
// is answered 400 and logged (endpoint, the payload's type, its size and
// why), so that the operator learns what Slack sent; the log line holds
// neither the body nor its token, and stays short however large the body.
func TestUndecodableRequestLogged(t *testing.T) {
	long := strings.Repeat("x", 30<<10)
	tests := []struct {
		name, endpoint, body, contentType string
		want                              []string
	}{
		{"command with a bad escape", "commands", slashForm("UBOB", "C1", "/deploy", "web 1", "T1", "") + "&x=%zz" + long, formType,
			[]string{"endpoint=commands", "type=/deploy", `invalid URL escape`}},
		{"command without a user", "commands", slashForm("", "C1", "/deploy", "web 1", "T1", "") + "&x=" + long, formType,
			[]string{"endpoint=commands", "type=/deploy", "payload without user or channel"}},
		{"interaction of a field's wrong type", "interactions", url.Values{"token": {"legacy-verification-token"}, "payload": {`{"type":"block_actions","user":"UBOB","x":"` + long + `"}`}}.Encode(), formType,
			[]string{"endpoint=interactions", "type=block_actions", "decode interaction"}},
		{"event not JSON", "events", `{"token":"legacy-verification-token","type":"event_callback","x":"` + long, "application/json",
			[]string{"endpoint=events", `type=""`, "decode event", "unexpected end of JSON input"}},
		{"event of a field's wrong type", "events", `{"token":"legacy-verification-token","type":"event_callback","event":{"type":"app_mention","user":42,"text":"` + long + `"}}`, "application/json",
			[]string{"endpoint=events", "type=event_callback/app_mention", "decode event"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeSlack(t)
			a, h, _, logs := newTestAdapter(t, api, now)
			handler := map[string]http.Handler{"commands": a.Commands(), "interactions": a.Interactions(), "events": a.Events()}[tt.endpoint]
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, signed(t, "/slack/"+tt.endpoint, testSecret, tt.body, now, tt.contentType))
			if w.Code != http.StatusBadRequest {
				t.Errorf("got %d, want 400", w.Code)
			}
			got := logs.String()
			for _, want := range append(tt.want, "level=WARN", "could not read a signed slack request", fmt.Sprintf("bytes=%d", len(tt.body))) {
				if !strings.Contains(got, want) {
					t.Errorf("log: got %q, want it to contain %q", got[:min(len(got), 600)], want)
				}
			}
			if strings.Contains(got, "legacy-verification-token") || strings.Contains(got, "xxxxxxxx") {
				t.Errorf("log: got %q, want neither the token nor the body", got[:min(len(got), 600)])
			}
			if len(got) > 1000 {
				t.Errorf("log: got %d bytes, want at most 1000", len(got))
			}
			if h.total() != 0 {
				t.Errorf("runs: got %d, want none", h.total())
			}
		})
	}
}
