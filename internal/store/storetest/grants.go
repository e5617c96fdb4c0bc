package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/deploy"
)

func testGrants(t *testing.T, fresh freshFunc) {
	ctx := context.Background()
	t.Run("put, list sorted, replace, delete", func(t *testing.T) {
		s, _ := fresh(t)
		grants := []acl.Grant{
			{User: "bob", Role: "deployer", App: "web", Env: "prod", GrantedBy: "ana", Created: start},
			{User: "ana", Role: "tester", GrantedBy: "root", Created: start},
			{User: "bob", Role: "deployer", GrantedBy: "ana", Created: start},
		}
		for _, g := range grants {
			if err := s.PutGrant(ctx, g); err != nil {
				t.Fatalf("PutGrant: %v", err)
			}
		}
		// A grant that replaces one in force goes on from it (Since),
		// which the store keeps.
		replaced := grants[0]
		replaced.GrantedBy, replaced.Created, replaced.Since = "cy", start.Add(time.Hour), start
		if err := s.PutGrant(ctx, replaced); err != nil {
			t.Fatal(err)
		}
		got, err := s.Grants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, g := range got {
			keys = append(keys, g.User+" "+g.Role+" "+g.App+"/"+g.Env+" by "+g.GrantedBy+" held since "+g.Held().UTC().Format(time.RFC3339))
		}
		since := " held since " + start.UTC().Format(time.RFC3339)
		want := []string{"ana tester / by root" + since, "bob deployer / by ana" + since, "bob deployer web/prod by cy" + since}
		if len(keys) != len(want) {
			t.Fatalf("Grants: got %q, want %q", keys, want)
		}
		for i := range want {
			if keys[i] != want[i] {
				t.Errorf("Grants[%d]: got %q, want %q", i, keys[i], want[i])
			}
		}
		g, err := s.DeleteGrant(ctx, "bob", "deployer", "web", "prod")
		if err != nil || g.GrantedBy != "cy" {
			t.Errorf("DeleteGrant: got %+v, %v", g, err)
		}
		if _, err := s.DeleteGrant(ctx, "bob", "deployer", "web", "prod"); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("DeleteGrant again: got %v, want ErrNotFound", err)
		}
	})
	t.Run("expiry", func(t *testing.T) {
		s, clock := fresh(t)
		g := acl.Grant{User: "bob", Role: "deployer", GrantedBy: "ana", Created: start, Expires: start.Add(time.Hour)}
		if err := s.PutGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Grants(ctx); len(got) != 1 {
			t.Fatalf("before expiry: got %d grants, want 1", len(got))
		}
		clock.Advance(2 * time.Hour)
		if got, err := s.Grants(ctx); err != nil || len(got) != 0 {
			t.Errorf("after expiry: got %v, %v; want none", got, err)
		}
		if _, err := s.DeleteGrant(ctx, "bob", "deployer", "", ""); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("DeleteGrant of an expired grant: got %v, want ErrNotFound", err)
		}
	})
}

func testPresence(t *testing.T, fresh freshFunc) {
	ctx := context.Background()
	s, clock := fresh(t)
	if err := s.CheckIn(ctx, "ana", start.Add(4*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckIn(ctx, "bob", start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	p, err := s.Present(ctx)
	if err != nil || len(p) != 2 || !p["ana"].Equal(start.Add(4*time.Hour)) {
		t.Fatalf("Present: got %v, %v", p, err)
	}
	clock.Advance(2 * time.Hour)
	if p, _ := s.Present(ctx); len(p) != 1 || p["ana"].IsZero() {
		t.Errorf("after bob's check-in ended: got %v, want only ana", p)
	}
	if err := s.CheckOut(ctx, "ana"); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckOut(ctx, "nobody"); err != nil {
		t.Errorf("CheckOut of a user not checked in: got %v, want nil", err)
	}
	if p, _ := s.Present(ctx); len(p) != 0 {
		t.Errorf("after check-out: got %v, want nobody", p)
	}
}

// testPresenceIf: a check-in is changed only from the one its caller
// read. A grant that cut a check-in short from what it read before the
// user's away brought the check-in back; one made after the user's newer
// here overwrote it.
func testPresenceIf(t *testing.T, fresh freshFunc) {
	var (
		none  time.Time
		ended = start.Add(-time.Minute)
		read  = start.Add(4 * time.Hour)
		newer = start.Add(2 * time.Hour)
		next  = start.Add(time.Hour)
		// read as another zone shows it: the same instant.
		readElsewhere = read.In(time.FixedZone("UTC+2", 2*60*60))
	)
	for _, tc := range []struct {
		name         string
		stored, prev time.Time // zero: none
		out          bool      // CheckOutIf, not CheckInIf of next
		ok           bool
		cur, want    time.Time // returned; in force after (zero: none)
	}{
		{"check in from none", none, none, false, true, none, next},
		{"check in from none, an ended check-in", ended, none, false, true, none, next},
		{"check in from none, checked in since", read, none, false, false, read, read},
		{"cut short", read, read, false, true, none, next},
		{"cut short, read in another zone", read, readElsewhere, false, true, none, next},
		{"cut short, checked out since", none, read, false, false, none, none},
		{"cut short, checked in again since", newer, read, false, false, newer, newer},
		{"cut short, ended since", ended, ended, false, false, none, none},
		{"end", read, read, true, true, none, none},
		{"end, read in another zone", read, readElsewhere, true, true, none, none},
		{"end, checked out since", none, read, true, false, none, none},
		{"end, checked in again since", newer, read, true, false, newer, newer},
		{"end, ended since", ended, ended, true, false, none, none},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := fresh(t)
			ctx := t.Context()
			if !tc.stored.IsZero() {
				if err := s.CheckIn(ctx, "ana", tc.stored); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.CheckIn(ctx, "bob", newer); err != nil {
				t.Fatal(err)
			}
			var (
				cur time.Time
				ok  bool
				err error
			)
			if tc.out {
				cur, ok, err = s.CheckOutIf(ctx, "ana", tc.prev)
			} else {
				cur, ok, err = s.CheckInIf(ctx, "ana", tc.prev, next)
			}
			if err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if ok != tc.ok || !cur.Equal(tc.cur) {
				t.Errorf("got %v, ok %v; want %v, ok %v", cur, ok, tc.cur, tc.ok)
			}
			p, err := s.Present(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, in := p["ana"]; in != !tc.want.IsZero() || !got.Equal(tc.want) {
				t.Errorf("ana's check-in after: got %v (%v), want %v", got, in, tc.want)
			}
			if !p["bob"].Equal(newer) {
				t.Errorf("bob's check-in after: got %v, want %v, untouched", p["bob"], newer)
			}
		})
	}

	t.Run("nothing to write", func(t *testing.T) {
		s, _ := fresh(t)
		if _, ok, err := s.CheckOutIf(t.Context(), "ana", time.Time{}); err == nil || ok {
			t.Errorf("CheckOutIf of no check-in: got %v, %v; want an error", ok, err)
		}
		if _, ok, err := s.CheckInIf(t.Context(), "ana", time.Time{}, time.Time{}); err == nil || ok {
			t.Errorf("CheckInIf to no end: got %v, %v; want an error", ok, err)
		}
		if p, err := s.Present(t.Context()); err != nil || len(p) != 0 {
			t.Errorf("Present: got %v, %v; want nobody", p, err)
		}
	})

	// Many writers race from the check-in they read: exactly one changes
	// it, and every other is told of that one's.
	t.Run("race", func(t *testing.T) {
		s, _ := fresh(t)
		if err := s.CheckIn(t.Context(), "ana", read); err != nil {
			t.Fatal(err)
		}
		const n = 16
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []time.Time
			told    []time.Time
		)
		ready := make(chan struct{})
		for i := range n {
			until := start.Add(time.Duration(i+1) * time.Minute)
			wg.Go(func() {
				<-ready
				cur, ok, err := s.CheckInIf(t.Context(), "ana", read, until)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					t.Errorf("CheckInIf to %v: %v", until, err)
				case ok:
					winners = append(winners, until)
				default:
					told = append(told, cur)
				}
			})
		}
		close(ready)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("check-ins changed by %v, want exactly one of %d writers", winners, n)
		}
		if len(told) != n-1 {
			t.Errorf("refused %d, want %d", len(told), n-1)
		}
		for _, cur := range told {
			if !cur.Equal(winners[0]) {
				t.Errorf("a refused writer was told of %v, want the winner's %v", cur, winners[0])
			}
		}
		if p, err := s.Present(t.Context()); err != nil || !p["ana"].Equal(winners[0]) {
			t.Errorf("Present: got %v, %v; want ana until %v", p, err, winners[0])
		}
	})
}

// testCheckInUnder: a check-in keeps what made its user an admin as it
// was made, through a cut short, so that a start whose config makes them
// an admin on other terms can tell it from one of theirs made on those.
// One recorded without it (by an older version) reads as before.
func testCheckInUnder(t *testing.T, fresh freshFunc) {
	ctx := context.Background()
	s, _ := fresh(t)
	until, cut := start.Add(4*time.Hour), start.Add(time.Hour)
	if err := s.CheckInUnder(ctx, "ana", until, acl.UnderGrant); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckIn(ctx, "bob", until); err != nil {
		t.Fatal(err)
	}
	want := map[string]acl.CheckIn{"ana": {Until: until, Under: acl.UnderGrant}, "bob": {Until: until}}
	assertCheckIns(t, s, "after the check-ins", want)
	if p, err := s.Present(ctx); err != nil || !p["ana"].Equal(until) || !p["bob"].Equal(until) {
		t.Errorf("Present: got %v, %v; want ana and bob until %v", p, err, until)
	}
	for _, user := range []string{"ana", "bob"} {
		if _, ok, err := s.CheckInIf(ctx, user, until, cut); err != nil || !ok {
			t.Fatalf("CheckInIf %s: got %v, %v; want it cut short", user, ok, err)
		}
	}
	want = map[string]acl.CheckIn{"ana": {Until: cut, Under: acl.UnderGrant}, "bob": {Until: cut}}
	assertCheckIns(t, s, "after cutting them short", want)
	if _, ok, err := s.CheckOutIf(ctx, "ana", cut); err != nil || !ok {
		t.Fatalf("CheckOutIf: got %v, %v; want it ended", ok, err)
	}
	assertCheckIns(t, s, "after ana's ended", map[string]acl.CheckIn{"bob": {Until: cut}})
}

func assertCheckIns(t *testing.T, s Store, when string, want map[string]acl.CheckIn) {
	t.Helper()
	got, err := s.CheckIns(t.Context())
	if err != nil {
		t.Fatalf("CheckIns %s: %v", when, err)
	}
	if len(got) != len(want) {
		t.Errorf("CheckIns %s: got %v, want %v", when, got, want)
	}
	for user, w := range want {
		if g := got[user]; !g.Until.Equal(w.Until) || g.Under != w.Under {
			t.Errorf("CheckIns %s: %s got %+v, want %+v", when, user, g, w)
		}
	}
}
