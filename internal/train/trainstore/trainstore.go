// Package trainstore is what a state store keeps for deploy trains: the
// cars aboard and when each scheduled event last ran. It imports nothing of
// Switchman but the leaf package jsonkeep, so the stores implement Store
// without pulling in the train scheduler and the command layer behind it;
// package train uses these types under the same names.
package trainstore

import (
	"context"
	"slices"
	"time"

	"github.com/switchman-bot/switchman/internal/jsonkeep"
)

// Kinds of events, as MarkRun and LastRun name them.
const (
	KindBoarding  = "boarding"
	KindReminder  = "reminder"
	KindDeparture = "departure"
	// KindCancel records the scheduled departure that was called off.
	KindCancel = "cancel"
	// KindWaiting records the scheduled departure that is due and waits
	// for another departure of the train to end; the zero time once it
	// has stopped waiting. Cancel may still call it off meanwhile.
	KindWaiting = "waiting"
	// KindCancelAnnounced records the cancelled departure whose
	// cancellation was announced in the train's channels.
	KindCancelAnnounced = "cancel-announced"
	// KindEnded records the latest scheduled departure whose outcome
	// was written to the audit log (EndDeparture); each departure never
	// ended keeps its own record (Unended). Versions before those kept
	// this and KindDeparture alone: a scheduled departure recorded as
	// run after it never ended, the bot having died during it.
	KindEnded = "ended"
	// KindEarly records the last departure sent off early (train depart
	// now), by when it was, as it leaves (StartDeparture); KindEarlyEnded
	// records the latest one ended, as KindEnded does for the scheduled
	// ones.
	KindEarly      = "early"
	KindEarlyEnded = "early-ended"
)

// Car is one app's build aboard a train.
type Car struct {
	App   string `json:"app"`
	Build string `json:"build"`
	Env   string `json:"env"`
	// User boarded the car; the departure deploys it as that user, so
	// their permission is checked again then.
	User    string    `json:"user"`
	Boarded time.Time `json:"boarded"`

	// unknown holds what a newer version wrote of the car, for a store
	// that writes the train's cars again (another boarding, cars put
	// back) to keep.
	unknown jsonkeep.Unknown
}

// carJSON is Car without its JSON methods.
type carJSON Car

// UnmarshalJSON decodes c, keeping the members it does not know.
func (c *Car) UnmarshalJSON(data []byte) error {
	u, err := jsonkeep.Decode(data, (*carJSON)(c))
	c.unknown = u
	return err
}

// MarshalJSON encodes c with the members a newer version wrote.
func (c Car) MarshalJSON() ([]byte, error) { return jsonkeep.Encode(carJSON(c), c.unknown) }

// Store keeps the cars aboard each train and when each scheduled event last
// ran. Trains are named; a train nobody boarded is empty. Implementations
// are safe for concurrent use, by several replicas where they share state,
// and keep this contract (storetest runs it against each).
type Store interface {
	// Board adds car at the end of the train. A train holds one car per
	// app: if car.App is aboard already, that car is taken off and
	// returned, and the new one goes to the end (boarding again loses the
	// old place). When maxCars > 0 and the train holds that many cars
	// that count, a new app is refused with an error of code
	// errs.Conflict that gives their number ("the daily train is full (5
	// cars)"); replacing a car is still allowed. A car counts if counts
	// reports true of it, or counts is nil: the caller leaves out the
	// cars that can never leave, which take no place of one that can.
	Board(ctx context.Context, train string, car Car, maxCars int, counts func(Car) bool) (replaced *Car, err error)
	// Leave takes app's car off the train and returns it; an error
	// wrapping deploy.ErrNotFound (code NotFound) if it is not aboard.
	// A car taken off by someone (by set: train leave, not a departure
	// taking it for its turn) is recorded with by and at, in the same
	// write, for TakenOff to return.
	Leave(ctx context.Context, train, app, by string, at time.Time) (Car, error)
	// TakenOff returns the last car of app that Leave took off the train
	// for someone, with who and when; the zero TakenOff if none was
	// recorded (a store written by a version that kept no record), or
	// the record was dropped as its train's departures ended (see
	// EndDeparture).
	TakenOff(ctx context.Context, train, app string) (TakenOff, error)
	// Cars returns the cars aboard, in boarding order.
	Cars(ctx context.Context, train string) ([]Car, error)
	// ReturnCars puts cars taken off the train back where they were, in
	// their order: each before the first car aboard that boarded after it
	// (one a departure held back where it was, or one boarded since), as
	// Returned orders them. A car whose app is aboard again is dropped (the
	// newer boarding replaces it, as in Board), as is a second car of the
	// same app. maxCars does not apply.
	ReturnCars(ctx context.Context, train string, cars []Car) error
	// MarkRun records at as the last time the event kind of the train ran
	// (for KindCancel: the departure called off), replacing the previous one.
	MarkRun(ctx context.Context, train, kind string, at time.Time) error
	// LastRun returns what MarkRun recorded last, or the zero time.
	LastRun(ctx context.Context, train, kind string) (time.Time, error)
	// MarkCancel records c.At as the departure of the train called off,
	// as MarkRun of KindCancel does (LastRun of KindCancel returns it),
	// with who called it off and why, in the same write: a cancel said
	// again after a lost reply announces the one that took effect.
	MarkCancel(ctx context.Context, train string, c Cancellation) error
	// LastCancel returns the departure called off last, with what
	// MarkCancel recorded with it: no User and Reason for one MarkRun
	// of KindCancel recorded (as versions before MarkCancel did). The
	// zero Cancellation if none was.
	LastCancel(ctx context.Context, train string) (Cancellation, error)
	// StartDeparture records d as leaving: LastRun of KindDeparture (of
	// KindEarly for one sent off early) returns d.At, and Unended lists
	// d until EndDeparture. A departure unended in the old shape (see
	// Unended) stays unended, in the same write.
	StartDeparture(ctx context.Context, train string, d Departure) error
	// EndDeparture records d's outcome as written: Unended no longer
	// lists it, and LastRun of KindEnded (KindEarlyEnded) returns the
	// latest departure ended, d.At or a later one ended before it. Every
	// other departure keeps its own record: ends never replace one
	// another. Ending a departure never started (one that did not run)
	// is no error.
	//
	// In the same write it drops the train's records of cars taken off
	// (TakenOff) made before d.At and before the At of every departure
	// of the train still unended: only a departure running as a car is
	// taken off reads its record, for its summary, and those run from
	// their At on, so a record made earlier is read by none. Kept, one
	// record for every app ever taken off every train would stay for
	// good. A record made since is kept, for a departure running beside
	// this one (one that outwaited another, or a scheduled one
	// outwaited by one sent off early), until a later end drops it.
	EndDeparture(ctx context.Context, train string, d Departure) error
	// Unended returns the departures of the train started and never
	// ended, in the order of Less: the bot died during them, or before
	// they began, or a replica is running them. A store written before
	// StartDeparture kept one record per kind: a KindDeparture newer than
	// a KindEnded (one recorded: none recorded is a version that kept no
	// ends), or a KindEarly newer than KindEarlyEnded, is one unended
	// departure (OldUnended).
	Unended(ctx context.Context, train string) ([]Departure, error)
	// Trains returns the names of the trains with cars aboard, sorted,
	// whether the config has them or not: the cars of a train removed
	// from it, or renamed, are found there.
	Trains(ctx context.Context) ([]string, error)
}

// TakenOff is a car someone took off a train (train leave): a departure
// that finds the car gone says who took it off.
type TakenOff struct {
	Car Car       `json:"car"`
	By  string    `json:"by"`
	At  time.Time `json:"at"`
}

// OffCutoff is the time before which the records of cars taken off a
// train are dropped as departure d ends (see Store.EndDeparture), the
// train's other unended departures being unended: d.At, or the At of the
// earliest of those before it.
func OffCutoff(d Departure, unended []Departure) time.Time {
	cut := d.At
	for _, u := range unended {
		if u.ID() != d.ID() && u.At.Before(cut) {
			cut = u.At
		}
	}
	return cut
}

// Cancellation is a departure called off, by whom and why.
type Cancellation struct {
	At     time.Time `json:"at"`
	User   string    `json:"user"`
	Reason string    `json:"reason"`
}

// Departure is one departure of a train recorded as leaving: a
// scheduled one, by its time, or one sent off early (train depart now),
// by when it was.
type Departure struct {
	At    time.Time `json:"at"`
	Early bool      `json:"early,omitempty"`
}

// ID names d among the departures of its train: one at a time per kind,
// the scheduled ones by their schedule, the early ones by the clock.
func (d Departure) ID() string {
	kind := KindDeparture
	if d.Early {
		kind = KindEarly
	}
	return kind + "@" + d.At.UTC().Format(time.RFC3339Nano)
}

// Less orders departures by time, a scheduled one before one sent off
// early at the same instant.
func (d Departure) Less(e Departure) bool {
	if !d.At.Equal(e.At) {
		return d.At.Before(e.At)
	}
	return !d.Early && e.Early
}

// SortDepartures sorts ds in the order of Less.
func SortDepartures(ds []Departure) {
	slices.SortFunc(ds, func(a, b Departure) int {
		switch {
		case a.Less(b):
			return -1
		case b.Less(a):
			return 1
		}
		return 0
	})
}

// OldUnended returns the departures that records of the old shape, one
// per kind, leave unended: dep, the last scheduled departure, if ended,
// the last one ended, was recorded and is before it; early, the last one
// sent off early, if earlyEnded is before it.
func OldUnended(dep, ended, early, earlyEnded time.Time) []Departure {
	var out []Departure
	if !dep.IsZero() && !ended.IsZero() && ended.Before(dep) {
		out = append(out, Departure{At: dep})
	}
	if !early.IsZero() && earlyEnded.Before(early) {
		out = append(out, Departure{At: early, Early: true})
	}
	return out
}

// Returned is the train aboard (in boarding order) with cars put back,
// as ReturnCars leaves it: each car of back whose app is neither aboard
// nor met before in back goes before the first car aboard that boarded
// after it, so that a car put back keeps its place before a car that
// stayed aboard behind it (held back at the start of a departure) and
// before the cars boarded since it was taken off. The order within
// aboard and within back is kept.
func Returned(aboard, back []Car) []Car {
	seen := make(map[string]bool, len(aboard)+len(back))
	for _, c := range aboard {
		seen[c.App] = true
	}
	out := make([]Car, 0, len(aboard)+len(back))
	i := 0
	for _, c := range back {
		if seen[c.App] {
			continue
		}
		seen[c.App] = true
		for i < len(aboard) && !aboard[i].Boarded.After(c.Boarded) {
			out = append(out, aboard[i])
			i++
		}
		out = append(out, c)
	}
	return append(out, aboard[i:]...)
}

// Counted returns how many of cars count towards a train's maxCars, as
// Board counts them: those counts reports true of, or all if it is nil.
func Counted(cars []Car, counts func(Car) bool) int {
	if counts == nil {
		return len(cars)
	}
	n := 0
	for _, c := range cars {
		if counts(c) {
			n++
		}
	}
	return n
}
