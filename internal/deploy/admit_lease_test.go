package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestLeaseRenewedWhileAdmitting: the admission of a deploy (its window,
// its locks, an admin's presence on a chat platform slow to answer) may
// take longer than the lease's TTL; the lease is renewed meanwhile, so the
// deploy runs rather than being refused as one whose lease was lost, and
// nobody else could take the app+env in between.
func TestLeaseRenewedWhileAdmitting(t *testing.T) {
	leases := &renewals{}
	f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
		leases.Leaser = o.Leases
		o.Leases = leases
		o.LeaseTTL = renewTTL
	})
	f.build("1")
	done := make(chan *deploy.Record, 1)
	req := deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana", Admit: func(ctx context.Context) (bool, error) {
		return false, leases.outlast(ctx, deploy.LeaseKey("web", "prod"), renewTTL)
	}}
	_, err := f.engine.Deploy(context.Background(), req, func(ev deploy.Event) {
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	})
	if err != nil {
		t.Fatalf("deploy with an admission longer than the lease's TTL: got %v, want it to run", err)
	}
	select {
	case rec := <-done:
		if rec.Outcome != deploy.OutcomeSucceeded {
			t.Errorf("deploy: got %s (%s), want succeeded", rec.Outcome, rec.Error)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the deploy did not end within 30 s")
	}
}

// TestLeaseLostWhileAdmitting: a lease another replica takes while the
// deploy is being admitted stops the admission, and the refusal says when
// it was lost, nothing changed or recorded.
func TestLeaseLostWhileAdmitting(t *testing.T) {
	f, leases := newStealableFixtureTTL(t, fmt.Sprintf(fixtureYAML, "true"), stealTTL)
	f.build("1")
	stopped := make(chan error, 1)
	req := deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana", Admit: func(ctx context.Context) (bool, error) {
		leases.stolen.Store(true)
		select {
		case <-ctx.Done():
			stopped <- context.Cause(ctx)
			return false, context.Cause(ctx)
		case <-time.After(10 * time.Second):
			stopped <- nil
			return false, nil
		}
	}}
	_, err := f.engine.Deploy(context.Background(), req, nil)
	const want = "the deploy lease of web/prod was lost during its admission (window, locks); nothing was changed"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("deploy: got %v, want it refused saying %q", err, want)
	}
	if cause := <-stopped; cause == nil {
		t.Error("the admission went on after the lease was lost: its context was not cancelled")
	}
	if recs, err := f.store.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 0 {
		t.Errorf("records: got %d (%v), want none", len(recs), err)
	}
	if f.exists("current") {
		t.Error("current exists: the deploy went on without its lease")
	}
}
