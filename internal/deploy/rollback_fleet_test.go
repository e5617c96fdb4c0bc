package deploy_test

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRollbackPastAReleaseBadOnOneHost: deploy 3 failed on h2 alone
// (within max_failures: partial), which went back to 2 and marked 3 bad;
// deploy 4 then went everywhere. A rollback without a target skips 3,
// h0's previous but bad on h2, for 2, which ran well on every host, and
// the deploy of 4 offers that: it was refused, as if 3 were the only
// release to go back to.
func TestRollbackPastAReleaseBadOnOneHost(t *testing.T) {
	f, current := threeHostsConfig(t, 1, "true", failingHealth)
	f.build("3", tarEntry{name: "BROKEN-h2", body: "x"})
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	f.build("4")
	d4 := f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeSucceeded)
	if d4.RollbackTo != "2" || d4.NoRollback {
		t.Errorf("deploy 4 offers a rollback to %q (no rollback: %v), want to 2", d4.RollbackTo, d4.NoRollback)
	}
	rb := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	if rb.Build != "2" {
		t.Errorf("rollback went to %s, want 2", rb.Build)
	}
	for _, h := range []string{"h0", "h1", "h2"} {
		if got := current(h); got != "releases/2" {
			t.Errorf("%s: current -> %s, want releases/2", h, got)
		}
	}
}
