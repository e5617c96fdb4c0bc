package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/pause"
)

// replyAttempts bounds how often a reply is tried when Slack rate-limits it.
const replyAttempts = 3

// Client calls the Slack Web API with the bot token. It is safe for
// concurrent use.
type Client struct {
	api *slack.Client
	// hc posts to response URLs, which slack-go would post to without
	// the unfurl settings (see respondJSON).
	hc  *http.Client
	log *slog.Logger
	// botUser is the bot's own user id, as auth.test last told it; nil
	// before it answered.
	botUser atomic.Pointer[string]
	// answered is set once auth.test accepted the token: asking again
	// would learn nothing more.
	answered atomic.Bool
}

// NewClient returns a client of the Web API at apiURL (ending with "/";
// empty means Slack's) that authenticates with token.
func NewClient(token, apiURL string, hc *http.Client, log *slog.Logger) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: webAPITimeout}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	api := *hc
	api.Transport = retryAfterTransport{base: hc.Transport, holds: &methodHolds{log: log}}
	opts := []slack.Option{slack.OptionHTTPClient(&api)}
	if apiURL != "" {
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return &Client{api: slack.New(token, opts...), hc: hc, log: log}
}

// retryAfterTransport gives every 429 of the Web API a Retry-After in
// whole seconds (see responseRetryAfter): slack-go reads a 429 as a rate
// limit only with one, and takes one without (a proxy's in slack.api_url,
// or Slack's own in a hurry) for an error like any other, and one of
// fractional seconds for a malformed answer. A reply would then be
// dropped after its first try, where a mention has no response URL to
// fall back on, rather than sent again after the wait.
//
// It also keeps the method a 429 answered held for its Retry-After (see
// methodHolds): a call of it meanwhile is answered here, with a 429 whose
// Retry-After is the wait left, and never reaches Slack.
type retryAfterTransport struct {
	base  http.RoundTripper
	holds *methodHolds
}

func (t retryAfterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	method := path.Base(r.URL.Path)
	if left := t.holds.left(method, time.Now()); left > 0 {
		if r.Body != nil {
			r.Body.Close()
		}
		return held(r, left), nil
	}
	resp, err := base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		secs := int64(math.Ceil(responseRetryAfter(resp.Header.Get("Retry-After")).Seconds()))
		resp.Header.Set("Retry-After", strconv.FormatInt(secs, 10))
		t.holds.hold(method, time.Duration(secs)*time.Second, time.Now())
	}
	return resp, err
}

// held is the answer to a call of a held method: a 429 as Slack's, whose
// Retry-After is left in whole seconds, rounded up so that a call made
// again after it finds the hold over.
func held(r *http.Request, left time.Duration) *http.Response {
	h := http.Header{}
	h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(left.Seconds())), 10))
	return &http.Response{
		Status: "429 Too Many Requests", StatusCode: http.StatusTooManyRequests,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: http.NoBody, Request: r,
	}
}

// methodHolds remembers, for each Web API method, until when the last
// 429 asked the app to keep off it. Slack counts its limits per method
// and workspace, so a call of the method meanwhile would meet a 429 of
// its own, whatever the call: a reply whose caller gave up on a long
// Retry-After (past the 30 s a reply may take, the 5 s of a presence
// check) left the wait unknown to the next one. It is safe for
// concurrent use.
type methodHolds struct {
	log   *slog.Logger
	mu    sync.Mutex
	until map[string]time.Time
}

// left is how long method stays held at now; 0 when it is not.
func (h *methodHolds) left(method string, now time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return max(h.until[method].Sub(now), 0)
}

// hold keeps method held for d from now. A hold that starts is logged;
// one that extends a hold already running (calls that were on their way
// meet the same limit) is not.
func (h *methodHolds) hold(method string, d time.Duration, now time.Time) {
	until := now.Add(d)
	h.mu.Lock()
	prev := h.until[method]
	if until.After(prev) {
		if h.until == nil {
			h.until = map[string]time.Time{}
		}
		h.until[method] = until
	}
	h.mu.Unlock()
	if !prev.After(now) {
		h.log.Warn("slack rate limit; holding the method's calls until its Retry-After has passed",
			"method", method, "retry_after", d, "until", until.UTC().Format(time.RFC3339))
	}
}

// webAPITimeout bounds a Web API call of the default HTTP client.
const webAPITimeout = 15 * time.Second

// ErrTokenRefused is CheckToken's answer when Slack refuses the token.
var ErrTokenRefused = errors.New("refused by Slack")

// refusedToken holds auth.test's error codes that say the token itself is
// no good, as opposed to Slack being unreachable or busy.
var refusedToken = map[string]bool{
	"not_authed": true, "invalid_auth": true, "account_inactive": true, "token_revoked": true, "token_expired": true,
}

// CheckToken asks Slack whether it accepts the bot token (auth.test). Its
// error wraps ErrTokenRefused, with Slack's code, when Slack refuses the
// token; another error says Slack could not be asked. No error holds the
// token or a URL's path.
func (c *Client) CheckToken(ctx context.Context) error {
	resp, err := c.api.AuthTestContext(ctx)
	code := slackError(err)
	switch {
	case err == nil:
		if resp.UserID != "" {
			c.botUser.Store(&resp.UserID)
		}
		c.answered.Store(true)
		return nil
	case refusedToken[code]:
		return fmt.Errorf("%w (%s)", ErrTokenRefused, code)
	default:
		// hide keeps a rate limit's wait readable (see learnBotUser).
		return fmt.Errorf("slack auth.test: %w", hide(err))
	}
}

// learnBotUser asks auth.test again until Slack answers it, waiting
// first, then twice as long after each failure, up to most, and at least
// as long as a 429 asks. It returns when ctx ends or Slack answered.
// It logs the first failure, each change between Slack refusing the token
// and Slack not answering, and the answer; never the token, which no
// error of CheckToken holds.
func (c *Client) learnBotUser(ctx context.Context, first, most time.Duration) {
	wait := first
	logged := ""
	for attempt := 1; !c.answered.Load(); attempt++ {
		if pause.For(ctx, wait) != nil {
			return
		}
		call, cancel := context.WithTimeout(ctx, tokenCheckTimeout)
		err := c.CheckToken(call)
		cancel()
		if ctx.Err() != nil {
			return
		}
		next := min(2*wait, most)
		if limit, ok := retryAfter(err); ok {
			next = max(next, limit)
		}
		switch state := learnState(err); {
		case state == "answered" && c.BotUser() == "":
			c.log.Warn("slack: auth.test named no member ID for the bot token; mentions that could be another member's stay refused")
			return
		case state == "answered":
			c.log.Info("slack: learnt the bot's member ID", "bot_user", c.BotUser(), "attempts", attempt)
			return
		case state != logged:
			logged = state
			c.log.Warn("slack: the bot's member ID is still unknown, so mentions that could be another member's are refused; asking auth.test again",
				"retry_in", next, "err", err)
		}
		wait = next
	}
}

// tokenCheckTimeout bounds one auth.test of learnBotUser.
const tokenCheckTimeout = 15 * time.Second

// learnState names the outcome of an auth.test for learnBotUser's log.
func learnState(err error) string {
	switch {
	case err == nil:
		return "answered"
	case errors.Is(err, ErrTokenRefused):
		return "token refused"
	default:
		return "unreachable"
	}
}

// BotUser is the bot's own user id, as CheckToken learnt it, or "" when
// it has not.
func (c *Client) BotUser() string {
	if id := c.botUser.Load(); id != nil {
		return *id
	}
	return ""
}

// presenceWait bounds a presence check, Slack's rate limits waited out
// included: a command (a deploy that needs an admin around) waits for it.
const presenceWait = 5 * time.Second

// Presence reports whether a Slack user is active now (users.getPresence),
// for rules such as "a second approver must be online". Slack's rate
// limit is waited out, within ctx and presenceWait: an error counts the
// user as away, and a deploy that needs an admin around is refused.
func (c *Client) Presence(ctx context.Context, slackUserID string) (active bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, presenceWait)
	defer cancel()
	var p *slack.UserPresence
	err = retry(ctx, 5, func(ctx context.Context) error {
		var err error
		p, err = c.api.GetUserPresenceContext(ctx, slackUserID)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("slack presence of %s: %w", slackUserID, hide(err))
	}
	return p.Presence == "active", nil
}

// noParse and noLinkNames make Slack take the text as written: parse=full
// and link_names turn a bare "@here" or "@ana" into a mention. Slack
// takes them on chat.postMessage, chat.update and chat.postEphemeral;
// neither is sent to a response_url (see defuse).
var (
	noParse     = slack.MsgOptionParse(false)
	noLinkNames = slack.MsgOptionLinkNames(false)
)

// post sends m to channel (chat.postMessage) and returns the channel's id
// and the message's timestamp, which identify it for updates.
func (c *Client) post(ctx context.Context, channel string, m chat.Message) (string, string, error) {
	blocks, text := Render(m)
	ch, ts, err := c.api.PostMessageContext(ctx, channel, slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(text, false), noUnfurl, noParse, noLinkNames)
	return ch, ts, hide(err)
}

// noUnfurl stops Slack fetching the URLs of a message and showing what
// they lead to under it, which it does for media (an image) by default:
// the text of a message comes in part from outside (a host's error, a
// Sentry issue's title), and whoever writes that must not put pictures of
// their choosing in the deploy channel. Sent with edits too, for an edit
// that adds a URL.
var noUnfurl = slack.MsgOptionCompose(slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl())

// update replaces the message at ts (chat.update).
func (c *Client) update(ctx context.Context, channel, ts string, m chat.Message) error {
	blocks, text := Render(m)
	_, _, _, err := c.api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(text, false), noUnfurl, noParse, noLinkNames)
	return hide(err)
}

// ephemeral shows m to one user in channel (chat.postEphemeral).
func (c *Client) ephemeral(ctx context.Context, channel, user string, m chat.Message) error {
	blocks, text := Render(m)
	return c.ephemeralBlocks(ctx, channel, user, blocks, text)
}

func (c *Client) ephemeralBlocks(ctx context.Context, channel, user string, blocks []slack.Block, text string) error {
	_, err := c.api.PostEphemeralContext(ctx, channel, user, slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(text, false), noParse, noLinkNames)
	return hide(err)
}

// respond answers through a response_url, which works where the bot is not
// a member of the channel (for 30 minutes, 5 times).
func (c *Client) respond(ctx context.Context, responseURL string, m chat.Message) error {
	blocks, text := Render(m)
	kind := slack.ResponseTypeEphemeral
	if m.Public {
		kind = slack.ResponseTypeInChannel
	}
	return hide(c.respondJSON(ctx, responseURL, kind, blocks, text))
}

// respondBlocks shows blocks to the requester alone through a response_url.
func (c *Client) respondBlocks(ctx context.Context, responseURL string, blocks []slack.Block, text string) error {
	return hide(c.respondJSON(ctx, responseURL, slack.ResponseTypeEphemeral, blocks, text))
}

// responseBody is a message to a response_url. slack-go's own drops the
// unfurl settings, and a reply's text comes in part from outside just as
// a post's does (see noUnfurl). replace_original and delete_original are
// sent as false, as slack-go sends them: the response URL of a click
// belongs to the message holding the button (a deploy's progress, a
// Sentry alert), and where the field is left out Slack has replaced that
// message with the reply (its legacy interactive messages did so by
// default).
type responseBody struct {
	Text            string        `json:"text"`
	Blocks          []slack.Block `json:"blocks,omitempty"`
	ResponseType    string        `json:"response_type"`
	ReplaceOriginal bool          `json:"replace_original"`
	DeleteOriginal  bool          `json:"delete_original"`
	UnfurlLinks     bool          `json:"unfurl_links"`
	UnfurlMedia     bool          `json:"unfurl_media"`
}

// respondJSON posts a message to responseURL. Its errors are slack-go's
// for the same answers, so that retry and slackError read them alike: a
// *slack.RateLimitedError for a 429, a slack.StatusCodeError for another
// status, a slack.SlackErrorResponse for an ok:false answer.
func (c *Client) respondJSON(ctx context.Context, responseURL, kind string, blocks []slack.Block, text string) error {
	body, err := json.Marshal(responseBody{Text: text, Blocks: blocks, ResponseType: kind})
	if err != nil {
		return fmt.Errorf("encode reply: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return &slack.RateLimitedError{RetryAfter: responseRetryAfter(resp.Header.Get("Retry-After"))}
	}
	if resp.StatusCode != http.StatusOK {
		return slack.StatusCodeError{Code: resp.StatusCode, Status: resp.Status}
	}
	if ctype, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ctype == "application/json" {
		var r slack.SlackResponse
		if err := json.Unmarshal(answer, &r); err != nil {
			return fmt.Errorf("response url answer: %w", err)
		}
		return r.Err()
	}
	if !bytes.Equal(answer, []byte("ok")) {
		return errors.New(string(answer))
	}
	return nil
}

// Waits of a response_url's 429. Slack documents a 429 with a Retry-After
// in seconds; a 429 without one (a proxy's, or Slack's own in a hurry) is
// still a rate limit, and calling again at once would meet it again.
const (
	defaultRetryAfter = time.Second
	// maxRetryAfter keeps a huge Retry-After from overflowing the
	// duration; retry gives up on a wait that outlasts its context.
	maxRetryAfter = time.Hour
)

// responseRetryAfter is the wait a response_url's 429 asks for: its
// Retry-After in seconds (whole or not), else defaultRetryAfter, at most
// maxRetryAfter.
func responseRetryAfter(header string) time.Duration {
	secs, err := strconv.ParseFloat(strings.TrimSpace(header), 64)
	switch {
	case err != nil || math.IsNaN(secs) || secs <= 0:
		return defaultRetryAfter
	case secs >= maxRetryAfter.Seconds():
		return maxRetryAfter
	}
	return time.Duration(math.Ceil(secs * float64(time.Second)))
}

// permalink returns a link to the message at ts.
func (c *Client) permalink(ctx context.Context, channel, ts string) (string, error) {
	link, err := c.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: channel, Ts: ts})
	return link, hide(err)
}

// retry runs call until it succeeds, fails other than by a rate limit, or
// has been tried attempts times; a rate limit waits for its Retry-After.
// It returns the rate limit at once rather than wait when no call would
// follow: after the last attempt, or when the wait would outlast ctx. The
// caller then still has ctx's time to answer another way (a reply through
// its response_url).
func retry(ctx context.Context, attempts int, call func(context.Context) error) error {
	var err error
	for i := range attempts {
		if err = call(ctx); err == nil {
			return nil
		}
		wait, limited := retryAfter(err)
		if !limited || i == attempts-1 {
			return err
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			return err
		}
		if pause.For(ctx, wait) != nil {
			return errors.Join(err, ctx.Err())
		}
	}
	return err
}

// retryAfter tells whether err is Slack's 429, and how long it asks to wait.
func retryAfter(err error) (time.Duration, bool) {
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) {
		return 0, false
	}
	return max(rl.RetryAfter, time.Second), true
}

// urlPattern finds URLs in an error's text, such as the one a *url.Error
// quotes.
var urlPattern = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// redact is err's text with each URL in it cut to its scheme and host: a
// failed post to a response_url names the URL, which lets anyone who
// reads it post to the channel for 30 minutes.
func redact(err error) string {
	return redactText(err.Error())
}

// redactText is redact for any text, such as a log line.
func redactText(text string) string {
	return urlPattern.ReplaceAllStringFunc(text, func(s string) string {
		u, perr := url.Parse(s)
		if perr != nil || u.Host == "" {
			return "[URL]"
		}
		return u.Scheme + "://" + u.Host + "/…"
	})
}

// hidden is an error whose text is its cause's, redacted; errors.As still
// finds the cause (a rate limit, Slack's error code).
type hidden struct {
	msg string
	err error
}

func (h *hidden) Error() string { return h.msg }
func (h *hidden) Unwrap() error { return h.err }

// hide redacts err (see redact) for whoever prints it: every error of a
// Web API call goes through it, since the call's URL may hold credentials
// of a proxy in slack.api_url, or be a response_url.
func hide(err error) error {
	if err == nil {
		return nil
	}
	return &hidden{msg: redact(err), err: err}
}

// slackError returns the error code of an ok:false answer ("channel_not_found"), or "".
func slackError(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// Presence answers whether Switchman users are active on Slack, by the
// Slack ids the config gives them; commands.Service uses it for rules that
// need an admin around. It is safe for concurrent use.
type Presence struct {
	client *Client
	ids    map[string]string // Switchman user → Slack id
}

// NewPresence returns a presence source for the users of cfg, asking the
// Web API with cfg's bot token.
func NewPresence(cfg *config.Config, hc *http.Client, log *slog.Logger) *Presence {
	p := &Presence{client: NewClient(cfg.Slack.BotToken, cfg.Slack.APIURL, hc, log), ids: map[string]string{}}
	for name, u := range cfg.Users {
		if u.Slack != "" {
			p.ids[name] = u.Slack
		}
	}
	return p
}

// Active reports whether user is active on Slack now; a user without a
// Slack id is an error wrapping commands.ErrNoPresence (never present on
// Slack: only a check-in counts).
func (p *Presence) Active(ctx context.Context, user string) (bool, error) {
	id, ok := p.ids[user]
	if !ok {
		return false, fmt.Errorf("%w: %s has no slack id in the config", commands.ErrNoPresence, user)
	}
	return p.client.Presence(ctx, id)
}

// Post sends m to channel as a message from the bot (announcements,
// post-deploy alerts), retrying after Slack's rate limits.
func (c *Client) Post(ctx context.Context, channel string, m chat.Message) error {
	return retry(ctx, 5, func(ctx context.Context) error {
		_, _, err := c.post(ctx, channel, m)
		return err
	})
}
