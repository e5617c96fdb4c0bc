// Package ports hands out loopback TCP ports for the servers tests start
// (sshd, redis-server, haproxy, an app under supervisord), which bind them
// after the test chose them.
//
// A port found by listening on port 0 and closing is from the kernel's
// ephemeral range: until the server binds it, any outgoing connection of
// any process may take it as its local port (an SSH or HTTP client of a
// test running in parallel), and listening on port 0 again may offer it
// again. Free picks instead below the ephemeral range, where no outgoing
// connection takes a port, at random, so that test processes running at
// once seldom pick the same one, and never hands out a port twice in one
// process.
package ports

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// low is the lowest port Free hands out: above the ports services are
// usually configured on.
const low = 20000

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Free returns a port of 127.0.0.1 that no listener holds now and that
// this process has not handed out before.
func Free() (int, error) {
	high := ephemeralLow()
	if high-low < 1000 {
		return 0, fmt.Errorf("free port: the ephemeral port range starts at %d, leaving too few ports above %d for tests (net.ipv4.ip_local_port_range)", high, low)
	}
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		port := low + rand.IntN(high-low)
		if given[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // held by a listener of this or another process
		}
		l.Close()
		given[port] = true
		return port, nil
	}
	return 0, errors.New("free port: no port below the ephemeral range is free")
}

// Addr is Free as "127.0.0.1:PORT".
func Addr() (string, error) {
	port, err := Free()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// ephemeralLow is the first port of the kernel's ephemeral range, 32768
// (Linux's default) where it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
