package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestBusyWithARecovery: a deploy, rollback or dry run of an app+env whose
// lease a recovery holds (another replica marking a dead run interrupted,
// reading its hosts for up to 15 s) was refused as "web/prod is busy (held
// by recovery:ID)", the lease's holder, which says nothing to people. It
// is named as status names it.
func TestBusyWithARecovery(t *testing.T) {
	const dead = "20261206-101500-ab12cd"
	f := newFixture(t, "")
	f.build("1")
	if _, err := f.store.Acquire(context.Background(), deploy.LeaseKey("web", "prod"), "recovery:"+dead, time.Minute); err != nil {
		t.Fatal(err)
	}
	want := "web/prod is busy: the recovery of a run whose process stopped (deploy " + dead + "), which marks it interrupted and changes no host"
	for _, kind := range []deploy.Kind{deploy.KindDeploy, deploy.KindRollback} {
		t.Run(string(kind), func(t *testing.T) {
			_, err := f.run(kind, "1")
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want it to say %q", err, want)
			}
			if err != nil && strings.Contains(err.Error(), "held by") {
				t.Errorf("got %q, which names the lease's holder", err)
			}
		})
	}
}
