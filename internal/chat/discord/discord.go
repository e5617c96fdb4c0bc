// Package discord is the chat adapter for Discord: slash commands and
// buttons arrive as interactions, either on an HTTP endpoint Discord calls
// (ServeHTTP) or over the gateway (RunGateway); both go through one
// dispatch, which verifies nothing is run twice, turns the interaction into
// a command text of the one grammar, runs it through the Handler as the
// Switchman user the Discord account maps to, and shows the answers as
// embeds: replies in the interaction's response, deploy progress by
// editing one message.
package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/refusals"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/pause"
	"github.com/switchman-bot/switchman/internal/ratelog"
	"github.com/switchman-bot/switchman/internal/redact"
)

// Handler runs commands; *commands.Service implements it. AuditRefusal
// records a request refused before it reached Handle, req.Refused saying
// why. NoteUndelivered records a deploy's final report that could be
// posted nowhere, so that status shows it.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome
	AuditRefusal(ctx context.Context, req commands.Request) error
	AuditDroppedReply(ctx context.Context, req commands.Request, title, why string) error
	NoteUndelivered(u commands.Undelivered)
}

var (
	_ Handler      = (*commands.Service)(nil)
	_ http.Handler = (*Adapter)(nil)
)

// Deduper remembers keys: SetOnce returns true the first time it sees key
// within ttl and false afterwards. The Redis and embedded stores implement
// it; an error means the answer is unknown.
type Deduper interface {
	SetOnce(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Platform is the Request.Platform of commands from Discord.
const Platform = "discord"

// Limits and defaults.
const (
	// MaxBody bounds an interaction request body.
	MaxBody = 64 << 10
	// MaxClockSkew is how far X-Signature-Timestamp may be from now, either
	// way, before a request is refused as a replay.
	MaxClockSkew = 5 * time.Minute
	// DefaultEditInterval is the least time between two edits of one
	// progress message.
	DefaultEditInterval = time.Second
	// DefaultHandover is how long a deploy's progress stays in the
	// interaction's message before it moves to a channel message: an
	// interaction token can edit for 15 minutes only.
	DefaultHandover = 14 * time.Minute
	// tokenLifetime is how long an interaction's token takes edits.
	tokenLifetime = 15 * time.Minute
	// dedupeTTL outlives every way Discord could deliver one interaction
	// twice (the signature window is MaxClockSkew).
	dedupeTTL = time.Hour
	// dedupeTimeout keeps the dedupe check well inside the 3 seconds
	// Discord waits for a response.
	dedupeTimeout = 1500 * time.Millisecond
)

// Options configure an Adapter. PublicKey, ApplicationID and Handler are
// required; the zero value of every other field is a sensible default.
type Options struct {
	// PublicKey is the application's Ed25519 public key, 64 hex characters,
	// as the developer portal shows it.
	PublicKey string
	// BotToken authenticates REST calls that are not answers to an
	// interaction (command registration, channel messages, the gateway).
	// "Bot " is prepended when missing. It is never logged.
	BotToken string
	// ApplicationID is the application's id (a snowflake).
	ApplicationID string
	// GuildID, when set, makes RegisterCommands register guild commands
	// (available at once) instead of global ones, and makes the adapter
	// refuse interactions from any other guild or from DMs.
	GuildID string
	// APIURL replaces Discord's REST base URL (discordgo.EndpointAPI,
	// "https://discord.com/api/v9/"); requests are rewritten in the HTTP
	// client, so nothing global is changed.
	APIURL string
	// HTTPClient makes the REST calls; default: a client with a 20 s
	// timeout. The request for the gateway's URL, which opening the
	// gateway makes, ends with RunGateway's try to open it as well.
	HTTPClient *http.Client
	// Users maps Discord user ids to Switchman user names. Anyone else is
	// "discord:<id>", which the policy treats as a viewer. The map is copied.
	Users map[string]string
	// Catalog is the config's apps, envs and trains as the parser sees
	// them (commands.CatalogOf). Its apps, envs and trains are the
	// choices of the slash commands' app, env and train options, so that
	// these offer what the parser takes; without it they are free text.
	// The commands the bot suggests in its replies are read with it, so
	// that each is shown as the slash command that means it: without
	// it, one whose words could be read two ways (is "db" in "lock
	// deploys web db down" an env or the reason?) is shown as written.
	// Default: none.
	Catalog commands.Catalog
	// EnvChannel returns the channel of an env's deploys (its channel in
	// the config), if any. One that is a Discord channel id (all digits),
	// other than the one a deploy was asked for in, gets its progress and
	// final report, posted with the bot token; the reply then links to
	// it. Default: none.
	EnvChannel func(app, env string) string
	// Handler runs the commands.
	Handler Handler
	// Dedupe remembers interaction ids so that none runs twice; default: an
	// in-memory set, enough for one process. If it fails, nothing runs.
	Dedupe Deduper
	// Now is the clock for signature timestamps, progress messages and the
	// token lifetime; default time.Now.
	Now func() time.Time
	// Sleep waits d unless ctx ends first (then it returns ctx's error);
	// the gateway's pauses between reconnects and the wait for a
	// progress message's handover take it, so that a test can count and
	// move them on a clock of its own. Default: pause.For.
	Sleep func(ctx context.Context, d time.Duration) error
	// Log receives operational logs; default: discarded.
	Log *slog.Logger
	// NewProgress returns the view that folds one deploy's events into one
	// message; default: a new commands.Progress.
	NewProgress func() ProgressView
	// EditInterval is the least time between two edits of one progress
	// message; default DefaultEditInterval.
	EditInterval time.Duration
	// Handover is when a running deploy's progress moves from the
	// interaction's message to a channel message; default DefaultHandover.
	Handover time.Duration
	// RefusalLog bounds the WARN lines of interactions refused for their
	// signature, which anyone who reaches the listener can send; default:
	// a ratelog.Limiter of the adapter's own. Pass one Limiter to every
	// endpoint.
	RefusalLog *ratelog.Limiter
}

// Adapter is the Discord chat adapter. It is safe for concurrent use.
type Adapter struct {
	pub         ed25519.PublicKey
	appID       string
	guildID     string
	token       string // "Bot …", for redaction
	s           *discordgo.Session
	users       map[string]string
	cat         commands.Catalog
	envChannel  func(app, env string) string
	handler     Handler
	dedupe      Deduper
	now         func() time.Time
	sleep       func(ctx context.Context, d time.Duration) error
	log         *slog.Logger
	newProgress func() ProgressView
	interval    time.Duration
	handover    time.Duration
	refusalLog  *ratelog.Limiter
	gw          *gatewayOpen

	// base outlives requests: commands run after the interaction was
	// answered. Shutdown cancels it.
	base   context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup
	// refusals writes the audit entries of refused interactions;
	// Shutdown waits for them once wg is done.
	refusals *refusals.Writer
}

// New returns an Adapter. It fails on a missing or malformed public key,
// application id, handler or API URL.
func New(opt Options) (*Adapter, error) {
	pub, err := parsePublicKey(opt.PublicKey)
	if err != nil {
		return nil, err
	}
	if opt.ApplicationID == "" {
		return nil, errors.New("discord: application id is required")
	}
	if opt.Handler == nil {
		return nil, errors.New("discord: handler is required")
	}
	a := &Adapter{
		pub: pub, appID: opt.ApplicationID, guildID: opt.GuildID,
		users: maps.Clone(opt.Users), cat: withDiscordIDs(opt.Catalog, opt.Users), envChannel: opt.EnvChannel, handler: opt.Handler,
		dedupe: opt.Dedupe, now: opt.Now, sleep: opt.Sleep, log: opt.Log, newProgress: opt.NewProgress,
		interval: opt.EditInterval, handover: opt.Handover, refusalLog: opt.RefusalLog,
	}
	a.refusals = &refusals.Writer{
		Auditor: opt.Handler,
		Failed: func(req commands.Request, err error) {
			a.log.Error("audit a refused discord interaction", "user", req.User, "reason", req.Refused, "err", err)
		},
		Late: func(req commands.Request) {
			a.log.Warn("a discord interaction refused as the bot stops; its audit write may not finish",
				"user", req.User, "platform", req.Platform, "channel", req.Channel, "command", req.Text, "reason", req.Refused)
		},
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.sleep == nil {
		a.sleep = pause.For
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.dedupe == nil {
		a.dedupe = newMemDedupe(a.now)
	}
	if a.refusalLog == nil {
		a.refusalLog = &ratelog.Limiter{Now: a.now}
	}
	if a.newProgress == nil {
		a.newProgress = defaultProgress
	}
	if a.interval <= 0 {
		a.interval = DefaultEditInterval
	}
	if a.handover <= 0 {
		a.handover = DefaultHandover
	}
	if a.envChannel == nil {
		a.envChannel = func(string, string) string { return "" }
	}
	if tok := strings.TrimSpace(opt.BotToken); tok != "" {
		if !strings.HasPrefix(tok, "Bot ") {
			tok = "Bot " + tok
		}
		a.token = tok
	}
	client := opt.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	if opt.APIURL != "" && opt.APIURL != discordgo.EndpointAPI {
		if client, err = rewriteClient(client, opt.APIURL); err != nil {
			return nil, err
		}
	}
	// Outermost, so that they see Discord's own paths whatever APIURL
	// is; the gateway's URL outside the global limit, so that a wait
	// there for it ends with the try to open the gateway too.
	rt := client.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	wrapped := *client
	a.gw = &gatewayOpen{bound: gatewayOpenTimeout}
	wrapped.Transport = a.gw.transport(globalTransport{base: rt, g: &globalLimit{}})
	client = &wrapped
	s, err := discordgo.New(a.token)
	if err != nil {
		return nil, fmt.Errorf("discord: new session: %w", err)
	}
	s.Client = client
	// 429s are handled here, so that a progress edit waiting for its
	// retry is replaced by the latest state and nothing sleeps past ctx.
	s.ShouldRetryOnRateLimit = false
	s.StateEnabled = false
	s.Identify.Intents = discordgo.IntentsNone
	s.Dialer = a.gw.dialer()
	// A lost connection is opened again by RunGateway rather than by
	// discordgo, whose loop knows no ctx: it would go on dialling (and,
	// once Discord answered, reconnect) after RunGateway returned. Set
	// here, before any of the session's goroutines exists: they read it
	// without its lock, so a RunGateway that set it would race with the
	// reader and heartbeat of a connection of the RunGateway before.
	s.ShouldReconnectOnError = false
	a.s = s
	a.base, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

func parsePublicKey(s string) (ed25519.PublicKey, error) {
	const want = "discord: public key must be %d hex characters (an Ed25519 key of %d bytes)"
	if len(s) != 2*ed25519.PublicKeySize {
		return nil, fmt.Errorf(want+", got %d characters", 2*ed25519.PublicKeySize, ed25519.PublicKeySize, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf(want+": not hex", 2*ed25519.PublicKeySize, ed25519.PublicKeySize)
	}
	if config.SmallOrderKey(b) {
		return nil, errors.New("discord: public key is a point of small order (all zeros, say), which verifies signatures nobody made; copy the application's public key from the developer portal")
	}
	return ed25519.PublicKey(b), nil
}

// rewriteClient returns a copy of c whose requests to Discord's API go to
// base instead.
func rewriteClient(c *http.Client, base string) (*http.Client, error) {
	to, err := url.Parse(base)
	if err != nil || (to.Scheme != "http" && to.Scheme != "https") || to.Host == "" {
		return nil, fmt.Errorf("discord: API URL %s must be an absolute http(s) URL", shownAPIURL(base))
	}
	if !strings.HasSuffix(to.Path, "/") {
		to.Path += "/"
	}
	from, err := url.Parse(discordgo.EndpointAPI)
	if err != nil {
		return nil, fmt.Errorf("discord: parse %s: %w", discordgo.EndpointAPI, err)
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	cc := *c
	cc.Transport = rewriteTransport{base: rt, from: from, to: to}
	return &cc, nil
}

// shownAPIURL is base as an error names it: its scheme and host, as the
// Slack adapter names its API URL. Its user info and its path may be a
// proxy's credentials, and the error goes to the log.
func shownAPIURL(base string) string {
	scheme, rest, ok := strings.Cut(redact.URL(base), "://")
	if !ok {
		return "(not shown: it may hold credentials)"
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return scheme + "://" + strings.TrimPrefix(rest, redact.Mask+"@") + "/…"
}

type rewriteTransport struct {
	base     http.RoundTripper
	from, to *url.URL
}

func (t rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != t.from.Scheme || r.URL.Host != t.from.Host || !strings.HasPrefix(r.URL.Path, t.from.Path) {
		return t.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = t.to.Scheme, t.to.Host
	r.URL.Path = t.to.Path + strings.TrimPrefix(r.URL.Path, t.from.Path)
	r.URL.RawPath = ""
	r.Host = t.to.Host
	return t.base.RoundTrip(r)
}

// Shutdown stops accepting interactions and waits until the commands and
// progress messages under way are done, and then the audit writes of the
// interactions refused meanwhile (each bounded by refusals.Timeout), or
// until ctx ends; then it cancels them and returns ctx's error.
func (a *Adapter) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		a.refusals.Close()
		close(done)
	}()
	select {
	case <-done:
		a.cancel()
		return nil
	case <-ctx.Done():
		a.cancel()
		return ctx.Err()
	}
}

// goRun runs f in a goroutine Shutdown waits for; false after Shutdown.
func (a *Adapter) goRun(f func(ctx context.Context)) bool {
	if !a.hold() {
		return false
	}
	go func() {
		defer a.wg.Done()
		f(a.base)
	}()
	return true
}

// hold makes Shutdown wait until the caller calls a.wg.Done; false after
// Shutdown.
func (a *Adapter) hold() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.wg.Add(1)
	return true
}

func (a *Adapter) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// Header names of Discord's request signature.
const (
	headerSignature = "X-Signature-Ed25519"
	headerTimestamp = "X-Signature-Timestamp"
)

// ServeHTTP is the interactions endpoint (/discord/interactions): it
// verifies the request's signature, answers within Discord's 3 seconds and
// runs the command afterwards. Requests with a bad signature get 401;
// Discord sends some on purpose to check the endpoint does. A command that
// arrives once Shutdown has begun, or whose response did not reach
// Discord, is not run: it is audited as refused, and its sender told so
// where that can be.
func (a *Adapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.serveHTTP(w, r, false)
}

// Stopping is the interactions endpoint of a bot that is stopping, which
// the server mounts in place of the adapter from its shutdown on: it runs
// nothing, and answers each command it verifies as the adapter does once
// Shutdown has begun ("Switchman is restarting, so nothing was run"),
// auditing it as refused. Discord sends an interaction once: a plain 503
// would show its sender "This interaction failed", and leave no entry.
func (a *Adapter) Stopping() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serveHTTP(w, r, true) })
}

// serveHTTP is ServeHTTP; stopping refuses what it verifies as if
// Shutdown had begun.
func (a *Adapter) serveHTTP(w http.ResponseWriter, r *http.Request, stopping bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// What the headers alone refuse is refused before the body is read,
	// which anyone could otherwise make the bot read, up to MaxBody, for
	// nothing.
	if err := a.checkHeaders(r.Header.Get(headerSignature), r.Header.Get(headerTimestamp)); err != nil {
		a.refusalLog.Warn(a.log, Platform, "discord interaction refused", "reason", err.Error(), "remote", r.RemoteAddr)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	if r.ContentLength > MaxBody {
		a.refusalLog.Warn(a.log, Platform, "discord interaction refused", "reason", "body larger than the limit", "limit", MaxBody, "remote", r.RemoteAddr)
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			// A body sent without its length (chunked) is refused only
			// here, and as loudly as one whose Content-Length says so.
			a.refusalLog.Warn(a.log, Platform, "discord interaction refused", "reason", "body larger than the limit", "limit", MaxBody, "remote", r.RemoteAddr)
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return
	}
	if err := a.verify(r.Header.Get(headerSignature), r.Header.Get(headerTimestamp), body); err != nil {
		a.refusalLog.Warn(a.log, Platform, "discord interaction refused", "reason", err.Error(), "remote", r.RemoteAddr)
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	var in discordgo.Interaction
	if err := json.Unmarshal(body, &in); err != nil {
		a.log.Warn("discord interaction malformed", "err", err)
		http.Error(w, "malformed interaction", http.StatusBadRequest)
		return
	}
	if stopping || !a.hold() {
		if !carriesCommand(&in) {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		// Answered still: Discord shows "This interaction failed" to
		// whoever sent one that gets no response. It is audited already,
		// so nothing is left to do should the answer not arrive.
		_ = a.writeResponse(r.Context(), w, in.ID, a.refuseStopping(r.Context(), &in))
		return
	}
	// Shutdown waits from here on for the answer and for the command it
	// starts, so that an interaction answered "thinking…" is not then
	// dropped.
	run := a.answer(w, r, &in)
	if run == nil {
		a.wg.Done()
		return
	}
	// The follow-ups edit the deferred response, so they start once it is
	// on its way.
	go func() {
		defer a.wg.Done()
		run(a.base)
	}()
}

// answer answers an interaction that reached the endpoint and returns
// what to do next, if anything: run its command or, when the response
// did not reach Discord, refuse it.
func (a *Adapter) answer(w http.ResponseWriter, r *http.Request, in *discordgo.Interaction) func(context.Context) {
	resp, c := a.dispatch(r.Context(), in, false)
	if resp == nil {
		http.Error(w, "unsupported interaction type", http.StatusBadRequest)
		return nil
	}
	err := a.writeResponse(r.Context(), w, in.ID, resp)
	switch {
	case c == nil:
		return nil
	case err != nil:
		// Its sender sees "This interaction failed" and may well try
		// again: a command they were not told of does not run.
		return func(ctx context.Context) {
			c.notRun(ctx, reasonUnanswered, commands.RefusalUnavailable, noticeUnanswered)
		}
	}
	return c.run
}

// writeResponse sends an interaction's response. An error means Discord
// did not get it: it could not be encoded (the request is then answered
// 500), Discord had hung up before it was written (ctx ended), or writing
// or flushing it to the connection failed. A writer that cannot flush is
// no error: the response leaves as ServeHTTP returns.
func (a *Adapter) writeResponse(ctx context.Context, w http.ResponseWriter, id string, resp *discordgo.InteractionResponse) error {
	b, err := json.Marshal(resp)
	if err != nil {
		a.log.Error("encode interaction response", "interaction", id, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return fmt.Errorf("encode interaction response: %w", err)
	}
	// Checked before writing: a socket the client has closed still takes
	// the first write without an error. Written all the same, should the
	// client only have stopped sending.
	gone := ctx.Err()
	w.Header().Set("Content-Type", "application/json")
	// With its length the response is whole once flushed; a chunked one
	// would end only after ServeHTTP returns, unchecked.
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if _, err := w.Write(b); err != nil {
		a.log.Warn("write interaction response", "interaction", id, "err", err)
		return fmt.Errorf("write interaction response: %w", err)
	}
	// Through a controller: the server's middleware wraps w, and only
	// unwraps to a Flusher.
	if err := http.NewResponseController(w).Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		a.log.Warn("flush interaction response", "interaction", id, "err", err)
		return fmt.Errorf("flush interaction response: %w", err)
	}
	if gone != nil {
		a.log.Warn("interaction response too late: the client hung up", "interaction", id)
		return fmt.Errorf("write interaction response: client hung up: %w", gone)
	}
	return nil
}

// errSignature is what every failed signature check wraps; the reasons
// never quote the signature.
var errSignature = errors.New("bad signature")

// verify checks Discord's Ed25519 signature over timestamp + body and that
// the timestamp is within MaxClockSkew of now.
func (a *Adapter) verify(sig, ts string, body []byte) error {
	if err := a.checkHeaders(sig, ts); err != nil {
		return err
	}
	raw, _ := hex.DecodeString(sig)
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	if !ed25519.Verify(a.pub, msg, raw) {
		return fmt.Errorf("%w: signature does not match", errSignature)
	}
	return nil
}

// checkHeaders is what verify checks without the body: both headers, a
// well-formed signature and a fresh timestamp.
func (a *Adapter) checkHeaders(sig, ts string) error {
	switch {
	case sig == "" || ts == "":
		return fmt.Errorf("%w: missing %s or %s header", errSignature, headerSignature, headerTimestamp)
	case len(sig) != 2*ed25519.SignatureSize:
		return fmt.Errorf("%w: signature is %d characters, want %d", errSignature, len(sig), 2*ed25519.SignatureSize)
	}
	if _, err := hex.DecodeString(sig); err != nil {
		return fmt.Errorf("%w: signature is not hex", errSignature)
	}
	sec, err := parseUnix(ts)
	if err != nil {
		return fmt.Errorf("%w: %v", errSignature, err)
	}
	if d := a.now().Sub(time.Unix(sec, 0)); d > MaxClockSkew || d < -MaxClockSkew {
		return fmt.Errorf("%w: timestamp is %s away from now (limit %s)", errSignature, d.Round(time.Second), MaxClockSkew)
	}
	return nil
}

// parseUnix parses a timestamp of at most 12 decimal digits (Unix seconds).
func parseUnix(s string) (int64, error) {
	if len(s) > 12 {
		return 0, errors.New("timestamp is not Unix seconds")
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errors.New("timestamp is not Unix seconds")
		}
		n = n*10 + int64(c-'0')
	}
	return n, nil
}

// dispatch decides the immediate response to an interaction and returns
// the command to run once that response is sent (nil if there is none). A
// nil response means the interaction type is not supported or, over the
// gateway, that it is not this replica's to answer. ctx bounds only the
// decision; the command gets a context of its own.
func (a *Adapter) dispatch(ctx context.Context, in *discordgo.Interaction, gateway bool) (*discordgo.InteractionResponse, *conversation) {
	if in.Type == discordgo.InteractionPing {
		return &discordgo.InteractionResponse{Type: discordgo.InteractionResponsePong}, nil
	}
	if !carriesCommand(in) {
		a.log.Warn("discord interaction of unsupported type", "interaction", in.ID, "type", int(in.Type))
		return nil, nil
	}
	// Follow-ups go to the configured application's webhook.
	cp := *in
	cp.AppID = a.appID
	in = &cp
	userID := interactionUser(in)
	user := "discord:unknown"
	if userID != "" {
		user = a.userName(userID)
	}
	log := a.log.With("interaction", in.ID, "user", user, "discord_user", userID, "channel", in.ChannelID)

	// What cannot become a command is refused below, after the duplicate
	// check, through the same handler as everything else, so that it is
	// audited too.
	var text string
	var err error
	switch data := in.Data.(type) {
	case discordgo.ApplicationCommandInteractionData:
		text, err = commandText(data, a.cat)
	case discordgo.MessageComponentInteractionData:
		text = data.CustomID
		if data.ComponentType != discordgo.ButtonComponent {
			err = errors.New("Switchman only knows buttons; nothing was run.")
		}
	default:
		err = errors.New("the interaction carries no command")
	}
	switch {
	case userID == "":
		err = errors.New("Switchman could not tell who you are; nothing was run.")
	case a.guildID != "" && in.GuildID != a.guildID:
		log.Warn("discord interaction from another guild refused", "guild", in.GuildID)
		err = errors.New("Switchman does not take commands here; nothing was run.")
	}

	claimCtx := ctx
	if !gateway {
		// The request's context ends when Discord hangs up, which is no
		// failure of the state store: a check cut short by it would
		// refuse the command as "state store unreachable". Detached, and
		// bounded by claim, the check says what the store said; a
		// response Discord no longer takes is then refused as such
		// (reasonUnanswered).
		claimCtx = context.WithoutCancel(ctx)
	}
	first, derr := a.claim(claimCtx, in)
	switch {
	case derr != nil && gateway:
		// Every replica receives the interaction over the gateway, and
		// one that reaches the store may have taken it: an answer from
		// here ("state store unreachable") could reach Discord before
		// that replica's, which Discord would then refuse, and the
		// command it runs would be lost. Nor is it audited as refused,
		// for the same reason. Should no replica reach the store, the
		// sender sees "The application did not respond", nothing run.
		log.Error("discord interaction left unanswered: its duplicate check failed; a replica that reaches the state store answers it", "err", derr)
		return nil, nil
	case derr != nil:
		log.Error("dedupe discord interaction", "err", derr)
		audited := text
		if err != nil {
			audited = received(in)
		}
		title, reason := refusals.StoreDown(derr)
		if refusals.StoreReset(derr) {
			reason, title = refusals.ResetReason, refusals.ResetNotice
		}
		a.auditRefusal(ctx, commands.Request{User: user, Platform: Platform, Channel: in.ChannelID, Text: audited, Refused: reason, RefusedFor: commands.RefusalUnavailable})
		return immediate(chat.Message{Level: chat.Failure, Title: title}, a.cat), nil
	case !first:
		log.Info("duplicate discord interaction ignored")
		return alreadyHandled, nil
	}
	req := commands.Request{User: user, Platform: Platform, Channel: in.ChannelID, Text: text}
	public := publicVerb(text)
	if err != nil {
		// Refused through the handler, so that it is audited: in the
		// background, as a command runs, since the audit write may take
		// longer than the 3 seconds Discord waits for the answer. The
		// entry's command is what the interaction carried.
		log.Info("discord command refused", "err", err)
		req.Text, req.Refused, public = received(in), err.Error(), false
	}
	c := &conversation{a: a, in: in, public: public, started: a.now(), log: log.With("command", req.Text), req: req}
	resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource}
	if !public {
		resp.Data = &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}
	}
	return resp, c
}

// claim is the duplicate check of an interaction: it reports whether
// this replica is the first to take it. Every replica checks an
// interaction with the same key, so one answers it and the others do not.
func (a *Adapter) claim(ctx context.Context, in *discordgo.Interaction) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, dedupeTimeout)
	defer cancel()
	return a.dedupe.SetOnce(ctx, "discord:interaction:"+in.ID, dedupeTTL)
}

// carriesCommand reports whether in is of a type that carries a command:
// a slash command or a button.
func carriesCommand(in *discordgo.Interaction) bool {
	return in.Type == discordgo.InteractionApplicationCommand || in.Type == discordgo.InteractionMessageComponent
}

// refuseStopping audits an interaction that arrived once Shutdown had
// begun as refused, without running it, and returns the response that
// tells its sender to try again.
func (a *Adapter) refuseStopping(ctx context.Context, in *discordgo.Interaction) *discordgo.InteractionResponse {
	user := "discord:unknown"
	if id := interactionUser(in); id != "" {
		user = a.userName(id)
	}
	a.auditRefusal(ctx, commands.Request{User: user, Platform: Platform, Channel: in.ChannelID, Text: received(in), Refused: reasonStopping, RefusedFor: commands.RefusalDraining})
	return immediate(chat.Message{Level: chat.Failure, Title: noticeRestarting}, a.cat)
}

// interactionUser returns the Discord id of whoever acted: Member in a
// guild, User in a DM.
func interactionUser(in *discordgo.Interaction) string {
	switch {
	case in.Member != nil && in.Member.User != nil:
		return in.Member.User.ID
	case in.User != nil:
		return in.User.ID
	}
	return ""
}

// Reasons in the audit log for interactions refused before they reached
// the handler.
const (
	reasonStopping   = "Switchman was stopping; nothing was run"
	reasonUnanswered = "Discord did not take the first response; nothing was run"
	// The audit log's reason for a reply that came once Shutdown had
	// returned.
	reasonReplyDropped = "Switchman had stopped; it was sent nowhere"
)

// auditRefusal records, in the background, an interaction refused before
// it reached the handler, so that its response does not wait for it;
// Shutdown waits for the write.
func (a *Adapter) auditRefusal(ctx context.Context, req commands.Request) {
	a.refusals.Write(ctx, req)
}

// received renders what an interaction carried, for the audit log of a
// refused one: "/name option:value …" or a button's id.
func received(in *discordgo.Interaction) string {
	switch data := in.Data.(type) {
	case discordgo.ApplicationCommandInteractionData:
		var b strings.Builder
		b.WriteString("/" + data.Name)
		var walk func(opts []*discordgo.ApplicationCommandInteractionDataOption)
		walk = func(opts []*discordgo.ApplicationCommandInteractionDataOption) {
			for _, o := range opts {
				if o == nil {
					continue
				}
				if o.Type == discordgo.ApplicationCommandOptionSubCommand || o.Type == discordgo.ApplicationCommandOptionSubCommandGroup {
					b.WriteString(" " + o.Name)
					walk(o.Options)
					continue
				}
				fmt.Fprintf(&b, " %s:%v", o.Name, o.Value)
			}
		}
		walk(data.Options)
		return b.String()
	case discordgo.MessageComponentInteractionData:
		return data.CustomID
	}
	return "(an interaction without a command)"
}

// userName maps a Discord id to a Switchman user.
func (a *Adapter) userName(id string) string {
	if name := a.users[id]; name != "" {
		return name
	}
	return "discord:" + id
}

// immediate is a response that is the whole answer: an ephemeral message.
// alreadyHandled answers, over HTTP, an interaction whose id the bot took
// before. The gateway sends no response to it (see RunGateway). It is
// shared: nothing may change it.
var alreadyHandled = immediate(chat.Message{Level: chat.Info, Title: "This was already handled; nothing ran again."}, nil)

func immediate(m chat.Message, cat commands.Catalog) *discordgo.InteractionResponse {
	r := render(m, cat)
	return &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{
			Embeds: r.Embeds, Components: r.Components, AllowedMentions: noMentions(),
			Flags: discordgo.MessageFlagsEphemeral,
		},
	}
}

// publicVerb reports whether a command's answer is for the channel:
// commands that change something. The rest (dry runs, status, history,
// audit, admins, help, whoami) answer the requester alone.
func publicVerb(text string) bool {
	f := strings.Fields(text)
	if len(f) == 0 {
		return false
	}
	switch commands.Verb(strings.ToLower(f[0])) {
	case commands.VerbDeploy:
		for _, w := range f[1:] {
			if strings.EqualFold(w, "--dry-run") {
				return false
			}
		}
		return true
	case commands.VerbRollback, commands.VerbLock, commands.VerbUnlock, commands.VerbCancel,
		commands.VerbGrant, commands.VerbRevoke, commands.VerbHere, commands.VerbAway:
		return true
	case commands.VerbTrain:
		// Boarding, leaving, cancelling and departing change the train
		// everyone rides; the bare list answers the requester.
		return len(f) > 1
	}
	return false
}
