package deploy_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// carrying returns the processes of the machine whose environment holds
// run token: the programs a run's steps started.
func carrying(t *testing.T, token string) []string {
	t.Helper()
	want := []byte("SWITCHMAN_RUN=" + token + "\x00")
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	var out []string
	for _, p := range procs {
		env, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(env, want) {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
		out = append(out, filepath.Base(filepath.Dir(p))+" "+strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return out
}

// TestFleetHungHostStepIsStoppedByTheNextRun: a host that hangs in the
// middle of a step (SIGSTOP: its TCP connection stays open, nothing
// answers) fails the deploy once its keepalives go unanswered, but its
// step is not dead: once the host comes back, the migration or restart it
// was running goes on, under nobody's watch. The next deploy must stop it
// before it changes anything there, as it does for the steps of a run
// whose process died, rather than run its own migrations or restart
// beside it.
func TestFleetHungHostStepIsStoppedByTheNextRun(t *testing.T) {
	t.Parallel()
	// The step holds once, on the host and build named (2 unless
	// given), until it is killed.
	hold := func(host string, build ...string) string {
		b := "2"
		if len(build) > 0 {
			b = build[0]
		}
		return `if [ "$SWITCHMAN_HOST" = ` + host + ` ] && [ "$SWITCHMAN_BUILD" = ` + b + ` ] && [ ! -e /srv/held ]; then touch /srv/held; sleep 86400; fi`
	}
	tests := []struct {
		name  string
		phase deploy.Step
		host  int
		spec  fleetSpec
		want  deploy.Outcome // of the deploy the hung host fails
		again string         // the build the next deploy deploys
		// rollback: the host hangs in a rollback to 1, after a deploy
		// of 2 that succeeded.
		rollback bool
	}{
		{"migrate", deploy.StepMigrate, 0, fleetSpec{migrations: true, env: []string{"migrate: auto"}}, deploy.OutcomeFailed, "2", false},
		{"restart", deploy.StepRestart, 1, fleetSpec{restart: hold("host1")}, deploy.OutcomeReverted, "1", false},
		{"rollback restart", deploy.StepRestart, 1, fleetSpec{restart: hold("host1", "1")}, deploy.OutcomeFailed, "2", true},
		{"rollback health", deploy.StepHealth, 1, fleetSpec{health: hold("host1", "1") + "; " + healthyCmd}, deploy.OutcomeFailed, "2", true},
		// The step times out before the keepalives declare the host
		// dead (5s apart: 15s at least): its kill goes unanswered, and
		// the host is as lost as one whose connection ended.
		{"migrate timed out", deploy.StepMigrate, 0, fleetSpec{migrations: true, env: []string{"migrate: auto"}, stepTimeout: "3s", keepalive: "5s"}, deploy.OutcomeFailed, "2", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := tt.spec
			spec.stepTimeout, spec.keepalive = orDefault(spec.stepTimeout, "20s"), orDefault(spec.keepalive, "500ms")
			if tt.phase == deploy.StepMigrate {
				spec.migrationRun = hold("host0") + "; " + migrationRun
			}
			fleet := startFleet(t, 3)
			f := newFleetFixture(t, fleet, spec, nil)
			f.build("1")
			f.build("2")
			f.seed("1")
			kind, build := deploy.KindDeploy, "2"
			if tt.rollback {
				f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
				kind, build = deploy.KindRollback, ""
			}

			rec, done, err := f.start(kind, build)
			if err != nil {
				t.Fatal(err)
			}
			name := fleet.Hosts[tt.host].Name
			f.await(rec.ID, string(tt.phase)+" on "+name, stepStarted(name, tt.phase))
			// Paused once its sleep runs: the step holds the host there.
			for deadline := time.Now().Add(fleetWait); !slices.ContainsFunc(carrying(t, rec.Run), func(p string) bool {
				return strings.HasSuffix(p, " sleep 86400 ")
			}); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the %s on %s did not begin its hold", tt.phase, name)
				}
			}
			fleet.Pause(tt.host)
			first := f.wait(done)
			t.Logf("%s hung during its %s: %s: %s", name, tt.phase, first.Outcome, first.Error)
			if first.Outcome != tt.want {
				t.Fatalf("got outcome %s (%s), want %s", first.Outcome, first.Error, tt.want)
			}
			if h := first.Host(name); h == nil || !h.Lost {
				t.Errorf("%s is not marked lost in deploy %s: the next run will not look for what it left there", name, first.ID)
			}
			if tt.rollback && !strings.Contains(first.Error, "lost "+name+" in the middle of a step: what it ran may still be running there") {
				t.Errorf("record error %q does not say %s was lost and what it ran may still run there", first.Error, name)
			}
			if tt.phase == deploy.StepMigrate {
				// The migrate command did not fail: the bot lost the
				// host under it, and it may still run.
				if first.MigrationState != deploy.MigrationsRunning {
					t.Errorf("migration state: got %q, want %q: the migration may still run on %s", first.MigrationState, deploy.MigrationsRunning, name)
				}
				// The address the SSH error gave, by its naming of host0
				// or in its cause, is said once: whoever checks the
				// database there needs it.
				if n := strings.Count(first.Error, fleet.Hosts[0].Addr); n != 1 {
					t.Errorf("record error %q: got host0's address %s %d times, want once", first.Error, fleet.Hosts[0].Addr, n)
				}
				for _, want := range []string{"lost host0", "while its migrations ran", "may still be running there", "002.sql", "nothing was switched"} {
					if !strings.Contains(first.Error, want) {
						t.Errorf("record error %q does not say %q", first.Error, want)
					}
				}
			}
			fleet.Resume(tt.host)
			if len(carrying(t, first.Run)) == 0 {
				t.Fatalf("the held %s of deploy %s is not running on %s after it came back", tt.phase, first.ID, name)
			}

			// The next run searches every process of the machine the
			// hosts share: on a busy one that outlasts the few seconds
			// the hung step was given. It runs with the default.
			f.cfg.Apps["web"].Envs["prod"].StepTimeout = config.Duration(5 * time.Minute)
			rec, err = f.run(deploy.KindDeploy, tt.again)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("the next deploy: %s (%s); notes %q", rec.Outcome, rec.Error, f.notes(rec.ID))
			if left := carrying(t, first.Run); len(left) > 0 {
				t.Errorf("after the next deploy, %d processes of deploy %s still run on %s: %q", len(left), first.ID, name, left)
			}
			// The test's hosts share the machine's processes (a mount
			// namespace each, not a PID one): the first host searched
			// finds the held step, whichever it is.
			if !slices.ContainsFunc(f.notes(rec.ID), func(n string) bool {
				return strings.HasPrefix(n, "stopped on ") && strings.Contains(n, "that lost the host in the middle of a step: "+string(first.Kind)+" "+first.ID)
			}) {
				t.Errorf("the next deploy does not say it stopped the step %s %s left; notes %q", first.Kind, first.ID, f.notes(rec.ID))
			}
			if rec.Outcome != deploy.OutcomeSucceeded {
				t.Errorf("the next deploy: got %s (%s), want succeeded", rec.Outcome, rec.Error)
			}
		})
	}
}
