package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// Engine runs deploys; *deploy.Engine implements it.
type Engine interface {
	Confirm(ctx context.Context, id, by string, ok bool) error
	Requester(id string) (string, bool)
	Deploy(ctx context.Context, req deploy.Request, sink deploy.Sink) (*deploy.Record, error)
	Rollback(ctx context.Context, req deploy.Request, sink deploy.Sink) (*deploy.Record, error)
	Plan(ctx context.Context, req deploy.Request) (*deploy.Plan, error)
	Cancel(app, env, by string) (deploy.Cancelled, error)
	// SignalCancel and SignalConfirm reach a run another replica runs.
	SignalCancel(ctx context.Context, app, env, by string) (deploy.Cancelled, error)
	SignalConfirm(ctx context.Context, id, by string, ok bool) error
	Running() []*deploy.Record
	Observe(ctx context.Context, app, env string) ([]deploy.HostResult, error)
	// Draining reports whether the engine refuses new runs: the bot is
	// shutting down.
	Draining() bool
	// Underway returns the runs, on any replica, holding an app+env that
	// a lock of app and env covers.
	Underway(ctx context.Context, app, env string) ([]deploy.Underway, error)
}

// Store is the state the commands read and change.
type Store interface {
	Record(ctx context.Context, id string) (*deploy.Record, error)
	Records(ctx context.Context, f deploy.Filter) ([]*deploy.Record, error)
	// MarkUndelivered sets Undelivered of the record with id to n and
	// changes nothing else of it, whatever its Fence (the report is not
	// the run's state); it returns an error wrapping deploy.ErrNotFound
	// when there is no such record.
	MarkUndelivered(ctx context.Context, id string, n deploy.Undelivered) error
	Locks(ctx context.Context) ([]deploy.Lock, error)
	// ReplaceLock stores next if the lock of its scope in force is still
	// prev (nil: none), in one step; otherwise it returns the lock in
	// force (nil: none) and false.
	ReplaceLock(ctx context.Context, prev *deploy.Lock, next deploy.Lock) (*deploy.Lock, bool, error)
	DeleteLock(ctx context.Context, app, env string) (deploy.Lock, error)
	AppendAudit(ctx context.Context, e *audit.Entry) error
	Audit(ctx context.Context, q audit.Query) ([]audit.Entry, error)
	Grants(ctx context.Context) ([]acl.Grant, error)
	PutGrant(ctx context.Context, g acl.Grant) error
	DeleteGrant(ctx context.Context, user, role, app, env string) (acl.Grant, error)
	CheckOut(ctx context.Context, user string) error
	// CheckInIf makes user's check-in end at until, and CheckOutIf ends
	// it, if the check-in in force still ends at prev (for CheckInIf
	// the zero time is none; an ended check-in counts as none), in one
	// step; otherwise they change nothing and return the end of the
	// check-in in force (zero: none) and false.
	CheckInIf(ctx context.Context, user string, prev, until time.Time) (time.Time, bool, error)
	CheckOutIf(ctx context.Context, user string, prev time.Time) (time.Time, bool, error)
	Present(ctx context.Context) (map[string]time.Time, error)
	// CheckInUnder records that user is around until until, keeping
	// with the check-in what made them an admin as they checked in
	// (acl.CheckIn's Under), which CheckIns returns and CheckInIf keeps.
	CheckInUnder(ctx context.Context, user string, until time.Time, under string) error
	CheckIns(ctx context.Context) (map[string]acl.CheckIn, error)
}

// Output is where a command's answers go. Reply is for the requester;
// Progress receives the events of a deploy the command started, from the
// engine's goroutines, after Handle has returned.
type Output interface {
	Reply(msg chat.Message)
	Progress(ev deploy.Event)
}

// Request is one command as a chat adapter received it.
type Request struct {
	// User is the Switchman user (adapters map chat identities to it).
	User     string
	Platform string
	Channel  string
	Text     string
	// Refused, when set, is why the adapter could not make a command of
	// what it received (an option value it cannot put into words, a
	// message from outside its workspace). Handle refuses it with that
	// reason, so that it is audited like any other refusal; Text is then
	// the adapter's rendering of what it received.
	Refused string
	// RefusedFor is the reason a request the adapter refused before
	// Handle (see AuditRefusal) is counted under, set with Refused: a
	// bounded one of RefusalReasons, never the message.
	RefusedFor Refusal
}

// Refusal is one of RefusalReasons, as an adapter names why it refused a
// request before Handle.
type Refusal string

// The reasons an adapter refuses a request for before Handle.
const (
	// RefusalDraining: the bot was stopping.
	RefusalDraining Refusal = "draining"
	// RefusalUnavailable: a dependency failed (the state store of the
	// duplicate check, the chat platform).
	RefusalUnavailable Refusal = Refusal(errs.Unavailable)
)

// Outcome tells the adapter how the command went.
type Outcome struct {
	// Failed is true when the command was refused or failed.
	Failed bool
	// DeployID is set when the command started a deploy or rollback; its
	// outcome arrives later as an EventFinished.
	DeployID string
	// Code says why the command was refused (errs.NoChange: there was
	// nothing to do); empty when it was not.
	Code errs.Code
}

// Service handles commands: parse, authorise, act, reply, audit. Every
// entry point of every adapter goes through Handle, so every command meets
// the same gate. It is safe for concurrent use.
type Service struct {
	cfg    *config.Config
	cat    Catalog
	engine Engine
	store  Store
	policy *acl.Policy
	now    func() time.Time
	log    *slog.Logger

	presence     PresenceSource
	refusals     RefusalCounter          // nil: not counted
	trains       Trains                  // nil without trains
	schedules    map[string]acl.Schedule // by app/env, for envs with a window
	requireAdmin map[string]bool         // by app/env
	undelivered  undeliveredNotes
}

// Deps wires a Service; Now and Log have defaults, Presence is optional.
type Deps struct {
	Config *config.Config
	Engine Engine
	Store  Store
	Policy *acl.Policy
	// Presence reports chat presence (Slack) for windows that require an
	// admin; without it only /here check-ins count.
	Presence PresenceSource
	// Refusals counts the commands refused, by reason; nil: not counted.
	Refusals RefusalCounter
	Now      func() time.Time
	Log      *slog.Logger
}

// RefusalCounter counts refused commands by one of RefusalReasons. It must
// be safe for concurrent use.
type RefusalCounter interface {
	Refused(reason string)
}

// RefusalReasons are the reasons a command is refused for: the codes of
// internal/errs (all but no_change, which is no refusal), "draining" for
// a run the stopping bot does not start, and "cut_short" for a request
// that ended (the platform gave up on it) while the command ran, and
// "unaudited" for a command that changes state whose audit entry could
// not be written before it ran. A
// bounded set, fit for a metric label, never the message.
var RefusalReasons = []string{string(errs.Invalid), string(errs.NotFound), string(errs.Conflict), string(errs.Forbidden),
	string(errs.Unavailable), string(errs.Internal), "draining", "cut_short", refusalUnaudited}

// refusalUnaudited is the reason a command that changes state is refused
// for when its pending audit entry cannot be written.
const refusalUnaudited = "unaudited"

// refusalReason is the one of RefusalReasons err is refused for.
func refusalReason(err error, cut bool) string {
	switch {
	case cut:
		return "cut_short"
	case errors.Is(err, deploy.ErrDraining):
		return "draining"
	case errors.As(err, new(forbiddenUnsaid)):
		return string(errs.Forbidden)
	}
	return string(errs.CodeOf(err))
}

// NewService returns a Service. The config must have passed validation.
func NewService(d Deps) *Service {
	s := &Service{cfg: d.Config, cat: CatalogOf(d.Config), engine: d.Engine, store: d.Store, policy: d.Policy,
		presence: d.Presence, refusals: d.Refusals, now: d.Now, log: d.Log, schedules: map[string]acl.Schedule{}, requireAdmin: map[string]bool{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, app := range d.Config.AppNames() {
		a, _ := d.Config.App(app)
		for _, name := range a.EnvNames() {
			env, _ := a.Env(name)
			if env.Window == nil {
				continue
			}
			sched, err := env.Schedule()
			if err != nil {
				// Validation rules this out; should it happen, the env
				// stays closed rather than open.
				s.log.Error("deploy window", "app", app, "env", name, "err", err)
				sched = acl.Schedule{Loc: time.UTC, Freezes: []acl.Freeze{{To: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), Message: "the deploy window in the config is invalid"}}}
			}
			s.schedules[app+"/"+name] = sched
			s.requireAdmin[app+"/"+name] = env.Window.RequireAdminPresent
		}
	}
	return s
}

// call is the state of one Handle.
type call struct {
	s *Service
	// ctx is the request's, kept for refuse to tell a request that ended
	// while it ran from a dependency that failed.
	ctx   context.Context
	req   Request
	out   Output
	entry audit.Entry
	res   Outcome
	// audited is set once Handle has tried to write entry, so that a
	// panic after it does not write it again.
	audited bool
	// parsed is the parser's refusal of the command, when it was
	// refused so: refuse marks the usage it ends with in the reply.
	parsed *Result
}

// Handle runs one command. It never panics on user input and leaves one
// audit entry for the command, shown as one line: one that changes state
// writes a pending entry first (see audit.Begin) and is refused, not run,
// when that fails; its outcome's entry then closes it.
func (s *Service) Handle(ctx context.Context, req Request, out Output) Outcome {
	c := &call{s: s, ctx: ctx, req: req, out: out, entry: audit.Entry{
		Time: s.now(), User: req.User, Platform: req.Platform, Channel: req.Channel, Command: auditText(req.Text),
	}}
	p := Result{Kind: Reply, Reply: req.Refused}
	if req.Refused == "" {
		p = Parse(req.Text, s.cat, Options{BotName: s.cfg.Bot.Name})
	}
	switch p.Kind {
	case Ignore:
		return Outcome{}
	case Reply:
		defer c.auditOnPanic(ctx)
		c.entry.Action, c.entry.App, c.entry.Env = targetOfWords(req.Text, s.cat, Options{BotName: s.cfg.Bot.Name})
		c.parsed = &p
		c.refuse(errs.New(errs.Invalid, "%s", p.Reply))
	case Run:
		c.entry.Command = p.Cmd.Text
		c.entry.Action, c.entry.App, c.entry.Env = string(p.Cmd.Verb), p.Cmd.App, p.Cmd.Env
		if changesState(p.Cmd) {
			// Who asked what is durable before anything changes: a
			// command the audit log cannot take is not run.
			if c.entry.App == "" {
				c.entry.App, c.entry.Env = s.targetOfID(ctx, p.Cmd)
			}
			if err := audit.Begin(ctx, s.store, &c.entry); err != nil {
				c.unaudited(err)
				return c.res
			}
			defer c.closeOnPanic(ctx)
		} else {
			defer c.auditOnPanic(ctx)
		}
		c.run(ctx, p.Cmd)
	}
	err := s.appendAudit(ctx, &c.entry)
	c.audited = true
	if err != nil {
		s.log.Error("append audit entry", "user", req.User, "err", err)
		title := "The audit log is unreachable: " + errs.Message(errs.Wrap(errs.Unavailable, err, storeUnreachable))
		// The store's own message when it has one (its disk is full,
		// Redis refuses writes, it was reset), as a command refused at
		// its pending entry is told: "unreachable" would send people
		// looking for a network fault in a store that answers.
		var e *errs.Error
		if msg := errs.Message(storeReset(err)); errors.As(err, &e) && msg != storeUnreachable {
			title = "The audit log cannot be written: " + msg
		}
		out.Reply(chat.Message{Level: chat.Failure, Title: title})
		c.res.Failed = true
	}
	return c.res
}

// targetOfID returns the app and env of the deploy a command names by id
// alone (rollback DEPLOY-ID, deploy confirm|abort ID), for its pending
// audit entry: a command whose outcome is never written (the bot died
// while it ran) is still found by `audit APP`. Empty when cmd names no
// such id, or its record cannot be read (the command is audited all the
// same, with what is known, and says why once it runs).
func (s *Service) targetOfID(ctx context.Context, cmd Command) (app, env string) {
	if cmd.DeployID == "" {
		return "", ""
	}
	switch cmd.Verb {
	case VerbRollback, VerbConfirm, VerbAbort:
	default:
		return "", ""
	}
	for _, r := range s.engine.Running() {
		if r.ID == cmd.DeployID {
			return r.App, r.Env
		}
	}
	rec, err := s.store.Record(ctx, cmd.DeployID)
	if err != nil {
		return "", ""
	}
	return rec.App, rec.Env
}

// targetOfWords reads, best effort, the verb, app and env a command
// refused unparsed names in its first words, for its audit entry:
// `deploy web 42;rm -rf /` is refused, and `audit web` must list it all
// the same. The app is read where the verb's usage puts it ("web/prod"
// too), and only when it is one of cat's; the env only when it is one of
// the app's, right after the app or, for deploy and train board, after
// "to" past the build. Whatever cannot be read is "". It does not judge
// the command, which Parse alone does.
func targetOfWords(text string, cat Catalog, opt Options) (action, app, env string) {
	words := strings.Fields(stripAddress(plainSpaces(auditText(text)), opt.botName()))
	if len(words) == 0 {
		return "", "", ""
	}
	sp := lookup(Verb(strings.ToLower(words[0])))
	if sp == nil {
		return "", "", ""
	}
	isApp := func(w string) bool { return slices.Contains(cat.Apps(), w) }
	rest := words[1:]
	if len(rest) > 0 {
		// As parser.form reads it: an app named as a keyword is the
		// app unless a deploy id follows.
		if f := sp.formNamed(rest[0]); f != nil && (f.isAction() || !isApp(rest[0]) || len(rest) > 1 && isDeployID(rest[1])) {
			sp, rest = f, rest[1:]
		}
	}
	action = string(sp.verb)
	switch sp.verb {
	case VerbLock, VerbUnlock:
		// "deploys", or whatever was typed for it.
		if len(rest) > 0 && !isApp(rest[0]) && !strings.Contains(rest[0], "/") {
			rest = rest[1:]
		}
	case VerbGrant, VerbRevoke:
		rest = rest[min(2, len(rest)):] // @USER ROLE
	case VerbTrain:
		if sp.keyword != TrainBoard && sp.keyword != TrainLeave {
			return action, "", ""
		}
	case VerbConfirm, VerbAbort, VerbHere, VerbAway, VerbAdmins, VerbHelp, VerbWhoami:
		return action, "", ""
	}
	if len(rest) == 0 {
		return action, "", ""
	}
	app, slashEnv, slashed := strings.Cut(rest[0], "/")
	if !isApp(app) {
		return action, "", ""
	}
	isEnv := func(w string) bool { return slices.Contains(cat.Envs(app), w) }
	switch {
	case slashed:
		if isEnv(slashEnv) {
			env = slashEnv
		}
	case sp.verb == VerbDeploy || sp.keyword == TrainBoard:
		if len(rest) > 3 && strings.EqualFold(rest[2], "to") && isEnv(rest[3]) {
			env = rest[3]
		}
	case len(rest) > 1 && isEnv(rest[1]):
		env = rest[1]
	}
	return action, app, env
}

// auditText is a request's text as its audit entry keeps it: whole up to
// MaxCommandLen, as long a command as the bot reads, so that a refused one
// is kept whole as an allowed one is, the part that got it refused with
// it; a longer one, refused as too long, is cut there.
func auditText(text string) string { return truncate(text, MaxCommandLen) }

// storeUnreachable is what a store that cannot be reached is said to be.
const storeUnreachable = "state store unreachable"

// PanicReason is the reason of the outcome entry of a command that
// panicked while it ran.
const PanicReason = "outcome unknown: the command failed while it ran (a panic, see the bot's log); what it had changed by then is not known"

// closeOnPanic, deferred once a command's pending entry is written,
// closes that entry when the command panics, and panics on: an adapter
// that recovers (the bot goes on) left it open, read as a bot that
// stopped, or a command still running, for as long as the log is kept.
// A panic after Handle tried the outcome entry (its reply that the entry
// failed) leaves it at that: a second outcome would show a command that
// ran to its end as unknown too.
func (c *call) closeOnPanic(ctx context.Context) {
	if c.audited {
		return
	}
	r := recover()
	if r == nil {
		return
	}
	c.entry.Decision, c.entry.Reason = audit.Unknown, PanicReason
	if err := c.s.appendAudit(ctx, &c.entry); err != nil {
		c.s.log.Error("append audit entry", "user", c.req.User, "err", err)
	}
	panic(r)
}

// ReadPanicReason is the reason added to the entry of a command written
// once it has run (one that only reads, or a refusal) that panicked
// before its entry was written.
const ReadPanicReason = "the command failed while it ran (a panic, see the bot's log); it changes nothing, and its answer may not have been shown"

// auditOnPanic, deferred for a command whose one entry is written once
// it has run (status, help, whoami, audit, a refusal of the parser…),
// writes that entry when the command panics before it was written, and
// panics on. The adapter recovers and the bot goes on: without it the
// command, allowed or refused, was in the audit log nowhere. Its
// decision is kept when it was made; one never made shows as unknown.
func (c *call) auditOnPanic(ctx context.Context) {
	if c.audited {
		return
	}
	r := recover()
	if r == nil {
		return
	}
	if c.entry.Decision == "" {
		c.entry.Decision = audit.Unknown
	}
	reason := ReadPanicReason
	if c.entry.Reason != "" {
		reason = c.entry.Reason + "; " + reason
	}
	c.entry.Reason = reason
	if err := c.s.appendAudit(ctx, &c.entry); err != nil {
		c.s.log.Error("append audit entry", "user", c.req.User, "err", err)
	}
	panic(r)
}

// changesState reports whether cmd may change state (a deploy, a lock, a
// grant, a check-in, a train's cars or departures, a confirmation): its
// pending entry is written before it runs. Those that only read (status,
// history, help, audit, a dry run…) are audited once they have run.
func changesState(cmd Command) bool {
	switch cmd.Verb {
	case VerbStatus, VerbHistory, VerbStats, VerbAudit, VerbAdmins, VerbHelp, VerbWhoami:
		return false
	case VerbTrain:
		return cmd.TrainAction != TrainList
	case VerbDeploy:
		// A dry run reads the hosts and changes nothing.
		return !cmd.DryRun
	}
	return true
}

// unaudited refuses a command whose pending entry could not be written:
// it was not run, so nothing changed. Its refusal cannot be written
// either, so the log says who asked what, at ERROR, and the refusal is
// counted under "unaudited".
func (c *call) unaudited(err error) {
	c.s.log.Error("command refused: the audit log cannot be written", "user", c.req.User, "platform", c.req.Platform,
		"channel", c.req.Channel, "command", c.entry.Command, "err", err)
	c.res.Failed, c.res.Code = true, errs.Unavailable
	if c.s.refusals != nil {
		c.s.refusals.Refused(refusalUnaudited)
	}
	// The store's own message when it has one (its disk is full, Redis
	// refuses writes, it was reset) says more than "unreachable".
	cause := errs.Message(errs.Wrap(errs.Unavailable, err, "state store unreachable"))
	var e *errs.Error
	if errors.As(err, &e) {
		cause = errs.Message(storeReset(err))
	}
	c.out.Reply(chat.Message{Level: chat.Failure, Title: "Not run: the audit log cannot be written, so nothing was changed",
		Lines: []string{cause}})
}

// AuditRefusal records a request an adapter refused before it could reach
// Handle (its duplicate check failed, the bot is stopping), with
// req.Refused as the reason, and counts it under req.RefusedFor (under
// internal when that is not one of RefusalReasons), whether or not the
// write succeeds: the request was refused either way. The refusal is
// written as audit.Append writes a command's entry, whatever becomes of
// ctx and tried again when the store fails: it is the only trace of the
// request, and a store down for a second is no reason to lose it. It
// returns the last try's error; the adapter answers the requester itself.
func (s *Service) AuditRefusal(ctx context.Context, req Request) error {
	if s.refusals != nil {
		reason := string(errs.Internal)
		if slices.Contains(RefusalReasons, string(req.RefusedFor)) {
			reason = string(req.RefusedFor)
		}
		s.refusals.Refused(reason)
	}
	e := audit.Entry{Time: s.now(), User: req.User, Platform: req.Platform, Channel: req.Channel,
		Command: auditText(req.Text), Decision: audit.Refused, Reason: suggest.Strip(req.Refused)}
	return audit.Append(ctx, s.store, &e)
}

// AuditDroppedReply records that a reply to req, a command that ran,
// reached nobody, why saying what stopped it (the adapter had shut down
// by the time a command that outlived it replied). It is an event, not
// a refusal: the command's own entry says how it went, and its requester
// never saw the reply titled title. It returns the store's error after
// appendAudit's tries.
func (s *Service) AuditDroppedReply(ctx context.Context, req Request, title, why string) error {
	e := &audit.Entry{Time: s.now(), User: req.User, Platform: req.Platform, Channel: req.Channel,
		Command: auditText(req.Text), Decision: audit.Event, Reason: truncate("reply not delivered ("+why+"): "+title, 500)}
	return s.appendAudit(ctx, e)
}

// appendAudit writes a command's entry once the command has run, which
// by then cannot be undone: see audit.Append.
func (s *Service) appendAudit(ctx context.Context, e *audit.Entry) error {
	return audit.Append(ctx, s.store, e)
}

func (c *call) run(ctx context.Context, cmd Command) {
	switch cmd.Verb {
	case VerbDeploy:
		c.deploy(ctx, cmd)
	case VerbRollback:
		c.rollback(ctx, cmd)
	case VerbLock:
		c.lock(ctx, cmd)
	case VerbUnlock:
		c.unlock(ctx, cmd)
	case VerbStatus:
		c.status(ctx, cmd)
	case VerbHistory:
		c.history(ctx, cmd)
	case VerbCancel:
		c.cancel(ctx, cmd)
	case VerbHelp:
		c.allow("")
		c.out.Reply(HelpMessage(cmd.Topic, c.s.cat))
	case VerbWhoami:
		c.whoami(ctx)
	case VerbConfirm, VerbAbort:
		c.confirm(ctx, cmd)
	case VerbTrain:
		c.train(ctx, cmd)
	case VerbStats:
		c.statsCmd(ctx, cmd)
	case VerbGrant:
		c.grant(ctx, cmd)
	case VerbRevoke:
		c.revoke(ctx, cmd)
	case VerbHere:
		c.here(ctx, cmd)
	case VerbAway:
		c.away(ctx)
	case VerbAdmins:
		c.adminsCmd(ctx)
	case VerbAudit:
		c.auditCmd(ctx, cmd)
	default:
		c.refuse(errs.New(errs.Invalid, "%s is not available yet", cmd.Verb))
	}
}

// allow records the command as allowed.
func (c *call) allow(reason string) {
	c.entry.Decision, c.entry.Reason = audit.Allowed, reason
}

// refuse records and replies a refusal or failure.
func (c *call) refuse(err error) {
	err, cut := c.cutShort(err)
	err = storeReset(err)
	c.entry.Decision, c.entry.Reason = audit.Refused, suggest.Strip(errs.Message(err))
	if errors.Is(err, deploy.ErrOutcomeUnknown) {
		// Its write may have been applied: "refused" would tell whoever
		// reads the log that nothing changed.
		c.entry.Decision = audit.Unknown
	}
	c.res.Failed, c.res.Code = true, errs.CodeOf(err)
	switch code := errs.CodeOf(err); {
	case cut:
		c.s.log.Info("command cut short", "user", c.req.User, "command", c.entry.Command, "err", err)
	case errors.Is(err, deploy.ErrDraining):
		// Expected at every stop (a train's car, a late command): no
		// dependency failed.
		c.s.log.Info("command refused: the bot is shutting down", "user", c.req.User, "command", c.entry.Command)
	case code == errs.Internal:
		c.s.log.Error("command failed", "user", c.req.User, "command", c.entry.Command, "err", err)
	case code == errs.Unavailable:
		// A dependency failed (the store, a host, the artifact store):
		// operators need its cause, which people are told only briefly.
		c.s.log.Warn("command refused", "user", c.req.User, "command", c.entry.Command, "err", err)
	}
	level := chat.Failure
	if errs.CodeOf(err) == errs.NoChange {
		level, c.res.Failed, c.entry.Decision = chat.Info, false, audit.Allowed
	} else if c.s.refusals != nil {
		c.s.refusals.Refused(refusalReason(err, cut))
	}
	// The first line is the title, which platforms show on one line (a
	// Discord embed's title, at most 256 characters); what follows, such
	// as the usage under a parser's refusal, goes under it. A longer first
	// line is titled with what it says first ("web/prod is locked"), and
	// the rest goes under it too, rather than being cut.
	title, rest, _ := strings.Cut(errs.Message(err), "\n")
	m := chat.Message{Level: level, Title: title}
	if head, tail, ok := strings.Cut(title, ": "); ok && utf8.RuneCountInString(title) > maxTitle && utf8.RuneCountInString(head) <= maxTitle {
		m.Title, m.Lines = head, []string{tail}
	}
	if rest != "" {
		m.Lines = append(m.Lines, strings.Split(rest, "\n")...)
	}
	if c.parsed != nil {
		m.Usages = usagesIn(m.Title, m.Lines, *c.parsed)
	}
	c.out.Reply(m)
}

// storeReset returns err with the store's own message when the store was
// reset under the bot (deploy.ErrStoreReset): it says what was lost and
// what to do, which the callers' "state store unreachable" wrapping it
// does not.
//
// So does a store whose disk is full or file at its size limit
// (deploy.ErrStoreFull): its message names the file and the cause, and
// the caller's "nothing was changed", when it says so, is kept.
func storeReset(err error) error {
	sentinel := deploy.ErrStoreReset
	switch {
	case errors.Is(err, deploy.ErrStoreReset):
	case errors.Is(err, deploy.ErrStoreFull):
		sentinel = deploy.ErrStoreFull
	default:
		return err
	}
	var store *errs.Error
	for cur := err; ; {
		var e *errs.Error
		if !errors.As(cur, &e) || !errors.Is(e, sentinel) {
			break
		}
		store = e
		if e.Err == nil {
			break
		}
		cur = e.Err
	}
	if store == nil {
		return err
	}
	msg := store.Msg
	const unchanged = "nothing was changed"
	if sentinel == deploy.ErrStoreFull && strings.Contains(errs.Message(err), unchanged) {
		msg += "; " + unchanged
	}
	return &errs.Error{Code: store.Code, Msg: msg, Err: err}
}

// cutShort returns err as the requester is to hear it, and whether the
// command's request ended while it ran (the bot stopping, the request
// cancelled) and cut it short: the store and host calls it cancelled fail
// as if they could not be reached, which says nothing of the store or the
// hosts. Such a failure then says what happened instead, and keeps its
// "nothing was changed".
func (c *call) cutShort(err error) (error, bool) {
	if c.ctx == nil || c.ctx.Err() == nil || !errors.Is(err, context.Canceled) {
		return err, false
	}
	msg := "the request was cancelled, so the command was cut short"
	if c.s.engine.Draining() {
		msg = "Switchman is stopping, so the command was cut short"
	}
	if strings.HasSuffix(errs.Message(err), "nothing was changed") {
		msg += "; nothing was changed"
	}
	return errs.Wrap(errs.Unavailable, err, "%s", msg), true
}

// maxTitle is the longest title of a reply: Discord shows 256 characters
// of an embed's title, its markdown escapes counted, and leaves the rest out.
const maxTitle = 240

func (c *call) deploy(ctx context.Context, cmd Command) {
	dreq := deploy.Request{App: cmd.App, Env: cmd.Env, Build: cmd.Build, Requester: c.req.User, Platform: c.req.Platform, Channel: c.req.Channel}
	// A dry run reads the hosts and tells where the app lives, so it asks
	// for the permission the deploy would; it says what would stop the
	// deploy now rather than refusing over it.
	d, ok := c.check(ctx, acl.Deploy, cmd.App, cmd.Env)
	if !ok {
		return
	}
	if cmd.DryRun {
		c.dryRun(ctx, cmd, dreq, d)
		return
	}
	var notes []string
	var forcedNote string
	forced, err := c.windowVerdict(ctx, cmd)
	if err != nil {
		c.refuse(err)
		return
	}
	switch {
	case forced != "":
		dreq.Forced = cmd.Force
		forcedNote = fmt.Sprintf("⚠ %s forced this deploy outside its window: %q (%s)", c.req.User, cmd.Force, forced)
		notes = append(notes, forcedNote)
	case cmd.Force != "":
		// The window is open, so the deploy is no override: said, since
		// the audit entry's command shows --force, and read alone it
		// passed for one.
		notes = append(notes, forceNotUsed(cmd))
	}
	note, ok := c.checkLocks(ctx, cmd.App, cmd.Env)
	if !ok {
		return
	}
	if note != "" {
		notes = append(notes, note)
	}
	// Once the deploy holds its lease, the window and the locks are
	// judged again: a window that closed since, an admin gone away, or a
	// lock taken since (by another replica, or another command on this
	// one) refuses it. A lock taken later finds the deploy under way.
	//
	// A deploy forced past a closed window that finds it open then (it
	// waited for its app+env) is no override, and is not recorded,
	// announced or audited as one.
	dreq.Admit = func(ctx context.Context) (bool, error) {
		open, why, noAdmin, err := c.s.window(ctx, cmd.App, cmd.Env, c.req.User)
		switch {
		case err != nil:
			return false, err
		case open:
		case forced == "":
			// Closed since the gate found it open. A --force the gate
			// did not need is not taken up here: the deploy would go
			// unannounced and unrecorded as an override.
			return false, errs.New(errs.Forbidden, "%s; nothing was changed", why)
		case noAdmin:
			// The override was granted at the gate, for the window; the
			// admin around then has gone.
			admin, err := c.s.isAdmin(ctx, c.req.User)
			switch {
			case err != nil:
				return false, err
			case !admin:
				return false, errs.New(errs.Forbidden, "%s; %s; nothing was changed", why, forceNotAdmin)
			}
		}
		if _, err := c.s.lockVerdict(ctx, cmd.App, cmd.Env, c.req.User); err != nil {
			return false, err
		}
		return !open && forced != "", nil
	}
	rec, err := c.s.engine.Deploy(ctx, dreq, c.sink())
	if err != nil {
		c.refuse(err)
		return
	}
	if forced != "" && rec.Forced == "" {
		for i, n := range notes {
			if n == forcedNote {
				notes[i] = fmt.Sprintf("deploys to %s/%s opened before the deploy started, so --force %q was not used: this deploy is no override", cmd.App, cmd.Env, cmd.Force)
			}
		}
		dreq.Forced = ""
	}
	c.allow(strings.Join(append([]string{d.Via}, notes...), "; "))
	c.entry.DeployID, c.res.DeployID = rec.ID, rec.ID
	m := chat.Message{Level: chat.Info, Title: fmt.Sprintf("Deploying %s %s to %s (deploy %s)", rec.App, rec.Build, rec.Env, rec.ID), Lines: notes}
	if dreq.Forced != "" {
		// An override is announced to the channel, not only the requester.
		m.Level, m.Public = chat.Warning, true
	}
	c.out.Reply(m)
}

// windowVerdict judges the window of cmd, a deploy, now: nil and "" when
// it is open; when it is closed and cmd forces it past, as its requester
// may, why it is closed (the override to announce); an error refusing the
// deploy otherwise.
func (c *call) windowVerdict(ctx context.Context, cmd Command) (string, error) {
	open, why, noAdmin, err := c.s.window(ctx, cmd.App, cmd.Env, c.req.User)
	switch {
	case err != nil:
		return "", err
	case open:
		return "", nil
	case cmd.Force == "":
		return "", errs.New(errs.Forbidden, "%s", why)
	}
	grants, err := c.s.store.Grants(ctx)
	if err != nil {
		return "", deploy.StoreRefused(err)
	}
	if d := c.s.policy.Check(c.req.User, acl.Override, cmd.App, cmd.Env, grants, c.s.now()); !d.Allowed {
		// Why the window is closed, and when it opens, follow: the
		// refusal of the override alone left out what stops the
		// deploy, which the same deploy without --force is told.
		return "", errs.New(errs.Forbidden, "%s; %s", d.Reason, why)
	}
	// An admin forcing a deploy is an admin around; anyone else's
	// override is for the window, not for the admin the env wants
	// watching.
	if noAdmin {
		admin, err := c.s.isAdmin(ctx, c.req.User)
		switch {
		case err != nil:
			return "", err
		case !admin:
			return "", errs.New(errs.Forbidden, "%s; %s", why, forceNotAdmin)
		}
	}
	return why, nil
}

// forceNotAdmin is why an override that is not an admin's is refused
// where the env wants an admin around and none is.
const forceNotAdmin = "--force overrides the deploy window, not the need for an admin around: an admin checks in with /here or forces the deploy"

// dryRun replies the plan of a deploy, with what would refuse the deploy
// if it were asked for now: a closed window, another's lock, another run
// under way, hosts it cannot use. A deploy that would be refused is said
// to be, once, with every reason in the order the deploy meets them; the
// reply then shows what the hosts run now, not changes a deploy now would
// not make, and says nothing of the deploy going ahead.
func (c *call) dryRun(ctx context.Context, cmd Command, dreq deploy.Request, d acl.Decision) {
	locks, err := c.s.store.Locks(ctx)
	if err != nil {
		c.refuse(deploy.StoreRefused(err))
		return
	}
	// A plan error (a build already current, missing, or without its
	// checksum) is the answer only when the window and locks let the
	// deploy through: the deploy meets those first.
	plan, planErr := c.s.engine.Plan(ctx, dreq)
	open, why, noAdmin, err := c.s.window(ctx, cmd.App, cmd.Env, c.req.User)
	if err != nil {
		c.refuse(err)
		return
	}
	var refusals, notes []string
	if !open {
		line, refused, ok := c.forceVerdict(ctx, cmd, why, noAdmin)
		if !ok {
			return
		}
		if refused {
			refusals = append(refusals, line)
		} else {
			notes = append(notes, line)
		}
	} else if cmd.Force != "" {
		// Said as the deploy says it: silent, the dry run let a --force
		// pass for an override that the deploy will not make.
		notes = append(notes, forceNotUsed(cmd))
	}
	for _, l := range locks {
		if l.Covers(cmd.App, cmd.Env) && l.Active(c.s.now()) && l.Owner != c.req.User {
			refusals = append(refusals, fmt.Sprintf("%s/%s is locked: %s", cmd.App, cmd.Env, describeLock(l, c.s.now())))
		}
	}
	if planErr != nil {
		// Of a build every reachable host runs, or one that cannot be
		// fetched: the deploy finds that only past its window and
		// locks, which refuse it first.
		if len(refusals) == 0 {
			c.refuse(planErr)
			return
		}
		plan = &deploy.Plan{Kind: deploy.KindDeploy, App: cmd.App, Env: cmd.Env, Build: cmd.Build}
	} else {
		refusals = append(refusals, plan.Refusals...)
	}
	// The requester's own locks are passed as the deploy passes them:
	// named, a freeze of everything they set among them. A deploy
	// refused all the same goes neither through them nor past its window.
	if note, err := lockVerdictOf(locks, cmd.App, cmd.Env, c.req.User, c.s.now()); err == nil && note != "" {
		notes = append(notes, note)
	}
	m := planMessage(plan, refusals)
	switch {
	case planErr != nil:
		m.Lines = append(m.Lines, "that cleared: "+errs.Message(planErr))
	case len(refusals) == 0:
		m.Lines = append(m.Lines, notes...)
	}
	c.allow("dry run; " + d.Via)
	c.out.Reply(m)
}

// forceNotUsed says that the --force of deploy cmd, sent while deploys
// to its app+env are open, is no override.
func forceNotUsed(cmd Command) string {
	return fmt.Sprintf("deploys to %s/%s are open now, so --force %q was not needed and not used: this deploy is no override", cmd.App, cmd.Env, cmd.Force)
}

// forceVerdict says what the window, closed for why, does to the deploy
// the dry run cmd plans: with --force, what deploy decides of the
// override (go ahead, announced, or refused for want of the override or
// of an admin around), rather than a refusal that deploy would not make.
// refused says the line is why the deploy would be refused. It returns
// false when it has refused the command itself.
func (c *call) forceVerdict(ctx context.Context, cmd Command, why string, noAdmin bool) (line string, refused, ok bool) {
	if cmd.Force == "" {
		return why, true, true
	}
	grants, ok := c.grants(ctx)
	if !ok {
		return "", false, false
	}
	switch d := c.s.policy.Check(c.req.User, acl.Override, cmd.App, cmd.Env, grants, c.s.now()); {
	case !d.Allowed:
		return d.Reason + "; " + why, true, true
	case noAdmin:
		if admin, err := c.s.isAdmin(ctx, c.req.User); err != nil {
			// Not "would be refused": a deploy now would find the
			// grants unreadable too, or not; the dry run cannot say.
			c.refuse(err)
			return "", false, false
		} else if !admin {
			return why + "; " + forceNotAdmin, true, true
		}
	}
	return fmt.Sprintf("⚠ %s would force this deploy outside its window, announced in the channel: %s", c.req.User, why), false, true
}

// checkLocks refuses a deploy that an active lock covers, unless the
// requester owns that lock. It returns a note for the reply and audit.
func (c *call) checkLocks(ctx context.Context, app, env string) (string, bool) {
	note, err := c.s.lockVerdict(ctx, app, env, c.req.User)
	if err != nil {
		c.refuse(err)
		return "", false
	}
	return note, true
}

// lockVerdict returns the error refusing user's deploy of app/env that an
// active lock of another's covers, or a note naming each of user's own
// locks it goes through: a wider one (a freeze of everything) is passed
// as much as the app+env's, and is named with it, widest first.
func (s *Service) lockVerdict(ctx context.Context, app, env, user string) (string, error) {
	locks, err := s.store.Locks(ctx)
	if err != nil {
		return "", deploy.StoreRefused(err)
	}
	return lockVerdictOf(locks, app, env, user, s.now())
}

// lockVerdictOf is lockVerdict of the locks read, at now.
func lockVerdictOf(locks []deploy.Lock, app, env, user string, now time.Time) (string, error) {
	var own []string
	for _, l := range locks {
		if !l.Covers(app, env) || !l.Active(now) {
			continue
		}
		if l.Owner != user {
			return "", errs.New(errs.Conflict, "%s/%s is locked: %s", app, env, describeLock(l, now))
		}
		own = append(own, fmt.Sprintf("%s (%s)", l.Scope(), l.Reason))
	}
	switch len(own) {
	case 0:
		return "", nil
	case 1:
		return fmt.Sprintf("you hold the lock on %s, so the deploy goes ahead", own[0]), nil
	}
	return fmt.Sprintf("you hold the locks on %s and %s, so the deploy goes ahead",
		strings.Join(own[:len(own)-1], ", "), own[len(own)-1]), nil
}

func (c *call) rollback(ctx context.Context, cmd Command) {
	if cmd.DeployID != "" {
		// rollback DEPLOY-ID: from what that deploy put live, only if it
		// still runs, to the release its report's button names, if any
		// (see RollbackButton). The permission on the record's app and
		// env is decided before anything else of the record is said: a
		// user who may not roll it back is told what they would be of
		// an id nobody used, so that no reply tells which ids exist.
		grants, ok := c.grants(ctx)
		if !ok {
			return
		}
		rec, err := c.s.store.Record(ctx, cmd.DeployID)
		if err != nil && !errors.Is(err, deploy.ErrNotFound) {
			c.refuse(deploy.StoreRefused(err))
			return
		}
		if err != nil {
			c.refuse(noDeployToRollBack(cmd.DeployID, c.req.User))
			return
		}
		if d := c.s.policy.Check(c.req.User, acl.Rollback, rec.App, rec.Env, grants, c.s.now()); !d.Allowed {
			c.refuse(forbiddenUnsaid{noDeployToRollBack(cmd.DeployID, c.req.User)})
			// The audit log, which admins read, keeps what the reply
			// does not say.
			c.entry.App, c.entry.Env = rec.App, rec.Env
			c.entry.Reason += fmt.Sprintf(" (deploy %s is of %s/%s: %s)", cmd.DeployID, rec.App, rec.Env, d.Reason)
			return
		}
		cmd.App, cmd.Env, cmd.From = rec.App, rec.Env, rec.Build
		if (rec.Outcome == deploy.OutcomeSucceeded || rec.Outcome == deploy.OutcomePartial) && deploy.ValidBuild(rec.RollbackTo) {
			cmd.Build = rec.RollbackTo
		}
		if to, from, ok := undoInterrupted(rec); ok && rec.Outcome == deploy.OutcomeInterrupted {
			// The short form of InterruptedButton: undo that run only.
			cmd.Build, cmd.From = to, from
		}
		c.entry.App, c.entry.Env = rec.App, rec.Env
	}
	d, ok := c.check(ctx, acl.Rollback, cmd.App, cmd.Env)
	if !ok {
		return
	}
	// Restoring service never waits for a lock or a window; both are
	// announced. The window is judged beside the rollback's start, not
	// before it: where an env needs an admin around that reads each
	// admin's Slack presence, which Slack's rate limits may hold for
	// seconds, and all it gives a rollback is a note. The reply waits for
	// the note; the rollback does not. Waited for on every return: it
	// reads the store, which need not outlive the command.
	window := c.s.windowLater(ctx, cmd.App, cmd.Env)
	defer window()
	// The locks are read before the start, which locks the app+env
	// itself.
	var locked []string
	if locks, err := c.s.store.Locks(ctx); err == nil {
		for _, l := range locks {
			if l.Covers(cmd.App, cmd.Env) && l.Active(c.s.now()) {
				locked = append(locked, "rolling back despite the lock: "+describeLock(l, c.s.now()))
			}
		}
	} else {
		c.refuse(deploy.StoreRefused(err))
		return
	}
	rec, err := c.s.engine.Rollback(ctx, deploy.Request{App: cmd.App, Env: cmd.Env, Build: cmd.Build, From: cmd.From, Requester: c.req.User, Platform: c.req.Platform, Channel: c.req.Channel}, c.sink())
	if err != nil {
		c.refuse(err)
		return
	}
	// Nobody need force a rollback past a closed window: its note names
	// no admins who could. One that could not be judged (the command's
	// context ended as it looked for an admin around) is said to be: the
	// rollback runs, and a refusal would say it did not.
	var notes []string
	switch v := window(); {
	case v.err != nil:
		notes = append(notes, "rolling back although whether deploys to "+cmd.App+"/"+cmd.Env+" are open could not be read: "+errs.Message(v.err))
	case !v.open:
		notes = append(notes, "rolling back although "+v.why)
	}
	notes = append(notes, locked...)
	// What the rollback went past goes into its audit entry too, as a
	// deploy's override and the locks it passes do: said in the reply
	// alone, the log showed a change during a freeze or another's lock
	// with nothing to say it had gone past either.
	c.allow(strings.Join(append([]string{d.Via}, notes...), "; "))
	c.entry.DeployID, c.res.DeployID = rec.ID, rec.ID
	c.out.Reply(chat.Message{Level: chat.Warning, Public: true, Lines: notes,
		Title: fmt.Sprintf("Rolling back %s/%s from %s to %s (rollback %s)", rec.App, rec.Env, orNone(rec.Previous), rec.Build, rec.ID)})
}

// forbiddenUnsaid is a refusal worded as one of an id nobody used, so that
// no reply tells which ids exist, given to a user who may not act on the
// deploy the id names: it is counted as forbidden, what it is, while its
// reply and code stay those of an unknown id.
type forbiddenUnsaid struct{ err error }

func (e forbiddenUnsaid) Error() string { return e.err.Error() }
func (e forbiddenUnsaid) Unwrap() error { return e.err }

// noDeployToRollBack refuses `rollback DEPLOY-ID` of an id that names no
// deploy, or one of an app and env user may not roll back: alike, so
// that the reply does not tell one from the other.
func noDeployToRollBack(id, user string) error {
	who := orChatUser(user)
	return errs.New(errs.NotFound, "there is no deploy %s that %s may roll back (whoami lists where %s holds rollback); nothing was rolled back", id, who, who)
}

// orChatUser is user, or "this chat user" for one no name maps to.
func orChatUser(user string) string {
	if user == "" {
		return "this chat user"
	}
	return user
}

// sink forwards engine events to the adapter and audits the end of the
// deploy. The end is audited before it is shown: someone who reads the
// audit log on seeing it (a console script, an operator) finds it there.
// The end of a run another replica took over is that replica's to audit
// (see AuditInterrupted): audited here too, the log showed the run
// finished twice.
func (c *call) sink() deploy.Sink {
	s, req, out := c.s, c.req, c.out
	return func(ev deploy.Event) {
		if ev.Kind == deploy.EventFinished && ev.Record != nil && !ev.TakenOver {
			r := ev.Record
			if err := s.appendAudit(context.Background(), finishedEntry(s.now(), r, req.User, req.Platform, req.Channel)); err != nil {
				s.log.Error("append audit entry", "deploy", r.ID, "err", err)
			}
		}
		out.Progress(ev)
	}
}

// finishedEntry is the audit entry of how run r ended, written for user.
// It says the outcome people were told (see deploy.Record.Said): the
// audit log is read later to learn what happened on the hosts, and a
// first deploy whose hosts stayed on the failing build was not reverted.
func finishedEntry(now time.Time, r *deploy.Record, user, platform, channel string) *audit.Entry {
	return &audit.Entry{Time: now, User: user, Platform: platform, Channel: channel,
		Command: fmt.Sprintf("%s %s %s/%s finished: %s", r.Kind, r.Build, r.App, r.Env, OutcomeText(r)),
		Action:  string(r.Kind), App: r.App, Env: r.Env, Decision: audit.Event, Reason: r.Error, DeployID: r.ID}
}

// AuditInterrupted records the end of run r, whose process died and which
// recovery (or the next run of its app+env) marked interrupted. The sink
// that would have audited its end died with that process: without this
// the audit log shows the run allowed and never how it ended. The entry
// is the requester's, as the sink's would have been. It returns the
// store's error after appendAudit's tries.
func (s *Service) AuditInterrupted(ctx context.Context, r *deploy.Record) error {
	return s.appendAudit(ctx, finishedEntry(s.now(), r, r.Requester, r.Platform, r.Channel))
}

// AuditLockReplaced records that the lock run (a rollback) left on its
// app+env replaced replaced, a person's lock. The new lock's reason quotes
// it, but that goes when the lock is lifted, and the person who locked
// the scope is not the one who replaced it: the entry is an event of the
// bot's, which owns the new lock. It returns the store's error after
// appendAudit's tries.
func (s *Service) AuditLockReplaced(ctx context.Context, run *deploy.Record, replaced deploy.Lock) error {
	e := &audit.Entry{Time: s.now(), User: config.BotUser, Platform: run.Platform, Channel: run.Channel,
		Command: fmt.Sprintf("%s's lock on %s replaced by the bot's lock of %s %s", replaced.Owner, replaced.Scope(), run.Kind, run.ID),
		Action:  string(VerbLock), App: run.App, Env: run.Env, Decision: audit.Event, Reason: "was " + describeLock(replaced, s.now()), DeployID: run.ID}
	return s.appendAudit(ctx, e)
}

func (c *call) lock(ctx context.Context, cmd Command) {
	d, ok := c.check(ctx, acl.Lock, cmd.App, cmd.Env)
	if !ok {
		return
	}
	l := deploy.Lock{App: cmd.App, Env: cmd.Env, Owner: c.req.User, Reason: cmd.Reason, Created: c.s.now()}
	if cmd.For > 0 {
		l.Expires = l.Created.Add(cmd.For)
	}
	// A lock replaces the lock of its scope: only its owner's own. Taking
	// over another's lock would unlock it without the unlock permission,
	// and its new owner would deploy through it.
	locks, err := c.s.store.Locks(ctx)
	if err != nil {
		c.refuse(deploy.StoreRefused(err))
		return
	}
	var prev *deploy.Lock
	for _, old := range locks {
		if old.App == l.App && old.Env == l.Env && old.Active(l.Created) {
			prev = &old
		}
	}
	unlockCmd := suggest.Command(strings.TrimSpace("unlock deploys " + l.App + " " + l.Env))
	if prev != nil && prev.Owner != l.Owner {
		c.refuse(errs.New(errs.Conflict, "%s is locked already: %s; nothing was changed (to replace it, unlock it first: %s)",
			l.Scope(), describeLock(*prev, l.Created), unlockCmd))
		return
	}
	// The lock is written only in place of the one read: a lock of the
	// scope taken since (by another person, a rollback, another replica)
	// would otherwise be replaced while its owner was told it holds.
	for {
		cur, ok, err := c.s.store.ReplaceLock(ctx, prev, l)
		if err != nil {
			// The lock may have been written and only the reply lost:
			// told that nothing changed, its owner would not look, and
			// a lock nobody knows of would hold deploys back.
			c.refuse(deploy.OutcomeUnknown(err, "whether your lock on "+l.Scope()+" was set", suggest.Command("status")+" lists the locks in force"))
			return
		}
		if ok {
			break
		}
		if cur != nil && cur.Owner != l.Owner {
			c.refuse(errs.New(errs.Conflict, "%s was locked a moment ago: %s; your lock was not set (to replace it, unlock it first: %s)",
				l.Scope(), describeLock(*cur, l.Created), unlockCmd))
			return
		}
		// The requester's own lock was changed or lifted meanwhile:
		// theirs replaces what is there now.
		prev = cur
	}
	c.allow(d.Via)
	lines := []string{describeLock(l, c.s.now())}
	if prev != nil {
		// The owner's earlier lock goes, its reason and expiry with it:
		// said as unlock says what it lifted, so that a re-lock meant to
		// add a note does not drop an expiry, or a reason, unseen.
		replaced := "replaces the earlier lock: " + describeLock(*prev, c.s.now())
		lines = append(lines, replaced)
		c.entry.Reason += "; " + replaced
	}
	// Read after the lock was written: a deploy that passed its gate
	// before is either refused by its second look at the locks or holds
	// its lease by now, and is named here.
	runs, err := c.s.engine.Underway(ctx, l.App, l.Env)
	if err != nil {
		lines = append(lines, "⚠ could not check for deploys under way ("+errs.Message(err)+"): "+suggest.Command("status")+" shows them")
	}
	for _, u := range runs {
		stop := "a lock stops deploys that start after it; to stop this one: " + suggest.Command("cancel "+u.App+" "+u.Env)
		switch {
		case strings.HasPrefix(u.What, string(deploy.KindRollback)):
			stop = "a lock does not stop a rollback"
		case !strings.HasPrefix(u.What, string(deploy.KindDeploy)):
			stop = "it changes no host"
		}
		lines = append(lines, fmt.Sprintf("⚠ %s/%s: %s is under way (%s) and goes on: %s", u.App, u.Env, u.What, u.ID, stop))
	}
	c.out.Reply(chat.Message{Level: chat.Warning, Public: true, Title: "Locked " + l.Scope(), Lines: lines})
}

func (c *call) unlock(ctx context.Context, cmd Command) {
	d, ok := c.check(ctx, acl.Unlock, cmd.App, cmd.Env)
	if !ok {
		return
	}
	l, err := c.s.store.DeleteLock(ctx, cmd.App, cmd.Env)
	if err != nil {
		if errors.Is(err, deploy.ErrNotFound) {
			// "there is no lock on": the scope may be "all deploys", which
			// "is not locked" would not agree with.
			scope := deploy.Lock{App: cmd.App, Env: cmd.Env}.Scope()
			c.refuse(errs.New(errs.NotFound, "there is no lock on %s%s", scope, c.otherLocks(ctx)))
			return
		}
		// The delete may have been applied and only its reply lost (or
		// the store failed after it): "nothing was changed" could be
		// false, and whoever trusts it would lock again, or not.
		scope := deploy.Lock{App: cmd.App, Env: cmd.Env}.Scope()
		c.refuse(deploy.OutcomeUnknown(err, "whether the lock on "+scope+" was lifted", suggest.Command("status")+" lists the locks in force"))
		return
	}
	// The lock lifted goes into the audit entry, as a re-lock's entry
	// names the lock it replaced: read alone, the log said who unlocked
	// a scope, not whose lock, or which, was lifted.
	was := "was " + describeLock(l, c.s.now())
	c.allow(d.Via + "; " + was)
	c.out.Reply(chat.Message{Level: chat.Success, Public: true, Title: "Unlocked " + l.Scope(),
		Lines: []string{was}})
}

func (c *call) otherLocks(ctx context.Context) string {
	locks, err := c.s.store.Locks(ctx)
	if err != nil {
		// Not "there are no locks": they may be there, unread.
		return "; the locks in force could not be read (" + deploy.StoreReason(err) + ")"
	}
	if len(locks) == 0 {
		return "; there are no locks"
	}
	var scopes []string
	for _, l := range locks {
		scopes = append(scopes, l.Scope())
	}
	return "; locked now: " + strings.Join(scopes, ", ")
}

func (c *call) cancel(ctx context.Context, cmd Command) {
	d, ok := c.check(ctx, acl.Cancel, cmd.App, cmd.Env)
	if !ok {
		return
	}
	cd, err := c.s.engine.Cancel(cmd.App, cmd.Env, c.req.User)
	elsewhere := false
	if errs.CodeOf(err) == errs.NotFound {
		// Not a run of this replica: the one running it is asked.
		cd, err = c.s.engine.SignalCancel(ctx, cmd.App, cmd.Env, c.req.User)
		elsewhere = err == nil
	}
	if err != nil {
		c.refuse(err)
		return
	}
	c.allow(d.Via)
	c.entry.DeployID = cd.ID
	// A deploy that had not started (it was opening its hosts) has
	// switched no host: "hosts already switched will be switched back"
	// promised a switch back of nothing.
	title := fmt.Sprintf("Cancelling deploy %s of %s/%s at the next safe point; hosts already switched will be switched back", cd.ID, cmd.App, cmd.Env)
	switch {
	case !cd.Started && !elsewhere:
		title = fmt.Sprintf("Cancelling deploy %s of %s/%s before it starts: it has switched no host, and will switch none", cd.ID, cmd.App, cmd.Env)
	case !cd.Started:
		title = fmt.Sprintf("Cancelling deploy %s of %s/%s, which had not started: it stops before it switches a host, unless it started before it takes the cancel; hosts switched by then will be switched back", cd.ID, cmd.App, cmd.Env)
	}
	m := chat.Message{Level: chat.Warning, Public: true, Title: title}
	if elsewhere {
		m.Lines = []string{"it runs on another replica of the bot, which takes the cancel within seconds; its progress messages say when it stops"}
	}
	c.out.Reply(m)
}

func (c *call) whoami(ctx context.Context) {
	c.allow("")
	m := chat.Message{Level: chat.Info, Title: fmt.Sprintf("You are %s (%s)", orNone(c.req.User), c.req.Platform)}
	if !c.s.policy.KnownUser(c.req.User) {
		m.Lines = append(m.Lines, "not a user in the config: you can use "+acl.ReadCommands)
		c.out.Reply(m)
		return
	}
	grants, ok := c.grants(ctx)
	if !ok {
		return
	}
	srcs := c.s.policy.Effective(c.req.User, grants, c.s.now())
	if len(srcs) == 0 {
		m.Lines = append(m.Lines, "no grants: you can use "+acl.ReadCommands)
	}
	for _, src := range srcs {
		acts := make([]string, len(src.Actions))
		for i, a := range src.Actions {
			acts[i] = string(a)
		}
		m.Lines = append(m.Lines, fmt.Sprintf("role %s: %s on %s (%s)", src.Role, strings.Join(acts, ", "), strings.Join(src.On, ", "), src.Via))
	}
	c.out.Reply(m)
}
