package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// Records live in these keys:
//
//	records                hash: ID → the record as JSON
//	records:index          sorted set, all scores 0, ordered by member:
//	                       timeKey(Started) ID NUL App NUL Env NUL Outcome
//	records:member         hash: ID → its member in records:index
//	records:running        sorted set like records:index, of the members
//	                       whose Outcome is running
//	records:running:built  set once records:running holds every running
//	                       record
//
// Listing walks the index newest first and filters on the member, so it
// reads only the records it returns. As an ID holds no NUL, members of the
// same instant sort by ID, as in the embedded store.
//
// Every replica lists the running records every few seconds, to find
// deploys whose process died, and again before each deploy; the history
// is kept forever by default. Those listings walk records:running instead,
// so they cost what is running, not what ever ran. PutRecord and
// TrimRecords keep it in step with records:index in the same script.
//
// A store written before records:running existed has neither it nor the
// marker: the first listing of running records builds it from
// records:index, then sets the marker. Replicas may build it at once: each
// page is read and added in one script call, so only entries current at
// that moment are added, and writes keep it up to date from then on.
// records:running is read as a superset: a member counts only while it is
// still its record's member in records:member (so its Outcome is still
// running), and one that is not is dropped when met.
//
// A writer that does not know records:running (a replica of an older
// Switchman during a rolling upgrade) leaves its new running records out
// of it. Such a run, left running when that replica stopped for the
// upgrade, would never be found to recover. So the marker holds a
// watermark, a timeKey: each listing first adds to records:running the
// running entries of records:index above it, then sets it to catchUpMargin
// before the store's clock. A record is first written when its run starts,
// so its entry is above the watermark then, on any writer's clock that is
// within catchUpMargin of this one's.
//
// catchUpMargin is how far back the watermark stays behind the store's
// clock: every listing reads the index entries of runs started since.
const catchUpMargin = time.Hour

// pageSize is how many index entries one script call examines.
const pageSize = 256

// PutRecord creates or replaces the record with r.ID, unless the stored
// record carries a greater fencing token, or the lease of its app+env has
// handed out one since r's (see deploy.Store). The store keeps its own
// copy: changing r afterwards changes nothing stored. The ID, App, Env and
// Outcome must not contain NUL.
func (s *Store) PutRecord(ctx context.Context, r *deploy.Record) error {
	if ctx.Err() != nil {
		return fmt.Errorf("put record: %w", deploy.StoreNotRun(ctx))
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
	keys := []string{s.key("records"), s.key("records", "member"), s.key("records", "index"), s.key("fence", deploy.LeaseKey(r.App, r.Env)), s.key("records", "running")}
	running := "0"
	if r.Outcome == deploy.OutcomeRunning {
		running = "1"
	}
	stored, err := s.guarded(ctx, putRecordScript, keys, r.ID, data, member, r.Fence, running).Int64()
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
// records:member. The entry is in KEYS[5], records:running, as long as
// ARGV[5] is "1" (the record is running). A stored record with a greater
// fencing token stays, as it does when KEYS[4], the last token handed out
// for the lease of the record's app+env, is greater: the script returns
// that token. Checked in the script, a write is either before Acquire's
// (and read by the new holder) or refused.
var putRecordScript = goredis.NewScript(guard + `
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
  redis.call('ZREM', KEYS[5], old)
end
redis.call('ZADD', KEYS[3], 0, ARGV[3])
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[5], 0, ARGV[3])
end
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
	data, err := s.readField(ctx, "get record "+id, s.key("records"), id)
	if err != nil {
		return nil, err
	}
	if data == "" {
		return nil, errs.Wrap(errs.NotFound, deploy.ErrNotFound, "no deploy record %s", id)
	}
	r, err := decodeRecord([]byte(data))
	if err != nil {
		return nil, fmt.Errorf("get record %s: %w", id, err)
	}
	return r, nil
}

// Records returns the records matching f, newest first by Started, records
// started at the same instant by ID descending. Each page of the index is
// read atomically; a record put while pages are read may be missed, or be
// met again in a later page (its entry moved down: it finished, or its
// Started changed), where it is not listed again. Running records are read
// from records:running (see the top of this file).
func (s *Store) Records(ctx context.Context, f deploy.Filter) ([]*deploy.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	read := func(upper string, want int) (recordPage, error) {
		return s.recordsPage(ctx, f, upper, want)
	}
	if f.Outcome == deploy.OutcomeRunning {
		read = func(upper string, want int) (recordPage, error) {
			return s.runningPage(ctx, f, upper, want)
		}
	}
	return collect(f.Limit, read)
}

// recordPage is what a page script returns: the last index entry it
// examined, whether there may be more below it, and the JSON of the
// records it matched.
type recordPage struct {
	last  string
	more  bool
	items []string
}

// collect lists records through read, which returns the page below upper
// (an index bound) holding at most want matches (0: any number), until
// limit records (0: no limit) or the last page. A record met in two pages
// is listed once, where first met: pages are read one call at a time.
func collect(limit int, read func(upper string, want int) (recordPage, error)) ([]*deploy.Record, error) {
	var out []*deploy.Record
	met := map[string]bool{} // record IDs
	upper := "+"
	for {
		want := 0
		if limit > 0 {
			want = limit - len(out)
		}
		p, err := read(upper, want)
		if err != nil {
			return nil, err
		}
		for _, data := range p.items {
			r, err := decodeRecord([]byte(data))
			if err != nil {
				return nil, fmt.Errorf("list records: %w", err)
			}
			if met[r.ID] {
				continue
			}
			met[r.ID] = true
			out = append(out, r)
		}
		if !p.more || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		upper = "(" + p.last
	}
}

// recordsPage reads the page of records:index below upper that matches f,
// holding at most want records (0: any number).
func (s *Store) recordsPage(ctx context.Context, f deploy.Filter, upper string, want int) (recordPage, error) {
	keys := []string{s.key("records"), s.key("records", "index")}
	v, err := s.guarded(ctx, recordsPageScript, keys, upper, pageSize, f.App, f.Env, string(f.Outcome), want, lowerBound(f.Since)).Result()
	if err != nil {
		return recordPage{}, s.fail(ctx, "list records", err)
	}
	return decodePage(v)
}

// lowerBound is the index bound of records started at or after since
// (zero: any): every member of that instant is longer than its time key,
// so sorts after it.
func lowerBound(since time.Time) string {
	if since.IsZero() {
		return "-"
	}
	return "[" + timeKey(since)
}

// recordsPageScript examines up to ARGV[2] index entries between ARGV[1]
// and ARGV[7] (newest first) and returns {last entry examined, whether
// there may be more, the JSON of each match}, stopping after ARGV[6]
// matches (0: no limit), with more set: the caller may drop a match it
// listed already.
// ARGV[3..5] are App, Env and Outcome, empty for any. It starts with
// guard, as every records script does: a history read empty because Redis
// lost its data is not "no deploys", nor its running records "none".
var recordsPageScript = goredis.NewScript(guard + `
local members = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[1], ARGV[7], 'LIMIT', 0, tonumber(ARGV[2]))
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
      out[2] = 1
      return out
    end
  end
end
return out
`)

// runningPage is recordsPage for f.Outcome running, read from
// records:running; it builds records:running first if the store never
// did, and its first page adds to it what older writers left out (see the
// top of this file).
func (s *Store) runningPage(ctx context.Context, f deploy.Filter, upper string, want int) (recordPage, error) {
	keys := []string{s.key("records"), s.key("records", "running"), s.key("records", "member"), s.key("records", "running", "built"), s.key("records", "index")}
	run := func() (any, error) {
		watermark := timeKey(s.now().Add(-catchUpMargin))
		return s.guarded(ctx, runningPageScript, keys, upper, pageSize, f.App, f.Env, string(deploy.OutcomeRunning), want, watermark, lowerBound(f.Since)).Result()
	}
	v, err := run()
	// Each reply that asks again has moved the watermark up by a page:
	// more entries than a page were above it.
	for err == nil && catchingUp(v) {
		v, err = run()
	}
	if errors.Is(err, goredis.Nil) {
		if err := s.buildRunning(ctx); err != nil {
			return recordPage{}, err
		}
		v, err = run()
		for err == nil && catchingUp(v) {
			v, err = run()
		}
	}
	if errors.Is(err, goredis.Nil) {
		return recordPage{}, errors.New("list records: the running index was removed as it was built")
	}
	if err != nil {
		return recordPage{}, s.fail(ctx, "list records", err)
	}
	return decodePage(v)
}

// catchingUp reports whether v is runningPageScript's reply asking to be
// called again: the entries above the watermark were more than a page.
func catchingUp(v any) bool {
	a, ok := v.([]any)
	return ok && len(a) == 1
}

// runningPageScript is recordsPageScript for the running records, reading
// KEYS[2], records:running, down to ARGV[8], and returning nil if KEYS[4], the marker that
// it was built, is missing or holds no watermark (as a version before the
// watermark set it). ARGV[5] is the outcome running. A member that is not
// its record's member in KEYS[3], records:member, is stale: it is skipped
// and removed; its record, if still running, has its member there, added
// by the write that replaced it. The removal is best effort (pcall): Redis
// refuses writes when out of memory or read-only, not this listing.
//
// The first page (ARGV[1] "+") first adds to KEYS[2] the running entries
// of KEYS[5], records:index, above the watermark, then sets it to ARGV[7].
// With more than ARGV[2] of them, it adds a page, sets the watermark to
// the last entry it examined and returns {1}: call it again. Its writes
// are best effort, as the removals are: a Redis that refuses them still
// lists.
var runningPageScript = goredis.NewScript(guard + `
local mark = redis.call('GET', KEYS[4])
if not mark or string.len(mark) < 21 then
  return false
end
if ARGV[1] == '+' then
  local above = redis.call('ZRANGEBYLEX', KEYS[5], '(' .. mark, '+', 'LIMIT', 0, tonumber(ARGV[2]))
  for _, m in ipairs(above) do
    local outcome = string.match(string.sub(m, 22), '^%Z*%z%Z*%z%Z*%z(%Z*)$')
    if not outcome then
      return redis.error_reply('malformed record index entry ' .. m)
    end
    if outcome == ARGV[5] then
      redis.pcall('ZADD', KEYS[2], 0, m)
    end
  end
  if #above == tonumber(ARGV[2]) then
    local set = redis.pcall('SET', KEYS[4], above[#above])
    if type(set) ~= 'table' or not set.err then
      return {1}
    end
  else
    redis.pcall('SET', KEYS[4], ARGV[7])
  end
end
local members = redis.call('ZREVRANGEBYLEX', KEYS[2], ARGV[1], ARGV[8], 'LIMIT', 0, tonumber(ARGV[2]))
local want = tonumber(ARGV[6])
local out = {'', #members == tonumber(ARGV[2]) and 1 or 0}
for _, m in ipairs(members) do
  out[1] = m
  local id, app, env, outcome = string.match(string.sub(m, 22), '^(%Z*)%z(%Z*)%z(%Z*)%z(%Z*)$')
  if not id then
    return redis.error_reply('malformed running record entry ' .. m)
  end
  if outcome ~= ARGV[5] or redis.call('HGET', KEYS[3], id) ~= m then
    redis.pcall('ZREM', KEYS[2], m)
  elseif (ARGV[3] == '' or app == ARGV[3]) and (ARGV[4] == '' or env == ARGV[4]) then
    local data = redis.call('HGET', KEYS[1], id)
    if not data then
      return redis.error_reply('index names record ' .. id .. ', which is missing')
    end
    out[#out + 1] = data
    if want > 0 and #out - 2 >= want then
      out[2] = 1
      return out
    end
  end
end
return out
`)

// buildRunning adds every running record of records:index to
// records:running, a page per script call; the last sets the marker that
// it is built. Several replicas may run it at once.
func (s *Store) buildRunning(ctx context.Context) error {
	keys := []string{s.key("records", "index"), s.key("records", "running"), s.key("records", "running", "built")}
	// Taken before the first page: an entry an older writer adds above
	// the pages already read is above it, for the next listing.
	watermark := timeKey(s.now().Add(-catchUpMargin))
	upper := "+"
	for {
		v, err := s.guarded(ctx, buildRunningScript, keys, upper, pageSize, string(deploy.OutcomeRunning), watermark).Result()
		if err != nil {
			return s.fail(ctx, "build running index", err)
		}
		last, more, _, err := page(v)
		if err != nil {
			return fmt.Errorf("build running index: %w", err)
		}
		if !more {
			return nil
		}
		upper = "(" + last
	}
}

// buildRunningScript adds to KEYS[2] the entries of outcome ARGV[3] among
// up to ARGV[2] entries of KEYS[1] below ARGV[1], and returns {last entry
// examined, whether there may be more}; with none more, it sets KEYS[3],
// the marker that KEYS[2] is built, to the watermark ARGV[4]. It starts with guard, so the marker
// is set in the same call that checks the id, never in a store Redis
// emptied.
var buildRunningScript = goredis.NewScript(guard + `
local members = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], '-', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {'', #members == tonumber(ARGV[2]) and 1 or 0}
for _, m in ipairs(members) do
  out[1] = m
  local outcome = string.match(string.sub(m, 22), '^%Z*%z%Z*%z%Z*%z(%Z*)$')
  if not outcome then
    return redis.error_reply('malformed record index entry ' .. m)
  end
  if outcome == ARGV[3] then
    redis.call('ZADD', KEYS[2], 0, m)
  end
end
if out[2] == 0 then
  redis.call('SET', KEYS[3], ARGV[4])
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

// decodePage turns a records page script's reply into a recordPage.
func decodePage(v any) (recordPage, error) {
	last, more, items, err := page(v)
	if err != nil {
		return recordPage{}, fmt.Errorf("list records: %w", err)
	}
	return recordPage{last: last, more: more, items: items}, nil
}

func decodeRecord(data []byte) (*deploy.Record, error) {
	var r deploy.Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return &r, nil
}

// MarkUndelivered sets Undelivered of the record with id to n, leaving
// the rest of the record and its index entries as they are. The record
// is decoded and encoded here, not in a script, whose JSON would not
// keep it as it is (an empty list comes back an object); the write is
// made only if the record is still the one read, and read again if not.
func (s *Store) MarkUndelivered(ctx context.Context, id string, n deploy.Undelivered) error {
	op := "mark record " + id + " undelivered"
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, deploy.StoreNotRun(ctx))
	}
	for range markTries {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		data, err := s.readField(ctx, op, s.key("records"), id)
		if err != nil {
			return err
		}
		if data == "" {
			return errs.Wrap(errs.NotFound, deploy.ErrNotFound, "no deploy record %s", id)
		}
		r, err := decodeRecord([]byte(data))
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		r.Undelivered = &n
		out, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		swapped, err := s.guarded(ctx, swapFieldScript, []string{s.key("records")}, id, data, out).Int64()
		if err != nil {
			return s.fail(ctx, op, err)
		}
		if swapped == 1 {
			return nil
		}
	}
	return fmt.Errorf("%s: the record kept changing", op)
}

// markTries bounds MarkUndelivered's reads of a record written meanwhile.
const markTries = 5

// swapFieldScript sets field ARGV[1] of hash KEYS[1] to ARGV[3] if it
// still holds ARGV[2], and returns 1; otherwise 0.
var swapFieldScript = goredis.NewScript(guard + `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`)
