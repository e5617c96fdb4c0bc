package deploy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/pgserver"
)

// checkCancelled checks a deploy of 2 cancelled by bob: cancelled, and
// every host back on (or still on) 1 with nothing partial left.
func checkCancelled(t *testing.T, f *fleetFixture, rec *deploy.Record) {
	t.Helper()
	if rec.Outcome != deploy.OutcomeCancelled || !strings.Contains(rec.Error, "cancelled by bob") {
		t.Errorf("got outcome %s (%s), want cancelled by bob", rec.Outcome, rec.Error)
	}
	for i, h := range f.fleet.Hosts {
		if got := f.link(i, "current"); got != "releases/1" {
			t.Errorf("%s: current -> %q, want releases/1", h.Name, got)
		}
		if hr := hostResult(t, rec, h.Name); hr.Current != "1" {
			t.Errorf("%s: record says current %q, want 1", h.Name, hr.Current)
		}
		f.checkNoPartial(i)
	}
}

// cancel cancels the deploy of web/prod as bob.
func (f *fleetFixture) cancel(id string) {
	f.t.Helper()
	got, err := f.engine.Cancel("web", "prod", "bob")
	if err != nil || got.ID != id || !got.Started {
		f.t.Fatalf("cancel: got %+v, %v; want deploy %s, started, cancelled", got, err, id)
	}
}

func TestFleetCancel(t *testing.T) {
	t.Parallel()

	// The artifact server stalls mid-transfer: to the bot in push mode,
	// to the hosts in pull mode.
	for _, tt := range []struct{ delivery, stalled string }{{"push", "bot"}, {"pull", "host"}} {
		t.Run("during "+tt.delivery+" delivery", func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 2)
			f, srv := servedFixture(t, fleet, fleetSpec{delivery: tt.delivery})
			f.build("1")
			f.build("2")
			f.seed("1")
			srv.mu.Lock()
			srv.stall = func(client, file string) bool { return client == tt.stalled && file == "web-2.tar.gz" }
			srv.mu.Unlock()

			rec, done, err := f.start(deploy.KindDeploy, "2")
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range fleet.Hosts {
				f.await(rec.ID, "delivery to "+h.Name, stepStarted(h.Name, deploy.StepDeliver))
			}
			deadline := time.Now().Add(fleetWait)
			for srv.count(tt.stalled, "web-2.tar.gz") == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("no GET of web-2.tar.gz by the %s", tt.stalled)
				}
				time.Sleep(10 * time.Millisecond)
			}
			f.cancel(rec.ID)
			rec = f.wait(done)
			checkCancelled(t, f, rec)
			for i, h := range fleet.Hosts {
				if f.exists(i, "releases/2") {
					t.Errorf("%s: releases/2 exists after a cancelled delivery", h.Name)
				}
				checkHost(t, rec, h.Name, deploy.HostUnchanged, "1")
			}
		})
	}

	t.Run("waiting for migrations to be confirmed", func(t *testing.T) {
		t.Parallel()
		fleet := startFleet(t, 2)
		f := newFleetFixture(t, fleet, fleetSpec{migrations: true, env: []string{"migrate: ask"}}, nil)
		f.build("1")
		f.build("2")
		f.seed("1")
		rec, done, err := f.start(deploy.KindDeploy, "2")
		if err != nil {
			t.Fatal(err)
		}
		f.await(rec.ID, "confirmation prompt", func(ev deploy.Event) bool { return ev.Kind == deploy.EventConfirm })
		f.cancel(rec.ID)
		rec = f.wait(done)
		checkCancelled(t, f, rec)
		if got := f.read(0, "shared/applied"); got != "001.sql\n" {
			t.Errorf("host0: applied migrations %q, want only 001.sql", got)
		}
		for _, h := range fleet.Hosts {
			if got := f.stepsOf(rec.ID, h.Name); slices.Contains(got, deploy.StepMigrate) || slices.Contains(got, deploy.StepActivate) {
				t.Errorf("%s ran %v, want no migration and no switch", h.Name, got)
			}
		}
	})

	t.Run("during activation", func(t *testing.T) {
		t.Parallel()
		fleet := startFleet(t, 3)
		restart := `if [ "$SWITCHMAN_HOST" = host1 ] && [ "$SWITCHMAN_BUILD" = 2 ]; then while [ ! -e /srv/gate ]; do sleep 0.05; done; fi`
		f := newFleetFixture(t, fleet, fleetSpec{restart: restart}, nil)
		f.build("1")
		f.build("2")
		f.seed("1")
		rec, done, err := f.start(deploy.KindDeploy, "2")
		if err != nil {
			t.Fatal(err)
		}
		f.await(rec.ID, "restart on host1", stepStarted("host1", deploy.StepRestart))
		f.cancel(rec.ID)
		// A restart is never cut in the middle: host1 finishes it, then
		// the deploy stops and switches back.
		if err := os.WriteFile(filepath.Join(fleet.Hosts[1].Root, "gate"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		rec = f.wait(done)
		checkCancelled(t, f, rec)
		checkHost(t, rec, "host0", deploy.HostReverted, "1")
		checkHost(t, rec, "host1", deploy.HostReverted, "1")
		checkHost(t, rec, "host2", deploy.HostUnchanged, "1")
		if got := f.stepsOf(rec.ID, "host2"); slices.Contains(got, deploy.StepActivate) {
			t.Errorf("host2 ran %v, want it never switched", got)
		}
		for i := range fleet.Hosts {
			if !f.exists(i, "releases/.bad-2") {
				t.Errorf("%s: release 2 not marked bad after the cancelled deploy", fleet.Hosts[i].Name)
			}
		}
	})
}

// migrationLog returns the time (ns) and the release current pointed at
// when migration name ran on host i.
func (f *fleetFixture) migrationLog(i int, name string) (at int64, current string) {
	f.t.Helper()
	for _, line := range strings.Split(f.read(i, "shared/migrations.log"), "\n") {
		var m string
		if n, _ := fmt.Sscanf(line, "%s %d %s", &m, &at, &current); n == 3 && m == name {
			return at, current
		}
	}
	f.t.Fatalf("%s: migration %s is not in shared/migrations.log", f.fleet.Hosts[i].Name, name)
	return 0, ""
}

func TestFleetMigrations(t *testing.T) {
	t.Parallel()

	t.Run("ask, then confirmed", func(t *testing.T) {
		t.Parallel()
		fleet := startFleet(t, 2)
		f := newFleetFixture(t, fleet, fleetSpec{migrations: true, env: []string{"migrate: ask"}}, nil)
		f.build("1")
		f.build("2")
		f.seed("1")
		rec, done, err := f.start(deploy.KindDeploy, "2")
		if err != nil {
			t.Fatal(err)
		}
		ev := f.await(rec.ID, "confirmation prompt", func(ev deploy.Event) bool { return ev.Kind == deploy.EventConfirm })
		if !slices.Equal(ev.Migrations, []string{"002.sql"}) || !strings.Contains(ev.Text, rec.ID) {
			t.Errorf("prompt: got migrations %v text %q, want [002.sql] and the deploy id", ev.Migrations, ev.Text)
		}
		// Nothing ran or switched while it waits.
		if got := f.read(0, "shared/applied"); got != "001.sql\n" {
			t.Errorf("applied while waiting: %q, want only 001.sql", got)
		}
		for i := range fleet.Hosts {
			if got := f.link(i, "current"); got != "releases/1" {
				t.Errorf("%s: current -> %q while waiting, want releases/1", fleet.Hosts[i].Name, got)
			}
		}
		if err := f.engine.Confirm(t.Context(), "20260101-000000-nope00", "ana", true); errs.CodeOf(err) != errs.NotFound {
			t.Errorf("confirm of an unknown deploy: got %v, want not found", err)
		}
		if err := f.engine.Confirm(t.Context(), rec.ID, "ana", true); err != nil {
			t.Fatalf("confirm: %v", err)
		}
		rec = f.wait(done)
		if rec.Outcome != deploy.OutcomeSucceeded {
			t.Fatalf("got outcome %s (%s), want succeeded", rec.Outcome, rec.Error)
		}
		if !slices.Equal(rec.Migrations, []string{"002.sql"}) {
			t.Errorf("record migrations: got %v, want [002.sql]", rec.Migrations)
		}
		if !f.sawNote(rec.ID, "migrations confirmed by ana") {
			t.Errorf("no note of the confirmation; notes %q", f.notes(rec.ID))
		}
		// Applied once, on the first host, before any host switched.
		if got := f.read(0, "shared/applied"); got != "001.sql\n002.sql\n" {
			t.Errorf("host0: applied %q, want 001.sql and 002.sql", got)
		}
		if got := f.read(1, "shared/applied"); got != "001.sql\n" {
			t.Errorf("host1: applied %q, want migrations to run on the first host only", got)
		}
		if _, current := f.migrationLog(0, "002.sql"); current != "releases/1" {
			t.Errorf("002.sql ran while current pointed at %q, want releases/1 (before the switch)", current)
		}
		for i := range fleet.Hosts {
			f.checkLinks(i, "2", "1")
		}
	})

	t.Run("ask, nobody answers", func(t *testing.T) {
		t.Parallel()
		fleet := startFleet(t, 2)
		f := newFleetFixture(t, fleet, fleetSpec{migrations: true, env: []string{"migrate: ask", "confirm_timeout: 1s"}}, nil)
		f.build("1")
		f.build("2")
		f.seed("1")
		rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeFailed)
		if !strings.Contains(rec.Error, "nobody confirmed the migrations within 1s") {
			t.Errorf("record error %q, want the confirmation timeout", rec.Error)
		}
		if got := f.read(0, "shared/applied"); got != "001.sql\n" {
			t.Errorf("applied %q, want only 001.sql", got)
		}
		for i, h := range fleet.Hosts {
			f.checkLinks(i, "1", "")
			checkHost(t, rec, h.Name, deploy.HostUnchanged, "1")
		}
	})

	t.Run("auto runs the backup first", func(t *testing.T) {
		t.Parallel()
		fleet := startFleet(t, 2)
		backup := `date +%s%N > shared/backup-at`
		f := newFleetFixture(t, fleet, fleetSpec{migrations: true, env: []string{"backup: " + yq(backup)}}, nil)
		f.build("1")
		f.build("2")
		f.seed("1")
		rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
		var backupAt int64
		if _, err := fmt.Sscanf(f.read(0, "shared/backup-at"), "%d", &backupAt); err != nil {
			t.Fatalf("backup-at: %v", err)
		}
		migratedAt, current := f.migrationLog(0, "002.sql")
		if backupAt <= 0 || backupAt > migratedAt {
			t.Errorf("backup at %d, migration at %d: want the backup first", backupAt, migratedAt)
		}
		if current != "releases/1" {
			t.Errorf("002.sql ran while current pointed at %q, want releases/1", current)
		}
		steps := f.stepsOf(rec.ID, "host0")
		b, m, a := slices.Index(steps, deploy.StepBackup), slices.Index(steps, deploy.StepMigrate), slices.Index(steps, deploy.StepActivate)
		if b < 0 || m < b || a < m {
			t.Errorf("host0 steps %v: want backup, then migrate, then activate", steps)
		}
	})

	t.Run("auto with a pg_dump backup", func(t *testing.T) {
		t.Parallel()
		if _, err := exec.LookPath("pg_dump"); err != nil {
			t.Fatal("pg_dump not found: install it with `apt-get install -y postgresql-client`")
		}
		db := pgserver.Start(t)
		fleet := startFleet(t, 2)
		backup := fmt.Sprintf(`pg_dump -h 127.0.0.1 -p %d -U postgres test > shared/backup.sql`, db.Port())
		f := newFleetFixture(t, fleet, fleetSpec{migrations: true, env: []string{"backup: " + yq(backup)}}, nil)
		f.build("1")
		f.build("2")
		f.seed("1")
		f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
		dump := f.read(0, "shared/backup.sql")
		if !strings.Contains(dump, "PostgreSQL database dump") {
			t.Errorf("shared/backup.sql (%d bytes) is not a pg_dump: %.200q", len(dump), dump)
		}
		// The dump holds the database: its user's alone, as the host's
		// login umask (022) would not make it.
		st, err := os.Stat(filepath.Join(f.root(0), "shared/backup.sql"))
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm != 0o600 {
			t.Errorf("shared/backup.sql: mode %v, want 0600", perm)
		}
		t.Logf("pg_dump wrote %d bytes before migrations ran", len(dump))
	})

	t.Run("never refuses pending migrations", func(t *testing.T) {
		t.Parallel()
		fleet := startFleet(t, 2)
		f := newFleetFixture(t, fleet, fleetSpec{migrations: true, env: []string{"migrate: never"}}, nil)
		f.build("1")
		f.build("2")
		f.seed("1")
		rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeFailed)
		for _, want := range []string{"pending migrations (002.sql)", "migrate: never", "nothing was switched"} {
			if !strings.Contains(rec.Error, want) {
				t.Errorf("record error %q does not say %q", rec.Error, want)
			}
		}
		if got := f.read(0, "shared/applied"); got != "001.sql\n" {
			t.Errorf("applied %q, want only 001.sql", got)
		}
		for i, h := range fleet.Hosts {
			f.checkLinks(i, "1", "")
			if got := f.stepsOf(rec.ID, h.Name); slices.Contains(got, deploy.StepMigrate) || slices.Contains(got, deploy.StepActivate) {
				t.Errorf("%s ran %v, want no migration and no switch", h.Name, got)
			}
		}
	})
}

// TestRestartLeavingOutputHeld: a restart that leaves the app in the
// background holding the step's output, as `nohup app &` does, is named
// in a note, since it dies of SIGPIPE at its next write once the bot
// stops reading; one that redirected its output is not. Over SSH the note
// names the process, locally it cannot.
func TestRestartLeavingOutputHeld(t *testing.T) {
	t.Parallel()
	restart := `if [ "$SWITCHMAN_HOST" = host0 ]; then nohup sleep 5 2>/dev/null & else nohup sleep 5 >/dev/null 2>&1 </dev/null & fi`
	t.Run("ssh", func(t *testing.T) {
		t.Parallel()
		f := newFleetFixture(t, startFleet(t, 2), fleetSpec{restart: restart}, nil)
		f.build("1")
		f.build("2")
		f.seed("1")
		rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
		var held []string
		for _, n := range f.notes(rec.ID) {
			if strings.Contains(n, "holding its output") {
				held = append(held, n)
			}
		}
		if len(held) != 1 || !strings.Contains(held[0], "host0: the restart left pid ") || !strings.Contains(held[0], "SIGPIPE") {
			t.Errorf("notes about held output: %q; want one, naming host0's restart and its process", held)
		}
	})
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, `nohup sleep 5 2>/dev/null &`)
		f.build("1")
		f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
		if !f.sawNote("localhost: the restart left a process holding its output") {
			t.Errorf("no note about the restart's process holding its output; events %+v", f.events)
		}
	})
}
