package bench

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// tool is a deploy tool set up for one cell: n hosts, one artifact set.
type tool interface {
	// prepare readies the next measured deploy, unmeasured; first is true
	// before the first one.
	prepare(first bool) error
	// deploy deploys build to every host and returns once it is live and
	// health-checked.
	deploy(m *meter, build string) error
	// rollback switches every host back to the previous release.
	rollback(m *meter) error
	// finish ends the run, unmeasured, after its rollback or its failure.
	finish() error
}

// result holds a tool's measured runs in one cell.
type result struct {
	Deploys, Rollbacks []sample
	// Repeated is why a run failed and was run again (hung: killed for
	// outliving the timeout; or the tool's own error), or "".
	Repeated string
	// Hung is set when a peer's run hung: the row ends there, with the
	// runs measured before it, if any.
	Hung bool
	// RollbackHung is set when a peer's deploy finished and checked out
	// on every host but its rollback hung: the row ends there, that
	// deploy counting (see rollbackCell).
	RollbackHung bool
	// RollbackSkipped is set when a peer's rollback was not run, as its
	// time scaled from fewer hosts outlives the timeout (see
	// projection.rollbackAfter): each run's deploy counts, and the hosts
	// are seeded again after it.
	RollbackSkipped bool
	// RollbackProjected is the rollback time that decided RollbackSkipped.
	RollbackProjected time.Duration
}

// projection is a peer's times scaled from its row with fewer hosts; 0
// where none was measured.
type projection struct {
	Deploy, Rollback time.Duration
}

// rollbackAfter is the rollback's projection once the row's first deploy
// took deploy: scaled up by as much as that deploy outran its own
// projection, never down. Going from 10 to 50 hosts a CPU-bound peer
// slows by more than the hosts' ratio, and its rollback by as much:
// Capistrano's 10-host rollback of 23.1 s scaled to 115.6 s at 50 hosts,
// under the 120 s timeout, and the 50-host one was killed at the timeout,
// its deploy having taken 37.9 s against the 36.2 s scaled from 10 hosts.
// Waiting for that kill cost the harness's time budget two minutes.
func (p projection) rollbackAfter(deploy time.Duration) time.Duration {
	if p.Deploy <= 0 || deploy <= p.Deploy {
		return p.Rollback
	}
	return time.Duration(float64(p.Rollback) * float64(deploy) / float64(p.Deploy))
}

// runTool measures t on the first n hosts. The hosts are seeded with
// build 1; then each run removes releases/2 from every host, deploys
// build 2 (measured, with build 1 current and a fresh release directory),
// verifies every host, rolls back (measured) and verifies again. Any failed
// check fails the benchmark. A run whose command hangs or fails is run once
// more from freshly seeded hosts, and the table says so; a second failure
// fails the benchmark. At 50 hosts a peer is sometimes seen to fail on its
// own (Capistrano: "closed stream" from net-ssh) or to hang.
//
// A peer's run that hangs ends its row (Hung) rather than the benchmark.
// It is run again first only where proj, its deploy's time scaled from
// fewer hosts (0: none measured), is under a quarter of the timeout: a
// hang nothing predicted, as Capistrano's at 50 hosts, whose run takes
// 15–20 s, now and then, and whose row would otherwise be empty. At 50
// hosts on a slow VM Ansible outlives the timeout run after run, and
// running it again cost the time budget minutes for nothing. Switchman
// hanging is run again, then a failure.
//
// A peer whose rollback, scaled from fewer hosts, would outlive the
// timeout is not rolled back: Capistrano archiving 50 releases of 100 MB
// outlived it on every VM slower than the fastest, and waiting for the
// kill cost the time budget two minutes for nothing. That is decided
// after the row's first deploy (projection.rollbackAfter). Its hosts are
// seeded again after each deploy instead.
func (e *env) runTool(label string, t tool, n int, set *artifactSet, k knobs, peer bool, proj projection) result {
	e.b.Helper()
	e.seed(n, set)
	if err := e.verify(n, "1", set.Expect["1"]); err != nil {
		e.b.Fatalf("%s: seeded hosts: %v", label, err)
	}
	var r result
	start := time.Now()
	for i := 0; k.more(i, time.Since(start)); i++ {
		if i > 0 && r.RollbackSkipped {
			e.seed(n, set)
		}
		rollback := func(d sample) bool {
			if i == 0 && peer {
				r.RollbackProjected = proj.rollbackAfter(d.Wall)
				r.RollbackSkipped = r.RollbackProjected > k.Timeout
			}
			return !r.RollbackSkipped
		}
		d, rb, err := e.runOnce(t, n, set, i == 0, rollback)
		hung := func() bool { return err != nil && peer && errors.Is(err, errHung) }
		// Only the rollback hung: running the deploy again would end the
		// same way, minutes later (Capistrano archiving 50 releases of 100
		// MB on a slow VM outlives the timeout every time).
		rollbackHung := func() bool { return hung() && errors.Is(err, errRollback) }
		again := err != nil && r.Repeated == "" && !rollbackHung() && (!hung() || unexpectedHang(proj.Deploy, k.Timeout))
		if again {
			r.Repeated, _, _ = strings.Cut(err.Error(), "\n")
			e.progress("%s run %d: %s; seeding the hosts again and running it again", label, i+1, r.Repeated)
			e.seed(n, set)
			d, rb, err = e.runOnce(t, n, set, i == 0, rollback)
		}
		if rollbackHung() {
			// The deploy finished and every host checked out: it counts.
			r.RollbackHung = true
			r.Deploys = append(r.Deploys, d)
			e.progress("%s run %d: deploy %s (cpu %s, hosts %s), rollback hung; the row ends here", label, i+1,
				d.Wall.Round(time.Millisecond), d.CPU.Round(time.Millisecond), d.HostCPU.Round(time.Millisecond))
			break
		}
		if hung() {
			r.Hung = true
			if !again {
				r.Repeated = errHung.Error()
			}
			e.progress("%s run %d: hung; the row ends here", label, i+1)
			break
		}
		if err != nil {
			e.b.Fatalf("%s: %v", label, err)
		}
		if r.RollbackSkipped {
			e.progress("%s run %d: deploy %s (cpu %s, hosts %s), rollback not run", label, i+1,
				d.Wall.Round(time.Millisecond), d.CPU.Round(time.Millisecond), d.HostCPU.Round(time.Millisecond))
			r.Deploys = append(r.Deploys, d)
			continue
		}
		e.progress("%s run %d: deploy %s (cpu %s, hosts %s), rollback %s (cpu %s, hosts %s)", label, i+1,
			d.Wall.Round(time.Millisecond), d.CPU.Round(time.Millisecond), d.HostCPU.Round(time.Millisecond),
			rb.Wall.Round(time.Millisecond), rb.CPU.Round(time.Millisecond), rb.HostCPU.Round(time.Millisecond))
		r.Deploys = append(r.Deploys, d)
		r.Rollbacks = append(r.Rollbacks, rb)
	}
	return r
}

// unexpectedHang reports whether a peer's hang is worth a second run: its
// deploy scaled from fewer hosts (proj, 0 if none) is well within timeout.
func unexpectedHang(proj, timeout time.Duration) bool {
	return proj > 0 && proj < timeout/4
}

// runOnce is one run of runTool; where rollback, given the deploy's
// sample, says no, it ends once the deploy has checked out on every host.
//
// The deploy leaves what the tool keeps running (the bot, Ansible's
// ControlPersist masters) for the rollback, which thus finds the
// connections warm as a rollback right after a deploy does.
func (e *env) runOnce(t tool, n int, set *artifactSet, first bool, rollback func(sample) bool) (deploy, back sample, err error) {
	e.removeRelease(n, "2")
	defer func() {
		if ferr := t.finish(); ferr != nil && err == nil {
			err = fmt.Errorf("finish: %w", ferr)
		}
		// Reaped uncounted: what a failed run left behind, and the hosts'
		// shells that outlive the connections the tool closed as it
		// finished (a session's shell may exit after its sshd, and is then
		// re-parented here). Those were counted as the hosts' CPU while
		// they ran; left for the next rollback's measure to reap, their
		// whole CPU time was added to that tool's (about 1 s at 50 hosts).
		_ = quiesce(e.listeners(), 10*time.Second)
		reapOrphans(e.keep, e.live)
	}()
	if err := t.prepare(first); err != nil {
		return deploy, back, err
	}
	if deploy, err = e.measureWarm(func(m *meter) error { return t.deploy(m, "2") }); err != nil {
		return deploy, back, fmt.Errorf("deploy 2: %w", err)
	}
	if err := e.verify(n, "2", set.Expect["2"]); err != nil {
		return deploy, back, fmt.Errorf("after deploy 2: %w", err)
	}
	if !rollback(deploy) {
		return deploy, back, nil
	}
	if back, err = e.measure(func(m *meter) error { return t.rollback(m) }); err != nil {
		return deploy, back, fmt.Errorf("%w: %w", errRollback, err)
	}
	if err := e.verify(n, "1", set.Expect["1"]); err != nil {
		return deploy, back, fmt.Errorf("after rollback: %w", err)
	}
	return deploy, back, nil
}

// errRollback marks runOnce's failures of the rollback, which come after
// a deploy that finished and checked out on every host.
var errRollback = errors.New("rollback")

// rollbackCell is the rollback column of a row: the median of its
// rollbacks, a hung one counted as the timeout, which is then a lower
// bound. The row ends at a hung rollback, so it sorts last and decides the
// median only where at most one rollback finished: "> " marks that.
func rollbackCell(r result, k knobs) string {
	if r.RollbackSkipped {
		return "> " + secs(k.Timeout)
	}
	rbs := r.Rollbacks
	if r.RollbackHung {
		rbs = append(slices.Clone(rbs), sample{Wall: k.Timeout})
		if len(rbs) <= 2 {
			return "> " + secs(median(rbs).Wall)
		}
	}
	return secs(median(rbs).Wall)
}

// rollbackSkippedNote is the line under a table for a peer's row whose
// rollback was not run: from its rollback with fewer hosts (hosts, wall)
// and, where the row's first deploy outran its own projection, by how
// much (see projection.rollbackAfter).
func rollbackSkippedNote(row string, hosts int, wall time.Duration, n int, proj projection, projected, timeout time.Duration) string {
	scaled := proj.Rollback.Round(time.Second)
	how := fmt.Sprintf("so %d hosts would take about %s", n, scaled)
	if projected.Round(time.Second) != scaled {
		how = fmt.Sprintf("%s, and its %d-host deploy took %.2f × the time scaled from fewer hosts, so %d hosts would take about %s",
			how, n, float64(projected)/float64(proj.Rollback), n, projected.Round(time.Second))
	}
	return fmt.Sprintf("%s: rollback not run: its %d-host rollback took %s, %s, beyond the %s timeout (BENCH_TIMEOUT_SECONDS); each run's deploy counts, and the hosts were seeded with build 1 again after it.",
		row, hosts, wall.Round(10*time.Millisecond), how, timeout)
}

// repeatNote is the line under a table for a row that had a run repeated
// or ended by a hang.
func repeatNote(row string, r result, k knobs) string {
	if r.RollbackHung {
		what := fmt.Sprintf("the rollback of run %d was still running after %s and was killed; the row ends there, and that run's deploy, which finished and checked out on every host, counts", len(r.Deploys), k.Timeout)
		if r.Repeated != "" {
			return fmt.Sprintf("%s: 1 run failed (%s) and was run again from freshly seeded hosts; %s.", row, r.Repeated, what)
		}
		return fmt.Sprintf("%s: %s.", row, what)
	}
	// what the first failed run did
	what := fmt.Sprintf("failed (%s)", r.Repeated)
	if strings.Contains(r.Repeated, errHung.Error()) {
		what = fmt.Sprintf("hung (still running after %s) and was killed", k.Timeout)
	}
	if !r.Hung {
		return fmt.Sprintf("%s: 1 run %s, and was run again from freshly seeded hosts.", row, what)
	}
	shown := fmt.Sprintf("the row shows the %d runs measured before it", len(r.Deploys))
	if len(r.Deploys) == 0 {
		shown = "no run of the row finished"
	}
	if r.Repeated == errHung.Error() { // not run again
		return fmt.Sprintf("%s: a run was still running after %s and was killed; %s.", row, k.Timeout, shown)
	}
	return fmt.Sprintf("%s: a run %s, was run again from freshly seeded hosts, and hung (killed after %s); %s.", row, what, k.Timeout, shown)
}

// floors measures the floors of art on n hosts: (c), the floor of the
// ratios, as many times as a tool runs; (a) and (b), which only show where
// the time goes, once.
func (e *env) floors(label string, art artifact, n int, k knobs) (map[string]sample, int) {
	e.b.Helper()
	out := map[string]sample{}
	runs := 0
	for _, kind := range []string{floorLocal, floorStream, floorUnpack} {
		var ss []sample
		start := time.Now()
		for i := 0; i == 0 || kind == floorUnpack && k.more(i, time.Since(start)); i++ {
			s, err := e.floor(kind, art, n)
			if err != nil {
				e.b.Fatalf("%s: floor %s: %v", label, floorNames[kind], err)
			}
			ss = append(ss, s)
		}
		out[kind] = median(ss)
		runs = len(ss)
		e.progress("%s floor %s: %s (median of %d)", label, floorNames[kind], out[kind].Wall.Round(time.Millisecond), len(ss))
	}
	return out, runs
}

// copyTestdata copies testdata/peers/name into dir.
func copyTestdata(name, dir string) error {
	return os.CopyFS(dir, os.DirFS("testdata/peers/"+name))
}

func ratio(d, floor time.Duration) string {
	if floor <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", d.Seconds()/floor.Seconds())
}

func mbCell(n int64) string { return fmt.Sprintf("%.0f", mib(n)) }

// note formats the lines printed under a table.
func note(lines ...string) string {
	return "\n" + strings.Join(lines, "\n") + "\n"
}
