package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// failingRecoverer fails every Recover with err, and calls stop at the
// second: the first round, and what it logged, is over by then.
type failingRecoverer struct {
	err   error
	stop  context.CancelFunc
	calls atomic.Int32
}

func (f *failingRecoverer) Recover(context.Context) ([]*deploy.Record, error) {
	if f.calls.Add(1) == 2 {
		f.stop()
	}
	return nil, f.err
}

// TestWatchInterruptedSaysWhatFailedBesidesASkewedClock: a round of the
// look-out for dead replicas' deploys fails for a skewed clock, said once
// by the store, and for something else. Tested whole for the skew, the
// round's error was dropped, the other failure unsaid with it.
func TestWatchInterruptedSaysWhatFailedBesidesASkewedClock(t *testing.T) {
	skew := &errs.Error{Code: errs.Unavailable, Msg: "clock off by 1m", Err: deploy.ErrClockSkew}
	other := errors.New("read deploy 7: i/o timeout")
	for _, tt := range []struct {
		name string
		err  error
		want string // in the log; "" for nothing logged
	}{
		{"skew only", fmt.Errorf("recover 6: %w", skew), ""},
		{"skew and another", errors.Join(fmt.Errorf("recover 6: %w", skew), fmt.Errorf("recover 7: %w", other)), "recover 7: read deploy 7: i/o timeout"},
		{"another, wrapped with the skew", fmt.Errorf("recover: %w", errors.Join(skew, other)), "read deploy 7: i/o timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var log syncbuf.Buffer
			const interval = 5 * time.Millisecond
			// Stopped once a round is over, not after a few intervals: on
			// a loaded machine, none may have started by then.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			WatchInterrupted(ctx, &failingRecoverer{err: tt.err, stop: cancel}, interval, slog.New(slog.NewTextHandler(&log, nil)), func(*deploy.Record) {})
			if !errors.Is(ctx.Err(), context.Canceled) {
				t.Fatalf("no second round within 30s: %v", ctx.Err())
			}
			got := log.String()
			if tt.want == "" {
				if got != "" {
					t.Errorf("log: got %q, want nothing (the store says a skewed clock)", got)
				}
				return
			}
			if !strings.Contains(got, "look for interrupted deploys") || !strings.Contains(got, tt.want) {
				t.Errorf("log: got %q, want a warning naming %q", got, tt.want)
			}
			if strings.Contains(got, "recover 6") && !strings.Contains(tt.name, "wrapped") {
				t.Errorf("log: got %q, want the skewed clock left to the store", got)
			}
		})
	}
}
