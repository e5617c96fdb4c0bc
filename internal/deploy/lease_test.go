package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// stealable hands out leases that another replica can be made to take
// over: from then on they fail their checks and renewals, as a Redis lease
// that ran out does. Frozen ones go on believing they are held without
// renewing: a replica paused past its TTL (a stopped VM, a long
// collection) does not know its lease ran out until the store tells it.
// Unrenewed ones fail their renewals, as a store too slow to answer does,
// while their checks still find them held, as a store whose clock is
// behind this replica's, or whose expiry ran from a later instant than
// the renewal's start, does for a while: by this replica's clock the
// lease runs out first. Once stealAfterCheck is set, the next check that
// finds a lease held is the last: another replica takes it right after.
type stealable struct {
	deploy.Leaser
	stolen, frozen, unrenewed, stealAfterCheck atomic.Bool
	// refused counts the checks and renewals that found a lease stolen.
	refused atomic.Int32
}

func (s *stealable) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	l, err := s.Leaser.Acquire(ctx, key, holder, ttl)
	if err != nil {
		return nil, err
	}
	return &stealableLease{Lease: l, s: s}, nil
}

type stealableLease struct {
	deploy.Lease
	s *stealable
}

func (l *stealableLease) lost() error {
	if l.s.stolen.Load() {
		l.s.refused.Add(1)
		return fmt.Errorf("%w: another replica holds it", deploy.ErrLeaseLost)
	}
	return nil
}

func (l *stealableLease) Check(ctx context.Context) error {
	if l.s.frozen.Load() || l.s.unrenewed.Load() {
		return nil
	}
	if err := l.lost(); err != nil {
		return err
	}
	err := l.Lease.Check(ctx)
	if err == nil && l.s.stealAfterCheck.Load() {
		l.s.stolen.Store(true)
	}
	return err
}

func (l *stealableLease) Renew(ctx context.Context) error {
	if l.s.frozen.Load() {
		return nil
	}
	if l.s.unrenewed.Load() {
		return errors.New("renew lease: read tcp 127.0.0.1:50122->127.0.0.1:6379: i/o timeout")
	}
	if err := l.lost(); err != nil {
		return err
	}
	return l.Lease.Renew(ctx)
}

// stealTTL is the lease TTL of the tests that take a lease away at the
// moment they choose (stolen, or run out in the store by passInStore):
// long enough that the deploys they run first keep their leases on a
// machine loaded enough to hold up the renewals for a few hundred
// milliseconds (a 300 ms TTL ran out so); short enough that a renewal,
// every third of it, soon finds a stolen lease.
const stealTTL = 2 * time.Second

// newStealableFixtureTTL is a fixture whose leases, of ttl, a test can
// have taken by another replica (stolen).
func newStealableFixtureTTL(t *testing.T, yaml string, ttl time.Duration) (*fixture, *stealable) {
	t.Helper()
	var leases *stealable
	f := newFixtureWith(t, yaml, func(o *deploy.Options) {
		leases = &stealable{Leaser: o.Leases}
		o.Leases = leases
		o.LeaseTTL = ttl
	})
	return f, leases
}

// TestLeaseLostBeforeSwitch checks that a deploy whose lease is lost before
// any host switched ends interrupted, as the replica that takes over
// records it, not failed: nobody is told a deploy failed that another
// replica may still be finishing or reporting.
func TestLeaseLostBeforeSwitch(t *testing.T) {
	f, leases := newStealableFixtureTTL(t, askingYAML("true", "1m"), stealTTL)
	f.build("1")
	d := f.deployAsking(t, "1")
	leases.stolen.Store(true)
	var rec *deploy.Record
	select {
	case rec = <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the deploy did not stop after losing its lease")
	}
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
		t.Errorf("got outcome %s, error %q; want interrupted, saying the lease was lost", rec.Outcome, rec.Error)
	}
	if f.exists("current") {
		t.Error("current exists: a host switched after the lease was lost")
	}
}

// TestLeaseLostDuringActivation: a lease lost while a host restarts
// surfaces as that host's failed health check; the host is not switched
// back (another replica's call by then), and the deploy is interrupted.
func TestLeaseLostDuringActivation(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	f, leases := newStealableFixtureTTL(t, failingHealth(fmt.Sprintf(fixtureYAML, gatedRestart(gate))), stealTTL)
	f.build("1")
	f.build("2", tarEntry{name: "BROKEN", body: "x"})
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)

	done := f.deployUntilRestart("2")
	leases.stolen.Store(true) // another replica holds web/prod now
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := <-done
	wantLeftToLeaseHolder(t, f, rec)
}

// TestRecoveredRecordFencesTheStaleOwner: a replica paused past its
// lease's TTL finds, when it wakes, that another replica has recovered
// its deploy. Its writes no longer replace the record recovery wrote, and
// it stops as interrupted instead of reporting a success nobody recorded.
func TestRecoveredRecordFencesTheStaleOwner(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	f, leases := newStealableFixtureTTL(t, fmt.Sprintf(fixtureYAML, gatedRestart(gate)), stealTTL)
	done := f.deployTwoUntilRestart()
	leases.frozen.Store(true) // the replica stops renewing, unaware
	f.passInStore(stealTTL)   // and its lease runs out
	recovered := f.recoverOnOther(t, &local.Transport{}, stealTTL)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rec := <-done
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
		t.Errorf("stale replica: got %s (%s), want interrupted by the lost lease", rec.Outcome, rec.Error)
	}
	stored, err := f.store.Record(t.Context(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Outcome != deploy.OutcomeInterrupted || !strings.Contains(stored.Error, "stopped before it finished") {
		t.Errorf("stored record: got %s (%s), want recovery's account", stored.Outcome, stored.Error)
	}
	if stored.Fence != recovered[0].Fence || stored.Fence <= rec.Fence {
		t.Errorf("stored fence %d: want recovery's %d, above the deploy's %d", stored.Fence, recovered[0].Fence, rec.Fence)
	}
}

// observing is a transport whose first Open runs hook first: a
// recovery observes the hosts (seconds over SSH) once it holds the lease
// and has read the record.
type observing struct {
	deploy.Transport
	once sync.Once
	hook func()
}

func (o *observing) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	o.once.Do(o.hook)
	return o.Transport.Open(ctx, h)
}

// TestOldHolderFencedFromTheTakeOver: the replica whose lease ran out
// wakes while another replica's recovery, which has taken the lease,
// observes the hosts, and finishes its deploy. Its writes are refused
// from the moment recovery took the lease, not only once recovery's own
// write lands: it ends as having lost the lease, and the record is
// recovery's account, built on every host state the old holder wrote
// before (the host it switched), not one replaced by a copy read before
// the old holder's last writes.
func TestOldHolderFencedFromTheTakeOver(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	f, leases := newStealableFixtureTTL(t, fmt.Sprintf(fixtureYAML, gatedRestart(gate)), stealTTL)
	done := f.deployTwoUntilRestart()
	leases.frozen.Store(true) // the replica stops renewing, unaware
	f.passInStore(stealTTL)   // and its lease runs out
	var stale *deploy.Record
	tr := &observing{Transport: &local.Transport{}, hook: func() {
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Error(err)
		}
		select {
		case stale = <-done:
		case <-time.After(10 * time.Second):
			t.Error("the old holder did not finish while recovery observed the hosts")
		}
	}}
	recovered := f.recoverOnOther(t, tr, stealTTL)
	if stale == nil {
		t.Fatal("recovery never observed the hosts")
	}
	if stale.Outcome != deploy.OutcomeInterrupted || !strings.Contains(stale.Error, "lost the deploy lease") {
		t.Errorf("old holder: got %s (%s), want interrupted by the lost lease", stale.Outcome, stale.Error)
	}
	stored, err := f.store.Record(t.Context(), stale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Outcome != deploy.OutcomeInterrupted || !strings.Contains(stored.Error, "stopped before it finished") || stored.Fence != recovered[0].Fence {
		t.Errorf("stored record: got %s (%s), fence %d; want recovery's account, fence %d", stored.Outcome, stored.Error, stored.Fence, recovered[0].Fence)
	}
	if h := stored.Host("localhost"); h == nil || !h.Switched || h.Current != "2" {
		t.Errorf("stored host: got %+v, want switched to 2, as the old holder recorded before recovery took over", h)
	}
}

// TestDrain: a draining engine waits for the deploy running and refuses
// any that would start meanwhile, before it records or touches anything.
func TestDrain(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	f := newFixture(t, gatedRestart(gate))
	done := f.deployTwoUntilRestart()
	drained := make(chan struct{})
	go func() {
		f.engine.Drain()
		close(drained)
	}()
	var err error
	for deadline := time.Now().Add(10 * time.Second); err == nil || !strings.Contains(err.Error(), "shutting down"); {
		if time.Now().After(deadline) {
			t.Fatalf("a rollback while draining: got %v, want it refused as shutting down", err)
		}
		select {
		case <-drained:
			t.Fatal("Drain returned while a deploy was running")
		default:
		}
		time.Sleep(20 * time.Millisecond)
		// The running deploy holds web/prod: the drain is checked first.
		_, err = f.engine.Rollback(context.Background(), deploy.Request{App: "web", Env: "prod", Requester: "bob"}, nil)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if rec := <-done; rec.Outcome != deploy.OutcomeSucceeded {
		t.Errorf("the running deploy: got %s (%s), want it to finish", rec.Outcome, rec.Error)
	}
	<-drained
	recs, err := f.store.Records(t.Context(), deploy.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Errorf("records: got %d, want 2 (nothing recorded for the refused rollback)", len(recs))
	}
	if _, err := f.run(deploy.KindDeploy, "1"); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("a deploy after the drain: got %v, want it refused as shutting down", err)
	}
}

// renewTTL is the lease TTL of the tests whose work outlasts it: short,
// as the work lasts it out, yet long enough that a loaded machine holding
// up the renewals for a few hundred milliseconds does not run it out.
const renewTTL = time.Second

// renewals hands out leases that count, by key, their renewals that
// succeeded: work that must outlast a lease's TTL waits for the lease to
// be renewed past it (see outlast) instead of sleeping a fixed time that
// a loaded machine may stretch or the renewals may fall behind.
type renewals struct {
	deploy.Leaser
	mu sync.Mutex
	n  map[string]int
}

func (r *renewals) Acquire(ctx context.Context, key, holder string, ttl time.Duration) (deploy.Lease, error) {
	l, err := r.Leaser.Acquire(ctx, key, holder, ttl)
	if err != nil {
		return nil, err
	}
	return &countedLease{Lease: l, r: r, key: key}, nil
}

func (r *renewals) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[key]
}

type countedLease struct {
	deploy.Lease
	r   *renewals
	key string
}

func (l *countedLease) Renew(ctx context.Context) error {
	err := l.Lease.Renew(ctx)
	if err == nil {
		l.r.mu.Lock()
		if l.r.n == nil {
			l.r.n = map[string]int{}
		}
		l.r.n[l.key]++
		l.r.mu.Unlock()
	}
	return err
}

// outlast returns once ttl has passed since it was called and the lease
// of key has been renewed since then, or ctx ends: work that calls it
// lasts longer than the lease would unrenewed, however loaded the
// machine. It returns an error if the lease was never renewed meanwhile
// within 30 s.
func (r *renewals) outlast(ctx context.Context, key string, ttl time.Duration) error {
	begun := time.Now()
	before := -1
	for deadline := begun.Add(30 * time.Second); ; {
		if before < 0 && time.Since(begun) >= ttl {
			before = r.count(key) // renewals once the TTL has passed
		}
		if before >= 0 && r.count(key) > before {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lease %s not renewed %s after the work began, once its TTL (%s) had passed", key, time.Since(begun).Round(time.Millisecond), ttl)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// slowOpen is a transport whose hosts take d to open, as through a slow
// bastion or a host in trouble.
type slowOpen struct {
	deploy.Transport
	d time.Duration
}

func (s slowOpen) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	time.Sleep(s.d)
	return s.Transport.Open(ctx, h)
}

// outlastingOpen is a transport whose hosts take, to open, longer than
// the lease of key lives unrenewed, as through a slow bastion or a host
// in trouble; a lease not renewed meanwhile fails the Open.
type outlastingOpen struct {
	deploy.Transport
	leases *renewals
	key    string
	ttl    time.Duration
}

func (o outlastingOpen) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	if err := o.leases.outlast(ctx, o.key, o.ttl); err != nil {
		return nil, err
	}
	return o.Transport.Open(ctx, h)
}

// TestLeaseRenewedWhileHostsOpen: opening the hosts may take longer than
// the lease's TTL; the lease is renewed meanwhile, so the deploy runs,
// and nobody else could take the app+env in between.
func TestLeaseRenewedWhileHostsOpen(t *testing.T) {
	leases := &renewals{}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		leases.Leaser = o.Leases
		o.Leases = leases
		o.Transports["local"] = outlastingOpen{Transport: o.Transports["local"], leases: leases, key: deploy.LeaseKey("web", "prod"), ttl: renewTTL}
		o.LeaseTTL = renewTTL
	})
	f.build("1")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
}

// stealOnOpen is a transport during whose Open another replica takes the
// lease over.
type stealOnOpen struct {
	deploy.Transport
	leases *stealable
}

func (s stealOnOpen) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s.leases.stolen.Store(true)
	return s.Transport.Open(ctx, h)
}

func TestLeaseLostWhileHostsOpen(t *testing.T) {
	var leases *stealable
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		leases = &stealable{Leaser: o.Leases}
		o.Leases = leases
		o.Transports["local"] = stealOnOpen{Transport: o.Transports["local"], leases: leases}
	})
	f.build("1")
	if _, err := f.run(deploy.KindDeploy, "1"); err == nil || !strings.Contains(err.Error(), "lost while its hosts were opened; nothing was changed") {
		t.Fatalf("deploy: got %v, want it refused for the lost lease", err)
	}
	if recs, err := f.store.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 0 {
		t.Errorf("records: got %d (%v), want none", len(recs), err)
	}
	if f.exists("current") {
		t.Error("current exists: the deploy went on without its lease")
	}
}

// failingOver fails the writes of finished records, as a store failing
// over while a deploy ends, until the failover has outlasted the lease
// of web/prod (see renewals.outlast).
type failingOver struct {
	deploy.Store
	leases *renewals
	once   sync.Once
	back   chan struct{}
	err    error // why it came back unrenewed, read once back is closed
	fails  atomic.Int32
}

func (s *failingOver) PutRecord(ctx context.Context, r *deploy.Record) error {
	if r.Outcome.Done() {
		s.once.Do(func() {
			go func() {
				defer close(s.back)
				s.err = s.leases.outlast(context.Background(), deploy.LeaseKey("web", "prod"), renewTTL)
			}()
		})
		select {
		case <-s.back:
		default:
			s.fails.Add(1)
			return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
		}
	}
	return s.Store.PutRecord(ctx, r)
}

// TestFinalRecordOutlastsAStoreFailover: the final record is written once
// the store is back, longer than the lease's TTL later, under the lease
// all along, so recovery does not call a finished deploy interrupted.
func TestFinalRecordOutlastsAStoreFailover(t *testing.T) {
	leases := &renewals{}
	store := &failingOver{leases: leases, back: make(chan struct{})}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		store.Store = o.Store
		o.Store = store
		leases.Leaser = o.Leases
		o.Leases = leases
		o.LeaseTTL = renewTTL
	})
	f.build("1")
	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	if store.fails.Load() == 0 {
		t.Fatal("no write of the final record failed: the store never failed over")
	}
	if store.err != nil {
		t.Fatal(store.err)
	}
	if got, err := f.engine.Recover(t.Context()); err != nil || len(got) != 0 {
		t.Errorf("recover: got %d records (%v), want none", len(got), err)
	}
	stored, err := f.store.Record(t.Context(), rec.ID)
	if err != nil || stored.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("stored record: got %+v (%v), want succeeded", stored, err)
	}
}

// TestRecoveryHoldsItsLeaseWhileObserving: observing the hosts may outlast
// the lease's TTL; the recovery renews it meanwhile, so another replica
// does not recover (and report) the same deploy too.
func TestRecoveryHoldsItsLeaseWhileObserving(t *testing.T) {
	leases := &renewals{}
	var other *deploy.Engine
	var theirs []*deploy.Record
	var theirErr error
	observed := false
	tr := &observing{hook: func() {
		observed = true
		// Past the TTL, while this one observes.
		if err := leases.outlast(t.Context(), deploy.LeaseKey("web", "prod"), renewTTL); err != nil {
			t.Error(err)
		}
		theirs, theirErr = other.Recover(context.Background())
	}}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		tr.Transport = o.Transports["local"]
		o.Transports["local"] = tr
		leases.Leaser = o.Leases
		o.Leases = leases
		o.LeaseTTL = renewTTL
	})
	f.putDead("1", deploy.HostResult{Host: "localhost", State: deploy.HostDelivering})
	other = deploy.NewEngine(deploy.Options{
		Config: f.cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}},
		Store: f.store, Leases: f.store, Locks: f.store, LeaseTTL: renewTTL,
	})
	t.Cleanup(other.Wait)
	mine, err := f.engine.Recover(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !observed {
		t.Fatal("the recovery never observed the hosts")
	}
	if theirErr != nil {
		t.Fatalf("the other replica's recovery: %v", theirErr)
	}
	if len(mine)+len(theirs) != 1 {
		t.Errorf("reports of the dead deploy: this replica %d, the other %d; want one in all", len(mine), len(theirs))
	}
}

// downTransport fails every Open once down is set, as hosts gone away.
type downTransport struct {
	deploy.Transport
	down atomic.Bool
}

func (d *downTransport) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	if d.down.Load() {
		return nil, fmt.Errorf("%w: %s: connection refused", deploy.ErrUnreachable, h.Name)
	}
	return d.Transport.Open(ctx, h)
}

// TestRecoveryKeepsAnUnreachableHostsRelease: recovery cannot observe a
// host that is down; its record keeps the release last recorded for it,
// with why it was not observed.
func TestRecoveryKeepsAnUnreachableHostsRelease(t *testing.T) {
	tr := &downTransport{}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		tr.Transport = o.Transports["local"]
		o.Transports["local"] = tr
	})
	f.putDead("2", deploy.HostResult{Host: "localhost", State: deploy.HostActivating, Current: "2", Previous: "1"})
	tr.down.Store(true)
	got, err := f.engine.Recover(t.Context())
	if err != nil || len(got) != 1 {
		t.Fatalf("recover: got %v, %v", got, err)
	}
	if h := got[0].Hosts[0]; h.State != deploy.HostUnreachable || h.Current != "2" || !strings.Contains(h.Error, "connection refused") {
		t.Errorf("host: got %+v, want unreachable, still on 2, with the reason", h)
	}
}

// recoverOnOther runs recovery on another replica of f's store and
// transport tr, with leases of ttl, until it recovers a deploy whose
// lease ran out, and returns what it recovered.
func (f *fixture) recoverOnOther(t *testing.T, tr deploy.Transport, ttl time.Duration) []*deploy.Record {
	t.Helper()
	other := deploy.NewEngine(deploy.Options{
		Config: f.cfg, Transports: map[string]deploy.Transport{"local": tr},
		Store: f.store, Leases: f.store, Locks: f.store, LeaseTTL: ttl,
	})
	t.Cleanup(other.Wait)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("the other replica never recovered the deploy whose lease ran out")
		}
		time.Sleep(50 * time.Millisecond)
		recovered, err := other.Recover(t.Context())
		if err != nil {
			t.Fatalf("recover: %v", err)
		}
		if len(recovered) > 0 {
			return recovered
		}
	}
}

// wantLeftToLeaseHolder checks that the deploy of 2, whose lease was lost,
// ended interrupted and left the host on 2, as the replica holding the
// lease now finds it: no switch back, no restart of 1.
func wantLeftToLeaseHolder(t *testing.T, f *fixture, rec *deploy.Record) {
	t.Helper()
	if rec.Outcome != deploy.OutcomeInterrupted || !strings.Contains(rec.Error, "lost the deploy lease") {
		t.Errorf("deploy: got %s (%s), want interrupted by the lost lease", rec.Outcome, rec.Error)
	}
	if got := f.read("restarts.log"); got != "1\n2\n" {
		t.Errorf("restarts: got %q, want only 1 and 2 (no switch back)", got)
	}
	if c := f.link("current"); c != "releases/2" {
		t.Errorf("current -> %s, want releases/2 left as it was", c)
	}
}
