package deploy_test

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestHostText: a line that names a host up front by its lead says what
// the host's record or failed step says without naming it again, and
// keeps the address an SSH error gave in the lead.
func TestHostText(t *testing.T) {
	tests := []struct {
		name, host, msg, lead, rest string
	}{
		{"a failed step", "host0", "deliver on host0: session closed", "host0", "deliver: session closed"},
		{"a failed step with the address", "host0", "deliver on host0 (10.0.0.5:22): host unreachable: connection lost",
			"host0 (10.0.0.5:22)", "deliver: host unreachable: connection lost"},
		{"the health gate", "h0", "h0 stopped passing its health check after switching: health: exit status 1",
			"h0", "stopped passing its health check after switching: health: exit status 1"},
		{"the health gate with the address", "h0", "h0 (10.0.0.5:22) stopped passing its health check after switching: connection lost",
			"h0 (10.0.0.5:22)", "stopped passing its health check after switching: connection lost"},
		{"more joined on", "web2", "activate on web2: connection lost; could not read current after the failed switch: web2 (10.0.0.6:22): host unreachable",
			"web2 (10.0.0.6:22)", "activate: connection lost; could not read current after the failed switch: host unreachable"},
		{"a switch back joined on", "web2", "restart on web2: exit status 1; switch back: restart on web2: exit status 1",
			"web2", "restart: exit status 1; switch back: restart: exit status 1"},
		{"the SSH transport's naming", "web1", "could not look: ssh: web1: session closed", "web1", "could not look: session closed"},
		{"the SSH transport's naming with the address", "web1", "unreachable during the deploy: ssh: web1 (10.0.0.5:22): connection lost",
			"web1 (10.0.0.5:22)", "unreachable during the deploy: connection lost"},
		{"not named", "web1", "no earlier release to switch back to", "web1", "no earlier release to switch back to"},
		{"another host named", "web1", "deliver on web10: session closed; ssh: web10: session closed", "web1", "deliver on web10: session closed; ssh: web10: session closed"},
		{"named as a word of another", "web1", "xweb1 stopped; deliver on xweb1: lost", "web1", "xweb1 stopped; deliver on xweb1: lost"},
		{"named by a script with a process", "web1", "restart on web1: exit status 1: supervisor: web1 (pid 42): exited",
			"web1", "restart: exit status 1: supervisor: web1 (pid 42): exited"},
		{"named by a script, then by the transport", "web1", "could not look: web1 (pid 42): gone; ssh: web1 (10.0.0.5:22): connection lost",
			"web1 (10.0.0.5:22)", "could not look: web1 (pid 42): gone; connection lost"},
		{"an older record that took a process for the address", "web1", "restart on web1 (pid 42): exit status 1: supervisor: exited",
			"web1", "restart on web1 (pid 42): exit status 1: supervisor: exited"},
		{"with an IPv6 address", "web1", "deliver on web1 ([fd00::5]:22): connection lost", "web1 ([fd00::5]:22)", "deliver: connection lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lead, rest := deploy.HostText(tt.host, tt.msg)
			if lead != tt.lead || rest != tt.rest {
				t.Errorf("got %q, %q; want %q, %q", lead, rest, tt.lead, tt.rest)
			}
		})
	}
}
