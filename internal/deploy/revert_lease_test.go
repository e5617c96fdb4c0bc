package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestLeaseLostBeforeSwitchBack: a deploy whose lease is lost once it has
// decided to switch its hosts back switches none of them back: another
// replica holds the app+env by then, and the hosts are its to change.
func TestLeaseLostBeforeSwitchBack(t *testing.T) {
	f, leases := newStealableFixture(t, fmt.Sprintf(fixtureYAML, "true"))
	f.build("1")
	f.build("2", tarEntry{name: "BROKEN", body: "x"})
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)

	done := make(chan *deploy.Record, 1)
	_, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2", Requester: "ana"}, func(ev deploy.Event) {
		if ev.Kind == deploy.EventNote && strings.HasPrefix(ev.Text, "switching back") {
			leases.stolen.Store(true) // another replica holds web/prod now
		}
		if ev.Kind == deploy.EventFinished {
			done <- ev.Record
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := <-done
	wantLeftToLeaseHolder(t, f, rec)
}
