package commands_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestStatusNamesHostsLeftOnABadBuild: a reverted deploy of a build some
// hosts already ran leaves them on it, marked bad everywhere. status
// showed the deploy reverted and nothing of those hosts: whoever looked
// took the env for back on the earlier release.
func TestStatusNamesHostsLeftOnABadBuild(t *testing.T) {
	f, last := deployedThree(t)
	d := *last
	d.Outcome, d.Error = deploy.OutcomeReverted, "health on web-1: not healthy after 2s"
	d.Hosts = []deploy.HostResult{
		{Host: "web-1", State: deploy.HostReverted, Current: "2", Previous: "2"},
		{Host: "localhost", State: deploy.HostUnchanged, Current: "3", Previous: "2", RunsBad: true},
	}
	if err := f.store.PutRecord(context.Background(), &d); err != nil {
		t.Fatal(err)
	}
	want := "⚠ localhost still runs 3, which is marked bad now (it ran it before this deploy, which did not switch it): roll it back with rollback web prod to 2"
	for _, cmd := range []string{"status", "status web"} {
		_, out, _ := f.do("carl", cmd)
		if got := out.last(); !strings.Contains(got, want) {
			t.Errorf("%s: got\n%s\nwant a line %q", cmd, got, want)
		}
	}
}
