package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
)

var _ watchstore.Store = (*Store)(nil)

// Watches live in the hash watches: a watched run's id → its watch
// (watchstore.Watch as JSON). A write is checked against fence:watch:ID,
// the newest token the watch's lease handed out, in the script that
// writes, so it is either before the lease was taken over (and read by its
// new holder) or refused. That fence expires (see leases.go); a write that
// finds it gone is checked against fenceFloor instead.

func checkWatchID(op, id string) error {
	if id == "" || strings.ContainsRune(id, 0) {
		return errs.New(errs.Invalid, "%s: the run id must be non-empty and without NUL", op)
	}
	return nil
}

// staleWatch is the error for a write of a watch that another holder of
// its lease has taken over; stored -1: whose lease's fence expired.
func staleWatch(stored, fence int64) error {
	if stored == -1 {
		return errs.Wrap(errs.Conflict, deploy.ErrLeaseLost, "the watch's lease has been over for more than %d days (this write holds %d)", fenceRetention/(24*time.Hour), fence)
	}
	return errs.Wrap(errs.Conflict, deploy.ErrLeaseLost, "the watch was taken over by lease %d (this write holds %d)", stored, fence)
}

func decodeWatch(data string) (watchstore.Watch, error) {
	var w watchstore.Watch
	if err := json.Unmarshal([]byte(data), &w); err != nil {
		return w, fmt.Errorf("decode watch: %w", err)
	}
	return w, nil
}

// PutWatch creates or replaces the watch of w.ID, unless its lease has
// handed out a newer token than w.Fence, or the stored watch holds one.
// Sent twice, it writes the same watch twice.
func (s *Store) PutWatch(ctx context.Context, w watchstore.Watch) error {
	if ctx.Err() != nil {
		return fmt.Errorf("put watch %s: %w", w.ID, deploy.StoreNotRun(ctx))
	}
	if err := checkWatchID("put watch", w.ID); err != nil {
		return err
	}
	data, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("put watch %s: %w", w.ID, err)
	}
	keys := []string{s.key("watches"), s.key("fence", watchstore.LeaseKey(w.ID))}
	stored, err := s.guarded(ctx, writeWatchScript, keys, w.ID, w.Fence, data, s.fenceFloor()).Int64()
	if err != nil {
		return s.fail(ctx, "put watch "+w.ID, err)
	}
	if stored != 0 {
		return fmt.Errorf("put watch %s: %w", w.ID, staleWatch(stored, w.Fence))
	}
	return nil
}

// DeleteWatch removes the watch of run id, unless its lease has handed out
// a newer token than fence, or the stored watch holds one.
func (s *Store) DeleteWatch(ctx context.Context, id string, fence int64) error {
	if ctx.Err() != nil {
		return fmt.Errorf("delete watch %s: %w", id, deploy.StoreNotRun(ctx))
	}
	if err := checkWatchID("delete watch", id); err != nil {
		return err
	}
	keys := []string{s.key("watches"), s.key("fence", watchstore.LeaseKey(id))}
	stored, err := s.guarded(ctx, writeWatchScript, keys, id, fence, "", s.fenceFloor()).Int64()
	if err != nil {
		return s.fail(ctx, "delete watch "+id, err)
	}
	if stored != 0 {
		return fmt.Errorf("delete watch %s: %w", id, staleWatch(stored, fence))
	}
	return nil
}

// writeWatchScript sets (ARGV[3] not empty) or deletes the watch ARGV[1]
// in KEYS[1] with fencing token ARGV[2], and returns 0; unless KEYS[2], the
// newest token of its lease, or the stored watch's token is greater: it
// returns that token then and changes nothing. KEYS[2] gone (expired)
// refuses a token older than ARGV[4], fenceFloor: it returns -1 then. It
// starts with guard: the fence of a store Redis emptied is gone too, and
// would refuse every write.
var writeWatchScript = goredis.NewScript(guard + `
local newest = redis.call('GET', KEYS[2])
if not newest then
  if tonumber(ARGV[4]) > tonumber(ARGV[2]) then
    return -1
  end
elseif tonumber(newest) > tonumber(ARGV[2]) then
  return tonumber(newest)
end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local fence = tonumber(cjson.decode(cur)['fence'] or 0)
  if fence > tonumber(ARGV[2]) then
    return fence
  end
end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
`)

// Watch returns the watch of run id, or an error wrapping
// deploy.ErrNotFound (code NotFound).
func (s *Store) Watch(ctx context.Context, id string) (watchstore.Watch, error) {
	if err := ctx.Err(); err != nil {
		return watchstore.Watch{}, fmt.Errorf("get watch %s: %w", id, err)
	}
	data, err := s.readField(ctx, "get watch "+id, s.key("watches"), id)
	if err != nil {
		return watchstore.Watch{}, err
	}
	if data == "" {
		return watchstore.Watch{}, errs.Wrap(errs.NotFound, deploy.ErrNotFound, "no watch of %s", id)
	}
	w, err := decodeWatch(data)
	if err != nil {
		return watchstore.Watch{}, fmt.Errorf("get watch %s: %w", id, err)
	}
	return w, nil
}

// Watches returns every watch kept, by ID. There are as many as deploys
// finished within their watch: one HGETALL, with the store's id.
func (s *Store) Watches(ctx context.Context) ([]watchstore.Watch, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list watches: %w", err)
	}
	all, err := s.readGate(ctx, "list watches", s.key("watches"))
	if err != nil {
		return nil, err
	}
	var out []watchstore.Watch
	for _, data := range all {
		w, err := decodeWatch(data)
		if err != nil {
			return nil, fmt.Errorf("list watches: %w", err)
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b watchstore.Watch) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
