// Package train runs deploy trains: every train announces its boarding and
// a reminder on cron schedules, people board builds of their apps, and at
// departure the cars ship in boarding order, each as a normal deploy that
// goes through the same gate as a typed command (permission, window, lock).
//
// The package knows no chat platform and no store implementation: it
// declares what it needs (Store, Runner, Gate, Notifier, Builds) and the
// embedded and Redis stores implement Store, which package trainstore
// defines so that they need not import this one.
package train

import (
	"context"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

// Kinds of events, as MarkRun and LastRun name them.
const (
	KindBoarding  = trainstore.KindBoarding
	KindReminder  = trainstore.KindReminder
	KindDeparture = trainstore.KindDeparture
	KindCancel    = trainstore.KindCancel
	KindWaiting   = trainstore.KindWaiting

	KindCancelAnnounced = trainstore.KindCancelAnnounced
	KindEnded           = trainstore.KindEnded
	KindEarly           = trainstore.KindEarly
	KindEarlyEnded      = trainstore.KindEarlyEnded
)

// Car is one app's build aboard a train.
type Car = trainstore.Car

// TakenOff is a car someone took off a train, by whom and when.
type TakenOff = trainstore.TakenOff

// Cancellation is a departure called off, by whom and why.
type Cancellation = trainstore.Cancellation

// Departure is one departure recorded as leaving, until it ends.
type Departure = trainstore.Departure

// Store keeps the cars aboard each train and when each scheduled event last
// ran; see trainstore.Store for the contract.
type Store = trainstore.Store

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
// letting them fail. user boarded the car: a lock does not hold back its
// owner's deploys.
//
// Locked, asked at boarding, tells whether a lock in force now that user
// does not own covers app/env and is still in force at until (the
// departure), and describes it ("locked by ana since …: db move").
//
// Forbidden tells whether user may not deploy app to env at at, by the
// config's roles and the runtime grants in force then, and why: asked at
// boarding of the departure, whose deploy of the car as user is refused
// then, and at the departure of now, when such a car is not held back by
// Closed but refused for the permission, as a typed deploy is.
type Gate interface {
	Closed(ctx context.Context, app, env, user string) (reason string, closed bool)
	// Held is Closed for a car held back before its deploy is asked
	// for, which the gate counts as a refused deploy.
	Held(ctx context.Context, app, env, user string) (reason string, held bool)
	Locked(ctx context.Context, app, env, user string, until time.Time) (reason string, locked bool)
	Forbidden(ctx context.Context, app, env, user string, at time.Time) (reason string, forbidden bool)
}

// Auditor appends to the audit log: cars a departure holds back, and what
// became of each scheduled departure.
type Auditor interface {
	AppendAudit(ctx context.Context, e *audit.Entry) error
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
