package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/redact"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// Transport runs shell scripts on hosts. Every host step of the engine is a
// script run through it, so the same engine drives the local machine and a
// fleet over SSH.
type Transport interface {
	// Open returns a session to host that stays usable for the whole
	// deploy. A host that cannot be reached returns an error wrapping
	// ErrUnreachable (or a more specific cause, such as an unknown host key).
	Open(ctx context.Context, host Host) (Session, error)
}

// Session runs scripts on one host. A Session is used by one goroutine at a
// time.
type Session interface {
	// Run executes script with /bin/sh on the host, with Stdin (if any) as
	// its standard input, and returns its standard output. A script that
	// exits non-zero returns an *ExitError.
	Run(ctx context.Context, cmd Command) ([]byte, error)
	Close() error
}

// roundTripper is a Session that knows how far its host is.
type roundTripper interface {
	// RoundTrip returns the shortest round trip seen on the connection,
	// or 0 if it is not known.
	RoundTrip() time.Duration
}

// roundTrip returns s's round trip, 0 if unknown.
func roundTrip(s Session) time.Duration {
	if rt, ok := s.(roundTripper); ok {
		return rt.RoundTrip()
	}
	return 0
}

// Command is one script run on a host.
type Command struct {
	// Script is shell text. Every value that came from a user or the
	// config is quoted with shell.Quote before it is put here.
	Script string
	Stdin  io.Reader
	// Stdout, if set, also gets the script's standard output as it
	// arrives, so that a caller can follow a long script; Run returns it
	// as well, or of a long one only the end (the transports keep the
	// last 4 MiB, after a line saying how much was dropped). Writes may
	// come from another goroutine, and until Run returns (after it, when
	// a timeout cut the script short).
	Stdout io.Writer
	// Timeout bounds the run; zero means the context alone bounds it.
	Timeout time.Duration
	// Lingering, if set, asks the transport to tell, once the script has
	// ended, whether a process it started (in the background) still
	// holds its standard output or error. The transport stops reading
	// those when Run returns or the connection closes, and such a
	// process then gets SIGPIPE at its next write: most programs die of
	// it. Lingering is called before Run returns, with the processes
	// named where the transport can tell ("pid 42 (app)"), else "". A
	// transport that cannot tell never calls it.
	Lingering func(who string)
	// Run is the token of the run the script is a step of (see
	// Record.Run), or "". The transport exports it to the script as
	// SWITCHMAN_RUN, in the environment of the shell that runs it where
	// it can, so that the programs a step starts carry it: a later run
	// finds by it what this one began on the host and left running,
	// should its process die (see leftoverScript). Setting it starts no
	// process.
	Run string
}

// Host is one target of a deploy.
type Host struct {
	// Name is how people and the config refer to the host.
	Name string
	// Address is what the transport dials (host:port for SSH); empty for local.
	Address string
	// Vars are substituted into health-check URLs and commands ({host} and
	// the config's per-host vars).
	Vars map[string]string
}

// ExitError is a script that ran and exited non-zero.
type ExitError struct {
	Code int
	// Stderr is as the script wrote it, but for the marks of the bot's
	// suggested commands, which the engine's sessions take out (see
	// hidingSession).
	Stderr string
	// secrets are the config's secret values, set by the engine's
	// hidingSession on what a transport returns.
	secrets *redact.Secrets
}

// Error is the status and the standard error with the config's secret
// values and the credentials of the URLs in it hidden (see
// redact.Secrets): it reaches the progress, the record (status, history,
// replies, the audit log) and the log, and a migration that fails commonly
// names the database URL it could not reach, password included, or under
// set -x the PGPASSWORD it was given.
func (e *ExitError) Error() string {
	msg := fmt.Sprintf("exit status %d", e.Code)
	if e.Stderr != "" {
		msg += ": " + e.secrets.Text(e.Stderr)
	}
	return msg
}

// exited is an ExitError of code and stderr that hides what e hides; e
// may be nil.
func (e *ExitError) exited(code int, stderr string) *ExitError {
	x := &ExitError{Code: code, Stderr: stderr}
	if e != nil {
		x.secrets = e.secrets
	}
	return x
}

// hidingTransport opens hidingSessions. The engine reaches every host
// through one, so that no script's failure is shown without the config's
// secret values hidden, whichever transport ran it.
type hidingTransport struct {
	Transport
	secrets *redact.Secrets
}

func (t hidingTransport) Open(ctx context.Context, host Host) (Session, error) {
	s, err := t.Transport.Open(ctx, host)
	if err != nil {
		return nil, hide(err, t.secrets)
	}
	return hidingSession{s, t.secrets}, nil
}

// hiddenError is a transport's error as people may see it: its text with
// the config's secret values, the credentials of URLs and the marks of
// suggested commands taken out. Not only an ExitError quotes what a host
// printed or what it was given: a timeout may quote the output, a failed
// read of a script's input the artifact source's error, an error of the
// connection the command it ran. Unwrap gives the transport's error, so
// that errors.Is and errors.As see what it wraps.
type hiddenError struct {
	err     error
	secrets *redact.Secrets
}

func (e hiddenError) Error() string { return suggest.Strip(e.secrets.Text(e.err.Error())) }

func (e hiddenError) Unwrap() error { return e.err }

// hide is err as people may see it (see hiddenError); nil for nil. An
// ExitError returned as it is hides its standard error itself, and stays
// one for callers that look at its type.
func hide(err error, secrets *redact.Secrets) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*ExitError); ok {
		return err
	}
	return hiddenError{err, secrets}
}

// hidingSession hides the config's secrets in every error of its scripts
// (see hiddenError) and gives their ExitErrors the secrets their Error
// hides, and takes the marks of the bot's suggested commands out of
// what the scripts print and of the lingering processes the host names
// (see suggest): a host's output is quoted in progress, records and
// replies, and a host printing a command between the marks would pass it
// off as the bot's suggestion. All of the output loses them, not only
// standard error: what the bot reads of it (migration names, the releases
// on disk) is quoted too.
type hidingSession struct {
	Session
	secrets *redact.Secrets
}

func (s hidingSession) Run(ctx context.Context, cmd Command) ([]byte, error) {
	if told := cmd.Lingering; told != nil {
		// The host names the process: its name is the app's.
		cmd.Lingering = func(who string) { told(suggest.Strip(who)) }
	}
	out, err := s.Session.Run(ctx, cmd)
	if exit := (*ExitError)(nil); errors.As(err, &exit) {
		exit.secrets = s.secrets
		exit.Stderr = suggest.Strip(exit.Stderr)
	}
	return unmarked(out), hide(err, s.secrets)
}

func (s hidingSession) Close() error { return hide(s.Session.Close(), s.secrets) }

// unmarked is out without the marks of suggested commands; out itself
// when it has none, as it mostly does.
func unmarked(out []byte) []byte {
	if !bytes.ContainsRune(out, '\ue000') && !bytes.ContainsRune(out, '\ue001') {
		return out
	}
	return []byte(suggest.Strip(string(out)))
}

// RoundTrip is the wrapped session's (see roundTrip).
func (s hidingSession) RoundTrip() time.Duration { return roundTrip(s.Session) }

// runSession marks every script of a run with the run's token (see
// Command.Run), and calls lost when a script ends because the host's
// connection did: what it began may still run there.
type runSession struct {
	Session
	run  string
	lost func()
}

func (s runSession) Run(ctx context.Context, cmd Command) ([]byte, error) {
	if cmd.Run == "" {
		cmd.Run = s.run
	}
	out, err := s.Session.Run(ctx, cmd)
	if err != nil && s.lost != nil && errors.Is(err, ErrUnreachable) {
		s.lost()
	}
	return out, err
}

// RoundTrip is the wrapped session's (see roundTrip).
func (s runSession) RoundTrip() time.Duration { return roundTrip(s.Session) }

// ErrUnreachable marks a host the transport could not reach.
var ErrUnreachable = errors.New("host unreachable")

// Store keeps deploy records. Implementations are safe for concurrent use.
type Store interface {
	// PutRecord creates or replaces the record with r.ID. It refuses,
	// with an error wrapping ErrLeaseLost, to replace a record whose Fence
	// is greater than r.Fence: a newer lease holder (recovery) has taken
	// the record over, and a stale writer must not undo what it wrote. It
	// refuses as well a write whose Fence is lower than the newest token
	// handed out for LeaseKey(r.App, r.Env): from the moment a newer
	// holder takes that lease, not only once it has written, so that what
	// it reads of the record after taking the lease is what stays.
	PutRecord(ctx context.Context, r *Record) error
	// Record returns the record with id, or an error wrapping ErrNotFound.
	Record(ctx context.Context, id string) (*Record, error)
	// Records returns records matching f, newest first.
	Records(ctx context.Context, f Filter) ([]*Record, error)
}

// ErrNotFound is returned by stores for a missing record or lock.
var ErrNotFound = errors.New("not found")

// ErrStoreReset is wrapped by the errors of a shared store that lost its
// data under the running bot (code errs.Unavailable): its locks, grants and
// leases are gone, so nothing may be decided on it until the bot restarts.
// The message of the store's *errs.Error says what happened and what to do.
var ErrStoreReset = errors.New("state store was reset")

// ErrClockSkew is wrapped by the refusal of a store to take a lease while
// the replica's clock is too far from the store's (code errs.Unavailable):
// leases expire by each replica's clock. The store logs the change once;
// loops that try again each round (the leader's election, the look-outs
// for dead runs and watches) do not log it again.
var ErrClockSkew = errors.New("replica clock skewed from the state store's")

// ErrStoreFull is wrapped by the errors of a store whose write failed for
// want of disk space or quota, or at the size limit set on the process's
// files (code errs.Unavailable): nothing of that write was stored, and
// none will be until space is freed or the limit raised. The message of
// the store's *errs.Error names the file and says so, which "state store
// unreachable" does not: "state store FILE" then StoreFullSays then why
// ("its disk is full (no space left on device)"), so that whoever may not
// be shown the file can still say why.
var ErrStoreFull = errors.New("state store disk full")

// ErrStoreUnusable is wrapped by the errors of a store that refuses every
// call until someone acts on it (code errs.Unavailable): the embedded
// store's file found damaged, which must be restored, or no longer mapped
// in memory, which only a restart of the bot maps again. Nothing of a
// write it refuses is stored (the one that found the damage, or failed to
// map the file anew, was rolled back), and trying again seconds later is
// refused the same way.
var ErrStoreUnusable = errors.New("state store unusable until repaired")

// ErrStoreNotRun is wrapped by the errors of a store write given up, as
// its context ended, before the store began it (code errs.Unavailable):
// the embedded store's writes wait their turn behind one on a stalled
// disk, and one given up there is never made; and a write called with a
// context already ended is refused before anything is sent (StoreNotRun).
// Nothing of it was stored.
var ErrStoreNotRun = errors.New("state store write given up before it began")

// StoreNotRun is the error of a store write refused, before anything of
// it is sent or begun, because ctx has ended: it wraps ErrStoreNotRun and
// ctx's error (and its cause, when another), so that a caller using
// OutcomeUnknown says nothing was changed rather than that the outcome is
// not known. It says the store is unreachable, as a bare context error
// was called: the command ran out of time before it could ask.
func StoreNotRun(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	return errs.Wrap(errs.Unavailable, fmt.Errorf("%w: %w", ErrStoreNotRun, err), StoreUnreachable)
}

// StoreFullSays is what the message of a store refused as ErrStoreFull
// says between the file it names and why.
const StoreFullSays = " cannot be written: "

// ErrStoreClosed is what a store answers once it is closed, as the bot
// stops (code errs.Unavailable): a command, a departure or a webhook
// delivery that still reaches it then is refused for that, and told so,
// not that the store cannot be reached, which would send people looking
// for a fault in a store that is fine. Nothing was sent to the store.
var ErrStoreClosed error = &errs.Error{Code: errs.Unavailable, Msg: "Switchman is stopping, so its state store is closed"}

// Signals carry what a person asks of a run to the replica running it,
// from whichever replica received the command: a cancel, the answer to a
// migrations prompt. The run asks for them every signalPoll.
type Signals interface {
	// Signal leaves value for run id under kind for ttl, replacing one
	// left before.
	Signal(ctx context.Context, id, kind, value string, ttl time.Duration) error
	// SignalFirst is Signal, unless a signal of kind left for run id is
	// still there (neither taken nor expired): then it leaves nothing,
	// and returns that one's value and false. Of callers racing, one
	// leaves its value.
	SignalFirst(ctx context.Context, id, kind, value string, ttl time.Duration) (string, bool, error)
	// TakeSignal returns and removes the signal of kind left for run id,
	// if there is one: one caller gets it.
	TakeSignal(ctx context.Context, id, kind string) (string, bool, error)
}

// Leaser hands out the app+env leases that keep deploys of one app+env from
// running at once.
type Leaser interface {
	// Acquire takes the lease key for holder. If another holder has it,
	// it returns an error wrapping ErrLeaseHeld (see LeaseHeldError).
	Acquire(ctx context.Context, key, holder string, ttl time.Duration) (Lease, error)
	// Holder returns who holds the lease key now, "" when no one does.
	Holder(ctx context.Context, key string) (string, error)
}

// Lease is a held lease. Its fencing token grows with every acquisition of
// the key, so a holder that lost the lease can tell before touching a host.
type Lease interface {
	Token() int64
	// Check returns an error wrapping ErrLeaseLost if the lease is no
	// longer held by this holder.
	Check(ctx context.Context) error
	// Renew extends the lease by its ttl.
	Renew(ctx context.Context) error
	// Release gives the lease up; releasing a lost lease is an error
	// wrapping ErrLeaseLost and changes nothing.
	Release(ctx context.Context) error
}

var (
	ErrLeaseHeld = errors.New("lease held")
	ErrLeaseLost = errors.New("lease lost")
)

// StaleRecord is the error a Store returns for a record write that a newer
// lease holder has superseded: stored is the newer fencing token (of the
// record kept, or the newest handed out for its lease), fence that of the
// refused write.
func StaleRecord(stored, fence int64) error {
	return errs.Wrap(errs.Conflict, ErrLeaseLost, "the record was taken over by lease %d (this write holds %d)", stored, fence)
}

// LeaseHeldError names who holds a lease.
type LeaseHeldError struct {
	Key    string
	Holder string
	// Token is the holder's fencing token: the newest handed out for Key.
	Token int64
}

func (e *LeaseHeldError) Error() string { return "lease " + e.Key + " held by " + e.Holder }
func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

// ErrDrainTimeout is in the chain of a Pool's Drain error when the host
// still had open sessions at the pool's drain timeout; the host is out of
// rotation all the same, and the engine goes on to restart it.
var ErrDrainTimeout = errors.New("drain timed out")

// States of a host out of rotation, as a Pool's Check reports them.
const (
	PoolDrain = "drain" // gets no new sessions; its open ones go on
	PoolMaint = "maint" // out of the pool
)

// Pool is the load balancer pool of an env's hosts: a host is drained
// before its switch and made ready after its health check passed.
type Pool interface {
	// Check confirms, before a run changes anything, that the balancer
	// answers and holds a server for each of hosts. It returns the hosts
	// out of rotation there, by name, with their state: PoolMaint or
	// PoolDrain.
	Check(ctx context.Context, hosts []Host) (map[string]string, error)
	// Drain stops new traffic to host and waits (bounded) for its open
	// sessions to end.
	Drain(ctx context.Context, host Host) error
	// Ready sends traffic to host again.
	Ready(ctx context.Context, host Host) error
}
