// Package train runs deploy trains: every train announces its boarding and
// a reminder on cron schedules, people board builds of their apps, and at
// departure the cars ship in boarding order, each as a normal deploy that
// goes through the same gate as a typed command (permission, window, lock).
//
// The package knows no chat platform and no store implementation: it
// declares what it needs (Store, Runner, Gate, Notifier, Builds) and the
// embedded and Redis stores implement Store.
package train

import (
	"context"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
)

// Kinds of events, as MarkRun and LastRun name them.
const (
	KindBoarding  = "boarding"
	KindReminder  = "reminder"
	KindDeparture = "departure"
	// KindCancel records the scheduled departure that Cancel called off.
	KindCancel = "cancel"
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
	// TakeCars empties the train and returns its cars, in boarding order,
	// atomically: a car boarding meanwhile is either taken or stays.
	TakeCars(ctx context.Context, train string) ([]Car, error)
	// ReturnCars puts cars back at the front of the train, in their order,
	// before the cars that boarded since they were taken. A car whose app
	// is aboard again is dropped (the newer boarding replaces it, as in
	// Board), as is a second car of the same app. maxCars does not apply.
	ReturnCars(ctx context.Context, train string, cars []Car) error
	// MarkRun records at as the last time the event kind of the train ran
	// (for KindCancel: the departure called off), replacing the previous one.
	MarkRun(ctx context.Context, train, kind string, at time.Time) error
	// LastRun returns what MarkRun recorded last, or the zero time.
	LastRun(ctx context.Context, train, kind string) (time.Time, error)
}

// Runner runs one command as if a person typed it; *commands.Service
// implements it. The departure sends every car through it, so each deploy
// meets the same gate as a typed one.
type Runner interface {
	Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome
}

// Gate tells whether a deploy of app to env would be held back now, and
// why ("accounting/production is locked by @ana since 14:02: db
// maintenance", "production is frozen until 2 Jan: holidays"): active locks
// and the env's deploy window. The departure postpones such cars instead of
// letting them fail.
type Gate interface {
	Closed(ctx context.Context, app, env string) (reason string, closed bool)
}

// Notifier posts a message to a chat channel.
type Notifier interface {
	Post(ctx context.Context, channel string, msg chat.Message) error
}

// Builds tells whether a build of an app exists. Exists returns nil if it
// does; otherwise an error whose errs message is shown to the person
// boarding (one without a code is reported as "cannot check").
type Builds interface {
	Exists(ctx context.Context, app, build string) error
}
