package train_test

import (
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/train"
)

// TestStoreRefusalSaysWhy: a train command refused by a read of the
// store, or by the train's lease, before it changed anything, says so
// with the store's own reason, as every other command does: a Redis at
// maxmemory refuses the MULTI each read is sent in. It gave that reason
// without "nothing was changed", which it gave only to a store it could
// not reach.
func TestStoreRefusalSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s *train.Scheduler) error
	}{
		{"list", func(t *testing.T, s *train.Scheduler) error { _, err := s.List(t.Context()); return err }},
		{"cancel", func(t *testing.T, s *train.Scheduler) error {
			_, err := s.Cancel(t.Context(), "ana", "daily", "release freeze")
			return err
		}},
		{"leave a train no longer in the config", func(t *testing.T, s *train.Scheduler) error {
			_, err := s.Leave(t.Context(), "ana", "nightly", "web")
			return err
		}},
		{"depart now", func(t *testing.T, s *train.Scheduler) error {
			_, err := s.DepartNow(t.Context(), "ana", "daily")
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, s := trainOnAFullStore(t)
			err := tc.run(t, s)
			want := "state store redis at " + srv.Addr() + " refuses writes: OOM command not allowed when used memory > 'maxmemory'.; nothing was changed"
			if got := errs.Message(err); got != want || errs.CodeOf(err) != errs.Unavailable {
				t.Errorf("got %q (code %s), want %q (code %s)", got, errs.CodeOf(err), want, errs.Unavailable)
			}
		})
	}
}

// TestDepartureRefusalSaysWhy: a departure that a Redis at maxmemory keeps
// from leaving says so in Redis's words, not that the store cannot be
// reached.
func TestDepartureRefusalSaysWhy(t *testing.T) {
	srv, s := trainOnAFullStore(t)
	sum := s.Depart(t.Context(), "daily", "")
	want := "could not leave: state store redis at " + srv.Addr() + " refuses writes: OOM command not allowed when used memory > 'maxmemory'. The cars stay aboard."
	if sum.Err == nil || !strings.HasSuffix(sum.Message.Title, want) {
		t.Errorf("got %q (%v), want it to end %q", sum.Message.Title, sum.Err, want)
	}
}

// trainOnAFullStore returns a scheduler whose Redis, web aboard the
// daily train, has reached maxmemory: it refuses every write and every
// read sent in a MULTI.
func trainOnAFullStore(t *testing.T) (*redisserver.Server, *train.Scheduler) {
	t.Helper()
	srv, st, cfg, board := leasedTrainWith(t, redis.Options{})
	board("web")
	s, err := train.New(train.Options{Config: cfg, Store: st, Runner: &countingRunner{}, Notifier: &posts{}, Audit: st, Leases: st, LeaseTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { rdb.Close() })
	if err := rdb.ConfigSet(t.Context(), "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	return srv, s
}
