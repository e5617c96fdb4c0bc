package deploy_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// cutOff is a transport whose hosts, once cut, answer no script: the
// connection to them is gone.
type cutOff struct {
	deploy.Transport
	mu  sync.Mutex
	cut map[string]bool
}

func (c *cutOff) set(host string, cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut[host] = cut
}

func (c *cutOff) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := c.Transport.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return &cutOffSession{Session: s, c: c, host: h.Name}, nil
}

type cutOffSession struct {
	deploy.Session
	c    *cutOff
	host string
}

func (s *cutOffSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	s.c.mu.Lock()
	cut := s.c.cut[s.host]
	s.c.mu.Unlock()
	if cut {
		return nil, errors.New("connection lost")
	}
	return s.Session.Run(ctx, cmd)
}

// cutAtDrainPool is a halfDrainPool that cuts its failing host off as its
// drain fails: nothing can be read there afterwards.
type cutAtDrainPool struct {
	halfDrainPool
	tr *cutOff
}

func (p *cutAtDrainPool) Drain(ctx context.Context, h deploy.Host) error {
	p.mu.Lock()
	fail := h.Name == p.fail
	p.mu.Unlock()
	if fail {
		p.tr.set(h.Name, true)
	}
	return p.halfDrainPool.Drain(ctx, h)
}

// TestFailedDrainOfAnUnreadHostIsPutBackNextRun: h1's drain fails after
// taking it out of rotation, it cannot be read afterwards, nor put back.
// Its switch never began, so `current` is where it was: the record says
// h1 was left out unswitched, and the next deploy, which fails before it
// reaches h1, puts it back all the same. Recorded as switching (what
// `current` was, once unread after a failed switch step, left it), h1 read
// as a host that run may have switched, which only a switch or a rollback
// puts back, and it stayed out.
func TestFailedDrainOfAnUnreadHostIsPutBackNextRun(t *testing.T) {
	pool := &cutAtDrainPool{halfDrainPool: halfDrainPool{fakePool: fakePool{state: map[string]string{}}}}
	f := newPoolFixtureWith(t, pool, func(o *deploy.Options) {
		// h1, cut off, fails its health check: see failingHealth.
		o.Config.Apps["web"].Health.Timeout = config.Duration(2 * time.Second)
		pool.tr = &cutOff{Transport: o.Transports["ssh"], cut: map[string]bool{}}
		o.Transports["ssh"] = pool.tr
	}, "h0", "h1")
	rec := f.deployThreeAfter(func() { pool.set("h1", "h1") })
	if rec.Outcome == deploy.OutcomeSucceeded {
		t.Fatalf("deploy of 3 succeeded with h1's drain failing")
	}
	if got := pool.get("h1"); got != "drain" {
		t.Fatalf("h1 is %q in the load balancer after its failed drain and ready; want drain", got)
	}
	stored, err := f.store.Record(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if hr := stored.Host("h1"); hr == nil || hr.MayHaveSwitched() || !hr.LeftOut || hr.Current != "2" {
		t.Errorf("h1 in the stored record of the deploy of 3: got %+v, want it on 2, left out, not switched", hr)
	}

	pool.set("", "")
	pool.tr.set("h1", false)
	// h0 fails its health check on 4: the deploy stops before h1.
	f.build("4", tarEntry{name: "BROKEN", body: "x"})
	rec = f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeReverted)
	if hr := rec.Host("h1"); hr == nil || hr.MayHaveSwitched() {
		t.Fatalf("h1 in the deploy of 4: got %+v, want it not switched", hr)
	}
	if got := pool.get("h1"); got != "ready" {
		t.Errorf("h1 is %q in the load balancer after the deploy of 4; want ready: the deploy of 3 left it out (record: %s)", got, rec.Error)
	}
}

// cutAtBackDrainPool is a backDrainPool that cuts a host off as a drain of
// it fails.
type cutAtBackDrainPool struct {
	backDrainPool
	tr *cutOff
}

func (p *cutAtBackDrainPool) Drain(ctx context.Context, h deploy.Host) error {
	err := p.backDrainPool.Drain(ctx, h)
	if err != nil {
		p.tr.set(h.Name, true)
	}
	return err
}

// TestFailedSwitchBackDrainOfAnUnreadHost: h0's drain for its switch back
// fails (h1 failed after its switch), and h0 cannot be read afterwards.
// Its switch back never began: its record says it is on 3, not "3 or 2".
func TestFailedSwitchBackDrainOfAnUnreadHost(t *testing.T) {
	pool := &cutAtBackDrainPool{backDrainPool: backDrainPool{fakePool: fakePool{state: map[string]string{}}}}
	f := newPoolFixtureWith(t, pool, func(o *deploy.Options) {
		pool.tr = &cutOff{Transport: o.Transports["ssh"], cut: map[string]bool{}}
		o.Transports["ssh"] = pool.tr
	}, "h0", "h1")
	rec := f.deployThreeAfter(func() { pool.arm("h0", "h1") })
	if rec.Outcome == deploy.OutcomeSucceeded {
		t.Fatalf("deploy of 3 succeeded with h1 failing to come up")
	}
	stored, err := f.store.Record(context.Background(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if hr := stored.Host("h0"); hr == nil || hr.State != deploy.HostFailed || hr.Switching != "" || hr.Release() != "3" {
		t.Errorf("h0 in the stored record of the deploy of 3: got %+v, want it failed on 3, not switching", hr)
	}
}
