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

// TestEventMessageNamesHostOnce: a failed step's line names the host
// once, up front, with the address an SSH error gave, and says the cause
// without the step and host it already says: it read "host0: deliver
// failed: deliver on host0: …".
func TestEventMessageNamesHostOnce(t *testing.T) {
	tests := []struct {
		name string
		ev   deploy.Event
		want string
	}{
		{"a failed step", deploy.Event{Host: "host0", Step: deploy.StepDeliver, Err: "deliver on host0: session closed"},
			"host0: deliver failed: session closed"},
		{"a failed step with the address", deploy.Event{Host: "host0", Step: deploy.StepRestart, Err: "restart on host0 (10.0.0.5:22): host unreachable: connection lost"},
			"host0 (10.0.0.5:22): restart failed: host unreachable: connection lost"},
		{"going back", deploy.Event{Host: "web1", Step: deploy.StepRestart, Back: true, Err: "restart on web1: exit status 1"},
			"web1: switch back: restart failed: exit status 1"},
		{"more said after it", deploy.Event{Host: "web1", Step: deploy.StepDrain, Err: "drain on web1: exit status 1; then the pool did not answer"},
			"web1: drain failed: exit status 1; then the pool did not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ev.Kind, tt.ev.Done = deploy.EventStep, true
			if got := chat.Text(commands.EventMessage(tt.ev)); got != "  "+tt.want+"\n" {
				t.Errorf("EventMessage: got %q, want %q", got, tt.want)
			}
		})
	}
}
