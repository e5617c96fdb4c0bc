package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/switchman-bot/switchman/internal/shell"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// sshArgs are the OpenSSH client's arguments to run command on h, with the
// fleet's key and known_hosts and the cipher Switchman's client negotiates
// first (aes128-gcm).
func (e *env) sshArgs(h sshd.Host, command string) []string {
	return []string{"-F", "/dev/null", "-i", e.fleet.ClientKey, "-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + e.fleet.KnownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ControlMaster=no",
		"-o", "Ciphers=aes128-gcm@openssh.com", "-o", "LogLevel=ERROR",
		"-p", port(h.Addr), "-l", e.fleet.User, "127.0.0.1", command}
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
