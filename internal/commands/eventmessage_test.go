package commands_test

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestEventMessageSwitchBack: the console's line-by-line progress says
// which steps belong to a switch back; a drain or restart going back used
// to read as one of the deploy going on.
func TestEventMessageSwitchBack(t *testing.T) {
	tests := []struct {
		name string
		ev   deploy.Event
		want string
	}{
		{"drain going forward", deploy.Event{Host: "web1", Step: deploy.StepDrain}, "web1: drain…"},
		{"drain going back", deploy.Event{Host: "web1", Step: deploy.StepDrain, Back: true}, "web1: switch back: drain…"},
		{"restart going back, done", deploy.Event{Host: "web1", Step: deploy.StepRestart, Back: true, Done: true}, "web1: switch back: restart ✓"},
		{"restart going back, failed", deploy.Event{Host: "web1", Step: deploy.StepRestart, Back: true, Done: true, Err: "exit status 1"},
			"web1: switch back: restart failed: exit status 1"},
		{"revert, which says it already", deploy.Event{Host: "web1", Step: deploy.StepRevert, Back: true}, "web1: revert…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.Kind = deploy.EventStep
			if got := chat.Text(commands.EventMessage(tt.ev)); got != "  "+tt.want+"\n" {
				t.Errorf("EventMessage: got %q, want %q", got, tt.want)
			}
		})
	}
}
