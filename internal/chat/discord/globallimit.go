package discord

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/pause"
)

// globalLimit is Discord's global rate limit of the bot token as last
// reported: a 429 that says it is global holds every request of the
// token, not only the one it answered, until its Retry-After has passed.
// discordgo keeps limits per route only, so without this every call
// made meanwhile would meet a 429 of its own, and Discord bans an
// address for a while after too many of those. It is safe for
// concurrent use.
type globalLimit struct {
	mu    sync.Mutex
	until time.Time
}

// wait returns once the global limit has passed, or with ctx's error.
func (g *globalLimit) wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		d := time.Until(g.until)
		g.mu.Unlock()
		if d <= 0 {
			return nil
		}
		if err := pause.For(ctx, d); err != nil {
			return err
		}
	}
}

func (g *globalLimit) hold(d time.Duration) {
	until := time.Now().Add(d)
	g.mu.Lock()
	if until.After(g.until) {
		g.until = until
	}
	g.mu.Unlock()
}

// globalTransport makes the bot token's requests wait out the global
// limit and notes it from Discord's 429s. The interactions' callbacks
// and webhooks are not under the global limit and never wait.
type globalTransport struct {
	base http.RoundTripper
	g    *globalLimit
}

func (t globalTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	exempt := underInteraction(r.URL.Path)
	if !exempt {
		if err := t.g.wait(r.Context()); err != nil {
			if r.Body != nil {
				r.Body.Close()
			}
			return nil, err
		}
	}
	resp, err := t.base.RoundTrip(r)
	if err == nil && !exempt && resp.StatusCode == http.StatusTooManyRequests &&
		(resp.Header.Get("X-RateLimit-Global") != "" || resp.Header.Get("X-RateLimit-Scope") == "global") {
		t.g.hold(retryAfterHeader(resp.Header.Get("Retry-After")))
	}
	return resp, err
}

// underInteraction reports whether path is an interaction's callback or
// webhook (interactions/ID/TOKEN/callback, webhooks/APP/TOKEN/…).
func underInteraction(path string) bool {
	return strings.Contains(path, "/interactions/") || strings.Contains(path, "/webhooks/")
}

// retryAfterHeader is a Retry-After in seconds, within the bounds
// retryAfter keeps; one that cannot be read holds for a second.
func retryAfterHeader(v string) time.Duration {
	d := time.Second
	if s, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && s >= 0 {
		d = time.Duration(s * float64(time.Second))
	}
	return min(max(d, 50*time.Millisecond), time.Minute)
}
