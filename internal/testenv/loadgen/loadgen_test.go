package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// waitTotal polls s until n requests have finished.
func waitTotal(t *testing.T, s *Stats, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Total() < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d requests within 10s, want %d", s.Total(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCountsFailures(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%10 == 0 {
			http.Error(w, "boom", http.StatusBadGateway)
		}
	}))
	defer srv.Close()
	s := Run(context.Background(), srv.URL, 4)
	waitTotal(t, s, 200)
	s.Stop()
	s.Stop() // a second Stop does nothing

	total, failed := s.Total(), s.Failed()
	if total != n.Load() {
		t.Errorf("got total %d, want the %d requests the server saw", total, n.Load())
	}
	if want := total / 10; failed != want {
		t.Errorf("got %d failed, want %d", failed, want)
	}
	f := s.Failures()
	if len(f) != sampleSize || !strings.Contains(f[0], "status 502: boom") {
		t.Errorf("got failures %q, want %d like \"status 502: boom\"", f, sampleSize)
	}
	if after := s.Total(); after != total {
		t.Errorf("got %d requests after Stop, want %d", after, total)
	}
}

func TestStopLetsRequestsInFlightFinish(t *testing.T) {
	inFlight := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case inFlight <- struct{}{}:
		default:
		}
		time.Sleep(200 * time.Millisecond)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	s := Run(ctx, srv.URL, 2)
	<-inFlight
	cancel() // as a test's context ending mid-request
	s.Stop()
	if s.Total() == 0 || s.Failed() != 0 {
		t.Errorf("got %d requests, %d failed (%q), want some and none failed", s.Total(), s.Failed(), s.Failures())
	}
}

func TestTransportErrorsCount(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	url := srv.URL
	srv.Close() // nothing listens there now
	s := Run(context.Background(), url, 1)
	waitTotal(t, s, 3)
	s.Stop()
	if s.Failed() != s.Total() || !strings.Contains(s.Failures()[0], "error: ") {
		t.Errorf("got %d of %d failed (%q), want all, as transport errors", s.Failed(), s.Total(), s.Failures())
	}
}

func TestRefusesTargetsOffTheMachine(t *testing.T) {
	for _, u := range []string{"http://192.0.2.1/", "http://example.com/", "ftp://127.0.0.1/", "://bad"} {
		s := Run(context.Background(), u, 2)
		s.Stop()
		if s.Total() != 0 || s.Failed() != 1 || !strings.Contains(s.Failures()[0], "refused") {
			t.Errorf("%s: got total %d, failed %d (%q), want nothing sent and one refusal", u, s.Total(), s.Failed(), s.Failures())
		}
	}
}
