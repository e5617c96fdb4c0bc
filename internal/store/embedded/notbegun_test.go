package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/postdeploy/watchstore"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

// writesOf returns the writes of s, each called with ctx, that refuse a
// context ended before they begin; l is a lease of s's.
func writesOf(s *embedded.Store, l deploy.Lease, ctx context.Context) map[string]func() error {
	at := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
	car := trainstore.Car{App: "web", Build: "7", Env: "prod", User: "ana", Boarded: at}
	return map[string]func() error{
		"PutRecord": func() error { return s.PutRecord(ctx, &deploy.Record{ID: "d2", App: "a", Env: "e", Started: at}) },
		"MarkUndelivered": func() error {
			return s.MarkUndelivered(ctx, "d1", deploy.Undelivered{Platform: "slack", Reason: "x"})
		},
		"PutLock": func() error { return s.PutLock(ctx, deploy.Lock{App: "a", Owner: "ana", Created: at}) },
		"ReplaceLock": func() error {
			_, _, err := s.ReplaceLock(ctx, nil, deploy.Lock{App: "a", Owner: "ana", Created: at})
			return err
		},
		"DeleteLock":  func() error { _, err := s.DeleteLock(ctx, "a", ""); return err },
		"AppendAudit": func() error { return s.AppendAudit(ctx, &audit.Entry{Command: "x"}) },
		"TrimRecords": func() error { _, err := s.TrimRecords(ctx, at, 0); return err },
		"TrimAudit":   func() error { _, err := s.TrimAudit(ctx, at); return err },
		"Signal":      func() error { return s.Signal(ctx, "d1", "cancel", "ana", time.Minute) },
		"SignalFirst": func() error { _, _, err := s.SignalFirst(ctx, "d1", "confirm", "ok ana", time.Minute); return err },
		"TakeSignal":  func() error { _, _, err := s.TakeSignal(ctx, "d1", "cancel"); return err },
		"SetOnce":     func() error { _, err := s.SetOnce(ctx, "k", time.Minute); return err },
		"SetOnceToken": func() error {
			_, err := s.SetOnceToken(ctx, "k", "a", time.Minute)
			return err
		},
		"ForgetOnce": func() error { return s.ForgetOnce(ctx, "k", "a") },
		"Board":      func() error { _, err := s.Board(ctx, "daily", car, 0, nil); return err },
		"Leave":      func() error { _, err := s.Leave(ctx, "daily", "web", "ana", at); return err },
		"ReturnCars": func() error { return s.ReturnCars(ctx, "daily", []trainstore.Car{car}) },
		"MarkRun":    func() error { return s.MarkRun(ctx, "daily", "announce", at) },
		"MarkCancel": func() error {
			return s.MarkCancel(ctx, "daily", trainstore.Cancellation{At: at, User: "ana", Reason: "x"})
		},
		"StartDeparture": func() error { return s.StartDeparture(ctx, "daily", trainstore.Departure{At: at}) },
		"EndDeparture":   func() error { return s.EndDeparture(ctx, "daily", trainstore.Departure{At: at}) },
		"Acquire":        func() error { _, err := s.Acquire(ctx, "other", "bot-1", time.Minute); return err },
		"PutWatch":       func() error { return s.PutWatch(ctx, watchstore.Watch{ID: "d1", Fence: l.Token()}) },
		"DeleteWatch":    func() error { return s.DeleteWatch(ctx, "d1", l.Token()) },
		"Lease.Renew":    func() error { return l.Renew(ctx) },
		"Lease.Release":  func() error { return l.Release(ctx) },
		"PutGrant": func() error {
			return s.PutGrant(ctx, acl.Grant{User: "ana", Role: "deployer", Created: at, Expires: at.Add(time.Hour)})
		},
		"DeleteGrant": func() error { _, err := s.DeleteGrant(ctx, "ana", "deployer", "", ""); return err },
		"CheckIn":     func() error { return s.CheckIn(ctx, "ana", at.Add(time.Hour)) },
		"CheckOut":    func() error { return s.CheckOut(ctx, "ana") },
		"CheckInIf":   func() error { _, _, err := s.CheckInIf(ctx, "ana", time.Time{}, at.Add(time.Hour)); return err },
		"CheckOutIf":  func() error { _, _, err := s.CheckOutIf(ctx, "ana", at); return err },
	}
}

// TestWriteNotBegunSaysWhy: a write of the embedded store called once its
// context has ended (a command out of time, or cancelled) is refused
// before it begins, nothing changed, and says so of the file, or what is
// wrong with the file when something is (closed as the bot stops): not
// "state store unreachable", Redis's words, which sent people looking for
// a network fault in a local file nothing tried to reach.
func TestWriteNotBegunSaysWhy(t *testing.T) {
	why := errors.New("the bot is stopping")
	for _, tc := range []struct {
		name   string
		closed bool
		ended  func(t *testing.T) context.Context
		want   []error
		reason string // %s the store's path, but when closed
	}{
		{"cancelled", false, func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, []error{context.Canceled}, "state store %s was not written: it was cancelled before the write began"},
		{"deadline", false, func(t *testing.T) context.Context {
			ctx, cancel := context.WithDeadline(t.Context(), time.Unix(0, 0))
			t.Cleanup(cancel)
			return ctx
		}, []error{context.DeadlineExceeded}, "state store %s was not written: its time ran out before the write began"},
		{"cancelled with a cause", false, func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancelCause(t.Context())
			cancel(why)
			return ctx
		}, []error{context.Canceled, why}, "state store %s was not written: it was cancelled (the bot is stopping) before the write began"},
		{"store closed", true, func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			return ctx
		}, []error{context.Canceled, deploy.ErrStoreClosed}, "Switchman is stopping, so its state store is closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switchman.db")
			s := openStore(t, path, nil)
			l, err := s.Acquire(t.Context(), "web/prod", "bot-1", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if tc.closed {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			before, err := embedded.TxID(s)
			if err != nil && !tc.closed {
				t.Fatal(err)
			}
			reason := tc.reason
			if !tc.closed {
				reason = fmt.Sprintf(reason, path)
			}
			for name, write := range writesOf(s, l, tc.ended(t)) {
				err := write()
				for _, want := range append(tc.want, deploy.ErrStoreNotRun) {
					if !errors.Is(err, want) {
						t.Errorf("%s: got %v, want an error wrapping %v", name, err, want)
					}
				}
				if got := errs.CodeOf(err); got != errs.Unavailable {
					t.Errorf("%s: code: got %s, want %s", name, got, errs.Unavailable)
				}
				if got := deploy.StoreReason(err); got != reason {
					t.Errorf("%s: reason: got %q, want %q", name, got, reason)
				}
				told := deploy.OutcomeUnknown(err, "whether web/prod was locked", "status lists the locks in force")
				if got, want := errs.Message(told), reason+"; nothing was changed"; got != want {
					t.Errorf("%s: told: got %q, want %q", name, got, want)
				}
			}
			if tc.closed {
				return
			}
			if after, err := embedded.TxID(s); err != nil || after != before {
				t.Errorf("last transaction after the writes: got %d, %v, want %d (nothing written)", after, err, before)
			}
		})
	}
}
