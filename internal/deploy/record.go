// Package deploy owns the deploy domain: requests, plans, the records the
// engine keeps of every deploy and rollback, the progress events it emits,
// and the small interfaces it needs from transports and stores.
package deploy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/jsonkeep"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// Kind tells a deploy from a rollback.
type Kind string

const (
	KindDeploy   Kind = "deploy"
	KindRollback Kind = "rollback"
)

// Outcome is the final (or current) state of a deploy record.
type Outcome string

const (
	// OutcomeRunning: the deploy is in progress (or its process died; see
	// OutcomeInterrupted, which recovery writes).
	OutcomeRunning Outcome = "running"
	// OutcomeSucceeded: every host runs the new release and passed its health check.
	OutcomeSucceeded Outcome = "succeeded"
	// OutcomeFailed: something failed before any host switched; nothing changed.
	OutcomeFailed Outcome = "failed"
	// OutcomePartial: the deploy finished, but some hosts failed within
	// max_failures; they run their previous release (see Hosts).
	OutcomePartial Outcome = "partial"
	// OutcomeReverted: some host failed after switching; every switched host
	// that had a previous release was switched back to it, or the error
	// names those that could not be.
	OutcomeReverted Outcome = "reverted"
	// OutcomeCancelled: stopped on request; hosts already switched were
	// switched back, but for those it switched to their first release,
	// which have nothing to go back to and stay on the build (see
	// Record.LeftOnBuild).
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeInterrupted: the process running the deploy died (or lost its
	// lease); the per-host state is what recovery could observe.
	OutcomeInterrupted Outcome = "interrupted"
	// OutcomeUnchanged: the run reached every host, found them all on its
	// release already and changed nothing (it restarted and checked
	// nothing either). It is recorded only when that resolves an
	// interrupted run before it (see Unresolved): the hosts were seen to
	// agree, put right by hand perhaps, since that run.
	OutcomeUnchanged Outcome = "unchanged"
)

// Said is the outcome of r as people are told it: in chat, `status`,
// `history`, the audit log and the log. A deploy recorded reverted that
// switched no host back (the hosts it switched had no earlier release, or
// their switch back failed) is said to have failed: "reverted" would tell
// whoever reads it, then or later, that the hosts run what they ran
// before, and none does. The record keeps its outcome, which stats,
// metrics and the rollback's search for hosts left stuck go by.
func (r *Record) Said() Outcome { return saidOutcome(r.Kind, r.Outcome, r.Hosts) }

// SaidText is the outcome of r as people read it, wherever it is shown:
// Said, and for a cancelled deploy that left hosts on its build, where
// ("cancelled, left on 3 on web-1"). "cancelled" alone reads as nothing
// changed, and those hosts run the build.
func (r *Record) SaidText() string { return saidText(r.Kind, r.Outcome, r.Build, r.Hosts) }

func saidText(kind Kind, o Outcome, build string, hosts []HostResult) string {
	s := string(saidOutcome(kind, o, hosts))
	if left := leftOnBuild(kind, o, build, hosts); left != "" {
		s += ", " + left
	}
	return s
}

// LeftOnBuild says, of a cancelled deploy, on which hosts it left its
// build ("left on 3 on web-1, web-2"): those it switched to their first
// release, with nothing to switch back to. "" for any other record, and
// for a cancelled deploy that left every host as it was. A host lost
// during that switch is named with what it may run ("left on 3 or no
// release yet on web-3"). At most maxLeftNamed hosts are named, then how
// many more.
func (r *Record) LeftOnBuild() string { return leftOnBuild(r.Kind, r.Outcome, r.Build, r.Hosts) }

const maxLeftNamed = 5

func leftOnBuild(kind Kind, o Outcome, build string, hosts []HostResult) string {
	if kind != KindDeploy || o != OutcomeCancelled || build == "" {
		return ""
	}
	var rels []string
	on := map[string][]string{}
	n := 0
	for _, h := range hosts {
		if !h.MayHaveSwitched() || h.State == HostReverted || h.Current != build && h.Switching != build {
			continue
		}
		n++
		if n > maxLeftNamed {
			continue
		}
		rel := h.Release()
		if _, ok := on[rel]; !ok {
			rels = append(rels, rel)
		}
		on[rel] = append(on[rel], h.Host)
	}
	if n == 0 {
		return ""
	}
	parts := make([]string, 0, len(rels))
	for _, rel := range rels {
		parts = append(parts, "on "+rel+" on "+strings.Join(on[rel], ", "))
	}
	s := "left " + strings.Join(parts, "; ")
	if n > maxLeftNamed {
		s += fmt.Sprintf(" and %d more", n-maxLeftNamed)
	}
	return s
}

func saidOutcome(kind Kind, o Outcome, hosts []HostResult) Outcome {
	if kind == KindDeploy && o == OutcomeReverted &&
		!slices.ContainsFunc(hosts, func(h HostResult) bool { return h.State == HostReverted }) {
		return OutcomeFailed
	}
	return o
}

// Done reports whether the outcome is final.
func (o Outcome) Done() bool { return o != OutcomeRunning && o != "" }

// HostState is what the engine knows of one host in one deploy.
type HostState string

const (
	HostPending     HostState = "pending"
	HostDelivering  HostState = "delivering"
	HostDelivered   HostState = "delivered"
	HostActivating  HostState = "activating"
	HostActive      HostState = "active"      // switched and healthy
	HostFailed      HostState = "failed"      // failed; see Error
	HostReverted    HostState = "reverted"    // switched, then switched back
	HostUnchanged   HostState = "unchanged"   // never switched
	HostUnreachable HostState = "unreachable" // could not be reached
)

// HostResult is the per-host part of a record.
type HostResult struct {
	Host string `json:"host"`
	// State is the engine's view of the host for this deploy.
	State HostState `json:"state"`
	// Current is the release `current` pointed at when last observed.
	Current string `json:"current,omitempty"`
	// Previous is the release `current` pointed at before this deploy.
	Previous string `json:"previous,omitempty"`
	// PreviousBad, set by Observe only (records do not keep it), says
	// that Previous is marked bad: no rollback goes to it.
	PreviousBad bool `json:"-"`
	// CurrentDangling, set by Observe only, says that `current` is a
	// link to a release that is gone (Current is then ""): CurrentGone,
	// "" when its target is no build id.
	CurrentDangling bool   `json:"-"`
	CurrentGone     string `json:"-"`

	Error string `json:"error,omitempty"`
	// Switched is set once this run switched the host's `current` (to
	// its build, or back): what a later rollback may have to finish.
	Switched bool `json:"switched,omitempty"`
	// Switching is the release this run is switching the host to, from
	// the start of its switch until where `current` points is known again
	// (the switch passed, or `current` was read after it failed). Left
	// set, the run lost the host during its switch (it died, or the run
	// did): `current` points at Switching, or still at Current, and a
	// later run that finds it on either may have to finish it, as for a
	// host Switched (see MayHaveSwitched).
	Switching string `json:"switching,omitempty"`
	// Stopped says what this run stopped on the host before it changed
	// anything there: the processes of steps an earlier run, whose
	// process died, had begun and that were still running ("deploy
	// 20261123-…: 2 processes (sh, sleep)").
	Stopped string `json:"stopped,omitempty"`
	// Searched lists the runs (their ids, space-separated) whose
	// leftover steps this run looked for on the host, the search having
	// run there, whether it stopped anything or found nothing: a host one
	// of them lost is not running what it began any more (see StillLost).
	// A search that could not run (no /proc, an error) lists nothing.
	Searched string `json:"searched,omitempty"`
	// Lost is set once a script of this run ended on the host because
	// its connection did (the host died, hung or was cut off): what the
	// script began may still run there, and the next run of the app+env
	// stops it before it changes anything (see stopLeftovers).
	Lost bool `json:"lost,omitempty"`
	// RunsBad is set by a reverted deploy on a host it did not switch, as
	// the host ran the build already: the host stays on the build, which
	// the revert marked bad there, until someone rolls it back.
	RunsBad bool `json:"runs_bad,omitempty"`
	// Unread is set when the recovery of an interrupted run could not
	// read the host (it did not answer, was refused, or hung): State and
	// Error say why, and Current is what the run last recorded of it,
	// not what it runs now.
	Unread bool `json:"unread,omitempty"`
	// LeftOut is set when this run may have taken the host out of the
	// load balancer's rotation without switching it (its drain failed
	// after taking it out, or its switch did not happen) and could not
	// put it back: the next run puts it back, as one this run left out,
	// not one someone took out (see leftOutBy).
	LeftOut bool `json:"left_out,omitempty"`

	// unknown holds what a newer version wrote of the host (see Record).
	unknown jsonkeep.Unknown
}

// hostResultJSON is HostResult without its JSON methods.
type hostResultJSON HostResult

// UnmarshalJSON decodes h, keeping the members it does not know.
func (h *HostResult) UnmarshalJSON(data []byte) error {
	u, err := jsonkeep.Decode(data, (*hostResultJSON)(h))
	h.unknown = u
	return err
}

// MarshalJSON encodes h with the members a newer version wrote.
func (h HostResult) MarshalJSON() ([]byte, error) {
	return jsonkeep.Encode(hostResultJSON(h), h.unknown)
}

// MayHaveSwitched reports whether this run switched the host's
// `current`, or lost the host during its switch.
func (h HostResult) MayHaveSwitched() bool { return h.Switched || h.Switching != "" }

// Release says, for people, which release the host's `current` points at
// as this record says: "1337"; "1337 or 1338" for a host lost during its
// switch, whose `current` could not be read; "1338 or no release yet"
// for one lost during its switch to its first release, which may have no
// `current` at all; "" for none.
func (h HostResult) Release() string {
	switch {
	case h.Switching == "" || h.Switching == h.Current:
		return h.Current
	case h.Current == "":
		return h.Switching + " or no release yet"
	}
	return h.Current + " or " + h.Switching
}

// startSwitch records that the run starts switching the host to build. A
// switch back to Current of a host lost during its switch keeps the
// release it may point at instead.
func (h *HostResult) startSwitch(build string) {
	if h.Switching == "" || build != h.Current {
		h.Switching = build
	}
}

// MigrationState is how far a deploy's migrations got, as its record
// says. It is written when it changes, before what comes next starts, so
// that a deploy interrupted there says whether the schema may have been
// migrated: a rollback never undoes a migration.
type MigrationState string

const (
	// MigrationsNotStarted: the migrate command has not started (the
	// pending migrations may not be listed yet, or wait for a
	// confirmation, or were refused).
	MigrationsNotStarted MigrationState = "not-started"
	// MigrationsNone: none were pending.
	MigrationsNone MigrationState = "none"
	// MigrationsRunning: the migrate command started and its end was not
	// recorded: stopped there, it may have applied some, all or none.
	MigrationsRunning MigrationState = "running"
	// MigrationsDone: the migrate command succeeded.
	MigrationsDone MigrationState = "done"
	// MigrationsFailed: the migrate command failed; it may have applied
	// some of them.
	MigrationsFailed MigrationState = "failed"
)

// Phase is a part of a running deploy that a replica other than the one
// running it needs to know of (see Record.Phase).
type Phase string

// PhasePruning: the deploy has switched every host for good and only
// removes old releases; a cancel of it is refused.
const PhasePruning Phase = "pruning"

// Record is the durable account of one deploy or rollback. It is written
// when the deploy starts, on every host state change, and when it ends, so a
// crash leaves a record that recovery can explain.
type Record struct {
	ID        string    `json:"id"`
	Kind      Kind      `json:"kind"`
	App       string    `json:"app"`
	Env       string    `json:"env"`
	Build     string    `json:"build"`
	Previous  string    `json:"previous,omitempty"`
	Requester string    `json:"requester"`
	Platform  string    `json:"platform,omitempty"`
	Channel   string    `json:"channel,omitempty"`
	Started   time.Time `json:"started"`
	Finished  time.Time `json:"finished,omitzero"`
	Outcome   Outcome   `json:"outcome"`
	Error     string    `json:"error,omitempty"`
	// Forced carries the override reason when a deploy skipped a window.
	Forced     string   `json:"forced,omitempty"`
	Migrations []string `json:"migrations,omitempty"`
	// MigrationState is how far the deploy's migrations got: after an
	// interruption, whether the schema may have changed. Empty for a
	// rollback, and for a deploy of an app without migrations.
	MigrationState MigrationState `json:"migration_state,omitempty"`
	// MigrationHost is the host the migrate command ran on, written with
	// MigrationState running before it starts: after an interruption,
	// the one host where the migrations may still run. Empty before they
	// start, and in records written before it: then any host of the run
	// may have run them.
	MigrationHost string `json:"migration_host,omitempty"`
	// Awaiting, while the deploy waits for its migrations to be
	// confirmed, is until when; zero otherwise. Another replica answers
	// the prompt only while it is set.
	Awaiting time.Time `json:"awaiting,omitzero"`
	// NoRollback, set when a deploy succeeded, says that a rollback from
	// it finds no good release to go back to: the release it replaced is
	// marked bad (a failed first deploy left the hosts on it) and no
	// other that ran is on disk. Set when a rollback succeeded, it says
	// the same of the hosts it left: the release it left is marked bad,
	// and no older good one that ran is on disk. Records written before
	// it say nothing.
	NoRollback bool `json:"no_rollback,omitempty"`
	// RollbackTo, set when a deploy or a rollback succeeded with a
	// release to go back to, is that release: where a rollback from it
	// goes, as the rollback itself picks it, with the hosts as the run
	// left them.
	// A Rollback offer names it and asks for it, so that a click goes
	// there or is refused. Empty when it could not be told, and in
	// records written before it: then the offer names none.
	RollbackTo string `json:"rollback_to,omitempty"`
	// SchemaKept, for a rollback, names the migrations the deploys since
	// the release it goes back to ran (or may have run), which stay
	// applied: a rollback never undoes a migration, and the release it
	// goes back to runs on the migrated database. Empty when none ran,
	// for a deploy, and in records written before it.
	SchemaKept string `json:"schema_kept,omitempty"`
	// Locked, for a rollback, is set once it has locked its app+env,
	// which it does before its first switch: stopped half-way, it leaves
	// the lock in force (see LockKept).
	Locked bool `json:"locked,omitempty"`
	// Phase is where a running deploy is, once that changes what a
	// cancel does: PhasePruning once it has switched its hosts for good.
	// Written before the phase starts, it tells any replica, not only
	// the one running the deploy, what stopping it would do. Empty
	// before, and in records written before it.
	Phase Phase        `json:"phase,omitempty"`
	Hosts []HostResult `json:"hosts"`
	// Owner names the process that ran the deploy (hostname:pid).
	Owner string `json:"owner,omitempty"`
	// Fence is the fencing token of the lease the deploy held.
	Fence int64 `json:"fence,omitempty"`
	// Run is the run's token, RunTokenLen random hex digits, which every
	// script of the run carries in its environment (see Command.Run): a
	// later run of the app+env stops by it, on each host, what this one
	// began there and left running when its process died. Empty in
	// records written before it: their runs left nothing to find.
	Run string `json:"run,omitempty"`
	// Undelivered, once set, says that the run's final report reached
	// nobody in chat: status and history show it, from any replica.
	// Records written before it say nothing.
	Undelivered *Undelivered `json:"undelivered,omitempty"`

	// unknown holds what a newer version wrote in the stored record, for
	// a write of the record read (a recovery) to keep.
	unknown jsonkeep.Unknown
}

// Undelivered is why a run's final report was posted nowhere: the chat
// platform and channel it was for, the platform's refusal ("post channel
// message: 403 Missing Access"), and when the adapter gave up.
type Undelivered struct {
	Platform string `json:"platform"`
	Channel  string `json:"channel,omitempty"`
	// Via names what refused it when that was no channel ("through the
	// command's response URL").
	Via    string    `json:"via,omitempty"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// recordJSON is Record without its JSON methods.
type recordJSON Record

// UnmarshalJSON decodes r, keeping the members it does not know.
//
// The words of r that came from outside the bot (who ran it, why it was
// forced, the migrations its host listed, why a platform did not take its
// report) lose the marks of the bot's suggested commands (see suggest), as
// chat input and host output do: a store may hold a record written
// otherwise, by an earlier version or by hand in a shared store, and the
// replies quoting it would show such a command as the bot's suggestion.
// Its error and notes are the bot's own words, suggestions included.
func (r *Record) UnmarshalJSON(data []byte) error {
	u, err := jsonkeep.Decode(data, (*recordJSON)(r))
	r.unknown = u
	r.Requester, r.Forced = suggest.Strip(r.Requester), suggest.Strip(r.Forced)
	for i, m := range r.Migrations {
		r.Migrations[i] = suggest.Strip(m)
	}
	if r.Undelivered != nil {
		r.Undelivered.Reason = suggest.Strip(r.Undelivered.Reason)
	}
	return err
}

// MarshalJSON encodes r with the members a newer version wrote in the
// record it was read from.
func (r Record) MarshalJSON() ([]byte, error) { return jsonkeep.Encode(recordJSON(r), r.unknown) }

// RunTokenLen is the length of a run's token. All tokens have it, so that
// none can match the start of another in a search of the hosts'
// processes' environments.
const RunTokenLen = 32

// ValidRunToken reports whether s has the form of a run's token: a
// transport puts it in the script it sends to a host.
func ValidRunToken(s string) bool {
	if len(s) != RunTokenLen {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Duration is how long the deploy took, or has taken so far at now.
func (r *Record) Duration(now time.Time) time.Duration {
	if !r.Finished.IsZero() {
		return r.Finished.Sub(r.Started)
	}
	return now.Sub(r.Started)
}

// FirstRelease reports whether no host ran a release before this run, as
// its record says: a deploy that gave every host its first release. A
// rollback from it has nothing to go back to, so none is offered.
func (r *Record) FirstRelease() bool {
	if r.Previous != "" {
		return false
	}
	for _, h := range r.Hosts {
		if h.Previous != "" {
			return false
		}
	}
	return true
}

// CanRollBack reports whether a rollback from this deploy has a release
// to go back to, as its record says: not after a first release, nor when
// the release it replaced is marked bad with no other good one on disk.
// An offer of a Rollback otherwise leads only to a refusal.
func (r *Record) CanRollBack() bool { return !r.FirstRelease() && !r.NoRollback }

// Host returns the result entry for host, or nil.
func (r *Record) Host(name string) *HostResult {
	for i := range r.Hosts {
		if r.Hosts[i].Host == name {
			return &r.Hosts[i]
		}
	}
	return nil
}

// Clone returns a deep copy, so a record handed to a store or a listener is
// never mutated afterwards by the engine.
func (r *Record) Clone() *Record {
	c := *r
	c.Hosts = append([]HostResult(nil), r.Hosts...)
	c.Migrations = append([]string(nil), r.Migrations...)
	if r.Undelivered != nil {
		u := *r.Undelivered
		c.Undelivered = &u
	}
	return &c
}

// LockKept says, of an interrupted rollback that locked its app+env,
// that the lock stays in force until someone unlocks it; "" for any
// other run. It ends the record's error, so that the report of the
// interruption and `status` say why a deploy is refused. It is worded to
// stay true once someone has unlocked.
func (r *Record) LockKept() string {
	if r.Kind != KindRollback || !r.Locked || r.Outcome != OutcomeInterrupted {
		return ""
	}
	return fmt.Sprintf("it locked %s/%s before its first switch, and the lock stays until someone unlocks it (%s), so that nothing deploys the release it was leaving again before it is fixed",
		r.App, r.Env, suggest.Command("unlock deploys "+r.App+" "+r.Env))
}

// Unresolved returns the newest interrupted run among recs, the records
// of one app+env newest first (as Store.Records lists them), that no later
// run resolved, or nil. A run resolves the runs before it when it
// succeeded: every host then runs its release and passed its health
// check, whatever an earlier run left; or when it found every host on its
// release already (unchanged), which says the hosts agree, however they
// came to. No other end does: a run that
// failed or was cancelled before its switch changed no host, one that
// reverted or ended partial left hosts apart, as does one interrupted in
// turn (then the newer is the one returned), and a run still going has
// not ended. complete is false when recs run out before an answer (no
// succeeded run, no interrupted one): older records may hold one.
func Unresolved(recs []*Record) (rec *Record, complete bool) {
	for _, r := range recs {
		switch r.Outcome {
		case OutcomeInterrupted:
			return r, true
		case OutcomeSucceeded, OutcomeUnchanged:
			return nil, true
		}
	}
	return nil, false
}

// LostHost is a host a run lost in the middle of a script (see
// HostResult.Lost).
type LostHost struct {
	Run  *Record
	Host string
}

// StillLost returns, among recs (the records of one app+env, newest
// first), the hosts runs that ended lost in the middle of a script and
// whose leftovers no later run has stopped yet, newest run first: those
// the next run searches (see deadRuns), less the hosts where a later run
// searched for what the run had left (HostResult.Searched names it) or
// stopped it (HostResult.Stopped names it). A run
// that succeeded ends the search: every run before it was searched.
func StillLost(recs []*Record) []LostHost {
	var out []LostHost
	for i, rec := range recs {
		if rec.Outcome == OutcomeSucceeded {
			break
		}
		if !rec.Outcome.Done() || rec.Outcome == OutcomeInterrupted {
			continue
		}
		for _, h := range rec.Hosts {
			if !h.Lost {
				continue
			}
			stopped := slices.ContainsFunc(recs[:i], func(later *Record) bool {
				lh := later.Host(h.Host)
				return lh != nil && (strings.Contains(lh.Stopped, string(rec.Kind)+" "+rec.ID+":") || slices.Contains(strings.Fields(lh.Searched), rec.ID))
			})
			if !stopped {
				out = append(out, LostHost{Run: rec, Host: h.Host})
			}
		}
	}
	return out
}

// Live returns, among recs, the records of one app+env newest first, the
// run that put what the env's hosts run now live: the newest that
// succeeded, that found every host on its release (unchanged), or that
// ended partial (its failed hosts kept the release before it, as the
// deploy's own error watch takes it). Runs that changed no host since
// (failed, cancelled, reverted) are passed over. When a run still going,
// or an interrupted one, comes first, the hosts are changing or apart:
// live is nil and unsettled is that run. complete is false when recs run
// out before an answer: older records may hold one.
func Live(recs []*Record) (live, unsettled *Record, complete bool) {
	for _, r := range recs {
		switch r.Outcome {
		case OutcomeSucceeded, OutcomeUnchanged, OutcomePartial:
			return r, nil, true
		case OutcomeRunning, OutcomeInterrupted:
			return nil, r, true
		}
	}
	return nil, nil, false
}

// Filter selects records for history and status.
type Filter struct {
	App   string // empty: any
	Env   string // empty: any
	Limit int    // 0: no limit
	// Outcome, when set, keeps only records with that outcome.
	Outcome Outcome
	// Since, when set, keeps only records started at or after it. A
	// store walks its history newest first and stops there, so a
	// listing of the last weeks costs those weeks, not the whole history.
	Since time.Time
}

// Lock stops deploys to a scope until it is removed or expires. An empty App
// means every app; an empty Env means every env of App.
type Lock struct {
	App     string    `json:"app,omitempty"`
	Env     string    `json:"env,omitempty"`
	Owner   string    `json:"owner"`
	Reason  string    `json:"reason"`
	Created time.Time `json:"created"`
	// Expires is zero for a lock that lasts until someone unlocks.
	Expires time.Time `json:"expires,omitzero"`
	// Fence is the fencing token of the app+env lease (LeaseKey) of the
	// run that wrote the lock (a rollback), 0 for a person's lock. A store
	// refuses to write a lock whose Fence is older than the newest token
	// handed out for LeaseKey(App, Env): a run that lost its lease leaves
	// no lock behind its successor's back.
	Fence int64 `json:"fence,omitempty"`

	// unknown holds what a newer version wrote in the stored lock, for a
	// replacement of the lock read to keep (see Record). Equal ignores it.
	unknown jsonkeep.Unknown
}

// lockJSON is Lock without its JSON methods.
type lockJSON Lock

// UnmarshalJSON decodes l, keeping the members it does not know. Its
// owner and reason are people's words, quoted in replies: the marks of
// the bot's suggested commands are taken out of them (see suggest), as
// chat takes them out of what people type, since a store may hold a lock
// written otherwise (by an earlier version, or by hand in a shared store).
func (l *Lock) UnmarshalJSON(data []byte) error {
	u, err := jsonkeep.Decode(data, (*lockJSON)(l))
	l.unknown = u
	l.Owner, l.Reason = suggest.Strip(l.Owner), suggest.Strip(l.Reason)
	return err
}

// MarshalJSON encodes l with the members a newer version wrote.
func (l Lock) MarshalJSON() ([]byte, error) { return jsonkeep.Encode(lockJSON(l), l.unknown) }

// Scope renders the lock's scope for people: "all deploys", "accounting",
// "accounting/production".
func (l Lock) Scope() string {
	switch {
	case l.App == "":
		return "all deploys"
	case l.Env == "":
		return l.App
	default:
		return l.App + "/" + l.Env
	}
}

// Covers reports whether the lock applies to app/env.
func (l Lock) Covers(app, env string) bool {
	return (l.App == "" || l.App == app) && (l.Env == "" || l.Env == env)
}

// Equal reports whether l and o are the same lock: the same scope, owner
// and reason, created and expiring at the same instants (in any zone).
func (l Lock) Equal(o Lock) bool {
	return l.App == o.App && l.Env == o.Env && l.Owner == o.Owner && l.Reason == o.Reason &&
		l.Created.Equal(o.Created) && l.Expires.Equal(o.Expires) && l.Fence == o.Fence
}

// Active reports whether the lock is in force at now.
func (l Lock) Active(now time.Time) bool {
	return l.Expires.IsZero() || now.Before(l.Expires)
}
