package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// TestFleetMigrationsWaitForAnUnreachableLostHost: a deploy that lost
// host0 while its migrate command ran leaves it perhaps still migrating
// there, and the next deploy stops it before it migrates anything. With
// host0 down then and left out (max_failures 1), that deploy could not
// stop it, and ran the migrations again on host1, beside the ones host0
// may still run against the same database. It must refuse them instead,
// as long as no run has searched host0 since; a dead run whose
// migrations had ended does not hold a deploy back, nor does one whose
// record says another host, reached now, ran them.
func TestFleetMigrationsWaitForAnUnreachableLostHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		state   deploy.MigrationState
		outcome deploy.Outcome // the dead run's; "" for failed, having lost host0
		on      string         // the host its record says ran its migrations
		refused bool
	}{
		{"lost while migrating", deploy.MigrationsRunning, "", "", true},
		{"lost after its migrations", deploy.MigrationsDone, "", "", false},
		// A run whose process died: its record names the host that
		// migrated, and only that one holds the next deploy back.
		{"died while migrating on host0", deploy.MigrationsRunning, deploy.OutcomeInterrupted, "host0", true},
		{"died while migrating on host1", deploy.MigrationsRunning, deploy.OutcomeInterrupted, "host1", false},
		// Written before records named it: any of its hosts may run them.
		{"died while migrating, host unrecorded", deploy.MigrationsRunning, deploy.OutcomeInterrupted, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet, f := migratingFleet(t, 2)
			// What the deploy that lost host0 recorded (see
			// TestFleetHungHostStepIsStoppedByTheNextRun).
			lost := deadMigration("20261206-lost", 2)
			lost.Outcome, lost.MigrationState, lost.Error = deploy.OutcomeFailed, tt.state, "lost host0 while its migrations ran"
			lost.Hosts[0].State, lost.Hosts[0].Lost = deploy.HostFailed, true
			if tt.outcome != "" {
				lost.Outcome, lost.Error, lost.MigrationHost = tt.outcome, "the bot stopped while it ran", tt.on
				for i := range lost.Hosts {
					lost.Hosts[i].State, lost.Hosts[i].Lost = deploy.HostDelivered, false
				}
			}
			if err := f.store.PutRecord(t.Context(), lost); err != nil {
				t.Fatal(err)
			}
			fleet.Stop(0)
			rec, err := f.run(deploy.KindDeploy, "2")
			if err != nil {
				t.Fatal(err)
			}
			applied, _ := os.ReadFile(filepath.Join(f.root(1), "shared", "applied"))
			ran := strings.Contains(string(applied), "002.sql")
			if !tt.refused {
				if !ran {
					t.Errorf("host1 applied %q, want 002.sql: %s (%s)", applied, rec.Outcome, rec.Error)
				}
				if rec.MigrationHost != "host1" {
					t.Errorf("migration host: got %q, want host1", rec.MigrationHost)
				}
				return
			}
			if ran {
				t.Errorf("host1 applied %q, want no migration run while host0 may still run them", applied)
			}
			const want = "the migrations of deploy 20261206-lost may still be running on host0, which this deploy could not reach to stop them: migrations run now would run beside them; nothing was migrated or switched"
			if rec.Outcome != deploy.OutcomeFailed || !strings.Contains(rec.Error, want) {
				t.Errorf("got %s (%s), want failed saying %q", rec.Outcome, rec.Error, want)
			}
			if rec.MigrationState != deploy.MigrationsNotStarted {
				t.Errorf("migration state: got %q, want %q", rec.MigrationState, deploy.MigrationsNotStarted)
			}
			if got := f.link(1, "current"); got != "releases/1" {
				t.Errorf("host1 current -> %q, want releases/1", got)
			}
		})
	}
}

// TestPlanSaysMigrationsWaitForAnUnreachableHost: the dry run of a deploy
// that would refuse its migrations, the host a dead run migrated on being
// out of reach, says so, as the deploy does; it said the migrations would
// run. A host that did not migrate, or one the deploy reaches (and
// searches), holds nothing back.
func TestPlanSaysMigrationsWaitForAnUnreachableHost(t *testing.T) {
	t.Parallel()
	const want = "if any migrations are pending, a deploy now fails before running them: the migrations of deploy 20261206-dead may still be running on host0, which this deploy could not reach to stop them"
	tests := []struct {
		name   string
		on     string // the host the dead run's record says migrated
		down   bool   // host0
		warned bool
	}{
		{"migrated on host0, down", "host0", true, true},
		{"host unrecorded, host0 down", "", true, true},
		{"migrated on host1, host0 down", "host1", true, false},
		{"migrated on host0, up", "host0", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet, f := migratingFleet(t, 2)
			dead := deadMigration("20261206-dead", 2)
			dead.MigrationHost = tt.on
			if err := f.store.PutRecord(t.Context(), dead); err != nil {
				t.Fatal(err)
			}
			if tt.down {
				fleet.Stop(0)
			}
			p, err := f.engine.Plan(t.Context(), deploy.Request{App: "web", Env: "prod", Build: "2"})
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			got := slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, want) })
			if got != tt.warned {
				t.Errorf("warnings %q: got one saying %q %v, want %v", p.Warnings, want, got, tt.warned)
			}
			for _, r := range p.Refusals {
				t.Errorf("refusal %q, want none: whether migrations are pending, only the deploy learns", r)
			}
		})
	}
}

// TestFleetMigrationsNameEveryUnreachableLostHost: a record written
// before records named the host that migrated holds the next deploy back
// on each of its hosts it cannot reach. The refusal named only the first
// of them, so that whoever brought host0 back was refused again for
// host1; it must name both.
func TestFleetMigrationsNameEveryUnreachableLostHost(t *testing.T) {
	t.Parallel()
	fleet, f := migratingFleet(t, 3)
	dead := deadMigration("20261206-old", 3)
	if err := f.store.PutRecord(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	fleet.Stop(0)
	fleet.Stop(1)
	rec, err := f.run(deploy.KindDeploy, "2")
	if err != nil {
		t.Fatal(err)
	}
	const want = "the migrations of deploy 20261206-old may still be running on host0, host1, which this deploy could not reach to stop them: migrations run now would run beside them; nothing was migrated or switched: deploy again once host0, host1 answer, or once they are out of the env's hosts"
	if rec.Outcome != deploy.OutcomeFailed || !strings.Contains(rec.Error, want) {
		t.Errorf("got %s (%s), want failed saying %q", rec.Outcome, rec.Error, want)
	}
	if applied, _ := os.ReadFile(filepath.Join(f.root(2), "shared", "applied")); strings.Contains(string(applied), "002.sql") {
		t.Errorf("host2 applied %q, want no migration run while host0 and host1 may still run them", applied)
	}
}

// migratingFleet starts n hosts with migrations, builds 1 and 2, and 1
// current, allowing all but one of them to fail.
func migratingFleet(t *testing.T, n int) (*sshd.Fleet, *fleetFixture) {
	t.Helper()
	fleet := startFleet(t, n)
	f := newFleetFixture(t, fleet, fleetSpec{migrations: true, env: []string{fmt.Sprintf("max_failures: %d", n-1)}}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")
	return fleet, f
}

// deadMigration is the record of a deploy of 2 over 1 to n hosts, an hour
// ago, that was interrupted while its migrations ran, its host unnamed.
func deadMigration(id string, n int) *deploy.Record {
	start := time.Now().Add(-time.Hour)
	r := &deploy.Record{ID: id, Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "ana", Started: start, Finished: start.Add(time.Minute), Outcome: deploy.OutcomeInterrupted,
		Run: strings.Repeat("ab", deploy.RunTokenLen/2), Migrations: []string{"002.sql"}, MigrationState: deploy.MigrationsRunning,
		Error: "the bot stopped while it ran"}
	for i := range n {
		r.Hosts = append(r.Hosts, deploy.HostResult{Host: fmt.Sprintf("host%d", i), State: deploy.HostDelivered, Current: "1"})
	}
	return r
}
