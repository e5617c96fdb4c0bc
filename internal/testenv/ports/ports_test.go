package ports

import (
	"net"
	"strconv"
	"testing"
)

// TestFree: the ports handed out are below the ephemeral range, free to
// listen on, and never the same twice.
func TestFree(t *testing.T) {
	high := ephemeralLow()
	seen := map[int]bool{}
	for range 200 {
		port, err := Free()
		if err != nil {
			t.Fatal(err)
		}
		if port < low || port >= high {
			t.Fatalf("port %d: want one in [%d, %d)", port, low, high)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("listen on the port handed out: %v", err)
		}
		l.Close()
	}
}

// TestFreeSkipsAHeldPort: a port a listener holds is not handed out.
func TestFreeSkipsAHeldPort(t *testing.T) {
	var held []net.Listener
	t.Cleanup(func() {
		for _, l := range held {
			l.Close()
		}
	})
	// Hold every other port of a small stretch, then ask many times:
	// none of the held ones may come back.
	busy := map[int]bool{}
	for p := low; p < low+200; p += 2 {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		held = append(held, l)
		busy[p] = true
	}
	for range 500 {
		port, err := Free()
		if err != nil {
			t.Fatal(err)
		}
		if busy[port] {
			t.Fatalf("port %d is held by a listener, and was handed out", port)
		}
	}
}
