package embedded

import (
	"context"
	"errors"
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestNoAnswerSaysWhatOfTheFile: a read or a write begun that does not
// end before its context does (a stalled disk holds it), and a trim's
// drop of fencing counters that waits behind an Acquire as long, are
// refused with a reason of their own, which deploy.StoreReason gives and
// the audit log's failure quotes: that the file's disk did not answer in
// time. They were plain errors, which users were told of as "state store
// unreachable", Redis's words, for a local file. A call cancelled (a
// command abandoned, the bot stopping) rather than out of time says so,
// with the cancel's cause, and nothing of the disk, as a write not begun
// does.
func TestNoAnswerSaysWhatOfTheFile(t *testing.T) {
	stopping := errors.New("the bot is stopping")
	for _, end := range []struct {
		name string
		// ended returns a context, and ends it.
		ended func(t *testing.T) (ctx context.Context, end func())
		want  []error
		// says is what is said of the file, for %[2]s below.
		says string
	}{
		{"out of time", func(t *testing.T) (context.Context, func()) {
			ctx := &expiring{Context: context.Background(), done: make(chan struct{})}
			return ctx, func() { close(ctx.done) }
		}, []error{context.DeadlineExceeded}, "did not answer in time (its disk may be stalled)"},
		{"cancelled", func(t *testing.T) (context.Context, func()) {
			return context.WithCancel(t.Context())
		}, []error{context.Canceled}, "had not answered when the call was cancelled"},
		{"cancelled with a cause", func(t *testing.T) (context.Context, func()) {
			ctx, cancel := context.WithCancelCause(t.Context())
			return ctx, func() { cancel(stopping) }
		}, []error{context.Canceled, stopping}, "had not answered when the call was cancelled (the bot is stopping)"},
	} {
		t.Run(end.name, func(t *testing.T) { testNoAnswer(t, end.ended, end.want, end.says) })
	}
}

// expiring is a context whose time runs out when done is closed, rather
// than at a time a slow machine could miss.
type expiring struct {
	context.Context
	done chan struct{}
}

func (c *expiring) Done() <-chan struct{} { return c.done }

func (c *expiring) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// testNoAnswer is TestNoAnswerSaysWhatOfTheFile with contexts ended by
// ended, wantErrs, what their errors wrap, and says, what is said of the
// file.
func testNoAnswer(t *testing.T, ended func(t *testing.T) (context.Context, func()), wantErrs []error, says string) {
	for _, tc := range []struct {
		name string
		// call calls what is tested with ctx, calling stalled once it
		// waits; unstall lets it end.
		call   func(ctx context.Context, s *Store, stalled func(), unstall <-chan struct{}) error
		reason string
		// told is what a write's caller is told of it (see
		// deploy.OutcomeUnknown); none for what no caller writes.
		told string
	}{
		{"a read", func(ctx context.Context, s *Store, stalled func(), unstall <-chan struct{}) error {
			return s.view(ctx, func(*bolt.Tx) error { stalled(); <-unstall; return nil })
		}, "state store %[1]s %[2]s",
			"whether web/prod was locked is not known (state store %[1]s %[2]s): status lists the locks in force"},
		{"a write begun", func(ctx context.Context, s *Store, stalled func(), unstall <-chan struct{}) error {
			return s.update(ctx, func(*bolt.Tx) error { stalled(); <-unstall; return nil })
		}, "state store %[1]s %[2]s, the change may still be made",
			"whether web/prod was locked is not known (state store %[1]s %[2]s, the change may still be made): status lists the locks in force"},
		{"dropping fencing counters behind an Acquire", func(ctx context.Context, s *Store, stalled func(), unstall <-chan struct{}) error {
			s.acquiring <- struct{}{}
			defer func() { <-s.acquiring }()
			stalled()
			return s.pruneFences(ctx)
		}, "drop fencing counters: state store %[1]s %[2]s; none was dropped", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, stalledTx := openStalled(t)
			if err := stalledTx.Rollback(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := ended(t)
			waiting, unstall := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() { done <- tc.call(ctx, s, func() { close(waiting) }, unstall) }()
			<-waiting
			cancel()
			err := <-done
			close(unstall)
			waitAbandonedTx(t)
			for _, want := range wantErrs {
				if !errors.Is(err, want) {
					t.Errorf("got %v, want an error wrapping %v", err, want)
				}
			}
			if got := errs.CodeOf(err); got != errs.Unavailable {
				t.Errorf("code: got %s, want %s", got, errs.Unavailable)
			}
			reason := fmt.Sprintf(tc.reason, s.path, says)
			if got := deploy.StoreReason(err); got != reason {
				t.Errorf("reason: got %q, want %q", got, reason)
			}
			if tc.told == "" {
				return
			}
			told := deploy.OutcomeUnknown(err, "whether web/prod was locked", "status lists the locks in force")
			if got, want := errs.Message(told), fmt.Sprintf(tc.told, s.path, says); got != want {
				t.Errorf("told: got %q, want %q", got, want)
			}
		})
	}
}
