package train

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// departure is a train's departure lease, held by this replica for one
// departure: replicas sharing the store depart a train one at a time.
type departure struct {
	lease deploy.Lease // nil without Options.Leases
	ttl   time.Duration
	now   func() time.Time
	lost  atomic.Bool
	// reset is set, with lost, once a renewal found the store reset: the
	// lease went with its data, and the store refuses every call until
	// the bot restarts.
	reset atomic.Bool
	// renewed is when the lease was last taken or renewed (Unix ns):
	// when the call that took or renewed it was made, since the store
	// starts its TTL on receiving the call, which may answer late. A
	// store that cannot be reached for a TTL lets it run out unnoticed.
	renewed atomic.Int64
	stop    chan struct{}
	done    chan struct{}
	// early is set for a departure sent off early (DepartNow): its end
	// is recorded as KindEarlyEnded, not as a scheduled one's.
	early bool
}

// claim takes train name's departure lease, renewed until release. A
// lease another replica holds is an error wrapping deploy.ErrLeaseHeld.
// Without Options.Leases every claim succeeds.
func (s *Scheduler) claim(ctx context.Context, name string) (*departure, error) {
	d := &departure{stop: make(chan struct{}), done: make(chan struct{})}
	if s.leases == nil {
		close(d.done)
		return d, nil
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	d.now = s.leaseClock
	if d.now == nil {
		d.now = time.Now
	}
	taken := d.now()
	l, err := s.leases.Acquire(ctx, "train:"+name, "departure of "+name+" "+hex.EncodeToString(b[:]), s.leaseTTL)
	if err != nil {
		return nil, err
	}
	d.lease, d.ttl = l, s.leaseTTL
	d.renewed.Store(taken.UnixNano())
	go d.renew(s.leaseTTL, s.log.With("train", name))
	return d, nil
}

// renew renews the lease every third of ttl until release, and marks it
// lost once the store says another holds it or it ran out.
func (d *departure) renew(ttl time.Duration, log *slog.Logger) {
	defer close(d.done)
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), ttl/3)
		asked := d.now()
		err := d.lease.Renew(ctx)
		cancel()
		if errors.Is(err, deploy.ErrStoreReset) {
			// As lost: no renewal can bring it back, and waiting for it
			// to run out by this clock would ship cars meanwhile.
			log.Error("train: the state store was reset, so the departure lease is lost; no further car ships from this replica", "err", err)
			d.reset.Store(true)
			d.lost.Store(true)
			return
		}
		if errors.Is(err, deploy.ErrLeaseLost) {
			log.Error("train: departure lease lost; no further car ships from this replica", "err", err)
			d.lost.Store(true)
			return
		}
		if err != nil {
			log.Warn("train: renew departure lease", "err", err)
			continue
		}
		d.renewed.Store(asked.UnixNano())
	}
}

// held reports whether the lease is still this replica's, as far as its
// renewals know: not lost, and renewed within its TTL.
func (d *departure) held() bool {
	if d.lease == nil {
		return true
	}
	return !d.lost.Load() && d.now().Sub(time.Unix(0, d.renewed.Load())) < d.ttl
}

// whyNotHeld says why the cars left stay aboard once the lease is not held.
func (d *departure) whyNotHeld() string {
	if d.reset.Load() {
		return "the state store was reset, so this replica lost the train's departure lease: an admin must restart the bot"
	}
	return "this replica lost the train's departure lease, so another may depart it"
}

// release stops the renewals and gives the lease back.
func (d *departure) release() {
	if d.lease == nil {
		return
	}
	close(d.stop)
	<-d.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = d.lease.Release(ctx) // lost or expired: nothing to give back
}
