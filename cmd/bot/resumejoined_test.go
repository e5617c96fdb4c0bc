package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// savedWatches lists the watches of runs 6 and 7 and keeps nothing else.
type savedWatches struct{}

func (savedWatches) PutWatch(context.Context, watchstore.Watch) error { return nil }
func (savedWatches) Watch(_ context.Context, id string) (watchstore.Watch, error) {
	return watchstore.Watch{}, fmt.Errorf("watch %s: %w", id, deploy.ErrNotFound)
}
func (savedWatches) Watches(context.Context) ([]watchstore.Watch, error) {
	return []watchstore.Watch{{ID: "6", App: "web", Env: "prod"}, {ID: "7", App: "web", Env: "prod"}}, nil
}
func (savedWatches) DeleteWatch(context.Context, string, int64) error { return nil }

// refusingLeases refuses the lease of run 6's watch for a skewed clock, as
// a Redis store does, and times out taking run 7's.
type refusingLeases struct{}

func (refusingLeases) Acquire(_ context.Context, key, _ string, _ time.Duration) (deploy.Lease, error) {
	if key == watchstore.LeaseKey("6") {
		return nil, &errs.Error{Code: errs.Unavailable, Msg: "the replica's clock is 1m off the state store's", Err: deploy.ErrClockSkew}
	}
	return nil, errors.New("acquire " + key + ": i/o timeout")
}
func (refusingLeases) Holder(context.Context, string) (string, error) { return "", nil }

// noHistory has no deploys.
type noHistory struct{}

func (noHistory) Records(context.Context, deploy.Filter) ([]*deploy.Record, error) { return nil, nil }
func (noHistory) Record(_ context.Context, id string) (*deploy.Record, error) {
	return nil, fmt.Errorf("record %s: %w", id, deploy.ErrNotFound)
}

// TestResumeWatchesSaysWhatFailedBesidesASkewedClock: a round of resuming
// error watches fails for one watch as the store refuses a skewed clock
// (which it says once itself) and for another as the store times out.
// The round's errors, joined, were tested whole for the skew, and the
// timeout went unsaid: the watch it left unresumed showed nowhere.
func TestResumeWatchesSaysWhatFailedBesidesASkewedClock(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(p, []byte(alertYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	var logged syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	sys := &system{cfg: cfg, log: log, watcher: postdeploy.New(postdeploy.Options{
		Config: cfg, Watches: savedWatches{}, Leases: refusingLeases{}, History: noHistory{}, LeaseTTL: time.Second, Log: log,
	})}
	sys.resumeWatches(t.Context(), 0)
	got := logged.String()
	if !strings.Contains(got, "resume error watches") || !strings.Contains(got, "take the watch of 7: acquire watch:7: i/o timeout") {
		t.Errorf("log: got %q, want a warning naming the watch of 7 and its timeout", got)
	}
	if strings.Contains(got, "clock") {
		t.Errorf("log: got %q, want the skewed clock left to the store, which says it once", got)
	}
}
