package embedded

import (
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
	return s.update(ctx, func(tx *bolt.Tx) error {
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
	})
}

// Board adds car at the end of the train, replacing (and returning) the
// car of the same app, which loses its place. A train of maxCars cars
// that count (maxCars > 0; see trainstore.Store) refuses a new app with an
// error of code errs.Conflict.
func (s *Store) Board(ctx context.Context, name string, car trainstore.Car, maxCars int, counts func(trainstore.Car) bool) (*trainstore.Car, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("board %s: %w", name, err)
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
// deploy.ErrNotFound if it is not aboard.
func (s *Store) Leave(ctx context.Context, name, app string) (trainstore.Car, error) {
	if err := ctx.Err(); err != nil {
		return trainstore.Car{}, fmt.Errorf("leave %s: %w", name, err)
	}
	if err := checkTrainName("leave", name); err != nil {
		return trainstore.Car{}, err
	}
	var left *trainstore.Car
	err := s.updateCars(ctx, name, func(cars []trainstore.Car) ([]trainstore.Car, error) {
		for i, c := range cars {
			if c.App == app {
				left = &c
				return append(cars[:i:i], cars[i+1:]...), nil
			}
		}
		return cars, nil
	})
	if err != nil {
		return trainstore.Car{}, fmt.Errorf("leave %s: %w", name, err)
	}
	if left == nil {
		return trainstore.Car{}, errs.Wrap(errs.NotFound, deploy.ErrNotFound, "%s is not aboard the %s train", app, name)
	}
	return *left, nil
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
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("return cars to %s: %w", name, err)
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
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mark %s %s: %w", name, kind, err)
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
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mark %s cancel: %w", name, err)
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
