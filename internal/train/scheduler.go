package train

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/pause"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// Options wire a Scheduler. Config, Store, Runner, Notifier and Audit are
// required; every other field has a sensible zero value.
type Options struct {
	// Config holds the trains; it must have passed validation.
	Config   *config.Config
	Store    Store
	Runner   Runner
	Notifier Notifier
	// Audit records the cars a departure holds back and what became of
	// each scheduled departure.
	Audit Auditor
	// Gate is asked before a departure ships each car; nil: no car is
	// held back beforehand (the Runner still refuses a locked app).
	Gate Gate
	// Builds is asked whether a build exists when it boards; nil: not checked.
	Builds Builds
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Sleep blocks until Now reads until or later, or ctx is done (it then
	// returns ctx's error). It may return early: the scheduler sleeps
	// again. Default: a real timer of at most a minute at a time, so that
	// a clock jump (a suspended machine) delays an event by a minute at most.
	//
	// Only Run's goroutine calls it, one call at a time, between its looks
	// at the schedule: it need not be safe for concurrent use, and it may
	// wait for what the scheduler runs in the background (departures,
	// their posts, a train depart now), none of which calls it. Those
	// time their own waits (a departure's grace) on real timers read
	// against Now, so code added there must not call it either.
	Sleep func(ctx context.Context, until time.Time) error
	Log   *slog.Logger
	// Leader reports whether this replica runs scheduled events; nil:
	// always. Commands (Board, DepartNow, …) work on every replica.
	Leader func() bool
	// DeployTimeout bounds the wait for the outcome of one car's deploy
	// of a train whose config sets no deploy_timeout (Load always sets
	// one); a car with no outcome by then is reported as still running,
	// never as failed, and its outcome is said when the deploy ends.
	// Zero: the departure waits for the deploy's end, which the env's own
	// timeouts (step_timeout, confirm_timeout, the health check's) bound.
	DeployTimeout time.Duration
	// StopWait, when set, bounds the wait for a car's deploy once the
	// departure's ctx has ended (the bot is stopping): as long as the
	// bot lets running deploys finish, after which the car is reported
	// as still running. Zero: the departure waits for the deploy's end.
	StopWait time.Duration
	// Leases, when set, hands out a lease per train that each departure
	// holds, so that replicas sharing the store depart a train one at a
	// time (a train depart now on one while the leader's scheduled
	// departure runs); LeaseTTL is its life unrenewed, default 30 s.
	Leases   deploy.Leaser
	LeaseTTL time.Duration
	// Once, when set, lets one replica run each scheduled event: a
	// replica that read the schedule as leader and was replaced before
	// it recorded the event (a long pause, a store slow to answer) finds
	// the event taken by the new leader, and does not run it again.
	Once Once
}

// Once sets a key once across the replicas sharing the store; the
// stores implement it.
type Once interface {
	// SetOnceToken sets key for ttl, with token (unique to the call),
	// and reports whether it was newly set.
	SetOnceToken(ctx context.Context, key, token string, ttl time.Duration) (bool, error)
	// ForgetOnce removes key if SetOnceToken set it with token, and
	// leaves it if it holds another token; a SetOnceToken with token that
	// reaches the store afterwards sets nothing.
	ForgetOnce(ctx context.Context, key, token string) error
}

// onceTries bounds the attempts to learn whether this replica holds an
// event whose record timed out, onceRetry apart.
const (
	onceTries = 3
	onceRetry = 500 * time.Millisecond
)

// onceTTL is how long an event stays taken by the replica that ran it:
// well past the lateness with which any replica could still fire it.
const onceTTL = 48 * time.Hour

// onTime is how late an event may fire and still count as on time; later
// ones were missed (the bot was down or asleep).
const onTime = time.Minute

// runsLate reports whether a departure late by late still leaves: on
// time, or less late than the train's grace. Cancel and Board name the
// departure by the same rule, so that the one they call off or board is
// the one that leaves.
func runsLate(late, grace time.Duration) bool { return late <= onTime || late < grace }

// Scheduler runs the trains of a config: Run fires their scheduled events
// and the other methods serve the /train commands. It is safe for
// concurrent use.
type Scheduler struct {
	cfg    *config.Config
	trains map[string]*trainState // read-only after New
	names  []string               // sorted

	store         Store
	runner        Runner
	notifier      Notifier
	audit         Auditor
	gate          Gate
	builds        Builds
	now           func() time.Time
	sleep         func(context.Context, time.Time) error
	log           *slog.Logger
	leader        func() bool
	deployTimeout time.Duration
	stopWait      time.Duration
	leases        deploy.Leaser
	leaseTTL      time.Duration
	// leaseClock times the departure leases' renewals; nil: time.Now.
	// Not now, which tests move by hours at a time.
	leaseClock func() time.Time
	once       Once
	// sayWait bounds how long a train depart now waits for this
	// replica's own saying of departures found unended (cutShort, or
	// replaced by a due departure that does not leave) to give the train
	// back; see takeTrain.
	sayWait time.Duration

	// leading is set while tick finds this replica the leader, and
	// cleared when it finds it not: each taking over of the lead looks
	// for departures cut short (cutShort) once. Only Run's goroutine
	// uses it.
	leading bool

	// life bounds departures started by DepartNow; Run ends it on return.
	life    context.Context
	endLife context.CancelFunc

	mu      sync.Mutex
	stopped bool // guarded by mu; set when Run returns
	// unrecorded holds, by train, the departure announced as not leaving
	// because the store could not record it (guarded by mu): once the
	// store is back it is recorded, not run late.
	unrecorded map[string]time.Time
	// wg counts departures running in the background, the posts they
	// start, and the calls of DepartNow under way (which start one); Add
	// is called under mu while !stopped, by Run's own goroutine, or by a
	// departure (which Run outlives). mu is never held across a store
	// call or a post.
	wg sync.WaitGroup
}

// trainState is one configured train.
type trainState struct {
	name  string
	cfg   *config.Train
	loc   *time.Location
	sched map[string]schedule // by kind; no KindReminder without a reminder
	// busy holds a token while the train departs: one departure at a time.
	busy chan struct{}
	// mu guards own, and is held by whoever says, under own's hold of
	// the train, the departures found unended (sayDeparting): own's
	// departure gives the train back only after that.
	mu sync.Mutex
	// own is the departure this replica is running of the train, from
	// when it holds the train (tr.busy and the departure lease) until
	// just before it gives the train back; nil when none runs.
	own *ownDeparture

	// sayMu guards sayers, said and sayings, which tell a train depart
	// now that the train is held by this replica's saying of departures
	// found unended (cutShort, or notLeaving's replaced), for a moment,
	// and not by a departure.
	sayMu sync.Mutex
	// sayers counts the sayings that hold the train's departure lease,
	// or are taking it; said is closed once none does any more.
	sayers int
	said   chan struct{}
	// sayings counts the sayings begun: one that began and ended
	// between two looks still changes it.
	sayings uint64
	// freed, guarded by sayMu, is closed as tr.busy is given back
	// (giveBack), for a saying waiting to take it (takeSaying).
	freed chan struct{}
	// took and unmarked, if set, are called each time a saying has
	// taken tr.busy itself, and each time a saying's mark has ended: a
	// test looks at the train at those instants. Nil outside tests.
	took, unmarked func()
}

// saying records that a saying of departures found unended holds the
// train, or is taking it; it returns the func that records that it no
// longer does.
func (tr *trainState) saying() (done func()) {
	tr.sayMu.Lock()
	defer tr.sayMu.Unlock()
	return tr.markLocked()
}

// markLocked is saying with sayMu held.
func (tr *trainState) markLocked() (done func()) {
	if tr.sayers == 0 {
		tr.said = make(chan struct{})
	}
	tr.sayers++
	tr.sayings++
	said := tr.said
	return func() {
		tr.sayMu.Lock()
		if tr.sayers--; tr.sayers == 0 {
			close(said)
		}
		tr.sayMu.Unlock()
		if tr.unmarked != nil {
			tr.unmarked()
		}
	}
}

// takeSaying waits for tr.busy and takes it for a saying, marked as one
// (saying) under sayMu as it is taken: a train depart now never finds
// the train held by the saying unmarked, and refused as behind a
// departure under way. It returns the func that ends the mark, to be
// called once the train is given back (giveBack), or nil if ctx ended
// first.
func (tr *trainState) takeSaying(ctx context.Context) (done func()) {
	for {
		tr.sayMu.Lock()
		select {
		case tr.busy <- struct{}{}:
			done = tr.markLocked()
			tr.sayMu.Unlock()
			if tr.took != nil {
				tr.took()
			}
			return done
		default:
		}
		if tr.freed == nil {
			tr.freed = make(chan struct{})
		}
		freed := tr.freed
		tr.sayMu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil
		}
	}
}

// giveBack gives back tr.busy, and wakes a saying waiting to take it.
func (tr *trainState) giveBack() {
	<-tr.busy
	tr.sayMu.Lock()
	defer tr.sayMu.Unlock()
	if tr.freed != nil {
		close(tr.freed)
		tr.freed = nil
	}
}

// sayingNow returns a channel closed once no saying holds the train, nil
// when none does now, and how many sayings have begun.
func (tr *trainState) sayingNow() (<-chan struct{}, uint64) {
	tr.sayMu.Lock()
	defer tr.sayMu.Unlock()
	if tr.sayers == 0 {
		return nil, tr.sayings
	}
	return tr.said, tr.sayings
}

// ownDeparture is a departure this replica runs: its record in the store
// (rec), and its hold of the train's departure lease (dep).
type ownDeparture struct {
	rec Departure
	dep *departure
}

// hold records that d, recorded as rec, holds the train; it returns the
// func that records that it no longer does, which waits for a saying of
// the departures found unended under d's hold to end.
func (tr *trainState) hold(rec Departure, d *departure) (done func()) {
	tr.mu.Lock()
	tr.own = &ownDeparture{rec: rec, dep: d}
	tr.mu.Unlock()
	return func() {
		tr.mu.Lock()
		tr.own = nil
		tr.mu.Unlock()
	}
}

// kinds are the scheduled events, in the order they fire when due at the
// same instant.
var kinds = []string{KindBoarding, KindReminder, KindDeparture}

// New returns a Scheduler for the trains of opt.Config.
func New(opt Options) (*Scheduler, error) {
	switch {
	case opt.Config == nil:
		return nil, errors.New("train scheduler: no config")
	case opt.Store == nil:
		return nil, errors.New("train scheduler: no store")
	case opt.Runner == nil:
		return nil, errors.New("train scheduler: no runner")
	case opt.Notifier == nil:
		return nil, errors.New("train scheduler: no notifier")
	case opt.Audit == nil:
		return nil, errors.New("train scheduler: no audit log")
	}
	s := &Scheduler{
		cfg: opt.Config, trains: map[string]*trainState{}, store: opt.Store, runner: opt.Runner, notifier: opt.Notifier, audit: opt.Audit,
		gate: opt.Gate, builds: opt.Builds, now: opt.Now, sleep: opt.Sleep, log: opt.Log, leader: opt.Leader,
		deployTimeout: opt.DeployTimeout, stopWait: opt.StopWait, leases: opt.Leases, leaseTTL: opt.LeaseTTL, once: opt.Once,
		sayWait: stopTimeout,
	}
	if s.leaseTTL <= 0 {
		s.leaseTTL = 30 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sleep == nil {
		s.sleep = s.realSleep
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.leader == nil {
		s.leader = func() bool { return true }
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	for name, t := range opt.Config.Trains {
		if t == nil {
			continue
		}
		if len(t.Channels) == 0 {
			return nil, fmt.Errorf("train %s: no channel for its announcements", name)
		}
		tr := &trainState{name: name, cfg: t, loc: t.Location(), sched: map[string]schedule{}, busy: make(chan struct{}, 1)}
		for _, k := range []struct{ kind, spec string }{
			{KindBoarding, t.Boarding}, {KindReminder, t.Reminder}, {KindDeparture, t.Departure},
		} {
			if k.spec == "" {
				if k.kind != KindReminder {
					return nil, fmt.Errorf("train %s: no %s schedule", name, k.kind)
				}
				continue
			}
			sc, err := newSchedule(t, k.spec)
			if err != nil {
				return nil, fmt.Errorf("train %s: %s schedule: %w", name, k.kind, err)
			}
			tr.sched[k.kind] = sc
		}
		s.trains[name] = tr
		s.names = append(s.names, name)
	}
	slices.Sort(s.names)
	return s, nil
}

// realSleep waits on a real timer, a minute at most.
func (s *Scheduler) realSleep(ctx context.Context, until time.Time) error {
	return pause.For(ctx, min(until.Sub(s.now()), time.Minute))
}

// Run fires the trains' scheduled events until ctx is done, then waits for
// the departures in progress to stop (they ship no further car) and
// returns nil. Call it once, on every replica: only one for which Leader
// reports true fires anything.
//
// On start, and whenever it wakes as leader, it catches up on what nobody
// ran (from LastRun, or for a train that never left, from when its first
// car boarded): a departure missed by less than the train's Grace
// runs once, late, with a note; an older one is announced as missed and
// its cars stay aboard; missed boarding and reminder announcements are
// skipped. Every event is recorded with MarkRun (a departure with
// StartDeparture, until its end) before it runs, so a crash
// in the middle of a departure never runs it twice: the deploys it started
// are reported by deploy recovery and never retried.
func (s *Scheduler) Run(ctx context.Context) error {
	defer func() {
		s.mu.Lock()
		s.stopped = true
		s.endLife()
		s.mu.Unlock()
		s.wg.Wait()
	}()
	s.warnOrphans(ctx)
	if len(s.names) == 0 {
		<-ctx.Done()
		return nil
	}
	seen := s.now()
	led := s.tick(ctx, seen, seen)
	for {
		at, ok := s.nextEvent(seen)
		if !led {
			// Look again soon: on taking over from a leader that died,
			// this replica catches up on what it missed, within Grace.
			if again := seen.Add(followerRecheck); !ok || again.Before(at) {
				at, ok = again, true
			}
		}
		if !ok {
			<-ctx.Done()
			return nil
		}
		if err := s.sleep(ctx, at); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("train scheduler: %w", err)
		}
		now := s.now()
		if now.Before(at) {
			continue
		}
		led = s.tick(ctx, seen, now)
		seen = now
	}
}

// neverLeftFrom is when the departures due at now of train name, which
// never left, begin: one a car aboard boarded before was missed (the bot
// was down at it), and is run late or announced as missed; another,
// leaving nobody who was waiting for it, runs only on time. It rests on
// the store and the clock alone, so that every replica finds the same
// departure due, whenever it started.
func (s *Scheduler) neverLeftFrom(ctx context.Context, name string, now time.Time) time.Time {
	return s.firstBoarded(ctx, name, now.Add(-onTime))
}

// warnOrphans logs the trains the config no longer has whose cars are
// aboard: no departure takes them, and train lists them.
func (s *Scheduler) warnOrphans(ctx context.Context) {
	orphans, err := s.orphans(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("train: read the trains with cars aboard", "err", err)
		}
		return
	}
	for _, o := range orphans {
		s.log.Warn("train: cars aboard a train no longer in the config never leave; take them off with train leave APP on TRAIN",
			"train", o.name, "cars", carList(o.cars))
	}
}

// firstBoarded returns when the first car aboard train name boarded, if
// that is before t, and t otherwise (or when the cars cannot be read).
func (s *Scheduler) firstBoarded(ctx context.Context, name string, t time.Time) time.Time {
	cars, err := s.store.Cars(ctx, name)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("train: read cars", "train", name, "err", err)
		}
		return t
	}
	for _, c := range cars {
		if c.Boarded.Before(t) {
			t = c.Boarded
		}
	}
	return t
}

// followerRecheck is how often a replica that is not the leader checks
// whether it has become one: well within onTime, so that a departure due
// as it takes the lead (at its start, as the lease is taken a moment after
// the first look, or from a leader that died) runs up to a minute late as
// on time, not as missed. A look as a follower reads nothing.
const followerRecheck = 5 * time.Second

// nextEvent returns the first event of any train after t.
func (s *Scheduler) nextEvent(t time.Time) (time.Time, bool) {
	var next time.Time
	for _, name := range s.names {
		for _, sc := range s.trains[name].sched {
			if at := sc.Next(t); !at.IsZero() && (next.IsZero() || at.Before(next)) {
				next = at
			}
		}
	}
	return next, !next.IsZero()
}

// due is one scheduled event to handle.
type due struct {
	name string
	tr   *trainState
	kind string
	at   time.Time
	// from is when the scheduled departures tick looked at begin: at
	// is the latest of them; those before it nobody ran either.
	from time.Time
	// of is the departure the event is about: at for a departure, the
	// one a boarding or reminder announces.
	of time.Time
}

// tick handles, as leader, the latest event of each train and kind that is
// due at now and has not run: scheduled after its LastRun, for a departure
// that never ran after neverLeftFrom, or after seen (when the scheduler
// last looked) if another event never ran or LastRun fails. It
// reports whether this replica is the leader; once ctx has ended it fires
// nothing (see fire) and reports false.
func (s *Scheduler) tick(ctx context.Context, seen, now time.Time) bool {
	if ctx.Err() != nil {
		return false
	}
	if !s.leader() {
		s.leading = false
		return false
	}
	if !s.leading {
		// Once per taking over of the lead, not once per process: the
		// last departure of a leader that died during it is this one's
		// to say, whether it led before that leader or not.
		s.leading = true
		for _, name := range s.names {
			tr := s.trains[name]
			if found := s.unended(ctx, name, tr, now); len(found) > 0 {
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					s.cutShort(ctx, name, tr, found, now)
				}()
			}
		}
	}
	var dues []due
	for _, name := range s.names {
		tr := s.trains[name]
		for _, kind := range kinds {
			sc, ok := tr.sched[kind]
			if !ok {
				continue
			}
			after := seen
			last, err := s.store.LastRun(ctx, name, kind)
			switch {
			case err != nil && ctx.Err() != nil:
				// The bot is stopping: fire would fire nothing now,
				// and the store is not to blame.
				return false
			case err != nil:
				// Only what fell due since the last look; fire reports
				// it if the store cannot record it either.
				s.log.Error("train: read last run", "train", name, "kind", kind, "err", err)
			case !last.IsZero():
				after = last
			case kind == KindDeparture:
				after = s.neverLeftFrom(ctx, name, now)
			}
			if at, ok := latest(sc, after, now, tr.cfg.Grace.D()); ok {
				dues = append(dues, due{name: name, tr: tr, kind: kind, at: at, from: after})
			}
		}
	}
	// At one instant, a departure goes before an announcement of a later
	// one (boarding and departure at the same time of day, or moved to
	// one instant by a spring-forward change), which waits for its end:
	// the channel hears the train leave, then the next one board, with
	// who is aboard it after the departure took its cars.
	for i := range dues {
		dues[i].of = dues[i].at
		if dues[i].kind != KindDeparture {
			if dep := announcedDeparture(dues[i].tr, dues[i].kind, dues[i].at); !dep.IsZero() {
				dues[i].of = dep
			}
		}
	}
	slices.SortStableFunc(dues, func(a, b due) int {
		return cmp.Or(a.at.Compare(b.at), a.of.Compare(b.of), cmp.Compare(slices.Index(kinds, a.kind), slices.Index(kinds, b.kind)))
	})
	departed := map[string]<-chan struct{}{}
	for _, d := range dues {
		var after <-chan struct{}
		if d.kind != KindDeparture {
			after = departed[d.name]
		}
		if done := s.fire(ctx, d, now, after); done != nil {
			departed[d.name] = done
		}
	}
	return true
}

// fire handles one due event at now, after recording it. Once the bot
// is stopping (ctx has ended) it does nothing: what it has not recorded,
// the next start catches up on, within Grace, or announces as missed;
// recording it with ctx would fail, and say the store is unreachable.
//
// A boarding or reminder announcement is posted once after is closed,
// if set: the departure before it has ended. For a departure run in the
// background, fire returns a channel closed when it ends; otherwise nil.
func (s *Scheduler) fire(ctx context.Context, d due, now time.Time, after <-chan struct{}) <-chan struct{} {
	if ctx.Err() != nil {
		return nil
	}
	log := s.log.With("train", d.name, "kind", d.kind, "at", d.at)
	late := now.Sub(d.at)
	s.mu.Lock()
	told := d.kind == KindDeparture && s.unrecorded[d.name].Equal(d.at)
	s.mu.Unlock()
	// The departures found unended as d falls due, which cutShort may not
	// have said (it gives up on a train held past a lease's life), d says
	// once it holds the train (replaced): none is running then.
	var prev []Departure
	if d.kind == KindDeparture && !told {
		prev = s.unended(ctx, d.name, d.tr, now)
	}
	if err := s.record(ctx, d); err != nil {
		if ctx.Err() != nil {
			s.stoppedAsDue(ctx, d, prev)
			return nil
		}
		// Running it unrecorded could run it twice.
		log.Error("train: record run; not running it", "err", err)
		if d.kind == KindDeparture && !told {
			s.mu.Lock()
			if s.unrecorded == nil {
				s.unrecorded = map[string]time.Time{}
			}
			s.unrecorded[d.name] = d.at
			s.mu.Unlock()
			m := chat.Message{Level: chat.Failure, Public: true,
				Title: fmt.Sprintf("The %s did not leave: %s. The cars stay aboard.", s.label(d.tr, d.at, d.at), storeDown(err))}
			s.auditDeparture(ctx, d.name, d.tr, d.at, m.Title)
			s.announce(ctx, d.tr, m)
		}
		return nil
	}
	if told {
		// Announced as not leaving: it keeps its word now that the store
		// has recorded it.
		s.mu.Lock()
		delete(s.unrecorded, d.name)
		s.mu.Unlock()
		log.Info("train: recorded a departure announced as not leaving")
		// Audited then, when its end could not be recorded either:
		// it ended, and is not one the bot died during. Its end is its
		// own: the departures unended before it stay so.
		if err := s.store.EndDeparture(ctx, d.name, Departure{At: d.at}); err != nil {
			log.Error("train: record a departure as ended", "err", err)
		}
		return nil
	}
	if !s.takeEvent(ctx, d, prev, log) {
		return nil
	}
	if d.kind != KindDeparture {
		if late > onTime {
			log.Info("train: skipping a missed announcement", "late", late)
			return nil
		}
		if after != nil {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				select {
				case <-after:
				case <-ctx.Done():
					return // the bot is stopping: nobody would be told
				}
				s.announceStop(ctx, d.name, d.tr, d.kind, d.at)
			}()
			return nil
		}
		s.announceStop(ctx, d.name, d.tr, d.kind, d.at)
		return nil
	}
	down := s.auditEarlier(ctx, d, now)
	cancelled, err := s.cancelled(ctx, d.name, d.at)
	if err != nil {
		return s.calledOff(ctx, d, err, prev)
	}
	if cancelled {
		return s.notLeavingAfter(ctx, d, prev, "did not leave: it was cancelled", func(ctx context.Context) {
			if late <= max(onTime, d.tr.cfg.Grace.D()) {
				s.announceCancelled(ctx, d.name, d.tr, d.at)
			}
		})
	}
	var note string
	if !runsLate(late, d.tr.cfg.Grace.D()) {
		log.Warn("train: departure missed", "late", late)
		return s.notLeavingAfter(ctx, d, prev, missedDown, func(ctx context.Context) {
			s.announceMissed(ctx, d.name, d.tr, d.at, now, down)
		})
	}
	if late > onTime {
		note = fmt.Sprintf("running the %s departure late (the bot was down)", clock(d.at.In(d.tr.loc)))
		log.Warn("train: departure late", "late", late)
	}
	if len(down) > 0 {
		note = strings.TrimPrefix(note+"; "+earlierLine(down, now, d.tr.loc), "; ")
	}
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		// A departure that has to wait says so in the store, so that
		// an admin may still cancel it (Cancel), and stops saying so
		// before it looks for a cancellation again.
		var waited bool
		wait := func() {
			if !waited {
				waited = true
				s.markWaiting(ctx, d.name, d.at)
			}
		}
		defer func() {
			if waited {
				s.clearWaiting(ctx, d.name)
			}
		}()
		// An earlier departure of the train (sent off early) holds it
		// here or on another replica: this one leaves once that one is
		// done, with the cars boarded since, if that is within its
		// grace of its time (what of it a late start has not used);
		// else it does not leave, as one the bot was down for.
		// The grace is timed by the scheduler's clock, as the departure's
		// time is: a test moves it past the grace when it means to.
		gctx, endGrace := context.WithCancel(ctx)
		defer endGrace()
		graceOver := s.reached(gctx, s.now().Add(d.tr.cfg.Grace.D()-max(late, 0)))
		select {
		case d.tr.busy <- struct{}{}:
		default:
			wait()
			select {
			case d.tr.busy <- struct{}{}:
			case <-graceOver:
				log.Warn("train: departure not run: an earlier departure of the train was under way all through its grace")
				// Said not to leave, it waits no more: a cancel now is the
				// next departure's.
				s.clearWaiting(ctx, d.name)
				waited = false
				s.outwaited(ctx, d, "an earlier departure of the train was under way", prev, false)
				return
			case <-ctx.Done():
				// Recorded as run, it is not run late after a restart.
				s.stoppedDue(ctx, d, prev, "the bot stopped while an earlier departure of the train was under way", false)
				return
			}
		}
		// Handed to notLeaving (outwaited, stoppedDue), the train is
		// given back there, before the mark of its saying ends.
		held := true
		defer func() {
			if held {
				d.tr.giveBack()
			}
		}()
		dep, err := s.claimWaiting(ctx, d.name, graceOver, wait)
		if err == nil && len(prev) > 0 {
			s.replaced(ctx, d.name, d.tr, prev)
		}
		switch {
		case errors.Is(err, deploy.ErrLeaseHeld):
			log.Warn("train: departure not run: another replica departed the train all through its grace")
			if waited {
				s.clearWaiting(ctx, d.name)
				waited = false
			}
			held = false
			s.outwaited(ctx, d, "another replica of the bot was departing the train", prev, true)
			return
		case err != nil && ctx.Err() != nil:
			why := "the bot was stopping"
			if waited {
				why = "the bot stopped while another replica was departing the train"
			}
			held = false
			s.stoppedDue(ctx, d, prev, why, true)
			return
		case err == nil && waited:
			// An admin may have called it off while it waited (Cancel
			// announced that).
			s.clearWaiting(ctx, d.name)
			waited = false
			if off, err := s.cancelled(ctx, d.name, d.at); err != nil || off {
				dep.release()
				s.calledOff(ctx, d, err, nil) // prev said (replaced)
				return
			}
		}
		s.depart(ctx, d.name, d.tr, d.at, note, dep) // nil after another error: depart says what
	}()
	return done
}

// record records due event d as run: a departure as leaving, unended
// until its end is recorded (auditEnd).
func (s *Scheduler) record(ctx context.Context, d due) error {
	if d.kind == KindDeparture {
		return s.store.StartDeparture(ctx, d.name, Departure{At: d.at})
	}
	return s.store.MarkRun(ctx, d.name, d.kind, d.at)
}

// cutShortWhat is what became of a departure recorded as run whose
// outcome was never written: the bot died during it; cutShortEarlyWhat
// the same of one sent off early.
const (
	cutShortWhat      = "the bot stopped after it fell due, before it said what became of its cars"
	cutShortEarlyWhat = "the bot stopped after it was sent off, before it said what became of its cars"
)

// unended returns the departures of train name recorded as leaving and
// never ended (see trainstore.Store.Unended), each with its own record:
// the bot died during them, or before they began, or a replica is
// running them. One older than any catch-up looks back is not returned,
// nor the scheduled one that waits to run (KindWaiting), here or on
// another replica. None if they cannot be read.
//
// One that old is ended in the store unsaid (dropOld): no replica runs a
// departure that long, and left there it would be read at every look,
// one more for each death, for ever.
func (s *Scheduler) unended(ctx context.Context, name string, tr *trainState, now time.Time) []Departure {
	out, _ := s.readUnended(ctx, name, tr, now)
	return out
}

// readUnended is unended with the error that kept the departures from
// being read, for a reply that says so.
func (s *Scheduler) readUnended(ctx context.Context, name string, tr *trainState, now time.Time) ([]Departure, error) {
	all, err := s.store.Unended(ctx, name)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("train: read the departures that never ended", "train", name, "err", err)
		}
		return nil, err
	}
	var out []Departure
	var waiting time.Time
	read := false
	for _, d := range all {
		if now.Sub(d.At) > lookback+max(tr.cfg.Grace.D(), 0) {
			s.dropOld(ctx, name, d)
			continue
		}
		if !d.Early {
			if !read {
				read = true
				if waiting, err = s.store.LastRun(ctx, name, KindWaiting); err != nil {
					if ctx.Err() == nil {
						s.log.Error("train: read the departure waiting to run", "train", name, "err", err)
					}
					return nil, err
				}
			}
			if waiting.Equal(d.At) && now.Before(waiting.Add(tr.cfg.Grace.D())) {
				continue // waiting to run, here or on another replica
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// dropOld ends departure d of train name, found unended and older than
// any catch-up looks back, without saying it was cut short: what it left
// aboard has gone with the departures since, or goes with the next.
func (s *Scheduler) dropOld(ctx context.Context, name string, d Departure) {
	if err := s.store.EndDeparture(ctx, name, d); err != nil {
		if ctx.Err() == nil {
			s.log.Error("train: record as ended a departure older than the catch-up looks back", "train", name, "at", d.At, "early", d.Early, "err", err)
		}
		return
	}
	s.log.Warn("train: a departure that never ended, older than the catch-up looks back, was dropped without saying it was cut short", "train", name, "at", d.At, "early", d.Early)
}

// cutShort says and audits, once each, the departures of train name
// found unended: nobody was told what became of their cars; the ones
// they had not reached are still aboard, and deploy recovery reports one
// they were shipping. None is run again. It says them at once while this
// replica departs the train itself (sayDeparting); else it first waits,
// as long as a lease lives unrenewed, for the train's departure lease,
// which a replica that died during one held: a replica running one holds
// the lease longer, and the departure is that replica's to end. Within
// that wait, a departure of this replica's that takes the train lets it
// say them under that departure's hold.
func (s *Scheduler) cutShort(ctx context.Context, name string, tr *trainState, found []Departure, now time.Time) {
	// The lease runs out in the store, by real time.
	over, stop := elapsed(s.leaseTTL + 2*time.Second)
	defer stop()
	for last := false; ; {
		if s.sayDeparting(ctx, name, tr, found, now) {
			return
		}
		// Marked from before the lease is taken until it is given
		// back, so that a train depart now meanwhile waits for it
		// rather than taking this hold for a departure under way.
		done := tr.saying()
		dep, err := s.claim(ctx, name)
		said := false
		if err == nil {
			said = s.sayHeld(ctx, name, tr, found, now)
			dep.release()
		}
		done()
		switch {
		case said:
			return
		case err == nil:
			// tr.busy is held here by a departure that has not taken
			// the train yet: once it has, sayDeparting says them; if
			// it waits for the lease, it has it now.
		case !errors.Is(err, deploy.ErrLeaseHeld):
			return // the bot stopping, or not known
		}
		if last {
			return // departing on another replica
		}
		// The store is asked again each second of real time, as
		// claimWaiting asks it.
		select {
		case <-ctx.Done():
			return
		case <-over:
			last = true
		case <-time.After(time.Second):
		}
	}
}

// sayHeld says, as cutShort, the departures found unended that still
// are, once it holds tr.busy, the caller holding the train's departure
// lease; it reports whether it held tr.busy.
func (s *Scheduler) sayHeld(ctx context.Context, name string, tr *trainState, found []Departure, now time.Time) bool {
	select {
	case tr.busy <- struct{}{}:
		defer tr.giveBack()
	default:
		return false
	}
	// One ended meanwhile, or said by another, is not this one's to say.
	again := s.unended(ctx, name, tr, now)
	for _, d := range found {
		if slices.Contains(again, d) {
			s.sayCutShort(ctx, name, tr, d, now)
		}
	}
	return true
}

// sayDeparting says, as cutShort, the departures found unended that
// still are, but the one this replica is running, if it runs one of
// train name that still holds the train's departure lease; it reports
// whether it does. That hold keeps every other saying off the train: a
// replica says them only with the lease, and this one with tr.busy, which
// the departure holds, or under tr.mu, held here; and the departure keeps
// the lease until this is done. Said now, not once that departure ends:
// the channel learns at the taking over that a departure died, as it does
// with the train free.
func (s *Scheduler) sayDeparting(ctx context.Context, name string, tr *trainState, found []Departure, now time.Time) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	own := tr.own
	if own == nil || !own.dep.held() {
		return false
	}
	again := s.unended(ctx, name, tr, now)
	for _, d := range found {
		if !(d.At.Equal(own.rec.At) && d.Early == own.rec.Early) && slices.Contains(again, d) {
			s.sayCutShort(ctx, name, tr, d, now)
		}
	}
	return true
}

// replaced says that the departures prev of train name, found unended as
// a later one fell due, were cut short, unless they have ended since
// (they were running) or cutShort said them; the caller holds the
// train's departure lease and tr.busy.
func (s *Scheduler) replaced(ctx context.Context, name string, tr *trainState, prev []Departure) {
	all, err := s.store.Unended(ctx, name)
	if err != nil {
		s.log.Error("train: read whether the departures found unended ended", "train", name, "err", err)
		return
	}
	for _, d := range prev {
		if slices.Contains(all, d) {
			s.sayCutShort(ctx, name, tr, d, s.now())
		}
	}
}

// sayCutShort says and audits departure d of train name, found unended
// with the train's departure lease and tr.busy held: no replica runs it
// any more. See cutShort.
func (s *Scheduler) sayCutShort(ctx context.Context, name string, tr *trainState, d Departure, now time.Time) {
	at, what, ended := d.At, cutShortWhat, KindEnded
	if d.Early {
		what, ended = cutShortEarlyWhat, KindEarlyEnded
	}
	s.log.Warn("train: a departure recorded as run never ended; the bot stopped during it", "train", name, "at", at, "early", d.Early)
	s.auditEnd(ctx, name, tr, at, "did not end: "+what, ended)
	cars, quiet, err := s.carsToAnnounce(ctx, name, tr)
	if quiet {
		return
	}
	m := chat.Message{Level: chat.Warning, Public: true,
		Title: fmt.Sprintf("The %s was cut short: %s.", s.label(tr, at, now), what)}
	next := s.nextStamp(ctx, name, tr, now)
	switch {
	case err != nil:
		m.Lines = append(m.Lines, fmt.Sprintf("The cars aboard stay for the next one, %s.", next))
	case len(cars) > 0:
		m.Lines = append(m.Lines, stayAboard(cars, next))
	default:
		m.Lines = append(m.Lines, fmt.Sprintf("Nobody is aboard; the next one leaves %s.", next))
	}
	m.Lines = append(m.Lines, "A car whose deploy was under way when the bot stopped is reported by deploy recovery ("+suggest.Command("status")+" shows it).")
	s.announce(ctx, tr, m)
}

// missedDown is what became of a departure the bot was down at.
const missedDown = "did not leave: the bot was down at departure time"

// maxEarlier bounds the departures before a due one that are audited one
// by one; the rest are audited in one entry.
const maxEarlier = 50

// auditEarlier records what became of the departures of d's train
// scheduled after d.from and before d.at, which tick passed over for d,
// the latest: none ran, the bot being down at them (or they were
// cancelled). It returns those the bot was down at, for the channel.
func (s *Scheduler) auditEarlier(ctx context.Context, d due, now time.Time) []time.Time {
	from := d.from
	if floor := now.Add(-lookback - max(d.tr.cfg.Grace.D(), 0)); from.Before(floor) {
		from = floor
	}
	sc := d.tr.sched[KindDeparture]
	var earlier []time.Time
	for t := sc.Next(from); !t.IsZero() && t.Before(d.at); t = sc.Next(t) {
		earlier = append(earlier, t)
	}
	if len(earlier) == 0 {
		return nil
	}
	off, err := s.store.LastRun(ctx, d.name, KindCancel)
	if err != nil {
		s.log.Error("train: read cancellation", "train", d.name, "err", err)
	}
	var down []time.Time
	for i, t := range earlier {
		if i == maxEarlier-1 && len(earlier) > maxEarlier {
			rest := earlier[i:]
			s.appendAudit(ctx, &audit.Entry{User: auditUser, Channel: d.tr.cfg.Channels[0],
				Command: fmt.Sprintf("train %s departures %s to %s", d.name, stamp(rest[0], now, d.tr.loc), stamp(rest[len(rest)-1], now, d.tr.loc)),
				Action:  "train", Decision: audit.Event, Reason: fmt.Sprintf("%d departures %s", len(rest), missedDown)})
			for _, t := range rest {
				if err != nil || !off.Equal(t) {
					down = append(down, t)
				}
			}
			break
		}
		if err == nil && off.Equal(t) {
			s.auditDeparture(ctx, d.name, d.tr, t, "did not leave: it was cancelled")
			continue
		}
		down = append(down, t)
		s.auditDeparture(ctx, d.name, d.tr, t, missedDown)
	}
	return down
}

// earlierLine tells the channel of the departures before one that the
// bot was down at, down, which did not leave.
func earlierLine(down []time.Time, now time.Time, loc *time.Location) string {
	const shown = 3
	var when []string
	for _, t := range down[:min(len(down), shown)] {
		when = append(when, stamp(t, now, loc))
	}
	if n := len(down) - shown; n > 0 {
		when = append(when, fmt.Sprintf("and %d more", n))
	}
	if len(down) == 1 {
		return fmt.Sprintf("the bot was down at the departure before it too, %s, which did not leave", when[0])
	}
	return fmt.Sprintf("the bot was down at the %d departures before it too, which did not leave: %s", len(down), strings.Join(when, ", "))
}

// outwaited records and says that departure d did not leave because an
// earlier departure of the train (why) held it for all of its grace; with
// prev, as notLeaving, holding if the caller hands it tr.busy.
func (s *Scheduler) outwaited(ctx context.Context, d due, why string, prev []Departure, holding bool) {
	s.notLeaving(ctx, d, prev, "did not leave: "+why+" for all of its grace", func(ctx context.Context) {
		s.announce(ctx, d.tr, chat.Message{Level: chat.Warning, Public: true,
			Title: fmt.Sprintf("The %s did not leave: %s for all of its grace (%s). The cars stay aboard.", s.label(d.tr, d.at, d.at), why, spoken(d.tr.cfg.Grace.D()))})
	}, holding)
}

// notLeaving records due departure d, which does not leave, as ended,
// with what (auditDeparture), and says so (say). With prev, the
// departures found unended as d fell due (see replaced), say runs at
// once, and d's end is recorded once the train is held (its departure
// lease, and tr.busy, which the caller holds if holding) and prev is
// said, or found ended, by replaced: what holds the train until then, a
// replica that died during prev or one still running it, goes first.
// Holding, the caller hands it tr.busy, which it gives back before its
// saying's mark ends: a train depart now that waited for the saying finds
// the train free, not held by a departure that did not leave.
// Each keeps its own record, whichever end is written first. It waits
// for the train until stopTimeout after ctx ends: a bot stopping as d
// does not leave, or because it stops, still says prev, when the train
// is free by then.
func (s *Scheduler) notLeaving(ctx context.Context, d due, prev []Departure, what string, say func(context.Context), holding bool) {
	// While this holds the train, no departure is under way: a train
	// depart now waits for it, as for cutShort's saying (see takeTrain),
	// rather than being refused as behind one. The mark is set as the
	// train is taken (takeSaying), and outlives the hold, deferred
	// first, so that a depart now that waited finds the train free.
	// While the lease is another replica's, that replica's
	// departure holds the train, and a depart now is refused as behind
	// it: the mark is dropped for the wait.
	var unmark func()
	defer func() {
		if unmark != nil {
			unmark()
		}
	}()
	if holding {
		defer d.tr.giveBack()
	}
	ctx, cancel := pastStop(ctx)
	defer cancel()
	if len(prev) == 0 {
		s.auditDeparture(ctx, d.name, d.tr, d.at, what)
		say(ctx)
		return
	}
	say(ctx)
	if holding {
		unmark = d.tr.saying()
	} else if unmark = d.tr.takeSaying(ctx); unmark != nil {
		defer d.tr.giveBack()
		holding = true
	}
	if holding {
		over, stop := elapsed(lookback)
		defer stop()
		dep, err := s.claimWaiting(ctx, d.name, over, func() {
			if unmark != nil {
				unmark()
				unmark = nil
			}
		})
		if err == nil {
			if unmark == nil {
				unmark = d.tr.saying()
			}
			defer dep.release()
			s.replaced(ctx, d.name, d.tr, prev)
		} else {
			s.log.Warn("train: the departure a due one replaced in the store, unended, cannot be said cut short: the train was not held", "train", d.name, "at", prev, "err", err)
		}
	}
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
	}
	s.auditDeparture(ctx, d.name, d.tr, d.at, what)
}

// pastStop returns a context that ends stopTimeout after ctx does: what a
// stopping scheduler still waits for, writes and says.
func pastStop(ctx context.Context) (context.Context, context.CancelFunc) {
	past, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(stopTimeout, cancel) })
	return past, func() {
		stop()
		cancel()
	}
}

// notLeavingAfter is notLeaving from fire, which does not hold the train:
// with prev, in the background, and the channel it returns is closed
// once d's end is recorded.
func (s *Scheduler) notLeavingAfter(ctx context.Context, d due, prev []Departure, what string, say func(context.Context)) <-chan struct{} {
	if len(prev) == 0 {
		s.notLeaving(ctx, d, prev, what, say, false)
		return nil
	}
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		s.notLeaving(ctx, d, prev, what, say, false)
	}()
	return done
}

// takeEvent reports whether this replica runs event d, recorded as run:
// another replica that fired it too (each having read it as not run, as
// leader one after the other) took it first, or whether one did cannot be
// read. A record whose reply was lost is settled (settleOnce): the
// replica that holds the event, this one or another, says what became of
// it. A departure whose holder cannot be learnt is not said to have left
// or not: another replica may be running it. prev is as for stoppedAsDue.
func (s *Scheduler) takeEvent(ctx context.Context, d due, prev []Departure, log *slog.Logger) bool {
	if s.once == nil {
		return true
	}
	key := "train:" + d.name + ":" + d.kind + ":" + d.at.UTC().Format(time.RFC3339)
	token := rand.Text()
	first, err := s.once.SetOnceToken(ctx, key, token, onceTTL)
	if err != nil && ctx.Err() == nil {
		log.Warn("train: record the event as this replica's; learning whether it was", "err", err)
		first, err = s.settleOnce(ctx, key, token)
	}
	switch {
	case err != nil && ctx.Err() != nil:
		s.stoppedAsDue(ctx, d, prev)
		return false
	case err != nil:
		log.Error("train: whether this replica or another runs the event cannot be read; not running it", "err", err)
		if d.kind == KindDeparture {
			m := chat.Message{Level: chat.Failure, Public: true,
				Title: fmt.Sprintf("The %s may not leave: whether another replica of the bot runs it could not be read (%s). If one does, it says so here; if not, the cars stay aboard.", s.label(d.tr, d.at, d.at), storeDown(err))}
			// Not recorded as ended: if no replica runs it, the next
			// start says it was cut short.
			s.appendAudit(ctx, &audit.Entry{User: auditUser, Channel: d.tr.cfg.Channels[0],
				Command: fmt.Sprintf("train %s departure %s", d.name, stamp(d.at, s.now(), d.tr.loc)), Action: "train",
				Decision: audit.Event, Reason: m.Title})
			s.announce(ctx, d.tr, m)
		}
		return false
	case !first:
		log.Warn("train: another replica ran this event; not running it again")
		return false
	}
	return true
}

// settleOnce learns whether this replica holds event key, whose record
// with token timed out: the store may have set it or not, and another
// replica may hold it. It undoes the record if it was made, which keeps
// a late one from being made, and records the event again; the answer is
// that record's, and an error if the store did not answer within
// onceTries.
func (s *Scheduler) settleOnce(ctx context.Context, key, token string) (bool, error) {
	var err error
	for i := range onceTries {
		if i > 0 {
			if perr := pause.For(ctx, onceRetry); perr != nil {
				return false, perr
			}
		}
		if err = s.once.ForgetOnce(ctx, key, token); err != nil {
			continue
		}
		token = rand.Text()
		var first bool
		if first, err = s.once.SetOnceToken(ctx, key, token, onceTTL); err == nil {
			return first, nil
		}
	}
	return false, err
}

// calledOff records and says why departure d does not leave: readErr if
// whether it was cancelled could not be read (not knowing, it stays; a
// read the bot's stop cut short is the stop, not the store), or else
// because it was cancelled, which Cancel announced; with prev, as
// notLeavingAfter, whose channel it returns.
func (s *Scheduler) calledOff(ctx context.Context, d due, readErr error, prev []Departure) <-chan struct{} {
	if readErr == nil {
		return s.notLeavingAfter(ctx, d, prev, "did not leave: it was cancelled", func(context.Context) {})
	}
	if ctx.Err() != nil {
		return s.notLeavingAfter(ctx, d, prev, "did not leave: "+stopping, func(ctx context.Context) {
			s.sayNotLeft(ctx, d.name, d.tr, d.at, "", stopping)
		})
	}
	s.log.Error("train: read cancellation; not running it", "train", d.name, "at", d.at, "err", readErr)
	m := chat.Message{Level: chat.Failure, Public: true,
		Title: fmt.Sprintf("The %s did not leave: whether it was cancelled could not be read (%s). The cars stay aboard.", s.label(d.tr, d.at, d.at), storeDown(readErr))}
	return s.notLeavingAfter(ctx, d, prev, m.Title, func(ctx context.Context) { s.announce(ctx, d.tr, m) })
}

// stopping is why a departure the bot's stop cut short did not leave.
const stopping = "the bot was stopping"

// stoppedAsDue handles departure d, whose recording as run the bot's stop
// cut short: the store may have made it or not. Not made, the next start
// catches up on it, as on one the stop kept from beginning; made, it is
// not run again, so it is announced as not leaving, and with prev, the
// departures found unended as it fell due, as stoppedDue.
func (s *Scheduler) stoppedAsDue(ctx context.Context, d due, prev []Departure) {
	if d.kind != KindDeparture {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	last, err := s.store.LastRun(rctx, d.name, d.kind)
	cancel()
	switch {
	case err != nil:
		s.log.Error("train: the bot stopped as a departure fell due, and whether it was recorded as run cannot be read", "train", d.name, "at", d.at, "err", err)
	case last.Equal(d.at) && len(prev) == 0:
		s.notLeft(ctx, d.name, d.tr, d.at, "", stopping)
	case last.Equal(d.at):
		// In the background, as fire is not to wait for the train.
		s.notLeavingAfter(ctx, d, prev, "did not leave: "+stopping, func(ctx context.Context) {
			s.sayNotLeft(ctx, d.name, d.tr, d.at, "", stopping)
		})
	default:
		s.log.Info("train: the bot stopped as a departure fell due; the next start catches up on it", "train", d.name, "at", d.at)
	}
}

// notLeft records and announces that the departure of train name at at,
// recorded as run, did not leave because the bot was stopping (why): its
// cars stay aboard for the next departure, and the train's channels say
// so to the people waiting for it; note, if set, is shown with it. ctx
// may have ended: the audit entry and the posts are made without it,
// within stopTimeout, while the store and the chat platform still answer.
// It returns the message.
func (s *Scheduler) notLeft(ctx context.Context, name string, tr *trainState, at time.Time, note, why string) chat.Message {
	return s.notLeftAs(ctx, name, tr, at, note, why, KindEnded)
}

// notLeftAs is notLeft for a departure whose end is recorded as ended
// (EndDeparture of a scheduled one, or of one sent off early).
func (s *Scheduler) notLeftAs(ctx context.Context, name string, tr *trainState, at time.Time, note, why, ended string) chat.Message {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	s.log.Info("train: departure did not leave", "train", name, "at", at, "why", why)
	s.auditEnd(ctx, name, tr, at, "did not leave: "+why, ended)
	return s.sayNotLeft(ctx, name, tr, at, note, why)
}

// stoppedDue says and records that due departure d did not leave, the
// bot's stop having ended it (why), as notLeft does; with prev, as
// notLeaving, holding if the caller hands it tr.busy: a stopping bot still
// says the departures found unended as d fell due, if it holds the train
// within stopTimeout of its stop.
func (s *Scheduler) stoppedDue(ctx context.Context, d due, prev []Departure, why string, holding bool) {
	if len(prev) == 0 {
		if holding {
			defer d.tr.giveBack()
		}
		s.notLeft(ctx, d.name, d.tr, d.at, "", why)
		return
	}
	s.log.Info("train: departure did not leave", "train", d.name, "at", d.at, "why", why)
	s.notLeaving(ctx, d, prev, "did not leave: "+why, func(ctx context.Context) {
		s.sayNotLeft(ctx, d.name, d.tr, d.at, "", why)
	}, holding)
}

// sayNotLeft is notLeft without the audit entry and the record of the
// end, which the caller makes: it announces, and returns, the message.
func (s *Scheduler) sayNotLeft(ctx context.Context, name string, tr *trainState, at time.Time, note, why string) chat.Message {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	now := s.now()
	m := chat.Message{Level: chat.Warning, Public: true, Lines: noteLines(note),
		Title: fmt.Sprintf("The %s did not leave: %s.", s.label(tr, at, now), why)}
	next := s.nextStamp(ctx, name, tr, now)
	cars, err := s.store.Cars(ctx, name)
	switch {
	case err != nil:
		s.log.Error("train: list cars", "train", name, "err", err)
		m.Lines = append(m.Lines, fmt.Sprintf("The cars aboard stay for the next one, %s.", next))
	case len(cars) > 0:
		m.Lines = append(m.Lines, stayAboard(cars, next))
	case tr.cfg.Empty == "silent":
		return chat.Message{}
	default:
		m.Lines = append(m.Lines, fmt.Sprintf("Nobody is aboard; the next one leaves %s.", next))
	}
	s.announce(ctx, tr, m)
	return m
}

// stopTimeout bounds what a stopping scheduler still writes and posts.
const stopTimeout = 10 * time.Second

// markWaiting records (KindWaiting) that the departure of train name at at
// waits, or with the zero time that none does. A failure is logged: Cancel
// then takes a waiting departure for one that has left, and cancels the
// next one.
func (s *Scheduler) markWaiting(ctx context.Context, name string, at time.Time) {
	if err := s.store.MarkRun(ctx, name, KindWaiting, at); err != nil {
		s.log.Error("train: record a waiting departure", "train", name, "at", at, "err", err)
	}
}

// clearWaiting records that no departure of train name waits any more
// (see markWaiting). ctx may have ended, the bot stopping as the
// departure stopped waiting: the clear is made without it, within
// stopTimeout, or else the mark outlives the departure and a cancel after
// the restart takes that departure, long gone, for one about to leave.
func (s *Scheduler) clearWaiting(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	s.markWaiting(ctx, name, time.Time{})
}

// claimWaiting claims train name's departure lease, waiting until over
// is closed for another replica's departure to release it, and calling
// waiting before it first waits; its error is deploy.ErrLeaseHeld if it
// did not, another claim's error, or ctx's. It tries once more as over
// closes, so that a wait ends with the store's answer at its end.
func (s *Scheduler) claimWaiting(ctx context.Context, name string, over <-chan struct{}, waiting func()) (*departure, error) {
	for last := false; ; {
		dep, err := s.claim(ctx, name)
		if !errors.Is(err, deploy.ErrLeaseHeld) || last {
			return dep, err
		}
		select {
		case <-over:
			return dep, err
		default:
		}
		waiting()
		// The store is asked again each second of real time: how often
		// it is asked, not how long the wait lasts.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-over:
			last = true
		case <-time.After(time.Second):
		}
	}
}

// reached returns a channel closed once the scheduler's clock reads at,
// unless ctx ends first. It reads the clock again at least each second:
// a clock other than the real one may move by more than the real time
// waited. It waits on a real timer, not on Sleep, which only Run's
// goroutine calls.
func (s *Scheduler) reached(ctx context.Context, at time.Time) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		for d := at.Sub(s.now()); d > 0; d = at.Sub(s.now()) {
			if pause.For(ctx, min(d, time.Second)) != nil {
				return
			}
		}
		close(c)
	}()
	return c
}

// elapsed returns a channel closed once d has passed on a real timer, and
// a func that stops the timer.
func elapsed(d time.Duration) (<-chan struct{}, func()) {
	c := make(chan struct{})
	t := time.AfterFunc(d, func() { close(c) })
	return c, func() { t.Stop() }
}

// cancelled reports whether Cancel called off the departure at at.
func (s *Scheduler) cancelled(ctx context.Context, name string, at time.Time) (bool, error) {
	c, err := s.store.LastRun(ctx, name, KindCancel)
	if err != nil {
		return false, fmt.Errorf("train: read cancellation of %s: %w", name, err)
	}
	return c.Equal(at), nil
}

// shownCancelled is cancelled for what an announcement says: a departure
// whose cancellation cannot be read is shown as scheduled (whether it
// leaves is decided again, failing closed, when it is due).
func (s *Scheduler) shownCancelled(ctx context.Context, name string, at time.Time) bool {
	c, err := s.cancelled(ctx, name, at)
	if err != nil {
		s.log.Error("train: read cancellation", "train", name, "err", err)
	}
	return c
}

// announce posts msg to every channel of the train and reports whether
// any of them took it (a train without channels has nobody to tell).
func (s *Scheduler) announce(ctx context.Context, tr *trainState, msg chat.Message) (told bool) {
	told = len(tr.cfg.Channels) == 0
	for _, ch := range tr.cfg.Channels {
		if s.post(ctx, tr, ch, msg) {
			told = true
		}
	}
	return told
}

// post posts msg to channel for train tr. A post the chat platform
// refuses or never answers is reported as
// the bot's other posts are, in the log at ERROR, and, as nobody in the
// channel learns of it, in the audit log too, where the train's
// departures are: a channel told nothing otherwise looks like a train
// that said nothing.
func (s *Scheduler) post(ctx context.Context, tr *trainState, channel string, msg chat.Message) bool {
	err := s.notifier.Post(ctx, channel, msg)
	if err == nil {
		return true
	}
	s.log.Error("train: post to chat failed", "train", tr.name, "channel", channel, "title", msg.Title, "err", err)
	s.appendAudit(ctx, &audit.Entry{User: auditUser, Channel: channel,
		Command: "train " + tr.name + " post", Action: "train", Decision: audit.Event,
		Reason: fmt.Sprintf("not posted to %s: %q: %v", channel, msg.Title, err)})
	return false
}

// announcedDeparture returns the departure that the boarding or reminder (kind)
// at at announces, or the zero time if none is scheduled.
func announcedDeparture(tr *trainState, kind string, at time.Time) time.Time {
	dsc := tr.sched[KindDeparture]
	dep := dsc.Next(at)
	// When a spring-forward change skips both, a departure scheduled
	// after the announcement runs at the same instant, as the clock
	// jumps: it is the one announced, not the next one.
	if d := dsc.Next(at.Add(-time.Nanosecond)); d.Equal(at) && dsc.nominal(at).After(tr.sched[kind].nominal(at)) {
		dep = d
	}
	return dep
}

// announceStop posts the boarding or reminder announcement at at.
func (s *Scheduler) announceStop(ctx context.Context, name string, tr *trainState, kind string, at time.Time) {
	dep := announcedDeparture(tr, kind, at)
	if dep.IsZero() {
		return
	}
	cancelled := s.shownCancelled(ctx, name, dep)
	if kind == KindReminder && cancelled {
		return // nothing leaves; Cancel announced it
	}
	cars, quiet, err := s.carsToAnnounce(ctx, name, tr)
	if quiet {
		return
	}
	label := s.label(tr, dep, at)
	ship, left := s.splitBehind(tr, cars)
	var m chat.Message
	switch {
	case err != nil:
		m = unreadMessage(kind, label, dep.Sub(at), storeDown(err))
		if kind == KindBoarding && cancelled {
			m.Lines = append(m.Lines, fmt.Sprintf("This departure is cancelled: the cars aboard leave with the next one, %s.",
				stamp(tr.sched[KindDeparture].Next(dep), at, tr.loc)))
		}
	case kind == KindBoarding:
		m = boardingMessage(label, ship, left)
		if cancelled {
			m.Lines = append(m.Lines, fmt.Sprintf("This departure is cancelled: the cars aboard leave with the next one, %s.",
				stamp(tr.sched[KindDeparture].Next(dep), at, tr.loc)))
		}
	default:
		m = reminderMessage(label, dep.Sub(at), ship, left)
	}
	s.announce(ctx, tr, m)
}

// carsToAnnounce lists the cars aboard train name for an announcement;
// quiet says there is nothing to announce: no car aboard a train whose
// empty departures are silent. Cars that cannot be read are logged, and
// announced all the same (err), as the train boards and leaves whoever is
// aboard.
func (s *Scheduler) carsToAnnounce(ctx context.Context, name string, tr *trainState) (cars []Car, quiet bool, err error) {
	cars, err = s.store.Cars(ctx, name)
	if err != nil {
		s.log.Error("train: list cars", "train", name, "err", err)
		return cars, false, err
	}
	return cars, len(cars) == 0 && tr.cfg.Empty == "silent", nil
}

// announceMissed posts that the departure at at did not run, nor did
// the earlier ones the bot was down at, down.
func (s *Scheduler) announceMissed(ctx context.Context, name string, tr *trainState, at, now time.Time, down []time.Time) {
	cars, quiet, err := s.carsToAnnounce(ctx, name, tr)
	if quiet {
		return
	}
	m := chat.Message{Level: chat.Warning, Public: true,
		Title: fmt.Sprintf("The %s did not leave: the bot was down at departure time.", s.label(tr, at, now))}
	if len(down) > 0 {
		l := earlierLine(down, now, tr.loc)
		m.Lines = append(m.Lines, strings.ToUpper(l[:1])+l[1:]+".")
	}
	m.Lines = append(m.Lines, s.stayLines(ctx, name, tr, cars, err, now)...)
	s.announce(ctx, tr, m)
}

// stayLines says that cars, read with err, stay aboard for the next
// departure after t: the cars aboard, whoever they are, when they could
// not be read; nothing when nobody is aboard.
func (s *Scheduler) stayLines(ctx context.Context, name string, tr *trainState, cars []Car, err error, t time.Time) []string {
	switch {
	case err != nil:
		return []string{fmt.Sprintf("The cars aboard stay for the next one, %s.", s.nextStamp(ctx, name, tr, t))}
	case len(cars) > 0:
		return []string{stayAboard(cars, s.nextStamp(ctx, name, tr, t))}
	}
	return nil
}

// announceCancelled posts that the departure at at was called off.
func (s *Scheduler) announceCancelled(ctx context.Context, name string, tr *trainState, at time.Time) {
	cars, quiet, err := s.carsToAnnounce(ctx, name, tr)
	if quiet {
		return
	}
	m := chat.Message{Level: chat.Warning, Public: true, Title: fmt.Sprintf("🚫 The %s does not leave: it was cancelled.", s.label(tr, at, at)),
		Lines: s.stayLines(ctx, name, tr, cars, err, at)}
	s.announce(ctx, tr, m)
}

// nextDeparture returns the first departure after t that is not
// cancelled, and the cancelled one before it if any.
func (s *Scheduler) nextDeparture(ctx context.Context, name string, tr *trainState, t time.Time) (next, cancelled time.Time) {
	next = tr.sched[KindDeparture].Next(t)
	if !next.IsZero() && s.shownCancelled(ctx, name, next) {
		cancelled, next = next, tr.sched[KindDeparture].Next(next)
	}
	return next, cancelled
}

// nextStamp describes the next departure after t that is not cancelled.
func (s *Scheduler) nextStamp(ctx context.Context, name string, tr *trainState, t time.Time) string {
	next, _ := s.nextDeparture(ctx, name, tr, t)
	if next.IsZero() {
		return "whenever it is next scheduled"
	}
	return stamp(next, t, tr.loc)
}

// label names the train by its departure at dep, seen at ref: "14:00
// train to production", with the weekday when dep is not on ref's day,
// and the date as well when it is a week or more away from it (a
// weekday alone would name a day of the coming week), with the year
// when that is not ref's.
func (s *Scheduler) label(tr *trainState, dep, ref time.Time) string {
	d, r := dep.In(tr.loc), ref.In(tr.loc)
	when := clock(d)
	switch days := calendarDays(r, d); {
	case d.Year() != r.Year() && (days <= -7 || days >= 7):
		when = d.Format("Mon 2 Jan 2006") + " " + when
	case days <= -7 || days >= 7:
		when = d.Format("Mon 2 Jan") + " " + when
	case days != 0:
		when = d.Format("Mon") + " " + when
	}
	return when + " train to " + tr.cfg.Env
}

// calendarDays counts the days from a's date to b's, each read in its own
// zone: 1 when b is the next day, whatever the hours between them.
func calendarDays(a, b time.Time) int {
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	return int(day(b).Sub(day(a)) / (24 * time.Hour))
}

// auditUser is who the audit log shows doing what a schedule did.
const auditUser = config.BotUser

// auditHeld records that a departure held c back: a scheduled deploy
// refused, for reason, as the deploy command would have been.
func (s *Scheduler) auditHeld(ctx context.Context, tr *trainState, c Car, reason string) {
	s.appendAudit(ctx, &audit.Entry{User: c.User, Channel: tr.cfg.Channels[0],
		Command: fmt.Sprintf("deploy %s %s to %s", c.App, c.Build, c.Env), Action: "deploy", App: c.App, Env: c.Env,
		Decision: audit.Refused, Reason: "held back for the next train: " + reason})
}

// auditGone records that a departure left c behind, its app or the
// app's env no longer in the config (behindOf): a deploy refused, for
// reason, as the deploy command would have been, with the app named,
// which a refusal of an unknown app leaves out.
func (s *Scheduler) auditGone(ctx context.Context, tr *trainState, c Car, reason string) {
	s.appendAudit(ctx, &audit.Entry{User: c.User, Channel: tr.cfg.Channels[0],
		Command: fmt.Sprintf("deploy %s %s to %s", c.App, c.Build, c.Env), Action: "deploy", App: c.App, Env: c.Env,
		Decision: audit.Refused, Reason: reason})
}

// auditDeparture records what became of the departure of train name at
// at, as its announcement says it (what).
//
// It records the departure as ended (EndDeparture), so that one recorded as
// run and never ended is found at the next start (cutShort).
func (s *Scheduler) auditDeparture(ctx context.Context, name string, tr *trainState, at time.Time, what string) {
	s.auditEnd(ctx, name, tr, at, what, KindEnded)
}

// auditEnd is auditDeparture for a departure whose end is recorded as
// ended: KindEnded, or KindEarlyEnded for one sent off early. Its end
// is its own: the other departures of the train keep theirs. The entry
// is written once the end is recorded, and says so when it was not: a
// departure left unended is said at the next start to have been cut
// short, which the trail would otherwise not explain.
func (s *Scheduler) auditEnd(ctx context.Context, name string, tr *trainState, at time.Time, what, ended string) {
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	if err := s.store.EndDeparture(mctx, name, Departure{At: at, Early: ended == KindEarlyEnded}); err != nil {
		s.log.Error("train: record a departure as ended", "train", name, "at", at, "err", err)
		what += endUnrecorded(err)
	}
	s.appendAudit(ctx, &audit.Entry{User: auditUser, Channel: tr.cfg.Channels[0],
		Command: fmt.Sprintf("train %s departure %s", name, stamp(at, s.now(), tr.loc)), Action: "train",
		Decision: audit.Event, Reason: what})
}

// endUnrecorded says, for a departure's audit entry, that recording its
// end failed with err: certainly, or, its reply lost, perhaps.
func endUnrecorded(err error) string {
	if errors.Is(deploy.OutcomeUnknown(err, "", ""), deploy.ErrOutcomeUnknown) {
		return fmt.Sprintf("; whether its end was recorded is not known (%s): if not, the next start says it was cut short", storeDown(err))
	}
	return fmt.Sprintf("; its end could not be recorded (%s): the next start says it was cut short", storeDown(err))
}

// appendAudit writes e, tried as a command's entry is (audit.Append): a
// store briefly down loses no departure from the audit log.
func (s *Scheduler) appendAudit(ctx context.Context, e *audit.Entry) {
	e.Time, e.Platform = s.now(), "train"
	if err := audit.Append(ctx, s.audit, e); err != nil {
		s.log.Error("train: append audit entry", "command", e.Command, "err", err)
	}
}
