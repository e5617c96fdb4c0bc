package ssh

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// echo serves one line back, prefixed, on l until the test ends.
func echo(t *testing.T, l net.Listener) {
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				c.Write([]byte("echo: " + line))
			}()
		}
	}()
}

func TestDialThroughHost(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{})
	tr := transport(t, f, nil)
	host := deploy.Host{Name: f.Hosts[0].Name, Address: f.Hosts[0].Addr}

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, tcp)
	sock := filepath.Join(t.TempDir(), "admin.sock")
	unix, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, unix)

	for _, tt := range []struct{ network, addr string }{{"tcp", tcp.Addr().String()}, {"unix", sock}} {
		t.Run(tt.network, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := tr.Dial(ctx, host, tt.network, tt.addr)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			c.Write([]byte("show info\n"))
			got, err := bufio.NewReader(c).ReadString('\n')
			if err != nil || got != "echo: show info\n" {
				t.Errorf("got %q, %v; want the echo", got, err)
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := tr.Dial(ctx, host, "unix", filepath.Join(t.TempDir(), "missing.sock")); err == nil {
		t.Error("Dial of a missing socket succeeded")
	}
}

// TestDialConcurrentClose: a tunnel closed from two goroutines at once (a
// context.AfterFunc and a defer) parks its connection once, and that
// connection serves the next tunnel.
func TestDialConcurrentClose(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	tr := transport(t, f, func(c *Config) { c.KeepWarm = time.Minute })
	defer tr.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echo(t, l)
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := tr.Dial(ctx, host(f, 0), "tcp", l.Addr().String())
		cancel()
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				<-start
				c.Close()
			})
		}
		close(start)
		wg.Wait()
	}
	if n := warmCount(tr); n != 1 {
		t.Errorf("%d connections kept warm, want 1", n)
	}
	if n := logins(f, 0); n != 1 {
		t.Errorf("sshd accepted %d logins, want 1: a tunnel's connection was closed, not kept warm", n)
	}
}
