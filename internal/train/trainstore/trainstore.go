// Package trainstore is what a state store keeps for deploy trains: the
// cars aboard and when each scheduled event last ran. It imports nothing of
// Switchman, so the stores implement Store without pulling in the train
// scheduler and the command layer behind it; package train uses these
// types under the same names.
package trainstore

import (
	"context"
	"time"
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
}

// Store keeps the cars aboard each train and when each scheduled event last
// ran. Trains are named; a train nobody boarded is empty. Implementations
// are safe for concurrent use, by several replicas where they share state,
// and keep this contract (storetest runs it against each).
type Store interface {
	// Board adds car at the end of the train. A train holds one car per
	// app: if car.App is aboard already, that car is taken off and
	// returned, and the new one goes to the end (boarding again loses the
	// old place). When maxCars > 0 and the train holds that many cars, a
	// new app is refused with an error of code errs.Conflict ("the daily
	// train is full (5 cars)"); replacing a car is still allowed.
	Board(ctx context.Context, train string, car Car, maxCars int) (replaced *Car, err error)
	// Leave takes app's car off the train and returns it; an error
	// wrapping deploy.ErrNotFound (code NotFound) if it is not aboard.
	Leave(ctx context.Context, train, app string) (Car, error)
	// Cars returns the cars aboard, in boarding order.
	Cars(ctx context.Context, train string) ([]Car, error)
	// ReturnCars puts cars back at the front of the train, in their order,
	// before the cars that boarded since they were taken off. A car whose app
	// is aboard again is dropped (the newer boarding replaces it, as in
	// Board), as is a second car of the same app. maxCars does not apply.
	ReturnCars(ctx context.Context, train string, cars []Car) error
	// MarkRun records at as the last time the event kind of the train ran
	// (for KindCancel: the departure called off), replacing the previous one.
	MarkRun(ctx context.Context, train, kind string, at time.Time) error
	// LastRun returns what MarkRun recorded last, or the zero time.
	LastRun(ctx context.Context, train, kind string) (time.Time, error)
}
