package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestDrainedByADeadRunBeforeItsSwitchIsPutBack: a run that died while
// it drained a host, or between the drain and the switch, left that host
// out of rotation on the release it ran; the recovery finds it there and
// records it activating, not switched. That run took it out, not someone:
// the next deploy puts it back into rotation, rather than keep it out for
// good with a note saying the last run did not leave it there.
func TestDrainedByADeadRunBeforeItsSwitchIsPutBack(t *testing.T) {
	pool := &fakePool{state: map[string]string{}}
	f := newPoolFixture(t, pool, "h0", "h1")
	for _, b := range []string{"1", "2"} {
		f.build(b)
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	if err := pool.Drain(context.Background(), deploy.Host{Name: "h0"}); err != nil {
		t.Fatal(err)
	}
	dead := &deploy.Record{ID: "29991231-235959-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "3", Previous: "2",
		Requester: "ana", Started: time.Now(), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: f.deadFence(),
		Hosts: []deploy.HostResult{
			{Host: "h0", State: deploy.HostActivating, Current: "2", Previous: "1", Switching: "3"},
			{Host: "h1", State: deploy.HostDelivered, Current: "2", Previous: "1"},
		}}
	if err := f.store.PutRecord(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.build("3")
	rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	if got := pool.get("h0"); got != "ready" {
		t.Errorf("h0 is %q in the load balancer after the deploy of 3; want ready", got)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ev := range f.events {
		if ev.DeployID == rec.ID && strings.Contains(ev.Text, "not left there by the last run") {
			t.Errorf("the deploy says %q of a host the dead run drained", ev.Text)
		}
	}
}
