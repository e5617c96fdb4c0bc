package redis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// The audit trail lives in:
//
//	audit        stream, in append order: fields seq and entry (JSON); a
//	             tool can follow it with XREAD
//	audit:seq    the last Seq handed out
//	audit:index  sorted set, all scores 0, ordered by member:
//	             timeKey(Time) Seq(20 digits) stream-ID NUL App
//
// Entries are listed by Time, not in append order (an entry may say it
// happened earlier than the one before it), hence the index.

// seqPrefix starts the JSON of an entry with Seq zero; the script puts the
// real Seq in its place.
var seqPrefix = []byte(`{"seq":0,`)

// AppendAudit appends e to the audit trail. It sets e.Seq to the next
// sequence number, and e.Time to the store's clock if it is zero; on error
// e is left unchanged.
func (s *Store) AppendAudit(ctx context.Context, e *audit.Entry) error {
	if ctx.Err() != nil {
		return fmt.Errorf("append audit: %w", deploy.StoreNotRun(ctx))
	}
	if e == nil {
		return errs.New(errs.Invalid, "append audit: nil entry")
	}
	c := *e
	if c.Time.IsZero() {
		c.Time = s.now()
	}
	c.Seq = 0
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	if !bytes.HasPrefix(data, seqPrefix) {
		return fmt.Errorf("append audit: entry JSON does not start with %s", seqPrefix)
	}
	// The tries of one audit.Append share a key: one whose write landed
	// and whose answer was lost is not appended again by the next.
	once := audit.AppendKey(ctx)
	if once == "" {
		once = nonce()
	}
	keys := []string{s.key("audit", "appended", once), s.key("audit", "seq"), s.key("audit"), s.key("audit", "index")}
	seq, err := s.guarded(ctx, appendAuditScript, keys,
		replyTTL.Milliseconds(), timeKey(c.Time), c.App, data[len(seqPrefix):]).Uint64()
	if err != nil {
		return s.fail(ctx, "append audit", err)
	}
	e.Seq, e.Time = seq, c.Time
	return nil
}

// appendAuditScript takes the next Seq, adds the entry to the stream and
// the index, and returns the Seq. KEYS[1] remembers it for a resend of the
// call, which must not append twice. It starts with guard: an entry
// appended to a trail Redis emptied would take Seq 1 again.
var appendAuditScript = goredis.NewScript(guard + `
local done = redis.call('GET', KEYS[1])
if done then
  return tonumber(done)
end
local seq = redis.call('INCR', KEYS[2])
local id = redis.call('XADD', KEYS[3], '*', 'seq', seq, 'entry', '{"seq":' .. seq .. ',' .. ARGV[4])
redis.call('ZADD', KEYS[4], 0, ARGV[2] .. string.format('%020d', seq) .. id .. '\0' .. ARGV[3])
redis.call('SET', KEYS[1], seq, 'PX', ARGV[1])
return seq
`)

// Audit returns the entries matching q, newest first: by Time, entries of
// the same instant by Seq descending. The index is keyed by time, so a
// Since query reads only the entries it returns (and those of other apps).
func (s *Store) Audit(ctx context.Context, q audit.Query) ([]audit.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read audit: %w", err)
	}
	lower := "-"
	if !q.Since.IsZero() {
		// Every member of that instant is longer than its time key, so
		// sorts after it.
		lower = "[" + timeKey(q.Since)
	}
	keys := []string{s.key("audit", "index"), s.key("audit")}
	var out []audit.Entry
	upper := "+"
	for {
		want := 0
		if q.Limit > 0 {
			want = q.Limit - len(out)
		}
		v, err := s.guarded(ctx, auditPageScript, keys, upper, lower, pageSize, q.App, want).Result()
		if err != nil {
			return nil, s.fail(ctx, "read audit", err)
		}
		last, more, items, err := page(v)
		if err != nil {
			return nil, fmt.Errorf("read audit: %w", err)
		}
		for _, data := range items {
			var e audit.Entry
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				return nil, fmt.Errorf("read audit: decode entry: %w", err)
			}
			out = append(out, e)
		}
		if !more || (q.Limit > 0 && len(out) >= q.Limit) {
			return out, nil
		}
		upper = "(" + last
	}
}

// auditPageScript examines up to ARGV[3] index entries between ARGV[1] and
// ARGV[2] (newest first) and returns {last entry examined, whether there
// may be more, the JSON of each match}, stopping after ARGV[5] matches (0:
// no limit). ARGV[4] is the App, empty for any. It starts with guard: a
// trail read empty because Redis lost its data is not "nothing happened".
var auditPageScript = goredis.NewScript(guard + `
local members = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local want = tonumber(ARGV[5])
local out = {'', #members == tonumber(ARGV[3]) and 1 or 0}
for _, m in ipairs(members) do
  out[1] = m
  local id, app = string.match(string.sub(m, 42), '^(%Z*)%z(.*)$')
  if not id then
    return redis.error_reply('malformed audit index entry ' .. m)
  end
  if ARGV[4] == '' or app == ARGV[4] then
    local found = redis.call('XRANGE', KEYS[2], id, id)
    local entry
    if found[1] then
      local fields = found[1][2]
      for i = 1, #fields, 2 do
        if fields[i] == 'entry' then
          entry = fields[i + 1]
        end
      end
    end
    if not entry then
      return redis.error_reply('audit index names stream entry ' .. id .. ', which is missing')
    end
    out[#out + 1] = entry
    if want > 0 and #out - 2 >= want then
      out[2] = 0
      return out
    end
  end
end
return out
`)
