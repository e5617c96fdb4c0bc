package embedded

import (
	"context"
	"errors"
	"strings"
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
// unreachable", Redis's words, for a local file.
func TestNoAnswerSaysWhatOfTheFile(t *testing.T) {
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
		}, "state store %s did not answer in time (its disk may be stalled)",
			"whether web/prod was locked is not known (state store %s did not answer in time (its disk may be stalled)): status lists the locks in force"},
		{"a write begun", func(ctx context.Context, s *Store, stalled func(), unstall <-chan struct{}) error {
			return s.update(ctx, func(*bolt.Tx) error { stalled(); <-unstall; return nil })
		}, "state store %s did not answer in time (its disk may be stalled), the change may still be made",
			"whether web/prod was locked is not known (state store %s did not answer in time (its disk may be stalled), the change may still be made): status lists the locks in force"},
		{"dropping fencing counters behind an Acquire", func(ctx context.Context, s *Store, stalled func(), unstall <-chan struct{}) error {
			s.acquiring <- struct{}{}
			defer func() { <-s.acquiring }()
			stalled()
			return s.pruneFences(ctx)
		}, "drop fencing counters: state store %s did not answer in time (its disk may be stalled); none was dropped", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, stalledTx := openStalled(t)
			if err := stalledTx.Rollback(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			waiting, unstall := make(chan struct{}), make(chan struct{})
			done := make(chan error, 1)
			go func() { done <- tc.call(ctx, s, func() { close(waiting) }, unstall) }()
			<-waiting
			cancel()
			err := <-done
			close(unstall)
			waitAbandonedTx(t)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want an error wrapping context.Canceled", err)
			}
			if got := errs.CodeOf(err); got != errs.Unavailable {
				t.Errorf("code: got %s, want %s", got, errs.Unavailable)
			}
			reason := strings.ReplaceAll(tc.reason, "%s", s.path)
			if got := deploy.StoreReason(err); got != reason {
				t.Errorf("reason: got %q, want %q", got, reason)
			}
			if tc.told == "" {
				return
			}
			told := deploy.OutcomeUnknown(err, "whether web/prod was locked", "status lists the locks in force")
			if got, want := errs.Message(told), strings.ReplaceAll(tc.told, "%s", s.path); got != want {
				t.Errorf("told: got %q, want %q", got, want)
			}
		})
	}
}
