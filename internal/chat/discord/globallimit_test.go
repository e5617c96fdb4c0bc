package discord

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
)

// TestGlobalRateLimitHoldsEveryCall: a 429 of Discord's global limit
// stops every request of the bot token until its Retry-After has
// passed, not only the one it answered; another call meanwhile waits
// rather than collect a 429 of its own, which Discord counts towards
// the invalid requests it bans an address for. The interactions'
// own webhooks are not under the global limit, and do not wait.
func TestGlobalRateLimitHoldsEveryCall(t *testing.T) {
	// Long enough that the interaction's reply, edited at once, lands
	// within it on a loaded machine.
	const window = 3 * time.Second
	hs := newHarness(t, &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Title: "You are ana"})
		return commands.Outcome{}
	}}, nil)
	var mu sync.Mutex
	var until time.Time
	// Discord: the first post meets the global limit, and so does every
	// call under it until the window ends.
	hs.fd.respond = func(c apiCall, n int) (int, string, bool) {
		mu.Lock()
		defer mu.Unlock()
		if n == 0 {
			until = c.at.Add(window)
		}
		if strings.HasPrefix(c.Path, "/api/v9/channels/") && c.at.Before(until) {
			return http.StatusTooManyRequests, `{"message":"You are being rate limited.","retry_after":3,"global":true}`, true
		}
		return 0, "", false
	}
	hs.fd.header = func(c apiCall) http.Header {
		if c.Status == http.StatusTooManyRequests {
			return http.Header{"Retry-After": {"3"}, "X-Ratelimit-Global": {"true"}, "X-Ratelimit-Scope": {"global"}}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- hs.a.Post(ctx, "301", chat.Message{Title: "first"}) }()
	hs.fd.waitCalls(t, 1)
	// Recorded is not yet read by the client: a post started before the
	// limit is noted meets a 429 of its own.
	g := limitOf(t, hs.a)
	waitFor(t, "the global limit noted", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return !g.until.IsZero()
	})
	go func() { errc <- hs.a.Post(ctx, "302", chat.Message{Title: "second"}) }()
	// An interaction answered meanwhile has its reply edited at once.
	responseOf(t, hs.post(t, slashCommand("431", "111", "whoami")))
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatalf("Post: %v", err)
		}
	}
	hs.shutdown(t)
	calls := hs.fd.Calls()
	var edited bool
	for _, c := range calls {
		if c.Method == http.MethodPatch && strings.HasSuffix(c.Path, "/messages/@original") {
			mu.Lock()
			edited = c.Status == http.StatusOK && c.at.Before(until)
			mu.Unlock()
		}
	}
	if !edited {
		t.Errorf("calls %s, want the reply edited during the global limit", transcript(t, calls))
	}
	limited := 0
	for _, c := range calls {
		if c.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 1 || len(calls) != 4 {
		t.Errorf("calls %s, want one 429 and each post sent once after it", transcript(t, calls))
	}
}

// TestRetryAfterHeader: Retry-After may be an HTTP-date as well as
// delta-seconds (RFC 9110, 10.2.3); a date was not read and held for a
// second whatever it said. A date is measured from the response's Date,
// else from now, is never negative, and keeps the bounds of a wait.
func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name       string
		retryAfter string
		date       string // the response's Date header
		want       time.Duration
	}{
		{name: "seconds", retryAfter: "3", want: 3 * time.Second},
		{name: "fractional seconds", retryAfter: "0.5", want: 500 * time.Millisecond},
		{name: "seconds below the floor", retryAfter: "0", want: 50 * time.Millisecond},
		{name: "seconds past a minute", retryAfter: "600", want: 10 * time.Minute},
		{name: "a block's hour", retryAfter: "3600", want: time.Hour},
		{name: "seconds past the bound", retryAfter: "86400", want: time.Hour},
		{name: "seconds past a Duration", retryAfter: "1e30", want: time.Hour},
		{name: "infinite seconds", retryAfter: "Inf", want: time.Hour},
		{name: "unreadable", retryAfter: "soon", want: time.Second},
		{name: "missing", want: time.Second},
		{name: "negative seconds", retryAfter: "-5", want: time.Second},
		{name: "date from now", retryAfter: date(20 * time.Second), want: 20 * time.Second},
		{name: "date from the response's Date", retryAfter: date(20 * time.Second), date: date(15 * time.Second), want: 5 * time.Second},
		{name: "date, unreadable Date", retryAfter: date(20 * time.Second), date: "yesterday", want: 20 * time.Second},
		{name: "RFC 850 date", retryAfter: now.Add(7 * time.Second).Format("Monday, 02-Jan-06 15:04:05 GMT"), want: 7 * time.Second},
		{name: "asctime date", retryAfter: now.Add(8 * time.Second).Format(time.ANSIC), want: 8 * time.Second},
		{name: "date already past", retryAfter: date(-time.Hour), want: 50 * time.Millisecond},
		{name: "date before the response's Date", retryAfter: date(0), date: date(10 * time.Second), want: 50 * time.Millisecond},
		{name: "date past a minute", retryAfter: date(20 * time.Minute), want: 20 * time.Minute},
		{name: "date past the bound", retryAfter: date(5 * time.Hour), want: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.retryAfter != "" {
				h.Set("Retry-After", tt.retryAfter)
			}
			if tt.date != "" {
				h.Set("Date", tt.date)
			}
			if got := retryAfterHeader(h, now); got != tt.want {
				t.Errorf("retryAfterHeader(Retry-After %q, Date %q) = %s, want %s", tt.retryAfter, tt.date, got, tt.want)
			}
		})
	}
}

// TestBlockedAddressHoldsEveryCall: a 429 whose body is not Discord's
// JSON is a block in front of the API on the whole address, yet only
// the call it answered waited it out; every other call went on, met a
// 429 of its own and lengthened the block. Every call of the adapter,
// the interactions' webhooks included, now waits until its Retry-After
// has passed, and a call whose context ends first gives up without
// being sent.
func TestBlockedAddressHoldsEveryCall(t *testing.T) {
	const window = 2 * time.Second
	hs := newHarness(t, &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Title: "You are ana"})
		return commands.Outcome{}
	}}, nil)
	hs.fd.respond = func(_ apiCall, n int) (int, string, bool) {
		if n == 0 {
			status, body, _ := blocked("2")
			return status, body, true
		}
		return 0, "", false
	}
	hs.fd.header = func(c apiCall) http.Header {
		if c.Status == http.StatusTooManyRequests {
			_, _, h := blocked("2")
			return h
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- hs.a.Post(ctx, "301", chat.Message{Title: "first"}) }()
	first := hs.fd.waitCalls(t, 1)[0]
	// The server has answered once the call is recorded, but the client
	// may not have read the answer yet: a call started before then is
	// not one the block could hold.
	g := limitOf(t, hs.a)
	waitFor(t, "the block noted", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return !g.blocked.IsZero()
	})
	go func() { errc <- hs.a.Post(ctx, "302", chat.Message{Title: "second"}) }()
	// An interaction answered meanwhile has its reply edited after the block.
	responseOf(t, hs.post(t, slashCommand("432", "111", "whoami")))
	// A call that cannot wait that long gives up, unsent.
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	started := time.Now()
	// Post's error unwraps to its cause; its text is scrubbed of the token.
	if err := hs.a.Post(short, "303", chat.Message{Title: "hurried"}); err == nil || !strings.Contains(err.Error(), context.DeadlineExceeded.Error()) {
		t.Errorf("Post with a 200 ms context = %v, want %v", err, context.DeadlineExceeded)
	}
	if took := time.Since(started); took > time.Second {
		t.Errorf("Post with a 200 ms context returned after %s, want as its context ended", took.Round(time.Millisecond))
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatalf("Post: %v", err)
		}
	}
	hs.shutdown(t)
	calls := hs.fd.Calls()
	if first.Status != http.StatusTooManyRequests {
		t.Fatalf("first call %s, want the 429 of the block\n%s", first.Path, transcript(t, calls))
	}
	var edited bool
	for _, c := range calls[1:] {
		if strings.Contains(c.Path, "/channels/303/") {
			t.Errorf("call %s %s sent, want none from a context that ended within the block", c.Method, c.Path)
		}
		if c.at.Sub(first.at) < window {
			t.Errorf("call %s %s sent %s after the 429, want none before its Retry-After of %s", c.Method, c.Path, c.at.Sub(first.at).Round(time.Millisecond), window)
		}
		if c.Status == http.StatusTooManyRequests {
			t.Errorf("call %s %s met a 429, want one only", c.Method, c.Path)
		}
		edited = edited || c.Method == http.MethodPatch && strings.HasSuffix(c.Path, "/messages/@original")
	}
	if !edited || len(calls) != 4 {
		t.Errorf("calls %s, want the 429, each post and the reply's edit sent once after it", transcript(t, calls))
	}
}

// limitOf is the limit a's requests wait for.
func limitOf(t *testing.T, a *Adapter) *globalLimit {
	t.Helper()
	rt := a.s.Client.Transport
	if gu, ok := rt.(gatewayURLTransport); ok {
		rt = gu.base
	}
	gt, ok := rt.(globalTransport)
	if !ok {
		t.Fatalf("the client's transport is %T, want globalTransport", a.s.Client.Transport)
	}
	return gt.g
}

// TestLongRetryAfterHoldsPastAMinute: a 429 asking for longer than a
// minute (a Cloudflare block of the address lasts about an hour) held the
// bot's calls for a minute only, and the calls after it went out into the
// block, each one more invalid request to Discord. The hold now lasts as
// long as the Retry-After asks, up to maxHold; a call still tries again
// within a minute, and waits there for the rest.
func TestLongRetryAfterHoldsPastAMinute(t *testing.T) {
	global := func(retryAfter string) (int, string, http.Header) {
		return http.StatusTooManyRequests, `{"message":"You are being rate limited.","retry_after":` + retryAfter + `,"global":true}`,
			http.Header{"Retry-After": {retryAfter}, "X-Ratelimit-Global": {"true"}, "Content-Type": {"application/json"}}
	}
	tests := []struct {
		name   string
		answer func(string) (int, string, http.Header)
		after  string
		want   time.Duration
		until  func(*globalLimit) time.Time
	}{
		{"global limit", global, "600", 10 * time.Minute, func(g *globalLimit) time.Time { return g.until }},
		{"blocked address", blocked, "3600", time.Hour, func(g *globalLimit) time.Time { return g.blocked }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sent atomic.Int32
			base := roundTripper(func(r *http.Request) (*http.Response, error) {
				sent.Add(1)
				status, body, h := tt.answer(tt.after)
				return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
			})
			g := &globalLimit{}
			tr := globalTransport{base: base, g: g}
			req, err := http.NewRequest(http.MethodPost, "https://discord.com/api/v9/channels/301/messages", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := tr.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			g.mu.Lock()
			left := time.Until(tt.until(g))
			g.mu.Unlock()
			if left < tt.want-time.Minute || left > tt.want {
				t.Errorf("held for %s, want the Retry-After's %s", left.Round(time.Second), tt.want)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			req, err = http.NewRequestWithContext(ctx, http.MethodPost, "https://discord.com/api/v9/channels/302/messages", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tr.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("a call within the hold: %v, want it held until its context ended", err)
			}
			if n := sent.Load(); n != 1 {
				t.Errorf("%d requests sent, want only the one the 429 answered", n)
			}
		})
	}
	if d, ok := rateLimitWait(&blockedError{retryAfter: time.Hour}); !ok || d != time.Minute {
		t.Errorf("rateLimitWait of an hour's block = %s, %v; want a minute before the call tries again", d, ok)
	}
}

// roundTripper is an http.RoundTripper of a function.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
