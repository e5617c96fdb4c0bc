package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/shell"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// knobs are the benchmark's settings from the environment.
type knobs struct {
	Hosts []int // BENCH_HOSTS
	Sizes []int // BENCH_SIZES, in MB
	// Runs (BENCH_RUNS) is the most measured runs of a tool in a cell; the
	// median is reported.
	Runs int
	// CellTime (BENCH_CELL_SECONDS) cuts the runs short: no new run of a
	// tool starts once its runs in the cell have taken that long, so that
	// the slow cells (50 hosts, Ansible) fit the time budget. Every tool
	// runs at least once; the tables say how many runs each row had.
	CellTime time.Duration
}

func readKnobs(b *testing.B, defaultSizes string) knobs {
	b.Helper()
	list := func(name, def string) []int {
		v := os.Getenv(name)
		if v == "" {
			v = def
		}
		var out []int
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("%s=%q: want a comma-separated list of positive integers", name, v)
			}
			out = append(out, n)
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	num := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive integer", name, v)
		}
		return n
	}
	return knobs{
		Hosts:    list("BENCH_HOSTS", "1,10,50"),
		Sizes:    list("BENCH_SIZES", defaultSizes),
		Runs:     num("BENCH_RUNS", 5),
		CellTime: time.Duration(num("BENCH_CELL_SECONDS", 60)) * time.Second,
	}
}

// more reports whether a tool that has done runs runs, which took spent,
// gets another one.
func (k knobs) more(runs int, spent time.Duration) bool {
	return runs == 0 || runs < k.Runs && spent < k.CellTime
}

// onlyWhenNamed skips the benchmark unless -bench names it: `make bench`
// runs -bench . over every package with the default timeout, which these
// long benchmarks would exceed.
func onlyWhenNamed(b *testing.B, name, target string) {
	b.Helper()
	f := flag.Lookup("test.bench")
	if f == nil || !strings.Contains(f.Value.String(), name) {
		b.Skipf("runs only when -bench names it: make %s", target)
	}
}

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
	// load is the 1-minute load average when the benchmark started.
	load float64
}

func newEnv(b *testing.B, hosts int) *env {
	b.Helper()
	if err := becomeSubreaper(); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ cmd, pkg string }{{"tar", "tar"}, {"zstd", "zstd"}, {"curl", "curl"}, {"ssh", "openssh-client"}, {"go", "golang"}} {
		if _, err := exec.LookPath(c.cmd); err != nil {
			b.Fatalf("%s not found: install it with `apt-get install -y %s`", c.cmd, c.pkg)
		}
	}
	e := &env{b: b, cpus: runtime.NumCPU(), log: os.Stdout, load: loadavg()}
	e.useStorage()
	e.dir = b.TempDir()
	e.progress("storage: %s, room for %.1f GiB per cell", e.storage, float64(e.budget)/(1<<30))
	e.progress("starting %d hosts", hosts)
	// Sessions get a home of their own host, not the home of the user
	// running the benchmark: its shell startup files (a version manager's
	// init, say) would run in every session of every tool. SFTP is on, as
	// on a stock host: Fabric uploads with it.
	e.fleet = sshd.StartFleet(b, hosts, sshd.Options{Config: []string{"SetEnv HOME=/srv/home", "Subsystem sftp internal-sftp"}})
	e.keep = map[int]bool{}
	for _, h := range e.fleet.Hosts {
		e.keep[h.PID] = true
		if err := os.MkdirAll(hostPath(h, "/srv/home"), 0o700); err != nil {
			b.Fatal(err)
		}
	}
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

// useStorage points TMPDIR, under which the hosts' /srv, the artifacts and
// the floors' scratch directories live, at BENCH_TMPDIR, else at a tmpfs
// (/dev/shm) when there is one. Unpacking a release creates thousands of
// files; on the small VMs this runs on, ext4 spends about 0.5 ms of kernel
// time creating each one, which would make every row measure that instead
// of the tools. A real host unpacks into its page cache and writes back
// later, which tmpfs resembles. On tmpfs, memory bounds a cell: the budget
// is half of MemAvailable (or the free space, if smaller).
func (e *env) useStorage() {
	e.b.Helper()
	base := os.Getenv("BENCH_TMPDIR")
	if base == "" {
		if st, err := statfs("/dev/shm"); err == nil && st.Type == tmpfsMagic {
			base = "/dev/shm"
		} else {
			base = os.TempDir()
		}
	}
	dir, err := os.MkdirTemp(base, "switchman-bench-")
	if err != nil {
		e.b.Fatalf("BENCH_TMPDIR: %v", err)
	}
	e.b.Cleanup(func() { _ = os.RemoveAll(dir) }) // runs last: registered first
	e.b.Setenv("TMPDIR", dir)
	e.root = dir
	st, err := statfs(dir)
	if err != nil {
		e.b.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if st.Type == tmpfsMagic {
		e.storage = "tmpfs"
		e.budget = min(free, memAvailable()/2)
	} else {
		e.storage = "disk"
		e.budget = free * 8 / 10
	}
}

const tmpfsMagic = 0x01021994

func statfs(path string) (syscall.Statfs_t, error) {
	var st syscall.Statfs_t
	err := syscall.Statfs(path, &st)
	return st, err
}

// memAvailable is MemAvailable from /proc/meminfo, in bytes.
func memAvailable() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// footprint is what a cell leaves on the hosts at its peak: both builds
// unpacked on every host, and one tarball (a download, an upload, or
// Capistrano's archive of the rolled-back release).
func footprint(n int, set *artifactSet) int64 {
	var per int64
	for _, build := range builds {
		per += set.Expect[build].Footprint
	}
	return int64(n) * (per + set.get("2", gz).Bytes)
}

// fits reports whether a cell fits the storage budget.
func (e *env) fits(n int, set *artifactSet) bool { return footprint(n, set) <= e.budget }

// loadavg is the 1-minute load average: other work on the machine slows
// every row, so the tables say how busy it was before the benchmark began.
func loadavg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return v
}

// summary is the line under a table's title: the machine and the run.
func (e *env) summary(k knobs, started time.Time) string {
	return fmt.Sprintf("%d CPUs, hosts' /srv on %s; up to %d runs per row, fewer once a row's runs took %s; load average %.1f when it started; %s in all.",
		e.cpus, e.storage, k.Runs, k.CellTime, e.load, time.Since(started).Round(time.Second))
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

// measure runs fn as one measured run (see measure).
func (e *env) measure(fn func(m *meter) error) (sample, error) {
	return measure(e.keep, e.listeners(), fn)
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
// copies a release unpacked once on this machine, so that every tool
// starts from the same hosts without paying for a deploy of build 1.
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
		if out, err := exec.Command("cp", "-a", tmpl, filepath.Join(dir, "releases", "1")).CombinedOutput(); err != nil {
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

// sshArgs are the OpenSSH client's arguments to run command on h, with the
// fleet's key and known_hosts and the cipher Switchman's client negotiates
// first (aes128-gcm).
func (e *env) sshArgs(h sshd.Host, command string) []string {
	port := h.Addr[strings.LastIndexByte(h.Addr, ':')+1:]
	return []string{"-F", "/dev/null", "-i", e.fleet.ClientKey, "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + e.fleet.KnownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ControlMaster=no",
		"-o", "Ciphers=aes128-gcm@openssh.com", "-o", "LogLevel=ERROR",
		"-p", port, "-l", e.fleet.User, "127.0.0.1", command}
}

// Floors: what the machine does at best with the same artifact and the same
// hosts, measured in the same run as the tools.
const (
	floorLocal  = "a" // unpack N times locally
	floorStream = "b" // stream N times through ssh to cat >/dev/null
	floorUnpack = "c" // stream N times through ssh into tar -x: the floor
)

var floorNames = map[string]string{
	floorLocal:  "(a) local tar -x",
	floorStream: "(b) ssh cat",
	floorUnpack: "(c) ssh tar -x",
}

// floor measures one floor for art on the first n hosts: (a) and (b) run
// at most one command per CPU at a time, (c) runs all n at once, as the
// tools do (with fewer, the connection latency of small artifacts would
// make the floor slower than the tools).
func (e *env) floor(kind string, art artifact, n int) (sample, error) {
	scratch := filepath.Join(e.dir, "floor")
	defer func() {
		_ = os.RemoveAll(scratch) // a leftover only costs disk
		_ = e.onHosts(n, func(h sshd.Host) error { return os.RemoveAll(hostPath(h, "/srv/floor")) })
	}()
	switch kind {
	case floorLocal:
		for i := range n {
			if err := os.MkdirAll(filepath.Join(scratch, strconv.Itoa(i)), 0o755); err != nil {
				return sample{}, err
			}
		}
	case floorUnpack:
		if err := e.onHosts(n, func(h sshd.Host) error { return os.MkdirAll(hostPath(h, "/srv/floor"), 0o755) }); err != nil {
			return sample{}, err
		}
	}
	return e.measure(func(m *meter) error {
		errs := make([]error, n)
		sem := make(chan struct{}, e.cpus)
		if kind == floorUnpack {
			sem = make(chan struct{}, n)
		}
		var wg sync.WaitGroup
		for i, h := range e.hosts(n) {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				var cmd *exec.Cmd
				switch kind {
				case floorLocal:
					cmd = exec.Command("tar", "-x", tarFlag(art.Comp), "-f", art.Path, "-C", filepath.Join(scratch, strconv.Itoa(i)))
				case floorStream:
					cmd = exec.Command("ssh", e.sshArgs(h, "cat >/dev/null")...)
				case floorUnpack:
					cmd = exec.Command("ssh", e.sshArgs(h, shell.Join("tar", "-x", tarFlag(art.Comp), "-f", "-", "-C", "/srv/floor"))...)
				}
				if kind != floorLocal {
					f, err := os.Open(art.Path)
					if err != nil {
						errs[i] = err
						return
					}
					defer f.Close()
					cmd.Stdin = f
				}
				errs[i] = m.run(cmd)
			})
		}
		wg.Wait()
		return joinErrs(errs)
	})
}

// median returns the median of each field of samples, taken separately.
func median(samples []sample) sample {
	if len(samples) == 0 {
		return sample{}
	}
	pick := func(get func(sample) int64) int64 {
		v := make([]int64, len(samples))
		for i, s := range samples {
			v[i] = get(s)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return sample{
		Wall:    time.Duration(pick(func(s sample) int64 { return int64(s.Wall) })),
		CPU:     time.Duration(pick(func(s sample) int64 { return int64(s.CPU) })),
		HostCPU: time.Duration(pick(func(s sample) int64 { return int64(s.HostCPU) })),
		MaxRSS:  pick(func(s sample) int64 { return s.MaxRSS }),
		PeakPSS: pick(func(s sample) int64 { return s.PeakPSS }),
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func secs(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }

// table renders a Markdown table.
type table struct {
	head []string
	rows [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) String() string {
	width := make([]int, len(t.head))
	for i, h := range t.head {
		width[i] = len([]rune(h))
	}
	for _, r := range t.rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i == 0 || !numeric(c) {
				b.WriteString(" " + c + pad + " |")
			} else {
				b.WriteString(" " + pad + c + " |")
			}
		}
		b.WriteString("\n")
	}
	line(t.head)
	b.WriteString("|")
	for i := range t.head {
		b.WriteString(strings.Repeat("-", width[i]+2) + "|")
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		line(r)
	}
	return b.String()
}

func numeric(s string) bool {
	_, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(s, "×"), "×"), 64)
	return err == nil
}
