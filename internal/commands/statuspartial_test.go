package commands_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestStatusAfterAPartialDeployOverAnInterruptedRun: deploy 3 was
// interrupted, then deploy 4 ended partial and left hosts on 4. Status
// still shows deploy 3 unresolved, but the rollback undoing it only ("to 2
// from 3") is refused now that hosts run 4: status offers only a rollback
// that is accepted, as a command to type and as a button.
func TestStatusAfterAPartialDeployOverAnInterruptedRun(t *testing.T) {
	for _, tt := range []struct {
		name     string
		noTarget bool
	}{{"its rollback target recorded", false}, {"no target on every host", true}} {
		t.Run(tt.name, func(t *testing.T) { statusAfterPartial(t, tt.noTarget) })
	}
}

func statusAfterPartial(t *testing.T, noTarget bool) {
	f, last := deployedThree(t)
	d := *last
	d.Outcome, d.Error = deploy.OutcomeInterrupted, "the process running this deploy (gone:1) stopped before it finished; hosts are as observed at recovery"
	d.Hosts = []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating, Current: "3", Previous: "2", Switched: true}}
	if err := f.store.PutRecord(context.Background(), &d); err != nil {
		t.Fatal(err)
	}
	artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-4.tar.gz"), tgz(t, map[string]string{"BUILD": "4"}))
	_, _, d4 := f.do("bob", "deploy web 4")
	if d4 == nil || d4.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("deploy 4: %+v", d4)
	}
	// Recorded partial, as when another host failed and went back: the
	// hosts run different releases, and deploy 3 stays unresolved.
	p := *d4
	p.Outcome, p.Error = deploy.OutcomePartial, "1 of 2 hosts failed"
	if noTarget {
		p.RollbackTo, p.NoRollback = "", true
	}
	if err := f.store.PutRecord(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	_, out, _ := f.do("carl", "status web")
	if !noTarget {
		checkStatusOffer(t, f, out)
		return
	}
	got := out.last()
	if strings.Contains(got, "rollback web prod to 2 from 3") || strings.Contains(got, "decide: rollback") || len(out.lastMessage().Buttons) != 0 {
		t.Errorf("status offers a rollback after a partial run that names none:\n%s\nbuttons %+v", got, out.lastMessage().Buttons)
	}
	if want := "no release on every host to roll back to after the partial deploy " + p.ID + ", so there is no rollback to offer"; !strings.Contains(got, want) {
		t.Errorf("status:\n%s\nwant it to say %q", got, want)
	}
}

func checkStatusOffer(t *testing.T, f *serviceFixture, out *recorder) {
	t.Helper()
	got := out.last()
	if !strings.Contains(got, "unresolved before it: deploy 3 (from 2) interrupted") {
		t.Fatalf("status does not show deploy 3 unresolved:\n%s", got)
	}
	if strings.Contains(got, "rollback web prod to 2 from 3") {
		t.Errorf("status offers the undo of deploy 3, which hosts on 4 refuse:\n%s", got)
	}
	var offered []string
	if _, advice, ok := strings.Cut(got, "decide: "); ok {
		if advice, _, ok = strings.Cut(advice, ", or"); ok && strings.HasPrefix(advice, "rollback ") {
			offered = append(offered, advice)
		}
	}
	for _, b := range out.lastMessage().Buttons {
		offered = append(offered, b.Action)
	}
	if len(offered) == 0 {
		t.Fatalf("status offers no rollback:\n%s", got)
	}
	for _, cmd := range offered {
		if cmd != offered[0] {
			t.Errorf("status offers %q and %q, want one command", offered[0], cmd)
		}
	}
	r, o, rb := f.do("bob", offered[0])
	if r.Failed || rb == nil || rb.Outcome != deploy.OutcomeSucceeded || rb.Previous != "4" {
		t.Errorf("%q: failed %v, %q, %+v; want a rollback from 4 accepted", offered[0], r.Failed, o.last(), rb)
	}
}
