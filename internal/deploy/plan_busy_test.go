package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// A dry run while another deploy or rollback of the app/env holds its
// lease says that a deploy now would be refused as busy, as the deploy is;
// it used to show a plan drawn from hosts that run changes under it, as if
// the deploy would go ahead.
func TestPlanSaysBusy(t *testing.T) {
	f := newFixture(t, "")
	f.build("1")
	ctx := context.Background()
	lease, err := f.store.Acquire(ctx, deploy.LeaseKey("web", "prod"), "20260101-000000-b0b000 rollback of build 0 by bob", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lease.Release(context.Background()) })
	const busy = "web/prod is busy: rollback of build 0 by bob, starting now (deploy 20260101-000000-b0b000)"

	p, err := f.engine.Plan(ctx, deploy.Request{App: "web", Env: "prod", Build: "1"})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	if len(p.Refusals) != 1 || p.Refusals[0] != busy {
		t.Errorf("refusals %q, want %q", p.Refusals, busy)
	}
	_, err = f.engine.Deploy(ctx, deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}, nil)
	if got := errs.Message(err); !strings.Contains(got, busy) {
		t.Errorf("deploy: got %q, want %q", got, busy)
	}
}
