package train

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// The methods below serve the /train commands. The caller has checked the
// user's permission (the train action; DepartNow and Cancel are for
// admins); each returns the reply, or an error with an errs code whose
// message is for the user.

// Board puts build of app aboard the train for user. env, when set, must
// be the train's. The app must have the train's env and the build must
// exist. Locks, windows and the deploy permission are not checked now but
// at departure; a car whose env's window is closed at the departure gets
// a warning in the reply, as does one another's lock covers now, until
// after the departure, and one user may not deploy at the departure.
// Boarding again replaces the app's car, which moves to the end of the
// train.
func (s *Scheduler) Board(ctx context.Context, user, trainName, app, build, env string) (chat.Message, error) {
	tr, ok := s.trains[trainName]
	if !ok {
		return chat.Message{}, s.unknownTrain(trainName)
	}
	want := tr.cfg.Env
	if env != "" && env != want {
		return chat.Message{}, errs.New(errs.Invalid, "the %s train goes to %s, not %s", trainName, want, env)
	}
	a, ok := s.cfg.App(app)
	if !ok {
		return chat.Message{}, errs.New(errs.Invalid, "there is no app %q", app)
	}
	if _, ok := a.Env(want); !ok {
		return chat.Message{}, errs.New(errs.Invalid, "%s has no environment %s, where the %s train goes", app, want, trainName)
	}
	if err := commands.CheckBuild(build); err != nil {
		return chat.Message{}, errs.New(errs.Invalid, "%s", err)
	}
	if s.builds != nil {
		if err := s.builds.Exists(ctx, app, build); err != nil {
			if errs.CodeOf(err) == errs.Internal {
				return chat.Message{}, errs.Wrap(errs.Unavailable, err, "cannot check build %s of %s", build, app)
			}
			return chat.Message{}, fmt.Errorf("board %s %s: %w", app, build, err)
		}
	}
	car := Car{App: app, Build: build, Env: want, User: user, Boarded: s.now()}
	// max_cars bounds the cars that can leave, which the reply's place
	// counts: a car left behind takes no place of one that can.
	counts := func(c Car) bool { return s.behindOf(tr, c) == shipsAboard }
	replaced, err := s.store.Board(ctx, trainName, car, tr.cfg.MaxCars, counts)
	if err != nil {
		return chat.Message{}, unknownErr(err, "board "+trainName, fmt.Sprintf("whether %s %s boarded the %s train", app, build, trainName), suggest.Command("train")+" lists who is aboard")
	}
	now := s.now()
	dep, cancelled := s.departureFor(ctx, trainName, tr, now)
	m := chat.Message{Level: chat.Success, Public: true}
	m.Title = fmt.Sprintf("🎫 %s %s boarded the %s", app, build, s.label(tr, dep, now))
	if cars, err := s.store.Cars(ctx, trainName); err == nil {
		// Aboard, but never to ship: said to the train's people before
		// the departure leaves them, and not counted in the car's place,
		// which says how many ship before it and with it.
		ship, left := s.splitBehind(tr, cars)
		for i, c := range ship {
			if c.App == app {
				m.Title += fmt.Sprintf(" (car %d of %d)", i+1, len(ship))
			}
		}
		m.Lines = append(m.Lines, behindLines(left)...)
	}
	if replaced != nil {
		line := "It replaces " + carName(*replaced)
		if replaced.User == user {
			line = "It replaces your " + replaced.App + " " + replaced.Build
		}
		m.Lines = append(m.Lines, line+" and takes the last place.")
	}
	if !cancelled.IsZero() {
		m.Lines = append(m.Lines, fmt.Sprintf("The %s departure is cancelled, so this is the next one.", stamp(cancelled, now, tr.loc)))
	}
	if s.gate != nil {
		// A departure due already leaves as soon as it can: it meets
		// the window, the locks and the permission of now.
		at := dep
		if !at.IsZero() && at.Before(now) {
			at = now
		}
		// The window is judged at the departure, as the departure will
		// judge it: closed now is no warning when it opens by then, and
		// open now is no promise for then.
		if reason, closed := windowAt(a, want, at); closed {
			m.Level = chat.Warning
			m.Lines = append(m.Lines, fmt.Sprintf("⚠ deploys to %s/%s are closed at its departure, %s: %s; unless that changes, the car moves to the next train.",
				app, want, stamp(at, now, tr.loc), reason))
		}
		if reason, locked := s.gate.Locked(ctx, app, want, user, at); locked {
			m.Level = chat.Warning
			m.Lines = append(m.Lines, fmt.Sprintf("⚠ %s/%s is locked now: %s; unless lifted by departure, the car moves to the next train.", app, want, reason))
		}
		// The train grant lets user board; the car ships as user's
		// deploy, which needs the deploy grant then: one missing then
		// (never given, or a runtime grant that ends before) refuses
		// the car at departure, and it leaves the train.
		if !at.IsZero() {
			if reason, forbidden := s.gate.Forbidden(ctx, app, want, user, at); forbidden {
				m.Level = chat.Warning
				m.Lines = append(m.Lines, fmt.Sprintf("⚠ at its departure, %s, %s; unless granted by then, the car is refused and leaves the train.",
					stamp(at, now, tr.loc), reason))
			}
		}
	}
	return m, nil
}

// departureFor returns the departure that takes a car boarded at now: one
// due that has not taken its cars yet (see dueDeparture), unless it is
// cancelled, else the next one not cancelled, with the cancelled one
// before it if any.
func (s *Scheduler) departureFor(ctx context.Context, name string, tr *trainState, now time.Time) (next, cancelled time.Time) {
	if due := s.dueDeparture(ctx, name, tr, now); !due.IsZero() && !s.shownCancelled(ctx, name, due) {
		return due, time.Time{}
	}
	return s.nextDeparture(ctx, name, tr, now)
}

// dueDeparture returns the departure of the train due at now that has
// not taken its cars yet, as Cancel would call it off (cancellable), or
// the zero time: one waiting for an earlier departure of the train to
// end, or one not run yet within its grace. A store that cannot say gives
// the zero time: the next departure is named then.
func (s *Scheduler) dueDeparture(ctx context.Context, name string, tr *trainState, now time.Time) time.Time {
	dep, _, err := s.cancellable(ctx, name, tr, now)
	if err != nil || dep.After(now) {
		return time.Time{}
	}
	return dep
}

// windowAt says why the deploy window of app's env is closed at t, a
// departure, if it is, and when it opens next: the weekly windows and
// freezes are known ahead.
func windowAt(a *config.App, env string, t time.Time) (string, bool) {
	e, ok := a.Env(env)
	if !ok || e.Window == nil || t.IsZero() {
		return "", false
	}
	sched, err := e.Schedule()
	if err != nil {
		return "", false // the config was validated; the gate says so at departure
	}
	if v := sched.At(t); !v.Open {
		if !v.NextOpen.IsZero() {
			return v.Reason + "; the next window opens " + stamp(v.NextOpen, t, sched.Loc), true
		}
		return v.Reason, true
	}
	return "", false
}

// Leave takes app's car off the train.
func (s *Scheduler) Leave(ctx context.Context, user, trainName, app string) (chat.Message, error) {
	tr, ok := s.trains[trainName]
	if !ok {
		return s.leaveOrphan(ctx, user, trainName, app)
	}
	c, err := s.store.Leave(ctx, trainName, app, user, s.now())
	if errors.Is(err, deploy.ErrNotFound) {
		return chat.Message{}, errs.New(errs.NotFound, "%s is not aboard the %s train", app, trainName)
	}
	if err != nil {
		return chat.Message{}, unknownErr(err, "leave "+trainName, fmt.Sprintf("whether %s left the %s train", app, trainName), suggest.Command("train")+" lists who is aboard")
	}
	now := s.now()
	dep, _ := s.departureFor(ctx, trainName, tr, now)
	m := chat.Message{Level: chat.Info, Public: true, Title: fmt.Sprintf("%s left the %s", carName(c), s.label(tr, dep, now))}
	if c.User != user {
		m.Title += " (taken off by @" + user + ")"
	}
	return m, nil
}

// leaveOrphan takes app's car off train name, which the config no longer
// has (removed or renamed): its cars never leave, and are taken off one
// by one. A name with no car aboard is an unknown train.
func (s *Scheduler) leaveOrphan(ctx context.Context, user, name, app string) (chat.Message, error) {
	cars, err := s.store.Cars(ctx, name)
	if err != nil {
		return chat.Message{}, storeErr(err, "leave "+name)
	}
	if len(cars) == 0 {
		return chat.Message{}, s.unknownTrain(name)
	}
	// Taken off with no record of who took it (by ""): only a departure
	// reads or drops one, and this train has none, so one kept would
	// stay for good, read as the car's by a train given the name again.
	// The log says who took it off.
	c, err := s.store.Leave(ctx, name, app, "", s.now())
	if errors.Is(err, deploy.ErrNotFound) {
		return chat.Message{}, errs.New(errs.NotFound, "%s is not aboard the %s train, which is no longer in the config; aboard: %s", app, name, carList(cars))
	}
	if err != nil {
		return chat.Message{}, storeErr(err, "leave "+name)
	}
	s.log.Info("train: car taken off a train no longer in the config", "train", name, "app", c.App, "build", c.Build, "user", user)
	m := chat.Message{Level: chat.Info, Public: true, Title: fmt.Sprintf("%s left the %s train, which is no longer in the config", carName(c), name)}
	if c.User != user {
		m.Title += " (taken off by @" + user + ")"
	}
	return m, nil
}

// CarEnv returns the env of app's car aboard train name, if it has one:
// the grant to take off a car of a train the config no longer has is
// checked on it.
func (s *Scheduler) CarEnv(ctx context.Context, name, app string) (string, bool, error) {
	cars, err := s.store.Cars(ctx, name)
	if err != nil {
		return "", false, storeErr(err, "leave "+name)
	}
	for _, c := range cars {
		if c.App == app {
			return c.Env, true, nil
		}
	}
	return "", false, nil
}

// CarEnvs returns the env of every car aboard train name, by app: the
// grant to call off a train the config no longer has is checked on
// each.
func (s *Scheduler) CarEnvs(ctx context.Context, name string) (map[string]string, error) {
	cars, err := s.store.Cars(ctx, name)
	if err != nil {
		return nil, storeErr(err, "cancel "+name)
	}
	envs := make(map[string]string, len(cars))
	for _, c := range cars {
		envs[c.App] = c.Env
	}
	return envs, nil
}

// orphan is a train the config no longer has, with cars aboard.
type orphan struct {
	name string
	cars []Car
}

// orphans returns the trains with cars aboard that the config no longer
// has (removed, or renamed), by name: no departure takes their cars.
func (s *Scheduler) orphans(ctx context.Context) ([]orphan, error) {
	names, err := s.store.Trains(ctx)
	if err != nil {
		return nil, fmt.Errorf("list trains: %w", err)
	}
	var out []orphan
	for _, name := range names {
		if _, ok := s.trains[name]; ok {
			continue
		}
		cars, err := s.store.Cars(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("list cars of %s: %w", name, err)
		}
		if len(cars) > 0 {
			out = append(out, orphan{name: name, cars: cars})
		}
	}
	return out, nil
}

// orphanLine describes o in the list of trains, with the command that
// takes each of its cars off.
func (s *Scheduler) orphanLine(o orphan) string {
	return fmt.Sprintf("⚠ %s is no longer in the config: its cars never leave: %s; take each off with %s", o.name, carList(o.cars), s.leaveCommands(o.name, o.cars))
}

// leaveCommands is the train leave of each car of cars aboard train
// name, marked as suggested, as the parser reads it back: the name of a
// train the config no longer has is quoted, or it is refused as a typo
// would be; so is the app of a car whose app the config no longer has,
// on any train: unquoted, one named as a train or as "leave" is read as
// that word.
func (s *Scheduler) leaveCommands(name string, cars []Car) string {
	_, configured := s.trains[name]
	on := name
	if !configured {
		on = `"` + name + `"`
	}
	cmds := make([]string, len(cars))
	for i, c := range cars {
		app := c.App
		if _, ok := s.cfg.App(app); !ok {
			app = `"` + app + `"`
		}
		cmds[i] = suggest.Command("train leave " + app + " on " + on)
	}
	return strings.Join(cmds, ", ")
}

// Cancel calls off the train's next departure: it does not run, and the
// cars aboard stay for the one after. The cancellation is announced in the
// train's channels; the reply confirms it to the caller.
//
// A train the config no longer has (removed or renamed) never departs:
// calling it off takes off every car still aboard, which train leave
// would take off one by one.
func (s *Scheduler) Cancel(ctx context.Context, user, trainName, reason string) (chat.Message, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return chat.Message{}, errs.New(errs.Invalid, "say why the %s train is cancelled", trainName)
	}
	tr, ok := s.trains[trainName]
	if !ok {
		return s.cancelOrphan(ctx, user, trainName, reason)
	}
	now := s.now()
	dep, waiting, err := s.cancellable(ctx, trainName, tr, now)
	if err != nil {
		return chat.Message{}, storeErr(err, "cancel "+trainName)
	}
	if dep.IsZero() {
		return chat.Message{}, errs.New(errs.NoChange, "the %s train has no departure to cancel", trainName)
	}
	label := s.label(tr, dep, now)
	already, err := s.cancelled(ctx, trainName, dep)
	if err != nil {
		return chat.Message{}, storeErr(err, "cancel "+trainName)
	}
	// by and why are who called the departure off and why, as announced:
	// said again, the cancel that took effect.
	by, why := user, reason
	if already {
		// A cancel whose write was stored but whose reply was lost
		// announced nothing: the repeat announces it, once.
		announced, err := s.store.LastRun(ctx, trainName, KindCancelAnnounced)
		if err != nil {
			return chat.Message{}, storeErr(err, "cancel "+trainName)
		}
		if announced.Equal(dep) {
			return chat.Message{}, errs.New(errs.NoChange, "the %s is already cancelled", label)
		}
		first, err := s.store.LastCancel(ctx, trainName)
		if err != nil {
			return chat.Message{}, storeErr(err, "cancel "+trainName)
		}
		// One recorded without them (by an older version) is
		// announced with the repeat's. They are people's words read
		// back from a store, which may hold them written otherwise than
		// through chat: the marks of the bot's suggested commands are
		// taken out, lest they pass for one (see suggest).
		if first.At.Equal(dep) && first.User != "" && first.Reason != "" {
			by, why = suggest.Strip(first.User), suggest.Strip(first.Reason)
		}
	} else if err := s.store.MarkCancel(ctx, trainName, Cancellation{At: dep, User: user, Reason: reason}); err != nil {
		// Not announced: a departure cancelled all the same is known
		// only to whoever looks, until the cancel is said again.
		return chat.Message{}, unknownErr(err, "cancel "+trainName, fmt.Sprintf("whether the %s was cancelled", label),
			suggest.Command("train")+" marks it cancelled if it was, which its channels were not told; the same cancel, sent again, tells them")
	}
	if already {
		s.log.Info("train: cancellation announced as it was said again", "train", trainName, "at", dep, "user", user, "reason", reason,
			"cancelled_by", by, "cancel_reason", why)
	} else {
		s.log.Info("train: departure cancelled", "train", trainName, "at", dep, "user", user, "reason", reason)
	}
	reply := func(told bool, level chat.Level, format string, a ...any) chat.Message {
		if !told {
			// The cancel stands; only its announcement is missing.
			m := chat.Message{Level: chat.Warning, Title: strings.TrimSuffix(fmt.Sprintf(format, a...), announced) + notAnnounced}
			if already {
				m.Title = fmt.Sprintf("The %s (%s) was already cancelled", label, stamp(dep, now, tr.loc)) + notAnnounced
			}
			return m
		}
		if already {
			m := chat.Message{Level: chat.Success, Title: fmt.Sprintf("The %s (%s) was already cancelled; announced in the train's channels now", label, stamp(dep, now, tr.loc))}
			if by != user || why != reason {
				m.Lines = append(m.Lines, fmt.Sprintf("Announced as the cancel that took effect said it: by @%s: %s", by, why))
			}
			return m
		}
		return chat.Message{Level: level, Title: fmt.Sprintf(format, a...)}
	}
	if s.mayHaveLeft(ctx, trainName, dep, waiting) {
		m := chat.Message{Level: chat.Warning, Public: true, Title: fmt.Sprintf("🚫 The %s is cancelled by @%s: %s", label, by, why),
			Lines: []string{"It was about to leave as it was cancelled: if it had left, its cars ship; this channel says which."}}
		told := s.announceCancel(ctx, trainName, tr, dep, m)
		return reply(told, chat.Warning, "Cancelled the %s (%s), which was about to leave: if it had left already, its cars ship"+announced, label, stamp(dep, now, tr.loc)), nil
	}
	cars, err := s.store.Cars(ctx, trainName)
	if err != nil {
		s.log.Error("train: list cars", "train", trainName, "err", err)
	}
	next := "whenever it is next scheduled"
	if n := tr.sched[KindDeparture].Next(dep); !n.IsZero() {
		next = stamp(n, now, tr.loc)
	}
	m := chat.Message{Level: chat.Warning, Public: true, Title: fmt.Sprintf("🚫 The %s is cancelled by @%s: %s", label, by, why)}
	if len(cars) > 0 {
		m.Lines = append(m.Lines, stayAboard(cars, next))
	} else {
		m.Lines = append(m.Lines, fmt.Sprintf("The next one leaves %s.", next))
	}
	told := s.announceCancel(ctx, trainName, tr, dep, m)
	return reply(told, chat.Success, "Cancelled the %s (%s)"+announced, label, stamp(dep, now, tr.loc)), nil
}

// The ends of a cancel's reply: its announcement posted in some channel of
// the train, or in none of them.
const (
	announced    = "; announced in the train's channels"
	notAnnounced = "; the train's channels could not be told (the chat platform refused every post; the bot's log says why): the same cancel, sent again, announces it"
)

// cancelOrphan calls off train name, which the config no longer has: it
// takes every car aboard off. A name with no car aboard is an unknown
// train. A car taken off by someone else meanwhile is not named.
func (s *Scheduler) cancelOrphan(ctx context.Context, user, name, reason string) (chat.Message, error) {
	cars, err := s.store.Cars(ctx, name)
	if err != nil {
		return chat.Message{}, storeErr(err, "cancel "+name)
	}
	if len(cars) == 0 {
		return chat.Message{}, s.unknownTrain(name)
	}
	var off []Car
	for _, c := range cars {
		// No taken-off record, as in leaveOrphan.
		left, err := s.store.Leave(ctx, name, c.App, "", s.now())
		if errors.Is(err, deploy.ErrNotFound) {
			continue
		}
		if err != nil {
			if len(off) > 0 {
				s.log.Info("train: cars taken off a train no longer in the config as it was cancelled", "train", name, "cars", carList(off), "user", user, "reason", reason)
			}
			return chat.Message{}, unknownErr(err, "cancel "+name, fmt.Sprintf("whether %s left the %s train", c.App, name), suggest.Command("train")+" lists who is aboard")
		}
		off = append(off, left)
	}
	if len(off) == 0 {
		return chat.Message{}, errs.New(errs.NoChange, "the %s train, which is no longer in the config, has no car aboard any more", name)
	}
	s.log.Info("train: cars taken off a train no longer in the config as it was cancelled", "train", name, "cars", carList(off), "user", user, "reason", reason)
	return chat.Message{Level: chat.Info, Public: true,
		Title: fmt.Sprintf("🚫 The %s train, which is no longer in the config, is cancelled by @%s: %s; its cars left: %s", name, user, reason, carList(off))}, nil
}

// announceCancel announces the cancellation of departure dep of train
// name, and records that it did: a cancel said again announces one that
// never was. One no channel took is not recorded, so that saying the
// cancel again announces it rather than answering that it was.
func (s *Scheduler) announceCancel(ctx context.Context, name string, tr *trainState, dep time.Time, m chat.Message) bool {
	if !s.announce(ctx, tr, m) {
		return false
	}
	if err := s.store.MarkRun(ctx, name, KindCancelAnnounced, dep); err != nil {
		s.log.Error("train: record the cancellation announced", "train", name, "at", dep, "err", err)
	}
	return true
}

// mayHaveLeft reports whether departure dep, whose cancellation has just
// been recorded, may have left all the same: a departure looks for a
// cancellation once it has stopped waiting (waiting), or once it is
// recorded as run, and sees this one if it does so later. A waiting
// departure that no longer waits, and one recorded as run meanwhile (it
// fell due as the cancel was made), may have looked before; so may one
// that neither can be read of, once due.
func (s *Scheduler) mayHaveLeft(ctx context.Context, name string, dep time.Time, waiting bool) bool {
	if waiting {
		w, err := s.store.LastRun(ctx, name, KindWaiting)
		return err != nil || !w.Equal(dep)
	}
	last, err := s.store.LastRun(ctx, name, KindDeparture)
	if err != nil {
		return !dep.After(s.now())
	}
	return last.Equal(dep)
}

// cancellable is the departure a cancel at now calls off: one due within
// the train's grace (or on time, a minute) that has not run yet (a leader taking over, a store
// coming back, would still run it), or one that waits for another
// departure of the train to end (waiting), within its grace, else the
// next one.
func (s *Scheduler) cancellable(ctx context.Context, name string, tr *trainState, now time.Time) (dep time.Time, waiting bool, err error) {
	sc := tr.sched[KindDeparture]
	last, err := s.store.LastRun(ctx, name, KindDeparture)
	if err != nil {
		return time.Time{}, false, err
	}
	// As the leader finds it due (tick), whichever replica asks.
	after := last
	if last.IsZero() {
		after = s.neverLeftFrom(ctx, name, now)
	}
	// A departure up to a minute late leaves as on time, whatever the
	// grace (runsLate): a grace shorter than that, 0s among them, still
	// leaves it due for that minute.
	if floor := now.Add(-max(tr.cfg.Grace.D(), onTime) - time.Nanosecond); after.Before(floor) {
		after = floor
	}
	if due, ok := latest(sc, after, now, tr.cfg.Grace.D()); ok && runsLate(now.Sub(due), tr.cfg.Grace.D()) {
		return due, false, nil
	}
	w, err := s.store.LastRun(ctx, name, KindWaiting)
	if err != nil {
		return time.Time{}, false, err
	}
	// A departure waits at most until its grace has run out (fire): a
	// mark older than that is one the bot died with as it waited.
	if !w.IsZero() && w.Equal(last) && now.Before(w.Add(tr.cfg.Grace.D())) {
		return w, true, nil
	}
	return sc.Next(now), false, nil
}

// DepartNow sends the train off now, in the background, with whatever is
// aboard; the departure posts its progress and summary to the train's
// channels. The scheduled departures run as usual. It fails with
// errs.Conflict if the train is departing already.
func (s *Scheduler) DepartNow(ctx context.Context, user, trainName string) (chat.Message, error) {
	tr, ok := s.trains[trainName]
	if !ok {
		return chat.Message{}, s.unknownTrain(trainName)
	}
	// mu is held for the check of stopped and the Add alone, never across
	// the store calls below: a store slow to answer would hold up every
	// other train's departures and the outcomes of cars said late. The
	// Add, made before Run can begin to wait, has Run wait for this call
	// and the departure it starts; the departure of a scheduler stopped
	// meanwhile does not leave, its life having ended, and says so.
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return chat.Message{}, errs.New(errs.Unavailable, "the train scheduler is stopped")
	}
	s.wg.Add(1)
	s.mu.Unlock()
	started := false
	defer func() {
		if !started {
			s.wg.Done()
		}
	}()
	// The lease is taken now, so that a train another replica is
	// departing is refused here rather than announced as leaving.
	dep, err := s.takeTrain(ctx, trainName, tr)
	if err != nil {
		return chat.Message{}, err
	}
	at := s.now()
	// A departure sent off early that the bot died during, not said yet
	// (that waits for a taking over of the lead), is said now: with the
	// lease and tr.busy held, no replica runs one. A scheduled one may
	// be recorded on the leader and not yet hold the train: whether it
	// was cut short is not said here, but the train's channels are told
	// that this one leaves beside it (sayBeside), once it is recorded as
	// leaving; the reply names it all the same, as it does records that
	// could not be read, so that the reply does not pass for one that
	// found nothing else unended.
	var found []string
	prevs, err := s.readUnended(ctx, trainName, tr, at)
	if err != nil {
		found = append(found, fmt.Sprintf("⚠ Whether an earlier departure of the train never ended could not be read (%s): "+
			"one the bot stopped during is said in the train's channels once it can be read.", storeDown(err)))
	}
	var scheduled []Departure
	for _, prev := range prevs {
		if prev.Early {
			s.sayCutShort(ctx, trainName, tr, prev, at)
			continue
		}
		scheduled = append(scheduled, prev)
	}
	note := "sent off early by @" + user
	s.log.Info("train: departing now", "train", trainName, "user", user)
	// Recorded as leaving, as a scheduled departure is, so that a bot
	// that dies before its summary says so at its next start (cutShort).
	// Unrecorded, it does not leave: a death during it would go unsaid,
	// and a store that cannot record stops the action.
	dep.early = true
	if err := s.store.StartDeparture(ctx, trainName, Departure{At: at, Early: true}); err != nil {
		s.log.Error("train: record a departure sent off early; not departing", "train", trainName, "at", at, "err", err)
		s.endUnrecorded(ctx, trainName, at)
		dep.release()
		tr.giveBack()
		return chat.Message{}, departUnrecorded(err, trainName)
	}
	told := len(scheduled) > 0 && s.sayBeside(ctx, trainName, tr, scheduled, user, at)
	for _, prev := range prevs {
		if prev.Early {
			found = append(found, fmt.Sprintf("⚠ The %s, sent off early, was cut short: the bot stopped during it; the train's channels were told.",
				s.label(tr, prev.At, at)))
			continue
		}
		channels := "the train's channels are told which"
		if told {
			channels = "the train's channels were told that this one leaves meanwhile, and are told which"
		}
		found = append(found, fmt.Sprintf("⚠ The %s has not said what became of its cars: it may be about to leave, after this one, "+
			"or the bot stopped during it; %s, by its next scheduled departure at the latest. "+
			"Whatever is aboard leaves now, with this one; a car whose deploy it was running is reported by deploy recovery (%s shows it).",
			s.label(tr, prev.At, at), channels, suggest.Command("status")))
	}
	reply := chat.Message{Level: chat.Info, Title: fmt.Sprintf("🚂 Sending the %s train to %s off now; the summary follows in its channel", trainName, tr.cfg.Env)}
	if tr.cfg.Empty == "silent" {
		// An empty train leaves unannounced: no summary follows.
		if cars, err := s.store.Cars(ctx, trainName); err == nil && len(cars) == 0 {
			reply.Title = fmt.Sprintf("🚂 Sending the %s train to %s off now; nobody is aboard, so it leaves empty, unannounced (empty: silent)", trainName, tr.cfg.Env)
		}
	}
	if len(found) > 0 {
		reply.Level, reply.Lines = chat.Warning, found
	}
	started = true
	go func() {
		defer s.wg.Done()
		defer tr.giveBack()
		s.depart(s.life, trainName, tr, at, note, dep)
	}()
	return reply, nil
}

// sayBeside tells the channels of train name, once, that user sent it
// off early at at while the scheduled departures in scheduled, recorded
// as leaving, have not said what became of their cars: one may still be
// running on the leader, and the people waiting for it would otherwise
// see a second departure leave with no word of the first. Whether each
// was cut short is said later, by the scheduler (cutShort, replaced). A
// train whose empty departures are silent, with nobody aboard, leaves
// unannounced, and this is not said either. It reports whether a channel
// took it.
func (s *Scheduler) sayBeside(ctx context.Context, name string, tr *trainState, scheduled []Departure, user string, at time.Time) bool {
	cars, quiet, err := s.carsToAnnounce(ctx, name, tr)
	if quiet {
		return false
	}
	labels := make([]string, len(scheduled))
	for i, d := range scheduled {
		labels[i] = "the " + s.label(tr, d.At, at)
	}
	verb, that, them, its := "has", "That one", "it", "its"
	if len(scheduled) > 1 {
		verb, that, them, its = "have", "Those", "them", "their"
	}
	m := chat.Message{Level: chat.Warning, Public: true,
		Title: fmt.Sprintf("⚠ The %s was sent off early by @%s while %s %s not said what became of %s cars.",
			s.label(tr, at, at), user, strings.Join(labels, " and "), verb, its),
		Lines: []string{fmt.Sprintf("%s may be about to leave, after this one, or the bot stopped during %s: this channel is told which, by the next scheduled departure at the latest.",
			that, them)}}
	switch {
	case err != nil:
		m.Lines = append(m.Lines, "Whatever is aboard leaves now, with this one.")
	case len(cars) > 0:
		m.Lines = append(m.Lines, fmt.Sprintf("Leaving now, with this one: %s.", carList(cars)))
	}
	m.Lines = append(m.Lines, fmt.Sprintf("If the bot stopped during %s, a car whose deploy was under way then is reported by deploy recovery (%s shows it).",
		them, suggest.Command("status")))
	return s.announce(ctx, tr, m)
}

// takeTrain takes tr.busy and the departure lease of train name for a
// train depart now. This replica's own saying of departures found
// unended (cutShort, or a due departure that does not leave saying the
// one its record replaced, notLeaving) holds them for a moment, under
// the same lease as a departure: it is no departure under way, here or
// on another replica, so it is waited for, up to sayWait, and refused
// as what it is if it holds the train longer.
func (s *Scheduler) takeTrain(ctx context.Context, name string, tr *trainState) (*departure, error) {
	timeout := time.NewTimer(s.sayWait)
	defer timeout.Stop()
	for {
		sayingBefore, before := tr.sayingNow()
		var refusal string
		select {
		case tr.busy <- struct{}{}:
			dep, err := s.claim(ctx, name)
			if err == nil {
				return dep, nil
			}
			tr.giveBack()
			if !errors.Is(err, deploy.ErrLeaseHeld) {
				return nil, storeErr(err, "depart "+name)
			}
			refusal = "the %s train is departing already, on another replica of the bot%s"
		default:
			refusal = "the %s train is departing already%s"
		}
		said, after := tr.sayingNow()
		if said == nil && sayingBefore == nil && after == before {
			return nil, errs.New(errs.Conflict, refusal, name, s.departing(ctx, name, tr))
		}
		if said == nil {
			// One held the train, or took it, while it was tried, and
			// has ended since: tried again, the train is free or held
			// by what a refusal names.
			continue
		}
		select {
		case <-said:
		case <-timeout.C:
			return nil, errs.New(errs.Conflict, "the %s train is held by this replica of the bot as it tells the train's channels of an earlier departure cut short "+
				"(the bot stopped during it); nothing was sent off: send it off again in a moment", name)
		case <-ctx.Done():
			return nil, fmt.Errorf("depart %s: %w", name, ctx.Err())
		}
	}
}

// departing ends the refusal of a departure of train name behind one
// under way, as a deploy behind another deploy is refused: "departing
// already" alone leaves it unsaid whether this one did anything, and how
// to keep a car from shipping with the one under way, which train cancel,
// calling off the next departure, does not. The commands it offers name
// the cars still aboard, waiting for their turn, as the store has them
// now: a command with a placeholder for the app is no command to send.
// The car being shipped, off the train by then, is named by status (on
// whichever replica ships it), with the cancel that stops its deploy.
func (s *Scheduler) departing(ctx context.Context, name string, tr *trainState) string {
	const head = "; nothing was sent off: the departure under way takes the cars aboard, and its summary follows in the train's channels; "
	shipping := fmt.Sprintf("%s names the car it is shipping, and cancel, with that car's app and %s, stops its deploy and switches its hosts back", suggest.Command("status"), tr.cfg.Env)
	cars, err := s.store.Cars(ctx, name)
	switch {
	case err != nil:
		return head + fmt.Sprintf("%s lists the cars still aboard, which train leave takes off before their turn; ", suggest.Command("train")) + shipping
	case len(cars) == 0:
		return head + "no other car is aboard; " + shipping
	}
	return head + fmt.Sprintf("to take a car off before its turn: %s; ", s.leaveCommands(name, cars)) + shipping
}

// endUnrecorded records the end of the departure at of train name that
// did not leave, its record as leaving refused, if that record was made
// all the same (its reply lost): it would otherwise be taken, at the next
// taking over of the lead, for a departure the bot died during. Not made,
// nothing is recorded: there is nothing to end. A store still failing
// leaves it to that chance; it is logged.
func (s *Scheduler) endUnrecorded(ctx context.Context, name string, at time.Time) {
	ctx = context.WithoutCancel(ctx)
	last, err := s.store.LastRun(ctx, name, KindEarly)
	if err == nil && !last.Equal(at) {
		return
	}
	if err == nil {
		err = s.store.EndDeparture(ctx, name, Departure{At: at, Early: true})
	}
	if err != nil {
		s.log.Error("train: record the end of a departure that did not leave", "train", name, "at", at, "err", err)
	}
}

// departUnrecorded is the refusal of a train depart now of train name
// whose record as leaving failed with err: it did not leave. A store
// found reset says so itself, as StoreRefused has it.
func departUnrecorded(err error, name string) error {
	err = fmt.Errorf("depart %s: %w", name, err)
	if errors.Is(err, deploy.ErrStoreReset) {
		return deploy.StoreRefused(err)
	}
	// As StoreRefused codes it: the store's own refusal keeps its code.
	code := errs.Unavailable
	if e := (*errs.Error)(nil); errors.As(err, &e) && e.Msg != deploy.StoreUnreachable {
		code = e.Code
	}
	return errs.Wrap(code, err, "%s: the departure could not be recorded, so the %s train did not leave and its cars stay aboard; nothing was changed", storeDown(err), name)
}

// List describes every train: its next departure in its zone, and who is
// aboard; then the trains the config no longer has whose cars are still
// aboard, which never leave, and how to take them off.
func (s *Scheduler) List(ctx context.Context) (chat.Message, error) {
	m := chat.Message{Level: chat.Info, Title: "🚂 Trains"}
	orphans, err := s.orphans(ctx)
	if err != nil {
		return chat.Message{}, storeErr(err, "list trains")
	}
	if len(s.names) == 0 {
		// Said first, whatever is left aboard trains the config had:
		// no train will depart, and none can be boarded.
		m.Title = "No trains are configured"
		for _, o := range orphans {
			m.Level = chat.Warning
			m.Lines = append(m.Lines, s.orphanLine(o))
		}
		return m, nil
	}
	now := s.now()
	for _, name := range s.names {
		tr := s.trains[name]
		cars, err := s.store.Cars(ctx, name)
		if err != nil {
			return chat.Message{}, storeErr(err, "list cars of "+name)
		}
		next, cancelled := s.departureFor(ctx, name, tr, now)
		line := fmt.Sprintf("%s → %s: next departure %s", name, tr.cfg.Env, stamp(next, now, tr.loc))
		switch {
		case !next.IsZero() && !next.After(now):
			// Waiting for an early one to end, or run late: the cars
			// aboard leave with it.
			line = fmt.Sprintf("%s → %s: departure %s due, not left yet", name, tr.cfg.Env, stamp(next, now, tr.loc))
		case next.IsZero():
			line = fmt.Sprintf("%s → %s: no departure scheduled", name, tr.cfg.Env)
		}
		if !cancelled.IsZero() {
			line += fmt.Sprintf(" (%s cancelled)", stamp(cancelled, now, tr.loc))
		}
		ship, left := s.splitBehind(tr, cars)
		switch {
		case len(cars) == 0:
			line += "; nobody aboard"
		case len(ship) > 0:
			line += "; aboard: " + carList(ship)
		}
		for _, l := range left {
			line += "; " + l
		}
		m.Lines = append(m.Lines, line)
	}
	for _, o := range orphans {
		m.Level = chat.Warning
		m.Lines = append(m.Lines, s.orphanLine(o))
	}
	return m, nil
}

func (s *Scheduler) unknownTrain(name string) error {
	if len(s.names) == 0 {
		return errs.New(errs.NotFound, "there is no train %q: no trains are configured", name)
	}
	return errs.New(errs.NotFound, "there is no train %q; trains: %s", name, strings.Join(s.names, ", "))
}

// unknownErr is the error of a command whose write failed with err, which
// the store may have applied all the same (its reply lost): see
// deploy.OutcomeUnknown.
func unknownErr(err error, op, whether, check string) error {
	return deploy.OutcomeUnknown(fmt.Errorf("%s: %w", op, err), whether, check)
}

// storeErr is err, from the store call op made before a command changed
// anything, as people are told it: a store that failed, whether it says
// why (Redis refuses writes, a store found reset) or cannot be reached, as
// the deploy engine's refusal says it, with "nothing was changed"; an
// answer of the store's own (a conflict) as it is.
func storeErr(err error, op string) error {
	err = fmt.Errorf("%s: %w", op, err)
	if code := errs.CodeOf(err); code != errs.Unavailable && code != errs.Internal {
		return err
	}
	return deploy.StoreRefused(err)
}

// storeDown is why a departure did not go on past the store call that
// failed with err, for a sentence of its own: the store's reason
// (deploy.StoreReason), as a Redis that answers but refuses is no store
// that cannot be reached, without the full stop Redis ends some of its
// answers with.
func storeDown(err error) string {
	return strings.TrimSuffix(deploy.StoreReason(err), ".")
}
