package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// A dry run reads the hosts at once, as the deploy opens them: hosts that
// hang (a machine that answers nothing) cost it one connect_timeout, not
// one each. It read them one after another, so a dry run of a fleet with
// a few hung hosts took minutes, past what a chat platform waits for.
func TestPlanReadsHostsAtOnce(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	fleet := startFleet(t, 4)
	f := newFleetFixture(t, fleet, fleetSpec{connectTimeout: "2s", env: []string{"max_failures: 3"}}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")
	for _, i := range []int{1, 2, 3} {
		fleet.Pause(i)
	}
	start := time.Now()
	p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "2"})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	for _, hp := range p.Hosts[1:] {
		if !strings.HasPrefix(hp.Change, "unreachable") {
			t.Errorf("%s: got %q, want it unreachable", hp.Host, hp.Change)
		}
	}
	t.Logf("dry run with 3 of 4 hosts hung: %s (connect_timeout %s)", took.Round(10*time.Millisecond), timeout)
	// Read one after another, the three hung hosts cost at least three
	// connect_timeouts; at once, one (however busy the machine).
	if took >= 3*timeout {
		t.Errorf("dry run took %s, a connect_timeout (%s) for each hung host: want one for them together", took.Round(10*time.Millisecond), timeout)
	}
}
