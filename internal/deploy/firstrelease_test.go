package deploy

import "testing"

// TestFirstReleaseText: hosts a failed or cancelled deploy gave their
// first release have nothing to switch back to. One it switched is on the
// build; one it lost during its switch (its `current` unread) may be on
// the build or have no release at all, and is not said to be on it.
func TestFirstReleaseText(t *testing.T) {
	on := func(name string) HostResult {
		return HostResult{Host: name, State: HostFailed, Current: "1", Switched: true}
	}
	lost := func(name string) HostResult {
		return HostResult{Host: name, State: HostFailed, Switching: "1"}
	}
	tests := []struct {
		name      string
		hosts     []HostResult
		cancelled bool
		want      string
	}{
		{"switched", []HostResult{on("web1"), on("web2")}, false,
			"no earlier release to switch back to on web1, web2, left on 1 — deploy a fixed build"},
		{"lost", []HostResult{lost("web2")}, false,
			"no earlier release to switch back to on web2, lost during its switch: it may be on 1 or have no release yet — deploy a fixed build"},
		{"switched and lost", []HostResult{on("web1"), lost("web2"), lost("web3")}, false,
			"no earlier release to switch back to on web1, left on 1, nor on web2, web3, lost during their switch: each may be on 1 or have no release yet — deploy a fixed build"},
		{"cancelled, switched", []HostResult{on("web1")}, true,
			"web1 stays on 1, its first release: there is nothing to switch back to"},
		{"cancelled, switched and lost", []HostResult{on("web1"), on("web2"), lost("web3")}, true,
			"web1, web2 stay on 1, their first release; web3, lost during its switch to its first release, may be on 1 or have no release yet: there is nothing to switch back to"},
		{"cancelled, lost", []HostResult{lost("web2"), lost("web3")}, true,
			"web2, web3, lost during their switch to their first release, may each be on 1 or have no release yet: there is nothing to switch back to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := firstReleaseText(tt.hosts, "1", tt.cancelled); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
