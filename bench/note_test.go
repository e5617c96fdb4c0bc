package bench

import (
	"testing"
	"time"
)

// TestRepeatNote checks the line under the table for each way a row's
// run can have gone wrong.
func TestRepeatNote(t *testing.T) {
	k := knobs{Timeout: 2 * time.Minute}
	one := []sample{{Wall: time.Second}}
	hung := "deploy 2: " + errHung.Error() + ": killed after 2m0s"
	tests := []struct {
		name string
		r    result
		want string
	}{
		{"failed, then ran", result{Deploys: one, Repeated: "deploy 2: exit status 1"},
			"cap: 1 run failed (deploy 2: exit status 1), and was run again from freshly seeded hosts."},
		{"hung, then ran", result{Deploys: one, Repeated: hung},
			"cap: 1 run hung (still running after 2m0s) and was killed, and was run again from freshly seeded hosts."},
		{"hung, not repeated", result{Repeated: errHung.Error(), Hung: true},
			"cap: a run was still running after 2m0s and was killed; no run of the row finished."},
		{"hung twice", result{Deploys: one, Repeated: hung, Hung: true},
			"cap: a run hung (still running after 2m0s) and was killed, was run again from freshly seeded hosts, and hung (killed after 2m0s); the row shows the 1 runs measured before it."},
		{"failed, then hung", result{Repeated: "deploy 2: closed stream", Hung: true},
			"cap: a run failed (deploy 2: closed stream), was run again from freshly seeded hosts, and hung (killed after 2m0s); no run of the row finished."},
		{"rollback hung", result{Deploys: one, RollbackHung: true},
			"cap: the rollback of run 1 was still running after 2m0s and was killed; the row ends there, and that run's deploy, which finished and checked out on every host, counts."},
		{"failed, then the rollback hung", result{Deploys: one, Repeated: "deploy 2: exit status 1", RollbackHung: true},
			"cap: 1 run failed (deploy 2: exit status 1) and was run again from freshly seeded hosts; the rollback of run 1 was still running after 2m0s and was killed; the row ends there, and that run's deploy, which finished and checked out on every host, counts."},
	}
	for _, tt := range tests {
		if got := repeatNote("cap", tt.r, k); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// TestUnexpectedHang checks which peers' hangs are run again.
func TestUnexpectedHang(t *testing.T) {
	tests := []struct {
		proj time.Duration
		want bool
	}{
		{0, false},               // no smaller fleet measured: nothing predicted it
		{17 * time.Second, true}, // Capistrano, 50 hosts, from 10
		{29 * time.Second, true},
		{30 * time.Second, false},  // a quarter of the timeout
		{100 * time.Second, false}, // Ansible on a slow VM
	}
	for _, tt := range tests {
		if got := unexpectedHang(tt.proj, 2*time.Minute); got != tt.want {
			t.Errorf("projected %s: got %v, want %v", tt.proj, got, tt.want)
		}
	}
}

// TestRollbackCell checks the rollback column of a row whose last
// rollback hung: counted as the timeout, a lower bound where it decides
// the median.
func TestRollbackCell(t *testing.T) {
	k := knobs{Timeout: 2 * time.Minute}
	walls := func(ss ...float64) []sample {
		var out []sample
		for _, s := range ss {
			out = append(out, sample{Wall: time.Duration(s * float64(time.Second))})
		}
		return out
	}
	tests := []struct {
		name string
		r    result
		want string
	}{
		{"all finished", result{Rollbacks: walls(3, 1, 2)}, "2.00"},
		{"the only one hung", result{RollbackHung: true}, "> 120.00"},
		{"one finished, then one hung", result{Rollbacks: walls(100), RollbackHung: true}, "> 110.00"},
		{"two finished, then one hung", result{Rollbacks: walls(100, 90), RollbackHung: true}, "100.00"},
		{"three finished, then one hung", result{Rollbacks: walls(100, 90, 80), RollbackHung: true}, "95.00"},
		{"not run, as it would outlive the timeout", result{RollbackSkipped: true}, "> 120.00"},
	}
	for _, tt := range tests {
		if got := rollbackCell(tt.r, k); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
