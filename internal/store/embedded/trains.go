package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

var _ trainstore.Store = (*Store)(nil)

var (
	// bucketTrains maps a train name to its cars, a JSON array in
	// boarding order. The buckets are created on first write, so files
	// written before trains existed open unchanged.
	bucketTrains = []byte("trains")
	// bucketTrainRuns maps train NUL kind to the time of the last run (timeKey).
	bucketTrainRuns = []byte("train_runs")
	// bucketTrainOff maps train NUL app to the car someone last took off
	// (trainstore.TakenOff), as JSON, until an end of a departure of the
	// train drops it (EndDeparture).
	bucketTrainOff = []byte("train_off")
)

func checkTrainName(op, name string) error {
	if name == "" || strings.ContainsRune(name, 0) {
		return errs.New(errs.Invalid, "%s: the train name must be non-empty and without NUL", op)
	}
	return nil
}

// readCars returns the cars of train name in b, which may be nil.
func readCars(b *bolt.Bucket, name string) ([]trainstore.Car, error) {
	if b == nil {
		return nil, nil
	}
	data := b.Get([]byte(name))
	if data == nil {
		return nil, nil
	}
	var cars []trainstore.Car
	if err := json.Unmarshal(data, &cars); err != nil {
		return nil, fmt.Errorf("decode cars of train %s: %w", name, err)
	}
	return cars, nil
}

// updateCars runs fn on the cars of train name in one transaction and
// stores what it returns.
func (s *Store) updateCars(ctx context.Context, name string, fn func(cars []trainstore.Car) ([]trainstore.Car, error)) error {
	return s.update(ctx, func(tx *bolt.Tx) error { return updateCarsTx(tx, name, fn) })
}

// updateCarsTx is updateCars within tx.
func updateCarsTx(tx *bolt.Tx, name string, fn func(cars []trainstore.Car) ([]trainstore.Car, error)) error {
	b, err := tx.CreateBucketIfNotExists(bucketTrains)
	if err != nil {
		return err
	}
	cars, err := readCars(b, name)
	if err != nil {
		return err
	}
	cars, err = fn(cars)
	if err != nil {
		return err
	}
	if len(cars) == 0 {
		return b.Delete([]byte(name))
	}
	data, err := json.Marshal(cars)
	if err != nil {
		return err
	}
	return b.Put([]byte(name), data)
}

// Board adds car at the end of the train, replacing (and returning) the
// car of the same app, which loses its place. A train of maxCars cars
// that count (maxCars > 0; see trainstore.Store) refuses a new app with an
// error of code errs.Conflict.
func (s *Store) Board(ctx context.Context, name string, car trainstore.Car, maxCars int, counts func(trainstore.Car) bool) (*trainstore.Car, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("board %s: %w", name, s.notBegun(ctx))
	}
	if err := checkTrainName("board", name); err != nil {
		return nil, err
	}
	if car.App == "" {
		return nil, errs.New(errs.Invalid, "board %s: the car has no app", name)
	}
	var replaced *trainstore.Car
	err := s.updateCars(ctx, name, func(cars []trainstore.Car) ([]trainstore.Car, error) {
		for i, c := range cars {
			if c.App == car.App {
				replaced = &c
				cars = append(cars[:i:i], cars[i+1:]...)
				break
			}
		}
		if n := trainstore.Counted(cars, counts); replaced == nil && maxCars > 0 && n >= maxCars {
			return nil, errs.New(errs.Conflict, "the %s train is full (%d cars)", name, n)
		}
		return append(cars, car), nil
	})
	if err != nil {
		return nil, fmt.Errorf("board %s: %w", name, err)
	}
	return replaced, nil
}

// Leave takes app's car off the train and returns it; an error wrapping
// deploy.ErrNotFound if it is not aboard. A car taken off by someone (by
// set) is recorded for TakenOff in the same transaction.
func (s *Store) Leave(ctx context.Context, name, app, by string, at time.Time) (trainstore.Car, error) {
	if ctx.Err() != nil {
		return trainstore.Car{}, fmt.Errorf("leave %s: %w", name, s.notBegun(ctx))
	}
	if err := checkTrainName("leave", name); err != nil {
		return trainstore.Car{}, err
	}
	var left *trainstore.Car
	err := s.update(ctx, func(tx *bolt.Tx) error {
		err := updateCarsTx(tx, name, func(cars []trainstore.Car) ([]trainstore.Car, error) {
			for i, c := range cars {
				if c.App == app {
					left = &c
					return append(cars[:i:i], cars[i+1:]...), nil
				}
			}
			return cars, nil
		})
		if err != nil || left == nil || by == "" {
			return err
		}
		data, err := json.Marshal(trainstore.TakenOff{Car: *left, By: by, At: at})
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketTrainOff)
		if err != nil {
			return err
		}
		return b.Put(offKey(name, app), data)
	})
	if err != nil {
		return trainstore.Car{}, fmt.Errorf("leave %s: %w", name, err)
	}
	if left == nil {
		return trainstore.Car{}, errs.Wrap(errs.NotFound, deploy.ErrNotFound, "%s is not aboard the %s train", app, name)
	}
	return *left, nil
}

func offKey(name, app string) []byte { return []byte(name + "\x00" + app) }

// TakenOff returns the car of app someone last took off the train, or
// the zero TakenOff: none was, a version that kept no record did, or the
// end of a departure dropped the record (EndDeparture).
func (s *Store) TakenOff(ctx context.Context, name, app string) (trainstore.TakenOff, error) {
	if err := ctx.Err(); err != nil {
		return trainstore.TakenOff{}, fmt.Errorf("taken off %s: %w", name, err)
	}
	var off trainstore.TakenOff
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTrainOff)
		if b == nil {
			return nil
		}
		data := b.Get(offKey(name, app))
		if data == nil {
			return nil
		}
		return json.Unmarshal(data, &off)
	})
	if err != nil {
		return trainstore.TakenOff{}, fmt.Errorf("taken off %s: %w", name, err)
	}
	return off, nil
}

// Cars returns the cars aboard, in boarding order.
func (s *Store) Cars(ctx context.Context, name string) ([]trainstore.Car, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list cars of %s: %w", name, err)
	}
	var cars []trainstore.Car
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		cars, err = readCars(tx.Bucket(bucketTrains), name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list cars of %s: %w", name, err)
	}
	return cars, nil
}

// ReturnCars puts cars back where they were (see trainstore.Returned):
// before the cars that stayed aboard behind them and those boarded since;
// a car whose app is aboard again, or repeated, is dropped.
func (s *Store) ReturnCars(ctx context.Context, name string, cars []trainstore.Car) error {
	if ctx.Err() != nil {
		return fmt.Errorf("return cars to %s: %w", name, s.notBegun(ctx))
	}
	if err := checkTrainName("return cars", name); err != nil {
		return err
	}
	if len(cars) == 0 {
		return nil
	}
	err := s.updateCars(ctx, name, func(aboard []trainstore.Car) ([]trainstore.Car, error) {
		return trainstore.Returned(aboard, cars), nil
	})
	if err != nil {
		return fmt.Errorf("return cars to %s: %w", name, err)
	}
	return nil
}

func runKey(name, kind string) []byte { return []byte(name + "\x00" + kind) }

// MarkRun records at as the last run of the train's event kind.
func (s *Store) MarkRun(ctx context.Context, name, kind string, at time.Time) error {
	if ctx.Err() != nil {
		return fmt.Errorf("mark %s %s: %w", name, kind, s.notBegun(ctx))
	}
	if err := checkTrainName("mark run", name); err != nil {
		return err
	}
	if strings.ContainsRune(kind, 0) {
		return errs.New(errs.Invalid, "mark run: the kind must not contain NUL")
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTrainRuns)
		if err != nil {
			return err
		}
		return b.Put(runKey(name, kind), timeKey(at, 0))
	})
	if err != nil {
		return fmt.Errorf("mark %s %s: %w", name, kind, err)
	}
	return nil
}

// LastRun returns the time MarkRun recorded last, or the zero time.
func (s *Store) LastRun(ctx context.Context, name, kind string) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, fmt.Errorf("last run of %s %s: %w", name, kind, err)
	}
	var at time.Time
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTrainRuns)
		if b == nil {
			return nil
		}
		v := b.Get(runKey(name, kind))
		if v == nil {
			return nil
		}
		if len(v) != timeKeyLen {
			return fmt.Errorf("malformed time %x", v)
		}
		at = parseTimeKey(v)
		return nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("last run of %s %s: %w", name, kind, err)
	}
	return at, nil
}

// kindCancelNote is the kind under which MarkCancel keeps who called the
// departure off and why, as JSON with the departure's time: a note whose
// time is not the one of KindCancel belongs to an earlier cancellation,
// replaced by a MarkRun of KindCancel alone (an older version's).
const kindCancelNote = "cancel-note"

// MarkCancel records c.At as the departure called off (KindCancel), with
// who called it off and why, in one transaction.
func (s *Store) MarkCancel(ctx context.Context, name string, c trainstore.Cancellation) error {
	if ctx.Err() != nil {
		return fmt.Errorf("mark %s cancel: %w", name, s.notBegun(ctx))
	}
	if err := checkTrainName("mark cancel", name); err != nil {
		return err
	}
	note, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("mark %s cancel: %w", name, err)
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTrainRuns)
		if err != nil {
			return err
		}
		if err := b.Put(runKey(name, trainstore.KindCancel), timeKey(c.At, 0)); err != nil {
			return err
		}
		return b.Put(runKey(name, kindCancelNote), note)
	})
	if err != nil {
		return fmt.Errorf("mark %s cancel: %w", name, err)
	}
	return nil
}

// LastCancel returns the departure called off last, with who called it
// off and why when MarkCancel recorded it.
func (s *Store) LastCancel(ctx context.Context, name string) (trainstore.Cancellation, error) {
	if err := ctx.Err(); err != nil {
		return trainstore.Cancellation{}, fmt.Errorf("last cancel of %s: %w", name, err)
	}
	var c trainstore.Cancellation
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTrainRuns)
		if b == nil {
			return nil
		}
		v := b.Get(runKey(name, trainstore.KindCancel))
		if v == nil {
			return nil
		}
		if len(v) != timeKeyLen {
			return fmt.Errorf("malformed time %x", v)
		}
		c.At = parseTimeKey(v)
		note := b.Get(runKey(name, kindCancelNote))
		if note == nil {
			return nil
		}
		var n trainstore.Cancellation
		if err := json.Unmarshal(note, &n); err != nil {
			return fmt.Errorf("decode cancel note: %w", err)
		}
		if n.At.Equal(c.At) {
			c.User, c.Reason = n.User, n.Reason
		}
		return nil
	})
	if err != nil {
		return trainstore.Cancellation{}, fmt.Errorf("last cancel of %s: %w", name, err)
	}
	return c, nil
}

// Trains returns the names of the trains with cars aboard, sorted: a
// train whose last car leaves is deleted (updateCars).
func (s *Store) Trains(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list trains: %w", err)
	}
	var names []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTrains)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			names = append(names, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list trains: %w", err)
	}
	return names, nil
}

// bucketTrainUnended maps train NUL departure ID to each departure
// StartDeparture recorded and EndDeparture has not ended, as JSON.
var bucketTrainUnended = []byte("train_unended")

func unendedKey(name string, d trainstore.Departure) []byte { return []byte(name + "\x00" + d.ID()) }

// readRun returns the time b, which may be nil, holds for train name's
// kind, or the zero time.
func readRun(b *bolt.Bucket, name, kind string) (time.Time, error) {
	if b == nil {
		return time.Time{}, nil
	}
	v := b.Get(runKey(name, kind))
	if v == nil {
		return time.Time{}, nil
	}
	if len(v) != timeKeyLen {
		return time.Time{}, fmt.Errorf("malformed time %x", v)
	}
	return parseTimeKey(v), nil
}

// oldUnended returns the departures of train name that the records of
// the old shape, one per kind in runs (which may be nil), leave unended.
func oldUnended(runs *bolt.Bucket, name string) ([]trainstore.Departure, error) {
	var t [4]time.Time
	for i, kind := range []string{trainstore.KindDeparture, trainstore.KindEnded, trainstore.KindEarly, trainstore.KindEarlyEnded} {
		var err error
		if t[i], err = readRun(runs, name, kind); err != nil {
			return nil, err
		}
	}
	return trainstore.OldUnended(t[0], t[1], t[2], t[3]), nil
}

// updateDeparture runs fn in one transaction with the train runs and
// the unended departures, once the departures the old-shape records
// leave unended are kept among the latter: fn's write of a record
// replaces the old shape's.
func (s *Store) updateDeparture(ctx context.Context, name string, fn func(runs, unended *bolt.Bucket) error) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		runs, err := tx.CreateBucketIfNotExists(bucketTrainRuns)
		if err != nil {
			return err
		}
		unended, err := tx.CreateBucketIfNotExists(bucketTrainUnended)
		if err != nil {
			return err
		}
		old, err := oldUnended(runs, name)
		if err != nil {
			return err
		}
		for _, d := range old {
			if unended.Get(unendedKey(name, d)) != nil {
				continue
			}
			data, err := json.Marshal(d)
			if err != nil {
				return err
			}
			if err := unended.Put(unendedKey(name, d), data); err != nil {
				return err
			}
		}
		return fn(runs, unended)
	})
}

func departureKinds(d trainstore.Departure) (run, ended string) {
	if d.Early {
		return trainstore.KindEarly, trainstore.KindEarlyEnded
	}
	return trainstore.KindDeparture, trainstore.KindEnded
}

// StartDeparture records d as leaving, and unended until EndDeparture.
func (s *Store) StartDeparture(ctx context.Context, name string, d trainstore.Departure) error {
	if ctx.Err() != nil {
		return fmt.Errorf("start departure %s of %s: %w", d.ID(), name, s.notBegun(ctx))
	}
	if err := checkTrainName("start departure", name); err != nil {
		return err
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("start departure %s of %s: %w", d.ID(), name, err)
	}
	run, _ := departureKinds(d)
	err = s.updateDeparture(ctx, name, func(runs, unended *bolt.Bucket) error {
		if err := runs.Put(runKey(name, run), timeKey(d.At, 0)); err != nil {
			return err
		}
		return unended.Put(unendedKey(name, d), data)
	})
	if err != nil {
		return fmt.Errorf("start departure %s of %s: %w", d.ID(), name, err)
	}
	return nil
}

// EndDeparture records d as ended: no longer unended, and the latest
// ended if none later is; the records of cars taken off made before
// the departures still running go with it (dropTakenOff).
func (s *Store) EndDeparture(ctx context.Context, name string, d trainstore.Departure) error {
	if ctx.Err() != nil {
		return fmt.Errorf("end departure %s of %s: %w", d.ID(), name, s.notBegun(ctx))
	}
	if err := checkTrainName("end departure", name); err != nil {
		return err
	}
	_, ended := departureKinds(d)
	err := s.updateDeparture(ctx, name, func(runs, unended *bolt.Bucket) error {
		if err := unended.Delete(unendedKey(name, d)); err != nil {
			return err
		}
		if err := dropTakenOff(runs.Tx(), unended, name, d); err != nil {
			return err
		}
		last, err := readRun(runs, name, ended)
		if err != nil || !last.Before(d.At) {
			return err
		}
		return runs.Put(runKey(name, ended), timeKey(d.At, 0))
	})
	if err != nil {
		return fmt.Errorf("end departure %s of %s: %w", d.ID(), name, err)
	}
	return nil
}

// dropTakenOff deletes, in tx, the records of cars taken off train name
// made before trainstore.OffCutoff of d and the departures unended
// holds for the train (d no longer among them). With an unended
// departure that cannot be read, whose time is unknown, none goes: the
// end is recorded all the same, as before records were dropped.
func dropTakenOff(tx *bolt.Tx, unended *bolt.Bucket, name string, d trainstore.Departure) error {
	off := tx.Bucket(bucketTrainOff)
	if off == nil {
		return nil
	}
	prefix := []byte(name + "\x00")
	var running []trainstore.Departure
	c := unended.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var u trainstore.Departure
		if err := json.Unmarshal(v, &u); err != nil {
			return nil
		}
		running = append(running, u)
	}
	cut := trainstore.OffCutoff(d, running)
	// Collected first: a bbolt cursor skips a key after a delete under it.
	var drop [][]byte
	c = off.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		// One that cannot be read says nobody anything: it goes too,
		// rather than keep every later departure from ending.
		var r trainstore.TakenOff
		if err := json.Unmarshal(v, &r); err != nil || r.At.Before(cut) {
			drop = append(drop, bytes.Clone(k))
		}
	}
	for _, k := range drop {
		if err := off.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// Unended returns the departures of the train started and not ended,
// with the one the old-shape records leave unended, in order.
func (s *Store) Unended(ctx context.Context, name string) ([]trainstore.Departure, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("unended departures of %s: %w", name, err)
	}
	var out []trainstore.Departure
	err := s.view(ctx, func(tx *bolt.Tx) error {
		seen := map[string]bool{}
		if b := tx.Bucket(bucketTrainUnended); b != nil {
			prefix := []byte(name + "\x00")
			c := b.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				var d trainstore.Departure
				if err := json.Unmarshal(v, &d); err != nil {
					return fmt.Errorf("decode departure %q: %w", k, err)
				}
				seen[d.ID()] = true
				out = append(out, d)
			}
		}
		old, err := oldUnended(tx.Bucket(bucketTrainRuns), name)
		if err != nil {
			return err
		}
		for _, d := range old {
			if !seen[d.ID()] {
				out = append(out, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("unended departures of %s: %w", name, err)
	}
	trainstore.SortDepartures(out)
	return out, nil
}
