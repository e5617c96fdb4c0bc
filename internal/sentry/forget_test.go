package sentry

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// fault is what goes wrong with the next duplicate check of onceStore.
type fault int

const (
	noFault fault = iota
	// unreachable: the check fails and remembers nothing.
	unreachable
	// lateAnswer: the check does its work (remembers the key unless
	// another delivery's holds it), then fails as its answer comes too
	// late, or is lost.
	lateAnswer
)

// onceStore keeps keys as the state stores' SetOnceToken and ForgetOnce
// do: a key holds the token of the delivery that set it, and is forgotten
// only by that token. It is safe for concurrent use.
type onceStore struct {
	mu        sync.Mutex
	keys      map[string]string // key → token
	fault     fault             // of the next First
	forgetErr error             // of every Forget
	forgets   int
	deadline  time.Duration // left to the last Forget when it was called
}

func (s *onceStore) first(ctx context.Context, key, token string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault
	s.fault = noFault
	if f == unreachable {
		return false, errors.New("dial tcp 127.0.0.1:6379: connection refused")
	}
	_, held := s.keys[key]
	if !held {
		s.keys[key] = token
	}
	if f == lateAnswer {
		return false, context.DeadlineExceeded
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return !held, nil
}

func (s *onceStore) forget(ctx context.Context, key, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgets++
	if d, ok := ctx.Deadline(); ok {
		s.deadline = time.Until(d)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.forgetErr != nil {
		return s.forgetErr
	}
	if s.keys[key] == token {
		delete(s.keys, key)
	}
	return nil
}

// TestWebhookForgetsUnknownOutcome: a delivery refused with 503 because
// the store could not say in time whether it was new is not remembered,
// although the store may have written its key: Sentry's resend of it is
// taken, not dropped as delivered before. The key of another delivery of
// the same body, which raised its alert, is kept; an undoing that fails
// is logged as the loss it is.
func TestWebhookForgetsUnknownOutcome(t *testing.T) {
	storeDown := errors.New("dial tcp 127.0.0.1:6379: connection refused")
	// A delivery of the body; alerts counts the alerts raised so far.
	type delivery struct {
		fault     fault
		forgetErr error
		hungUp    bool // Sentry is gone by the time the store answers
		status    int
		alerts    int
	}
	tests := []struct {
		name       string
		deliveries []delivery
		forgets    int
		logged     string // an ERROR line saying this
	}{
		{"answer too late", []delivery{
			{fault: lateAnswer, status: 503, alerts: 0},
			{status: 204, alerts: 1}, // Sentry's resend
			{status: 204, alerts: 1},
		}, 1, ""},
		{"answer too late, Sentry gone", []delivery{
			{fault: lateAnswer, hungUp: true, status: 503, alerts: 0},
			{status: 204, alerts: 1},
		}, 1, ""},
		{"store unreachable", []delivery{
			{fault: unreachable, status: 503, alerts: 0},
			{status: 204, alerts: 1},
		}, 1, ""},
		{"another delivery took it first", []delivery{
			{status: 204, alerts: 1},
			{fault: lateAnswer, status: 503, alerts: 1},
			{status: 204, alerts: 1}, // still delivered before
		}, 1, ""},
		{"undoing fails", []delivery{
			{fault: lateAnswer, forgetErr: storeDown, status: 503, alerts: 0},
			{status: 204, alerts: 0}, // lost, and said so
		}, 1, "Sentry's resend will be dropped as delivered before and its alert lost"},
	}
	body := readPayload(t, "issue.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &onceStore{keys: map[string]string{}}
			var logged syncbuf.Buffer
			var mu sync.Mutex
			var alerts int
			h := &WebhookHandler{Secret: goldenSecret, Now: fixtureClock(ResourceIssue),
				Log:     slog.New(slog.NewTextHandler(&logged, nil)),
				OnAlert: func(Alert) { mu.Lock(); alerts++; mu.Unlock() },
				First:   store.first, Forget: store.forget}
			for i, d := range tt.deliveries {
				store.mu.Lock()
				store.fault, store.forgetErr = d.fault, d.forgetErr
				store.mu.Unlock()
				ctx, cancel := context.WithCancel(t.Context())
				if d.hungUp {
					cancel()
				}
				req := httptest.NewRequestWithContext(ctx, "POST", "/sentry/webhook", bytes.NewReader(body))
				req.Header.Set(ResourceHeader, ResourceIssue)
				req.Header.Set(SignatureHeader, sign(goldenSecret, body))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				cancel()
				mu.Lock()
				got := alerts
				mu.Unlock()
				if rec.Code != d.status || got != d.alerts {
					t.Errorf("delivery %d: got %d, %d alerts so far; want %d, %d (%s)", i, rec.Code, got, d.status, d.alerts, rec.Body)
				}
			}
			if store.forgets != tt.forgets {
				t.Errorf("Forget called %d times, want %d", store.forgets, tt.forgets)
			}
			if store.deadline <= 0 || store.deadline > DefaultForgetTimeout {
				t.Errorf("deadline given to Forget: got %v, want at most %v", store.deadline, DefaultForgetTimeout)
			}
			l := logged.String()
			if tt.logged != "" && (!strings.Contains(l, "level=ERROR") || !strings.Contains(l, tt.logged)) {
				t.Errorf("log: got %q, want an error saying %q", l, tt.logged)
			}
			if tt.logged == "" && strings.Contains(l, "cannot undo") {
				t.Errorf("log: got %q, want no failed undoing", l)
			}
		})
	}
}

// TestWebhookForgetsAfterAnswer: the undoing of a refused delivery's
// duplicate check does not hold up its 503: Sentry waits one second for
// the answer, and has all of it while the store is still at work.
func TestWebhookForgetsAfterAnswer(t *testing.T) {
	answered := make(chan struct{})
	forgot := make(chan error, 1)
	h := &WebhookHandler{Secret: goldenSecret, Now: fixtureClock(ResourceIssue), ForgetTimeout: 10 * time.Second,
		OnAlert: func(Alert) {},
		First: func(context.Context, string, string) (bool, error) {
			return false, context.DeadlineExceeded
		},
		Forget: func(ctx context.Context, _, _ string) error {
			select {
			case <-answered:
				forgot <- nil
			case <-ctx.Done():
				forgot <- errors.New("the answer waited for Forget")
			}
			return nil
		}}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	body := readPayload(t, "issue.json")
	req, err := http.NewRequest("POST", srv.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(ResourceHeader, ResourceIssue)
	req.Header.Set(SignatureHeader, sign(goldenSecret, body))
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	close(answered)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(msg), "state store unreachable") {
		t.Errorf("got %d %q, want 503 saying the store is unreachable", resp.StatusCode, msg)
	}
	select {
	case err := <-forgot:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Forget not called 10 s after the 503")
	}
}
