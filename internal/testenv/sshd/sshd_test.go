package sshd

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// sshTo runs command on host i of f with the OpenSSH client, checking the
// host key against f.KnownHosts. It returns the command's standard output,
// and its standard error too when it fails: otherwise what the client or
// the host's shell print there (warnings) is only logged, so that it
// cannot pass for the command's output.
func sshTo(t *testing.T, f *Fleet, i int, command string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Fatal("ssh not found: install it with `apt-get install -y openssh-client` (or run `make deps`)")
	}
	port := strconv.Itoa(f.Hosts[i].port)
	cmd := exec.Command("ssh", "-F", "none", "-i", f.ClientKey, "-p", port,
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+f.KnownHosts,
		"-o", "ConnectTimeout=60", f.User+"@127.0.0.1", command)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return strings.TrimSpace(string(out) + stderr.String()), err
	}
	if stderr.Len() > 0 {
		t.Logf("%s: standard error of %q: %s", f.Hosts[i].Name, command, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func TestStartFleet(t *testing.T) {
	const n = 10
	f := StartFleet(t, n, Options{})
	if len(f.Hosts) != n {
		t.Fatalf("got %d hosts, want %d", len(f.Hosts), n)
	}
	var wg sync.WaitGroup
	for i := range f.Hosts {
		wg.Go(func() {
			name := f.Hosts[i].Name
			out, err := sshTo(t, f, i, "echo "+name+" > /srv/marker && ls /srv && echo \"$HOME\"")
			if err != nil {
				t.Errorf("%s: ssh: %v: %s", name, err, out)
				return
			}
			// Each host sees only its own /srv, and sessions a HOME
			// without the test user's startup files.
			if out != "marker\n/srv/home" {
				t.Errorf("%s: /srv and HOME: %q, want only marker and /srv/home", name, out)
			}
			b, err := os.ReadFile(filepath.Join(f.Hosts[i].Root, "marker"))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			if got := strings.TrimSpace(string(b)); got != name {
				t.Errorf("%s: Root/marker = %q, want %q", name, got, name)
			}
		})
	}
	wg.Wait()
}

func TestFleetRestartAndHostKey(t *testing.T) {
	f := StartFleet(t, 1, Options{NoNamespace: true})
	if out, err := sshTo(t, f, 0, "true"); err != nil {
		t.Fatalf("ssh: %v: %s", err, out)
	}
	oldPID := f.Hosts[0].PID

	f.Kill(0)
	if out, err := sshTo(t, f, 0, "true"); err == nil {
		t.Fatalf("ssh to a killed host succeeded: %s", out)
	}
	f.Start(0)
	if f.Hosts[0].PID == oldPID {
		t.Errorf("PID after Start = %d, want a new one", oldPID)
	}
	if out, err := sshTo(t, f, 0, "true"); err != nil {
		t.Fatalf("ssh after Start: %v: %s", err, out)
	}

	f.RegenerateHostKey(0)
	out, err := sshTo(t, f, 0, "true")
	if err == nil || !strings.Contains(out, "HOST IDENTIFICATION HAS CHANGED") {
		t.Fatalf("ssh after RegenerateHostKey: err %v, output %q; want a changed host key", err, out)
	}
}

// impostor listens on addr as another server would after taking a host's
// port: it sends an SSH banner to every connection. It stops when the test
// ends.
func impostor(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("impostor on %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("SSH-2.0-impostor\r\n"))
			c.Close()
		}
	}()
}

// A host's port taken by another server while the host is down: starting
// it again must fail, not take the other server's banner for its own
// (its log still says it listened on that port the last time).
func TestStartOnTakenPort(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
	}{
		{"shared /srv", Options{NoNamespace: true}},
		{"own /srv", Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := StartFleet(t, 1, tc.opt)
			f.Kill(0)
			impostor(t, f.Hosts[0].Addr)
			err := f.start(&f.Hosts[0])
			if err == nil {
				t.Fatalf("start on a port another server holds succeeded")
			}
			if !errors.Is(err, errPortTaken) {
				t.Errorf("start: %v; want it to say the port is taken", err)
			}
			t.Logf("start: %v", err)
			if f.pid(0) != 0 {
				t.Errorf("host counted as running after a failed start")
			}
		})
	}
}

// A port taken between its choice and sshd's start: the host is started
// on another port, and the address it gets is its own sshd's.
func TestStartFleetRetriesTakenPort(t *testing.T) {
	var taken []string
	beforeStart = func(h *Host) {
		if len(taken) == 0 {
			taken = append(taken, h.Addr)
			impostor(t, h.Addr)
		}
	}
	t.Cleanup(func() { beforeStart = nil })
	f := StartFleet(t, 1, Options{NoNamespace: true})
	if len(taken) != 1 {
		t.Fatalf("the hook took %d ports, want 1", len(taken))
	}
	if f.Hosts[0].Addr == taken[0] {
		t.Fatalf("host started on %s, the port the impostor holds", taken[0])
	}
	if out, err := sshTo(t, f, 0, "true"); err != nil {
		t.Fatalf("ssh: %v: %s", err, out)
	}
}

// A host whose sshd cannot start fails with sshd's exit status and what
// it said, not with a time-out.
func TestStartFailureSaysWhy(t *testing.T) {
	f := StartFleet(t, 1, Options{NoNamespace: true})
	f.Kill(0)
	h := &f.Hosts[0]
	if err := os.WriteFile(h.cfg, []byte("NoSuchKeyword yes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := f.start(h)
	if err == nil {
		t.Fatal("start with a broken sshd_config succeeded")
	}
	for _, want := range []string{"exited with exit status 255", "NoSuchKeyword"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start: %v; want it to say %q", err, want)
		}
	}
	if errors.Is(err, errPortTaken) {
		t.Errorf("start: %v; a broken config is not a taken port", err)
	}
	t.Logf("start: %v", err)
}

// TestStopLeavesWhatIsNoLongerTheHosts: once a host's sshd has exited and
// been reaped, its PID (PIDs wrap at 32768 on many machines) and the
// number of its mount namespace may be another process's, another
// test's sshd starting say: Pause, Resume and Stop must not signal them.
// The host holds its namespace open while it runs, so that its number
// stays its own until Stop has killed what runs in it.
func TestStopLeavesWhatIsNoLongerTheHosts(t *testing.T) {
	f := StartFleet(t, 1, Options{})
	h := &f.Hosts[0]
	f.mu.Lock()
	ns, nsf, exited := h.ns, h.nsf, h.exited
	f.mu.Unlock()
	if ns == "" || nsf == nil {
		t.Fatalf("namespace %q, file %v; want the host's namespace held open", ns, nsf)
	}
	if l, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(nsf.Fd()))); err != nil || l != ns {
		t.Errorf("held namespace %q (%v), want %q", l, err, ns)
	}
	if err := syscall.Kill(h.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if pid := f.pid(0); pid != 0 {
		t.Errorf("pid of a reaped sshd = %d, want 0: nothing to signal", pid)
	}
	f.Stop(0)
	if _, err := nsf.Stat(); err == nil {
		t.Error("the namespace is still held after Stop")
	}
}
