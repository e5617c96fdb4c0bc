package commands_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestRollbackOfADeploy: `rollback DEPLOY-ID`, what a Rollback button
// sends where its full command is too long, rolls back from what that
// deploy put live, only while it runs, with the requester's permission
// checked on the deploy's app and env.
func TestRollbackOfADeploy(t *testing.T) {
	f := newServiceFixture(t)
	f.do("bob", "deploy web 1")
	_, _, d2 := f.do("bob", "deploy web 2")
	if d2 == nil || d2.Outcome != "succeeded" {
		t.Fatalf("deploy 2: %+v", d2)
	}
	if r, out, _ := f.do("carl", "rollback "+d2.ID); !r.Failed || !strings.Contains(out.last(), "rollback") {
		t.Errorf("carl, who may not roll back: failed %v, %q", r.Failed, out.last())
	}
	r, out, rb := f.do("bob", "rollback "+d2.ID)
	if r.Failed || rb == nil || rb.Build != "1" || rb.Previous != "2" || rb.App != "web" || rb.Env != "prod" {
		t.Fatalf("bob's rollback of %s: failed %v, %q, %+v; want web/prod from 2 to 1", d2.ID, r.Failed, out.last(), rb)
	}
	f.do("ana", "unlock deploys web prod")
	f.do("bob", "deploy web 2")
	// The rollback's own id: from what it restored, 1, which runs no more.
	if r, out, _ := f.do("bob", "rollback "+rb.ID); !r.Failed || !strings.Contains(out.last(), "runs 2 now, not 1") {
		t.Errorf("rollback of the rollback after a later deploy: failed %v, %q; want refused", r.Failed, out.last())
	}
	if r, out, _ := f.do("bob", "rollback 20261123-124158-b25a0a"); !r.Failed || !strings.Contains(out.last(), "there is no deploy 20261123-124158-b25a0a") {
		t.Errorf("an unknown deploy: failed %v, %q", r.Failed, out.last())
	}
}

// TestRollbackOfAnInterruptedRun: `rollback RUN-ID` of a run that stopped
// half-way, the short form of its message's button, undoes that run: back
// to the release it left, not to whatever the previous link names.
func TestRollbackOfAnInterruptedRun(t *testing.T) {
	f, last := deployedThree(t)
	// As if deploy 3 had come from 1 and its process had died after the
	// switch: the previous link names 2, which the button must not pick.
	// A copy: the engine's sink may still read the record it sent.
	d := *last
	d.Hosts = slices.Clone(last.Hosts)
	d.Outcome, d.Previous, d.Error = deploy.OutcomeInterrupted, "1", "the bot stopped before it finished"
	if err := f.store.PutRecord(context.Background(), &d); err != nil {
		t.Fatal(err)
	}
	b, ok := commands.InterruptedButton(&d)
	if !ok || b.Action != "rollback web prod to 1 from 3" || b.Short != "rollback "+d.ID {
		t.Fatalf("button: %+v, %v", b, ok)
	}
	r, out, rb := f.do("bob", b.Short)
	if r.Failed || rb == nil || rb.Build != "1" || rb.Previous != "3" || rb.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("rollback %s: failed %v, %q, %+v; want from 3 to 1", d.ID, r.Failed, out.last(), rb)
	}
}

// TestStatusAdviceUndoesTheInterruptedRun: the rollback status offers for
// an interrupted run undoes that run only, as its message's button does.
// A plain `rollback APP ENV` took a fleet the run never switched one
// release further back (marking the release that ran fine bad), and was
// refused when the run had switched some hosts and not the others.
func TestStatusAdviceUndoesTheInterruptedRun(t *testing.T) {
	tests := []struct {
		name string
		// switched: deploy 3 ran to its end before its record was made
		// interrupted, as if the process died after the switch.
		switched bool
		want     string // current afterwards
	}{
		{name: "no host switched", switched: false, want: "releases/2"},
		{name: "every host switched", switched: true, want: "releases/2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-3.tar.gz"), tgz(t, map[string]string{"BUILD": "3"}))
			builds := []string{"1", "2"}
			if tt.switched {
				builds = append(builds, "3")
			}
			var last *deploy.Record
			for _, b := range builds {
				if _, _, last = f.do("bob", "deploy web "+b); last == nil || last.Outcome != deploy.OutcomeSucceeded {
					t.Fatalf("deploy %s: %+v", b, last)
				}
			}
			d := deploy.Record{ID: "20261123-120000-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "3", Previous: "2",
				Requester: "bob", Started: time.Now(), Finished: time.Now(), Outcome: deploy.OutcomeInterrupted, Fence: last.Fence,
				Error: "the process running this deploy (gone:1) stopped before it finished; hosts are as observed at recovery",
				Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostDelivered, Current: "2", Previous: "2"}}}
			if tt.switched {
				d.ID = last.ID
				d.Started = last.Started
				d.Hosts = []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating, Current: "3", Previous: "2", Switched: true}}
			}
			if err := f.store.PutRecord(context.Background(), &d); err != nil {
				t.Fatal(err)
			}
			_, out, _ := f.do("carl", "status web")
			_, advice, ok := strings.Cut(out.last(), "decide: ")
			if !ok {
				t.Fatalf("status lacks the advice:\n%s", out.last())
			}
			advice, _, _ = strings.Cut(advice, ", or")
			r, out, _ := f.do("bob", advice)
			if got := link(t, filepath.Join(f.app, "current")); got != tt.want {
				t.Errorf("after %q (failed %v, %q): current %s, want %s", advice, r.Failed, out.last(), got, tt.want)
			}
			if _, err := os.Stat(filepath.Join(f.app, "releases/.bad-2")); err == nil {
				t.Errorf("after %q: release 2, which the interrupted deploy never replaced, is marked bad", advice)
			}
		})
	}
}

// TestStatusKeepsAnUnresolvedInterruptedRun: status shows an interrupted
// run, with the rollback that undoes it, until a later run resolves it:
// one that succeeded, which leaves every host on its release and checked,
// or one that found every host on one release already and had nothing to
// do (the env fixed by hand), which records that it did. A later run that
// switched nothing (a deploy that failed before its switch) was the last
// record, and status showed it alone: the hosts the interrupted run left
// half switched went unmentioned.
func TestStatusKeepsAnUnresolvedInterruptedRun(t *testing.T) {
	tests := []struct {
		name  string
		later func(t *testing.T, f *serviceFixture)
		shown bool
	}{
		{name: "nothing after it", later: func(*testing.T, *serviceFixture) {}, shown: true},
		{name: "a deploy that failed before its switch", shown: true, later: func(t *testing.T, f *serviceFixture) {
			artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-4.tar.gz"), []byte("not a tarball"))
			if _, _, rec := f.do("bob", "deploy web 4"); rec == nil || rec.Outcome != deploy.OutcomeFailed {
				t.Fatalf("deploy 4: got %+v, want it failed", rec)
			}
		}},
		{name: "a deploy that succeeded", shown: false, later: func(t *testing.T, f *serviceFixture) {
			artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-4.tar.gz"), tgz(t, map[string]string{"BUILD": "4"}))
			if _, _, rec := f.do("bob", "deploy web 4"); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("deploy 4: got %+v, want it succeeded", rec)
			}
		}},
		{name: "the rollback status offers", shown: false, later: func(t *testing.T, f *serviceFixture) {
			if _, _, rec := f.do("bob", "rollback web prod to 2 from 3"); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("rollback: got %+v, want it succeeded", rec)
			}
		}},
		{name: "a failed deploy, then the rollback status offers", shown: false, later: func(t *testing.T, f *serviceFixture) {
			artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-4.tar.gz"), []byte("not a tarball"))
			f.do("bob", "deploy web 4")
			_, out, _ := f.do("carl", "status web")
			_, advice, ok := strings.Cut(out.last(), "decide: ")
			if !ok {
				t.Fatalf("status lacks the advice:\n%s", out.last())
			}
			advice, _, _ = strings.Cut(advice, ", or")
			if _, out, rec := f.do("bob", advice); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("%s: got %+v, %q; want it succeeded", advice, rec, out.last())
			}
			if got := link(t, filepath.Join(f.app, "current")); got != "releases/2" {
				t.Errorf("after %q: current %s, want releases/2", advice, got)
			}
		}},
		{name: "fixed by hand, then a deploy of what runs", shown: false, later: func(t *testing.T, f *serviceFixture) {
			backByHand(t, f)
			res, out, _ := f.do("bob", "deploy web 2")
			if res.DeployID != "" || res.Code != errs.NoChange || !strings.Contains(out.last(), "interrupted, is resolved") {
				t.Errorf("deploy 2: got %+v, %q; want nothing to do, resolving deploy 3", res, out.last())
			}
		}},
		{name: "fixed by hand, then the rollback to what runs", shown: false, later: func(t *testing.T, f *serviceFixture) {
			backByHand(t, f)
			res, out, _ := f.do("bob", "rollback web prod to 2")
			if res.DeployID != "" || res.Code != errs.NoChange || !strings.Contains(out.last(), "interrupted, is resolved") {
				t.Errorf("rollback to 2: got %+v, %q; want nothing to do, resolving deploy 3", res, out.last())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, last := deployedThree(t)
			// Deploy 3's process died after its switch, before the restart.
			d := *last
			d.Outcome, d.Error = deploy.OutcomeInterrupted, "the process running this deploy (gone:1) stopped before it finished; hosts are as observed at recovery"
			d.Hosts = []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating, Current: "3", Previous: "2", Switched: true}}
			if err := f.store.PutRecord(context.Background(), &d); err != nil {
				t.Fatal(err)
			}
			tt.later(t, f)
			_, out, _ := f.do("carl", "status web")
			got := out.last()
			for _, want := range []string{"deploy 3 (from 2) interrupted by bob", "stopped before it finished", "decide: rollback web prod to 2 from 3, or deploy web BUILD to prod"} {
				if strings.Contains(got, want) != tt.shown {
					t.Errorf("status contains %q: %v, want %v:\n%s", want, !tt.shown, tt.shown, got)
				}
			}
			// The advice is a button too, sending the same command.
			var want []chat.Button
			if tt.shown {
				want = []chat.Button{{Label: "Roll back web/prod to 2", Action: "rollback web prod to 2 from 3", Short: "rollback " + d.ID, Style: "danger"}}
			}
			if got := out.lastMessage().Buttons; !reflect.DeepEqual(got, want) {
				t.Errorf("status buttons: got %+v, want %+v", got, want)
			}
		})
	}
}

// backByHand puts the fixture's host back on release 2, as someone fixing
// it by hand after the interrupted deploy of 3 would.
func backByHand(t *testing.T, f *serviceFixture) {
	t.Helper()
	tmp := filepath.Join(f.app, "current.by-hand")
	if err := os.Symlink("releases/2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(f.app, "current")); err != nil {
		t.Fatal(err)
	}
}

// TestRollbackNeverGoesForward: `rollback APP ENV to BUILD` of a release a
// deploy delivered and stopped before switching to (here, aborted at its
// migrations prompt) is refused: passing the lock and the window, with no
// deploy grant and no migrations, it would be a deploy through the
// rollback's door. A release that ran is still a target, lock or not.
func TestRollbackNeverGoesForward(t *testing.T) {
	tests := []struct {
		name    string
		confirm bool // whether deploy 2's migrations are confirmed
		to      string
		refused string // "" when the rollback goes ahead
	}{
		{"delivered, aborted at its migrations", false, "2", "release 2 of web/prod never ran there"},
		{"ran before", true, "1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, do := askService(t, nil)
			run := func(build string, yes bool) {
				t.Helper()
				res, out := do("bob", "deploy web "+build)
				if res.Failed {
					t.Fatalf("deploy %s: %q", build, out.last())
				}
				answer := "deploy abort "
				if yes {
					answer = "deploy confirm "
				}
				if r, o := do("ana", answer+waitConfirm(t, out)); r.Failed {
					t.Fatalf("%s%s: %q", answer, build, o.last())
				}
				<-out.finished
				os.Remove(filepath.Join(dir, "srv/web/applied")) // deploy 2 has migrations too
			}
			run("1", true)
			run("2", tt.confirm)
			if r, o := do("ana", "lock deploys web prod freeze"); r.Failed {
				t.Fatalf("lock: %q", o.last())
			}
			want := "releases/2"
			if !tt.confirm {
				want = "releases/1"
			}
			res, out := do("bob", "rollback web prod to "+tt.to)
			if tt.refused != "" {
				if !res.Failed || !strings.Contains(out.last(), tt.refused) || !strings.Contains(out.last(), "deploy web 2 to prod") {
					t.Errorf("rollback to %s: failed %v, %q; want refused with %q", tt.to, res.Failed, out.last(), tt.refused)
				}
			} else {
				if res.Failed {
					t.Fatalf("rollback to %s: %q", tt.to, out.last())
				}
				if rec := <-out.finished; rec.Outcome != deploy.OutcomeSucceeded {
					t.Fatalf("rollback to %s: %s (%s)", tt.to, rec.Outcome, rec.Error)
				}
				want = "releases/" + tt.to
			}
			if l, _ := os.Readlink(filepath.Join(dir, "srv/web/current")); l != want {
				t.Errorf("current: got %q, want %q", l, want)
			}
		})
	}
}

func link(t *testing.T, path string) string {
	t.Helper()
	got, err := os.Readlink(path)
	if err != nil {
		return "none: " + err.Error()
	}
	return got
}

// waitConfirm returns the id of the deploy whose migrations prompt out
// received.
func waitConfirm(t *testing.T, out *recorder) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		out.mu.Lock()
		for _, ev := range out.events {
			if ev.Kind == deploy.EventConfirm {
				out.mu.Unlock()
				return ev.DeployID
			}
		}
		out.mu.Unlock()
	}
	t.Fatal("no migrations prompt")
	return ""
}

// TestPlainRollbackAdviceNeverGoesForward: a plain rollback that finds no
// earlier release that ran, only one a deploy delivered and stopped
// before switching to, does not advise naming it with "to BUILD", which
// would be refused as going forward: it says the release never ran and
// that running it is a deploy.
func TestPlainRollbackAdviceNeverGoesForward(t *testing.T) {
	dir, do := askService(t, nil)
	for _, step := range []struct{ build, answer string }{{"1", "deploy confirm "}, {"2", "deploy abort "}} {
		res, out := do("bob", "deploy web "+step.build)
		if res.Failed {
			t.Fatalf("deploy %s: %q", step.build, out.last())
		}
		if r, o := do("ana", step.answer+waitConfirm(t, out)); r.Failed {
			t.Fatalf("%s%s: %q", step.answer, step.build, o.last())
		}
		<-out.finished
		os.Remove(filepath.Join(dir, "srv/web/applied")) // deploy 2 has migrations too
	}
	res, out := do("bob", "rollback web prod")
	got := out.last()
	if !res.Failed {
		t.Fatalf("rollback: got %q, want it refused", got)
	}
	for _, tt := range []struct {
		text string
		want bool
	}{
		{"name one: rollback web prod to BUILD", false},
		{"release 2 never ran there", true},
		{"deploy web 2 to prod", true},
		{"nothing was changed", true},
	} {
		if strings.Contains(got, tt.text) != tt.want {
			t.Errorf("rollback refusal contains %q: %v, want %v:\n%s", tt.text, !tt.want, tt.want, got)
		}
	}
	if l := link(t, filepath.Join(dir, "srv/web/current")); l != "releases/1" {
		t.Errorf("current: got %q, want releases/1", l)
	}
}

// deployedThree returns a service fixture whose web/prod was deployed
// builds 1, 2 and 3 in turn, and the record of the deploy of 3.
func deployedThree(t *testing.T) (*serviceFixture, *deploy.Record) {
	t.Helper()
	f := newServiceFixture(t)
	artifacttest.Publish(t, filepath.Join(f.app, "../../artifacts/web-3.tar.gz"), tgz(t, map[string]string{"BUILD": "3"}))
	var last *deploy.Record
	for _, b := range []string{"1", "2", "3"} {
		if _, _, last = f.do("bob", "deploy web "+b); last == nil || last.Outcome != deploy.OutcomeSucceeded {
			t.Fatalf("deploy %s: %+v", b, last)
		}
	}
	return f, last
}
