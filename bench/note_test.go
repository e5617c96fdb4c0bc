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

// TestRollbackAfter checks when a peer's rollback is projected to
// outlive the timeout, from its rollback and deploy with fewer hosts and
// the row's first deploy.
func TestRollbackAfter(t *testing.T) {
	timeout := 2 * time.Minute
	tests := []struct {
		name   string
		proj   projection
		deploy time.Duration
		want   time.Duration
		skip   bool
	}{
		// Capistrano, 50 hosts × 100 MB, from 10 hosts: 23.12 s and 7.24 s.
		{"deploy slower than scaled", projection{Deploy: 36200 * time.Millisecond, Rollback: 115600 * time.Millisecond}, 37900 * time.Millisecond, 121028729281 * time.Nanosecond, true},
		{"deploy as scaled", projection{Deploy: 36200 * time.Millisecond, Rollback: 115600 * time.Millisecond}, 36200 * time.Millisecond, 115600 * time.Millisecond, false},
		{"deploy faster than scaled: never down", projection{Deploy: 37200 * time.Millisecond, Rollback: 133600 * time.Millisecond}, 36140 * time.Millisecond, 133600 * time.Millisecond, true},
		{"no deploy scaled", projection{Rollback: 50 * time.Second}, 40 * time.Second, 50 * time.Second, false},
		{"no rollback scaled", projection{Deploy: 10 * time.Second}, 40 * time.Second, 0, false},
	}
	for _, tt := range tests {
		got := tt.proj.rollbackAfter(tt.deploy)
		if got != tt.want {
			t.Errorf("%s: rollbackAfter(%s) = %s, want %s", tt.name, tt.deploy, got, tt.want)
		}
		if skip := got > timeout; skip != tt.skip {
			t.Errorf("%s: skipped = %v, want %v", tt.name, skip, tt.skip)
		}
	}
}

// TestRollbackSkippedNote checks the line under the table for a peer
// whose rollback was not run.
func TestRollbackSkippedNote(t *testing.T) {
	tests := []struct {
		name      string
		proj      projection
		wall      time.Duration
		projected time.Duration
		want      string
	}{
		{"scaled up by the deploy", projection{Deploy: 36200 * time.Millisecond, Rollback: 115600 * time.Millisecond}, 23120 * time.Millisecond, 133600 * time.Millisecond,
			"cap: rollback not run: its 10-host rollback took 23.12s, so 50 hosts would take about 1m56s, and its 50-host deploy took 1.16 × the time scaled from fewer hosts, so 50 hosts would take about 2m14s, beyond the 2m0s timeout (BENCH_TIMEOUT_SECONDS); each run's deploy counts, and the hosts were seeded with build 1 again after it."},
		{"scaled by the hosts", projection{Deploy: 37200 * time.Millisecond, Rollback: 133600 * time.Millisecond}, 26720 * time.Millisecond, 133600 * time.Millisecond,
			"cap: rollback not run: its 10-host rollback took 26.72s, so 50 hosts would take about 2m14s, beyond the 2m0s timeout (BENCH_TIMEOUT_SECONDS); each run's deploy counts, and the hosts were seeded with build 1 again after it."},
	}
	for _, tt := range tests {
		if got := rollbackSkippedNote("cap", 10, tt.wall, 50, tt.proj, tt.projected, 2*time.Minute); got != tt.want {
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
