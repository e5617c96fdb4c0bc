package commands_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
)

// slackIDs is a PresenceSource that sees only the users it has a chat id
// for, as the Slack one does: for the others, an error wrapping
// commands.ErrNoPresence.
type slackIDs struct {
	active map[string]bool
	ids    map[string]bool
	err    error // for the users it has an id for
}

func (p slackIDs) Active(_ context.Context, user string) (bool, error) {
	if !p.ids[user] {
		return false, fmt.Errorf("%w: %s has no slack id in the config", commands.ErrNoPresence, user)
	}
	return p.active[user], p.err
}

// TestClosedWindowLeavesOutAdminsNoChatSees: an admin with no chat id
// (console-only) can never be seen present on Slack. Said of them in every
// closed window's reply ("presence of carl unknown (slack presence: carl
// has no slack id in the config), counted as away"), it told nothing the
// config does not and crowded out what does change; admins still says it.
// A presence that cannot be read is still said.
func TestClosedWindowLeavesOutAdminsNoChatSees(t *testing.T) {
	tests := []struct {
		name     string
		presence slackIDs
		user     string
		text     string
		failed   bool
		want     []string
		unwant   []string
	}{
		{
			name:     "deploy, nobody around",
			presence: slackIDs{ids: map[string]bool{"ana": true}},
			user:     "bob", text: "deploy web 1", failed: true,
			want:   []string{"no admin is around (an admin checks in with /here);", `admins who can force it (--force "reason"): ana, carl`},
			unwant: []string{"presence of carl", "no slack id", "ErrNoPresence", "not looked up"},
		},
		{
			name:     "deploy, ana's presence unreadable",
			presence: slackIDs{ids: map[string]bool{"ana": true}, err: errors.New("slack: rate limited")},
			user:     "bob", text: "deploy web 1", failed: true,
			want:   []string{"presence of ana unknown (slack: rate limited), counted as away"},
			unwant: []string{"presence of carl", "no slack id"},
		},
		{
			name:     "deploy, ana active on Slack",
			presence: slackIDs{ids: map[string]bool{"ana": true}, active: map[string]bool{"ana": true}},
			user:     "bob", text: "deploy web 1",
			want: []string{"Deploying web 1 to prod"},
		},
		{
			name:     "admins",
			presence: slackIDs{ids: map[string]bool{"ana": true}},
			user:     "bob", text: "admins",
			want: []string{"ana: away", "carl: away (presence not looked up: carl has no slack id in the config, so only a check-in counts)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: f.store, Policy: f.policy, Presence: tt.presence, Now: f.clock.Now})
			// carl, an admin by a runtime grant, has no chat id.
			if res, out, _ := f.do("ana", "grant @carl admin"); res.Failed {
				t.Fatalf("grant: %s", out.last())
			}
			res, out, _ := f.do(tt.user, tt.text)
			checkReply(t, res.Failed, out.last(), tt.failed, tt.want, tt.unwant)
		})
	}
}
