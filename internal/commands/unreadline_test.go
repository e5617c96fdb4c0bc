package commands

import (
	"strings"
	"testing"
)

// TestUnreadLine: an error that names the host names it alone in the
// line, with its address or without ("ssh: host0: session closed", which
// made the line panic), and the cut counts only what follows the naming;
// a cut, of the line or of more lines, is told (the log then has it all).
// Every line names the host and says why it could not be read: an error
// naming the host past its first line left a line naming no host, blank
// lines before the reason a line saying "( …)", and an empty error one
// saying no reason.
func TestUnreadLine(t *testing.T) {
	long := strings.Repeat("x", statusErrLen)
	tests := []struct {
		name, host, msg, want string
		cut                   bool
	}{
		{"not named", "host0", "inspect: exit status 1", "host0: unreachable (inspect: exit status 1)", false},
		{"named with its address", "host0", "ssh: host0 (127.0.0.1:22): connection refused", "unreachable: ssh: host0 (127.0.0.1:22): connection refused", false},
		{"named alone", "host0", "ssh: host0: session closed", "unreachable: ssh: host0: session closed", false},
		{"named alone, cut after the naming", "host0", "ssh: host0: " + long + "y", "unreachable: ssh: host0: " + long + "…", true},
		{"a process named before the host's address", "host0", "host0 (pid 4): x; ssh: host0 (127.0.0.1:22): " + long + "y", "unreachable: host0 (pid 4): x; ssh: host0 (127.0.0.1:22): " + long + "…", true},
		{"not named, more lines", "host0", "inspect: exit status 1\nmore", "host0: unreachable (inspect: exit status 1 …)", true},
		{"another host named alone", "web1", "ssh: web10: session closed", "web1: unreachable (ssh: web10: session closed)", false},
		// The line shows the error's first line: a naming of the host
		// further down is not shown, and the line names it up front.
		{"named on a later line only", "host0", "exit status 255:\nssh: host0 (10.0.0.5:22): connection refused", "host0: unreachable (exit status 255: …)", true},
		{"blank lines before the reason", "host0", "\n\nssh: host0 (10.0.0.5:22): connection refused", "unreachable: ssh: host0 (10.0.0.5:22): connection refused", false},
		{"blank lines before a reason not naming it", "host0", "\r\n  inspect: exit status 1", "host0: unreachable (inspect: exit status 1)", false},
		{"no reason", "host0", "", "host0: unreachable (no reason was given)", false},
		{"blank reason", "host0", " \n\t", "host0: unreachable (no reason was given)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, cut := unreadLine(tt.host, "unreachable", tt.msg); got != tt.want || cut != tt.cut {
				t.Errorf("got %q, cut %v; want %q, cut %v", got, cut, tt.want, tt.cut)
			}
		})
	}
}
