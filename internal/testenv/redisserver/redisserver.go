// Package redisserver starts a real redis-server on a free loopback port for
// tests of the Redis state store, and stops it when the test ends.
//
// Each Server is one `redis-server` child process with its own port and
// working directory; it never touches a Redis that may already run on the
// machine (6379). A missing redis-server fails the test with the command
// that installs it.
package redisserver

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/ports"
)

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 10 * time.Second

// missing is the message of a test that cannot find redis-server.
const missing = "redis-server not found: install it with `apt-get install -y redis-server` (or run `make deps`)"

// Options tunes a server. The zero value is a plain server without
// password, TLS or persistence.
type Options struct {
	// Password, when set, is required of clients (requirepass); URL
	// carries it.
	Password string
	// TLS serves TLS only, with a certificate for 127.0.0.1 signed by a CA
	// made for the server (see Server.RootCAs); URL then says rediss://.
	TLS bool
	// AppendOnly keeps the data in an append-only file fsynced on every
	// write, so it survives Restart and Kill. Without it a restarted
	// server starts empty.
	AppendOnly bool
	// Args are extra redis-server arguments, such as "--maxmemory", "1mb".
	Args []string
}

// Server is a running redis-server. Its methods may be called from any
// goroutine of the test, for example Kill while a store call is in flight.
type Server struct {
	t    testing.TB
	opt  Options
	bin  string
	dir  string
	port int
	log  string
	pool *x509.CertPool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start starts a plain server (see Options) and returns once it answers
// PING. It is killed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith starts a server configured by opt and returns once it answers
// PING. It is killed when the test ends.
func StartWith(t testing.TB, opt Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(missing)
	}
	s := &Server{t: t, opt: opt, bin: bin, dir: t.TempDir()}
	s.log = filepath.Join(s.dir, "redis.log")
	if opt.TLS {
		if s.pool, err = writeCerts(s.dir); err != nil {
			t.Fatalf("redisserver: certificates: %v", err)
		}
	}
	t.Cleanup(s.cleanup)
	// A free port can be taken by someone else before redis-server binds
	// it: try a few.
	for range 3 {
		if s.port, err = freePort(); err != nil {
			t.Fatalf("redisserver: %v", err)
		}
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("redisserver: %v", err)
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL is a URL for the server's database 0: redis:// (rediss:// with
// Options.TLS), with the password if there is one.
func (s *Server) URL() string {
	u := url.URL{Scheme: "redis", Host: s.Addr(), Path: "/0"}
	if s.opt.TLS {
		u.Scheme = "rediss"
	}
	if s.opt.Password != "" {
		u.User = url.UserPassword("default", s.opt.Password)
	}
	return u.String()
}

// RootCAs holds the CA that signed the certificate of a TLS server; nil
// for a plain one.
func (s *Server) RootCAs() *x509.CertPool { return s.pool }

// PID is the server's process id, or 0 if it is not running.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop shuts the server down (SIGTERM) and waits for it to exit, so that
// Restart can reuse its port.
func (s *Server) Stop() {
	s.t.Helper()
	s.stop(syscall.SIGTERM)
}

// Kill kills the server with SIGKILL, as a machine that dies: its
// connections drop at once and nothing is flushed.
func (s *Server) Kill() {
	s.t.Helper()
	s.stop(syscall.SIGKILL)
}

// Restart stops the server if it runs and starts it again on the same
// port, returning once it answers PING. Clients keep their address; their
// pooled connections are broken. The data survives only with
// Options.AppendOnly.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop(syscall.SIGTERM)
	if err := s.start(); err != nil {
		t.Fatalf("redisserver: restart: %v", err)
	}
}

// Pause stops the server with SIGSTOP: it keeps its connections open and
// accepts new ones, but answers nothing, like a machine that hangs.
func (s *Server) Pause() { s.signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (s *Server) Resume() { s.signal(syscall.SIGCONT) }

// Log returns the server's log.
func (s *Server) Log() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(sig) // it may have exited
	}
}

func (s *Server) args() []string {
	port, tlsPort := strconv.Itoa(s.port), "0"
	if s.opt.TLS {
		port, tlsPort = "0", port
	}
	appendOnly := "no"
	if s.opt.AppendOnly {
		appendOnly = "yes"
	}
	args := []string{
		"--bind", "127.0.0.1",
		"--port", port,
		"--dir", s.dir,
		"--save", "",
		"--appendonly", appendOnly,
		"--appendfsync", "always",
		"--logfile", s.log,
		"--daemonize", "no",
	}
	if s.opt.TLS {
		args = append(args,
			"--tls-port", tlsPort,
			"--tls-cert-file", filepath.Join(s.dir, "server.crt"),
			"--tls-key-file", filepath.Join(s.dir, "server.key"),
			"--tls-ca-cert-file", filepath.Join(s.dir, "ca.crt"),
			"--tls-auth-clients", "no",
		)
	}
	if s.opt.Password != "" {
		args = append(args, "--requirepass", s.opt.Password)
	}
	return append(args, s.opt.Args...)
}

// start runs redis-server and waits until it answers PING.
func (s *Server) start() error {
	cmd := exec.Command(s.bin, s.args()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		// Reaps the child; its exit status does not matter.
		_ = cmd.Wait()
		close(exited)
	}()
	if err := s.waitPing(exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("redis-server on %s: %w; output: %s; log: %s", s.Addr(), err,
			strings.TrimSpace(out.String()), tail(s.log, 1024))
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

// waitPing polls the server until it answers PING, exits, or startTimeout
// passes. Any reply counts: a server with a password answers NOAUTH.
func (s *Server) waitPing(exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("exited before answering")
		default:
		}
		if last = s.ping(); last == nil {
			return nil
		}
		select {
		case <-exited:
			return errors.New("exited before answering")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("no answer to PING within %s: %v", startTimeout, last)
}

func (s *Server) ping() error {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.Dial("tcp", s.Addr())
	if err != nil {
		return err
	}
	defer c.Close()
	if s.opt.TLS {
		tc := tls.Client(c, &tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1"})
		defer tc.Close()
		c = tc
	}
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	if sig == syscall.SIGTERM {
		// A paused server handles SIGTERM only once continued.
		_ = cmd.Process.Signal(syscall.SIGCONT)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func (s *Server) cleanup() {
	if s.t.Failed() {
		s.t.Logf("redisserver: log of the server on %s (tail):\n%s", s.Addr(), tail(s.log, 2048))
	}
	s.stop(syscall.SIGKILL)
}

// freePort returns a loopback TCP port that was free a moment ago.
// freePort is a port for the server to bind (see package ports).
func freePort() (int, error) { return ports.Free() }

// tail returns the last n bytes of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// writeCerts writes ca.crt, server.crt and server.key (for 127.0.0.1) to
// dir and returns a pool holding the CA.
func writeCerts(dir string) (*x509.CertPool, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redisserver test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	for name, block := range map[string]*pem.Block{
		"ca.crt":     {Type: "CERTIFICATE", Bytes: caDER},
		"server.crt": {Type: "CERTIFICATE", Bytes: leafDER},
		"server.key": {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, nil
}
