package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestBusyBehindADeploySaysHowToStopIt: a rollback typed while a deploy
// of its app/env runs was refused as "web/prod is busy: deploy of build 2
// by ana since …", which in an incident leaves unsaid that nothing was
// rolled back and that a cancel of that deploy, which switches its hosts
// back, lets the rollback run. The refusal of a run behind a deploy says
// both now; behind a rollback or a recovery, which a cancel does not stop,
// and in a dry run, it says neither.
func TestBusyBehindADeploySaysHowToStopIt(t *testing.T) {
	const id = "20261207-030922-a1b2c3"
	// The cancel is marked as the bot's suggestion, so that Discord
	// writes it as its /cancel.
	stop := suggest.Command("cancel web prod") + " stops that deploy and switches its hosts back; try again once it has ended"
	tests := []struct {
		name    string
		holder  deploy.Kind // the run holding web/prod
		record  bool        // its record is written (else it is starting)
		recover bool        // a recovery holds web/prod instead
		kind    deploy.Kind // the run refused; "" for a dry run
		want    []string
		wantNot []string
	}{
		{name: "rollback behind a deploy", holder: deploy.KindDeploy, record: true, kind: deploy.KindRollback,
			want: []string{"web/prod is busy: deploy of build 2 by ana since ", "(deploy " + id + "); nothing was rolled back: " + stop}},
		{name: "rollback behind a starting deploy", holder: deploy.KindDeploy, kind: deploy.KindRollback,
			want: []string{"web/prod is busy: deploy of build 2 by ana, starting now (deploy " + id + "); nothing was rolled back: " + stop}},
		{name: "deploy behind a deploy", holder: deploy.KindDeploy, record: true, kind: deploy.KindDeploy,
			want: []string{"web/prod is busy: deploy of build 2 by ana since ", "(deploy " + id + "); nothing was deployed: " + stop}},
		{name: "rollback behind a rollback", holder: deploy.KindRollback, record: true, kind: deploy.KindRollback,
			want: []string{"web/prod is busy: rollback of build 2 by ana since "}, wantNot: []string{"cancel", "nothing was"}},
		{name: "rollback behind a starting rollback", holder: deploy.KindRollback, kind: deploy.KindRollback,
			want: []string{"web/prod is busy: rollback of build 2 by ana, starting now (deploy " + id + ")"}, wantNot: []string{"cancel", "nothing was"}},
		{name: "rollback behind a recovery", recover: true, kind: deploy.KindRollback,
			want: []string{"web/prod is busy: the recovery of a run whose process stopped (deploy " + id + ")"}, wantNot: []string{"cancel", "nothing was"}},
		{name: "dry run behind a deploy", holder: deploy.KindDeploy, record: true,
			want: []string{"web/prod is busy: deploy of build 2 by ana since "}, wantNot: []string{"cancel", "nothing was"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			f.build("1")
			ctx := context.Background()
			holder := id + " " + string(tt.holder) + " of build 2 by ana"
			if tt.recover {
				holder = "recovery:" + id
			}
			lease, err := f.store.Acquire(ctx, deploy.LeaseKey("web", "prod"), holder, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { lease.Release(context.Background()) })
			if tt.record {
				rec := &deploy.Record{ID: id, Kind: tt.holder, App: "web", Env: "prod", Build: "2", Requester: "ana",
					Started: time.Now(), Outcome: deploy.OutcomeRunning, Fence: lease.Token()}
				if err := f.store.PutRecord(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}

			var got string
			switch tt.kind {
			case "":
				p, err := f.engine.Plan(ctx, deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "bob"})
				if err != nil {
					t.Fatalf("plan: %v", err)
				}
				got = strings.Join(p.Refusals, "\n")
			default:
				req := deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "bob"}
				if tt.kind == deploy.KindRollback {
					req.Build = ""
					_, err = f.engine.Rollback(ctx, req, nil)
				} else {
					_, err = f.engine.Deploy(ctx, req, nil)
				}
				if errs.CodeOf(err) != errs.Conflict {
					t.Fatalf("got %v, want a conflict", err)
				}
				got = errs.Message(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("got %q, want it to say %q", got, w)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("got %q, want no %q in it", got, w)
				}
			}
			recs, err := f.store.Records(ctx, deploy.Filter{})
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.record]; len(recs) != want {
				t.Errorf("records after the refusal: got %d, want %d", len(recs), want)
			}
		})
	}
}
