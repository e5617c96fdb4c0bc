package server_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchman-bot/switchman/internal/server"
)

// countingListener counts the bytes the server reads from its connections.
type countingListener struct {
	net.Listener
	read atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, read: &l.read}, nil
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TestBodyOverTheLimitIsNotReadOn sends a chunked body far over a route's
// limit, as an unauthenticated client may: once the handler has refused
// it, the server closes the connection rather than read on to reuse it,
// whether the route's requests are counted or not. (net/http reads up to
// 256 KiB of it on its own as it closes the body.)
func TestBodyOverTheLimitIsNotReadOn(t *testing.T) {
	const limit = 1024
	for _, tt := range []struct {
		name    string
		metrics bool
	}{{"counted", true}, {"not counted", false}} {
		t.Run(tt.name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := &countingListener{Listener: inner}
			opt := server.Options{Listener: ln, MaxBody: limit}
			if tt.metrics {
				opt.Metrics = server.NewMetrics(prometheus.NewRegistry())
			}
			url, s, _ := startOn(t, opt)
			// As the chat adapters do: read under a limit of their own,
			// answer 413 when it is hit.
			s.Handle("POST /hook", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit)); err != nil {
					http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
					return
				}
			}))

			conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			go func() {
				fmt.Fprintf(conn, "POST /hook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
				chunk := fmt.Sprintf("%x\r\n%s\r\n", 4096, strings.Repeat("x", 4096))
				for range 1024 { // 4 MiB, unless the server hangs up first
					if _, err := io.WriteString(conn, chunk); err != nil {
						return
					}
				}
			}()
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status: got %d, want 413", resp.StatusCode)
			}
			if !resp.Close {
				t.Errorf("response: got a connection kept open, want Connection: close")
			}
			// The server hangs up; whatever it read is read by then.
			if _, err := io.Copy(io.Discard, br); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
				t.Fatalf("waiting for the server to hang up: %v", err)
			}
			if got, most := ln.read.Load(), int64(limit+256<<10+64<<10); got > most {
				t.Errorf("bytes read of a body refused at %d: got %d, want at most %d", limit, got, most)
			}
		})
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}
