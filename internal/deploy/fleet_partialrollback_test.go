package deploy_test

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestFleetNotFromAfterAPartialRollback: a rollback from 4 to 3 that left
// host2 out, down, ends partial; once host2 is back it still runs 4, the
// others 3. A rollback the refusal turns down (from a build no host runs,
// or from 4, which runs beside 3) offered nothing there, where after a
// partial deploy it offers the rollback that finishes the job. It offers
// the rollback to 3 from 4, and that rollback is taken and takes every
// host to 3. So does the refusal of a rollback naming no release, with
// `from` or without, which asks for one: it offered nothing to send.
func TestFleetNotFromAfterAPartialRollback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		to, from string // the refused rollback
		said     string // in its refusal
	}{
		{name: "from a release no host runs", from: "2", said: "web/prod runs 3 on host0, host1; 4 on host2 now, not 2; nothing was rolled back"},
		{name: "from a release some hosts run", to: "2", from: "4", said: "web/prod does not run only 4 now (3 on host0, host1; 4 on host2); nothing was rolled back"},
		{name: "naming no release", said: "the hosts of web/prod run different releases (3 on host0, host1; 4 on host2); name the release to roll back to: rollback web prod to BUILD"},
		{name: "naming no release from one some hosts run", from: "4", said: "the hosts of web/prod run different releases (3 on host0, host1; 4 on host2); name the release to roll back to: rollback web prod to BUILD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 3)
			f := newFleetFixture(t, fleet, fleetSpec{env: []string{"max_failures: 1"}}, nil)
			for _, b := range []string{"1", "2", "3", "4"} {
				f.build(b)
			}
			f.seed("1")
			for _, b := range []string{"2", "3", "4"} {
				f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
			}
			fleet.Stop(2)
			f.mustRun(deploy.KindRollback, "", deploy.OutcomePartial)
			fleet.Start(2)

			_, err := f.rollback(tt.to, tt.from)
			msg := errs.Message(err)
			if errs.CodeOf(err) != errs.Conflict || !strings.Contains(msg, tt.said) {
				t.Fatalf("rollback to %q from %s: got %s %q, want it refused saying %q", tt.to, tt.from, errs.CodeOf(err), msg, tt.said)
			}
			takeRollbackTo3From4(t, fleet, f, msg)
		})
	}
}
