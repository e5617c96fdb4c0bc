package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

var _ trainstore.Store = (*Store)(nil)

// Trains live in:
//
//	trains:cars:NAME   list, in boarding order: App NUL the car as JSON
//	trains:runs        hash: NAME NUL KIND → the last run (RFC 3339, UTC);
//	                   NAME NUL cancel-note → who called off the departure
//	                   of NAME NUL cancel and why, as JSON with its time
//	trains:unended:NAME hash: the ID of each departure StartDeparture
//	                   recorded and EndDeparture has not ended → it as JSON
//	trains:off:NAME    hash: App → the car someone last took off (Leave
//	                   with by): by NUL at (RFC 3339, UTC) NUL its entry,
//	                   until an end of a departure of NAME drops it
//	trains:memo:NONCE  the answer of one Board or Leave, for a
//	                   resend of the call; expires after replyTTL
//	trains:index       set: the names of the trains with cars aboard,
//	                   and "" (no train's name) once built
//	trains:index:built set when trains:index names every such train;
//	                   expires after trainIndexTTL
//
// Board, Leave and ReturnCars keep trains:index in step with the lists
// in the same script, so Trains reads it in one round trip rather than
// scanning every key. A store written before trains:index existed has
// neither it nor the marker: the first listing builds it from a SCAN of
// the lists, then sets the marker. The index is taken as built only while
// it holds "" too: an index lost without its marker (evicted by Redis
// under an allkeys-* maxmemory-policy, deleted by hand) would otherwise
// list no train until the marker expired. A writer that does not know the index
// (an older replica during a rolling upgrade) leaves a train it boards
// first out of it until a newer one writes the train or the marker
// expires and a listing builds the index again, and one whose last
// car it takes off in it: the listing skips a name whose list is empty,
// and keeps it, so that the train is listed again once that writer boards
// it again. Only a Leave, which knows the index, removes a name, when it
// finds the train's list empty.
//
// An app never holds NUL (nor does a train name), so a script finds a car
// by the part of its entry before the first NUL without decoding JSON.

func (s *Store) carsKey(name string) string { return s.key("trains", "cars", name) }

func (s *Store) offKey(name string) string { return s.key("trains", "off", name) }

func (s *Store) memoKey() string { return s.key("trains", "memo", nonce()) }

func (s *Store) indexKey() string { return s.key("trains", "index") }

func (s *Store) indexBuiltKey() string { return s.key("trains", "index", "built") }

// trainIndexTTL is how long the marker that trains:index is built lasts:
// the index is built again from a scan of the trains' keys at the first
// listing after it, at most once in that time.
const trainIndexTTL = 5 * time.Minute

func checkTrainName(op, name string) error {
	if name == "" || strings.ContainsRune(name, 0) {
		return errs.New(errs.Invalid, "%s: the train name must be non-empty and without NUL", op)
	}
	return nil
}

func carEntry(c trainstore.Car) (string, error) {
	data, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return c.App + "\x00" + string(data), nil
}

func decodeCar(entry string) (trainstore.Car, error) {
	_, data, ok := strings.Cut(entry, "\x00")
	if !ok {
		return trainstore.Car{}, fmt.Errorf("malformed car entry %q", entry)
	}
	var c trainstore.Car
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return trainstore.Car{}, fmt.Errorf("decode car: %w", err)
	}
	return c, nil
}

func decodeCars(entries []string) ([]trainstore.Car, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	cars := make([]trainstore.Car, len(entries))
	for i, e := range entries {
		c, err := decodeCar(e)
		if err != nil {
			return nil, err
		}
		cars[i] = c
	}
	return cars, nil
}

// Board adds car at the end of the train, replacing (and returning) the
// car of the same app, which loses its place. A train of maxCars cars
// that count (maxCars > 0; see trainstore.Store) refuses a new app with an
// error of code errs.Conflict.
//
// With counts, the cars are read first, and the script is given the
// entries of those that do not count: it counts every other entry, so
// that a car boarded since the read counts, and one taken off since is
// not subtracted.
func (s *Store) Board(ctx context.Context, name string, car trainstore.Car, maxCars int, counts func(trainstore.Car) bool) (*trainstore.Car, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("board %s: %w", name, deploy.StoreNotRun(ctx))
	}
	if err := checkTrainName("board", name); err != nil {
		return nil, err
	}
	if car.App == "" || strings.ContainsRune(car.App, 0) {
		return nil, errs.New(errs.Invalid, "board %s: the car's app must be non-empty and without NUL", name)
	}
	entry, err := carEntry(car)
	if err != nil {
		return nil, fmt.Errorf("board %s: %w", name, err)
	}
	args := []any{car.App, entry, max(maxCars, 0), replyTTL.Milliseconds(), name}
	if counts != nil && maxCars > 0 {
		var entries *goredis.StringSliceCmd
		if err := s.readTx(ctx, "board "+name, func(p goredis.Pipeliner) {
			entries = p.LRange(ctx, s.carsKey(name), 0, -1)
		}); err != nil {
			return nil, err
		}
		for _, e := range entries.Val() {
			c, err := decodeCar(e)
			if err != nil {
				return nil, fmt.Errorf("board %s: %w", name, err)
			}
			if !counts(c) {
				args = append(args, e)
			}
		}
	}
	keys := []string{s.carsKey(name), s.memoKey(), s.indexKey()}
	v, err := s.guarded(ctx, boardScript, keys, args...).Text()
	if err != nil {
		return nil, s.fail(ctx, "board "+name, err)
	}
	switch {
	case strings.HasPrefix(v, "F"):
		n, _ := strconv.Atoi(v[1:])
		return nil, errs.New(errs.Conflict, "the %s train is full (%d cars)", name, n)
	case v == "R":
		return nil, nil
	case strings.HasPrefix(v, "R"):
		c, err := decodeCar(v[1:])
		if err != nil {
			return nil, fmt.Errorf("board %s: %w", name, err)
		}
		return &c, nil
	}
	return nil, fmt.Errorf("board %s: unexpected reply %q from script", name, v)
}

// boardScript: ARGV is the app, its entry, the most cars (0: no limit),
// the memo's expiry and the train's name, which it adds to KEYS[3], the
// index, with the car, then the entries that do not count towards the
// most cars (before the store's id, which guarded adds last). It returns
// "F" and the number of cars that count if the train is full, else "R"
// followed by the entry it replaced, if any. It starts
// with guard, as every train script does: a car boarded into a store Redis
// emptied would leave without the cars boarded before it.
var boardScript = goredis.NewScript(guard + `
local done = redis.call('GET', KEYS[2])
if done then
  return done
end
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
local old
for _, e in ipairs(entries) do
  local i = string.find(e, '\0', 1, true)
  if i and string.sub(e, 1, i - 1) == ARGV[1] then
    old = e
    break
  end
end
local max = tonumber(ARGV[3])
local uncounted = {}
for i = 6, #ARGV - 1 do
  uncounted[ARGV[i]] = true
end
local n = 0
for _, e in ipairs(entries) do
  if not uncounted[e] then
    n = n + 1
  end
end
local res
if old then
  redis.call('LREM', KEYS[1], 1, old)
  res = 'R' .. old
elseif max > 0 and n >= max then
  res = 'F' .. n
else
  res = 'R'
end
if string.sub(res, 1, 1) == 'R' then
  redis.call('RPUSH', KEYS[1], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[5])
end
redis.call('SET', KEYS[2], res, 'PX', ARGV[4])
return res
`)

// Leave takes app's car off the train and returns it; an error wrapping
// deploy.ErrNotFound if it is not aboard. A car taken off by someone (by
// set) is recorded for TakenOff in the same script.
func (s *Store) Leave(ctx context.Context, name, app, by string, at time.Time) (trainstore.Car, error) {
	if ctx.Err() != nil {
		return trainstore.Car{}, fmt.Errorf("leave %s: %w", name, deploy.StoreNotRun(ctx))
	}
	if err := checkTrainName("leave", name); err != nil {
		return trainstore.Car{}, err
	}
	if strings.ContainsRune(by, 0) {
		return trainstore.Car{}, errs.New(errs.Invalid, "leave %s: who takes the car off must be without NUL", name)
	}
	keys := []string{s.carsKey(name), s.memoKey(), s.indexKey(), s.offKey(name)}
	v, err := s.guarded(ctx, leaveScript, keys, app, replyTTL.Milliseconds(), name, by, at.UTC().Format(time.RFC3339Nano)).Text()
	if err != nil {
		return trainstore.Car{}, s.fail(ctx, "leave "+name, err)
	}
	if v == "" {
		return trainstore.Car{}, errs.Wrap(errs.NotFound, deploy.ErrNotFound, "%s is not aboard the %s train", app, name)
	}
	c, err := decodeCar(v)
	if err != nil {
		return trainstore.Car{}, fmt.Errorf("leave %s: %w", name, err)
	}
	return c, nil
}

// leaveScript removes the entry of app ARGV[1] and returns it, or "";
// the train ARGV[3] leaves KEYS[3], the index, once its list is empty,
// whether its last car left now or an older writer took it off before.
// With ARGV[4], who takes it off, the entry is kept in KEYS[4] under the
// app with ARGV[4] and ARGV[5], when.
var leaveScript = goredis.NewScript(guard + `
local done = redis.call('GET', KEYS[2])
if done then
  return done
end
local res = ''
for _, e in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local i = string.find(e, '\0', 1, true)
  if i and string.sub(e, 1, i - 1) == ARGV[1] then
    redis.call('LREM', KEYS[1], 1, e)
    if ARGV[4] ~= '' then
      redis.call('HSET', KEYS[4], ARGV[1], ARGV[4] .. '\0' .. ARGV[5] .. '\0' .. e)
    end
    res = e
    break
  end
end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], ARGV[3])
end
redis.call('SET', KEYS[2], res, 'PX', ARGV[2])
return res
`)

// TakenOff returns the car of app someone last took off the train, or
// the zero TakenOff: none was, a version that kept no record did, or the
// end of a departure dropped the record (EndDeparture).
func (s *Store) TakenOff(ctx context.Context, name, app string) (trainstore.TakenOff, error) {
	if err := ctx.Err(); err != nil {
		return trainstore.TakenOff{}, fmt.Errorf("taken off %s: %w", name, err)
	}
	op := "taken off " + name
	v, err := s.readField(ctx, op, s.offKey(name), app)
	if err != nil || v == "" {
		return trainstore.TakenOff{}, err
	}
	parts := strings.SplitN(v, "\x00", 3)
	if len(parts) != 3 {
		return trainstore.TakenOff{}, fmt.Errorf("%s: malformed entry %q", op, v)
	}
	at, err := time.Parse(time.RFC3339Nano, parts[1])
	if err != nil {
		return trainstore.TakenOff{}, fmt.Errorf("%s: %w", op, err)
	}
	c, err := decodeCar(parts[2])
	if err != nil {
		return trainstore.TakenOff{}, fmt.Errorf("%s: %w", op, err)
	}
	return trainstore.TakenOff{Car: c, By: parts[0], At: at}, nil
}

// Cars returns the cars aboard, in boarding order.
func (s *Store) Cars(ctx context.Context, name string) ([]trainstore.Car, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list cars of %s: %w", name, err)
	}
	var entries *goredis.StringSliceCmd
	if err := s.readTx(ctx, "list cars of "+name, func(p goredis.Pipeliner) {
		entries = p.LRange(ctx, s.carsKey(name), 0, -1)
	}); err != nil {
		return nil, err
	}
	cars, err := decodeCars(entries.Val())
	if err != nil {
		return nil, fmt.Errorf("list cars of %s: %w", name, err)
	}
	return cars, nil
}

// ReturnCars puts cars back where they were (see trainstore.Returned):
// before the cars that stayed aboard behind them and those boarded since;
// a car whose app is aboard again, or repeated, is dropped. Sending it
// twice does what sending it once did: the second finds the apps aboard.
//
// The train is read, the new order made here, and the script writes it
// only if the train is still as read; a Board or Leave in between makes
// it read again.
func (s *Store) ReturnCars(ctx context.Context, name string, cars []trainstore.Car) error {
	if ctx.Err() != nil {
		return fmt.Errorf("return cars to %s: %w", name, deploy.StoreNotRun(ctx))
	}
	if err := checkTrainName("return cars", name); err != nil {
		return err
	}
	if len(cars) == 0 {
		return nil
	}
	for _, c := range cars {
		if c.App == "" || strings.ContainsRune(c.App, 0) {
			return errs.New(errs.Invalid, "return cars to %s: a car's app must be non-empty and without NUL", name)
		}
	}
	op := "return cars to " + name
	for range maxReturnTries {
		var read *goredis.StringSliceCmd
		if err := s.readTx(ctx, op, func(p goredis.Pipeliner) {
			read = p.LRange(ctx, s.carsKey(name), 0, -1)
		}); err != nil {
			return err
		}
		entries := read.Val()
		aboard, err := decodeCars(entries)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		train := trainstore.Returned(aboard, cars)
		if len(train) == len(aboard) {
			return nil // every app is aboard again
		}
		// The cars aboard keep their entries as stored; the others are
		// the cars put back.
		stored := make(map[string]string, len(entries))
		for i, c := range aboard {
			stored[c.App] = entries[i]
		}
		args := make([]any, 0, 1+len(entries)+len(train))
		args = append(args, len(entries))
		for _, e := range entries {
			args = append(args, e)
		}
		for _, c := range train {
			e, ok := stored[c.App]
			if !ok {
				if e, err = carEntry(c); err != nil {
					return fmt.Errorf("%s: %w", op, err)
				}
			}
			args = append(args, e)
		}
		args = append(args, name)
		done, err := s.guarded(ctx, returnCarsScript, []string{s.carsKey(name), s.indexKey()}, args...).Int()
		if err != nil {
			return s.fail(ctx, op, err)
		}
		if done == 1 {
			return nil
		}
	}
	return errs.New(errs.Unavailable, "%s: the train kept changing as the cars were put back", op)
}

// maxReturnTries bounds how often ReturnCars reads the train again when
// it changed before the write.
const maxReturnTries = 10

// returnCarsScript: ARGV[1] is n, then the n entries the train held when
// read, then the entries it is to hold, then the train's name, which it
// adds to KEYS[2], the index, then guard's id. It writes them
// and returns 1 if the train still holds the n entries read, else 0.
var returnCarsScript = goredis.NewScript(guard + `
local n = tonumber(ARGV[1])
local cur = redis.call('LRANGE', KEYS[1], 0, -1)
if #cur ~= n then
  return 0
end
for i = 1, n do
  if cur[i] ~= ARGV[1 + i] then
    return 0
  end
end
redis.call('DEL', KEYS[1])
for i = n + 2, #ARGV - 2 do
  redis.call('RPUSH', KEYS[1], ARGV[i])
end
if redis.call('LLEN', KEYS[1]) > 0 then
  redis.call('SADD', KEYS[2], ARGV[#ARGV - 1])
end
return 1
`)

func runField(name, kind string) string { return name + "\x00" + kind }

// MarkRun records at as the last run of the train's event kind.
func (s *Store) MarkRun(ctx context.Context, name, kind string, at time.Time) error {
	if ctx.Err() != nil {
		return fmt.Errorf("mark %s %s: %w", name, kind, deploy.StoreNotRun(ctx))
	}
	if err := checkTrainName("mark run", name); err != nil {
		return err
	}
	if strings.ContainsRune(kind, 0) {
		return errs.New(errs.Invalid, "mark run: the kind must not contain NUL")
	}
	v := at.UTC().Format(time.RFC3339Nano)
	if err := s.guarded(ctx, putFieldScript, []string{s.key("trains", "runs")}, runField(name, kind), v).Err(); err != nil {
		return s.fail(ctx, fmt.Sprintf("mark %s %s", name, kind), err)
	}
	return nil
}

// LastRun returns the time MarkRun recorded last, or the zero time.
func (s *Store) LastRun(ctx context.Context, name, kind string) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, fmt.Errorf("last run of %s %s: %w", name, kind, err)
	}
	v, err := s.readField(ctx, fmt.Sprintf("last run of %s %s", name, kind), s.key("trains", "runs"), runField(name, kind))
	if err != nil || v == "" {
		return time.Time{}, err
	}
	at, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("last run of %s %s: %w", name, kind, err)
	}
	return at, nil
}

// kindCancelNote is the field kind under which MarkCancel keeps who
// called the departure off and why, as JSON with the departure's time: a
// note whose time is not the one of KindCancel belongs to an earlier
// cancellation, replaced by a MarkRun of KindCancel alone (an older
// version's).
const kindCancelNote = "cancel-note"

// MarkCancel records c.At as the departure called off (KindCancel), with
// who called it off and why, in one script.
func (s *Store) MarkCancel(ctx context.Context, name string, c trainstore.Cancellation) error {
	if ctx.Err() != nil {
		return fmt.Errorf("mark %s cancel: %w", name, deploy.StoreNotRun(ctx))
	}
	if err := checkTrainName("mark cancel", name); err != nil {
		return err
	}
	note, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("mark %s cancel: %w", name, err)
	}
	v := c.At.UTC().Format(time.RFC3339Nano)
	if err := s.guarded(ctx, putTwoFieldsScript, []string{s.key("trains", "runs")},
		runField(name, trainstore.KindCancel), v, runField(name, kindCancelNote), string(note)).Err(); err != nil {
		return s.fail(ctx, fmt.Sprintf("mark %s cancel", name), err)
	}
	return nil
}

// putTwoFieldsScript sets fields ARGV[1] and ARGV[3] of hash KEYS[1] to
// ARGV[2] and ARGV[4]. It starts with guard.
var putTwoFieldsScript = goredis.NewScript(guard + `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
return 1
`)

// LastCancel returns the departure called off last, with who called it
// off and why when MarkCancel recorded it.
func (s *Store) LastCancel(ctx context.Context, name string) (trainstore.Cancellation, error) {
	op := "last cancel of " + name
	if err := ctx.Err(); err != nil {
		return trainstore.Cancellation{}, fmt.Errorf("%s: %w", op, err)
	}
	var at, note *goredis.StringCmd
	if err := s.readTx(ctx, op, func(p goredis.Pipeliner) {
		at = p.HGet(ctx, s.key("trains", "runs"), runField(name, trainstore.KindCancel))
		note = p.HGet(ctx, s.key("trains", "runs"), runField(name, kindCancelNote))
	}); err != nil {
		return trainstore.Cancellation{}, err
	}
	for _, cmd := range []*goredis.StringCmd{at, note} {
		if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) {
			return trainstore.Cancellation{}, s.fail(ctx, op, err)
		}
	}
	if at.Val() == "" {
		return trainstore.Cancellation{}, nil
	}
	var c trainstore.Cancellation
	var err error
	if c.At, err = time.Parse(time.RFC3339Nano, at.Val()); err != nil {
		return trainstore.Cancellation{}, fmt.Errorf("%s: %w", op, err)
	}
	if note.Val() == "" {
		return c, nil
	}
	var n trainstore.Cancellation
	if err := json.Unmarshal([]byte(note.Val()), &n); err != nil {
		return trainstore.Cancellation{}, fmt.Errorf("%s: decode note: %w", op, err)
	}
	if n.At.Equal(c.At) {
		c.User, c.Reason = n.User, n.Reason
	}
	return c, nil
}

// Trains returns the names of the trains with cars aboard, sorted, read
// from trains:index in one script call, which checks the store's id.
// When the marker that the index is built is missing (never set, by a
// version before the index, or expired) the index is built first.
func (s *Store) Trains(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list trains: %w", err)
	}
	keys := []string{s.indexKey(), s.indexBuiltKey()}
	names, err := s.guarded(ctx, trainsScript, keys, s.carsKey("")).StringSlice()
	if errors.Is(err, goredis.Nil) {
		names, err = s.buildTrainIndex(ctx)
	} else if err != nil {
		err = s.fail(ctx, "list trains", err)
	}
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, nil
	}
	slices.Sort(names)
	return names, nil
}

// listIndex sets out to the members of KEYS[1], the index, whose list
// (ARGV[1], the lists' prefix, and the name) holds cars. A member whose
// list is empty (its last car taken off by a writer that does not know
// the index) is skipped, not removed: that writer may board the train
// again, and would not add it back. It writes nothing.
const listIndex = `
local out = {}
for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if n ~= '' and redis.call('LLEN', ARGV[1] .. n) > 0 then
    out[#out + 1] = n
  end
end
`

// trainsScript returns the trains listIndex finds, or nil if the index
// is not built: KEYS[2], the marker, is missing or has no expiry (set by
// a version that kept it for good), or KEYS[1], the index, lacks "" (it
// was lost, and perhaps made again by a Board since).
var trainsScript = goredis.NewScript(guard + `
if redis.call('PTTL', KEYS[2]) < 0 or redis.call('SISMEMBER', KEYS[1], '') == 0 then
  return false
end
` + listIndex + `
return out
`)

// buildTrainIndex adds to trains:index every train whose list holds
// cars, found with SCAN, sets the marker that it is built, and returns
// the trains listed from it. Several replicas may build it at once; a
// Board or Leave meanwhile keeps the index itself, and the script adds
// only the lists that still hold cars as it runs.
//
// The marker expires after s.indexTTL, so the index is built again from
// a scan at most once in that time: a train an older writer (one that
// does not know the index) boards first after a build is listed at the
// next build, not left out until a newer writer writes it.
//
// It scans twice: a list an older writer makes after the first walk went
// past where its key lands, and before the marker is set, is missed by
// that walk. The second walk, after the marker, finds every list made
// before it (SCAN returns every key present for the whole walk).
func (s *Store) buildTrainIndex(ctx context.Context) ([]string, error) {
	if _, err := s.indexScanned(ctx); err != nil {
		return nil, err
	}
	return s.indexScanned(ctx)
}

// indexScanned adds to trains:index the trains whose lists one SCAN
// finds holding cars, sets the marker, and returns the trains listed.
func (s *Store) indexScanned(ctx context.Context) ([]string, error) {
	prefix := s.carsKey("")
	var found []string
	var cursor uint64
	for {
		page, err := await(s, ctx, func(rdb *goredis.Client) (scanPage, error) {
			keys, next, err := rdb.Scan(ctx, cursor, globEscape(prefix)+"*", 1000).Result()
			return scanPage{keys, next}, err
		})
		batch, next := page.keys, page.next
		if err != nil {
			return nil, s.fail(ctx, "build train index", err)
		}
		found = append(found, batch...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	slices.Sort(found)
	found = slices.Compact(found) // SCAN may return a key twice
	keys := append([]string{s.indexKey(), s.indexBuiltKey()}, found...)
	args := make([]any, 0, len(found)+2)
	args = append(args, prefix, s.indexTTL.Milliseconds())
	for _, k := range found {
		args = append(args, strings.TrimPrefix(k, prefix))
	}
	names, err := s.guarded(ctx, buildTrainIndexScript, keys, args...).StringSlice()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return nil, s.fail(ctx, "build train index", err)
	}
	return names, nil
}

// buildTrainIndexScript adds to KEYS[1], the index, "" and the name
// ARGV[i] of each list KEYS[i] (from 3 on) that holds cars, sets KEYS[2], the
// marker that the index is built, to expire after ARGV[2] ms, and
// returns the trains listIndex finds (ARGV[1] the lists' prefix). It
// starts with guard, so the marker is set in the same call that checks
// the id, never in a store Redis emptied.
var buildTrainIndexScript = goredis.NewScript(guard + `
redis.call('SADD', KEYS[1], '')
for i = 3, #KEYS - 1 do
  if redis.call('LLEN', KEYS[i]) > 0 then
    redis.call('SADD', KEYS[1], ARGV[i])
  end
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
` + listIndex + `
return out
`)

// globEscape quotes the characters SCAN's MATCH pattern gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// The departures StartDeparture recorded and EndDeparture has not ended
// live in trains:unended:NAME, a hash: the departure's ID → the departure
// as JSON. Each write reads the four fields of trains:runs that held a
// departure's record before that hash existed (the last departure and
// the last ended, of each kind), works out here what they leave unended,
// which it keeps in the hash, and what is recorded, and the script makes
// the write only if the four fields are still as read: another write in
// between makes it read again.

func (s *Store) unendedKey(name string) string { return s.key("trains", "unended", name) }

func oldFields(name string) [4]string {
	return [4]string{runField(name, trainstore.KindDeparture), runField(name, trainstore.KindEnded),
		runField(name, trainstore.KindEarly), runField(name, trainstore.KindEarlyEnded)}
}

// readOld reads the four old-shape fields of train name, and with them,
// when all, the hash of its unended departures, and, when off, the
// records of its cars taken off (trains:off:NAME), in one MULTI.
func (s *Store) readOld(ctx context.Context, op, name string, all, off bool) (raw [4]string, at [4]time.Time, unended, offs map[string]string, err error) {
	fields := oldFields(name)
	var got [4]*goredis.StringCmd
	var hash, offHash *goredis.MapStringStringCmd
	if err := s.readTx(ctx, op, func(p goredis.Pipeliner) {
		for i, f := range fields {
			got[i] = p.HGet(ctx, s.key("trains", "runs"), f)
		}
		if all {
			hash = p.HGetAll(ctx, s.unendedKey(name))
		}
		if off {
			offHash = p.HGetAll(ctx, s.offKey(name))
		}
	}); err != nil {
		return raw, at, nil, nil, err
	}
	for i, cmd := range got {
		if err := cmd.Err(); err != nil && !errors.Is(err, goredis.Nil) {
			return raw, at, nil, nil, s.fail(ctx, op, err)
		}
		if raw[i] = cmd.Val(); raw[i] == "" {
			continue
		}
		if at[i], err = time.Parse(time.RFC3339Nano, raw[i]); err != nil {
			return raw, at, nil, nil, fmt.Errorf("%s: %w", op, err)
		}
	}
	for _, cmd := range []*goredis.MapStringStringCmd{hash, offHash} {
		if cmd == nil {
			continue
		}
		if err := cmd.Err(); err != nil {
			return raw, at, nil, nil, s.fail(ctx, op, err)
		}
	}
	if all {
		unended = hash.Val()
	}
	if off {
		offs = offHash.Val()
	}
	return raw, at, unended, offs, nil
}

// StartDeparture records d as leaving, and unended until EndDeparture.
func (s *Store) StartDeparture(ctx context.Context, name string, d trainstore.Departure) error {
	return s.writeDeparture(ctx, "start departure "+d.ID()+" of "+name, name, d, true)
}

// EndDeparture records d as ended: no longer unended, and the latest
// ended if none later is; the records of cars taken off made before the
// departures still running go in the same script (droppedOff).
func (s *Store) EndDeparture(ctx context.Context, name string, d trainstore.Departure) error {
	return s.writeDeparture(ctx, "end departure "+d.ID()+" of "+name, name, d, false)
}

// writeDeparture starts d (start) or ends it, keeping what the old-shape
// fields leave unended among the unended departures.
func (s *Store) writeDeparture(ctx context.Context, op, name string, d trainstore.Departure, start bool) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, deploy.StoreNotRun(ctx))
	}
	if err := checkTrainName(op, name); err != nil {
		return err
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	fields := oldFields(name)
	// Indexes in fields of the departure's run and end.
	run, end := 0, 1
	if d.Early {
		run, end = 2, 3
	}
	for range maxReturnTries {
		raw, at, unended, offs, err := s.readOld(ctx, op, name, !start, !start)
		if err != nil {
			return err
		}
		args := make([]any, 0, 16)
		for _, f := range fields {
			args = append(args, f)
		}
		for _, v := range raw {
			args = append(args, v)
		}
		var set, val, del string
		switch {
		case start:
			set, val = fields[run], d.At.UTC().Format(time.RFC3339Nano)
		case at[end].Before(d.At):
			set, val, del = fields[end], d.At.UTC().Format(time.RFC3339Nano), d.ID()
		default:
			del = d.ID()
		}
		args = append(args, set, val, del)
		var drop []any
		if !start {
			drop = droppedOff(d, unended, at, offs)
		}
		args = append(args, len(drop)/2)
		args = append(args, drop...)
		for _, o := range trainstore.OldUnended(at[0], at[1], at[2], at[3]) {
			od, err := json.Marshal(o)
			if err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			args = append(args, o.ID(), string(od))
		}
		if start {
			args = append(args, d.ID(), string(data))
		}
		keys := []string{s.key("trains", "runs"), s.unendedKey(name), s.offKey(name)}
		done, err := s.guarded(ctx, departureScript, keys, args...).Int()
		if err != nil {
			return s.fail(ctx, op, err)
		}
		if done == 1 {
			return nil
		}
	}
	return errs.New(errs.Unavailable, "%s: the train's departure records kept changing", op)
}

// droppedOff returns the records of cars taken off that the end of d
// drops, as field, value, field, value, …, of those read, offs: the ones
// made before trainstore.OffCutoff of d and the departures left unended,
// those of the hash read, unended, and those the old-shape fields, at,
// leave so. A record that cannot be read goes too: it tells nobody
// anything, and would stay for good. With an unended departure that
// cannot be read, whose time is unknown, none goes: the end is recorded
// all the same, as before records were dropped.
func droppedOff(d trainstore.Departure, unended map[string]string, at [4]time.Time, offs map[string]string) []any {
	if len(offs) == 0 {
		return nil
	}
	running := trainstore.OldUnended(at[0], at[1], at[2], at[3])
	for _, v := range unended {
		var u trainstore.Departure
		if err := json.Unmarshal([]byte(v), &u); err != nil {
			return nil
		}
		running = append(running, u)
	}
	cut := trainstore.OffCutoff(d, running)
	var drop []any
	for app, v := range offs {
		parts := strings.SplitN(v, "\x00", 3)
		if len(parts) == 3 {
			if made, err := time.Parse(time.RFC3339Nano, parts[1]); err == nil && !made.Before(cut) {
				continue
			}
		}
		drop = append(drop, app, v)
	}
	return drop
}

// departureScript: ARGV[1..4] are four fields of KEYS[1], the train runs,
// and ARGV[5..8] the values read of them ("" for none). If they still
// hold those, it sets field ARGV[9] of KEYS[1] (if not "") to ARGV[10],
// deletes the ARGV[12] fields of KEYS[3], the cars taken off, that
// follow it, each still holding the value after it (one taken off again
// since holds a newer record, which stays), sets the pairs after those
// (field, value) in KEYS[2], the unended departures, then deletes field
// ARGV[11] (if not "") of KEYS[2], and returns 1; else 0. The pairs set
// come before the field deleted: a departure ended as it is kept from
// the old shape is gone after.
var departureScript = goredis.NewScript(guard + `
for i = 1, 4 do
  if (redis.call('HGET', KEYS[1], ARGV[i]) or '') ~= ARGV[4 + i] then
    return 0
  end
end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[9], ARGV[10])
end
local drop = tonumber(ARGV[12])
for i = 13, 12 + 2 * drop, 2 do
  if redis.call('HGET', KEYS[3], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[3], ARGV[i])
  end
end
for i = 13 + 2 * drop, #ARGV - 2, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
if ARGV[11] ~= '' then
  redis.call('HDEL', KEYS[2], ARGV[11])
end
return 1
`)

// Unended returns the departures of the train started and not ended,
// with the one the old-shape fields leave unended, in order.
func (s *Store) Unended(ctx context.Context, name string) ([]trainstore.Departure, error) {
	op := "unended departures of " + name
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	_, at, hash, _, err := s.readOld(ctx, op, name, true, false)
	if err != nil {
		return nil, err
	}
	var out []trainstore.Departure
	for id, v := range hash {
		var d trainstore.Departure
		if err := json.Unmarshal([]byte(v), &d); err != nil {
			return nil, fmt.Errorf("%s: decode %q: %w", op, id, err)
		}
		out = append(out, d)
	}
	for _, o := range trainstore.OldUnended(at[0], at[1], at[2], at[3]) {
		if _, ok := hash[o.ID()]; !ok {
			out = append(out, o)
		}
	}
	trainstore.SortDepartures(out)
	return out, nil
}

// scanPage is one reply of SCAN.
type scanPage struct {
	keys []string
	next uint64
}
