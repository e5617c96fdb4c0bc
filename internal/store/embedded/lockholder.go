package embedded

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/switchman-bot/switchman/internal/errs"
)

// inUseError is the error of Open for a store whose lock another process
// holds. bbolt's lock is an flock, which any program can take on any file
// (flock(1) run by hand, a backup script, a program with its own bbolt
// file at that path): the holder, as the kernel lists it, is named, and
// called a Switchman bot only when it runs this very executable. Without
// one to name (no /proc, the holder in another PID namespace, the lock
// gone since), it says both what it may be.
func inUseError(path string) error {
	pid, ok := lockHolder(path)
	switch {
	case !ok:
		return errs.New(errs.Unavailable, "state store %s is in use by another process (another Switchman bot, or whatever else holds a lock on it)", path)
	case pid == os.Getpid():
		return errs.New(errs.Unavailable, "state store %s is in use by this process (pid %d), which has it open already", path, pid)
	case sameExecutable(pid):
		return errs.New(errs.Unavailable, "state store %s is in use by another Switchman bot (pid %d)", path, pid)
	}
	return errs.New(errs.Unavailable, "state store %s is in use by another process, pid %d (%s), which holds a lock on it: stop it, or name another store.path", path, pid, command(pid))
}

// lockHolder returns the process that holds an flock on the file at path,
// as /proc/locks lists it: the first of them, as a file opened to read is
// held by every reader. Locks of other kinds (POSIX, OFD) are left out:
// they do not keep bbolt's flock out. A pid of 0 is a holder in a PID
// namespace this process cannot see.
func lockHolder(path string) (int, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, false
	}
	// As fs/locks.c prints a lock's file: major and minor of its
	// device in hex, its inode in decimal.
	file := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 1234 fe:00:10002499 0 EOF";
		// a waiter's line has "->" after the number.
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[5] != file {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err != nil || pid <= 0 {
			continue
		}
		return pid, true
	}
	return 0, false
}

// sameExecutable says whether process pid runs the file this process
// runs: the same inode, which a binary replaced since (an upgrade) is not.
func sameExecutable(pid int) bool {
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		return false
	}
	other, err := os.Stat(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return false
	}
	return os.SameFile(self, other)
}

// command returns the command name of process pid, or "unknown command"
// when it cannot be read (it ended since).
func command(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "unknown command"
	}
	return strings.TrimSpace(string(b))
}
