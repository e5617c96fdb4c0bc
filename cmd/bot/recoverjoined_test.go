package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// failAtOnceLeases fails the leases named in fail, each with its error,
// once all of them are asked for: every app+env's recovery is under way
// when the first fails.
type failAtOnceLeases struct {
	deploy.Leaser
	fail  map[string]error
	mu    sync.Mutex
	asked int
	all   chan struct{}
}

func (l *failAtOnceLeases) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	err, ok := l.fail[key]
	if !ok {
		return l.Leaser.Acquire(ctx, key, holder, ttl)
	}
	l.mu.Lock()
	if l.asked++; l.asked == len(l.fail) {
		close(l.all)
	}
	l.mu.Unlock()
	select {
	case <-l.all:
	case <-time.After(10 * time.Second):
	}
	return nil, err
}

// TestRecoverAtStartSaysWhatFailedBesidesASkewedClock: start-up recovery
// lets a skewed clock's refusal pass (the replica starts, and says so),
// but not what fails besides it. The failures of several app+envs are
// joined, and the whole was tested for the skew: the recovery of one
// app+env refused for the clock while another's store read timed out
// started the bot as if only the clock were off, the timeout unsaid.
func TestRecoverAtStartSaysWhatFailedBesidesASkewedClock(t *testing.T) {
	skew := &errs.Error{Code: errs.Unavailable, Msg: "this replica's clock is 1m0s behind the state store's", Err: deploy.ErrClockSkew}
	timeout := errors.New("read lease: i/o timeout")
	for _, tt := range []struct {
		name    string
		fail    map[string]error // by lease key
		wantErr string           // "" for a start
	}{
		{"skew only", map[string]error{deploy.LeaseKey("web", "prod"): skew}, ""},
		{"skew and a timeout", map[string]error{deploy.LeaseKey("web", "prod"): skew, deploy.LeaseKey("api", "prod"): timeout}, "recover 20260101-000000-api: read lease: i/o timeout"},
		{"a timeout only", map[string]error{deploy.LeaseKey("api", "prod"): timeout}, "recover 20260101-000000-api: read lease: i/o timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "switchman.yaml")
			if err := os.WriteFile(p, []byte(alertYAML), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			st, err := embedded.Open(filepath.Join(dir, "recover.db"), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			for key := range tt.fail {
				app := strings.TrimSuffix(strings.TrimPrefix(key, "deploy:"), "/prod")
				if err := st.PutRecord(t.Context(), &deploy.Record{ID: "20260101-000000-" + app, Kind: deploy.KindDeploy, App: app, Env: "prod",
					Build: "2", Requester: "ana", Owner: "gone:1", Started: time.Now().Add(-time.Minute), Outcome: deploy.OutcomeRunning,
					Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating}}}); err != nil {
					t.Fatal(err)
				}
			}
			var logged syncbuf.Buffer
			log := slog.New(slog.NewTextHandler(&logged, nil))
			leases := &failAtOnceLeases{Leaser: st, fail: tt.fail, all: make(chan struct{})}
			sys := &system{cfg: cfg, log: log, engine: deploy.NewEngine(deploy.Options{Config: cfg, Store: st, Leases: leases, Locks: st, Log: log})}
			err = sys.recover(t.Context())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("recover: got %v, want nil (the replica starts)", err)
				}
				if got := logged.String(); !strings.Contains(got, "not recovered by this replica while its clock is off") {
					t.Errorf("log: got %q, want the warning that the clock keeps the runs unrecovered", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("recover: got %v, want a failure to start naming %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "clock") {
				t.Errorf("recover: got %q, want the skewed clock left to the store, which says it once", err)
			}
		})
	}
}
