package deploy

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/switchman-bot/switchman/internal/artifact"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/shell"
)

// spaceFactor is how many times its compressed size a build is taken to
// need on a host besides min_free_space: an unpacked release is commonly
// two to three times its archive, and a pulled archive stays on disk
// until it is unpacked.
const spaceFactor = 3

// spaceScript prints what df says of the file system where releases
// unpack: dir/releases, which may be a volume of its own, or the nearest
// directory above it that exists (a first deploy makes them). GNU df
// gives the free space and the free inodes in one process (its
// --output), printed between the lines "dfo<" and "dfo>STATUS" and read
// by parseOutput: a process per host of every deploy, which costs the
// hosts' CPU at 50 hosts. A df without --output (BusyBox), or one that
// fails, prints nothing there and a status other than 0; then `df -Pk`
// is printed between "df<" and "df>STATUS", read by parseSpace, and `df
// -Pi` between "dfi<" and "dfi>STATUS", read by parseInodes. Each runs in
// the C locale; the errors of the last two, "not found" included, are
// among their lines, and STATUS is the exit status.
func spaceScript(dir string) string {
	return fmt.Sprintf(`d=%s
while [ ! -d "$d" ]; do case $d in */*) d=${d%%/*}; d=${d:-/} ;; *) d=. ;; esac; done
echo 'dfo<'
LC_ALL=C df -k --output=avail,itotal,iavail "$d" 2>/dev/null
s=$?
echo "dfo>$s"
if [ "$s" != 0 ]; then
echo 'df<'
LC_ALL=C df -Pk "$d" 2>&1
echo "df>$?"
echo 'dfi<'
LC_ALL=C df -Pi "$d" 2>&1
echo "dfi>$?"
fi
`, shell.Quote(path.Join(dir, "releases")))
}

// parseOutput reads what GNU df printed with --output=avail,itotal,iavail
// (-k) and its exit status, as spaceScript printed them, and whether it
// ran: a status other than 0 leaves the space to the lines that follow
// (parseSpace). Like parseSpace it fails closed for the space: what does
// not read as that output gives Err; the inodes fail open, as in
// parseInodes (a file system that counts none: 0 in all).
func parseOutput(lines []string, status string) (diskSpace, bool) {
	if status != "0" {
		return diskSpace{}, false
	}
	d := diskSpace{Checked: true}
	header := false
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "Avail" && f[1] == "Inodes" && f[2] == "IFree" {
			header = true
			continue
		}
		if !header || len(f) != 3 {
			continue
		}
		avail, e1 := strconv.ParseInt(f[0], 10, 64)
		if e1 != nil || avail < 0 || avail > (1<<62)/1024 {
			break
		}
		d.Free = avail * 1024
		total, e2 := strconv.ParseInt(f[1], 10, 64)
		free, e3 := strconv.ParseInt(f[2], 10, 64)
		if e2 == nil && e3 == nil && total > 0 && free >= 0 {
			d.FreeInodes, d.Inodes = free, true
		}
		return d, true
	}
	first := ""
	for _, l := range lines {
		if first = strings.TrimSpace(l); first != "" {
			break
		}
	}
	if len(first) > 200 {
		first = first[:200]
	}
	d.Err = fmt.Sprintf("cannot read what df printed: %q", first)
	return d, true
}

// diskSpace is what spaceScript found on a host.
type diskSpace struct {
	// Checked is whether the inspection ran spaceScript.
	Checked bool
	// Free is the space available to the bot's user, in bytes.
	Free int64
	// Err says why Free could not be read ("" when it was).
	Err string
	// Inodes is whether FreeInodes was read: a file system that
	// allocates inodes as it goes (btrfs) reports none, and a df
	// without -i says nothing of them.
	Inodes     bool
	FreeInodes int64
}

// blocksHeader is df -P's second column header: "1024-blocks".
var blocksHeader = regexp.MustCompile(`^([0-9]+)-blocks$`)

// parseSpace reads df's lines and exit status, as spaceScript printed
// them. It fails closed: a df that is missing, fails, or prints what is
// not POSIX output (-P) gives Err, never a guess.
func parseSpace(lines []string, status string) diskSpace {
	d := diskSpace{Checked: true}
	first := ""
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			first = strings.TrimSpace(l)
			break
		}
	}
	if len(first) > 200 {
		first = first[:200]
	}
	switch status {
	case "0":
	case "127":
		d.Err = "df is not installed there"
		return d
	default:
		d.Err = fmt.Sprintf("df failed (status %s): %s", status, first)
		return d
	}
	unit := int64(0)
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "Filesystem" {
			if m := blocksHeader.FindStringSubmatch(f[1]); m != nil {
				unit, _ = strconv.ParseInt(m[1], 10, 64)
			}
			continue
		}
		if unit <= 0 {
			continue
		}
		// Filesystem, total, used, available, capacity, mount point:
		// the file system's name may hold spaces, so the numbers are
		// found as three counts followed by a percentage.
		for i := 1; i+3 < len(f); i++ {
			total, e1 := strconv.ParseInt(f[i], 10, 64)
			_, e2 := strconv.ParseInt(f[i+1], 10, 64)
			avail, e3 := strconv.ParseInt(f[i+2], 10, 64)
			if e1 != nil || e2 != nil || e3 != nil || total < 0 || avail < 0 || !strings.HasSuffix(f[i+3], "%") {
				continue
			}
			if avail > (1<<62)/unit {
				break
			}
			d.Free = avail * unit
			return d
		}
	}
	d.Err = fmt.Sprintf("cannot read what df printed: %q", first)
	return d
}

// spaceNeeded is the free space a delivery of an artifact of size bytes
// (-1: unknown) asks of a host when min_free_space is minFree.
func spaceNeeded(minFree, size int64) int64 {
	if size <= 0 {
		return minFree
	}
	return minFree + spaceFactor*size
}

// spaceNeed words what spaceNeeded asked.
func spaceNeed(minFree, size int64) string {
	if size <= 0 {
		return fmt.Sprintf("min_free_space %s", artifact.Bytes(minFree))
	}
	return fmt.Sprintf("min_free_space %s + %d × the %s artifact", artifact.Bytes(minFree), spaceFactor, artifact.Bytes(size))
}

// shortOfSpace returns the refusal of a deploy of t whose hosts, found as
// states, lack the room for an artifact of size bytes (-1: unknown); nil
// when every host checked has it. Only hosts that would receive the
// build are checked: a switch to a release on disk writes almost
// nothing. A host whose free space cannot be read is refused too: the
// check fails closed, and min_free_space: 0 turns it off.
func shortOfSpace(t target, hosts []Host, states map[string]hostState, build string, size int64) error {
	minFree := t.env.MinFreeSpaceBytes()
	if minFree <= 0 {
		return nil
	}
	need := spaceNeeded(minFree, size)
	var short []string
	for _, h := range hosts {
		st, ok := states[h.Name]
		if !ok || !st.Disk.Checked || st.Current == build || st.has(build) {
			continue
		}
		switch {
		case st.Disk.Err != "":
			short = append(short, fmt.Sprintf("%s: cannot tell the free space in %s: %s", h.Name, t.app.Path, st.Disk.Err))
		case st.Disk.Free < need:
			short = append(short, fmt.Sprintf("%s has %s free in %s, needs %s", h.Name, artifact.Bytes(st.Disk.Free), t.app.Path, artifact.Bytes(need)))
		}
	}
	if len(short) == 0 {
		return nil
	}
	return errs.New(errs.Unavailable, "not enough free space on %d of %d hosts of %s for build %s (%s); nothing was changed: %s. Free some space, or set min_free_space (0 turns the check off)",
		len(short), len(hosts), t.key(), build, spaceNeed(minFree, size), strings.Join(short, "; "))
}

// parseInodes reads what `df -Pi` printed and its exit status, as
// spaceScript printed them, and returns the free inodes, and whether
// they were read. Unlike parseSpace it fails open: a file system that
// counts no inodes (0 in all, as btrfs says) cannot run out of them, and
// a df that cannot say leaves the check of free space in bytes.
func parseInodes(lines []string, status string) (int64, bool) {
	if status != "0" {
		return 0, false
	}
	header := false
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "Filesystem" {
			header = f[1] == "Inodes"
			continue
		}
		if !header {
			continue
		}
		// As in parseSpace: three counts, then a percentage ("-" where
		// the file system counts none).
		for i := 1; i+3 < len(f); i++ {
			total, e1 := strconv.ParseInt(f[i], 10, 64)
			_, e2 := strconv.ParseInt(f[i+1], 10, 64)
			free, e3 := strconv.ParseInt(f[i+2], 10, 64)
			if e1 != nil || e2 != nil || e3 != nil || total < 0 || free < 0 || !strings.HasSuffix(f[i+3], "%") && f[i+3] != "-" {
				continue
			}
			if total == 0 {
				return 0, false
			}
			return free, true
		}
	}
	return 0, false
}

// inodesNeeded is how many free inodes a release of entries tar entries
// asks of a host: one each, and a margin for what the install adds (the
// shared links, the temporary directory, a pulled archive) and for what
// the app itself writes meanwhile.
func inodesNeeded(entries int) int64 {
	return int64(entries) + max(int64(entries)/10, 100)
}

// inodeHosts returns the hosts among hosts, found as states, that would
// receive build and whose free inodes were read; with few, when the
// largest build the app takes (artifact.max_entries) might not fit,
// only those. A host with more free inodes than any build can use needs
// no count of this one's entries, which costs a read of the artifact.
func inodeHosts(t target, hosts []Host, states map[string]hostState, build string, few bool) []Host {
	var out []Host
	for _, h := range hosts {
		st, ok := states[h.Name]
		if !ok || !st.Disk.Inodes || st.Current == build || st.has(build) {
			continue
		}
		if few && t.app.Artifact.MaxEntries > 0 && st.Disk.FreeInodes >= inodesNeeded(t.app.Artifact.MaxEntries) {
			continue
		}
		out = append(out, h)
	}
	return out
}

// shortOfInodes returns the refusal of a deploy of t whose hosts, found
// as states, lack the free inodes for a build of entries tar entries;
// nil when every host that reports its inodes has them.
func shortOfInodes(t target, hosts []Host, states map[string]hostState, build string, entries int) error {
	need := inodesNeeded(entries)
	var short []string
	for _, h := range inodeHosts(t, hosts, states, build, false) {
		if free := states[h.Name].Disk.FreeInodes; free < need {
			short = append(short, fmt.Sprintf("%s has %d free inodes in %s, needs %d", h.Name, free, t.app.Path, need))
		}
	}
	if len(short) == 0 {
		return nil
	}
	return errs.New(errs.Unavailable, "not enough free inodes on %d of %d hosts of %s for build %s (%d entries of the build + a margin); nothing was changed: %s. Free some inodes, or set min_free_space (0 turns the check off)",
		len(short), len(hosts), t.key(), build, entries, strings.Join(short, "; "))
}
