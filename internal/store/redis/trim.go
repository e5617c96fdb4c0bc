package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TrimRecords deletes the finished records that started before before,
// except the newest keep of each app+env, and returns how many it deleted.
// A running record stays whatever its age: recovery reports it. So does
// the interrupted run no later run resolved (see deploy.Unresolved):
// status shows it, and what to do, until one does; and so do the live run
// and the record that shows its rollback's release running (see
// deploy.Retained), which status, the alert and a rollback read. The index
// is read newest first, a page at a time; a record written since its page
// was read (its index entry changed) stays, and counts once.
func (s *Store) TrimRecords(ctx context.Context, before time.Time, keep int) (int, error) {
	if ctx.Err() != nil {
		return 0, fmt.Errorf("trim records: %w", deploy.StoreNotRun(ctx))
	}
	if keep < 0 {
		return 0, errs.New(errs.Invalid, "trim records: keep %d is negative", keep)
	}
	drop, err := trimmable(timeKey(before), keep, func(upper string) ([]string, error) {
		return s.indexPage(ctx, upper)
	}, func(id string) (*deploy.Record, error) {
		r, err := s.Record(ctx, id)
		if errors.Is(err, deploy.ErrNotFound) {
			return nil, nil
		}
		return r, err
	})
	if err != nil {
		return 0, err
	}
	return s.dropRecords(ctx, drop)
}

// trimmable returns the index entries of the records TrimRecords deletes:
// those after the newest keep of their app+env, started before cut (a
// timeKey), finished, not their app+env's unresolved interrupted run and
// not one its live run or a rollback from it reads (see deploy.Retained).
// It reads the index through read, a page below upper at a time, newest
// first, and a record through load (nil: gone since) where its index
// entry does not tell.
//
// Pages are not read atomically. A record written between two pages may be
// met again in the later one: a running record that finished has a new
// entry just below its old one (each outcome but "succeeded" sorts before
// "running"), and one whose Started moved back has an entry further down.
// It counts once, where first met; counted twice, it would let one more
// record of its app+env be deleted than keep allows.
func trimmable(cut string, keep int, read func(upper string) ([]string, error), load func(id string) (*deploy.Record, error)) ([]string, error) {
	seen := map[[2]string]int{}
	met := map[string]bool{} // record IDs
	// decided holds the app+envs whose unresolved interrupted run, if
	// any, has been met: the first interrupted, succeeded or unchanged
	// record, newest first, tells.
	decided := map[[2]string]bool{}
	live := map[[2]string]*deploy.Retained{}
	var drop []string
	upper := "+"
	for {
		page, err := read(upper)
		if err != nil {
			return nil, err
		}
		for _, m := range page {
			f := strings.Split(m[min(len(cut), len(m)):], "\x00")
			if len(m) < len(cut) || len(f) != 4 {
				return nil, fmt.Errorf("trim records: malformed index entry %q", m)
			}
			if met[f[0]] {
				continue
			}
			met[f[0]] = true
			scope := [2]string{f[1], f[2]}
			stuck := false
			if !decided[scope] {
				switch deploy.Outcome(f[3]) {
				case deploy.OutcomeInterrupted:
					decided[scope], stuck = true, true
				case deploy.OutcomeSucceeded, deploy.OutcomeUnchanged:
					decided[scope] = true
				}
			}
			k := live[scope]
			if k == nil {
				k = &deploy.Retained{}
				live[scope] = k
			}
			needed := false
			if !k.Done() {
				r := &deploy.Record{Outcome: deploy.Outcome(f[3])}
				if k.NeedsRecord(r.Outcome) {
					if r, err = load(f[0]); err != nil {
						return nil, err
					}
				}
				// A record gone since its page was read is no
				// longer there to keep.
				needed = r != nil && k.Keep(r)
			}
			seen[scope]++
			if seen[scope] > keep && m[:len(cut)] < cut && f[3] != string(deploy.OutcomeRunning) && !stuck && !needed {
				drop = append(drop, m)
			}
		}
		if len(page) < pageSize {
			return drop, nil
		}
		upper = "(" + page[len(page)-1]
	}
}

// indexPage returns up to pageSize entries of the record index below
// upper, newest first.
func (s *Store) indexPage(ctx context.Context, upper string) ([]string, error) {
	var page *goredis.StringSliceCmd
	if err := s.readTx(ctx, "trim records", func(p goredis.Pipeliner) {
		page = p.ZRevRangeByLex(ctx, s.key("records", "index"), &goredis.ZRangeBy{Max: upper, Min: "-", Count: pageSize})
	}); err != nil {
		return nil, err
	}
	return page.Val(), nil
}

// dropRecords deletes the records whose index entries drop lists, each
// only if the entry is still the record's, and returns how many.
func (s *Store) dropRecords(ctx context.Context, drop []string) (int, error) {
	keys := []string{s.key("records"), s.key("records", "member"), s.key("records", "index"), s.key("records", "running")}
	n := 0
	for len(drop) > 0 {
		batch := drop[:min(len(drop), pageSize)]
		drop = drop[len(batch):]
		args := make([]any, len(batch))
		for i, m := range batch {
			args[i] = m
		}
		d, err := s.guarded(ctx, trimRecordsScript, keys, args...).Int()
		if err != nil {
			return n, s.fail(ctx, "trim records", err)
		}
		n += d
	}
	return n, nil
}

// trimRecordsScript deletes the records whose index entries ARGV lists
// (but for the last, guard's id), each only if it is still the record's
// entry, and returns how many. The
// records are finished, so their entries are not in KEYS[4],
// records:running; they are removed from it all the same, so that no
// caller can leave it naming a deleted record.
var trimRecordsScript = goredis.NewScript(guard + `
local n = 0
for i = 1, #ARGV - 1 do
  local m = ARGV[i]
  local id = string.match(string.sub(m, 22), '^(%Z*)%z')
  if id and redis.call('HGET', KEYS[2], id) == m then
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('ZREM', KEYS[3], m)
    redis.call('ZREM', KEYS[4], m)
    n = n + 1
  end
end
return n
`)

// TrimAudit deletes the audit entries timed before before, from the
// stream and its index, and returns how many it deleted.
func (s *Store) TrimAudit(ctx context.Context, before time.Time) (int, error) {
	if ctx.Err() != nil {
		return 0, fmt.Errorf("trim audit: %w", deploy.StoreNotRun(ctx))
	}
	keys := []string{s.key("audit", "index"), s.key("audit")}
	n := 0
	for {
		d, err := s.guarded(ctx, trimAuditScript, keys, "("+timeKey(before), pageSize).Int()
		if err != nil {
			return n, s.fail(ctx, "trim audit", err)
		}
		n += d
		if d < pageSize {
			return n, nil
		}
	}
}

// trimAuditScript deletes up to ARGV[2] of the oldest entries below
// ARGV[1] and returns how many. It starts with guard, as trimRecordsScript
// does.
var trimAuditScript = goredis.NewScript(guard + `
local members = redis.call('ZRANGEBYLEX', KEYS[1], '-', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(members) do
  local id = string.match(string.sub(m, 42), '^(%Z*)%z')
  if not id then
    return redis.error_reply('malformed audit index entry ' .. m)
  end
  redis.call('XDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[1], m)
end
return #members
`)
