package deploy

import (
	"errors"
	"testing"
)

func TestWithHost(t *testing.T) {
	tests := []struct {
		name, host, err, want string
	}{
		{"named with its address", "web1", "ssh: web1 (10.0.0.5:22): unknown host key", "ssh: web1 (10.0.0.5:22): unknown host key"},
		{"named at the start", "web1", "web1 (10.0.0.5:22): refused", "web1 (10.0.0.5:22): refused"},
		{"not named", "web1", "inspect: exit status 1", "web1: inspect: exit status 1"},
		{"another host named", "web1", "ssh: web10 (10.0.0.6:22): unknown host key", "web1: ssh: web10 (10.0.0.6:22): unknown host key"},
		{"its name in a path", "web", "inspect: /srv/web (a file): not a directory", "web: inspect: /srv/web (a file): not a directory"},
		{"named alone", "host0", "ssh: host0: session closed", "ssh: host0: session closed"},
		{"named alone further in", "host0", "could not look: ssh: host0: session closed", "could not look: ssh: host0: session closed"},
		{"another host named alone", "web1", "ssh: web10: session closed", "web1: ssh: web10: session closed"},
		{"its name before a colon, not after ssh", "web1", "inspect: web1: not found", "web1: inspect: web1: not found"},
		{"named by a script with a process", "web1", "exit status 1: supervisor: web1 (pid 42): exited", "web1: exit status 1: supervisor: web1 (pid 42): exited"},
		{"named with an IPv6 address", "web1", "ssh: web1 ([fd00::5]:2222): connection lost", "ssh: web1 ([fd00::5]:2222): connection lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cause := errors.New(tt.err)
			got := withHost(tt.host, cause)
			if got.Error() != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if !errors.Is(got, cause) {
				t.Errorf("got %v, which does not wrap %v", got, cause)
			}
		})
	}
}

func TestHostLead(t *testing.T) {
	tests := []struct {
		name, host, err, lead, rest string
	}{
		{"named with its address", "web1", "ssh: web1 (10.0.0.5:22): connection lost", "web1 (10.0.0.5:22)", "connection lost"},
		{"named alone", "web1", "ssh: web1: session closed", "web1", "session closed"},
		{"not named", "web1", "inspect: exit status 1", "web1", "inspect: exit status 1"},
		{"another host named", "web1", "ssh: web10 (10.0.0.6:22): connection lost", "web1", "ssh: web10 (10.0.0.6:22): connection lost"},
		{"named alone further in", "host0", "could not look: ssh: host0: session closed", "host0", "could not look: session closed"},
		{"named with its address further in", "web1", "could not look: ssh: web1 (10.0.0.5:22): connection lost", "web1 (10.0.0.5:22)", "could not look: connection lost"},
		{"another host named alone", "web1", "ssh: web10: session closed", "web1", "ssh: web10: session closed"},
		{"its name before a colon, not after ssh", "web1", "inspect: web1: not found", "web1", "inspect: web1: not found"},
		{"named by a script with a process", "web1", "exit status 1: supervisor: web1 (pid 42): exited", "web1", "exit status 1: supervisor: web1 (pid 42): exited"},
		{"named by a script, then by the transport", "web1", "read stdin: web1 (pid 42): gone; ssh: web1 (10.0.0.5:22): connection lost",
			"web1 (10.0.0.5:22)", "read stdin: web1 (pid 42): gone; connection lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cause := errors.New(tt.err)
			lead, rest := hostLead(tt.host, cause)
			if lead != tt.lead || rest.Error() != tt.rest {
				t.Errorf("got %q, %q; want %q, %q", lead, rest, tt.lead, tt.rest)
			}
			if !errors.Is(rest, cause) {
				t.Errorf("got %v, which does not wrap %v", rest, cause)
			}
		})
	}
}

func TestNamesHost(t *testing.T) {
	tests := []struct {
		name, host, msg string
		want            bool
	}{
		{"with its address", "web1", "ssh: web1 (10.0.0.5:22): unknown host key", true},
		{"alone after ssh", "host0", "ssh: host0: session closed", true},
		{"alone after ssh, further in", "host0", "could not look: ssh: host0: session closed", true},
		{"another host alone", "web1", "ssh: web10: session closed", false},
		{"a longer name ending in it", "b1", "ssh: web1: session closed", false},
		{"before a colon, not after ssh", "web1", "inspect: web1: not found", false},
		{"not named", "web1", "inspect: exit status 1", false},
		{"by a script with a process", "web1", "exit status 1: supervisor: web1 (pid 42): exited", false},
		{"by a script with words", "web1", "exit status 1: web1 (the old one): stopped", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NamesHost(tt.host, tt.msg); got != tt.want {
				t.Errorf("NamesHost(%q, %q) = %v, want %v", tt.host, tt.msg, got, tt.want)
			}
		})
	}
}
