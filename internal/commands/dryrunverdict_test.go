package commands_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
)

// TestDryRunSaysWhatTheDeployDoes: for each state of the app/env, the dry
// run's verdict (refused, and why; going ahead, and through what) is what
// the deploy asked for right after it meets. A dry run whose deploy would
// be refused says so once, names no lock it "goes ahead" through, forces
// no window, and describes no change on a host; it used to say, of a
// deploy running under the requester's own lock, "a deploy now would be
// refused: web/prod is busy…", then "you hold the lock on web/prod, so the
// deploy goes ahead", and show the host "nothing (already current)" while
// its restart still ran.
func TestDryRunSaysWhatTheDeployDoes(t *testing.T) {
	const refused = "a deploy now would be refused"
	tests := []struct {
		name    string
		closed  bool     // after the window
		setup   []string // commands run first, each as "user: command"
		running bool     // ana's deploy of 2 is under way
		bare    bool     // build 4 is published without its checksum
		build   string
		force   bool
		refuse  []string // the reasons, in order; none when it goes ahead
		want    string   // also in the dry run
		deploy  string   // in the deploy's reply, when it is not refused
	}{
		{name: "nothing in the way", build: "2", want: "1. fetch"},
		{name: "another's lock", setup: []string{"bob: lock deploys web prod db move"}, build: "2", refuse: []string{"web/prod is locked"}},
		{name: "own lock", setup: []string{"ana: lock deploys web prod hotfix"}, build: "2", want: "you hold the lock on web/prod (hotfix), so the deploy goes ahead"},
		{name: "closed window", closed: true, build: "2", refuse: []string{"are closed"}},
		{name: "closed window, forced", closed: true, force: true, build: "2", want: "ana would force this deploy outside its window"},
		{name: "closed window and another's lock", closed: true, setup: []string{"bob: lock deploys web prod db move"}, build: "2",
			refuse: []string{"are closed", "web/prod is locked"}},
		{name: "closed window forced, another's lock", closed: true, force: true, setup: []string{"bob: lock deploys web prod db move"}, build: "2",
			refuse: []string{"web/prod is locked"}},
		{name: "own deploy under way, own lock", setup: []string{"ana: lock deploys web prod hotfix"}, running: true, build: "2",
			refuse: []string{"web/prod is busy"}},
		{name: "already current", setup: []string{"ana: deploy web 1"}, build: "1", want: "a deploy would do nothing", deploy: "already runs build 1 on every reachable host"},
		{name: "already current, closed window", setup: []string{"ana: deploy web 1"}, closed: true, build: "1", refuse: []string{"are closed"},
			want: "that cleared: web/prod already runs build 1 on every reachable host"},
		{name: "missing build, closed window", closed: true, build: "9", refuse: []string{"are closed"}, want: "that cleared: build 9 of web"},
		{name: "missing build, another's lock", setup: []string{"bob: lock deploys web prod db move"}, build: "9",
			refuse: []string{"web/prod is locked"}, want: "that cleared: build 9 of web"},
		{name: "no checksum, closed window", closed: true, bare: true, build: "4", refuse: []string{"are closed"}, want: "that cleared: build 4 of web has no published checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hold := filepath.Join(t.TempDir(), "hold")
			f := newGuardFixture(t, "while [ -e "+hold+" ]; do sleep 0.05; done")
			f.presence.set(map[string]bool{"ana": true}, nil)
			for _, s := range tt.setup {
				user, text, _ := strings.Cut(s, ": ")
				if res, out, _ := f.do(user, text); res.Failed {
					t.Fatalf("%q: %s", s, out.last())
				}
			}
			if tt.bare {
				bare := filepath.Join(filepath.Dir(filepath.Dir(f.app)), "artifacts", "web-4.tar.gz")
				if err := os.WriteFile(bare, tgz(t, map[string]string{"BUILD": "4"}), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.running {
				startHeldDeploy(t, f, hold)
			}
			if tt.closed {
				warsaw, _ := time.LoadLocation("Europe/Warsaw")
				f.clock.Set(time.Date(2026, 11, 23, 17, 0, 0, 0, warsaw)) // Monday, after the window
			}
			cmd := "deploy web " + tt.build
			if tt.force {
				cmd += ` --force "INC-42"`
			}

			res, out, _ := f.do("ana", cmd+" --dry-run")
			dry := out.last()
			if res.Failed || !strings.Contains(dry, "nothing was changed") && !strings.Contains(dry, "would do nothing") {
				t.Fatalf("dry run: got failed=%v %q, want a plan", res.Failed, dry)
			}
			if n, want := strings.Count(dry, refused), min(len(tt.refuse), 1); n != want {
				t.Errorf("dry run:\n%s\nsays %q %d times, want %d", dry, refused, n, want)
			}
			at := 0
			for _, r := range tt.refuse {
				i := strings.Index(dry[at:], r)
				if i < 0 {
					t.Errorf("dry run:\n%s\nwant the reasons %q, in that order", dry, tt.refuse)
					break
				}
				at += i + len(r)
			}
			if len(tt.refuse) > 0 {
				for _, bad := range []string{"goes ahead", "would force", "already current", "deliver and switch", "switch 1", "1. fetch"} {
					if strings.Contains(dry, bad) {
						t.Errorf("dry run of a refused deploy:\n%s\nsays %q", dry, bad)
					}
				}
			}
			if !strings.Contains(dry, tt.want) {
				t.Errorf("dry run:\n%s\nwant %q", dry, tt.want)
			}

			res, out, rec := f.do("ana", cmd)
			got := out.last()
			if len(tt.refuse) > 0 {
				if !res.Failed || !strings.Contains(got, tt.refuse[0]) {
					t.Errorf("deploy: got failed=%v %q, want it refused as the dry run said: %q", res.Failed, got, tt.refuse[0])
				}
			} else if res.Failed || !strings.Contains(got, tt.deploy) || tt.deploy == "" && rec == nil {
				t.Errorf("deploy: got failed=%v %q, %+v; want it to go ahead as the dry run said", res.Failed, got, rec)
			}
			if tt.running {
				os.Remove(hold)
			}
		})
	}
}

// startHeldDeploy starts ana's deploy of web 2, whose restart waits while
// hold exists, and returns once it has switched the host; the deploy ends
// when hold is removed, before the test does.
func startHeldDeploy(t *testing.T, f *guardFixture, hold string) {
	t.Helper()
	if err := os.WriteFile(hold, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := newRecorder()
	res := f.svc.Handle(context.Background(), commands.Request{User: "ana", Platform: "test", Channel: "C1", Text: "deploy web 2"}, out)
	if res.Failed || res.DeployID == "" {
		t.Fatalf("deploy web 2: %s", out.last())
	}
	t.Cleanup(func() {
		os.Remove(hold)
		select {
		case <-out.finished:
		case <-time.After(30 * time.Second):
			t.Errorf("deploy %s did not finish", res.DeployID)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		if l, _ := os.Readlink(filepath.Join(f.app, "current")); strings.HasSuffix(l, "2") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("deploy web 2 did not switch the host")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
