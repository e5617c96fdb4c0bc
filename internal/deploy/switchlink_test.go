package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// tempLinks lists the temporary links of switches (.current-*,
// .previous-*) in the fixture's deploy directory.
func (f *fixture) tempLinks() []string {
	f.t.Helper()
	ents, err := os.ReadDir(f.app)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".current-") || strings.HasPrefix(e.Name(), ".previous-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestFailedSwitchLeavesNoTemporaryLink: a switch whose rename over
// `current` fails (here `current` is a directory someone made) removes
// the link it made for it. It used to stay in the deploy directory for
// good: nothing else removed it.
func TestFailedSwitchLeavesNoTemporaryLink(t *testing.T) {
	f := newFixture(t, "")
	f.build("1")
	if err := os.MkdirAll(filepath.Join(f.app, "current", "keep"), 0o755); err != nil {
		t.Fatal(err)
	}
	rec, err := f.run(deploy.KindDeploy, "1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome == deploy.OutcomeSucceeded {
		t.Fatalf("deploy: got %s, want it to fail: current is a directory", rec.Outcome)
	}
	if got := f.tempLinks(); len(got) != 0 {
		t.Errorf("deploy directory after the failed switch: got %v, want no temporary link", got)
	}
}

// TestPruneRemovesStaleTemporaryLinks: temporary links a switch cut short
// left behind (by a bot or a host that died between the ln and the mv)
// are removed by the next deploy's prune once an hour old; a fresh one,
// maybe another run's switch in flight, stays.
func TestPruneRemovesStaleTemporaryLinks(t *testing.T) {
	f := newFixture(t, "")
	f.build("1")
	f.build("2")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	links := []struct {
		name string
		age  string // for touch -d
	}{
		{".current-stale", "2 hours ago"},
		{".previous-stale", "2 hours ago"},
		{".current-fresh", "10 minutes ago"},
	}
	for _, l := range links {
		p := filepath.Join(f.app, l.name)
		if err := os.Symlink("releases/1", p); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("touch", "-h", "-d", l.age, p).CombinedOutput(); err != nil {
			t.Fatalf("touch %s: %v: %s", l.name, err, out)
		}
	}
	// keep_releases is 3: only the stale links make this deploy prune.
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	if got, want := f.tempLinks(), []string{".current-fresh"}; !slices.Equal(got, want) {
		t.Errorf("temporary links after the deploy: got %v, want %v", got, want)
	}
	if got := f.link("current"); got != "releases/2" {
		t.Errorf("current: got %q, want releases/2", got)
	}
}
