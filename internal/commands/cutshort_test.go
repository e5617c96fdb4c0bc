package commands_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// TestRequestCutShort: a command whose request ends while it runs (the
// last line of a script as the console stops, a train's car as the bot
// stops) finds its store reads cancelled, which fail as an unreachable
// store's do. Its reply and audit entry say what happened instead (the
// bot stopping, or the request cancelled), and the log holds no warning
// of a store failure.
func TestRequestCutShort(t *testing.T) {
	tests := []struct {
		name, text string
		draining   bool
		want       string
	}{
		{name: "request cancelled", text: "deploy web 1",
			want: "the request was cancelled, so the command was cut short; nothing was changed"},
		{name: "bot stopping", text: "deploy web 1", draining: true,
			want: "Switchman is stopping, so the command was cut short; nothing was changed"},
		{name: "bot stopping, a read", text: "status", draining: true,
			want: "Switchman is stopping, so the command was cut short; nothing was changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			var logs syncbuf.Buffer
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: f.store, Policy: f.policy,
				Log: slog.New(slog.NewTextHandler(&logs, nil))})
			if tt.draining {
				f.eng.Drain()
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			out := newRecorder()
			res := svc.Handle(ctx, commands.Request{User: "ana", Platform: "console", Channel: "console", Text: tt.text}, out)
			if got := out.last(); !strings.Contains(got, tt.want) || strings.Contains(got, "unreachable") {
				t.Errorf("reply %q, want %q", got, tt.want)
			}
			if !res.Failed || res.Code != errs.Unavailable || res.DeployID != "" {
				t.Errorf("outcome %+v, want failed, unavailable, no deploy", res)
			}
			entries, err := f.store.Audit(context.Background(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if entries = audit.Fold(entries); len(entries) != 1 || entries[0].Decision != audit.Refused || entries[0].Reason != tt.want {
				t.Errorf("audit %+v, want one refusal: %q", entries, tt.want)
			}
			for line := range strings.Lines(logs.String()) {
				if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
					t.Errorf("logged %s", strings.TrimSpace(line))
				}
			}
		})
	}
}

// TestClosedAsBotStops: the gate a train asks before shipping a car holds
// it back, as the bot stops, for that reason, not for a store whose read
// the stop cut short.
func TestClosedAsBotStops(t *testing.T) {
	f := newServiceFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &cancelOnLocks{Store: f.store, cancel: cancel}
	svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy})
	if why, closed := svc.Closed(ctx, "web", "prod", "bob"); !closed || why != "the bot is shutting down" {
		t.Errorf("Closed as the bot stops: %q, %v; want closed: the bot is shutting down", why, closed)
	}
}

// cancelOnLocks ends the request's context as the locks are read, and
// fails the read as a store does that the end cut short.
type cancelOnLocks struct {
	commands.Store
	cancel context.CancelFunc
}

func (s *cancelOnLocks) Locks(ctx context.Context) ([]deploy.Lock, error) {
	s.cancel()
	<-ctx.Done()
	return s.Store.Locks(ctx)
}

// TestWindowCutShort: a deploy to an env that wants an admin around,
// whose request ends as the check-ins are read, is cut short like any
// other command, not refused for a closed window whose check-ins "the
// state store" could not give; and the gate a train asks holds the car
// back because the bot stops, not for that window.
func TestWindowCutShort(t *testing.T) {
	tests := []struct {
		name     string
		draining bool
		want     string
	}{
		{name: "request cancelled", want: "the request was cancelled, so the command was cut short; nothing was changed"},
		{name: "bot stopping", draining: true, want: "Switchman is stopping, so the command was cut short; nothing was changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st := &cancelOnPresent{Store: f.store, cancel: cancel}
			svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			if tt.draining {
				f.eng.Drain()
			}
			out := newRecorder()
			res := svc.Handle(ctx, commands.Request{User: "bob", Platform: "console", Channel: "console", Text: "deploy web 1"}, out)
			if got := out.last(); !strings.Contains(got, tt.want) || strings.Contains(got, "unreachable") || strings.Contains(got, "no admin") {
				t.Errorf("reply %q, want %q", got, tt.want)
			}
			if !res.Failed || res.Code != errs.Unavailable || res.DeployID != "" {
				t.Errorf("outcome %+v, want failed, unavailable, no deploy", res)
			}
			entries, err := f.store.Audit(context.Background(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if entries = audit.Fold(entries); len(entries) != 1 || entries[0].Decision != audit.Refused || entries[0].Reason != tt.want {
				t.Errorf("audit %+v, want one refusal: %q", entries, tt.want)
			}
		})
	}
	t.Run("train gate", func(t *testing.T) {
		f := newGuardFixture(t, "")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st := &cancelOnPresent{Store: f.store, cancel: cancel}
		svc := commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
		if why, closed := svc.Closed(ctx, "web", "prod", "bob"); !closed || why != "the bot is shutting down" {
			t.Errorf("Closed as the bot stops: %q, %v; want closed: the bot is shutting down", why, closed)
		}
	})
}

// cancelOnPresent ends the request's context as the admins' check-ins
// are read, and fails the read as a store does that the end cut short.
type cancelOnPresent struct {
	commands.Store
	cancel context.CancelFunc
}

func (s *cancelOnPresent) Present(ctx context.Context) (map[string]time.Time, error) {
	s.cancel()
	<-ctx.Done()
	return s.Store.Present(ctx)
}

func (s *cancelOnPresent) CheckIns(ctx context.Context) (map[string]acl.CheckIn, error) {
	s.cancel()
	<-ctx.Done()
	return s.Store.CheckIns(ctx)
}
