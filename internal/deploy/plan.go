package deploy

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/switchman-bot/switchman/internal/errs"
)

// Plan reports what a deploy of req would do, reading the hosts and the
// artifact store but changing nothing and taking no lease.
func (e *Engine) Plan(ctx context.Context, req Request) (*Plan, error) {
	if !ValidBuild(req.Build) {
		return nil, errs.New(errs.Invalid, "invalid build %q", req.Build)
	}
	t, err := e.resolve(req.App, req.Env)
	if err != nil {
		return nil, err
	}
	src := t.source()
	p := &Plan{Kind: KindDeploy, App: t.app.Name, Env: t.env.Name, Build: req.Build}
	info, err := src.Stat(ctx, t.app.Name, req.Build)
	if err != nil {
		return nil, src.Refusal(t.app.Name, req.Build, err)
	}
	check := "no checksum published, checked for structure only: artifact.checksum is optional"
	if info.SHA256 != "" {
		check = "sha256 verified against " + src.Display(t.app.Name, req.Build) + ".sha256"
	}
	r := &run{e: e, t: t, log: e.log.With("app", t.app.Name, "env", t.env.Name), hosts: t.hosts()}
	ctx = WithLog(ctx, r.log)
	// All at once, as the deploy opens them: hosts that hang cost one
	// connect_timeout together, not one each.
	states := map[string]hostState{}
	unreachable := map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range r.hosts {
		wg.Go(func() {
			st, err := e.inspect(ctx, t, h, t.env.MinFreeSpaceBytes() > 0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				unreachable[h.Name] = err
				return
			}
			states[h.Name] = st
		})
	}
	wg.Wait()
	// Hosts the last run left on this build without a passing restart are
	// restarted again by the deploy, not skipped as running it already.
	last, recs, busy, err := e.lastRunPlanned(ctx, t, states, unreachable)
	if err != nil {
		return nil, err
	}
	if busy != nil {
		// The deploy is refused before it reads a host, as the plan,
		// drawn from hosts another run changes under it, would not say.
		p.Refusals = append(p.Refusals, errs.Message(busy))
	}
	// The deploy refuses an unusable balancer before it changes anything,
	// and leaves out of rotation a host someone took out: so says its
	// dry run.
	keepOut, leftBehind, err := e.poolCheckAfter(ctx, t, r.hosts, func() ([]*Record, error) { return recs, nil }, "", "a deploy would be refused")
	if err != nil {
		return nil, err
	}
	stuck := leftOn(last, req.Build)
	switching, delivering, reachable := 0, 0, 0
	var bad []string     // hosts on which the build is marked bad
	var putBack []string // hosts the deploy puts back into rotation (see toPutBack)
	for _, h := range r.hosts {
		hp := HostPlan{Host: h.Name}
		st, err := states[h.Name], unreachable[h.Name]
		if err == nil {
			reachable++
			if st.Bad[req.Build] {
				bad = append(bad, h.Name)
			}
		}
		switch {
		case err != nil:
			hp.Change = "unreachable: " + err.Error()
		case st.Current == req.Build && stuck[h.Name]:
			hp.Current, hp.HasRelease, hp.Change = st.Current, true, fmt.Sprintf("restart and health-check again on %s (%s %s left it switched without a passing restart)", req.Build, last.Kind, last.ID)
			switching++
		case st.Current == req.Build:
			hp.Current, hp.HasRelease, hp.Change = st.Current, true, "nothing (already current)"
		case st.has(req.Build):
			hp.Current, hp.HasRelease, hp.Change = st.Current, true, fmt.Sprintf("switch %s → %s (release already on disk)", orNone(st.Current), req.Build)
			switching++
		default:
			hp.Current, hp.Change = st.Current, fmt.Sprintf("deliver and switch %s → %s", orNone(st.Current), req.Build)
			switching++
			delivering++
		}
		if state := keepOut[h.Name]; state != "" && err == nil {
			hp.Change += fmt.Sprintf("; in %s in the load balancer, not left there by the last run: stays out of rotation, in maint", state)
		}
		if leftBehind[h.Name] && err == nil && st.Current == req.Build && !stuck[h.Name] {
			hp.Change += "; out of rotation, left there by the last run, which did not switch it: put back"
			putBack = append(putBack, h.Name)
		}
		p.Hosts = append(p.Hosts, hp)
	}
	// The deploy refuses to start without more hosts than max_failures
	// allows, or without any, before it finds it has nothing to do: a
	// plan of what it would do there is no answer to "what happens if I
	// deploy now".
	unusable := tooManyUnusable(t, r.hosts, unreachable, t.env.MaxFailures.Allowed(len(r.hosts)))
	if unusable != nil {
		p.Refusals = append(p.Refusals, errs.Message(unusable))
	}
	// As the deploy refuses hosts short of space once it has read them,
	// among the hosts it goes on with: an unreachable host is out by
	// then, and its refusal counts the others ("1 of 2", not "1 of 3").
	r.out = map[string]bool{}
	for _, h := range r.hosts {
		if err := unreachable[h.Name]; err != nil {
			r.out[h.Name] = true
			r.outErr = append(r.outErr, hostErr{h.Name, unusedState(err), err})
		}
	}
	short := shortOfSpace(t, r.live(), states, req.Build, info.Size)
	if short != nil {
		p.Refusals = append(p.Refusals, errs.Message(short))
	}
	// And short of inodes: the count of the build's entries reads the
	// artifact, as the deploy's does, only when some host may lack them.
	r.ctx, r.rec, r.states = ctx, &Record{Build: req.Build}, states
	fewInodes := r.shortOfInodes(src, info)
	if fewInodes != nil {
		p.Refusals = append(p.Refusals, errs.Message(fewInodes))
	}
	// As the deploy itself would answer, which with nothing to switch
	// still puts back the hosts the last run left out without a switch,
	// and names the hosts it went on without (see nothingToDo): "every
	// reachable host" alone left a host down taken for one on the build.
	if busy == nil && unusable == nil && short == nil && fewInodes == nil && reachable > 0 && switching == 0 {
		msg := fmt.Sprintf("%s already runs build %s on every reachable host; a deploy would do nothing", t.key(), req.Build)
		if len(putBack) > 0 {
			msg += fmt.Sprintf(" but put %s, left out of rotation by the last run without a switch, back into rotation", andList(putBack))
		}
		if len(r.outErr) > 0 {
			msg += "; " + r.notReached()
		} else if stuck, err := e.unresolvedPlanned(ctx, t, recs); err != nil {
			return nil, err
		} else if stuck != nil {
			// Having reached every host on one build, the deploy records
			// a run that resolves it: a write the dry run does not make,
			// but says.
			msg += fmt.Sprintf("; %s %s, interrupted, would be resolved: every host was reached and runs %s, which a deploy records (unchanged)", stuck.Kind, stuck.ID, req.Build)
		}
		return nil, errs.New(errs.NoChange, "%s", msg)
	}
	fetch := fmt.Sprintf("fetch %s (%s) and unpack into %s/releases/%s on %d host(s), up to %d at once", src.Display(t.app.Name, req.Build), check, t.app.Path, req.Build, delivering, t.env.Parallel)
	switch {
	case reachable == 0:
		fetch = "fetch nothing: no host could be used"
	case delivering == 0:
		fetch = fmt.Sprintf("fetch nothing: every reachable host has %s/releases/%s on disk", t.app.Path, req.Build)
	}
	p.Steps = []string{fetch}
	if len(t.app.Shared) > 0 {
		p.Steps = append(p.Steps, fmt.Sprintf("link shared paths %v", t.app.Shared))
	}
	if t.app.Migrations.List != "" {
		p.Steps = append(p.Steps, migrationStep(t))
	}
	var leftOut []string // in config order, as the deploy names them
	for _, h := range r.hosts {
		if unreachable[h.Name] != nil {
			leftOut = append(leftOut, h.Name)
		}
	}
	p.Steps = append(p.Steps, activationStep(t, len(r.hosts), switching, leftOut), fmt.Sprintf("keep the newest %d good releases", t.app.KeepReleases))
	if len(bad) > 0 {
		p.Warnings = append(p.Warnings, badReleaseWarning(req.Build, bad, reachable))
	}
	// The deploy searches the hosts it reaches for what dead runs left,
	// and refuses to migrate beside migrations it could not stop. Whether
	// any are pending, only the deploy learns (the release may not be on
	// disk yet): the dry run says what it would do if some are.
	if busy == nil && t.app.Migrations.Run != "" && len(recs) > 0 {
		r.recent = recs
		dead, _, err := r.deadRuns()
		if err != nil {
			return nil, err
		}
		searched := map[string]bool{}
		for name := range states {
			searched[name] = true
		}
		if left := migrationsLeft(recs, dead, r.hosts, searched); len(left) > 0 {
			p.Warnings = append(p.Warnings, "if any migrations are pending, a deploy now fails before running them: "+errs.Message(unstoppedMigrations(left)))
		}
	}
	return p, nil
}

// lastRunPlanned returns the run a deploy of t would take as the last to
// switch hosts (see lastSwitchingRun), and the records it read (newest
// first), the hosts found as states says
// and unreachable as it says. A run still recorded as running while no
// deploy holds t's lease died, and no recovery has reported it yet: the
// deploy takes it over first, marking it interrupted with the hosts as
// found (see takeOver), and then finishes what it left. So does its dry
// run, which would otherwise say the deploy does nothing there. Another
// run holding the lease refuses the deploy: busy is that refusal.
func (e *Engine) lastRunPlanned(ctx context.Context, t target, states map[string]hostState, unreachable map[string]error) (last *Record, recs []*Record, busy, err error) {
	recs, err = e.recentRecords(ctx, t)
	if err != nil {
		return nil, nil, nil, err
	}
	holder, err := e.leases.Holder(ctx, LeaseKey(t.app.Name, t.env.Name))
	if err != nil {
		return nil, nil, nil, StoreRefused(err)
	}
	id, _, _ := strings.Cut(holder, " ")
	if holder != "" && !strings.HasPrefix(id, "recovery:") {
		// A recovery holds it a moment, to mark a dead run: the deploy
		// after it is the one planned.
		busy = e.busy(ctx, t, "", holder)
	}
	if holder == "" || strings.HasPrefix(id, "recovery:") {
		var observed []HostResult
		for _, h := range t.hosts() {
			if st, ok := states[h.Name]; ok {
				observed = append(observed, HostResult{Host: h.Name, Current: st.Current, Previous: st.Previous})
			} else if err := unreachable[h.Name]; err != nil {
				observed = append(observed, HostResult{Host: h.Name, State: unusedState(err), Error: err.Error()})
			}
		}
		for _, rec := range recs {
			if rec.Outcome == OutcomeRunning {
				rec.Outcome = OutcomeInterrupted
				mergeObserved(rec, observed)
			}
		}
	}
	return lastSwitching(recs, ""), recs, busy, nil
}

// unresolvedPlanned returns the interrupted run of t a deploy with nothing
// to do would resolve (see nothingToDo), or nil, from recs as
// lastRunPlanned returned them: a run it marks interrupted is one the
// deploy takes over, as interrupted, before it finds nothing to do. Past
// recs, the deploy's own reading tells.
func (e *Engine) unresolvedPlanned(ctx context.Context, t target, recs []*Record) (*Record, error) {
	// recs holds at most the recentLimit newest records (see recentRecords).
	if stuck, complete := Unresolved(recs); complete || len(recs) < recentLimit {
		return stuck, nil
	}
	ctx, cancel := context.WithTimeout(ctx, defaultStoreTimeout)
	defer cancel()
	stuck, err := e.unresolved(ctx, t)
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "cannot read the deploy history of %s to see whether a deploy would resolve an interrupted run; nothing was changed", t.key())
	}
	return stuck, nil
}

// badReleaseWarning says that build is marked bad on hosts, of reachable
// ones, and what a deploy does about it. Deploying a bad release is
// allowed (running it again is deliberate), but whoever plans it should
// know before, not learn it from the next rollback's refusal.
func badReleaseWarning(build string, hosts []string, reachable int) string {
	on := "on " + strings.Join(hosts, ", ")
	if len(hosts) > 1 && len(hosts) == reachable {
		on = "on every reachable host"
	}
	return fmt.Sprintf("release %s is marked bad %s (a deploy of it failed, or a rollback left it), so no rollback goes to it; "+
		"deploying it is allowed, to run it again on purpose: switching a host to it clears its marker, and a failure marks it bad again", build, on)
}

// migrationStep says what the deploy does with pending migrations, by the
// env's policy.
func migrationStep(t target) string {
	s := "list pending migrations on the first host"
	if t.app.Migrations.Run == "" {
		return s
	}
	run := "run them there"
	if t.env.Backup != "" {
		run = "run the backup command, then the migrations, there"
	}
	switch t.env.Migrate {
	case "never":
		return s + "; if any are pending, refuse the deploy (migrate: never)"
	case "ask":
		return fmt.Sprintf("%s; if any are pending, ask the requester to confirm them (for up to %s), then %s before any host switches", s, t.env.ConfirmTimeout.D(), run)
	}
	return fmt.Sprintf("%s and %s before any host switches", s, run)
}

// activationStep says how the switching of hosts goes: the canary first
// (only when more hosts switch than the canary takes, as the deploy does
// it), the batches, and what a failure does within max_failures of all
// hosts and beyond. The hosts leftOut (unreachable or refused) count
// among the failures, as the deploy counts them.
func activationStep(t target, hosts, switching int, leftOut []string) string {
	var b strings.Builder
	b.WriteString("switch current atomically, restart and health-check")
	if t.pool != nil {
		b.WriteString(" (each host drained from the load balancer before its switch, and put back once healthy)")
	}
	if c := t.env.Canary; c > 0 && switching > c {
		fmt.Fprintf(&b, ": %d canary host(s) first, alone (a failing canary stops the deploy and is switched back), then the others %d at a time, the switched hosts checked again before each batch", c, t.env.BatchSize)
	} else {
		fmt.Fprintf(&b, ", %d host(s) at a time, the switched hosts checked again before each batch", t.env.BatchSize)
	}
	switch allowed := t.env.MaxFailures.Allowed(hosts); {
	case allowed > len(leftOut):
		fmt.Fprintf(&b, "; a host that fails is switched back alone while no more than %d have failed", allowed)
		if len(leftOut) > 0 {
			fmt.Fprintf(&b, ", %s left out as unusable among them", andList(leftOut))
		}
		b.WriteString(" (the deploy then ends partial), beyond that every switched host is switched back")
	case allowed > 0:
		fmt.Fprintf(&b, "; on a failure every switched host is switched back: max_failures (%d) is used up by %s, left out as unusable", allowed, andList(leftOut))
	default:
		b.WriteString("; on a failure every switched host is switched back")
	}
	return b.String()
}

// inspect opens one host and reads its releases, and with disk the free
// space of its deploy directory's file system.
func (e *Engine) inspect(ctx context.Context, t target, h Host, disk bool) (hostState, error) {
	s, err := t.tr.Open(ctx, h)
	if err != nil {
		return hostState{}, err
	}
	defer s.Close()
	out, err := s.Run(ctx, Command{Script: inspectScript(t.app.Path, false, disk), Timeout: t.env.StepTimeout.D()})
	if err != nil {
		return hostState{}, err
	}
	return parseInspect(out), nil
}

// Observe reads every host's current and previous release of app/env, so
// /status shows what is really on the hosts, not only what was recorded.
// A host it could not read has State unreachable (no answer) or failed
// (refused: its key, the login), with Error.
func (e *Engine) Observe(ctx context.Context, app, env string) ([]HostResult, error) {
	t, err := e.resolve(app, env)
	if err != nil {
		return nil, err
	}
	hosts := t.hosts()
	out := make([]HostResult, len(hosts))
	done := make(chan struct{}, len(hosts))
	for i, h := range hosts {
		go func() {
			defer func() { done <- struct{}{} }()
			st, err := e.inspect(ctx, t, h, false)
			if err != nil {
				out[i] = HostResult{Host: h.Name, State: unusedState(err), Error: err.Error()}
				return
			}
			out[i] = HostResult{Host: h.Name, Current: st.Current, Previous: st.Previous, PreviousBad: st.Previous != "" && st.Bad[st.Previous],
				CurrentDangling: st.CurrentDangling, CurrentGone: st.CurrentGone}
		}()
	}
	for range hosts {
		<-done
	}
	return out, nil
}

// andList writes names as "a", "a and b", "a, b and c".
func andList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
