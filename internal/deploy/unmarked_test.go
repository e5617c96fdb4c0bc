package deploy

import (
	"errors"
	"testing"
)

// TestUnmarkedTextNamesHostsOnce: the report of a release that could not
// be marked bad names the hosts, and the error it quotes without naming
// its host again; of several hosts, that error is said of its host, as
// the SSH transport names it. It said "(ssh: host0 (10.0.0.5:22): …)"
// then, or an error naming no host, whoever's it was.
func TestUnmarkedTextNamesHostsOnce(t *testing.T) {
	const pick = ": a rollback there may still pick it"
	tests := []struct {
		name  string
		hosts []string
		err   string
		want  string
	}{
		{"one host, named with its address", []string{"host0"}, "ssh: host0 (10.0.0.5:22): connection lost", "could NOT mark release 2 bad on host0 (connection lost)" + pick},
		{"one host, not named", []string{"host0"}, "exit status 2: No space left on device", "could NOT mark release 2 bad on host0 (exit status 2: No space left on device)" + pick},
		{"two hosts, named with its address", []string{"host0", "host1"}, "ssh: host0 (10.0.0.5:22): connection lost", "could NOT mark release 2 bad on host0, host1 (host0 (10.0.0.5:22): connection lost)" + pick},
		{"two hosts, named alone", []string{"host0", "host1"}, "ssh: host0: session closed", "could NOT mark release 2 bad on host0, host1 (host0: session closed)" + pick},
		{"two hosts, not named", []string{"host0", "host1"}, "exit status 2: No space left on device", "could NOT mark release 2 bad on host0, host1 (host0: exit status 2: No space left on device)" + pick},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unmarkedText("2", tt.hosts, errors.New(tt.err)); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
