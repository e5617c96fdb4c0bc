package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// failingRecoverer fails every Recover with err.
type failingRecoverer struct{ err error }

func (f failingRecoverer) Recover(context.Context) ([]*deploy.Record, error) { return nil, f.err }

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
			ctx, cancel := context.WithTimeout(t.Context(), 3*interval)
			defer cancel()
			WatchInterrupted(ctx, failingRecoverer{tt.err}, interval, slog.New(slog.NewTextHandler(&log, nil)), func(*deploy.Record) {})
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
