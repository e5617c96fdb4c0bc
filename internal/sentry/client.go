// Package sentry tells Sentry about releases and deploys, reads a project's
// error rate and the issues a release introduced, watches the error rate
// after a deploy for spikes, and receives Sentry's alert webhooks.
//
// Endpoints of Sentry's web API (https://docs.sentry.io/api/) used here:
//
//   - POST /api/0/organizations/{org}/releases/ ("Create a New Release for an
//     Organization"): {"version", "projects"}. Sentry answers 201 when it
//     created the release or added a project to it and 208 when nothing
//     changed; the call is idempotent.
//   - POST /api/0/organizations/{org}/releases/{version}/deploys/ ("Create a
//     Deploy"): {"environment", "dateStarted", "dateFinished", "name"}.
//   - GET /api/0/projects/{org}/{project}/ ("Retrieve a Project"), once per
//     project, for its numeric id: the organization endpoints below filter
//     projects by id, not slug.
//   - GET /api/0/organizations/{org}/events-stats/ for error counts; see
//     [Client.ErrorCounts] for why this one.
//   - GET /api/0/organizations/{org}/issues/ ("List an Organization's
//     Issues") with query=firstRelease:VERSION, the environment and
//     sort=freq.
//
// Webhooks follow https://docs.sentry.io/organization/integrations/integration-platform/webhooks/.
package sentry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/pause"
)

// DefaultBaseURL is Sentry's SaaS; self-hosted installs set Options.BaseURL.
const DefaultBaseURL = "https://sentry.io"

const (
	maxResponseBody = 8 << 20  // JSON answers we decode
	maxErrorBody    = 64 << 10 // error bodies we quote
	maxDetail       = 300      // characters of an error body kept in Error.Detail
)

// Options configure a Client. The zero value of every field but Token is a
// sensible default.
type Options struct {
	// BaseURL is Sentry's address, e.g. https://sentry.example.com for a
	// self-hosted install (a path prefix is kept). Empty: DefaultBaseURL.
	BaseURL string
	// Token is an auth token (internal integration or user token) sent as
	// "Authorization: Bearer". It needs project:releases (or project:write)
	// to create releases and deploys, and event:read / org:read to read
	// errors and issues. It is never logged and is redacted from errors.
	Token string
	// HTTPClient sends the requests. Nil: a client without a global timeout
	// (each attempt has its own, see Timeout). Its CheckRedirect is not
	// used: the client follows no redirect.
	HTTPClient *http.Client
	// Timeout bounds one attempt, including reading the answer. Zero: 10s.
	Timeout time.Duration
	// Attempts bounds how often one call is tried. Zero: 4.
	Attempts int
	// MinBackoff is the wait before the first retry; it doubles up to
	// MaxBackoff. Zero: 500ms and 8s. The waits are not jittered: one bot
	// talks to one Sentry, so there is no herd to spread, and fixed waits
	// keep tests exact.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a 429
	// asking for more ends the call. Zero: 60s.
	MaxRetryAfter time.Duration
	// Log receives retries at debug level. Nil: discarded.
	Log *slog.Logger
	// Now and Sleep are the clock; nil means the real one. Sleep waits d or
	// until ctx ends, returning ctx.Err() in that case.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client calls Sentry's web API. It is safe for concurrent use.
type Client struct {
	base          string
	token         string
	hc            *http.Client
	timeout       time.Duration
	attempts      int
	minBackoff    time.Duration
	maxBackoff    time.Duration
	maxRetryAfter time.Duration
	log           *slog.Logger
	now           func() time.Time
	sleep         func(ctx context.Context, d time.Duration) error

	mu         sync.Mutex
	projectIDs map[string]string // "org/slug" → numeric id
}

// New returns a client for o. It fails when the token is missing or the base
// URL is not an http(s) URL.
func New(o Options) (*Client, error) {
	if strings.TrimSpace(o.Token) == "" {
		return nil, errs.New(errs.Invalid, "sentry: no auth token configured")
	}
	base := strings.TrimRight(o.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errs.New(errs.Invalid, "sentry: base URL %q is not an http(s) URL", redactURL(base))
	}
	c := &Client{
		base:          base,
		token:         o.Token,
		hc:            o.HTTPClient,
		timeout:       o.Timeout,
		attempts:      o.Attempts,
		minBackoff:    o.MinBackoff,
		maxBackoff:    o.MaxBackoff,
		maxRetryAfter: o.MaxRetryAfter,
		log:           o.Log,
		now:           o.Now,
		sleep:         o.Sleep,
		projectIDs:    map[string]string{},
	}
	// A redirect is not followed: Go sends the token along to the same
	// host name on another scheme or port (an https url redirected to
	// plain HTTP), and turns a POST redirected by 301, 302 or 303 into a
	// GET, whose 200 would read as a release created. The 3xx is the
	// answer, an error naming where it leads (see attempt).
	hc := &http.Client{}
	if c.hc != nil {
		cp := *c.hc
		hc = &cp
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = hc
	if c.timeout <= 0 {
		c.timeout = 10 * time.Second
	}
	if c.attempts <= 0 {
		c.attempts = 4
	}
	if c.minBackoff <= 0 {
		c.minBackoff = 500 * time.Millisecond
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = 8 * time.Second
	}
	c.maxBackoff = max(c.maxBackoff, c.minBackoff)
	if c.maxRetryAfter <= 0 {
		c.maxRetryAfter = time.Minute
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = pause.For
	}
	return c, nil
}

// Error is a call to Sentry that failed. Calls return it wrapped in an
// *errs.Error whose code says what kind of failure it was (Forbidden for a
// refused token, NotFound, Invalid, Conflict, Unavailable for rate limits,
// server errors and network failures, Internal for an answer that could not
// be read); errors.As finds it for the detail.
type Error struct {
	Op     string // what was attempted, e.g. "create release"
	Method string
	Path   string // request path, without host or query
	Status int    // HTTP status of the last answer; 0 when none arrived
	Detail string // Sentry's message (its "detail" field or the start of the body), token redacted
	// Moved says Sentry answered a project's old slug with its
	// "resource-moved" redirect: the project was renamed. MovedTo is its
	// new slug, when the answer named one.
	Moved    bool
	MovedTo  string
	Attempts int   // requests sent
	Err      error // cause when no usable answer arrived: network, timeout, context, decoding
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sentry %s: %s %s", e.Op, e.Method, e.Path)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// redacted hides the token in a cause's message while keeping the cause for
// errors.Is (context.DeadlineExceeded, net errors).
type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

func (c *Client) redact(s string) string {
	if c.token != "" {
		s = strings.ReplaceAll(s, c.token, "[redacted]")
	}
	return s
}

func (c *Client) redactErr(err error) error {
	if err == nil {
		return nil
	}
	msg := c.redact(err.Error())
	if msg == err.Error() {
		return err
	}
	return &redacted{msg: msg, err: err}
}

// redactURL drops user info from a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// request is one API call.
type request struct {
	op     string
	method string
	path   string // already escaped, starting with /api/0/
	query  url.Values
	body   any   // JSON-encoded when non-nil
	ok     []int // statuses that count as success; empty: any 2xx
	out    any   // decoded from a successful answer when non-nil
	status *int  // receives the successful status when non-nil
}

// do sends r, retrying network errors, timeouts, 429 and 5xx with backoff
// while attempts remain and ctx allows the wait.
func (c *Client) do(ctx context.Context, r request) error {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return c.fail(r, &Error{Err: err}, errs.Internal)
		}
	}
	var last *Error
	for attempt := 1; ; attempt++ {
		status, wait, e := c.attempt(ctx, r, payload)
		if e == nil {
			if r.status != nil {
				*r.status = status
			}
			return nil
		}
		e.Attempts = attempt
		last = e
		if ctx.Err() != nil {
			if e.Err == nil || !errors.Is(e.Err, ctx.Err()) {
				e.Err = ctx.Err()
			}
			return c.fail(r, last, errs.Unavailable)
		}
		if wait < 0 || attempt >= c.attempts {
			return c.fail(r, last, codeFor(last))
		}
		if wait == 0 {
			wait = c.backoff(attempt)
		}
		if dl, ok := ctx.Deadline(); ok && c.now().Add(wait).After(dl) {
			// The caller's deadline comes first: waiting would only end in
			// its error instead of Sentry's.
			return c.fail(r, last, codeFor(last))
		}
		c.log.Debug("sentry: retrying", "op", r.op, "path", r.path, "status", e.Status, "attempt", attempt, "wait", wait, "err", c.redactErr(e.Err))
		if err := c.sleep(ctx, wait); err != nil {
			last.Err = err
			return c.fail(r, last, errs.Unavailable)
		}
	}
}

// attempt sends r once. On failure it returns the error and how long to wait
// before retrying: 0 for the default backoff, >0 for a Retry-After, <0 when
// retrying cannot help.
func (c *Client) attempt(ctx context.Context, r request, payload []byte) (int, time.Duration, *Error) {
	e := &Error{Op: r.op, Method: r.method, Path: r.path}
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u, body)
	if err != nil {
		e.Err = c.redactErr(err)
		return 0, -1, e
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "switchman")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		e.Err = c.redactErr(err)
		return 0, 0, e
	}
	defer resp.Body.Close()
	e.Status = resp.StatusCode

	if c.success(r, resp.StatusCode) {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody+1))
		if err != nil {
			// The answer was cut off (timeout, reset): the next attempt may
			// read it whole.
			e.Err = c.redactErr(err)
			return 0, 0, e
		}
		if len(data) > maxResponseBody {
			e.Err = fmt.Errorf("answer larger than %d bytes", maxResponseBody)
			return 0, -1, e
		}
		if r.out != nil {
			if err := json.Unmarshal(data, r.out); err != nil {
				e.Err = fmt.Errorf("decode answer: %w", err)
				return 0, -1, e
			}
		}
		return resp.StatusCode, 0, nil
	}

	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	// The token is hidden before the cut, which could fall inside it.
	e.Detail = truncate(c.redact(detailOf(data)))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		wait := c.retryAfter(resp.Header)
		if wait > c.maxRetryAfter || wait >= retryAfterCap {
			how := wait.Round(time.Second).String()
			if wait >= retryAfterCap {
				how += " or more"
			}
			e.Detail = strings.TrimSpace(e.Detail + fmt.Sprintf(" (rate limited for %s)", how))
			return 0, -1, e
		}
		return 0, wait, e
	case resp.StatusCode >= 500:
		return 0, 0, e
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		to := "(no Location)"
		if loc, err := resp.Location(); err == nil {
			to = redactURL(loc.String())
		}
		e.Detail = truncate(c.redact("redirected to " + to))
		e.Moved, e.MovedTo = movedOf(data)
		return 0, -1, e
	default:
		return 0, -1, e
	}
}

func (c *Client) success(r request, status int) bool {
	if len(r.ok) == 0 {
		return status >= 200 && status < 300
	}
	for _, s := range r.ok {
		if s == status {
			return true
		}
	}
	return false
}

func (c *Client) backoff(attempt int) time.Duration {
	d := c.minBackoff
	for i := 1; i < attempt && d < c.maxBackoff; i++ {
		d *= 2
	}
	return min(d, c.maxBackoff)
}

// retryAfter reads how long Sentry asks us to wait: Retry-After in seconds
// or as an HTTP date, else X-Sentry-Rate-Limit-Reset (UTC epoch seconds).
// Zero means no usable header (use the backoff).
//
// A date or reset time that is not after the bot's clock is no usable
// header either: Sentry sends the reset of its fixed window with every
// answer, also with a 429 of its concurrent limit, which that reset does
// not lift, and it is counted by Sentry's clock, which the bot's may run
// ahead of. Waiting a millisecond then spent every attempt at once.
//
// A wait is at most retryAfterCap: seconds past what a time.Duration
// holds (1e30, 99999999999) overflowed to a negative wait, taken for "do
// not retry", and a call ended saying neither that nor for how long;
// seconds past a float64 (1e400), or a reset past an int64, were no
// usable header, and every attempt was spent on the limit.
func (c *Client) retryAfter(h http.Header) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.ParseFloat(v, 64); (err == nil || errors.Is(err, strconv.ErrRange)) && s >= 0 {
			if s >= retryAfterCap.Seconds() {
				return retryAfterCap
			}
			return time.Duration(s * float64(time.Second))
		}
		if t, err := http.ParseTime(v); err == nil {
			return min(max(t.Sub(c.now()), 0), retryAfterCap)
		}
	}
	if v := strings.TrimSpace(h.Get("X-Sentry-Rate-Limit-Reset")); v != "" {
		if s, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
			now := c.now()
			if s >= now.Unix()+int64(retryAfterCap/time.Second) {
				return retryAfterCap // time.Unix overflows near the int64 bound
			}
			return max(time.Unix(s, 0).Sub(now), 0)
		}
	}
	return 0
}

// retryAfterCap bounds the wait read from a header. A call asked to wait
// that long ends, whatever MaxRetryAfter is, and says the wait is "24h0m0s
// or more": more precision says nothing a channel can act on.
const retryAfterCap = 24 * time.Hour

// movedOf reads Sentry's answer to a renamed project's old slug, a 302
// whose body is {"slug": NEW, "detail": {"code": "resource-moved",
// "extra": {"slug": NEW, …}}}: moved says the body is one, to the new
// slug, empty when it names none that could be one.
func movedOf(data []byte) (moved bool, to string) {
	var b struct {
		Slug   string `json:"slug"`
		Detail struct {
			Code  string `json:"code"`
			Extra struct {
				Slug string `json:"slug"`
			} `json:"extra"`
		} `json:"detail"`
	}
	if json.Unmarshal(data, &b) != nil || b.Detail.Code != "resource-moved" {
		return false, ""
	}
	to = b.Detail.Extra.Slug
	if to == "" {
		to = b.Slug
	}
	if !validSlug(to) {
		to = ""
	}
	return true, to
}

// validSlug reports whether s can be a Sentry slug: what the channel is
// told to write in the config, never text of the answer's choosing.
func validSlug(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// detailOf extracts Sentry's {"detail": "..."} or quotes the body, its
// white space collapsed.
func detailOf(data []byte) string {
	var d struct {
		Detail any `json:"detail"`
	}
	if json.Unmarshal(data, &d) == nil {
		switch v := d.Detail.(type) {
		case string:
			return v
		case map[string]any:
			if m, ok := v["message"].(string); ok {
				return m
			}
		}
	}
	return strings.Join(strings.Fields(string(data)), " ")
}

func truncate(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func codeFor(e *Error) errs.Code {
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return errs.Forbidden
	case e.Status == http.StatusNotFound:
		return errs.NotFound
	case e.Status == http.StatusConflict:
		return errs.Conflict
	case e.Status >= 300 && e.Status < 400:
		return errs.Invalid
	case e.Status == http.StatusTooManyRequests || e.Status >= 500:
		return errs.Unavailable
	case e.Status >= 400:
		return errs.Invalid
	case e.Status == 0 && e.Err != nil:
		return errs.Unavailable
	default: // a 2xx we could not read
		return errs.Internal
	}
}

// fail wraps e for people: a sentence for chat, e for the log.
func (c *Client) fail(r request, e *Error, code errs.Code) error {
	e.Op, e.Method, e.Path = r.op, r.method, r.path
	var msg string
	switch code {
	case errs.Forbidden:
		msg = "Sentry refused the auth token (check its scopes)"
	case errs.NotFound:
		msg = "Sentry does not know this organization, project or release"
	case errs.Invalid:
		msg = "Sentry rejected the request"
		switch {
		case e.Moved && e.MovedTo != "":
			// A renamed project, not another Sentry: the fix is the
			// env's project slug, and sentry.url is right as it is.
			msg = fmt.Sprintf("Sentry says the project was renamed to %q: set the env's sentry.project to it", e.MovedTo)
		case e.Moved:
			msg = "Sentry says the project was renamed: set the env's sentry.project to its new slug"
		case e.Status >= 300 && e.Status < 400:
			msg = "Sentry answered with a redirect, which the bot does not follow (its token would go along): set sentry.url to where it leads"
		}
	case errs.Conflict:
		msg = "Sentry reported a conflict"
	case errs.Unavailable:
		switch {
		case e.Status == http.StatusTooManyRequests:
			msg = "Sentry is rate limiting the bot"
		case e.Status >= 500:
			msg = "Sentry is failing"
		default:
			msg = "Sentry cannot be reached"
		}
	default:
		msg = "Sentry's answer could not be read"
	}
	return errs.Wrap(code, e, "%s (%s)", msg, r.op)
}
