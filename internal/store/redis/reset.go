package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// The key store holds the store's id: {"id": random text, "created": RFC
// 3339}, set by the first Open of an empty prefix (SET NX) and read by
// every later one. Redis loses it with everything else when it restarts
// without persistence, is flushed or fails over to an empty replica; a
// running store that finds it gone, or holding another id (a restarted
// replica made a new one), refuses from then on rather than carry on
// without the locks, grants and leases it relied on.
//
// Every call that reads or writes the store's data reads the id in the
// same round trip: its script starts with guard, or its MULTI (readTx)
// reads the id too. So the first call after a reset notices it, rather
// than answer from the empty store or write into it, and no call pays a
// second round trip for it. Only Ping does not: it is the check that Redis
// answers, made before the id is read.
//
// An Open cannot tell a first start from a wipe that happened while no bot
// ran: both find no id and make one. A prefix written by an earlier
// Switchman, which set no id, gets one the same way.

// ErrStoreReset is wrapped by the errors of a store that found its id gone
// or replaced (code errs.Unavailable). It wraps deploy.ErrStoreReset.
var ErrStoreReset = fmt.Errorf("state store was reset: %w", deploy.ErrStoreReset)

// resetMessage is what people are told once the store was reset. Chat
// shows what comes before its first ": " as the title.
const resetMessage = "the state store was reset, so nothing was run: its id is gone (Redis restarted without persistence, was flushed, or failed over to an empty replica), and with it its locks, grants and history; restart the bot (every replica) to accept the empty store, then at once take again any locks that should hold"

// resetErrPrefix starts the error a script returns when the id is not the
// store's: a Redis error code of its own, told apart by fail.
const resetErrPrefix = "SWITCHMAN_RESET"

// guard starts the scripts that verify the store's id in the same call:
// the id's key is their last key and the id their last argument.
const guard = `
local storeID = redis.call('GET', KEYS[#KEYS])
if storeID ~= ARGV[#ARGV] then
  return redis.error_reply('` + resetErrPrefix + ` ' .. (storeID or ''))
end
`

// storeID is the value of the store key.
type storeID struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

// initID sets the store's id unless the prefix has one, and remembers the
// one in force.
func (s *Store) initID(ctx context.Context) error {
	b, err := json.Marshal(storeID{ID: nonce(), Created: s.now().UTC()})
	if err != nil {
		return fmt.Errorf("make store id: %w", err)
	}
	v, err := s.run(ctx, schemaScript, []string{s.idKey()}, string(b)).Text()
	if err != nil {
		return s.fail(ctx, "set store id", err)
	}
	var id storeID
	if err := json.Unmarshal([]byte(v), &id); err != nil || id.ID == "" {
		return errs.New(errs.Internal, "state store redis at %s prefix %q holds a malformed store id under %s: %q",
			s.addr, s.prefix, s.idKey(), v)
	}
	s.id = v
	return nil
}

func (s *Store) idKey() string { return s.key("store") }

// guarded runs sc, which starts with guard, with the store's id appended
// to keys and args.
func (s *Store) guarded(ctx context.Context, sc *goredis.Script, keys []string, args ...any) *goredis.Cmd {
	keys = append(keys[:len(keys):len(keys)], s.idKey())
	args = append(args[:len(args):len(args)], s.id)
	return s.run(ctx, sc, keys, args...)
}

// readTx sends the reads queue adds and a GET of the store's id in one
// MULTI, one round trip, and returns the reset store's error if the id is
// not the store's: what they read empty because Redis lost its data is
// refused, not taken for "none". A read finding no key (goredis.Nil) is no
// error here; the caller reads each command's result.
func (s *Store) readTx(ctx context.Context, op string, queue func(goredis.Pipeliner)) error {
	var id *goredis.StringCmd
	cmds, err := await(s, ctx, func(rdb *goredis.Client) ([]goredis.Cmder, error) {
		return rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
			queue(p)
			id = p.Get(ctx, s.idKey())
			return nil
		})
	})
	if err = discarded(cmds, err); err != nil && !errors.Is(err, goredis.Nil) {
		return s.fail(ctx, op, err)
	}
	return s.checkID(op, id)
}

// discarded returns err, or, for a MULTI Redis discarded (EXECABORT), the
// error of the first command it would not queue: that one says why (OOM,
// a Redis at maxmemory refusing even reads sent in a MULTI), where
// EXECABORT names no cause, and would be taken for a fault of the bot.
func discarded(cmds []goredis.Cmder, err error) error {
	if !goredis.HasErrorPrefix(err, "EXECABORT") {
		return err
	}
	for _, c := range cmds {
		if cerr := c.Err(); cerr != nil && !goredis.HasErrorPrefix(cerr, "EXECABORT") {
			return cerr
		}
	}
	return err
}

// checkID returns the error of a reset store when found, the id read in
// the same round trip as a gate's read, is not the store's.
func (s *Store) checkID(op string, found *goredis.StringCmd) error {
	v, err := found.Result()
	if errors.Is(err, goredis.Nil) {
		v, err = "", nil
	}
	if err != nil || v == s.id {
		return nil // the caller reports a failed read
	}
	return fmt.Errorf("%s: %w", op, s.wasReset(v))
}

// wasReset marks the store reset, having found found ("" for none) where
// its id should be, and returns the error every call returns from then on.
// It logs once per store.
func (s *Store) wasReset(found string) error {
	err := &errs.Error{Code: errs.Unavailable, Msg: resetMessage, Err: &resetError{addr: s.addr, key: s.idKey(), id: s.id, found: found}}
	if s.reset.CompareAndSwap(nil, err) {
		s.log.Error("state store was reset: refusing every command until the bot restarts",
			"store", s.String(), "err", err.Err)
	}
	return s.reset.Load()
}

// resetError is the cause of a reset store's errors.
type resetError struct {
	addr, key, id, found string
}

func (e *resetError) Error() string {
	what := "is gone"
	if e.found != "" {
		what = "holds another id " + e.found
	}
	return fmt.Sprintf("redis at %s: store id %s under %s %s", e.addr, e.id, e.key, what)
}

func (e *resetError) Unwrap() error { return ErrStoreReset }

// resetHook fails every command of a store found reset, writes included
// (the audit entry of a refusal): nothing more goes into the empty store.
type resetHook struct{ s *Store }

func (h resetHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (h resetHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if err := h.s.reset.Load(); err != nil {
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h resetHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if err := h.s.reset.Load(); err != nil {
			for _, c := range cmds {
				c.SetErr(err)
			}
			return err
		}
		return next(ctx, cmds)
	}
}

// warnPersistence logs when Redis keeps no append-only file: a restart
// then loses what was written since its last snapshot, if it takes any.
// Never a refusal: a managed Redis may keep its data otherwise.
func (s *Store) warnPersistence(ctx context.Context) error {
	info, err := await(s, ctx, func(rdb *goredis.Client) (string, error) { return rdb.Info(ctx, "persistence").Result() })
	if err != nil {
		return s.fail(ctx, "read the persistence settings", err)
	}
	if infoField(info, "aof_enabled") == "0" {
		s.log.Warn("state store redis keeps no append-only file (appendonly no): a restart of Redis loses the locks, grants, leases, records and audit entries written since its last snapshot, or all of them without snapshots; the bot then refuses every command until it is restarted",
			"store", s.String())
	}
	return nil
}

// logger returns log, or one that discards when it is nil.
func logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
