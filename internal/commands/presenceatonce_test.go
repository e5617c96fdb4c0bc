package commands_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
)

// barrier is a PresenceSource that answers only once n asks are waiting
// together, or, after wait, fails: asked one after another, each ask
// stood alone for the whole wait, as each waited out Slack's rate limits.
type barrier struct {
	n    int
	wait time.Duration
	mu   sync.Mutex
	in   int
	all  chan struct{}
}

func newBarrier(n int) *barrier {
	return &barrier{n: n, wait: 2 * time.Second, all: make(chan struct{})}
}

func (b *barrier) Active(ctx context.Context, user string) (bool, error) {
	b.mu.Lock()
	b.in++
	if b.in == b.n {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return false, nil
	case <-time.After(b.wait):
		return false, errors.New("rate limited: asked alone")
	}
}

// TestAdminsPresenceAskedAtOnce: each admin's Slack presence may take up
// to 5 s under Slack's rate limits, which the README gives as the wait
// in all; asked one admin after another, a deploy, or admins, waited that
// long for each admin not checked in.
func TestAdminsPresenceAskedAtOnce(t *testing.T) {
	tests := []struct {
		name, user, text string
		want             []string
	}{
		{"deploy", "bob", "deploy web 1", []string{"no admin is around (an admin checks in with /here)"}},
		{"admins", "bob", "admins", []string{"ana: away", "carl: away", "dana: away"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			for _, u := range []string{"carl", "dana"} {
				if res, out, _ := f.do("ana", "grant @"+u+" admin"); res.Failed {
					t.Fatalf("grant: %s", out.last())
				}
			}
			f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: f.store, Policy: f.policy, Presence: newBarrier(3), Now: f.clock.Now})
			start := time.Now()
			_, out, _ := f.do(tt.user, tt.text)
			took := time.Since(start)
			got := out.last()
			if strings.Contains(got, "asked alone") {
				t.Errorf("got reply %q, want the three admins' presence asked at once", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("got reply %q, want it to say %q", got, w)
				}
			}
			t.Logf("%s answered in %s", tt.text, took.Round(time.Millisecond))
		})
	}
}
