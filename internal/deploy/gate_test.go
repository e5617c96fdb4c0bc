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

// TestLeftOutNoteNamesFailedHostOnce: a host that fails its health check
// within max_failures, after its switch or at the health gate before the
// next batch, is switched back alone, and a note says it is left out. The
// note named it twice ("h0 failed and is left out (…): h0 stopped passing
// its health check after switching: …", "h1 failed and is left out (…):
// health on h1: …"): the revert quoted the failure as bare text, which
// the note could not tell from a cause that does not name the host.
func TestLeftOutNoteNamesFailedHostOnce(t *testing.T) {
	const counts = " failed and is left out (1 of 3 hosts failed; max_failures allows 1): "
	for _, tt := range []struct {
		name  string
		extra tarEntry // in build 3: BROKEN-HOST fails its host, FLAKY-HOST at the gate
		host  string   // the host that fails
		want  string   // the note starts so
	}{
		{"failing its health check", tarEntry{name: "BROKEN-h1", body: "x"}, "h1", "h1" + counts + "health: not healthy after 2s"},
		{"at the gate", tarEntry{name: "FLAKY-h0", body: "x"}, "h0", "h0" + counts + "stopped passing its health check after switching: not healthy after 2s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := threeHostsConfig(t, 1, "true", func(yaml string) string {
				yaml = failingHealth(yaml)
				if strings.HasPrefix(tt.extra.name, "FLAKY-") {
					yaml = strings.Replace(yaml, `test ! -e current/BROKEN'`, flakyHealth, 1)
				}
				return yaml
			})
			f.build("3", tt.extra)
			rec := f.mustRun(deploy.KindDeploy, "3", deploy.OutcomePartial)
			if hr := rec.Host(tt.host); hr.State != deploy.HostReverted {
				t.Fatalf("%s: got %s (%s), want reverted", tt.host, hr.State, hr.Error)
			}
			var said []string
			for _, n := range notes(f) {
				if strings.HasPrefix(n, tt.host+" failed and is left out") {
					said = append(said, n)
				}
			}
			if len(said) != 1 {
				t.Fatalf("notes: got %q, want one saying %s is left out", notes(f), tt.host)
			}
			if !strings.HasPrefix(said[0], tt.want) || strings.Count(said[0], tt.host) != 1 {
				t.Errorf("note: got %q, want it to start %q and name %s once", said[0], tt.want, tt.host)
			}
		})
	}
}
