package bench

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

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
