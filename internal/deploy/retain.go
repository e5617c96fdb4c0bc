package deploy

// Retained tells a trim which records of one app+env the bot still reads
// when it asks what runs there and where to roll back to, however old
// they are: the run Live returns (or, while a run goes or after one was
// interrupted, the run before it), and a record that shows the release
// an unnamed rollback from it goes to running once (see ranReleases),
// without which the rollback refuses that release as never run.
// Trimmed, they would leave status, the alert's Rollback button and a
// rollback without a target after enough runs that changed no host
// (failed before their switch, cancelled, refused).
//
// Feed it the records of its app+env newest first, as Store.Records lists
// them. The zero value is ready for use; it is not safe for concurrent use.
type Retained struct {
	state retainState
	// target is the release the rollback goes to, while its record is
	// sought; empty for the first release other than those in leave.
	target string
	leave  map[string]bool
	// shown holds the releases a kept record shows running, once the live
	// run is a partial one with no rollback target (retainEvery).
	shown map[string]bool
}

type retainState int

const (
	retainLive  retainState = iota // the live run not met yet
	retainProof                    // met; its rollback's release not shown running yet
	// retainEvery: the live run is a partial one naming no release to
	// go back to, whose alert asks for a release the hosts all have by
	// name: any release that ran may be it, and a record showing each
	// one running stays. It lasts to the oldest record.
	retainEvery
	retainDone
)

// Done reports whether no further record can be one to keep.
func (k *Retained) Done() bool { return k.state == retainDone }

// NeedsRecord reports whether Keep must see the whole next record, whose
// outcome is o, rather than its outcome alone.
func (k *Retained) NeedsRecord(o Outcome) bool {
	switch k.state {
	case retainLive:
		return o == OutcomeSucceeded || o == OutcomeUnchanged || o == OutcomePartial
	case retainProof, retainEvery:
		return true
	}
	return false
}

// Keep reports whether r, the next record newest first, must stay. When
// NeedsRecord said false, r may carry its Outcome alone.
//
// Unlike Live, Keep passes over a run still going, or interrupted, for
// the run before it: a run going now may yet fail or be cancelled, and
// then the run before it is live again; and one interrupted before it
// switched every host (before any, say) left hosts on the release of the
// run before it, which a rollback from there goes back from.
func (k *Retained) Keep(r *Record) bool {
	switch k.state {
	case retainLive:
		switch r.Outcome {
		case OutcomeSucceeded, OutcomeUnchanged, OutcomePartial:
		default:
			return false
		}
		switch {
		case r.NoRollback && r.Outcome == OutcomePartial:
			// Its hosts run different releases: `rollback APP ENV to
			// BUILD`, the alert's advice, refuses a BUILD no record
			// shows running (see neverRan).
			k.state, k.shown = retainEvery, map[string]bool{}
			k.showsNew(r)
			return true
		case r.NoRollback || r.Kind == KindDeploy && r.FirstRelease():
			// Its first release, or nothing good before it (after a
			// deploy, or a rollback that left the last good one): as
			// the alert and the run's report, nothing to go back to.
			k.state = retainDone
		case r.RollbackTo != "":
			// Where the rollback goes, as the run saw its hosts. After
			// a rollback of a rollback it is no release the records
			// near it show leaving: the newest good one that ran may
			// be one a rollback before it left, and marked bad.
			k.target, k.state = r.RollbackTo, retainProof
		default:
			// Records that say nothing of it (written before they
			// did): the release that ran before the live one, as
			// the rollback, which leaves the live release and marks
			// bad the one a rollback left, picks the newest good one.
			k.leave, k.state = map[string]bool{r.Build: true}, retainProof
			if r.Kind == KindRollback && r.Previous != "" {
				k.leave[r.Previous] = true
			}
		}
		k.proves(r)
		return true
	case retainProof:
		return k.proves(r)
	case retainEvery:
		return k.showsNew(r)
	}
	return false
}

// showsNew reports whether r shows a release running that no record kept
// before it showed, and notes those it shows.
func (k *Retained) showsNew(r *Record) bool {
	shows := false
	for _, rel := range ranBy(r) {
		if !k.shown[rel] {
			k.shown[rel], shows = true, true
		}
	}
	return shows
}

// proves reports whether r shows the rollback's release running, and
// ends the search when it does.
func (k *Retained) proves(r *Record) bool {
	for _, rel := range ranBy(r) {
		if k.target == rel || k.target == "" && !k.leave[rel] {
			k.state = retainDone
			return true
		}
	}
	return false
}
