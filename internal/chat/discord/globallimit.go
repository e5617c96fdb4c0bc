package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/pause"
)

// globalLimit is what holds every request of the adapter, not only the
// one a 429 answered, until its Retry-After has passed: Discord's global
// rate limit of the bot token as last reported, and a block in front of
// Discord's API (a *blockedError) on the whole address. discordgo keeps
// limits per route only, so without this every call made meanwhile would
// meet a 429 of its own, and Discord bans an address for a while after
// too many of those. It is safe for concurrent use.
type globalLimit struct {
	mu      sync.Mutex
	until   time.Time // the bot token's global limit
	blocked time.Time // the address's block, which covers interactions too
}

// wait returns once the limits over a request have passed, or with ctx's
// error. exempt requests (see underInteraction) wait for a block only.
func (g *globalLimit) wait(ctx context.Context, exempt bool) error {
	for {
		g.mu.Lock()
		until := g.blocked
		if !exempt && g.until.After(until) {
			until = g.until
		}
		g.mu.Unlock()
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		if err := pause.For(ctx, d); err != nil {
			return err
		}
	}
}

// hold notes the bot token's global limit for d from now.
func (g *globalLimit) hold(d time.Duration) {
	g.extend(&g.until, d)
}

// block notes a block of the address for d from now.
func (g *globalLimit) block(d time.Duration) {
	g.extend(&g.blocked, d)
}

func (g *globalLimit) extend(t *time.Time, d time.Duration) {
	until := time.Now().Add(d)
	g.mu.Lock()
	if until.After(*t) {
		*t = until
	}
	g.mu.Unlock()
}

// globalTransport makes requests wait out the limits of globalLimit and
// notes them from the 429s that come back. The interactions' callbacks
// and webhooks are not under Discord's global limit and wait only for a
// block of the address, which refuses them as well.
type globalTransport struct {
	base http.RoundTripper
	g    *globalLimit
}

func (t globalTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	exempt := underInteraction(r.URL.Path)
	if err := t.g.wait(r.Context(), exempt); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		return resp, err
	}
	if !exempt && (resp.Header.Get("X-RateLimit-Global") != "" || resp.Header.Get("X-RateLimit-Scope") == "global") {
		t.g.hold(retryAfterHeader(resp.Header, time.Now()))
	}
	resp, err = readable429(resp)
	if b, ok := err.(*blockedError); ok {
		t.g.block(b.retryAfter)
	}
	return resp, err
}

// maxRateLimitBody bounds what is read of a 429's body: Discord's is a
// line of JSON, Cloudflare's a page of HTML.
const maxRateLimitBody = 64 << 10

// readable429 returns resp, a 429, as it came when its body is Discord's
// JSON, which discordgo reads into a *discordgo.RateLimitError. Any other
// body (Cloudflare's HTML page in front of the API, which Discord
// documents for an address that made too many invalid requests) fails
// discordgo's unmarshal, and the call came back with that error alone,
// known neither as a 429 nor how long to wait: it is returned as a
// *blockedError instead, which carries the wait its Retry-After asks for.
func readable429(resp *http.Response) (*http.Response, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRateLimitBody))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("discord: read the body of a 429: %w", err)
	}
	var rl discordgo.TooManyRequests
	if json.Unmarshal(body, &rl) == nil {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return resp, nil
	}
	return nil, &blockedError{retryAfter: retryAfterHeader(resp.Header, time.Now()), server: resp.Header.Get("Server")}
}

// blockedError is a 429 whose body is not Discord's JSON (see readable429).
type blockedError struct {
	retryAfter time.Duration
	server     string // the Server header, "cloudflare" for a block in front of Discord
}

func (e *blockedError) Error() string {
	from := ""
	if e.server != "" {
		from = " from " + e.server
	}
	return fmt.Sprintf("429 Too Many Requests%s without Discord's JSON body; retry after %s", from, e.retryAfter)
}

// underInteraction reports whether path is an interaction's callback or
// webhook (interactions/ID/TOKEN/callback, webhooks/APP/TOKEN/…).
func underInteraction(path string) bool {
	return strings.Contains(path, "/interactions/") || strings.Contains(path, "/webhooks/")
}

// maxHold bounds how long a 429 holds the bot's calls: a Cloudflare block
// of the address lasts about an hour, and a Retry-After beyond that (or
// one that overflows) would silence the bot for longer than any block.
const maxHold = time.Hour

// retryAfterHeader is the wait a 429's Retry-After asks for, from 50 ms
// up to maxHold; one that cannot be read holds for a second. A call
// waits for at most a minute of it before it is tried again (see
// rateLimitWait), and globalLimit holds it for the rest.
// RFC 9110 allows delta-seconds or an HTTP-date: a date is measured from
// the response's own Date when it has one, so that a clock of ours that
// is off does not stretch or cut the wait, else from now; a date already
// past asks for no wait.
func retryAfterHeader(h http.Header, now time.Time) time.Duration {
	d := time.Second
	v := strings.TrimSpace(h.Get("Retry-After"))
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		// Past maxHold the cap applies anyway; converting a larger
		// value (or "Inf") would overflow a Duration into the floor.
		d = time.Duration(min(s, maxHold.Seconds()) * float64(time.Second))
	} else if at, err := http.ParseTime(v); err == nil {
		from := now
		if date, err := http.ParseTime(h.Get("Date")); err == nil {
			from = date
		}
		d = max(at.Sub(from), 0)
	}
	return min(max(d, 50*time.Millisecond), maxHold)
}
