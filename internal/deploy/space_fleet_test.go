package deploy_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestDeployRefusesHostsShortOfSpace: before any host receives anything,
// the deploy reads each host's free space in the inspection it runs
// anyway, and refuses when a host it would deliver to has less than
// min_free_space, plus room for the build where its size is known, or
// when that host's free space cannot be read. Its dry run says so too.
// host0's /srv/web is an 8 MiB disk of its own; host1 has room.
func TestDeployRefusesHostsShortOfSpace(t *testing.T) {
	t.Parallel()
	big := make([]byte, 3<<19) // 1.5 MiB, incompressible
	rand.Read(big)
	for _, c := range []struct {
		name  string
		env   []string
		big   bool // the build holds big
		small bool // host0's /srv/web is an 8 MiB disk
		// smallReleases: host0's /srv/web/releases, where releases
		// unpack, is an 8 MiB disk, /srv/web is not.
		smallReleases bool
		fakeDF        string // host0's df, as a shell script; "" for the real one
		refusal       []string
		delivery      string
	}{
		{name: "default", small: true, refusal: []string{
			"not enough free space on 1 of 2 hosts of web/prod for build 1 (min_free_space 256 MiB + 3 × the ",
			" bytes artifact); nothing was changed: host0 has 8 MiB free in /srv/web, needs 256.0 MiB. Free some space, or set min_free_space (0 turns the check off)",
		}},
		{name: "pull", small: true, delivery: "pull", refusal: []string{
			"host0 has 8 MiB free in /srv/web, needs 256.0 MiB.",
		}},
		{name: "room for the build", small: true, big: true, env: []string{"min_free_space: 4MiB"}, refusal: []string{
			"(min_free_space 4 MiB + 3 × the 1.5 MiB artifact); nothing was changed: host0 has 8 MiB free in /srv/web, needs 8.5 MiB.",
		}},
		{name: "releases on a disk of their own", smallReleases: true, refusal: []string{
			"host0 has 8 MiB free in /srv/web, needs 256.0 MiB.",
		}},
		{name: "fits", small: true, env: []string{"min_free_space: 4MiB"}},
		{name: "off", small: true, big: true, env: []string{"min_free_space: 0"}},
		{name: "df unreadable", fakeDF: "echo garbage", refusal: []string{
			`host0: cannot tell the free space in /srv/web: cannot read what df printed: "garbage"`,
		}},
		{name: "df fails", fakeDF: "echo 'df: cannot read table of mounted file systems' >&2; exit 1", refusal: []string{
			"host0: cannot tell the free space in /srv/web: df failed (status 1): df: cannot read table of mounted file systems",
		}},
		{name: "df unreadable, check off", fakeDF: "echo garbage", env: []string{"min_free_space: 0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 2)
			f := newFleetFixture(t, fleet, fleetSpec{env: c.env}, nil)
			if c.delivery == "pull" {
				f, _ = servedFixture(t, fleet, fleetSpec{env: c.env})
			}
			if c.small {
				smallDisk(t, f, 0, "8m", 2000)
			}
			if c.smallReleases {
				inHost(t, f, 0, "mkdir -p /srv/web/releases && mount -t tmpfs -o size=8m tmpfs /srv/web/releases")
			}
			if c.fakeDF != "" {
				fakeDF(t, f, 0, c.fakeDF)
			}
			if c.big {
				f.build("1", tarEntry{name: "big", body: string(big)})
			} else {
				f.build("1")
			}

			planAndDeploy(t, f, c.refusal, "room")
			if c.refusal == nil {
				return
			}
			// Nothing was delivered anywhere.
			if got := inHost(t, f, 0, "ls -A /srv/web/releases 2>/dev/null; [ -e /srv/web/current ] && echo current; true"); got != "" {
				t.Errorf("host0 /srv/web: got %q, want no release and no current", got)
			}
			if _, err := os.Stat(filepath.Join(f.root(1), "releases")); !os.IsNotExist(err) {
				t.Errorf("host1 releases/: got %v, want none", err)
			}
			if recs := f.records(); len(recs) != 0 {
				t.Errorf("records: got %d, want none", len(recs))
			}
		})
	}
}

// TestDeployRefusesHostsShortOfInodes: a release of many small files
// takes a host's free inodes before its free space. A host the deploy
// would deliver to with fewer free inodes than the build has entries,
// plus a margin, refuses the deploy before anything changes, naming the
// host and both counts; a file system that reports no inode counts
// (btrfs: 0 in all) is not refused for them. Its dry run says so too.
// host0's /srv/web is a disk of its own with 200 inodes and room for any
// of these builds.
func TestDeployRefusesHostsShortOfInodes(t *testing.T) {
	t.Parallel()
	var many []tarEntry
	for i := range 300 {
		many = append(many, tarEntry{name: fmt.Sprintf("files/%03d", i), body: "x"})
	}
	// A file system of plenty of room that counts no inodes, as GNU df
	// says it, in one call or in two.
	const btrfs = `case "$*" in
*--output*) echo 'Avail Inodes IFree'; echo '100000000 0 0' ;;
-Pi*) echo 'Filesystem Inodes IUsed IFree IUse% Mounted on'; echo '/dev/sdb1 0 0 0 - /srv/web' ;;
*) echo 'Filesystem 1024-blocks Used Available Capacity Mounted on'; echo '/dev/sdb1 100000000 0 100000000 0% /srv/web' ;;
esac`
	for _, c := range []struct {
		name     string
		many     bool // the build holds 300 files
		fakeDF   string
		delivery string
		refusal  []string
	}{
		{name: "push", many: true, refusal: []string{
			"not enough free inodes on 1 of 2 hosts of web/prod for build 1 (",
			"entries of the build + a margin); nothing was changed: host0 has ",
			" free inodes in /srv/web, needs ",
			"Free some inodes, or set min_free_space (0 turns the check off)",
		}},
		{name: "pull", many: true, delivery: "pull", refusal: []string{"not enough free inodes on 1 of 2 hosts", "host0 has "}},
		{name: "fits"},
		{name: "inodes not reported", many: true, fakeDF: btrfs},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 2)
			spec := fleetSpec{env: []string{"min_free_space: 1MiB"}}
			var f *fleetFixture
			if c.delivery == "pull" {
				f, _ = servedFixture(t, fleet, spec)
			} else {
				f = newFleetFixture(t, fleet, spec, nil)
			}
			if c.fakeDF != "" {
				fakeDF(t, f, 0, c.fakeDF)
			} else {
				smallDisk(t, f, 0, "64m", 200)
			}
			if c.many {
				f.build("1", many...)
			} else {
				f.build("1")
			}
			p, err := planAndDeploy(t, f, c.refusal, "inodes to spare")
			if c.refusal == nil {
				return
			}
			if len(p.Refusals) == 1 && p.Refusals[0] != errs.Message(err) {
				t.Errorf("plan refusal: got %q, want the deploy's %q", p.Refusals[0], errs.Message(err))
			}
			if got := inHost(t, f, 0, "ls -A /srv/web/releases 2>/dev/null; [ -e /srv/web/current ] && echo current; true"); got != "" {
				t.Errorf("host0 /srv/web: got %q, want no release and no current", got)
			}
			if recs := f.records(); len(recs) != 0 {
				t.Errorf("records: got %d, want none", len(recs))
			}
		})
	}
}

// TestRollbackReadsNoFreeSpace: a rollback writes next to nothing, and
// its inspection runs no df: a host whose df is broken is rolled back,
// where a deploy to it would be refused.
func TestRollbackReadsNoFreeSpace(t *testing.T) {
	t.Parallel()
	f := newFleetFixture(t, startFleet(t, 1), fleetSpec{}, nil)
	f.build("1")
	f.build("2")
	f.build("3")
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	fakeDF(t, f, 0, "exit 1")

	f.mustRun(deploy.KindRollback, "", deploy.OutcomeSucceeded)
	f.checkLinks(0, "1", "2")
	if _, err := f.run(deploy.KindDeploy, "3"); err == nil || !strings.Contains(err.Error(), "host0: cannot tell the free space") {
		t.Errorf("deploy with a broken df: got %v, want it refused", err)
	}
}

// fakeDF replaces df on host i by a shell script, for the host's mount
// namespace alone.
func fakeDF(t *testing.T, f *fleetFixture, i int, script string) {
	t.Helper()
	fake := filepath.Join(t.TempDir(), "df")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	inHost(t, f, i, "mount --bind "+fake+" \"$(command -v df)\"")
}

// planAndDeploy asks the plan of build 1 of web/prod on f, then deploys
// it: without refusal both must go ahead; with it, the deploy is refused
// and the plan gives one refusal, both saying every string of refusal,
// neither naming host1, which has what host0 lacks (spare). It returns
// the plan and the deploy's error.
func planAndDeploy(t *testing.T, f *fleetFixture, refusal []string, spare string) (*deploy.Plan, error) {
	t.Helper()
	p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "1"})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	rec, err := f.run(deploy.KindDeploy, "1")
	if refusal == nil {
		if err != nil || rec.Outcome != deploy.OutcomeSucceeded {
			t.Fatalf("deploy: got %v (%+v), want it to succeed", err, rec)
		}
		if len(p.Refusals) != 0 {
			t.Errorf("plan refusals: got %q, want none", p.Refusals)
		}
		return p, nil
	}
	if err == nil {
		t.Fatalf("deploy: got outcome %s (%s), want it refused", rec.Outcome, rec.Error)
	}
	t.Logf("refused: %v", err)
	for _, want := range refusal {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("deploy refusal: got %q, want it to say %q", err, want)
		}
		if len(p.Refusals) != 1 || !strings.Contains(p.Refusals[0], want) {
			t.Errorf("plan refusals: got %q, want one saying %q", p.Refusals, want)
		}
	}
	if strings.Contains(err.Error(), "host1") {
		t.Errorf("deploy refusal: got %q, want host1, which has %s, left unnamed", err, spare)
	}
	return p, err
}

// TestPlanCountsSpaceOnReachableHosts: with a host down that max_failures
// lets the deploy go on without, the deploy leaves it out before it
// checks free space and inodes, and its refusal counts the hosts it would
// deliver to: "1 of 2". The dry run counted every host of the env ("1 of
// 3") and so said another refusal than the deploy's. It now counts as
// the deploy does, and names the host down as unreachable.
func TestPlanCountsSpaceOnReachableHosts(t *testing.T) {
	t.Parallel()
	var many []tarEntry
	for i := range 300 {
		many = append(many, tarEntry{name: fmt.Sprintf("files/%03d", i), body: "x"})
	}
	for _, c := range []struct {
		name    string
		env     []string
		size    string // host0's /srv/web disk
		inodes  int
		files   []tarEntry
		refusal []string
	}{
		{name: "space", env: []string{"max_failures: 1"}, size: "8m", inodes: 2000, refusal: []string{
			"not enough free space on 1 of 2 hosts of web/prod for build 1",
			"host0 has 8 MiB free in /srv/web",
		}},
		{name: "inodes", env: []string{"max_failures: 1", "min_free_space: 1MiB"}, size: "64m", inodes: 200, files: many, refusal: []string{
			"not enough free inodes on 1 of 2 hosts of web/prod for build 1",
			"host0 has ",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 3)
			f := newFleetFixture(t, fleet, fleetSpec{env: c.env}, nil)
			smallDisk(t, f, 0, c.size, c.inodes)
			f.build("1", c.files...)
			fleet.Stop(2)

			p, err := planAndDeploy(t, f, c.refusal, "room")
			if len(p.Refusals) == 1 && p.Refusals[0] != errs.Message(err) {
				t.Errorf("plan refusal: got %q, want the deploy's %q", p.Refusals[0], errs.Message(err))
			}
			if len(p.Hosts) != 3 || p.Hosts[2].Host != "host2" || !strings.HasPrefix(p.Hosts[2].Change, "unreachable: ") {
				t.Errorf("plan hosts: got %+v, want host2 named unreachable", p.Hosts)
			}
		})
	}
}
