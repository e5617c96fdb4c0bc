package deploy_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// inHost runs script as root in host i's mount namespace, where its /srv
// is, and returns what it printed.
func inHost(t *testing.T, f *fleetFixture, i int, script string) string {
	t.Helper()
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(f.fleet.Hosts[i].PID), "-m", "sh", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("host%d: %s: %v: %s", i, script, err, out)
	}
	return string(out)
}

// smallDisk gives host i's /srv/web a file system of its own, of size
// bytes and inodes files, gone with the host's mount namespace.
func smallDisk(t *testing.T, f *fleetFixture, i int, size string, inodes int) {
	t.Helper()
	inHost(t, f, i, "mkdir -p /srv/web && mount -t tmpfs -o size="+size+",nr_inodes="+strconv.Itoa(inodes)+" tmpfs /srv/web")
}

// fillInodes takes every free inode of host i's /srv/web.
func fillInodes(t *testing.T, f *fleetFixture, i int) {
	t.Helper()
	inHost(t, f, i, `mkdir /srv/web/fill; i=0; while touch /srv/web/fill/$i 2>/dev/null; do i=$((i+1)); done; [ "$(df -P -i /srv/web | awk 'NR==2 {print $4}')" = 0 ]`)
}

// TestFullDiskSwitchSaysWhatItMarked: a deploy of a release already on
// disk whose switch fails for want of an inode cannot write the release's
// bad marker either. The report must not say the release was marked bad,
// which tells people a rollback skips it, when the host has no marker.
func TestFullDiskSwitchSaysWhatItMarked(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 1)
	f := newFleetFixture(t, fleet, fleetSpec{}, nil)
	smallDisk(t, f, 0, "400k", 200)
	f.build("1")
	f.build("3")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	fillInodes(t, f, 0)

	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeReverted)
	t.Logf("deploy: %s", rec.Error)
	if strings.Contains(rec.Error, "release 1 marked bad") {
		t.Errorf("record error: got %q; the host has no marker", rec.Error)
	}
	for _, want := range []string{"No space left on device", "could NOT mark release 1 bad on host0"} {
		if !strings.Contains(rec.Error, want) {
			t.Errorf("record error: got %q, want it to say %q", rec.Error, want)
		}
	}
	if got := inHost(t, f, 0, "readlink /srv/web/current; ls -A /srv/web/releases"); got != "releases/3\n1\n3\n" {
		t.Errorf("host0: got %q, want current at 3 and releases 1 and 3 alone", got)
	}
}
