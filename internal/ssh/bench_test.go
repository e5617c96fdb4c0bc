package ssh

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// BenchmarkRunOnOpenSession is the cost of one step on an open
// connection: without standard input, the connection's shell runs it in
// a subshell; with standard input, a new SSH session, sshd's fork of
// the login shell, /bin/sh. The login shell reads no startup files (test
// hosts give sessions a HOME without them): a real host's would add their
// own cost to every session.
func BenchmarkRunOnOpenSession(b *testing.B) {
	f := sshd.StartFleet(b, 1, sshd.Options{})
	s := open(b, transport(b, f, nil), f, 0)
	for _, bb := range []struct {
		name  string
		stdin func() io.Reader
	}{
		{"shell", func() io.Reader { return nil }},
		{"session", func() io.Reader { return strings.NewReader("") }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				if _, err := s.Run(context.Background(), deploy.Command{Script: "true", Stdin: bb.stdin()}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}

// BenchmarkOpen is the cost of connecting to a host: TCP, key exchange,
// host key check, public key login.
func BenchmarkOpen(b *testing.B) {
	f := sshd.StartFleet(b, 1, sshd.Options{})
	tr := transport(b, f, nil)
	start := time.Now()
	for b.Loop() {
		s, err := tr.Open(context.Background(), host(f, 0))
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
}

// BenchmarkStream100MB streams 100 MB of stdin to a host, as an artifact
// upload does, over aes128-gcm (the cipher negotiated first); -bench
// prints the throughput in MB/s.
func BenchmarkStream100MB(b *testing.B) {
	const size = 100 << 20
	f := sshd.StartFleet(b, 1, sshd.Options{})
	s := open(b, transport(b, f, nil), f, 0)
	b.SetBytes(size)
	for b.Loop() {
		_, err := s.Run(context.Background(), deploy.Command{
			Script: "cat >/dev/null",
			Stdin:  io.LimitReader(zeros{}, size),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
