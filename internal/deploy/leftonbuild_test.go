package deploy

import "testing"

// TestLeftOnBuild: a cancelled deploy is said to have left its build on
// the hosts it switched to their first release, and on no other: not on
// one it switched back, nor one that ran the build before it; a host lost
// during its switch is named with what it may run, and a long list is cut.
func TestLeftOnBuild(t *testing.T) {
	first := HostResult{Host: "web-1", State: HostActive, Current: "3", Switched: true}
	back := HostResult{Host: "web-2", State: HostReverted, Current: "2", Previous: "2", Switched: true}
	before := HostResult{Host: "web-3", State: HostUnchanged, Current: "3", Previous: "3"}
	lost := HostResult{Host: "web-4", State: HostFailed, Switching: "3", Lost: true}
	many := func(n int) []HostResult {
		var out []HostResult
		for i := range n {
			h := first
			h.Host = "h" + string(rune('0'+i))
			out = append(out, h)
		}
		return out
	}
	for _, tt := range []struct {
		name    string
		kind    Kind
		outcome Outcome
		hosts   []HostResult
		want    string
	}{
		{"first release", KindDeploy, OutcomeCancelled, []HostResult{first, back, before}, "cancelled, left on 3 on web-1"},
		{"all switched back", KindDeploy, OutcomeCancelled, []HostResult{back, before}, "cancelled"},
		{"lost during its switch", KindDeploy, OutcomeCancelled, []HostResult{first, lost}, "cancelled, left on 3 on web-1; on 3 or no release yet on web-4"},
		{"seven hosts", KindDeploy, OutcomeCancelled, many(7), "cancelled, left on 3 on h0, h1, h2, h3, h4 and 2 more"},
		{"not cancelled", KindDeploy, OutcomePartial, []HostResult{first}, "partial"},
		{"reverted, none went back", KindDeploy, OutcomeReverted, []HostResult{first}, "failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &Record{Kind: tt.kind, Outcome: tt.outcome, Build: "3", Hosts: tt.hosts}
			if got := r.SaidText(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
