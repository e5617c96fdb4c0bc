package deploy_test

import (
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// flakyHealth is the fixture's health command, which a release holding
// FLAKY-HOST passes once on HOST and then fails: a host healthy after its
// switch that stops passing by the next batch's health gate.
const flakyHealth = `test ! -e current/BROKEN && if [ -e current/FLAKY-{host} ]; then [ ! -e flaked ] && touch flaked; fi'`

// TestHealthGateFailureWithinMaxFailures: a switched host that fails the
// health gate before the next batch is a host failing its health check
// like any other. Within max_failures it is switched back alone and the
// deploy goes on; beyond, every switched host goes back; a canary that
// fails it stops the deploy.
func TestHealthGateFailureWithinMaxFailures(t *testing.T) {
	for _, tt := range []struct {
		name    string
		max     int
		canary  bool
		outcome deploy.Outcome
		current map[string]string
		want    string // in the record's error
	}{
		{"within max_failures", 1, false, deploy.OutcomePartial,
			map[string]string{"h0": "releases/2", "h1": "releases/3", "h2": "releases/3"}, "1 of 3 hosts failed"},
		{"beyond max_failures", 0, false, deploy.OutcomeReverted,
			map[string]string{"h0": "releases/2", "h1": "releases/2", "h2": "releases/2"}, "h0 stopped passing its health check after switching"},
		{"the canary", 1, true, deploy.OutcomeReverted,
			map[string]string{"h0": "releases/2", "h1": "releases/2", "h2": "releases/2"}, "h0 stopped passing its health check after switching"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, current := threeHostsConfig(t, tt.max, "true", func(yaml string) string {
				yaml = failingHealth(yaml)
				yaml = strings.Replace(yaml, `test ! -e current/BROKEN'`, flakyHealth, 1)
				if tt.canary {
					yaml = strings.Replace(yaml, "        hosts: [localhost]\n", "        canary: 1\n        hosts: [localhost]\n", 1)
				}
				return yaml
			})
			f.build("3", tarEntry{name: "FLAKY-h0", body: "x"})
			rec := f.mustRun(deploy.KindDeploy, "3", tt.outcome)
			t.Logf("deploy 3: %s: %s", rec.Outcome, rec.Error)
			if !strings.Contains(rec.Error, tt.want) {
				t.Errorf("record error: got %q, want it to say %q", rec.Error, tt.want)
			}
			for h, want := range tt.current {
				if got := current(h); got != want {
					t.Errorf("%s: got current %s, want %s", h, got, want)
				}
			}
			if hr := rec.Host("h0"); hr.State != deploy.HostReverted {
				t.Errorf("h0: got %s (%s), want reverted", hr.State, hr.Error)
			}
		})
	}
}

// TestHostFailureSaidOnce: a host's failure reaches the deploy's message,
// the host's line and the progress once. They repeated it, two or three
// times over ("…: not healthy after 2s: exit status 1: health on h1: not
// healthy after 2s: exit status 1"): a failed canary's reply did, and so
// did a host failing within max_failures, or at the health gate.
func TestHostFailureSaidOnce(t *testing.T) {
	const said = "not healthy after"
	for _, tt := range []struct {
		name    string
		max     int
		canary  bool
		extra   tarEntry // in build 3: BROKEN-HOST fails its host, FLAKY-HOST at the gate
		outcome deploy.Outcome
		host    string // the host that fails
	}{
		{"a canary", 1, true, tarEntry{name: "BROKEN-h0", body: "x"}, deploy.OutcomeReverted, "h0"},
		{"within max_failures", 1, false, tarEntry{name: "BROKEN-h1", body: "x"}, deploy.OutcomePartial, "h1"},
		{"at the gate, within max_failures", 1, false, tarEntry{name: "FLAKY-h0", body: "x"}, deploy.OutcomePartial, "h0"},
		{"at the gate, beyond max_failures", 0, false, tarEntry{name: "FLAKY-h0", body: "x"}, deploy.OutcomeReverted, "h0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := threeHostsConfig(t, tt.max, "true", func(yaml string) string {
				yaml = failingHealth(yaml)
				if strings.HasPrefix(tt.extra.name, "FLAKY-") {
					yaml = strings.Replace(yaml, `test ! -e current/BROKEN'`, flakyHealth, 1)
				}
				if tt.canary {
					yaml = strings.Replace(yaml, "        hosts: [localhost]\n", "        canary: 1\n        hosts: [localhost]\n", 1)
				}
				return yaml
			})
			f.build("3", tt.extra)
			rec := f.mustRun(deploy.KindDeploy, "3", tt.outcome)
			if tt.outcome == deploy.OutcomeReverted {
				if n := strings.Count(rec.Error, said); n != 1 {
					t.Errorf("record error says %q %d times, want once: %q", said, n, rec.Error)
				}
			}
			if hr := rec.Host(tt.host); strings.Count(hr.Error, said) != 1 {
				t.Errorf("%s's error says %q %d times, want once: %q", tt.host, said, strings.Count(hr.Error, said), hr.Error)
			}
			for _, n := range notes(f) {
				if c := strings.Count(n, said); c > 1 {
					t.Errorf("a note says %q %d times, want once: %q", said, c, n)
				}
			}
		})
	}
}
