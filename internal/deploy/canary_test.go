package deploy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestNoCanaryWhenTheCanaryTakesEveryHost: a canary batch is only split
// off when more hosts switch than the canary takes, as the dry run says.
// Otherwise the hosts switch batch_size at a time, and a failing first
// host is one failure within max_failures like any other: it is switched
// back alone and the others go on, rather than stopping the deploy as a
// failed canary the dry run never announced.
func TestNoCanaryWhenTheCanaryTakesEveryHost(t *testing.T) {
	f, current := threeHostsConfig(t, 1, "true", func(yaml string) string {
		yaml = failingHealth(yaml)
		return strings.Replace(yaml, "        hosts: [localhost]\n", "        canary: 3\n        hosts: [localhost]\n", 1)
	})
	f.build("3", tarEntry{name: "BROKEN-h0", body: "x"})

	plan, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "3"})
	if err != nil {
		t.Fatal(err)
	}
	steps := strings.Join(plan.Steps, "\n")
	for _, want := range []string{"1 host(s) at a time", "a host that fails is switched back alone"} {
		if !strings.Contains(steps, want) {
			t.Errorf("plan: got %q, want it to say %q", steps, want)
		}
	}
	if strings.Contains(steps, "canary") {
		t.Errorf("plan: got %q, want no canary batch", steps)
	}

	rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
	if strings.Contains(rec.Error, "canary") {
		t.Errorf("record error: got %q, want no canary", rec.Error)
	}
	for h, want := range map[string]string{"h0": "releases/2", "h1": "releases/3", "h2": "releases/3"} {
		if got := current(h); got != want {
			t.Errorf("%s: got current %s, want %s", h, got, want)
		}
	}
}
