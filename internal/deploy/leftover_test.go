package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestLeftoverSearch: only a run that follows an interrupted one looks
// for what that run left running on its hosts, a walk of every process
// there; every script of a run carries its token. After an interrupted
// run, a rollback stops the step it left running (here the local
// transport's shell, whose bot is taken for dead: nothing waits for it)
// before it changes anything, and says so; or says that nothing is left.
func TestLeftoverSearch(t *testing.T) {
	const token = "fedcba9876543210fedcba9876543210"
	tests := []struct {
		name string
		// dead puts an interrupted deploy of 2 with token before the
		// rollback; leftover leaves its step running on the host.
		dead, leftover bool
		wantSearches   int
		wantNote       string
	}{
		{name: "no interrupted run"},
		{name: "an interrupted run that left nothing", dead: true, wantSearches: 1,
			wantNote: "nothing deploy 20260101-000000-dead00 had begun is still running on localhost"},
		{name: "an interrupted run whose step still runs", dead: true, leftover: true, wantSearches: 1,
			wantNote: "stopped on localhost what was still running there of a run whose process died: deploy 20260101-000000-dead00: 2 processes (sh, sleep)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &scriptLog{}
			f := newFixtureFrom(t, fmt.Sprintf(fixtureYAML, "true"), tr)
			f.build("1")
			f.build("2")
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			late := filepath.Join(f.dir, "late")
			var ended chan error
			if tt.leftover {
				began := filepath.Join(f.dir, "began")
				s, err := (&local.Transport{}).Open(t.Context(), deploy.Host{Name: "localhost"})
				if err != nil {
					t.Fatal(err)
				}
				ended = make(chan error, 1)
				go func() {
					_, err := s.Run(context.Background(), deploy.Command{Run: token,
						Script: "touch " + began + "; sleep 60; touch " + late})
					ended <- err
				}()
				waitFile(t, began)
			}
			if tt.dead {
				dead := f.putDead("2", deploy.HostResult{Host: "localhost", State: deploy.HostActivating, Current: "2", Previous: "1", Switched: true})
				// It died after deploy 2 succeeded.
				dead.Run, dead.Started = token, time.Now()
				if err := f.store.PutRecord(t.Context(), dead); err != nil {
					t.Fatal(err)
				}
			}
			tr.mu.Lock()
			tr.scripts, tr.runs = nil, nil
			tr.mu.Unlock()

			rec := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
			if tt.leftover {
				// Killed, the step returns: it never gets to its late write.
				var exit *deploy.ExitError
				if err := <-ended; !errors.As(err, &exit) || exit.Code != 128+9 {
					t.Errorf("the leftover step ended with %v, want killed (exit status 137)", err)
				}
				if _, err := os.Stat(late); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the leftover step wrote %s: %v", late, err)
				}
			}
			tr.mu.Lock()
			defer tr.mu.Unlock()
			searches := 0
			for i, s := range tr.scripts {
				if strings.Contains(s, "/environ") {
					searches++
					if !strings.Contains(s, token) {
						t.Errorf("the search looks for other runs than %s:\n%s", token, s)
					}
				}
				if tr.runs[i] != rec.Run {
					t.Errorf("script %d carries run %q, want the rollback's %q", i, tr.runs[i], rec.Run)
				}
			}
			if searches != tt.wantSearches {
				t.Errorf("got %d searches of the host's processes, want %d", searches, tt.wantSearches)
			}
			if !deploy.ValidRunToken(rec.Run) {
				t.Errorf("the rollback's record has run token %q, want %d hex digits", rec.Run, deploy.RunTokenLen)
			}
			if tt.wantNote != "" && f.countNotes(rec.ID, tt.wantNote) != 1 {
				t.Errorf("want one note %q of the rollback", tt.wantNote)
			}
		})
	}
}

// TestLeftoverSearchAfterUnchanged: a deploy that finds every host on its
// build already (2, which a deploy of 3 that died delivering left them
// on) resolves an interrupted run without searching the hosts
// (it changes nothing there), so the step that run left running still
// runs; the next run that changes the hosts looks for it all the same and
// stops it. Without it, the unchanged run hid the interrupted one and the
// step raced the rollback.
func TestLeftoverSearchAfterUnchanged(t *testing.T) {
	const token = "0f1e2d3c4b5a69780f1e2d3c4b5a6978"
	f := newFixtureFrom(t, fmt.Sprintf(fixtureYAML, "true"), &local.Transport{})
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	began, late := filepath.Join(f.dir, "began"), filepath.Join(f.dir, "late")
	s, err := (&local.Transport{}).Open(t.Context(), deploy.Host{Name: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), deploy.Command{Run: token,
			Script: "touch " + began + "; sleep 60; touch " + late})
		ended <- err
	}()
	waitFile(t, began)
	// It died delivering build 3 (a long unpack, a migration): the
	// host still runs 2.
	dead := f.putDead("3", deploy.HostResult{Host: "localhost", State: deploy.HostDelivering, Current: "2", Previous: "2"})
	dead.Run, dead.Started = token, time.Now()
	if err := f.store.PutRecord(t.Context(), dead); err != nil {
		t.Fatal(err)
	}

	if _, err := f.run(deploy.KindDeploy, "2"); !strings.Contains(fmt.Sprint(err), "is resolved") {
		t.Fatalf("deploy 2 again: got %v, want nothing to do, the interrupted run resolved", err)
	}
	rec := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	var exit *deploy.ExitError
	if err := <-ended; !errors.As(err, &exit) || exit.Code != 128+9 {
		t.Errorf("the leftover step ended with %v, want killed (exit status 137)", err)
	}
	if _, err := os.Stat(late); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the leftover step wrote %s: %v", late, err)
	}
	const want = "stopped on localhost what was still running there of a run whose process died: deploy 20260101-000000-dead00: 2 processes (sh, sleep)"
	if f.countNotes(rec.ID, want) != 1 {
		t.Errorf("want one note %q of the rollback", want)
	}
}

// TestLeftoverSearchSparesWhatOutlivedItsStep: what a step of the dead run
// left running in the background, the step itself having ended, is left
// alone even when a word of its command line is "switchman", the word the
// transports give the shells that run steps (the app's user, as in
// su switchman -c ..., or a screen session named after it): only a
// /bin/sh -c running a step is such a shell. Without it, the search took
// that program for a step's shell and killed it, and all it started.
func TestLeftoverSearchSparesWhatOutlivedItsStep(t *testing.T) {
	const token = "a1b2c3d4e5f60718a1b2c3d4e5f60718"
	f := newFixtureFrom(t, fmt.Sprintf(fixtureYAML, "true"), &local.Transport{})
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	pidFile := filepath.Join(f.dir, "app.pid")
	s, err := (&local.Transport{}).Open(t.Context(), deploy.Host{Name: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	// The step ends at once; the program it started runs on.
	if _, err := s.Run(t.Context(), deploy.Command{Run: token, Timeout: 10 * time.Second,
		Script: "sh -c 'sleep 60; :' switchman </dev/null >/dev/null 2>&1 & echo $! >" + pidFile}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s holds %q, want a pid", pidFile, b)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	dead := f.putDead("2", deploy.HostResult{Host: "localhost", State: deploy.HostActivating, Current: "2", Previous: "1", Switched: true})
	dead.Run, dead.Started = token, time.Now()
	if err := f.store.PutRecord(t.Context(), dead); err != nil {
		t.Fatal(err)
	}

	rec := f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatalf("the program the dead run's step left running is gone: %v", err)
	}
	if st := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(st) == 0 || st[0] != "S" {
		t.Errorf("the program the dead run's step left running is in state %.1v, want S (sleeping)", st)
	}
	const want = "nothing deploy 20260101-000000-dead00 had begun is still running on localhost"
	if f.countNotes(rec.ID, want) != 1 {
		t.Errorf("want one note %q of the rollback", want)
	}
}
