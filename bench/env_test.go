package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// verbose prints the output of every tool run (BENCH_VERBOSE=1).
var verbose = os.Getenv("BENCH_VERBOSE") != ""

// env is one benchmark's world: a fleet of real sshd hosts, the artifacts,
// an HTTP server for them, and the bot binary.
type env struct {
	b     *testing.B
	dir   string
	fleet *sshd.Fleet
	// keep holds the PIDs of the hosts' sshd: long-lived children of this
	// process that measure neither samples nor reaps.
	keep map[int]bool
	// live holds the PIDs of a tool's processes that stay up from one
	// measured command to the next (the bot's console): measure counts
	// them but does not reap them.
	live map[int]bool
	// http serves dir/artifacts to the hosts (pull delivery).
	http *httptest.Server
	bot  string
	cpus int
	// log is where progress goes as the benchmark runs.
	log io.Writer
	// storage says where the hosts' /srv lives; budget is how many bytes
	// a cell may leave there at once.
	storage string
	budget  int64
	// root is the short directory all of the above lives in.
	root string
	// timeout bounds every measured command (BENCH_TIMEOUT_SECONDS).
	timeout time.Duration
	// profile is BENCH_PROFILE: where the bot's profiles go, "" for none.
	profile string
	// group counts the hosts' CPU time; nil where no cgroup could be
	// made, and the process tree is read instead.
	group *hostGroup
	// cpu0 is the machine's and this benchmark's CPU time when it
	// started.
	cpu0     cpuSnapshot
	cpu0Time time.Time
}

func newEnv(b *testing.B, k knobs) *env {
	b.Helper()
	if err := becomeSubreaper(); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ cmd, pkg string }{{"tar", "tar"}, {"zstd", "zstd"}, {"curl", "curl"}, {"ssh", "openssh-client"}, {"go", "golang"}} {
		if _, err := exec.LookPath(c.cmd); err != nil {
			b.Fatalf("%s not found: install it with `apt-get install -y %s`", c.cmd, c.pkg)
		}
	}
	hosts := slices.Max(k.Hosts)
	e := &env{b: b, cpus: runtime.NumCPU(), log: os.Stdout, timeout: k.Timeout, profile: k.Profile}
	e.useStorage()
	e.dir = b.TempDir()
	e.progress("storage: %s, room for %.1f GiB per cell", e.storage, float64(e.budget)/(1<<30))
	e.progress("starting %d hosts", hosts)
	// Sessions get a home of their own host (/srv/home, see
	// sshd.StartFleet), not the home of the user running the benchmark:
	// its shell startup files (a version manager's init, say) would run in
	// every session of every tool. SFTP is on, as on a stock host: Fabric
	// uploads with it.
	e.fleet = sshd.StartFleet(b, hosts, sshd.Options{Config: []string{"Subsystem sftp internal-sftp"}})
	e.keep, e.live = map[int]bool{}, map[int]bool{}
	for _, h := range e.fleet.Hosts {
		e.keep[h.PID] = true
		if err := os.MkdirAll(hostPath(h, "/srv/home"), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	if g, err := newHostGroup(e.listeners()); err != nil {
		e.progress("host CPU read from /proc, less exact (%v)", err)
	} else {
		e.group = g
		b.Cleanup(func() {
			if err := g.remove(); err != nil {
				b.Errorf("remove the hosts' cgroup: %v", err)
			}
		})
	}
	e.cpu0, e.cpu0Time = e.cpuNow(), time.Now()
	if err := os.MkdirAll(filepath.Join(e.dir, "artifacts"), 0o755); err != nil {
		b.Fatal(err)
	}
	e.http = httptest.NewServer(http.FileServer(http.Dir(filepath.Join(e.dir, "artifacts"))))
	b.Cleanup(e.http.Close)
	e.bot = filepath.Join(e.dir, "bot")
	e.progress("building the bot")
	if out, err := exec.Command("go", "build", "-o", e.bot, "github.com/switchman-bot/switchman/cmd/bot").CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/bot: %v\n%s", err, out)
	}
	return e
}

// summary is the line under a table's title: the machine and the run,
// with how much of the machine's CPU other processes took meanwhile, since
// that slows every row.
func (e *env) summary(k knobs, started time.Time) string {
	now := e.cpuNow()
	others := max(0, (now.machine-e.cpu0.machine)-(now.ours-e.cpu0.ours))
	share := 100 * others.Seconds() / (time.Since(e.cpu0Time).Seconds() * float64(e.cpus))
	hostCPU := "counted by a cgroup"
	if e.group == nil {
		hostCPU = "read from /proc, in whole clock ticks per running process (no cgroup could be made)"
	}
	return fmt.Sprintf("%d CPUs, hosts' /srv on %s; host CPU %s; runs per row: up to %d, fewer once a row's runs took %s; other processes used %.0f%% of the CPUs meanwhile; %s in all.",
		e.cpus, e.storage, hostCPU, k.Runs, k.CellTime, share, time.Since(started).Round(time.Second))
}

func (e *env) skipNote(n int, set *artifactSet) string {
	return fmt.Sprintf("Skipped %d hosts × %d MB: it needs %.1f GiB on the hosts' %s, %.1f GiB are available (see BENCH_TMPDIR in README.md).",
		n, set.SizeMB, float64(footprint(n, set))/(1<<30), e.storage, float64(e.budget)/(1<<30))
}

func (e *env) progress(format string, args ...any) {
	fmt.Fprintf(e.log, "bench %s: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// artifacts makes builds 1 and 2 of every size in comps.
func (e *env) artifacts(sizes []int, comps []string) map[int]*artifactSet {
	e.b.Helper()
	out := map[int]*artifactSet{}
	for _, mb := range sizes {
		start := time.Now()
		s, err := makeArtifacts(filepath.Join(e.dir, "artifacts"), e.http.URL, mb, comps)
		if err != nil {
			e.b.Fatalf("artifacts of %d MB: %v", mb, err)
		}
		var desc []string
		for _, c := range comps {
			desc = append(desc, fmt.Sprintf("%s %.1f MB", c, mib(s.get("2", c).Bytes)))
		}
		e.progress("artifacts of %d MB: %d files, %s (%s)", mb, s.Expect["2"].Files, strings.Join(desc, ", "), time.Since(start).Round(time.Millisecond))
		out[mb] = s
	}
	// The tarballs were built in memory; give it back so that the
	// benchmark process stays small next to the tools it measures.
	debug.FreeOSMemory()
	return out
}

func (e *env) hosts(n int) []sshd.Host { return e.fleet.Hosts[:n] }

func (e *env) listeners() []int {
	out := make([]int, 0, len(e.fleet.Hosts))
	for _, h := range e.fleet.Hosts {
		out = append(out, h.PID)
	}
	return out
}

// measure runs fn as one measured run, after which everything the tool
// left running but its live processes is stopped (see measurement).
func (e *env) measure(fn func(m *meter) error) (sample, error) {
	return e.measurement(false).measure(fn)
}

// measureWarm runs fn as one measured run and leaves what the tool left
// running for the next one: a deploy, before its rollback.
func (e *env) measureWarm(fn func(m *meter) error) (sample, error) {
	return e.measurement(true).measure(fn)
}

func (e *env) measurement(warm bool) measurement {
	return measurement{keep: e.keep, live: e.live, listeners: e.listeners(), group: e.group, timeout: e.timeout, warm: warm}
}

// hostPath is where a path of the hosts' /srv lives on this machine.
func hostPath(h sshd.Host, p string) string {
	rel, ok := strings.CutPrefix(p, "/srv/")
	if !ok {
		panic("not under /srv: " + p)
	}
	return filepath.Join(h.Root, rel)
}

// onHosts runs fn for each of the first n hosts, two at a time per CPU, and
// joins the errors.
func (e *env) onHosts(n int, fn func(h sshd.Host) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, 2*e.cpus)
	var wg sync.WaitGroup
	for i, h := range e.hosts(n) {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(h); err != nil {
				errs[i] = fmt.Errorf("%s: %w", h.Name, err)
			}
		})
	}
	wg.Wait()
	return joinErrs(errs)
}

func joinErrs(errs []error) error {
	var msgs []string
	for _, err := range errs {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	switch {
	case len(msgs) == 0:
		return nil
	case len(msgs) > 5:
		msgs = append(msgs[:5], fmt.Sprintf("and %d more", len(msgs)-5))
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// wipe removes the app directory and the floors' directory from the
// first n hosts: every tool starts from an empty host.
func (e *env) wipe(n int) {
	e.b.Helper()
	if err := e.onHosts(n, func(h sshd.Host) error {
		for _, p := range []string{appDir, "/srv/floor"} {
			if err := os.RemoveAll(hostPath(h, p)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		e.b.Fatalf("wipe hosts: %v", err)
	}
}

// seed empties the first n hosts and installs build 1 on them, as the
// tools lay it out: releases/1, current -> releases/1 and shared/. It
// links the files of a release unpacked once on this machine (cp -al), so
// that every tool starts from the same hosts without paying for a deploy
// of build 1, and build 1 takes the memory of one host, not of n: at 50
// hosts × 100 MB that is what lets the cell fit the tmpfs. No tool writes
// into the release it rolls back to, and verify reads each host's own
// links.
func (e *env) seed(n int, set *artifactSet) {
	e.b.Helper()
	e.wipe(n)
	tmpl := filepath.Join(e.dir, "seed", set.Sub)
	if _, err := os.Stat(tmpl); err != nil {
		if err := os.MkdirAll(tmpl, 0o755); err != nil {
			e.b.Fatal(err)
		}
		art := set.get("1", gz)
		if out, err := exec.Command("tar", "-x", tarFlag(art.Comp), "-f", art.Path, "-C", tmpl).CombinedOutput(); err != nil {
			e.b.Fatalf("seed: unpack %s: %v: %s", art.Path, err, out)
		}
	}
	if err := e.onHosts(n, func(h sshd.Host) error {
		dir := hostPath(h, appDir)
		if err := os.MkdirAll(filepath.Join(dir, "releases"), 0o755); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dir, "shared"), 0o755); err != nil {
			return err
		}
		if out, err := exec.Command("cp", "-al", tmpl, filepath.Join(dir, "releases", "1")).CombinedOutput(); err != nil {
			return fmt.Errorf("cp: %v: %s", err, out)
		}
		return os.Symlink("releases/1", filepath.Join(dir, "current"))
	}); err != nil {
		e.b.Fatalf("seed hosts: %v", err)
	}
}

// removeRelease deletes releases/<build> (and anything a tool keeps next
// to it) from the first n hosts, so that the next deploy of build unpacks
// it afresh.
func (e *env) removeRelease(n int, build string) {
	e.b.Helper()
	if err := e.onHosts(n, func(h sshd.Host) error {
		for _, p := range []string{"releases/" + build, "releases/.bad-" + build, "rolled-back-release-" + build + ".tar.gz"} {
			if err := os.RemoveAll(hostPath(h, appDir+"/"+p)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		e.b.Fatalf("remove release %s: %v", build, err)
	}
}

// verify checks that each of the first n hosts runs build: current points
// at releases/<build> (relative or absolute), BUILD says build, a file's
// checksum and the last file's size match the tarball.
func (e *env) verify(n int, build string, exp expect) error {
	return e.onHosts(n, func(h sshd.Host) error {
		target, err := os.Readlink(hostPath(h, appDir+"/current"))
		if err != nil {
			return fmt.Errorf("current: %w", err)
		}
		if filepath.Base(filepath.Dir(target)) != "releases" || filepath.Base(target) != build {
			return fmt.Errorf("current -> %s, want releases/%s", target, build)
		}
		rel := hostPath(h, appDir+"/releases/"+build)
		got, err := os.ReadFile(filepath.Join(rel, "BUILD"))
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(got)) != build {
			return fmt.Errorf("BUILD says %q, want %q", strings.TrimSpace(string(got)), build)
		}
		body, err := os.ReadFile(filepath.Join(rel, exp.CheckFile))
		if err != nil {
			return err
		}
		if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != exp.CheckSum {
			return fmt.Errorf("%s: sha256 %x, want %s", exp.CheckFile, sum, exp.CheckSum)
		}
		fi, err := os.Stat(filepath.Join(rel, exp.LastFile))
		if err != nil {
			return err
		}
		if fi.Size() != exp.LastSize {
			return fmt.Errorf("%s: %d bytes, want %d", exp.LastFile, fi.Size(), exp.LastSize)
		}
		return nil
	})
}
