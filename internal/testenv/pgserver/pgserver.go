// Package pgserver starts a real PostgreSQL server on a free loopback port
// for tests that run database tools (a pg_dump backup before migrations),
// and stops it when the test ends.
//
// Each Server is one `postgres` process with its own data directory, made
// by initdb, and a database named "test" that user "postgres" reaches
// without a password from 127.0.0.1. It never touches a PostgreSQL that
// may already run on the machine (5432). PostgreSQL refuses to run as
// root: as root, the server runs as the system user "postgres" (Debian's
// package makes it), else "nobody". A missing server fails the test with
// the command that installs it.
package pgserver

import (
	"errors"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/ports"
)

// missing is the message of a test that cannot find the server.
const missing = "PostgreSQL's server (initdb, postgres) not found: install it with `apt-get install -y postgresql` (or run `make deps`)"

// startTimeout bounds initdb and the server's start.
const startTimeout = 60 * time.Second

// Server is a running PostgreSQL server.
type Server struct {
	port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start makes a data directory, starts the server on a free port of
// 127.0.0.1, creates the database "test", and returns once it takes
// connections. The server is stopped and its directory removed when the
// test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := binDir()
	if err != nil {
		t.Fatal(err)
	}
	cred, err := runAs()
	if err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	// Not under t.TempDir: its parents are root's alone, and the server
	// may run as another user.
	dir, err := os.MkdirTemp("", "pgserver-")
	if err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatalf("pgserver: %v", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := command(cred, filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgserver: initdb: %v\n%s", err, out)
	}
	s := &Server{dir: dir, done: make(chan struct{})}
	if s.port, err = freePort(); err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatalf("pgserver: %v", err)
	}
	defer logf.Close()
	// No Unix socket: the tests connect over TCP, and the default socket
	// directory may not be the server user's to write.
	s.cmd = command(cred, filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=off")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("pgserver: start postgres: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	createdb := filepath.Join(bin, "createdb")
	deadline := time.Now().Add(startTimeout)
	for {
		out, err := exec.Command(createdb, "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "postgres", "test").CombinedOutput()
		if err == nil {
			break
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("pgserver: postgres exited: %v\n%s", s.cmd.ProcessState, log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("pgserver: no database after %v: createdb: %v: %s\nserver log:\n%s", startTimeout, err, out, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

// Port is the server's port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// stop shuts the server down (fast shutdown), killing it if it lingers.
func (s *Server) stop() {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// binDir finds the directory of initdb and postgres: Debian keeps them in
// /usr/lib/postgresql/VERSION/bin, off the PATH; elsewhere they are on it.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// The newest version first.
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && isExec(filepath.Join(filepath.Dir(p), "postgres")) {
		return filepath.Dir(p), nil
	}
	return "", errors.New(missing)
}

// version is the major version in a /usr/lib/postgresql/VERSION/bin path.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// runAs is the user the server runs as: nil (this process's) unless this
// process is root, which PostgreSQL refuses.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither user postgres nor nobody exists to run the server as")
}

// command runs name as cred's user (nil: this process's), in its own
// process group so that a signal to the test does not reach it first.
func command(cred *syscall.Credential, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	cmd.Dir = "/"
	return cmd
}

// freePort returns a port of 127.0.0.1 that was free a moment ago.
// freePort is a port for the server to bind (see package ports).
func freePort() (int, error) { return ports.Free() }
