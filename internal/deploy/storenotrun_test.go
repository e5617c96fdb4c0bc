package deploy_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestStoreNotRun: a store write refused because its context had ended
// keeps what ended it (the context's error, and its cause when another),
// and says that nothing was changed, in the words a bare context error
// was told: the store is unreachable.
func TestStoreNotRun(t *testing.T) {
	why := errors.New("the bot is stopping")
	for _, tc := range []struct {
		name  string
		ended func() context.Context
		want  []error
	}{
		{"cancelled", func() context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, []error{context.Canceled}},
		{"deadline", func() context.Context {
			ctx, cancel := context.WithDeadline(t.Context(), time.Unix(0, 0))
			t.Cleanup(cancel)
			return ctx
		}, []error{context.DeadlineExceeded}},
		{"cancelled with a cause", func() context.Context {
			ctx, cancel := context.WithCancelCause(t.Context())
			cancel(why)
			return ctx
		}, []error{context.Canceled, why}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := deploy.StoreNotRun(tc.ended())
			for _, want := range append(tc.want, deploy.ErrStoreNotRun) {
				if !errors.Is(err, want) {
					t.Errorf("got %v, want an error wrapping %v", err, want)
				}
			}
			if got := errs.CodeOf(err); got != errs.Unavailable {
				t.Errorf("code: got %s, want %s", got, errs.Unavailable)
			}
			if got, want := deploy.StoreReason(err), deploy.StoreUnreachable; got != want {
				t.Errorf("reason: got %q, want %q", got, want)
			}
			got := deploy.OutcomeUnknown(err, "whether web/prod was locked", "status lists the locks in force")
			if errors.Is(got, deploy.ErrOutcomeUnknown) {
				t.Errorf("outcome: got %v, want it known", got)
			}
			if got, want := errs.Message(got), deploy.StoreUnreachable+"; nothing was changed"; got != want {
				t.Errorf("told: got %q, want %q", got, want)
			}
		})
	}
}
