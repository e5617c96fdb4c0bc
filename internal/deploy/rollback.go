package deploy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

const defaultStoreTimeout = 10 * time.Second

// LockOwnerBot owns the locks the bot takes itself (after a rollback).
const LockOwnerBot = config.BotUser

// Rollback switches app/env back to the previous good release (or req.Build
// when set) that is still on disk on every host, restarts and checks it,
// marks the release it left as bad and locks the app+env so that deploying
// again is a deliberate act. The lock comes before the first switch (see
// lock): a rollback stopped half-way or failed leaves it too; one refused
// before it starts locks nothing. After a run that left hosts on the release it
// was taking them to or back to without a passing restart (a rollback
// that failed there, a deploy whose switch back failed, either one
// interrupted), a rollback naming that release or none finishes the job:
// it restarts those hosts there (see stuckHosts). It returns the new
// record or, when nothing was started, an error for people.
func (e *Engine) Rollback(ctx context.Context, req Request, sink Sink) (_ *Record, err error) {
	for _, b := range []string{req.Build, req.From} {
		if b != "" && !ValidBuild(b) {
			return nil, errs.New(errs.Invalid, "invalid build %q", b)
		}
	}
	t, err := e.resolve(req.App, req.Env)
	if err != nil {
		return nil, err
	}
	r, err := e.begin(ctx, t, KindRollback, req, sink)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			r.starting.end(err)
		}
	}()
	stuck, err := r.stuckHosts(req.Build)
	// Whether a stuck run was looked for: when the history could not be
	// read, stuck is nil for want of knowing.
	stuckKnown := err == nil
	var from, to string
	if err == nil {
		named := req.Build
		if stuck != nil {
			named = stuck.to
		}
		from, to, err = r.rollbackTarget(named)
	}
	if err == nil && stuck != nil && from == to {
		// Every host points at the target already: what is rolled back
		// is what the stuck run left.
		from = stuck.left
	}
	switch {
	case err == nil && req.From != "" && from != req.From && !r.runsOnly(req.From, to):
		err = r.notFrom(from, req)
	case err != nil && errs.CodeOf(err) != errs.NoChange && req.From != "" && stuckKnown && stuck == nil && !r.anyRuns(req.From):
		// A click on an old message, most likely: that a later build
		// runs says why it is refused better than what became of the
		// release it named. Not when the history could not be read: the
		// click may be one that finishes a stuck run, whose hosts no
		// longer run from, and "rollback APP ENV" would take them
		// further back.
		err = r.notFrom(r.runningNow(), req)
	}
	if errs.CodeOf(err) == errs.NoChange {
		return nil, r.nothingToDo(err)
	}
	if err != nil {
		r.abandon()
		return nil, err
	}
	r.rec.Build, r.rec.Previous = to, from
	r.kept = &keptRead{self: r.rec.ID, to: to, done: make(chan struct{})}
	return r.start(func() (Outcome, error) { return r.rollback(from, to) })
}

// keptRead reads the deploy history for the migrations a rollback to to
// leaves applied (see keptMigrations). It reads the newest records back
// to the last run that left the env on to (see historyBack), which may be
// the whole history of an app+env with thousands of deploys, and keep the
// store busy for a while: the rollback switches its hosts meanwhile
// (restoring service comes first), says the migrations once they are
// known, and its final record names them, whatever its outcome. Safe for
// concurrent use.
type keptRead struct {
	self, to string
	once     sync.Once
	done     chan struct{} // closed once text is set
	text     string
	said     sync.WaitGroup // the notes of say under way
}

// begin starts the read, once.
func (k *keptRead) begin(r *run) {
	k.once.Do(func() {
		go func() {
			defer close(k.done)
			// Only the records since to last ran count, and the
			// rollback's target ran recently, as a rule: the older ones
			// would be read for nothing.
			recs, err := r.historyBack(func(recs []*Record) bool {
				return slices.ContainsFunc(recs, func(rec *Record) bool { return rec.ID != k.self && leftEnvOn(rec, k.to) })
			})
			if err != nil {
				r.log.Warn("read the history for the migrations a rollback leaves applied", "err", err)
				return
			}
			k.text = keptMigrations(recs, k.self, k.to)
		}()
	})
}

// say starts the read and, beside the rollback's switches, records and
// notes the migrations it finds once it has them.
func (k *keptRead) say(r *run) {
	k.begin(r)
	k.said.Add(1)
	go func() {
		defer k.said.Done()
		<-k.done
		if k.text != "" {
			r.update(func(rec *Record) { rec.SchemaKept = k.text })
			r.note("⚠ %s", k.text)
		}
	}()
}

// wait returns the migrations the read found ("" for none, or when the
// history could not be read) once they are said: the run's end comes
// after. A rollback that stopped before saying them (see say) reads them
// here. Nil-safe: a deploy has none.
func (k *keptRead) wait(r *run) string {
	if k == nil {
		return ""
	}
	k.begin(r)
	<-k.done
	k.said.Wait()
	return k.text
}

// keptMigrations says which migrations the deploys in recs (newest first)
// since the last run that left the env on to ran, or may have run: a
// rollback to to leaves them applied, and to runs on the migrated
// database. Empty when none did.
func keptMigrations(recs []*Record, self, to string) string {
	var parts []string
	for _, rec := range recs {
		if rec.ID == self {
			continue
		}
		if leftEnvOn(rec, to) {
			break
		}
		if rec.Kind != KindDeploy || len(rec.Migrations) == 0 {
			continue
		}
		names, by := strings.Join(rec.Migrations, ", "), fmt.Sprintf("deploy %s of %s", rec.ID, rec.Build)
		switch rec.MigrationState {
		case MigrationsDone:
			parts = append(parts, fmt.Sprintf("%s (%s)", names, by))
		case MigrationsFailed:
			parts = append(parts, fmt.Sprintf("some, all or none of %s (%s, whose migrations failed)", names, by))
		case MigrationsRunning:
			parts = append(parts, fmt.Sprintf("some, all or none of %s (%s, whose migrations ran when it stopped)", names, by))
		case "":
			// Recorded by an earlier version of the bot, which did not
			// say how far they got.
			parts = append(parts, fmt.Sprintf("some, all or none of %s (%s, whose record does not say whether it ran them)", names, by))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	slices.Reverse(parts)
	return fmt.Sprintf("the migrations run since %s stay applied: %s; a rollback does not undo them, and %s now runs on the migrated database", to, strings.Join(parts, "; "), to)
}

// leftEnvOn reports whether run rec left its env on build: where
// keptMigrations stops.
func leftEnvOn(rec *Record, build string) bool {
	return rec.Build == build && (rec.Outcome == OutcomeSucceeded || rec.Outcome == OutcomePartial || rec.Outcome == OutcomeUnchanged)
}

// notFrom is the refusal of a rollback `from` a build that no live host
// runs, or that runs beside others the rollback does not leave: now
// runs. After a partial deploy, from may still run on some hosts, and
// "runs … now, not from" would deny it.
func (r *run) notFrom(now string, req Request) error {
	said := fmt.Sprintf("%s runs %s now, not %s", r.t.key(), orNone(now), req.From)
	if r.anyRuns(req.From) {
		said = fmt.Sprintf("%s does not run only %s now (%s)", r.t.key(), req.From, now)
	}
	undo, why := r.undoNow()
	if undo == "" {
		return errs.New(errs.Conflict, "%s; nothing was rolled back, and no rollback of what runs now is offered: %s", said, why)
	}
	return errs.New(errs.Conflict, "%s; nothing was rolled back (to roll back what runs now: %s)", said, undo)
}

// undoNow is the rollback of what the live hosts run now, marked as the
// bot's suggestion, or "" and why there is none. After a deploy some of
// whose hosts failed within max_failures, the hosts run different
// releases, and a rollback naming no release is refused (see
// rollbackTarget): the one offered names the release that deploy
// recorded, from its build, as its report does, or none when it found
// no release on every host; after a rollback that ended partial, the
// rollback that finishes it (see finishRollback). Nor is one offered when
// the last run's record says a rollback from it finds no good release
// (NoRollback). It goes by the records stuckHosts read.
func (r *run) undoNow() (undo, why string) {
	app, env := r.t.app.Name, r.t.env.Name
	status := suggest.Command("status " + app)
	last := lastSwitching(r.recent, r.rec.ID)
	if last != nil && last.Kind == KindDeploy && last.Outcome == OutcomePartial {
		switch {
		case ValidBuild(last.RollbackTo) && r.runsOnly(last.Build, last.RollbackTo):
			return suggest.Command("rollback " + app + " " + env + " to " + last.RollbackTo + " from " + last.Build), ""
		case last.NoRollback:
			return "", fmt.Sprintf("the partial deploy %s left no release on every host to roll back to; %s shows what each host runs", last.ID, status)
		}
	}
	if last != nil && last.Kind == KindRollback && last.Outcome == OutcomePartial && !r.sameRelease() {
		return r.finishRollback(last, status)
	}
	if last != nil && last.NoRollback && r.runsOnly(last.Build) {
		// A rollback naming none would be refused as this one may have
		// been: the release before is marked bad, and none older ran.
		return "", noEarlierRelease
	}
	if r.sameRelease() {
		return suggest.Command("rollback " + app + " " + env), ""
	}
	if s, _ := r.stuckIn(last, ""); s != nil {
		// A rollback naming none finishes what that run left.
		return suggest.Command("rollback " + app + " " + env), ""
	}
	return "", fmt.Sprintf("its hosts run different releases, and a rollback then names the release to go back to; %s shows what each host runs: rollback %s %s to BUILD", status, app, env)
}

// finishRollback is the rollback that finishes last, a rollback that
// ended partial: a host it left out, back since on the release it left,
// runs beside the others on its target. A rollback naming no release is
// refused then; the one offered names last's target, and the release it
// left when that is the only other one running (as after a partial
// deploy), or "" and why when the target is not a good release on every
// host, which would refuse it.
func (r *run) finishRollback(last *Record, status string) (undo, why string) {
	app, env := r.t.app.Name, r.t.env.Name
	if !ValidBuild(last.Build) || !r.goodEverywhere(last.Build) {
		return "", fmt.Sprintf("the partial rollback %s left its hosts on different releases, and %s, where it went, is not a good release on every host; %s shows what each host runs", last.ID, orNone(last.Build), status)
	}
	cmd := "rollback " + app + " " + env + " to " + last.Build
	if ValidBuild(last.Previous) && r.runsOnly(last.Build, last.Previous) {
		cmd += " from " + last.Previous
	}
	return suggest.Command(cmd), ""
}

// goodEverywhere reports whether every live host has build and none
// marks it bad: a rollback to it is not refused for where it goes.
func (r *run) goodEverywhere(build string) bool {
	for _, h := range r.live() {
		if st := r.states[h.Name]; !st.has(build) || st.Bad[build] {
			return false
		}
	}
	return true
}

// mixedRefusal refuses a rollback naming no release of hosts that run
// different releases (runs). After a partial deploy or rollback it
// offers the rollback of what runs now, which names its release (see
// undoNow): the refusal offered nothing to send, though that one goes.
// A rollback naming none is not offered: it would be refused again.
func (r *run) mixedRefusal(runs string) error {
	app, env := r.t.app.Name, r.t.env.Name
	named := "rollback " + app + " " + env + " to BUILD"
	undo, _ := r.undoNow()
	if undo == "" || undo == suggest.Command("rollback "+app+" "+env) {
		return errs.New(errs.Conflict, "the hosts of %s run different releases (%s); name the release to roll back to: %s; nothing was changed",
			r.t.key(), runs, named)
	}
	return errs.New(errs.Conflict, "the hosts of %s run different releases (%s); name the release to roll back to: %s (to roll back what runs now: %s); nothing was changed",
		r.t.key(), runs, named, undo)
}

// sameRelease reports whether every live host runs one release.
func (r *run) sameRelease() bool {
	live := r.live()
	return len(live) == 0 || r.runsOnly(r.states[live[0].Name].Current)
}

// anyRuns reports whether a live host runs build.
func (r *run) anyRuns(build string) bool {
	for _, h := range r.live() {
		if r.states[h.Name].Current == build {
			return true
		}
	}
	return false
}

// runningNow says what the live hosts run: a release, or which runs where
// when they differ.
func (r *run) runningNow() string {
	byRelease := map[string][]string{}
	for _, h := range r.live() {
		c := r.states[h.Name].Current
		byRelease[c] = append(byRelease[c], h.Name)
	}
	if len(byRelease) == 1 {
		for rel := range byRelease {
			return rel
		}
	}
	// A host whose `current` points at a release that is gone runs
	// none, but is said apart, with the release: "none" alone read as a
	// host never deployed to.
	gone := map[string][]string{}
	for _, h := range byRelease[""] {
		gone[goneText(r.states[h])] = append(gone[goneText(r.states[h])], h)
	}
	delete(byRelease, "")
	var runs []string
	for rel, hosts := range byRelease {
		runs = append(runs, fmt.Sprintf("%s on %s", rel, strings.Join(hosts, ", ")))
	}
	for what, hosts := range gone {
		runs = append(runs, fmt.Sprintf("%s on %s", what, strings.Join(hosts, ", ")))
	}
	sort.Strings(runs)
	return strings.Join(runs, "; ")
}

// goneText says what a host whose `current` is st's runs, when it runs no
// release: "none", or the release its link points at that is gone.
func goneText(st hostState) string {
	switch {
	case !st.CurrentDangling:
		return "none"
	case st.CurrentGone != "":
		return st.CurrentGone + ", which is gone,"
	default:
		return "a release that is gone"
	}
}

// runsOnly reports whether every live host runs one of builds: a
// rollback "to A from B" of a fleet a run left partly on B still undoes
// just that run.
func (r *run) runsOnly(builds ...string) bool {
	for _, h := range r.live() {
		if !slices.Contains(builds, r.states[h.Name].Current) {
			return false
		}
	}
	return true
}

// stuck is a run that left hosts on a release without a passing restart.
type stuck struct {
	// to is the release the hosts point at; left is the one the run
	// rolled back or failed to deploy.
	to, left string
}

// stuckHosts finds the hosts the last finished run of the app+env left on
// the release it was taking them to (a rollback) or back to (a deploy's
// switch back), without a passing restart and health check: the run failed
// on them after their switch, or stopped mid-way (interrupted). It does so
// when this rollback names that release or none, and then sets r.again to
// those hosts, which the rollback restarts.
//
// Without it, those hosts pointed at the target already, so a named
// rollback left them as they were ("already runs"), drained from the load
// balancer perhaps, and an unnamed one took every host, the ones that were
// fine too, one release further back.
func (r *run) stuckHosts(named string) (*stuck, error) {
	last, err := r.lastSwitchingRun()
	if err != nil {
		return nil, err
	}
	s, again := r.stuckIn(last, named)
	if s == nil {
		return nil, nil
	}
	r.again = again
	return s, nil
}

// stuckIn is what stuckHosts finds in last, the last finished run that
// switched a host (nil for none), for a rollback naming named (or none),
// and the hosts it would restart; nil when there is none.
func (r *run) stuckIn(last *Record, named string) (*stuck, map[string]bool) {
	if last == nil {
		return nil, nil
	}
	var s stuck
	switch {
	case last.Kind == KindRollback && (last.Outcome == OutcomeFailed || last.Outcome == OutcomePartial || last.Outcome == OutcomeInterrupted):
		s = stuck{to: last.Build, left: last.Previous}
	case last.Kind == KindDeploy && (last.Outcome == OutcomeReverted || last.Outcome == OutcomePartial || last.Outcome == OutcomeInterrupted || last.Outcome == OutcomeCancelled):
		s = stuck{to: last.Previous, left: last.Build}
	default:
		return nil, nil
	}
	if s.to == "" || !ValidBuild(s.to) || (named != "" && named != s.to) {
		// A partial rollback's Previous names each host's release: then
		// only its Build, valid, is a target.
		return nil, nil
	}
	again := r.stuckOn(last, s.to)
	if len(again) == 0 {
		return nil, nil
	}
	return &s, again
}

// lastSwitchingRun returns the last finished run of the app+env that
// switched a host, or nil. A dead one recovery has not reported yet is no
// guide, nor is one that changed nothing (a refused build, a cancel before
// any switch), which would hide a stuck host left by the run before it.
// The records it reads are kept for stopLeftovers, which would otherwise
// read them again in every run.
func (r *run) lastSwitchingRun() (*Record, error) {
	recs, err := r.e.recentRecords(context.WithoutCancel(r.ctx), r.t)
	if err != nil {
		return nil, err
	}
	r.recent = recs
	return lastSwitching(recs, r.rec.ID), nil
}

// recentLimit is how many of an app/env's newest records recentRecords
// reads.
const recentLimit = 20

// recentRecords reads the newest records of t, which tell what the last
// runs left.
func (e *Engine) recentRecords(ctx context.Context, t target) ([]*Record, error) {
	ctx, cancel := context.WithTimeout(ctx, defaultStoreTimeout)
	defer cancel()
	recs, err := e.store.Records(ctx, Filter{App: t.app.Name, Env: t.env.Name, Limit: recentLimit})
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "cannot read the deploy history of %s to see whether the last run left hosts failed; nothing was changed", t.key())
	}
	return recs, nil
}

// lastSwitching returns the last finished run among recs, newest first,
// that switched a host, other than the run self, or nil.
func lastSwitching(recs []*Record, self string) *Record {
	for _, rec := range recs {
		if rec.ID != self && rec.Outcome.Done() && slices.ContainsFunc(rec.Hosts, HostResult.MayHaveSwitched) {
			return rec
		}
	}
	return nil
}

// stuckOn returns the hosts last switched and left on build without a
// passing restart (see unfinished), which point at build now. A host the
// last run lost during its switch counts on either release it may point
// at.
func (r *run) stuckOn(last *Record, build string) map[string]bool {
	again := leftOn(last, build)
	for h := range again {
		if st, inspected := r.states[h]; !inspected || st.Current != build {
			delete(again, h)
		}
	}
	return again
}

// leftOn returns the hosts run last switched to build (or lost during
// their switch to it) and left without a passing restart.
func leftOn(last *Record, build string) map[string]bool {
	hosts := map[string]bool{}
	if last == nil {
		return hosts
	}
	for _, hr := range last.Hosts {
		if unfinished(hr) && (hr.Current == build || hr.Switching == build) {
			hosts[hr.Host] = true
		}
	}
	return hosts
}

// unfinished reports whether a run switched hr's host (or lost it during
// its switch, maybe after it) and left it without a passing restart: it
// failed there, or was activating when the run stopped, or could not be
// observed when the run was found stopped (its state then says
// unreachable, and what it was doing is not known). A host whose delivery
// failed, say, was never switched.
func unfinished(hr HostResult) bool {
	return hr.MayHaveSwitched() && (hr.State == HostFailed || hr.State == HostActivating || hr.State == HostUnreachable)
}

// rollbackTarget picks the release to go back to: the named one, else the
// `previous` link of the first host, else the newest release on disk that
// is neither current nor marked bad and that the deploy history shows
// running here once, preferring one on every host and marked bad on none
// (see earlierRelease) (a release delivered by a deploy that stopped before
// switching never ran, and a rollback must not go forward to it). It must
// exist on every host that could be reached (hosts left out within
// max_failures were not inspected). When the hosts run different releases
// (a partial deploy), only a named release will do: which one to leave is
// not the first host's to say. It sets r.retire, the release the rollback
// leaves and marks bad, when the hosts agree on it, and otherwise has each
// host that switches mark bad the release it leaves.
func (r *run) rollbackTarget(named string) (from, to string, err error) {
	live := r.live()
	first := r.states[live[0].Name]
	byRelease := map[string][]string{}
	for _, h := range live {
		c := r.states[h.Name].Current
		byRelease[c] = append(byRelease[c], h.Name)
	}
	from = first.Current
	if len(byRelease) > 1 {
		runs := r.runningNow()
		if named == "" {
			return "", "", r.mixedRefusal(runs)
		}
		from = runs
	}
	to = named
	if to == "" {
		others := make([]hostState, 0, len(live)-1)
		for _, h := range live[1:] {
			others = append(others, r.states[h.Name])
		}
		if to, err = r.earlierRelease(first, others, from); err != nil {
			return "", "", err
		}
	}
	var bad []string
	for _, h := range live {
		if r.states[h.Name].Bad[to] {
			bad = append(bad, h.Name)
		}
	}
	if len(bad) > 0 {
		// Named by hand, or bad on another host than the first, which
		// earlierRelease asks: a rollback restores a release known to
		// work, never one a failed deploy or a rollback left. Running it
		// again is a deploy, which passes the window and the locks.
		return "", "", errs.New(errs.Conflict, "release %s of %s is marked bad on %s (a deploy of it failed, or a rollback left it), and a rollback never goes to a bad release; to run it again, deploy it: %s; nothing was changed",
			to, r.t.key(), strings.Join(bad, ", "), suggest.Command("deploy "+r.t.app.Name+" "+to+" to "+r.t.env.Name))
	}
	var missing, current []string
	for _, h := range live {
		st := r.states[h.Name]
		if !st.has(to) {
			missing = append(missing, h.Name)
		}
		if st.Current == to {
			current = append(current, h.Name)
		}
	}
	if len(missing) > 0 {
		// The bad ones are listed apart: a rollback refuses them, and
		// left out they would read as gone. Only releases every host has
		// are listed: the first host's alone named the missing release
		// too, one `to` would be refused again.
		good, bad := r.releasesEverywhere(live)
		avail := "good releases on every host: " + orNone(strings.Join(good, ", "))
		if bad != "" {
			avail += " (" + bad + ")"
		}
		return "", "", errs.New(errs.NotFound, "release %s of %s is not on %s; %s; nothing was changed", to, r.t.key(), strings.Join(missing, ", "), avail)
	}
	if len(current) == len(live) && len(r.again) == 0 {
		if len(live) < len(r.hosts) {
			// As a deploy says it: the hosts left out were not read.
			return "", "", errs.New(errs.NoChange, "%s already runs build %s on every reachable host; nothing to do", r.t.key(), to)
		}
		return "", "", errs.New(errs.NoChange, "%s already runs %s on every host; nothing to do", r.t.key(), to)
	}
	if named != "" && len(current) < len(live) {
		// Named by hand: a release a deploy delivered but never switched
		// to (cancelled, aborted at its migrations, refused) is no place
		// to go back to, nor one it switched some hosts to before it
		// stopped (interrupted, say), which still run it. Going there
		// would be a deploy that skipped its window, its locks, its
		// permission and its migrations, and each host it took forward
		// would mark bad the release it left, the good one.
		if err := r.neverRan(to); err != nil {
			return "", "", err
		}
	}
	switch {
	case len(byRelease) > 1:
		r.retireLeft = true
	case from != "" && from != to:
		r.retire = from
	}
	return from, to, nil
}

// earlierRelease is the release an unnamed rollback from from goes to: see
// rollbackTarget.
//
// It goes by the first host's links and releases, and takes only a
// release that each of others (the other hosts) has too and has not
// marked bad, when there is one: after a deploy that failed on some hosts
// only (partial), the release it left is bad there, and a rollback there
// is refused, while an older release runs well everywhere. When no
// release is good on every host, it answers as the first host alone
// would, and rollbackTarget refuses naming where that one is bad or gone.
func (r *run) earlierRelease(first hostState, others []hostState, from string) (string, error) {
	everywhere := func(rel string) bool {
		for _, o := range others {
			if !o.has(rel) || o.Bad[rel] {
				return false
			}
		}
		return true
	}
	p := first.Previous
	previous := p != "" && p != from && first.has(p) && !first.Bad[p]
	if previous && everywhere(p) {
		return p, nil
	}
	var candidates, fleet []string
	for _, rel := range first.Releases {
		if rel != from && !first.Bad[rel] {
			candidates = append(candidates, rel)
			if everywhere(rel) {
				fleet = append(fleet, rel)
			}
		}
	}
	switch {
	case len(fleet) > 0:
		candidates = fleet
	case previous:
		return p, nil
	}
	if len(candidates) == 0 {
		return "", errs.New(errs.NotFound, "no earlier good release of %s is on disk to roll back to (current: %s); nothing was changed", r.t.key(), orNone(from))
	}
	// The first candidate, the newest on disk, is the one taken when it
	// ran: the records that show it running are among the newest, as a
	// rule.
	recs, err := r.historyUntil(func(ran map[string]bool) bool { return ran[candidates[0]] })
	if err != nil {
		return "", errs.Wrap(errs.Unavailable, err, "cannot read the deploy history of %s to find a release that ran; name one: %s (releases on disk: %s); nothing was changed",
			r.t.key(), "rollback "+r.t.app.Name+" "+r.t.env.Name+" to BUILD", strings.Join(candidates, ", "))
	}
	ran := ranReleases(recs)
	// A release a deploy delivered and stopped before switching every host
	// to is no release to name: `to` refuses it as going forward. Advising it would
	// send the requester from one refusal to the next.
	var nameable, forward []string
	for _, rel := range candidates {
		switch d := deliveredOnly(recs, ran, rel, r.rec.ID); {
		case ran[rel]:
			return rel, nil
		case d != nil:
			forward = append(forward, fmt.Sprintf("release %s %s", rel, notRunBecause(d)))
		default:
			nameable = append(nameable, rel)
		}
	}
	if len(nameable) > 0 {
		// A command with BUILD to fill in is prose, not one marked to
		// send as it is; with one release to name, it is that one.
		name := "rollback " + r.t.app.Name + " " + r.t.env.Name + " to BUILD"
		if len(nameable) == 1 {
			name = suggest.Command("rollback " + r.t.app.Name + " " + r.t.env.Name + " to " + nameable[0])
		}
		msg := fmt.Sprintf("no release on disk of %s is known to have run here besides %s (releases on disk: %s); name one: %s",
			r.t.key(), orNone(from), strings.Join(nameable, ", "), name)
		if len(forward) > 0 {
			msg += "; " + strings.Join(forward, "; ")
		}
		return "", errs.New(errs.NotFound, "%s; nothing was changed", msg)
	}
	advice := "to run one, deploy it: deploy " + r.t.app.Name + " BUILD to " + r.t.env.Name
	if len(forward) == 1 {
		advice = "to run it, deploy it: " + suggest.Command("deploy "+r.t.app.Name+" "+candidates[0]+" to "+r.t.env.Name)
	}
	return "", errs.New(errs.NotFound, "no earlier good release of %s is on disk to roll back to (current %s): %s, and a rollback never goes forward to a release that never ran; %s; nothing was changed",
		r.t.key(), orNone(from), strings.Join(forward, "; "), advice)
}

// history reads every record of the run's app+env, bounded as the
// store's other reads are.
func (r *run) history() ([]*Record, error) { return r.records(0) }

// records reads the newest limit records of the run's app+env (0: all).
func (r *run) records(limit int) ([]*Record, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), defaultStoreTimeout)
	defer cancel()
	return r.e.store.Records(ctx, Filter{App: r.t.app.Name, Env: r.t.env.Name, Limit: limit})
}

// recentHistory is how many of its newest records a rollback reads first
// to tell whether a release ran (see historyUntil).
const recentHistory = 100

// historyUntil reads the records of the run's app+env, newest first: the
// newest recentHistory first, and all of them only when decided, given
// what those show running (see ranReleases), says they do not settle the
// answer. A rollback reads them before its first switch, and an app+env
// deployed for years has thousands: a release that ran once shows it
// forever, so a record showing it running, met among the newest, settles
// it, while that none did takes them all.
func (r *run) historyUntil(decided func(ran map[string]bool) bool) ([]*Record, error) {
	recs, err := r.records(recentHistory)
	if err != nil || len(recs) < recentHistory || decided(ranReleases(recs)) {
		return recs, err
	}
	return r.history()
}

// historyBack reads the records of the run's app+env, newest first, in
// reads of twice as many each time, from recentHistory on, until reached
// says the records read go back far enough, or they are the whole
// history. The store reads from the newest with a limit only, so each
// read takes the ones before it again: doubling keeps the total within
// four times what the answer needs.
func (r *run) historyBack(reached func(recs []*Record) bool) ([]*Record, error) {
	for limit := recentHistory; ; limit *= 2 {
		recs, err := r.records(limit)
		if err != nil || len(recs) < limit || reached(recs) {
			return recs, err
		}
	}
}

// ranReleases is the set of releases the records show running in their
// env: a run's build once it succeeded (or partly), or once a run found
// every host on it already (unchanged: the hosts put right by hand after
// an interrupted run, which a deploy of its own never followed), and the
// release a deploy moved away from.
func ranReleases(recs []*Record) map[string]bool {
	ran := map[string]bool{}
	for _, rec := range recs {
		for _, rel := range ranBy(rec) {
			ran[rel] = true
		}
	}
	return ran
}

// ranBy is the releases rec shows running in its env (see ranReleases).
// A trim keeps what this shows of the release a rollback goes to (see
// Retained).
func ranBy(rec *Record) []string {
	var rels []string
	switch rec.Outcome {
	case OutcomeSucceeded, OutcomePartial, OutcomeUnchanged:
		rels = append(rels, rec.Build)
	}
	if rec.Kind == KindDeploy && rec.Previous != "" {
		rels = append(rels, rec.Previous)
	}
	return rels
}

// neverRan refuses a named rollback to build when the deploy history shows
// a deploy of it in the env and none shows it running on every host: the
// release is on disk because that deploy delivered it, and stopped before
// it switched a host, or after switching some (interrupted, say) and no
// run found it on every host since. A release the history does not name
// at all (put there before the bot, or its records trimmed) is not
// refused.
func (r *run) neverRan(build string) error {
	recs, err := r.historyUntil(func(ran map[string]bool) bool { return ran[build] })
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "cannot read the deploy history of %s to tell whether release %s ran there; nothing was changed", r.t.key(), build)
	}
	if rec := deliveredOnly(recs, ranReleases(recs), build, r.rec.ID); rec != nil {
		return errs.New(errs.Conflict, "release %s of %s %s, and a rollback never goes forward to a release that never ran; to run it, deploy it: %s; nothing was changed",
			build, r.t.key(), notRunBecause(rec), suggest.Command("deploy "+r.t.app.Name+" "+build+" to "+r.t.env.Name))
	}
	return nil
}

// deliveredOnly returns a deploy of build in recs, other than the run
// self, when ran (ranReleases of recs) shows none running it: the release
// is on disk because that deploy delivered it and stopped before it
// switched a host, or after switching some. It returns nil for a release
// that ran, or that the history does not name.
func deliveredOnly(recs []*Record, ran map[string]bool, build, self string) *Record {
	if ran[build] {
		return nil
	}
	for _, rec := range recs {
		if rec.Kind == KindDeploy && rec.Build == build && rec.ID != self {
			return rec
		}
	}
	return nil
}

// notRunBecause says why the release deploy rec delivered (see
// deliveredOnly) never ran: it stopped before switching a host, or after
// switching some, and no run found every host on it since.
func notRunBecause(rec *Record) string {
	var switched []string
	for _, hr := range rec.Hosts {
		if hr.MayHaveSwitched() {
			switched = append(switched, hr.Host)
		}
	}
	if len(switched) > 0 {
		return fmt.Sprintf("never ran on every host there: deploy %s switched %s to it and ended %s, and no run found every host on it since",
			rec.ID, strings.Join(switched, ", "), rec.Outcome)
	}
	return fmt.Sprintf("never ran there: deploy %s delivered it and ended %s before switching a host", rec.ID, rec.Outcome)
}

// releasesEverywhere splits the releases on every host of hosts, in the
// first host's order, into those a rollback may go to and those marked
// bad on any of them. It words the bad ones by where they are marked bad,
// "marked bad: 4" for those bad on every host, "marked bad on web-2: 3"
// for the others: on a fleet where a release failed on some hosts only,
// "marked bad" alone read as bad everywhere, although it runs well on the
// other hosts.
func (r *run) releasesEverywhere(hosts []Host) (good []string, bad string) {
	var where []string               // host lists, in the order first met
	byWhere := map[string][]string{} // the releases marked bad there
	for _, rel := range r.states[hosts[0].Name].Releases {
		on := true
		var marked []string
		for _, h := range hosts {
			st := r.states[h.Name]
			on = on && st.has(rel)
			if st.Bad[rel] {
				marked = append(marked, h.Name)
			}
		}
		switch {
		case !on:
		case len(marked) > 0:
			w := ""
			if len(marked) < len(hosts) {
				w = " on " + strings.Join(marked, ", ")
			}
			if _, ok := byWhere[w]; !ok {
				where = append(where, w)
			}
			byWhere[w] = append(byWhere[w], rel)
		default:
			good = append(good, rel)
		}
	}
	parts := make([]string, 0, len(where))
	for _, w := range where {
		parts = append(parts, "marked bad"+w+": "+strings.Join(byWhere[w], ", "))
	}
	return good, strings.Join(parts, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// rollback switches every host that does not run `to` yet, in batches.
// Unlike a deploy it switches no failed host back (it stays on `to`,
// named in the error), and a host failing within max_failures does not
// stop it: restoring service on as many hosts as possible is the point.
// Beyond max_failures no further batch starts: `to` failing there as
// well, each batch would take more of the fleet off a release that
// serves, however badly, onto one that does not.
func (r *run) rollback(from, to string) (Outcome, error) {
	var todo, unchanged []Host
	var again []string
	for _, h := range r.live() {
		switch {
		case r.again[h.Name]:
			again = append(again, h.Name)
		case r.states[h.Name].Current == to:
			unchanged = append(unchanged, h)
			continue
		}
		todo = append(todo, h)
	}
	r.setHosts(unchanged, func(hr *HostResult) { hr.State = HostUnchanged })
	r.kept.say(r)
	if len(again) > 0 {
		r.note("finishing the last run's switch to %s: restarting %s, which switched to it and did not pass", to, strings.Join(again, ", "))
	}
	if r.retire != "" {
		r.retired = map[string]bool{}
	}
	// The lock comes before the first switch, not after the last: a
	// rollback stopped half-way (its process killed, its lease lost) has
	// left hosts on the release it was leaving, and a train's departure
	// or anyone's deploy must not ship that release again before someone
	// decides it is fixed. The lease is checked first: a replica that
	// lost it changes nothing the holder decides from.
	if err := r.fence(context.WithoutCancel(r.ctx)); err != nil {
		return OutcomeInterrupted, errs.Wrap(errs.Unavailable, err, "rollback stopped before touching a host")
	}
	if err := r.lock(from); err != nil {
		return OutcomeInterrupted, errs.Wrap(errs.Unavailable, err, "rollback stopped before touching a host")
	}
	var failed []string
	var untouched []Host // not started: too many hosts had failed
	var switched []Host  // switched by this rollback, healthy so far
	size := r.t.env.BatchSize
	for start := 0; start < len(todo); start += size {
		if start > 0 {
			// As a deploy does (see healthGate): a host that went
			// unhealthy on to since its switch is a failed host, and
			// counts against max_failures before the next batch.
			gate := r.recheck(switched)
			var still []Host
			for i, h := range switched {
				if err := gate[i]; err != nil {
					r.setHost(h.Name, func(hr *HostResult) { hr.State, hr.Error = HostFailed, failureText(err) })
					failed = append(failed, h.Name)
					continue
				}
				still = append(still, h)
			}
			switched = still
		}
		if r.failures()+len(failed) > r.allowed {
			untouched = todo[start:]
			r.setHosts(untouched, func(hr *HostResult) { hr.State = HostUnchanged })
			break
		}
		if err := r.fence(context.WithoutCancel(r.ctx)); err != nil {
			return OutcomeInterrupted, errs.Wrap(errs.Unavailable, err, "rollback stopped before touching more hosts")
		}
		batch := todo[start:min(start+size, len(todo))]
		errsOf := make([]error, len(batch))
		var wg sync.WaitGroup
		for j, h := range batch {
			wg.Go(func() {
				// A host restarted again keeps the `previous` it has.
				previous := r.states[h.Name].Current
				if r.again[h.Name] {
					previous = r.states[h.Name].Previous
				}
				errsOf[j] = r.activate(h, to, previous)
			})
		}
		wg.Wait()
		for j, h := range batch {
			if errsOf[j] != nil {
				failed = append(failed, h.Name)
			} else {
				switched = append(switched, h)
			}
		}
	}
	ctx := context.WithoutCancel(r.ctx)
	// Marking releases bad changes what another replica, which holds the
	// app+env if this one lost it, decides from.
	if lost := r.leaseGone(); lost != nil {
		return r.leaseLost(lost)
	}
	if r.retire != "" {
		// Hosts that did not switch (already on to, or failed before
		// their switch ran) still mark the release bad.
		var rest []Host
		r.mu.Lock()
		for _, h := range r.live() {
			if !r.retired[h.Name] {
				rest = append(rest, h)
			}
		}
		r.mu.Unlock()
		eachHost(rest, r.t.env.Parallel, func(_ int, h Host) {
			if _, err := r.sessions[h.Name].Run(ctx, Command{Script: markBadScript(r.t.app.Path, r.retire), Timeout: r.t.env.StepTimeout.D()}); err != nil {
				r.log.Warn("mark release bad", "host", h.Name, "build", r.retire, "err", err)
			}
		})
	}
	// Hosts left out within max_failures were not rolled back, whatever
	// became of the others: the message says so either way.
	leftOut := r.leftOut(to)
	if len(failed) > 0 {
		sort.Strings(failed)
		msg := fmt.Sprintf("rollback to %s failed on %s", to, strings.Join(failed, ", "))
		if lost := r.lostHosts(); len(lost) > 0 {
			msg += fmt.Sprintf("; lost %s in the middle of a step: what it ran may still be running there (the next deploy or rollback of %s stops it first)", strings.Join(lost, ", "), r.t.key())
		}
		if len(untouched) > 0 {
			msg += fmt.Sprintf("; stopped there, as more hosts failed than max_failures allows (%d): %s left as they were, not rolled back", r.allowed, hostNames(untouched))
		}
		if leftOut != "" {
			msg += "; " + leftOut
		}
		return OutcomeFailed, errs.New(errs.Unavailable, "%s", msg)
	}
	// The rollback's record is the live run's until the next one (a
	// partial one too): an alert or a report offers a Rollback from it,
	// which must be one a click would run, as after a deploy.
	r.checkRollback()
	if leftOut != "" {
		return OutcomePartial, errs.New(errs.Unavailable, "rolled back to %s on the hosts that could be used; %s", to, leftOut)
	}
	return OutcomeSucceeded, nil
}

// rolledBackAs is h as the succeeded rollback left it: on its target,
// with `previous` at what it ran, and the release it left marked bad.
func (r *run) rolledBackAs(h Host) hostState {
	to := r.rec.Build
	st := r.states[h.Name]
	after := hostState{Current: to, Previous: st.Current, Releases: st.Releases, Bad: map[string]bool{}}
	again := r.again[h.Name]
	if again || st.Current == to {
		after.Previous = st.Previous
	}
	for rel, bad := range st.Bad {
		after.Bad[rel] = bad
	}
	switch {
	case r.retire != "":
		after.Bad[r.retire] = true
	case r.retireLeft && !again && st.Current != to && st.Current != "":
		after.Bad[st.Current] = true
	}
	return after
}

// lock locks the app+env of a rollback from from in the bot's name (see
// Rollback), before the rollback switches a host, and records that it
// did: interrupted, the rollback leaves the lock in force, and its record
// says so. A lock that cannot be written does not stop the rollback:
// restoring service matters more, and its progress says so. The lock is
// written under the rollback's lease: one the store refuses because
// another run took the app+env over stops the rollback (the error
// returned), as a lost lease stops it anywhere else.
func (r *run) lock(from string) error {
	if r.e.locks == nil || from == "" {
		return nil
	}
	ctx := context.WithoutCancel(r.ctx)
	// The bot owns the lock, not the requester: nobody deploys past it
	// without a deliberate unlock.
	lock := Lock{App: r.t.app.Name, Env: r.t.env.Name, Owner: LockOwnerBot, Created: r.e.now(), Fence: r.lease.Token()}
	why := fmt.Sprintf("rolled back from %s by %s: fix before deploying again", from, r.rec.Requester)
	lctx, cancel := context.WithTimeout(ctx, defaultStoreTimeout)
	defer cancel()
	// A scope holds one lock: this one replaces a person's lock of
	// the app+env (a week's freeze, say), and says so, so that
	// whoever lifts it knows what else they lift. It is written only
	// in place of the lock it quotes: one taken since is quoted in
	// its turn, not replaced unsaid. A lock that cannot be read is
	// replaced all the same (the rollback's matters more), and
	// quoted once the store says which it is.
	var prev *Lock
	if held, err := r.e.locks.Locks(lctx); err == nil {
		for _, l := range held {
			if l.App == lock.App && l.Env == lock.Env && l.Active(lock.Created) {
				prev = &l
			}
		}
	}
	var (
		err      error
		replaced *Lock // the lock in place of which lock was written
	)
	for {
		lock.Reason = why
		if l := prev; l != nil && l.Owner != LockOwnerBot {
			// In the zone of the bot's clock, as every other time of a
			// lock is shown: in UTC, status showed the one lock at two
			// times ("since 10:02 CET … it replaces ana's lock since
			// 09:01 UTC") beside ana's own lock reply at 10:01 CET.
			zone := lock.Created.Location()
			lock.Reason += fmt.Sprintf("; it replaces %s's lock since %s: %s", l.Owner, l.Created.In(zone).Format("2006-01-02 15:04 MST"), l.Reason)
			if !l.Expires.IsZero() {
				lock.Reason += fmt.Sprintf(" (until %s)", l.Expires.In(zone).Format("2006-01-02 15:04 MST"))
			}
		}
		replaced = prev
		var ok bool
		if prev, ok, err = r.e.locks.ReplaceLock(lctx, prev, lock); err != nil || ok {
			break
		}
	}
	if errors.Is(err, ErrLeaseLost) {
		return err
	}
	if err != nil {
		r.note("could not lock %s before switching its hosts: %v; the rollback goes on, and deploys of %s are not stopped: %s", r.t.key(), err, r.t.key(), suggest.Command("lock deploys "+r.t.app.Name+" "+r.t.env.Name+` "rolled back"`))
		return nil
	}
	// Recorded before the first switch, so that a recovery of this
	// rollback, should its process die, says the lock stays.
	r.update(func(rec *Record) { rec.Locked = true })
	r.note("%s is locked: %s (%s when fixed)", r.t.key(), lock.Reason, suggest.Command("unlock deploys "+r.t.app.Name+" "+r.t.env.Name))
	if replaced != nil && replaced.Owner != LockOwnerBot && r.e.lockReplaced != nil {
		r.e.lockReplaced(ctx, r.snapshot(), *replaced)
	}
	return nil
}

// leftOut says which hosts the rollback to to left out within
// max_failures (down, or refused), and when and how to roll them back, or
// "" when it left none out. The command names to: the hosts then run
// different releases, and a rollback that names none is refused.
func (r *run) leftOut(to string) string {
	if len(r.outErr) == 0 {
		return ""
	}
	var down, refused []string
	for _, o := range r.outErr {
		if o.state == HostUnreachable {
			down = append(down, o.host)
		} else {
			refused = append(refused, withHost(o.host, o.err).Error())
		}
	}
	var why []string
	if len(down) > 0 {
		why = append(why, strings.Join(down, ", ")+" could not be reached")
	}
	when := "they are up"
	if len(refused) > 0 {
		why = append(why, "refused: "+strings.Join(refused, ", "))
		when = "they are fixed"
	}
	return fmt.Sprintf("%s; those were left as they were: roll them back once %s: %s", strings.Join(why, "; "), when, suggest.Command("rollback "+r.t.app.Name+" "+r.t.env.Name+" to "+to))
}
