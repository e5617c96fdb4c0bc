package deploy

import (
	"errors"
	"fmt"
	"testing"

	"github.com/switchman-bot/switchman/internal/errs"
)

// TestLeftOutNoteNamesHostOnce: the note that a host failed and is left
// out names it up front, and what failed follows without naming it again:
// a delivery that failed read "host0 failed and is left out (…): deliver
// on host0: session closed".
func TestLeftOutNoteNamesHostOnce(t *testing.T) {
	const counts = " failed and is left out (1 of 2 hosts failed; max_failures allows 1): "
	closed := errors.New("ssh: host0: session closed")
	unwell := stepFailed(StepHealth, "host0", errors.New("not healthy after 2s: exit status 1"))
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a failed step", stepFailed(StepDeliver, "host0", closed), "host0" + counts + "deliver: session closed"},
		{"a failed step with more said after it", fmt.Errorf("%w; %s", stepFailed(StepDeliver, "host0", closed), "the disk is full"), "host0" + counts + "deliver: session closed; the disk is full"},
		{"a failed step named with its address", stepFailed(StepDeliver, "host0", errors.New("ssh: host0 (10.0.0.5:22): connection lost")), "host0 (10.0.0.5:22)" + counts + "deliver: connection lost"},
		{"a failed step of another host", stepFailed(StepDeliver, "host1", errors.New("exit status 1")), "host0" + counts + "deliver on host1: exit status 1"},
		{"named with its address", errors.New("could not look: ssh: host0 (10.0.0.5:22): connection lost"), "host0 (10.0.0.5:22)" + counts + "could not look: connection lost"},
		{"named alone", fmt.Errorf("could not look: %w", closed), "host0" + counts + "could not look: session closed"},
		{"not named", errors.New("exit status 2"), "host0" + counts + "exit status 2"},
		{"a failed step, as its revert quotes it", quoted(errs.Wrap(errs.Unavailable, unwell, "%v", unwell)), "host0" + counts + "health: not healthy after 2s: exit status 1"},
		{"a failed step whose switch back failed", fmt.Errorf("%w; switch back: %w", quoted(errs.Wrap(errs.Unavailable, unwell, "%v", unwell)), errors.New("exit status 3")), "host0" + counts + "health: not healthy after 2s: exit status 1; switch back: exit status 3"},
		{"the health gate, as its revert quotes it", quoted(unhealthy("host0", errors.New("not healthy after 2s: exit status 1"))), "host0" + counts + "stopped passing its health check after switching: not healthy after 2s: exit status 1"},
		{"the health gate, named with its address", quoted(unhealthy("host0", errors.New("ssh: host0 (10.0.0.5:22): connection lost"))), "host0 (10.0.0.5:22)" + counts + "stopped passing its health check after switching: connection lost"},
		{"the health gate of another host", quoted(unhealthy("host1", errors.New("exit status 1"))), "host0" + counts + "host1 stopped passing its health check after switching: exit status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := leftOutNote("host0", 1, 2, 1, tt.err); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
