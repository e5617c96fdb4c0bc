// Package slack is Switchman's Slack adapter: slash commands, mentions and
// button clicks come in over HTTP (every request signature-verified) or
// Socket Mode, run through the command service as the Slack user mapped to
// a Switchman user, and answers go back as ephemeral replies and one
// progress message per deploy, edited in place within Slack's rate limits.
//
// The adapter never decides permissions: every command, typed or clicked,
// goes through the Handler, which authorises and audits it.
package slack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/chat/refusals"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/ratelog"
)

// Platform is the platform name in command requests and audit entries.
const Platform = "slack"

// Handler runs commands; *commands.Service implements it. AuditRefusal
// records a request refused before it reached Handle, req.Refused saying
// why.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome
	AuditRefusal(ctx context.Context, req commands.Request) error
	// NoteUndelivered records a deploy's final report that could be
	// posted nowhere, so that status shows it.
	NoteUndelivered(u commands.Undelivered)
}

var (
	_ Handler         = (*commands.Service)(nil)
	_ commands.Output = (*output)(nil)
)

// Deduper remembers keys for a while; the state stores implement it. The
// adapter uses it so that a request Slack delivers twice (a retry, a
// replayed payload, a redelivered envelope) runs once.
type Deduper interface {
	// SetOnce sets key for ttl and reports whether it was newly set.
	SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Options configure an Adapter. Config, Handler and Dedupe are required;
// the rest have defaults.
type Options struct {
	// Config supplies the Slack settings (Config.Slack), the users' Slack
	// ids, the bot's name and the envs' deploy channels.
	Config  *config.Config
	Handler Handler
	Dedupe  Deduper
	// HTTPClient calls the Web API, Socket Mode's apps.connections.open
	// included; default: a client with a 15 s timeout.
	HTTPClient *http.Client
	Now        func() time.Time
	Log        *slog.Logger

	// UpdateInterval is the least time between two edits of one progress
	// message; default 1.2 s.
	UpdateInterval time.Duration
	// UpdatesPerMinute bounds progress posts and edits across all deploys
	// (Slack allows chat.update about 50 times a minute); default 45.
	UpdatesPerMinute int
	// Refresh re-renders a running deploy's message when nothing else
	// happened for this long, so its elapsed time moves; default 30 s,
	// negative: never.
	Refresh time.Duration
	// FinalDeadline bounds how long the final state of a deploy is retried;
	// default 5 min.
	FinalDeadline time.Duration
	// DedupeTTL is how long a request is remembered; default 1 h (Slack
	// retries an event for a few minutes).
	DedupeTTL time.Duration
	// DedupeTimeout bounds the dedupe check made before Slack is answered,
	// so the answer stays within Slack's 3 s; default 1.5 s. A check that
	// takes longer counts as an unreachable store: nothing runs.
	DedupeTimeout time.Duration
	// MaxBody bounds a request body; default 64 KiB.
	MaxBody int64
	// MaxInteractionBody bounds the body of a click or an event; default
	// MaxInteractionBody.
	MaxInteractionBody int64
	// BotUserRetry is how long LearnBotUser waits before it asks
	// auth.test again, doubled after each failure up to BotUserRetryMax;
	// defaults 5 s and 5 min.
	BotUserRetry    time.Duration
	BotUserRetryMax time.Duration
	// RefusalLog bounds the WARN lines of requests refused before they
	// are verified (a bad signature, a body too large), which anyone who
	// reaches the listener can send; default: a ratelog.Limiter of the
	// adapter's own. Pass one Limiter to every endpoint.
	RefusalLog *ratelog.Limiter
}

// Adapter connects Slack to the command service. It is safe for concurrent
// use. Its handlers serve /slack/commands, /slack/interactions and
// /slack/events; RunSocketMode serves the same over Socket Mode.
type Adapter struct {
	opt     Options
	cfg     *config.Config
	client  *Client
	verify  verifier
	users   map[string]string // Slack user id → Switchman user
	log     *slog.Logger
	limiter *limiter

	// base is the context of commands and progress messages: it outlives
	// the request that started them and ends with Close.
	base   context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // guards stopped, the Adds of handlers and of background, and cancel
	stopped  bool
	handlers sync.WaitGroup   // running commands
	pubs     sync.WaitGroup   // progress messages not yet final
	refusals *refusals.Writer // audit writes of refused requests; Close waits for them
	// background runs LearnBotUser's retries, learning while they do;
	// Close waits for it.
	background sync.WaitGroup
	learning   bool
}

// New checks the Slack settings and returns an adapter. It fails closed:
// without a bot token, or without a signing secret in HTTP mode (or an app
// token in Socket Mode), it returns an error rather than an adapter that
// would accept unverified requests.
func New(opt Options) (*Adapter, error) {
	if opt.Config == nil || opt.Handler == nil {
		return nil, errors.New("slack: Config and Handler are required")
	}
	if opt.Dedupe == nil {
		return nil, errors.New("slack: a dedupe store is required, so a request Slack retries runs once")
	}
	s := opt.Config.Slack
	switch {
	case s.BotToken == "":
		return nil, errors.New("slack: bot_token is empty; set slack.bot_token (xoxb-…)")
	case s.SocketMode && !strings.HasPrefix(s.AppToken, "xapp-"):
		return nil, errors.New("slack: socket_mode needs an app-level token (xapp-…) in slack.app_token")
	case !s.SocketMode && s.SigningSecret == "":
		return nil, errors.New("slack: signing_secret is empty, so Slack's requests cannot be verified; set slack.signing_secret or use socket_mode")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: webAPITimeout}
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	opt.UpdateInterval = orDuration(opt.UpdateInterval, 1200*time.Millisecond)
	if opt.UpdatesPerMinute <= 0 {
		opt.UpdatesPerMinute = 45
	}
	opt.Refresh = orDuration(opt.Refresh, 30*time.Second)
	opt.FinalDeadline = orDuration(opt.FinalDeadline, 5*time.Minute)
	opt.BotUserRetry = orDuration(opt.BotUserRetry, 5*time.Second)
	opt.BotUserRetryMax = max(orDuration(opt.BotUserRetryMax, 5*time.Minute), opt.BotUserRetry)
	opt.DedupeTTL = orDuration(opt.DedupeTTL, time.Hour)
	opt.DedupeTimeout = orDuration(opt.DedupeTimeout, 1500*time.Millisecond)
	if opt.MaxBody <= 0 {
		opt.MaxBody = 64 << 10
	}
	if opt.MaxInteractionBody <= 0 {
		opt.MaxInteractionBody = MaxInteractionBody
	}
	if opt.RefusalLog == nil {
		opt.RefusalLog = &ratelog.Limiter{Now: opt.Now}
	}
	log := opt.Log.With("platform", Platform)
	a := &Adapter{
		opt:     opt,
		cfg:     opt.Config,
		client:  NewClient(s.BotToken, s.APIURL, opt.HTTPClient, log),
		verify:  verifier{secret: []byte(s.SigningSecret), now: opt.Now},
		users:   map[string]string{},
		log:     log,
		limiter: &limiter{interval: time.Minute / time.Duration(opt.UpdatesPerMinute)},
	}
	for name, u := range opt.Config.Users {
		if u.Slack != "" {
			a.users[u.Slack] = name
		}
	}
	a.refusals = &refusals.Writer{
		Auditor: opt.Handler,
		Failed: func(req commands.Request, err error) {
			a.log.Error("audit a refused request", "user", req.User, "reason", req.Refused, "err", err)
		},
		Late: func(req commands.Request) {
			a.log.Warn("a slack request refused as the bot stops; its audit write may not finish",
				"user", req.User, "platform", req.Platform, "channel", req.Channel, "command", req.Text, "reason", req.Refused)
		},
	}
	a.base, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Client is the Web API client, for features that ask Slack things
// (presence).
func (a *Adapter) Client() *Client { return a.client }

// LearnBotUser asks Slack for the bot's own member ID (auth.test) in the
// background until Slack names it, when CheckToken at start-up did not:
// until then, a slash command that starts with a mention, and a mention
// of a message that names several members, are refused, as the adapter
// cannot tell whether their leading mention is the bot's. Each is
// decided with the ID as soon as it is known. The retries back off (see
// Options.BotUserRetry) and stop with ctx or Close. A second call while
// one is running does nothing.
func (a *Adapter) LearnBotUser(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.learning || a.base.Err() != nil || a.client.answered.Load() {
		return
	}
	a.learning = true
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(a.base, cancel)()
		a.client.learnBotUser(ctx, a.opt.BotUserRetry, a.opt.BotUserRetryMax)
		a.mu.Lock()
		a.learning = false
		a.mu.Unlock()
	}()
}

// Stop makes the adapter refuse new commands (they are answered with "try
// again"); commands and deploys already running go on.
func (a *Adapter) Stop() {
	a.mu.Lock()
	a.stopped = true
	a.mu.Unlock()
}

// Wait blocks until the commands that were running when Stop was called
// have returned and every progress message they started shows its final
// state (which is after the deploy finished). Call it after Stop.
func (a *Adapter) Wait() {
	a.handlers.Wait()
	// Every deploy emits its first event before Handle returns, so no
	// progress message starts after this point.
	a.pubs.Wait()
}

// Close ends everything still running in the background: progress
// messages stop retrying, LearnBotUser stops asking. Then it waits for the audit writes of refused
// requests (each bounded by refusals.Timeout), so that they reach the
// store before it is closed; one refused after Close is written on its
// own. Call it after Wait, or when Wait took too long.
func (a *Adapter) Close() {
	a.mu.Lock()
	a.cancel()
	a.mu.Unlock()
	a.background.Wait()
	a.refusals.Close()
}

// user maps a Slack user id to a Switchman user; unknown ids become
// "slack:<ID>", which the policy treats as a viewer.
func (a *Adapter) user(slackID string) string {
	if name, ok := a.users[slackID]; ok {
		return name
	}
	return "slack:" + slackID
}

// deployChannel is where the progress of a deploy of app/env goes: the
// env's channel, else the channel the command came from. A channel of all
// digits is a Discord channel id (where the bot posts by itself when both
// platforms are configured), which no Slack channel has.
func (a *Adapter) deployChannel(app, env, from string) string {
	if ap, ok := a.cfg.App(app); ok {
		if e, ok := ap.Env(env); ok && e.Channel != "" && !allDigits(e.Channel) {
			return e.Channel
		}
	}
	return from
}

func allDigits(s string) bool {
	return strings.Trim(s, "0123456789") == ""
}

// request is one command from Slack, whichever way it came.
type request struct {
	kind        string // "command", "interaction", "mention": for logs
	team        string // the workspace it came from
	userID      string
	channel     string
	responseURL string
	text        string
	// keys identify the delivery for deduplication.
	keys []string
	// refused, when set, is why the request is not run; the handler
	// answers and audits it.
	refused string
}

// Notices for requests that do not run.
const (
	noticeWorking    = "⏳ working on it…"
	noticeRestarting = "Switchman is restarting, so nothing was run. Try again in a minute."
	dedupeKeyPrefix  = "slack:"
)

// Reasons in the audit log for requests refused before they reached the
// handler.
const (
	reasonStopping = "Switchman was stopping; nothing was run"
	reasonEdited   = "Switchman does not run an edited message, so nothing was run: send the command as a new message."
	// A message that starts with another member's mention is for them.
	reasonNotAddressed = "Switchman runs a message that starts with its own mention, and this one starts with someone else's, so nothing was run: start the message with the bot's mention."
	// A mention of a message that starts with a mention and names
	// several members, when neither auth.test nor the event's
	// authorizations named the bot's user.
	reasonBotUnknown = "Switchman cannot tell whether the message starts with its own mention or another member's (Slack has not told it its member ID), so nothing was run: mention only Switchman, or type the command with /switchman."
	// A slash command whose text starts with a mention that is not the
	// bot's, which the parser would strip as the bot's.
	reasonCommandMention = "The command starts with a mention that is not Switchman's, or that it cannot tell for its own, so nothing was run: type the command without the mention."
)

// dispatch decides whether req runs and starts it. It returns whether it
// started, and a notice for the requester when it did not (empty for a
// duplicate, which is dropped silently). It waits at most DedupeTimeout.
func (a *Adapter) dispatch(ctx context.Context, req request) (bool, string) {
	if a.stopping() {
		return a.refuseStopping(ctx, req)
	}
	dup, err := a.delivered(ctx, req)
	if err != nil {
		a.log.Error("dedupe check failed; the request was not run", "kind", req.kind, "user", req.userID, "err", err)
		if refusals.StoreReset(err) {
			a.auditRefusal(ctx, req, refusals.ResetReason, commands.RefusalUnavailable)
			return false, "⚠️ " + refusals.ResetNotice
		}
		notice, reason := refusals.StoreDown(err)
		a.auditRefusal(ctx, req, reason, commands.RefusalUnavailable)
		return false, "⚠️ " + notice + ". Try again in a moment."
	}
	if dup {
		return false, ""
	}
	if !a.start(req) {
		a.auditRefusal(ctx, req, reasonStopping, commands.RefusalDraining)
		return false, noticeRestarting
	}
	return true, ""
}

// refuseStopping refuses req as the bot stops, unless Slack delivered it
// before: the retry of a request that ran, which reached this bot as it
// stopped, is dropped as a duplicate, as it would be at any other time.
// Told "nothing was run", its sender would run it again. The keys of a
// request refused are recorded too, so that a retry of it (Slack's, of
// one it saw no acknowledgement of) is dropped by the next bot rather
// than run after its sender was told that nothing was. When the store
// does not answer, the request is refused all the same.
func (a *Adapter) refuseStopping(ctx context.Context, req request) (bool, string) {
	dup, err := a.delivered(ctx, req)
	if err != nil {
		a.log.Error("could not record a request refused as the bot stops; Slack's retry of it may run", "kind", req.kind, "user", req.userID, "err", err)
	}
	if dup {
		return false, ""
	}
	a.auditRefusal(ctx, req, reasonStopping, commands.RefusalDraining)
	return false, noticeRestarting
}

// delivered records req's dedupe keys, within DedupeTimeout, and reports
// whether Slack had delivered it before.
func (a *Adapter) delivered(ctx context.Context, req request) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opt.DedupeTimeout)
	defer cancel()
	for _, k := range req.keys {
		fresh, err := a.opt.Dedupe.SetOnce(ctx, k, a.opt.DedupeTTL)
		if err != nil {
			return false, err
		}
		if !fresh {
			a.log.Info("dropped a request Slack delivered again", "kind", req.kind, "user", req.userID, "key", k)
			return true, nil
		}
	}
	return false, nil
}

// auditRefusal records, in the background, a request refused before it
// reached the handler, so that the requester's answer does not wait for
// it; Close waits for the write. The refusal is counted under why.
func (a *Adapter) auditRefusal(ctx context.Context, req request, reason string, why commands.Refusal) {
	r := a.handlerRequest(req)
	r.Refused, r.RefusedFor = reason, why
	a.refusals.Write(ctx, r)
}

func (a *Adapter) stopping() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopped
}

// start runs req in the background, after Slack has been answered.
func (a *Adapter) start(req request) bool {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return false
	}
	a.handlers.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.handlers.Done()
		out := &output{a: a, userID: req.userID, channel: req.channel, responseURL: req.responseURL}
		r := a.handlerRequest(req)
		if a.foreign(req) {
			a.log.Warn("slack request from another workspace refused", "team", req.team, "user", req.userID)
		}
		a.opt.Handler.Handle(a.base, r, out)
	}()
	return true
}

// handlerRequest is req as the handler takes it.
func (a *Adapter) handlerRequest(req request) commands.Request {
	r := commands.Request{User: a.user(req.userID), Platform: Platform, Channel: req.channel, Text: req.text, Refused: req.refused}
	if a.foreign(req) {
		// An app installed in several workspaces (or shared through
		// Slack Connect) signs all their requests alike: the workspace
		// decides, and the refusal is audited.
		r.User = "slack:" + req.team + ":" + req.userID
		r.Refused = "Switchman does not take commands from this workspace; nothing was run."
	}
	return r
}

// foreign reports whether req comes from a workspace other than the one
// configured.
func (a *Adapter) foreign(req request) bool {
	want := a.cfg.Slack.TeamID
	return want != "" && req.team != want
}

// notify tells a user, ephemerally, why their request was not run. It is
// called after Slack got its answer, so it may take its time.
func (a *Adapter) notify(req request, text string) {
	out := &output{a: a, userID: req.userID, channel: req.channel, responseURL: req.responseURL}
	out.Reply(chatNotice(text))
}

// key returns the dedupe key of a delivery: Slack's own id for it when
// there is one, else a hash of the verified body.
func key(id string, body []byte) string {
	if id != "" {
		return dedupeKeyPrefix + id
	}
	sum := sha256.Sum256(body)
	return dedupeKeyPrefix + "sha256:" + hex.EncodeToString(sum[:])
}

// commandText turns a slash command into a command text: "/deploy" with
// "web 42" is "deploy web 42"; the bot's own command takes the whole
// command from its text, and is help without one. The bot's own command is
// the one of its name, and "/switchman" whatever the name: the manifest of
// the README names it so, and no command is called switchman.
func (a *Adapter) commandText(command, text string) string {
	name := strings.TrimPrefix(strings.TrimSpace(command), "/")
	text = unescape(text)
	bot := strings.TrimPrefix(a.cfg.Bot.Name, "@")
	if name == "" || strings.EqualFold(name, bot) || strings.EqualFold(name, commands.DefaultBotName) {
		if strings.TrimSpace(text) == "" {
			// The parser answers empty text with nothing; someone who
			// typed the bare command wants to know what to type.
			return "help"
		}
		return text
	}
	return strings.TrimSpace(name + " " + text)
}
