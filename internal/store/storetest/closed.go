package storetest

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/train/trainstore"
)

// testClosed: a store called once it is closed, as the bot stops, says
// so (deploy.ErrStoreClosed): what still reaches it then, a late command,
// a departure, a webhook delivery, is told the bot is stopping, not that
// the store cannot be reached. A plain "state store is closed" had no
// code, and was called unreachable.
func testClosed(t *testing.T, fresh freshFunc) {
	s, _ := fresh(t)
	c, ok := s.(io.Closer)
	if !ok {
		t.Fatalf("%T has no Close", s)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"PutRecord", func() error { return s.PutRecord(ctx, sampleRecord("d2", "a", "e", start)) }},
		{"Record", func() error { _, err := s.Record(ctx, "d1"); return err }},
		{"Records", func() error { _, err := s.Records(ctx, deploy.Filter{}); return err }},
		{"PutLock", func() error { return s.PutLock(ctx, sampleLock("a", "", time.Time{})) }},
		{"Locks", func() error { _, err := s.Locks(ctx); return err }},
		{"AppendAudit", func() error { return s.AppendAudit(ctx, &audit.Entry{Command: "x"}) }},
		{"Grants", func() error { _, err := s.Grants(ctx); return err }},
		{"PutGrant", func() error {
			return s.PutGrant(ctx, acl.Grant{User: "ana", Role: "admin", GrantedBy: "bob", Created: start})
		}},
		{"Present", func() error { _, err := s.Present(ctx); return err }},
		{"CheckInIf", func() error { _, _, err := s.CheckInIf(ctx, "ana", time.Time{}, start.Add(time.Hour)); return err }},
		{"CheckOutIf", func() error { _, _, err := s.CheckOutIf(ctx, "ana", start.Add(time.Hour)); return err }},
		{"Holder", func() error { _, err := s.Holder(ctx, leaseKey); return err }},
		{"Acquire", func() error { _, err := s.Acquire(ctx, leaseKey, "bot-1", leaseTTL); return err }},
		{"SetOnceToken", func() error { _, err := s.SetOnceToken(ctx, "k", "a", time.Minute); return err }},
		{"Cars", func() error { _, err := s.Cars(ctx, "daily"); return err }},
		{"Board", func() error {
			_, err := s.Board(ctx, "daily", trainstore.Car{App: "web", Build: "7", Env: "prod", User: "ana", Boarded: start}, 0, nil)
			return err
		}},
	} {
		err := tc.call()
		if !errors.Is(err, deploy.ErrStoreClosed) || errs.CodeOf(err) != errs.Unavailable {
			t.Errorf("%s once closed: got %v (code %s), want an error wrapping deploy.ErrStoreClosed, code %s", tc.name, err, errs.CodeOf(err), errs.Unavailable)
		}
		const want = "Switchman is stopping, so its state store is closed"
		if got := deploy.StoreReason(err); got != want {
			t.Errorf("%s once closed: the store's reason is %q, want %q", tc.name, got, want)
		}
		if got, want := errs.Message(deploy.StoreRefused(err)), want+"; nothing was changed"; got != want {
			t.Errorf("%s once closed: refused as %q, want %q", tc.name, got, want)
		}
		// Nothing was sent, so a write's outcome is known.
		if got := deploy.OutcomeUnknown(err, "whether it was written", "look"); errors.Is(got, deploy.ErrOutcomeUnknown) || !strings.HasSuffix(errs.Message(got), "nothing was changed") {
			t.Errorf("%s once closed: a write's outcome said %q, want it known: nothing was changed", tc.name, errs.Message(got))
		}
	}
}
