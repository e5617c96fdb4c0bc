package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestRollbackWithCurrentGone: h1's `current` points at release 3, which
// is gone from it. A rollback says so when it refuses ("none on h1" read
// as a host never deployed to), a rollback to the gone release is
// refused naming the host that lacks it, and one named to a release every
// host has goes there, h1 included.
func TestRollbackWithCurrentGone(t *testing.T) {
	f, current := threeHosts(t)
	f.build("3")
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	if err := os.RemoveAll(filepath.Join(f.app+"-h1", "releases", "3")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ to, want string }{
		{"", "the hosts of web/prod run different releases (3 on h0, h2; 3, which is gone, on h1)"},
		{"3", "release 3 of web/prod is not on h1; good releases on every host: 2, 1; nothing was changed"},
	} {
		_, err := f.run(deploy.KindRollback, tc.to)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("rollback to %q: got %v, want %q", tc.to, err, tc.want)
		}
	}
	for _, h := range []string{"h0", "h1", "h2"} {
		if got := current(h); got != "releases/3" {
			t.Errorf("%s: current %s after the refusals, want releases/3", h, got)
		}
	}
	f.mustRun(deploy.KindRollback, "2", deploy.OutcomeSucceeded)
	for _, h := range []string{"h0", "h1", "h2"} {
		if got := current(h); got != "releases/2" {
			t.Errorf("%s: current %s after the rollback to 2, want releases/2", h, got)
		}
	}
}

// TestDeployWithCurrentGone: a deploy of the release h1's `current`
// points at, gone from it, delivers it there again rather than finding
// it current.
func TestDeployWithCurrentGone(t *testing.T) {
	f, current := threeHosts(t)
	f.build("3")
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	if err := os.RemoveAll(filepath.Join(f.app+"-h1", "releases", "3")); err != nil {
		t.Fatal(err)
	}
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	if _, err := os.Stat(filepath.Join(f.app+"-h1", "releases", "3", "BUILD")); err != nil {
		t.Errorf("h1's release 3 after the deploy: %v", err)
	}
	for _, h := range []string{"h0", "h1", "h2"} {
		if got := current(h); got != "releases/3" {
			t.Errorf("%s: current %s after the deploy, want releases/3", h, got)
		}
	}
}
