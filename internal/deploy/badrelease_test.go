package deploy

import (
	"strings"
	"testing"
)

// TestBadReleaseWarning: the dry run names the hosts on which the build
// is marked bad, or says every reachable host when all of several are.
func TestBadReleaseWarning(t *testing.T) {
	tests := []struct {
		name      string
		hosts     []string
		reachable int
		want      string
	}{
		{"one host", []string{"web1"}, 1, "release 3 is marked bad on web1 ("},
		{"some hosts", []string{"web1", "web3"}, 3, "release 3 is marked bad on web1, web3 ("},
		{"every host", []string{"web1", "web2", "web3"}, 3, "release 3 is marked bad on every reachable host ("},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := badReleaseWarning("3", tt.hosts, tt.reachable)
			if !strings.HasPrefix(got, tt.want) || !strings.Contains(got, "switching a host to it clears its marker") {
				t.Errorf("got %q, want it to start with %q and say what the deploy does about the marker", got, tt.want)
			}
		})
	}
}
