// Package redis is the state store that lives in Redis, so several bot
// replicas share deploy records, locks, the audit trail, leases and dedupe
// keys. It keeps the same contract as the embedded store (see storetest).
//
// Expiry of locks, leases and SetOnce keys is judged by Options.Now, not by
// Redis's clock: the time is passed into every script as Unix milliseconds
// and expiries are stored in values. Keys that expire also get a Redis
// expiry, longer than theirs, only so that abandoned ones do not pile up.
//
// Every write is safe to send twice. go-redis resends a command whose reply
// was lost (a dropped connection, a read timeout), which Redis may already
// have applied; each write is either idempotent or carries a random nonce
// that its script recognises, so the second run returns what the first did.
//
// Redis must keep its data across restarts (appendonly yes) for records,
// locks and the audit trail to survive one. Fencing tokens never go back
// even if it does not: a token is at least the acquirer's clock in Unix
// milliseconds. A store that finds Redis lost its data while it runs
// refuses from then on (see reset.go).
//
// One Redis server or a primary with replicas behind one address; Redis
// Cluster is not supported (scripts touch several keys of no common slot).
package redis

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/redact"
)

var (
	_ deploy.Store  = (*Store)(nil)
	_ deploy.Leaser = (*Store)(nil)
)

// ErrUnavailable is wrapped by every error that means Redis could not be
// reached (or answered that it cannot serve now: loading, busy). Such
// errors carry code errs.Unavailable and the message "state store
// unreachable". The operation may or may not have been applied.
var ErrUnavailable = errors.New("state store unreachable")

// schemaVersion is stored under the prefix on first use. A prefix holding
// another version is refused rather than misread.
const schemaVersion = "1"

// Defaults of Options.
const (
	DefaultPrefix      = "switchman:"
	DefaultDialTimeout = 2 * time.Second
	DefaultReadTimeout = 2 * time.Second
)

// replyTTL is how long a write's nonce is remembered for a resend of it:
// longer than go-redis takes to give up retrying.
const replyTTL = time.Minute

// Options configure a Store. URL is required; the zero value of every
// other field is a sensible default.
type Options struct {
	// URL is redis://[user:password@]host[:port][/db] or rediss:// for TLS,
	// parsed by goredis.ParseURL (its query options, such as
	// ?max_retries=2, apply too).
	URL string
	// Prefix starts every key; default DefaultPrefix. Stores with
	// different prefixes share nothing.
	Prefix string
	// Now is the clock for lock, lease and key expiry and for audit entries
	// without a time; default time.Now. Replicas sharing a Redis should
	// have their clocks in sync.
	Now func() time.Time
	// MaxClockSkew is how far Now may be from Redis's clock (TIME) before
	// the store refuses to take new leases (see clock.go); default
	// DefaultMaxClockSkew, negative: not checked (a test's fake clock).
	// Set it to a quarter of the leases' ttl.
	MaxClockSkew time.Duration
	// Timeouts of one dial, read or write; defaults DefaultDialTimeout,
	// DefaultReadTimeout and the read timeout, unless the URL sets them
	// (?dial_timeout=3s). A context deadline shortens them, and a
	// cancelled context ends the wait for a reply and frees the
	// connection (see await).
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// Log gets the store's own warnings and errors (Redis keeps no
	// append-only file; the store was reset); default: nobody.
	Log *slog.Logger
	// TLSConfig, for a rediss:// URL, replaces the default configuration
	// (system roots, server name from the URL): to trust a private CA or
	// present a client certificate.
	TLSConfig *tls.Config
	// ReadOnly opens an existing store to read it (bot audit): a prefix
	// that holds none (a wrong url or prefix, a Redis that lost its
	// data) is an error of code NotFound, not a new empty store whose
	// empty history would pass for the real one, and whose new id the
	// bot would take for the real store's.
	ReadOnly bool
}

// String describes o without the password.
func (o Options) String() string {
	return fmt.Sprintf("redis state store %s prefix %q", redactURL(o.URL), o.prefix())
}

func (o Options) prefix() string {
	if o.Prefix == "" {
		return DefaultPrefix
	}
	return o.Prefix
}

// Store is the Redis state store. It is safe for concurrent use, by any
// number of goroutines and of processes sharing the Redis and the prefix.
type Store struct {
	// lanes are the store's connections, free its free ones, laneWait
	// how long a call waits for one (see lanes.go).
	lanes    []*lane
	free     chan *lane
	laneWait time.Duration
	prefix   string
	now      func() time.Time
	addr     string // host:port, for messages
	url      string // redacted
	closed   atomic.Bool
	log      *slog.Logger
	// id is the value of the store key read or set by Open (see
	// reset.go); reset, once set, is the error of every later call.
	id    string
	reset atomic.Pointer[errs.Error]
	// untold holds, by run and kind, the untoldNonce of a TakeSignal
	// that failed without a clear answer, for the next call to reuse;
	// one older than replyTTL is of no use and is dropped.
	untold sync.Map
	// maxSkew is Options.MaxClockSkew with its default; clock the last
	// measure of the skew.
	maxSkew time.Duration
	clock   clockState
	// indexTTL is how long trains:index is taken as built:
	// trainIndexTTL, shorter in tests.
	indexTTL time.Duration
	// calls counts the calls whose caller may give up waiting (see
	// await), for Close to wait for; begin adds to it. mu guards closing,
	// set by Close before it waits for calls: no call is counted after.
	calls   sync.WaitGroup
	mu      sync.Mutex
	closing bool
}

// Open connects to the Redis at opt.URL and checks that it answers. An
// unreachable Redis returns an error wrapping ErrUnavailable that names its
// address (never the password).
func Open(ctx context.Context, opt Options) (*Store, error) {
	ro, err := clientOptions(opt)
	if err != nil {
		return nil, err
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	lanes, wait := newLanes(ro)
	s := &Store{
		lanes:    lanes,
		free:     make(chan *lane, len(lanes)),
		laneWait: wait,
		prefix:   opt.prefix(),
		now:      now,
		addr:     ro.Addr,
		url:      redactURL(opt.URL),
		log:      logger(opt.Log),
		indexTTL: trainIndexTTL,
	}
	s.maxSkew = opt.MaxClockSkew
	if s.maxSkew == 0 {
		s.maxSkew = DefaultMaxClockSkew
	}
	for _, l := range lanes {
		l.addHook(resetHook{s})
		s.free <- l
	}
	if err := s.init(ctx, opt.ReadOnly); err != nil {
		return nil, errors.Join(fmt.Errorf("open state store: %w", err), s.closeLanes())
	}
	return s, nil
}

// CheckURL reports what Open would refuse in url before it dials (a
// database that is not a number, an option go-redis does not know, a TLS
// configuration, when withTLS, without rediss://), in Open's words, which never
// hold the password. It connects to nothing.
func CheckURL(url string, withTLS bool) error {
	opt := Options{URL: url}
	if withTLS {
		opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	_, err := clientOptions(opt)
	return err
}

// clientOptions turns opt into go-redis options. Its errors never hold the
// password.
func clientOptions(opt Options) (*goredis.Options, error) {
	if opt.URL == "" {
		return nil, errs.New(errs.Invalid, "state store url is empty")
	}
	u, ok := parseURL(opt.URL)
	if !ok {
		// Not net/url's error, nor go-redis's, where the URL has user
		// info: they quote the URL or the part they could not read,
		// which may be a part of the password.
		var ue *url.Error
		if _, err := url.Parse(opt.URL); !strings.Contains(opt.URL, "@") && errors.As(err, &ue) {
			return nil, errs.Wrap(errs.Invalid, ue.Err, "state store url is not valid")
		}
		return nil, errs.New(errs.Invalid, "state store url is not valid (not shown: it may hold a password); percent-encode a password holding anything but letters, digits and -._~!$&'()*+,;=:@ (such as / ? # %% ^ or a space)")
	}
	if u.User != nil && u.User.Username() != "" {
		if p, _ := u.User.Password(); p == "" {
			// go-redis sends no AUTH for a user name alone: the store
			// would run unauthenticated while the URL looks otherwise,
			// and the name is likely a password written without its
			// colon.
			return nil, errs.New(errs.Invalid, "state store url %s has a user name but no password, so Redis would be used without authentication: give a password after a colon (redis://:PASSWORD@host, or redis://USER:PASSWORD@host), or no user info at all", redacted(u))
		}
	}
	ro, err := goredis.ParseURL(opt.URL)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, err, "state store url %s is not valid", redacted(u))
	}
	if ro.TLSConfig != nil && ro.TLSConfig.InsecureSkipVerify {
		// go-redis trusts any certificate then: whoever can answer at
		// the address would hold the locks, grants and audit trail. A
		// TLS configuration given (ca_file) replaced it unsaid.
		return nil, errs.New(errs.Invalid, "state store url %s: skip_verify turns off the check of the Redis server's certificate, so anyone who can answer at its address could lift locks, grant permissions and rewrite the audit trail: remove it, and trust a private CA with store.redis.ca_file", redacted(u))
	}
	// go-redis reads a timeout of 0 or less in the URL as none (-1): a
	// read or write then waits as long as Redis takes, and a Redis that
	// hangs would block for good every call whose context has no
	// deadline, such as a deploy's fencing check. Refused rather than
	// replaced by a default the URL does not say.
	// A dial or pool timeout of 0 or less fails at once every dial or
	// wait for a connection.
	const noTimeout = "0 or less turns the timeout off, so a Redis that hangs would block a deploy's fencing check and every command for good"
	const noWait = "0 or less leaves no time at all, so every command would fail"
	for _, t := range []struct {
		name, why string
		v         time.Duration
	}{
		{"dial_timeout", noWait, ro.DialTimeout}, {"read_timeout", noTimeout, ro.ReadTimeout},
		{"write_timeout", noTimeout, ro.WriteTimeout}, {"pool_timeout", noWait, ro.PoolTimeout},
	} {
		if t.v < 0 {
			return nil, errs.New(errs.Invalid, "state store url %s: %s must be a positive duration (such as %s=2s): %s", redacted(u), t.name, t.name, t.why)
		}
	}
	for _, t := range []struct {
		name string
		v    time.Duration
	}{
		{"dial", opt.DialTimeout}, {"read", opt.ReadTimeout}, {"write", opt.WriteTimeout},
	} {
		if t.v < 0 {
			return nil, errs.New(errs.Invalid, "state store: %s timeout %v: want a positive duration, or 0 for the default", t.name, t.v)
		}
	}
	setDefault := func(d *time.Duration, v, def time.Duration) {
		switch {
		case v != 0:
			*d = v
		case *d == 0:
			*d = def
		}
	}
	setDefault(&ro.DialTimeout, opt.DialTimeout, DefaultDialTimeout)
	setDefault(&ro.ReadTimeout, opt.ReadTimeout, DefaultReadTimeout)
	// As in go-redis, writes follow reads when nothing sets them.
	setDefault(&ro.WriteTimeout, opt.WriteTimeout, ro.ReadTimeout)
	// go-redis retries a failed command (MaxRetries) and, within each
	// try, a failed dial (DialerRetries, default 5): with one dial per try
	// an unreachable Redis is reported after a few dial timeouts, not
	// twenty.
	if ro.DialerRetries == 0 {
		ro.DialerRetries = 1
	}
	ro.ContextTimeoutEnabled = true
	if opt.TLSConfig != nil {
		if ro.TLSConfig == nil {
			return nil, errs.New(errs.Invalid, "state store url %s: a TLS configuration needs a rediss:// url", redactURL(opt.URL))
		}
		c := opt.TLSConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = ro.TLSConfig.ServerName
		}
		if c.MinVersion < tls.VersionTLS12 {
			c.MinVersion = tls.VersionTLS12
		}
		ro.TLSConfig = c
	}
	return ro, nil
}

// redactURL returns raw as redacted shows it, or a placeholder if raw
// does not parse (see parseURL).
func redactURL(raw string) string {
	u, ok := parseURL(raw)
	if !ok {
		return "(unparsable url)"
	}
	return redacted(u)
}

// redacted returns u as messages show it: its password, and the value of
// each query option, replaced by "xxxxx", without a fragment. A user
// name without a password (or with an empty one) is replaced too: it is
// most likely a password written without its colon (redis://TOKEN@host).
// Other Redis
// clients take the password from the query (?password=); go-redis refuses
// such an option, naming it, and the URL in that refusal must not show
// the password. Every option is shown by its name alone.
func redacted(u *url.URL) string {
	c := *u
	c.Fragment, c.RawFragment = "", ""
	if c.User != nil {
		if p, _ := c.User.Password(); p == "" && c.User.Username() != "" {
			c.User = url.User("xxxxx")
		}
	}
	if c.RawQuery != "" {
		pairs := strings.Split(c.RawQuery, "&")
		for i, pair := range pairs {
			if key, _, ok := strings.Cut(pair, "="); ok {
				pairs[i] = key + "=xxxxx"
			}
		}
		c.RawQuery = strings.Join(pairs, "&")
	}
	return c.Redacted()
}

// parseURL parses raw as net/url does, and refuses it when an @ follows
// its host (see redact.RedisURLSplit): its user info was not escaped, and
// the rest of a password holding a /, ? or # would be shown by
// URL.Redacted and go-redis's errors.
func parseURL(raw string) (*url.URL, bool) {
	u, err := url.Parse(raw)
	if err != nil || redact.RedisURLSplit(u) {
		return nil, false
	}
	return u, true
}

// init pings Redis, checks the schema version under the prefix (which
// must exist when readOnly), sets or reads the store's id, warns of a Redis without persistence and loads
// the scripts, so that the first calls do not each send a script's text.
func (s *Store) init(ctx context.Context, readOnly bool) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	if err := s.checkEviction(ctx); err != nil {
		return err
	}
	if readOnly {
		if err := s.mustExist(ctx); err != nil {
			return err
		}
	}
	v, err := s.run(ctx, schemaScript, []string{s.key("schema")}, schemaVersion).Text()
	if err != nil {
		return s.fail(ctx, "check schema", err)
	}
	if v != schemaVersion {
		return errs.New(errs.Internal, "state store redis at %s prefix %q has schema version %q, this Switchman understands %q",
			s.addr, s.prefix, v, schemaVersion)
	}
	if err := s.initID(ctx); err != nil {
		return err
	}
	if err := s.warnPersistence(ctx); err != nil {
		return err
	}
	if !readOnly && s.maxSkew >= 0 {
		// Logged, not refused: the replica serves every command but
		// those that take a lease (see clockOK).
		if _, err := s.ClockSkew(ctx); err != nil {
			return err
		}
	}
	// One by one, not in a pipeline: Script.Load stores the hash its
	// command returned, which a pipelined command has not yet, so each
	// script's hash became "" and every later call sent EVALSHA "" and
	// then the script's whole text.
	for _, sc := range scripts {
		if _, err := await(s, ctx, func(rdb *goredis.Client) (string, error) { return sc.Load(ctx, rdb).Result() }); err != nil {
			return s.fail(ctx, "load scripts", err)
		}
	}
	return nil
}

// mustExist returns an error of code NotFound when the prefix holds no
// store: init would make one.
func (s *Store) mustExist(ctx context.Context) error {
	n, err := await(s, ctx, func(rdb *goredis.Client) (int64, error) { return rdb.Exists(ctx, s.key("schema")).Result() })
	if err != nil {
		return s.fail(ctx, "check schema", err)
	}
	if n == 0 {
		return errs.New(errs.NotFound, "state store redis at %s prefix %q holds no Switchman state store: check store.redis.url and prefix (or Redis lost its data); nothing was read", s.addr, s.prefix)
	}
	return nil
}

// checkEviction refuses a Redis that may evict keys: a lease it evicts
// lets a second replica deploy the app+env the first still deploys, and
// evicted records or audit entries are lost. Redis evicts only with a
// memory limit (maxmemory) and a policy other than noeviction, the
// default of Redis but not of every managed Redis. INFO works where CONFIG
// is disabled.
func (s *Store) checkEviction(ctx context.Context) error {
	info, err := await(s, ctx, func(rdb *goredis.Client) (string, error) { return rdb.Info(ctx, "memory").Result() })
	if err != nil {
		return s.fail(ctx, "read the memory policy", err)
	}
	limit, policy := infoField(info, "maxmemory"), infoField(info, "maxmemory_policy")
	if limit != "" && limit != "0" && policy != "" && policy != "noeviction" {
		return errs.New(errs.Invalid, "state store redis at %s evicts keys when full (maxmemory %s, maxmemory-policy %s): an evicted lease would let two replicas deploy one app+env; set maxmemory-policy noeviction (Redis then refuses writes when full, and Switchman refuses commands)",
			s.addr, limit, policy)
	}
	return nil
}

// infoField returns the value of field in the text of an INFO reply, or "".
func infoField(info, field string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

var schemaScript = goredis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
`)

// scripts are loaded by Open; each is also sent in full if Redis lost it
// (a restart).
var scripts = []*goredis.Script{
	putRecordScript, recordsPageScript, runningPageScript, buildRunningScript,
	putFieldScript, deleteFieldScript, replaceFieldScript, takeFieldScript, dropFieldsScript, presenceIfScript,
	appendAuditScript, auditPageScript,
	setOnceScript, forgetOnceScript, setScript,
	acquireScript, abandonScript, renewScript, releaseScript,
	signalFirstScript, takeScript,
	boardScript, leaveScript, returnCarsScript, putTwoFieldsScript, trainsScript, buildTrainIndexScript,
	writeWatchScript,
	trimRecordsScript, trimAuditScript,
	writableScript,
}

// Ping checks that Redis answers, for health checks.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := await(s, ctx, func(rdb *goredis.Client) (string, error) { return rdb.Ping(ctx).Result() }); err != nil {
		return s.fail(ctx, "ping state store", err)
	}
	return nil
}

// Writable reports whether Redis takes writes now, for health checks: a
// replica (READONLY), or a primary short of the replicas
// min-replicas-to-write asks for (NOREPLICAS) or at maxmemory (OOM),
// answers reads and Ping while it refuses every write, and so every
// command. It sets one key, health under the prefix, which expires; a
// reset store returns its error (ErrStoreReset) and writes nothing.
func (s *Store) Writable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check writes: %w", err)
	}
	if err := s.guarded(ctx, writableScript, []string{s.key("health")}, healthTTL.Milliseconds()).Err(); err != nil {
		return s.fail(ctx, "check writes", err)
	}
	return nil
}

// ClockError returns, for health checks, why the store takes no new
// lease because of the replica's clock (see clockOK), or nil; it measures
// the skew again at most once a minute.
func (s *Store) ClockError(ctx context.Context) error {
	return s.clockOK(ctx)
}

// healthTTL is how long Writable's key lives: a key per store, rewritten by
// every check, that does not outlast them by much.
const healthTTL = time.Minute

// writableScript sets KEYS[1] for ARGV[1] milliseconds.
var writableScript = goredis.NewScript(guard + `
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1
`)

// Close closes the connections; calling it again does nothing. Leases
// still held stay held in Redis until they expire; their methods, like
// every other method, fail after Close.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	s.closed.Store(true)
	s.mu.Unlock()
	err := s.closeLanes()
	// Calls given up on (see await) end as their connections close.
	s.calls.Wait()
	if err != nil {
		return fmt.Errorf("close state store redis at %s: %w", s.addr, err)
	}
	return nil
}

// closeLanes closes the client of every lane.
func (s *Store) closeLanes() error {
	var failed []error
	for _, l := range s.lanes {
		if err := l.close(); err != nil {
			failed = append(failed, err)
		}
	}
	return errors.Join(failed...)
}

// String describes the store without the password.
func (s *Store) String() string {
	return fmt.Sprintf("redis state store %s prefix %q", s.url, s.prefix)
}

func (s *Store) key(parts ...string) string {
	return s.prefix + strings.Join(parts, ":")
}

// fail wraps err, from the call op, for the caller: a reset store as
// ErrStoreReset, a context error as such, an unreachable Redis as
// ErrUnavailable (both code errs.Unavailable).
func (s *Store) fail(ctx context.Context, op string, err error) error {
	cerr := ctx.Err()
	if d, ok := ctx.Deadline(); ok && cerr == nil && !time.Now().Before(d) {
		// A read deadline set from the context's fired a moment before
		// the context's own timer.
		cerr = context.DeadlineExceeded
	}
	switch {
	case errors.Is(err, ErrStoreReset):
		return fmt.Errorf("%s: %w", op, err)
	case goredis.HasErrorPrefix(err, resetErrPrefix):
		found := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(err.Error(), "ERR "), resetErrPrefix))
		return fmt.Errorf("%s: %w", op, s.wasReset(found))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", op, err)
	case cerr != nil:
		return fmt.Errorf("%s: %w (%v)", op, cerr, err)
	case errors.Is(err, goredis.ErrClosed):
		return fmt.Errorf("%s: %w", op, deploy.ErrStoreClosed)
	case refusesWrites(err):
		// Reachable, but it will not write (a replica, a primary short
		// of replicas or out of memory): "unreachable" would send
		// people looking for a network fault.
		return fmt.Errorf("%s: %w", op, &errs.Error{
			Code: errs.Unavailable,
			Msg:  fmt.Sprintf("state store redis at %s refuses writes: %s", s.addr, refusal(err)),
			Err:  &unavailableError{addr: s.addr, err: err},
		})
	case unreachable(err):
		return fmt.Errorf("%s: %w", op, &errs.Error{
			Code: errs.Unavailable,
			Msg:  ErrUnavailable.Error(),
			Err:  &unavailableError{addr: s.addr, err: err},
		})
	}
	return fmt.Errorf("%s: %w", op, err)
}

// unreachable reports whether err means Redis could not be reached or
// cannot serve now, rather than that it refused the command.
func unreachable(err error) bool {
	var re goredis.Error
	if !errors.As(err, &re) {
		return true // a network error, a pool timeout
	}
	for _, p := range []string{"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "READONLY", "OOM"} {
		if goredis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// refusesWrites reports whether err is Redis refusing a write it may
// take later: a replica (READONLY), a primary without the replicas
// min-replicas-to-write asks for (NOREPLICAS), or one at maxmemory that
// evicts nothing (OOM; noeviction is the only policy Open accepts), which
// takes writes again once keys expire or an operator frees memory.
func refusesWrites(err error) bool {
	return goredis.HasErrorPrefix(err, "READONLY") || goredis.HasErrorPrefix(err, "NOREPLICAS") || goredis.HasErrorPrefix(err, "OOM")
}

// Health conditions of the store, as HealthCondition names them.
const (
	ConditionUnreachable   = "unreachable"
	ConditionRefusesWrites = "refuses_writes"
	ConditionRefused       = "refused"
	ConditionReset         = "reset"
)

// HealthCondition names what err, of a check of the store (Locks,
// Writable), says of Redis, for a health endpoint: ConditionReset for a
// reset store; ConditionRefusesWrites when Redis answered that it takes
// no writes (READONLY, NOREPLICAS, OOM); ConditionRefused when it
// answered with any other error (NOAUTH, WRONGPASS, NOPERM, LOADING,
// MISCONF, …); else ConditionUnreachable: no answer (a network error, a
// timeout). reply is the code Redis's answer starts with ("OOM"), empty
// without an answer.
func HealthCondition(err error) (condition, reply string) {
	if errors.Is(err, ErrStoreReset) {
		return ConditionReset, ""
	}
	var re goredis.Error
	if !errors.As(err, &re) {
		return ConditionUnreachable, ""
	}
	reply, _, _ = strings.Cut(strings.TrimSpace(re.Error()), " ")
	if refusesWrites(re) {
		return ConditionRefusesWrites, reply
	}
	return ConditionRefused, reply
}

// refusal is Redis's answer err without what it adds about the script
// that met it, which says nothing to people.
func refusal(err error) string {
	msg, _, _ := strings.Cut(err.Error(), " script: ")
	return msg
}

// definite reports whether err is Redis's answer to the command, so the
// command did not change anything: scripts fail before they write.
func definite(err error) bool {
	var re goredis.Error
	return errors.As(err, &re) && !unreachable(err)
}

// unavailableError is the cause of an ErrUnavailable error.
type unavailableError struct {
	addr string
	err  error
}

func (e *unavailableError) Error() string   { return "redis at " + e.addr + ": " + e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// nonce returns a random string that marks one call's writes.
func nonce() string { return rand.Text() }

// ms is t in Unix milliseconds, as scripts compare times.
func ms(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// msCeil is t in Unix milliseconds rounded up, for an expiry: a key set
// for a positive ttl is never expired at the instant it is set.
func msCeil(t time.Time) string {
	m := t.UnixMilli()
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		m++
	}
	return strconv.FormatInt(m, 10)
}

// redisTTL is the Redis expiry of a key that the store's clock expires
// after ttl: longer, so that Redis never drops a key the store's clock
// (the real one, on a host whose clock may be behind Redis's) still counts
// as set.
func redisTTL(ttl time.Duration) string {
	d := time.Duration(math.MaxInt64)
	if ttl < (d-time.Minute)/2 {
		d = 2*ttl + time.Minute
	}
	return strconv.FormatInt(d.Milliseconds(), 10)
}

// timeKeyLen is the width of timeKey's result.
const timeKeyLen = 21

// epochOffset is the Unix time of January 1 of year 1, the zero
// time.Time, in seconds.
const epochOffset = 62135596800

// timeKey encodes t as 21 decimal digits whose byte order is time order
// from year 1 (the zero time included) to year 30,000: seconds since year
// 1, then nanoseconds.
func timeKey(t time.Time) string {
	sec := t.Unix() + epochOffset
	if sec < 0 {
		sec = 0
	}
	return fmt.Sprintf("%012d%09d", sec, t.Nanosecond())
}

// reply returns the elements of a script's array reply.
func reply(v any) ([]any, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("unexpected reply %T from script", v)
	}
	return a, nil
}
