package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestFleetRevertedDeployReplyOffersTheRollback: a reverted deploy that
// leaves hosts on its build, which they ran before it and which its
// revert marked bad, tells how to roll them back (see RunsBadText). The
// reply's offer is taken as a person sends it: it parses to the rollback
// of web/prod to the release the switched hosts went back to, and sent,
// it takes every host there.
func TestFleetRevertedDeployReplyOffersTheRollback(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 3)
	if err := os.WriteFile(filepath.Join(fleet.Hosts[0].Root, "sick-2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Within max_failures, deploy 2 leaves host0 on 1, the others on 2.
	first := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, healthTime: "2s", env: []string{"max_failures: 1"}}, nil)
	first.build("1")
	first.seed("1")
	first.build("2")
	first.mustRun(deploy.KindDeploy, "2", deploy.OutcomePartial)

	// Deployed again where failures are not allowed, host0 fails again,
	// and the deploy is reverted, leaving host1 and host2 on 2, bad.
	f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, healthTime: "2s"}, nil)
	f.build("2")
	rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeReverted)
	m := commands.FinalMessage(rec, time.Now())
	reply := strings.Join(append([]string{m.Title}, m.Lines...), "\n")
	for _, fd := range m.Fields {
		reply += "\n" + fd.Label + ": " + fd.Value
	}
	t.Logf("reply:\n%s", reply)
	var rollbacks []commands.Command
	for _, c := range offered(t, f.cfg, reply) {
		if c.Verb == commands.VerbRollback {
			rollbacks = append(rollbacks, c)
		}
	}
	if len(rollbacks) != 1 || rollbacks[0].App != "web" || rollbacks[0].Env != "prod" || rollbacks[0].Build != "1" || rollbacks[0].From != "" {
		t.Fatalf("reply offers rollbacks %+v, want one of web/prod to 1", rollbacks)
	}
	offer := rollbacks[0]

	back, err := f.rollback(offer.Build, offer.From)
	if err != nil {
		t.Fatalf("the offered rollback (%s): refused: %v", offer.Text, err)
	}
	if back.Outcome != deploy.OutcomeSucceeded || back.Build != "1" {
		t.Errorf("the offered rollback: got %s to %s (%s), want succeeded to 1", back.Outcome, back.Build, back.Error)
	}
	for i, h := range fleet.Hosts {
		if got := f.link(i, "current"); got != "releases/1" {
			t.Errorf("%s: current %s after the offered rollback, want releases/1", h.Name, got)
		}
	}
}
