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
// is MemAvailable less memReserve (or the free space, if smaller).
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
		e.budget = min(free, max(memAvailable()-memReserve, 0))
	} else {
		e.storage = "disk"
		e.budget = free * 8 / 10
	}
}

const tmpfsMagic = 0x01021994

// memReserve is the memory a cell leaves to the processes: 50 sshd, the
// tools and their ssh clients. Ansible's tree, the largest, sums to about
// 0.8 GiB at 50 hosts.
const memReserve = 3 << 30

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

// footprint is what a cell leaves on the hosts at its peak: build 2
// unpacked on every host, one tarball each (a download, an upload, or
// Capistrano's archive of the rolled-back release), and build 1 once, as
// every host's copy of it links the same files (see seed).
func footprint(n int, set *artifactSet) int64 {
	return int64(n)*(set.Expect["2"].Footprint+set.get("2", gz).Bytes) + set.Expect["1"].Footprint
}

// fits reports whether a cell fits the storage budget, with the room a
// Switchman deploy asks each host to have free before it delivers (the
// default min_free_space, 256 MiB, and 3 × the artifact): the hosts share
// one file system, so a cell that only just fits would be refused.
func (e *env) fits(n int, set *artifactSet) bool {
	return footprint(n, set)+256<<20+3*set.get("2", gz).Bytes <= e.budget
}
