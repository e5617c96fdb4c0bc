// Package watchstore is what a state store keeps of the error watches
// after deploys: each watch that runs, and how far it got, so that a bot
// that stops mid-watch (redeployed, its host rebooted, a replica lost) is
// followed by one that goes on with it. It imports nothing of Switchman,
// so the stores implement Store without pulling in the Sentry client and
// the command layer behind package postdeploy.
package watchstore

import "context"

// LeaseKey is the lease the bot running the watch of run id holds: one
// replica runs a watch, and the lease's fencing tokens fence the writes of
// its Watch.
func LeaseKey(id string) string { return "watch:" + id }

// Watch is one running watch as a store keeps it.
type Watch struct {
	// ID is the watched run's id: its deploy record's. It holds no NUL.
	ID string `json:"id"`
	// App and Env are the watched run's, for people reading the store.
	App string `json:"app"`
	Env string `json:"env"`
	// Fence is the fencing token of the writer's lease of LeaseKey(ID).
	Fence int64 `json:"fence"`
	// State is the watch itself, which the store keeps as it is.
	State []byte `json:"state"`
}

// Store keeps the running watches. Implementations are safe for concurrent
// use, by several replicas where they share state, and keep this contract
// (storetest runs it against each).
type Store interface {
	// PutWatch creates or replaces the watch of w.ID. It refuses, with an
	// error wrapping deploy.ErrLeaseLost (code errs.Conflict), a write
	// whose Fence is lower than the newest token handed out for
	// LeaseKey(w.ID), or than the stored watch's: from the moment another
	// bot takes the lease over, what it read of the watch stays.
	PutWatch(ctx context.Context, w Watch) error
	// Watch returns the watch of run id, or an error wrapping
	// deploy.ErrNotFound (code errs.NotFound).
	Watch(ctx context.Context, id string) (Watch, error)
	// Watches returns every watch kept, by ID.
	Watches(ctx context.Context) ([]Watch, error)
	// DeleteWatch removes the watch of run id, fenced as PutWatch is
	// with fence. Deleting a watch that is not there is not an error.
	DeleteWatch(ctx context.Context, id string, fence int64) error
}
