package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/server"
)

// TestRecoverRunsWhileServing: the start-up's recovery runs once the
// server answers; /healthz says "recovering" with a 200 until it is done,
// then "ok". A recovery that fails ends Run with its error, as a failure
// to serve does; one still running when the bot is told to stop is cut
// short, and Run returns once it has returned.
func TestRecoverRunsWhileServing(t *testing.T) {
	errBroken := errors.New("recover interrupted deploys: store broken")
	tests := []struct {
		name    string
		fail    bool // the recovery fails once released
		stop    bool // the bot is told to stop while it runs
		wantErr error
	}{
		{name: "recovered"},
		{name: "recovery failed", fail: true, wantErr: errBroken},
		{name: "stopped while recovering", stop: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release, returned := make(chan struct{}), make(chan struct{})
			opt := server.Options{Recover: func(ctx context.Context) error {
				defer close(returned)
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
				if tt.fail {
					return errBroken
				}
				return nil
			}}
			url, _, stop := start(t, opt)
			if got := healthz(t, url); got != `{"status":"recovering","store":"unchecked"}` {
				t.Errorf("/healthz while recovering: got %s, want status recovering", got)
			}
			if tt.stop {
				if err := stop(); err != nil {
					t.Errorf("Run: got %v, want nil", err)
				}
				select {
				case <-returned:
				default:
					t.Error("Run returned before the recovery did")
				}
				return
			}
			close(release)
			<-returned
			if tt.fail {
				deadline := time.Now().Add(10 * time.Second)
				for {
					if _, err := http.Get(url + "/healthz"); err != nil {
						break // stopped serving
					}
					if time.Now().After(deadline) {
						t.Fatal("still serving 10 s after the recovery failed")
					}
					time.Sleep(10 * time.Millisecond)
				}
			} else {
				deadline := time.Now().Add(10 * time.Second)
				for got := healthz(t, url); got != `{"status":"ok","store":"unchecked"}`; got = healthz(t, url) {
					if time.Now().After(deadline) {
						t.Fatalf("/healthz once recovered: got %s, want status ok", got)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			if err := stop(); !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Run: got %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// healthz returns the body of /healthz at url, failing t unless it
// answers 200.
func healthz(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: got %d %s, want 200", resp.StatusCode, b)
	}
	return strings.TrimSpace(string(b))
}
