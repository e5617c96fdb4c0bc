package embedded

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestNotRunSaysWhyItWasDropped: a write given up while it waited its
// turn behind another on the disk (a stalled one) says why its caller
// gave up: its time ran out, or it was cancelled (a command abandoned,
// the bot stopping), with the cancel's cause. Every such write said "did
// not answer in time", which sent whoever read it after a disk that may
// have been fine, when someone had cancelled the call. Its error wraps
// ctx's and the cancel's cause both, as a write not begun does.
func TestNotRunSaysWhyItWasDropped(t *testing.T) {
	stopping := errors.New("the bot is stopping")
	for _, end := range []struct {
		name  string
		ended func(t *testing.T) (ctx context.Context, end func())
		want  []error
		says  string
	}{
		{"out of time", func(t *testing.T) (context.Context, func()) {
			ctx := &expiring{Context: context.Background(), done: make(chan struct{})}
			return ctx, func() { close(ctx.done) }
		}, []error{context.DeadlineExceeded}, "did not answer in time"},
		{"cancelled", func(t *testing.T) (context.Context, func()) {
			return context.WithCancel(t.Context())
		}, []error{context.Canceled}, "had not answered when the call was cancelled"},
		{"cancelled with a cause", func(t *testing.T) (context.Context, func()) {
			ctx, cancel := context.WithCancelCause(t.Context())
			return ctx, func() { cancel(stopping) }
		}, []error{context.Canceled, stopping}, "had not answered when the call was cancelled (the bot is stopping)"},
	} {
		for _, tc := range []struct {
			name string
			// call calls what is tested with ctx; waiting reports once
			// it waits its turn.
			call    func(ctx context.Context, s *Store) error
			waiting func() bool
			reason  string
		}{
			{"a write behind another on the disk", func(ctx context.Context, s *Store) error {
				return s.update(ctx, func(*bolt.Tx) error { return nil })
			}, txUnderWay, "state store %[1]s %[2]s: the write waited behind another on its disk, and is dropped"},
			{"an Acquire behind another", func(ctx context.Context, s *Store) error {
				s.acquiring <- struct{}{} // the Acquire before it, waiting for the disk
				defer func() { <-s.acquiring }()
				_, err := s.Acquire(ctx, "deploy:web/production", "bot-2", time.Minute)
				return err
			}, func() bool { return blockedIn("[select", "embedded.(*Store).Acquire") },
				"state store %[1]s %[2]s: the write waited behind another on its disk, and is dropped"},
		} {
			t.Run(end.name+"/"+tc.name, func(t *testing.T) {
				s, stalled := openStalled(t)
				ctx, cancel := end.ended(t)
				done := make(chan error, 1)
				go func() { done <- tc.call(ctx, s) }()
				for deadline := time.Now().Add(10 * time.Second); !tc.waiting(); time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the call does not wait its turn after 10s")
					}
				}
				cancel()
				err := <-done
				if err := stalled.Rollback(); err != nil {
					t.Fatal(err)
				}
				waitAbandonedTx(t)
				for _, want := range append(end.want, deploy.ErrStoreNotRun) {
					if !errors.Is(err, want) {
						t.Errorf("got %v, want an error wrapping %v", err, want)
					}
				}
				if got := errs.CodeOf(err); got != errs.Unavailable {
					t.Errorf("code: got %s, want %s", got, errs.Unavailable)
				}
				if got, want := deploy.StoreReason(err), fmt.Sprintf(tc.reason, s.path, end.says); got != want {
					t.Errorf("reason: got %q, want %q", got, want)
				}
				told := errs.Message(deploy.OutcomeUnknown(err, "whether web/production was locked", "status lists the locks in force"))
				if want := fmt.Sprintf(tc.reason, s.path, end.says) + "; nothing was changed"; !strings.HasSuffix(told, want) {
					t.Errorf("told: got %q, want it to end with %q", told, want)
				}
			})
		}
	}
}

// blockedIn reports whether a goroutine whose state starts with state
// ("[select") has frame among its calls.
func blockedIn(state, frame string) bool {
	buf := make([]byte, 1<<20)
	for _, g := range bytes.Split(buf[:runtime.Stack(buf, true)], []byte("\n\n")) {
		head, _, _ := bytes.Cut(g, []byte("\n"))
		if bytes.Contains(head, []byte(state)) && bytes.Contains(g, []byte(frame)) {
			return true
		}
	}
	return false
}
