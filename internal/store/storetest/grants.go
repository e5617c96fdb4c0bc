package storetest

import (
	"context"
	"errors"
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
		replaced := grants[0]
		replaced.GrantedBy = "cy"
		if err := s.PutGrant(ctx, replaced); err != nil {
			t.Fatal(err)
		}
		got, err := s.Grants(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, g := range got {
			keys = append(keys, g.User+" "+g.Role+" "+g.App+"/"+g.Env+" by "+g.GrantedBy)
		}
		want := []string{"ana tester / by root", "bob deployer / by ana", "bob deployer web/prod by cy"}
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
