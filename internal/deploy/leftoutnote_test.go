package deploy

import (
	"errors"
	"fmt"
	"testing"
)

// TestLeftOutNoteNamesHostOnce: the note that a host failed and is left
// out names it up front, and what failed follows without naming it again:
// a delivery that failed read "host0 failed and is left out (…): deliver
// on host0: session closed".
func TestLeftOutNoteNamesHostOnce(t *testing.T) {
	const counts = " failed and is left out (1 of 2 hosts failed; max_failures allows 1): "
	closed := errors.New("ssh: host0: session closed")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a failed step", stepFailed(StepDeliver, "host0", closed), "host0" + counts + "deliver: session closed"},
		{"a failed step with more said after it", fmt.Errorf("%w; %s", stepFailed(StepDeliver, "host0", closed), "the disk is full"), "host0" + counts + "deliver: session closed; the disk is full"},
		{"a failed step of another host", stepFailed(StepDeliver, "host1", errors.New("exit status 1")), "host0" + counts + "deliver on host1: exit status 1"},
		{"named with its address", errors.New("could not look: ssh: host0 (10.0.0.5:22): connection lost"), "host0 (10.0.0.5:22)" + counts + "could not look: connection lost"},
		{"named alone", fmt.Errorf("could not look: %w", closed), "host0" + counts + "could not look: session closed"},
		{"not named", errors.New("exit status 2"), "host0" + counts + "exit status 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := leftOutNote("host0", 1, 2, 1, tt.err); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
