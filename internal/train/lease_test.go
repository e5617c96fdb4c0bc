package train

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// flakyLease renews while ok, else fails as an unreachable store does.
type flakyLease struct {
	deploy.Lease
	ok atomic.Bool
}

func (l *flakyLease) Renew(context.Context) error {
	if l.ok.Load() {
		return nil
	}
	return errors.New("connection refused")
}

func (l *flakyLease) Release(context.Context) error { return nil }

// TestDepartureLeaseUnrenewed: a departure lease whose renewals fail for
// its TTL (the store unreachable) has run out, though no renewal said it
// was lost: another replica may hold it by then.
func TestDepartureLeaseUnrenewed(t *testing.T) {
	const ttl = time.Second
	l := &flakyLease{}
	l.ok.Store(true)
	d := &departure{lease: l, ttl: ttl, stop: make(chan struct{}), done: make(chan struct{})}
	d.renewed.Store(time.Now().UnixNano())
	go d.renew(ttl, slog.New(slog.DiscardHandler))
	defer d.release()
	time.Sleep(3 * ttl / 2)
	if !d.held() {
		t.Fatal("a lease renewed every third of its TTL: not held")
	}
	l.ok.Store(false)
	time.Sleep(2 * ttl)
	if d.held() {
		t.Error("a lease not renewed for twice its TTL: still held")
	}
}
