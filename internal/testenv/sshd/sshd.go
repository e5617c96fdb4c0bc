// Package sshd starts real OpenSSH sshd servers on loopback as the hosts of
// a simulated fleet, for tests of the SSH transport and of deploys to many
// hosts.
//
// Every host is one `sshd -D` child process with its own config, host key,
// port and log. By default each runs in its own mount namespace with a
// private /srv, so every host has the same paths as a real fleet
// (/srv/APP/releases, /srv/APP/current) while its files land in Host.Root.
// That needs root and unshare; Options.NoNamespace gives hosts that share
// the machine's /srv instead.
//
// A missing sshd, ssh-keygen or unshare fails the test with the command
// that installs it.
package sshd

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/shell"
	"github.com/switchman-bot/switchman/internal/testenv/ports"
)

// startTimeout bounds how long a host's sshd may take to listen on its
// port and answer with its banner. A host is ready as soon as it answers,
// so the limit only matters on a machine so busy (other test packages
// running at once) that sshd takes many seconds to start; an sshd that
// exits ends the wait at once.
const startTimeout = 2 * time.Minute

// errPortTaken is a start that failed because another process holds the
// host's port.
var errPortTaken = errors.New("the port is taken by another process")

// beforeStart, when set, is called with a host just before its sshd
// starts, its port and config chosen.
var beforeStart func(h *Host)

// noProfile gives sessions a HOME without startup files. Sessions log in
// as the user running the tests, whose shell would otherwise read that
// user's startup files in every session: a version manager's init can
// take 100 ms, and pyenv's rehash, run by many sessions at once, waits
// up to a minute for its lock. Tests and benchmarks exercise the hosts,
// not the machine's dotfiles. A Config line setting HOME replaces it.
const noProfile = "SetEnv HOME=/srv/home"

// Options tunes a fleet. The zero value gives namespaced hosts with the
// fleet's client key authorized.
type Options struct {
	// NoNamespace runs every sshd in the machine's own mount namespace:
	// all hosts then share the real /srv and Host.Root is unused.
	NoNamespace bool
	// Config holds sshd_config lines for every host. They come before
	// the fleet's own, so they override them (sshd keeps the first value
	// of a keyword; HostKey and a few others add up instead, and the
	// last MaxStartups wins: the fleet's is left out when Config sets
	// one).
	Config []string
	// AuthorizedKeys holds extra authorized_keys lines accepted by every
	// host, besides the fleet's client key.
	AuthorizedKeys []string
}

// Host is one simulated host.
type Host struct {
	// Name is host0, host1, …
	Name string
	// Addr is what a client dials: 127.0.0.1:port.
	Addr string
	// Root is the directory the host sees as /srv.
	Root string
	// HostKey is the path of the host's public key; RegenerateHostKey
	// replaces it.
	HostKey string
	// PID is the listening sshd's process id; it changes on Start.
	PID int

	dir    string
	port   int
	cfg    string
	log    string
	cmd    *exec.Cmd
	exited chan struct{}
	// ns is the mount namespace of a namespaced host's sshd ("" without
	// one): the processes in it are the host's, orphans included. nsf
	// holds it open while the host runs: a namespace's inode number is
	// reused once it is gone, and Stop must not take another test's
	// host, just started in a namespace of the same number, for this one.
	ns  string
	nsf *os.File
}

// Fleet is a set of running sshd hosts, stopped by the test's cleanup.
//
// Kill, Stop, Pause, Resume and Log may be called from any goroutine, for
// example while a Run is in progress; Start and RegenerateHostKey call
// t.Fatal, so only from the test's own. Reading Hosts[i].PID while
// Start(i) runs is a race.
type Fleet struct {
	Hosts []Host
	// KnownHosts is a known_hosts file with every host's key.
	KnownHosts string
	// ClientKey is the path of an unencrypted ed25519 private key that
	// every host accepts; its public key is ClientKey + ".pub".
	ClientKey string
	// User is the user the hosts accept logins for: the one running the
	// test.
	User string

	t    testing.TB
	opt  Options
	dir  string
	sshd string
	mu   sync.Mutex
}

var (
	nsOnce sync.Once
	nsErr  error
)

// StartFleet starts n hosts and returns once all of them answer with an
// SSH banner. They are killed, with everything they started, when the test
// ends. Their sessions get HOME=/srv/home, which holds no startup files
// unless the test puts them there.
func StartFleet(t testing.TB, n int, opt Options) *Fleet {
	t.Helper()
	sshdPath := lookSSHD(t)
	need(t, "ssh-keygen", "openssh-client")
	if !opt.NoNamespace {
		need(t, "unshare", "util-linux")
		nsOnce.Do(func() { nsErr = probeNamespace() })
		if nsErr != nil {
			t.Fatalf("sshd: cannot give hosts their own /srv (needs root and a working `unshare -m`): %v; use Options{NoNamespace: true} for hosts that share /srv", nsErr)
		}
	}
	if os.Geteuid() == 0 {
		// sshd refuses to start without its privilege separation
		// directory, which a fresh container lacks (make deps creates it).
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshd: create /run/sshd (run `mkdir -p /run/sshd` as root): %v", err)
		}
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshd: current user: %v", err)
	}

	started := time.Now()
	dir := t.TempDir()
	f := &Fleet{
		KnownHosts: filepath.Join(dir, "known_hosts"),
		ClientKey:  filepath.Join(dir, "client_ed25519"),
		User:       u.Username,
		t:          t,
		opt:        opt,
		dir:        dir,
		sshd:       sshdPath,
	}
	t.Cleanup(f.cleanup)

	if err := keygen(f.ClientKey, "switchman-test-client"); err != nil {
		t.Fatalf("sshd: client key: %v", err)
	}
	pub, err := os.ReadFile(f.ClientKey + ".pub")
	if err != nil {
		t.Fatalf("sshd: %v", err)
	}
	auth := append([]byte(nil), pub...)
	for _, k := range opt.AuthorizedKeys {
		auth = append(auth, strings.TrimSpace(k)+"\n"...)
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), auth, 0o600); err != nil {
		t.Fatalf("sshd: %v", err)
	}

	f.Hosts = make([]Host, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range f.Hosts {
		wg.Go(func() { errs[i] = f.setup(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("sshd: %v", err)
	}
	if err := f.writeKnownHosts(); err != nil {
		t.Fatalf("sshd: %v", err)
	}
	t.Logf("sshd: started %d hosts in %s", n, time.Since(started).Round(time.Millisecond))
	return f
}

// setup prepares host i's files and starts it. It runs concurrently for
// different hosts, each writing only its own Hosts entry.
func (f *Fleet) setup(i int) error {
	h := &f.Hosts[i]
	h.Name = "host" + strconv.Itoa(i)
	h.dir = filepath.Join(f.dir, h.Name)
	h.Root = filepath.Join(h.dir, "srv")
	h.cfg = filepath.Join(h.dir, "sshd_config")
	h.log = filepath.Join(h.dir, "sshd.log")
	h.HostKey = filepath.Join(h.dir, "hostkey.pub")
	if err := os.MkdirAll(h.Root, 0o755); err != nil {
		return err
	}
	if err := keygen(filepath.Join(h.dir, "hostkey"), h.Name); err != nil {
		return fmt.Errorf("%s: host key: %w", h.Name, err)
	}
	// A free port can be taken by another process (another test's
	// server) before sshd binds it: such a start is tried again on a new
	// port. Any other failure is final.
	var err error
	for range 5 {
		if h.port, err = freePort(); err != nil {
			return err
		}
		h.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(h.port))
		if err = f.writeConfig(h); err != nil {
			return err
		}
		if err = f.start(h); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

func (f *Fleet) writeConfig(h *Host) error {
	q := func(p string) string { return strconv.Quote(p) }
	lines := []string{
		"Port " + strconv.Itoa(h.port),
		"ListenAddress 127.0.0.1",
		"HostKey " + q(filepath.Join(h.dir, "hostkey")),
		"AuthorizedKeysFile " + q(filepath.Join(f.dir, "authorized_keys")),
		"PidFile " + q(filepath.Join(h.dir, "sshd.pid")),
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password",
		"StrictModes no",
		"UsePAM no",
		"UseDNS no",
		"PrintMotd no",
		"PrintLastLog no",
		"X11Forwarding no",
		"AllowAgentForwarding no",
		"AllowTcpForwarding yes",
		// Parallel tests open many connections at once; the default
		// (10) would refuse some of them.
		"MaxSessions 50",
		"LogLevel VERBOSE",
	}
	// MaxStartups is one of the keywords whose last value wins, so the
	// fleet's own would override the caller's: it is only added when the
	// caller sets none. The default (10:30:100) would refuse some of the
	// connections parallel tests open at once.
	if !slices.ContainsFunc(f.opt.Config, func(l string) bool { return keyword(l) == "maxstartups" }) {
		lines = append(lines, "MaxStartups 200")
	}
	if !slices.ContainsFunc(f.opt.Config, func(l string) bool { return strings.HasPrefix(l, "SetEnv HOME=") }) {
		lines = append(lines, noProfile)
	}
	// sshd keeps the first value it reads for most keywords: the
	// caller's lines go first so that they win.
	lines = append(f.opt.Config[:len(f.opt.Config):len(f.opt.Config)], lines...)
	return os.WriteFile(h.cfg, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// keyword is an sshd_config line's keyword, in lower case as sshd
// compares it.
func keyword(line string) string {
	k, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	k, _, _ = strings.Cut(k, "=")
	return strings.ToLower(k)
}

// start runs host h's sshd and waits until it listens on h's port and
// answers there. The host only counts as started when the socket
// listening on its port is its own sshd's: a banner from another process
// that took the port, or an earlier run's lines in the log, do not count.
func (f *Fleet) start(h *Host) error {
	if beforeStart != nil {
		beforeStart(h)
	}
	// The log keeps earlier runs' lines (Log returns them all); this
	// run's start at logFrom.
	var logFrom int64
	if fi, err := os.Stat(h.log); err == nil {
		logFrom = fi.Size()
	}
	args := []string{f.sshd, "-D", "-f", h.cfg, "-E", h.log}
	var cmd *exec.Cmd
	if f.opt.NoNamespace {
		cmd = exec.Command(args[0], args[1:]...)
	} else {
		// unshare and sh both exec, so the child's PID ends up being
		// sshd's own.
		script := "mount --bind " + shell.Quote(h.Root) + " /srv && exec " + shell.Join(args...)
		cmd = exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: start sshd: %w", h.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		// Reaps the child; the exit status is read from cmd after exited.
		_ = cmd.Wait()
		close(exited)
	}()
	pid := cmd.Process.Pid
	if err := waitListening(pid, h.port, h.Addr, exited); err != nil {
		if !closed(exited) {
			killTree(pid, syscall.SIGKILL)
		}
		<-exited
		log := tailFrom(h.log, logFrom, 1024)
		if errors.Is(err, errExited) {
			err = fmt.Errorf("sshd exited with %v", cmd.ProcessState)
			if strings.Contains(log+stderr.String(), "Address already in use") {
				err = fmt.Errorf("%w (%w)", err, errPortTaken)
			}
		}
		return fmt.Errorf("%s: sshd on %s: %w; stderr: %s; log: %s", h.Name, h.Addr, err,
			strings.TrimSpace(stderr.String()), log)
	}
	var ns string
	var nsf *os.File
	if !f.opt.NoNamespace {
		// sshd listens, so it runs in its namespace by now. Should the
		// link still be the test's own namespace, it is not kept: Stop
		// kills every process in the host's namespace.
		if nsf, _ = os.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid)); nsf != nil {
			ns, _ = os.Readlink(fmt.Sprintf("/proc/self/fd/%d", nsf.Fd()))
		}
		if self, err := os.Readlink("/proc/self/ns/mnt"); err != nil || ns == self {
			ns = ""
		}
		if ns == "" && nsf != nil {
			nsf.Close()
			nsf = nil
		}
	}
	f.mu.Lock()
	h.cmd, h.exited, h.PID, h.ns, h.nsf = cmd, exited, pid, ns, nsf
	f.mu.Unlock()
	return nil
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// errExited is an sshd that exited while it was awaited.
var errExited = errors.New("exited")

// waitListening waits until process pid holds the socket listening on
// 127.0.0.1:port and has sent an SSH banner to a connection to addr; or
// until it exits (errExited), another process is seen holding the port
// (errPortTaken), or startTimeout passes.
func waitListening(pid, port int, addr string, exited <-chan struct{}) error {
	started := time.Now()
	deadline := started.Add(startTimeout)
	for {
		select {
		case <-exited:
			return errExited
		default:
		}
		mine, other := listener(pid, port)
		if mine {
			break
		}
		if other != 0 {
			// Another process holds the port: this sshd cannot bind it.
			return fmt.Errorf("%w (its listening socket, inode %d, is not sshd's)", errPortTaken, other)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd still not listening on port %d after %s", port, time.Since(started).Round(time.Second))
		}
		select {
		case <-exited:
			return errExited
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The socket is this sshd's own, and no other process can bind the
	// port while it holds it: whatever answers addr is this sshd.
	for {
		c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
		if err == nil {
			_ = c.SetDeadline(deadline)
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "SSH-2.0-") {
				return nil
			}
			err = fmt.Errorf("banner %q: %v", line, rerr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sshd listening on port %d but sent no SSH banner after %s: %v", port, time.Since(started).Round(time.Second), err)
		}
		select {
		case <-exited:
			return errExited
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// listener looks for a TCP socket listening on port of 127.0.0.1 (or of
// every address). mine is whether process pid holds it; other is its
// inode when only another process's socket listens there, 0 when none.
func listener(pid, port int) (mine bool, other uint64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return false, 0
	}
	var inodes []uint64
	for _, line := range strings.Split(string(b), "\n")[1:] {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when
		// retrnsmt uid timeout inode ...
		fields := strings.Fields(line)
		if len(fields) < 10 || fields[3] != "0A" { // TCP_LISTEN
			continue
		}
		a, p, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		lport, err1 := strconv.ParseUint(p, 16, 16)
		ip, err2 := strconv.ParseUint(a, 16, 32)
		inode, err3 := strconv.ParseUint(fields[9], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || int(lport) != port {
			continue
		}
		// The kernel prints the address's network-order bytes as a
		// number in host order.
		var ab [4]byte
		binary.NativeEndian.PutUint32(ab[:], uint32(ip))
		if ab != [4]byte{127, 0, 0, 1} && ab != [4]byte{} {
			continue
		}
		inodes = append(inodes, inode)
	}
	if len(inodes) == 0 {
		return false, 0
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false, 0
	}
	held := map[uint64]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		if n, ok := strings.CutPrefix(l, "socket:["); ok {
			if inode, err := strconv.ParseUint(strings.TrimSuffix(n, "]"), 10, 64); err == nil {
				held[inode] = true
			}
		}
	}
	for _, inode := range inodes {
		if held[inode] {
			return true, 0
		}
	}
	return false, inodes[0]
}

func (f *Fleet) writeKnownHosts() error {
	var b strings.Builder
	for i := range f.Hosts {
		pub, err := os.ReadFile(f.Hosts[i].HostKey)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "[127.0.0.1]:%d %s\n", f.Hosts[i].port, strings.TrimSpace(string(pub)))
	}
	return os.WriteFile(f.KnownHosts, []byte(b.String()), 0o644)
}

// Kill kills host i's sshd and every process it started with SIGKILL, as
// a machine that dies: its connections drop at once.
func (f *Fleet) Kill(i int) {
	f.t.Helper()
	f.stop(i, syscall.SIGKILL)
}

// Stop shuts host i down (SIGTERM to sshd and its sessions) and waits for
// it to exit, so that Start can reuse its port.
func (f *Fleet) Stop(i int) {
	f.t.Helper()
	f.stop(i, syscall.SIGTERM)
}

func (f *Fleet) stop(i int, sig syscall.Signal) {
	f.mu.Lock()
	h := &f.Hosts[i]
	cmd, exited, ns, nsf := h.cmd, h.exited, h.ns, h.nsf
	h.cmd, h.exited, h.ns, h.nsf = nil, nil, "", nil
	f.mu.Unlock()
	if cmd == nil {
		return
	}
	if nsf != nil {
		defer nsf.Close()
	}
	// An sshd that exited was reaped: its PID may be another process's
	// by now (PIDs wrap at 32768 on many machines).
	if !closed(exited) {
		killTree(cmd.Process.Pid, sig)
	}
	// A session whose connection ended earlier (a host that hung, say)
	// is no longer sshd's descendant but still runs on the host.
	for _, p := range inNamespace(ns) {
		_ = syscall.Kill(p, sig) // the process may be gone
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		killTree(cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// inNamespace returns the processes in mount namespace ns.
func inNamespace(ns string) []int {
	if ns == "" {
		return nil
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/mnt"); err == nil && l == ns {
			out = append(out, p)
		}
	}
	return out
}

// Start starts host i again on the same address after Stop or Kill. It
// does nothing if the host is running.
func (f *Fleet) Start(i int) {
	f.t.Helper()
	f.mu.Lock()
	running := f.Hosts[i].cmd != nil
	f.mu.Unlock()
	if running {
		return
	}
	if err := f.start(&f.Hosts[i]); err != nil {
		f.t.Fatalf("sshd: %v", err)
	}
}

// RegenerateHostKey gives host i a new host key, restarting it if it runs.
// KnownHosts keeps the old key, so clients see a changed host key.
func (f *Fleet) RegenerateHostKey(i int) {
	f.t.Helper()
	f.mu.Lock()
	running := f.Hosts[i].cmd != nil
	f.mu.Unlock()
	f.Stop(i)
	key := filepath.Join(f.Hosts[i].dir, "hostkey")
	for _, p := range []string{key, key + ".pub"} {
		if err := os.Remove(p); err != nil {
			f.t.Fatalf("sshd: %v", err)
		}
	}
	if err := keygen(key, f.Hosts[i].Name); err != nil {
		f.t.Fatalf("sshd: %v", err)
	}
	if running {
		f.Start(i)
	}
}

// Pause stops host i's sshd and all its sessions with SIGSTOP: the host
// keeps its TCP connections open but answers nothing, like a machine that
// hangs.
func (f *Fleet) Pause(i int) {
	f.t.Helper()
	if pid := f.pid(i); pid > 0 {
		killTree(pid, syscall.SIGSTOP)
	}
}

// Resume continues a paused host i.
func (f *Fleet) Resume(i int) {
	f.t.Helper()
	if pid := f.pid(i); pid > 0 {
		for _, p := range descendants(pid) {
			_ = syscall.Kill(p, syscall.SIGCONT) // the process may be gone
		}
	}
}

// Log returns host i's sshd log.
func (f *Fleet) Log(i int) string {
	b, err := os.ReadFile(f.Hosts[i].log)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (f *Fleet) pid(i int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	// An sshd that exited was reaped, and its PID may be reused.
	if f.Hosts[i].cmd == nil || closed(f.Hosts[i].exited) {
		return 0
	}
	return f.Hosts[i].PID
}

func (f *Fleet) cleanup() {
	for i := range f.Hosts {
		if f.t.Failed() && f.Hosts[i].log != "" {
			f.t.Logf("sshd: %s log (tail):\n%s", f.Hosts[i].Name, tail(f.Hosts[i].log, 2048))
		}
		f.stop(i, syscall.SIGKILL)
	}
}

// killTree sends sig to pid and all its descendants. sshd detaches its
// connection and session processes into their own sessions, so process
// groups do not reach them: the tree is read from /proc. For SIGKILL and
// SIGTERM the tree is first frozen with SIGSTOP, so that no process forks
// or is reparented between the scan and the kill.
func killTree(pid int, sig syscall.Signal) {
	var procs []int
	seen := map[int]bool{}
	// Stop until a scan finds nothing new: a process forked just before
	// its parent stopped shows up in the next scan.
	for {
		added := false
		for _, p := range descendants(pid) {
			if !seen[p] {
				seen[p] = true
				procs = append(procs, p)
				_ = syscall.Kill(p, syscall.SIGSTOP) // the process may be gone
				added = true
			}
		}
		if !added {
			break
		}
	}
	if sig == syscall.SIGSTOP {
		return
	}
	for _, p := range procs {
		_ = syscall.Kill(p, sig)
	}
	if sig != syscall.SIGKILL {
		for _, p := range procs {
			_ = syscall.Kill(p, syscall.SIGCONT)
		}
	}
}

// descendants returns pid and all its living descendants, parents first.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return []int{pid}
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parens.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		fields := strings.Fields(string(rest))
		if len(fields) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(fields[1])
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], p)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

func keygen(path, comment string) error {
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh-keygen: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// freePort is a port for a host's sshd to bind (see package ports).
func freePort() (int, error) { return ports.Free() }

func probeNamespace() error {
	out, err := exec.Command("unshare", "-m", "--propagation", "private", "true").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	if _, err := os.Stat("/srv"); err != nil {
		return fmt.Errorf("no /srv to mount over: %v", err)
	}
	return nil
}

func lookSSHD(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("sshd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/sshd"); err == nil {
		return "/usr/sbin/sshd"
	}
	t.Fatal("sshd not found: install it with `apt-get install -y openssh-server` (or run `make deps`)")
	return ""
}

func need(t testing.TB, command, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(command); err != nil {
		t.Fatalf("%s not found: install it with `apt-get install -y %s` (or run `make deps`)", command, pkg)
	}
}

// tail returns the last n bytes of the file at path.
func tail(path string, n int) string { return tailFrom(path, 0, n) }

// tailFrom returns the last n bytes of the file at path that come after
// its first from bytes.
func tailFrom(path string, from int64, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	b = b[min(from, int64(len(b))):]
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// Silent listens on loopback as a host (or bastion) that accepts
// connections and never answers, not even with an SSH banner, until the
// test ends. It returns its address and a count of the connections it
// accepted.
func Silent(t testing.TB) (addr string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}
}
