// Package loadgen sends a steady stream of HTTP GET requests to a
// loopback URL and counts the ones that fail, to prove that a rolling
// restart behind a load balancer fails none.
//
// Workers reuse keep-alive connections, as browsers and API clients do,
// and every request has a 5 s timeout. A request counts as failed when it
// gets a status outside 2xx or a transport error (refused, reset, timed
// out, truncated body). Stopping lets requests in flight finish, so
// stopping never adds failures of its own.
package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MaxRequests bounds one Run, so a forgotten Stop cannot run forever.
const MaxRequests = 1_000_000

// requestTimeout bounds one request, body included.
const requestTimeout = 5 * time.Second

// sampleSize is how many failures Stats keeps for messages.
const sampleSize = 20

// Stats counts the requests of one Run. Its methods are safe for
// concurrent use, while the load runs and after.
type Stats struct {
	total  atomic.Int64
	failed atomic.Int64

	sent   atomic.Int64 // requests started, for MaxRequests
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
	client *http.Client

	mu     sync.Mutex
	sample []string
}

// Run starts concurrency workers sending GET url in a loop until ctx ends,
// Stop is called, or MaxRequests have been sent, and returns at once. A
// url whose host is not a loopback address is refused: nothing is sent
// and Stats holds one failure saying why.
func Run(ctx context.Context, rawURL string, concurrency int) *Stats {
	if concurrency < 1 {
		concurrency = 1
	}
	s := &Stats{stop: make(chan struct{})}
	if err := loopback(rawURL); err != nil {
		s.fail(err.Error())
		s.halt()
		return s
	}
	tr := &http.Transport{
		Proxy:               nil, // never through a proxy: the target is local
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     30 * time.Second,
		DialContext:         (&net.Dialer{Timeout: requestTimeout}).DialContext,
	}
	s.client = &http.Client{Transport: tr, Timeout: requestTimeout}
	for range concurrency {
		s.wg.Go(func() { s.work(ctx, rawURL) })
	}
	go func() {
		// Ends the workers when ctx does; each finishes its request first.
		select {
		case <-ctx.Done():
			s.halt()
		case <-s.stop:
		}
	}()
	return s
}

// Stop ends the load and returns once every request in flight has
// finished (at most the 5 s request timeout). Calling it again does
// nothing.
func (s *Stats) Stop() {
	s.halt()
	s.wg.Wait()
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
}

// Total is the number of requests that finished, failed or not.
func (s *Stats) Total() int64 { return s.total.Load() }

// Failed is the number of requests that got a status outside 2xx or a
// transport error.
func (s *Stats) Failed() int64 { return s.failed.Load() }

// Failures returns up to 20 of the first failures, each as "status 502:
// body" or "error: …", for test messages.
func (s *Stats) Failures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sample...)
}

func (s *Stats) halt() { s.once.Do(func() { close(s.stop) }) }

func (s *Stats) work(ctx context.Context, u string) {
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		if s.sent.Add(1) > MaxRequests {
			return
		}
		s.one(ctx, u)
	}
}

// one sends a request that ctx does not cancel: a request cut by the end
// of the load would count as a failure the server did not cause.
func (s *Stats) one(ctx context.Context, u string) {
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, u, nil)
	if err != nil {
		s.total.Add(1)
		s.fail("error: " + err.Error())
		return
	}
	resp, err := s.client.Do(req)
	s.total.Add(1)
	if err != nil {
		s.fail("error: " + err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	switch {
	case err != nil:
		s.fail(fmt.Sprintf("status %d, body cut: %v", resp.StatusCode, err))
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		s.fail(fmt.Sprintf("status %d: %s", resp.StatusCode, short(body)))
	}
}

func (s *Stats) fail(msg string) {
	s.failed.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sample) < sampleSize {
		s.sample = append(s.sample, time.Now().Format("15:04:05.000")+" "+msg)
	}
}

func short(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// loopback refuses a URL whose host is not 127.0.0.0/8, ::1 or localhost.
func loopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("refused: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("refused: %q is not an http URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refused: %s is not a loopback address; load is only sent to 127.0.0.0/8 and ::1", host)
}
