package commands_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestStatusAndHistoryShowALostHost: a run that lost a host in the middle
// of a step (its connection ended, the host hung) ended failed, and what
// the step began may still run there until the next deploy or rollback
// of the app+env stops it. status and history showed the run's outcome
// and nothing of the host: whoever looked at the env saw no reason to
// check it. They now say so, until a later run stops it there or
// succeeds.
func TestStatusAndHistoryShowALostHost(t *testing.T) {
	tests := []struct {
		name  string
		later func(t *testing.T, f *serviceFixture, lost *deploy.Record)
		shown bool
	}{
		{name: "nothing after it", shown: true, later: func(*testing.T, *serviceFixture, *deploy.Record) {}},
		{name: "a later failed run that stopped nothing of it", shown: true, later: func(t *testing.T, f *serviceFixture, lost *deploy.Record) {
			putLater(t, f, lost, "")
		}},
		{name: "a later failed run that stopped its leftovers", shown: false, later: func(t *testing.T, f *serviceFixture, lost *deploy.Record) {
			putLater(t, f, lost, string(lost.Kind)+" "+lost.ID+": 2 processes (sh, sleep)")
		}},
		{name: "a later failed run that searched the host and found nothing", shown: false, later: func(t *testing.T, f *serviceFixture, _ *deploy.Record) {
			// Build 4 says it is 5: its health check fails, and the
			// deploy is reverted after it searched localhost.
			artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-4.tar.gz"), tgz(t, map[string]string{"BUILD": "5"}))
			_, out, rec := f.do("bob", "deploy web 4")
			if rec == nil || rec.Outcome != deploy.OutcomeReverted {
				t.Fatalf("deploy 4: got %+v, want it reverted", rec)
			}
			out.mu.Lock()
			defer out.mu.Unlock()
			if !slices.ContainsFunc(out.events, func(ev deploy.Event) bool { return strings.Contains(ev.Text, "is still running on localhost") }) {
				t.Fatalf("deploy 4: got events %+v, want it to search localhost and find nothing", out.events)
			}
		}},
		{name: "a later deploy that succeeded", shown: false, later: func(t *testing.T, f *serviceFixture, _ *deploy.Record) {
			artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-4.tar.gz"), tgz(t, map[string]string{"BUILD": "4"}))
			if _, _, rec := f.do("bob", "deploy web 4"); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("deploy 4: got %+v, want it succeeded", rec)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, last := deployedThree(t)
			// Deploy 3 lost the host during its restart, and was
			// reverted.
			d := *last
			d.Outcome, d.Error = deploy.OutcomeReverted, "restart on localhost: host unreachable: connection lost"
			d.Hosts = []deploy.HostResult{{Host: "localhost", State: deploy.HostReverted, Current: "2", Previous: "1", Lost: true}}
			if err := f.store.PutRecord(context.Background(), &d); err != nil {
				t.Fatal(err)
			}
			tt.later(t, f, &d)

			_, out, _ := f.do("carl", "status web")
			want := "⚠ localhost: lost in the middle of a step of deploy 3 (" + d.ID + "); what it ran may still run there until the next deploy or rollback of web/prod stops it"
			if got := out.last(); strings.Contains(got, want) != tt.shown {
				t.Errorf("status shows %q: %v, want %v:\n%s", want, !tt.shown, tt.shown, got)
			}
			_, out, _ = f.do("carl", "history web prod")
			want = d.ID + "  web/prod  deploy 3 (from 2) reverted"
			got := out.last()
			line, after, ok := strings.Cut(got, want)
			if !ok {
				t.Fatalf("history lacks deploy 3 (%q):\n%s", want, got)
			}
			_, after, _ = strings.Cut(after, "\n")
			marked := strings.HasPrefix(strings.TrimSpace(after), "⚠ localhost: lost in the middle of a step; what it ran may still run there until the next deploy or rollback of web/prod stops it")
			if marked != tt.shown || strings.Count(got, "lost in the middle") != map[bool]int{true: 1}[tt.shown] {
				t.Errorf("history marks localhost lost under deploy 3: %v, want %v:\n%s%s", marked, tt.shown, line, got[len(line):])
			}
		})
	}
}

// putLater records a run of web/prod after lost, failed before it
// switched, that stopped on localhost what stopped says.
func putLater(t *testing.T, f *serviceFixture, lost *deploy.Record, stopped string) {
	t.Helper()
	started := lost.Started.Add(time.Minute)
	// A copy of lost, to carry its lease: the store takes records of
	// the lease that wrote the last.
	later := *lost
	later.ID, later.Run = started.UTC().Format("20060102-150405")+"-0a0b0c", strings.Repeat("a", deploy.RunTokenLen)
	later.Build, later.Previous, later.Started, later.Finished = "4", "2", started, started.Add(time.Second)
	later.Outcome, later.Error = deploy.OutcomeFailed, "fetch failed"
	later.Hosts = []deploy.HostResult{{Host: "localhost", State: deploy.HostUnchanged, Current: "2", Previous: "1", Stopped: stopped}}
	if err := f.store.PutRecord(context.Background(), &later); err != nil {
		t.Fatal(err)
	}
}
