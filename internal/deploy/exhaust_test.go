package deploy_test

import (
	"crypto/rand"
	"fmt"
	"os/exec"
	"slices"
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
// Fixtures whose deploys are to fill it turn off the check that refuses
// them first (min_free_space: 0, see noSpaceCheck).
func smallDisk(t *testing.T, f *fleetFixture, i int, size string, inodes int) {
	t.Helper()
	inHost(t, f, i, "mkdir -p /srv/web && mount -t tmpfs -o size="+size+",nr_inodes="+strconv.Itoa(inodes)+" tmpfs /srv/web")
}

// noSpaceCheck is the env line that turns off the free space check, so
// that a deploy to a small disk runs to where the disk fills.
const noSpaceCheck = "min_free_space: 0"

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
	f := newFleetFixture(t, fleet, fleetSpec{env: []string{noSpaceCheck}}, nil)
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

// TestPruneSaysWhatItCouldNotRemove: the oldest release past
// keep_releases cannot be deleted (a mount inside it keeps its files) or
// cannot be renamed (it is a mount point itself). The deploy succeeds,
// but its progress must not say the release was removed: its disk space
// is still taken, and someone has to act.
func TestPruneSaysWhatItCouldNotRemove(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		// stick makes release 1 impossible to prune on host0.
		stick string
		// want is what the note says; left is what releases/ holds after.
		want, left string
	}{
		{
			name:  "files",
			stick: "mkdir /srv/web/releases/1/pinned && mount -t tmpfs tmpfs /srv/web/releases/1/pinned",
			want:  "host0: could not delete the files of old release 1 (rm: cannot remove '.tmp-pruned-1/pinned': Device or resource busy): they are left in releases/.tmp-pruned-1",
			left:  ".tmp-pruned-1\n2\n3\n4\n",
		},
		{
			name:  "rename",
			stick: "mount --bind /srv/web/releases/1 /srv/web/releases/1",
			want:  "host0: could not remove old release 1 (mv: cannot move '1' to '.tmp-pruned-1': Device or resource busy)",
			left:  "1\n2\n3\n4\n",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := threeDeploysOnASmallDisk(t)
			// Release 1 keeps its age, as the oldest, past what the
			// stick changes in it.
			inHost(t, f, 0, c.stick+" && touch -d 2000-01-01 /srv/web/releases/1")

			rec := f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeSucceeded)
			notes := f.notes(rec.ID)
			t.Logf("notes: %q", notes)
			if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, c.want) }) {
				t.Errorf("notes: got %q, want one starting %q", notes, c.want)
			}
			for _, n := range notes {
				if strings.Contains(n, "removed old releases 1") {
					t.Errorf("note %q says release 1 was removed", n)
				}
			}
			if got := inHost(t, f, 0, "ls -A /srv/web/releases"); got != c.left {
				t.Errorf("releases/: got %q, want %q", got, c.left)
			}
		})
	}
}

// TestFullDiskDeliveryNamesTheCause: the host's deploy root runs out of
// space, or of inodes, while a release unpacks (pushed, or downloaded by
// the host). The deploy fails with nothing switched and nothing of the
// release left, and its report names the full disk: tar's and curl's own
// words ("Wrote only 57856 of 65536 bytes") do not.
func TestFullDiskDeliveryNamesTheCause(t *testing.T) {
	t.Parallel()
	big := make([]byte, 1<<20)
	rand.Read(big)
	var many []tarEntry
	for i := range 300 {
		many = append(many, tarEntry{name: fmt.Sprintf("files/%03d", i), body: "x"})
	}
	for _, c := range []struct {
		name, delivery string
		size           string // of the host's /srv/web, with 200 inodes
		extra          []tarEntry
		want           string
	}{
		{name: "push space", delivery: "push", size: "400k", extra: []tarEntry{{name: "big", body: string(big)}}, want: "the file system holding /srv/web is full (no space left)"},
		{name: "push inodes", delivery: "push", size: "4m", extra: many, want: "the file system holding /srv/web has no free inodes left"},
		{name: "pull space", delivery: "pull", size: "400k", extra: []tarEntry{{name: "big", body: string(big)}}, want: "the file system holding /srv/web is full (no space left)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 1)
			f, _ := servedFixture(t, fleet, fleetSpec{delivery: c.delivery, env: []string{noSpaceCheck}})
			smallDisk(t, f, 0, c.size, 200)
			f.build("1")
			f.build("2", c.extra...)
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)

			rec := f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeFailed)
			t.Logf("deploy: %s", rec.Error)
			for _, want := range []string{"nothing was switched", c.want} {
				if !strings.Contains(rec.Error, want) {
					t.Errorf("record error: got %q, want it to say %q", rec.Error, want)
				}
			}
			if h := hostResult(t, rec, "host0"); !strings.Contains(h.Error, c.want) {
				t.Errorf("host0 error: got %q, want it to say %q", h.Error, c.want)
			}
			if got := inHost(t, f, 0, "readlink /srv/web/current; ls -A /srv/web/releases"); got != "releases/1\n1\n" {
				t.Errorf("host0: got %q, want current at 1 and release 1 alone", got)
			}
		})
	}
}

// TestPruneSaysWhatLeftoverItCouldNotRemove: a release whose files could
// not be deleted is left in releases/.tmp-pruned-1; an hour later the
// prune of each deploy tries again to remove it, and must say when it
// still cannot, rather than leave the disk space taken without a word.
func TestPruneSaysWhatLeftoverItCouldNotRemove(t *testing.T) {
	t.Parallel()
	f := threeDeploysOnASmallDisk(t)
	// What a prune an hour ago could not delete, as
	// TestPruneSaysWhatItCouldNotRemove leaves it.
	inHost(t, f, 0, "mkdir -p /srv/web/releases/.tmp-pruned-0/pinned && mount -t tmpfs tmpfs /srv/web/releases/.tmp-pruned-0/pinned && touch -d 2000-01-01 /srv/web/releases/.tmp-pruned-0")

	rec := f.mustRun(deploy.KindDeploy, "4", deploy.OutcomeSucceeded)
	notes := f.notes(rec.ID)
	t.Logf("notes: %q", notes)
	want := "host0: removed old releases 1; could not delete what an earlier prune or delivery left in releases/ (rm: cannot remove './.tmp-pruned-0/pinned': Device or resource busy)"
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.HasPrefix(n, want) }) {
		t.Errorf("notes: got %q, want one starting %q", notes, want)
	}
}

// threeDeploysOnASmallDisk returns a fixture of one host whose deploy
// directory is a small disk, with builds 1 to 4 built and 1, 2 and 3
// deployed in turn, for the deploy of 4 to prune.
func threeDeploysOnASmallDisk(t *testing.T) *fleetFixture {
	t.Helper()
	f := newFleetFixture(t, startFleet(t, 1), fleetSpec{env: []string{noSpaceCheck}}, nil)
	smallDisk(t, f, 0, "4m", 2000)
	for _, b := range []string{"1", "2", "3", "4"} {
		f.build(b)
	}
	for _, b := range []string{"1", "2", "3"} {
		f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
	}
	return f
}
