package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostGroup is a cgroup holding the hosts' listening sshd, and so every
// process they start: the kernel counts its CPU time to the nanosecond,
// whatever is still running. /proc counts a running process's CPU in
// whole clock ticks (10 ms), its own and its reaped children's apart, so
// that the hosts' CPU read from the process tree lost up to 20 ms for each
// process still running when it was read: the connections a tool keeps
// open, with their shells. For Switchman's warm connections at 50 hosts
// that was about half of the hosts' CPU of a push deploy (1.4 s of 2.9 s).
type hostGroup struct {
	dir string
	// usage reads the group's CPU time so far.
	usage func() (time.Duration, error)
}

// newHostGroup makes a cgroup under this process's own and moves pids
// into it: a cgroup v2 hierarchy where one is mounted (its cpu.stat needs
// no controller), else cgroup v1's cpuacct. It fails where neither can be
// written, in a container say.
func newHostGroup(pids []int) (*hostGroup, error) {
	g, err := makeHostGroup()
	if err != nil {
		return nil, err
	}
	for _, pid := range pids {
		if err := os.WriteFile(filepath.Join(g.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			g.remove()
			return nil, fmt.Errorf("cgroup %s: move pid %d: %w", g.dir, pid, err)
		}
	}
	return g, nil
}

func makeHostGroup() (*hostGroup, error) {
	name := fmt.Sprintf("switchman-bench-hosts-%d", os.Getpid())
	var errs []error
	for _, h := range []struct {
		fstype, option, file string
		usage                func(b []byte) (time.Duration, error)
	}{
		{"cgroup2", "", "cpu.stat", usageUsec},
		{"cgroup", "cpuacct", "cpuacct.usage", usageNs},
	} {
		parent, err := ownCgroup(h.fstype, h.option)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("cgroup: %w", err))
			continue
		}
		file, parse := filepath.Join(dir, h.file), h.usage
		return &hostGroup{dir: dir, usage: func() (time.Duration, error) {
			b, err := os.ReadFile(file)
			if err != nil {
				return 0, fmt.Errorf("cgroup: %w", err)
			}
			return parse(b)
		}}, nil
	}
	return nil, errors.Join(errs...)
}

// ownCgroup returns the directory of this process's cgroup in the
// hierarchy mounted with fstype (and, for cgroup v1, the controller
// option).
func ownCgroup(fstype, option string) (string, error) {
	mount, root, err := cgroupMount(fstype, option)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("cgroup: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		// hierarchy-ID:controller-list:path; cgroup v2's has no controllers.
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if (fstype == "cgroup2" && parts[1] == "") || (fstype == "cgroup" && hasOption(parts[1], option)) {
			rel, ok := strings.CutPrefix(parts[2], root)
			if !ok {
				return "", fmt.Errorf("cgroup: %s is outside the mount's root %s", parts[2], root)
			}
			return filepath.Join(mount, rel), nil
		}
	}
	return "", fmt.Errorf("cgroup: this process is in no %s %s hierarchy", fstype, option)
}

// cgroupMount finds where the hierarchy is mounted, and the cgroup path
// the mount's root is, from /proc/self/mountinfo.
func cgroupMount(fstype, option string) (mount, root string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", fmt.Errorf("cgroup: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID parent major:minor root mountpoint options [optional...] - fstype source super-options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 || b[0] != fstype {
			continue
		}
		if option != "" && !hasOption(b[2], option) {
			continue
		}
		return a[4], a[3], nil
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("cgroup: %w", err)
	}
	return "", "", fmt.Errorf("cgroup: no %s %s hierarchy is mounted", fstype, option)
}

func hasOption(list, option string) bool {
	for o := range strings.SplitSeq(list, ",") {
		if o == option {
			return true
		}
	}
	return false
}

// usageUsec reads cgroup v2's cpu.stat.
func usageUsec(b []byte) (time.Duration, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cgroup: cpu.stat: %w", err)
			}
			return time.Duration(n) * time.Microsecond, nil
		}
	}
	return 0, errors.New("cgroup: cpu.stat has no usage_usec")
}

// usageNs reads cgroup v1's cpuacct.usage.
func usageNs(b []byte) (time.Duration, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cgroup: cpuacct.usage: %w", err)
	}
	return time.Duration(n), nil
}

// remove moves what is left in the group to its parent and removes it.
// The hosts have stopped by then, but a process may still be exiting.
func (g *hostGroup) remove() error {
	parent := filepath.Join(filepath.Dir(g.dir), "cgroup.procs")
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(g.dir, "cgroup.procs"))
		if err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
		for pid := range strings.FieldsSeq(string(b)) {
			_ = os.WriteFile(parent, []byte(pid), 0) // it may have exited meanwhile
		}
		err = os.Remove(g.dir)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHostGroup moves a running shell into a host group and checks that
// the group counts the CPU the shell uses while it still runs, to the
// nanosecond its scheduler statistics give, where /proc/PID/stat would
// count whole ticks.
func TestHostGroup(t *testing.T) {
	sh := exec.Command("/bin/sh", "-c", "read x; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done; read x")
	in, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		in.Close()
		_ = sh.Wait()
	}()
	g, err := newHostGroup([]int{sh.Process.Pid})
	if err != nil {
		t.Fatalf("cannot make a cgroup for the hosts (the benchmarks run as root where cgroup v2, or v1's cpuacct, is mounted writable): %v", err)
	}
	defer func() {
		if err := g.remove(); err != nil {
			t.Errorf("remove: %v", err)
		}
	}()
	before, err := g.usage()
	if err != nil {
		t.Fatal(err)
	}
	ran0 := schedRuntime(t, sh.Process.Pid)
	io.WriteString(in, "go\n")
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "done\n" {
		t.Fatalf("shell: %q, %v", line, err)
	}
	ran := schedRuntime(t, sh.Process.Pid) - ran0
	after, err := g.usage()
	if err != nil {
		t.Fatal(err)
	}
	// cpu.stat counts microseconds.
	if got := after - before; got < ran-time.Microsecond || ran <= 0 {
		t.Errorf("the group counted %v while its shell ran %v", got, ran)
	}
	t.Logf("shell ran %v; group counted %v", ran, after-before)
}

// schedRuntime is how long pid has run, from /proc/PID/schedstat.
func schedRuntime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(n)
}

func TestCgroupUsage(t *testing.T) {
	tests := []struct {
		name  string
		parse func([]byte) (time.Duration, error)
		in    string
		want  time.Duration
		bad   bool
	}{
		{"v2", usageUsec, "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n", 1500 * time.Microsecond, false},
		{"v2 without usage", usageUsec, "user_usec 1000\n", 0, true},
		{"v1", usageNs, "123456789\n", 123456789, false},
		{"v1 garbled", usageNs, "x\n", 0, true},
	}
	for _, tt := range tests {
		got, err := tt.parse([]byte(tt.in))
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("%s: got %v, %v; want %v (error: %v)", tt.name, got, err, tt.want, tt.bad)
		}
	}
}
