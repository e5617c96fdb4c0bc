package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// Records live in three keys:
//
//	records        hash: ID → the record as JSON
//	records:index  sorted set, all scores 0, ordered by member:
//	               timeKey(Started) ID NUL App NUL Env NUL Outcome
//	records:member hash: ID → its member in records:index
//
// Listing walks the index newest first and filters on the member, so it
// reads only the records it returns. As an ID holds no NUL, members of the
// same instant sort by ID, as in the embedded store.

// pageSize is how many index entries one script call examines.
const pageSize = 256

// PutRecord creates or replaces the record with r.ID, unless the stored
// record carries a greater fencing token, or the lease of its app+env has
// handed out one since r's (see deploy.Store). The store keeps its own
// copy: changing r afterwards changes nothing stored. The ID, App, Env and
// Outcome must not contain NUL.
func (s *Store) PutRecord(ctx context.Context, r *deploy.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put record: %w", err)
	}
	if r == nil || r.ID == "" {
		return errs.New(errs.Invalid, "put record: the record has no id")
	}
	if strings.ContainsRune(r.ID+r.App+r.Env+string(r.Outcome), 0) {
		return errs.New(errs.Invalid, "put record %q: id, app, env and outcome must not contain NUL", r.ID)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("put record %s: %w", r.ID, err)
	}
	member := timeKey(r.Started) + r.ID + "\x00" + r.App + "\x00" + r.Env + "\x00" + string(r.Outcome)
	keys := []string{s.key("records"), s.key("records", "member"), s.key("records", "index"), s.key("fence", deploy.LeaseKey(r.App, r.Env))}
	stored, err := putRecordScript.Run(ctx, s.rdb, keys, r.ID, data, member, r.Fence).Int64()
	if err != nil {
		return s.fail(ctx, "put record "+r.ID, err)
	}
	if stored != 0 {
		return fmt.Errorf("put record %s: %w", r.ID, deploy.StaleRecord(stored, r.Fence))
	}
	return nil
}

// putRecordScript replaces the record and its index entry, and returns 0;
// Started may have changed, so the old entry is found through
// records:member. A stored record with a greater fencing token stays, as
// it does when KEYS[4], the last token handed out for the lease of the
// record's app+env, is greater: the script returns that token. Checked in
// the script, a write is either before Acquire's (and read by the new
// holder) or refused.
var putRecordScript = goredis.NewScript(`
local newest = tonumber(redis.call('GET', KEYS[4]) or '0')
if newest > tonumber(ARGV[4]) then
  return newest
end
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local fence = tonumber(cjson.decode(cur)['fence'] or 0)
  if fence > tonumber(ARGV[4]) then
    return fence
  end
end
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old and old ~= ARGV[3] then
  redis.call('ZREM', KEYS[3], old)
end
redis.call('ZADD', KEYS[3], 0, ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 0
`)

// Record returns the record with id, or an error wrapping deploy.ErrNotFound
// (code NotFound). The caller owns the result.
func (s *Store) Record(ctx context.Context, id string) (*deploy.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get record %s: %w", id, err)
	}
	data, err := s.rdb.HGet(ctx, s.key("records"), id).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, errs.Wrap(errs.NotFound, deploy.ErrNotFound, "no deploy record %s", id)
	}
	if err != nil {
		return nil, s.fail(ctx, "get record "+id, err)
	}
	r, err := decodeRecord(data)
	if err != nil {
		return nil, fmt.Errorf("get record %s: %w", id, err)
	}
	return r, nil
}

// Records returns the records matching f, newest first by Started, records
// started at the same instant by ID descending. Each page of the index is
// read atomically; a record put while pages are read may be missed or, if
// its Started changed, listed twice.
func (s *Store) Records(ctx context.Context, f deploy.Filter) ([]*deploy.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	keys := []string{s.key("records"), s.key("records", "index")}
	var out []*deploy.Record
	upper := "+"
	for {
		want := 0
		if f.Limit > 0 {
			want = f.Limit - len(out)
		}
		v, err := recordsPageScript.Run(ctx, s.rdb, keys, upper, pageSize, f.App, f.Env, string(f.Outcome), want).Result()
		if err != nil {
			return nil, s.fail(ctx, "list records", err)
		}
		last, more, items, err := page(v)
		if err != nil {
			return nil, fmt.Errorf("list records: %w", err)
		}
		for _, data := range items {
			r, err := decodeRecord([]byte(data))
			if err != nil {
				return nil, fmt.Errorf("list records: %w", err)
			}
			out = append(out, r)
		}
		if !more || (f.Limit > 0 && len(out) >= f.Limit) {
			return out, nil
		}
		upper = "(" + last
	}
}

// recordsPageScript examines up to ARGV[2] index entries below ARGV[1]
// (newest first) and returns {last entry examined, whether there may be
// more, the JSON of each match}, stopping after ARGV[6] matches (0: no
// limit). ARGV[3..5] are App, Env and Outcome, empty for any.
var recordsPageScript = goredis.NewScript(`
local members = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[1], '-', 'LIMIT', 0, tonumber(ARGV[2]))
local want = tonumber(ARGV[6])
local out = {'', #members == tonumber(ARGV[2]) and 1 or 0}
for _, m in ipairs(members) do
  out[1] = m
  local id, app, env, outcome = string.match(string.sub(m, 22), '^(%Z*)%z(%Z*)%z(%Z*)%z(%Z*)$')
  if not id then
    return redis.error_reply('malformed record index entry ' .. m)
  end
  if (ARGV[3] == '' or app == ARGV[3]) and (ARGV[4] == '' or env == ARGV[4]) and (ARGV[5] == '' or outcome == ARGV[5]) then
    local data = redis.call('HGET', KEYS[1], id)
    if not data then
      return redis.error_reply('index names record ' .. id .. ', which is missing')
    end
    out[#out + 1] = data
    if want > 0 and #out - 2 >= want then
      out[2] = 0
      return out
    end
  end
end
return out
`)

// page splits a page script's reply into the last entry it examined,
// whether there may be more, and its items.
func page(v any) (last string, more bool, items []string, err error) {
	a, err := reply(v)
	if err != nil {
		return "", false, nil, err
	}
	if len(a) < 2 {
		return "", false, nil, fmt.Errorf("page reply of %d elements", len(a))
	}
	last, ok := a[0].(string)
	if !ok {
		return "", false, nil, fmt.Errorf("page reply: unexpected %T", a[0])
	}
	n, ok := a[1].(int64)
	if !ok {
		return "", false, nil, fmt.Errorf("page reply: unexpected %T", a[1])
	}
	items = make([]string, 0, len(a)-2)
	for _, x := range a[2:] {
		s, ok := x.(string)
		if !ok {
			return "", false, nil, fmt.Errorf("page reply: unexpected %T", x)
		}
		items = append(items, s)
	}
	return last, n == 1, items, nil
}

func decodeRecord(data []byte) (*deploy.Record, error) {
	var r deploy.Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return &r, nil
}
