package train

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// Summary is what a departure did.
type Summary struct {
	Train string
	// At is the departure's time: the scheduled one, or when it was sent
	// off by DepartNow.
	At time.Time
	// Note is a remark shown with the departure ("running the 14:00
	// departure late (the bot was down)").
	Note string
	// Shipped cars were deployed; Failed ones were not (refused, failed,
	// reverted, …) and left the train; Postponed ones stay aboard for the
	// next departure; Left ones were taken off the train (train leave)
	// after it was announced, before their turn; Running ones left the
	// train with a deploy whose outcome the departure did not wait for
	// (the train's deploy_timeout, or the bot's stop): neither shipped
	// nor failed; the outcome is posted to the train's channels when the
	// deploy ends. Lost ones were taken off to be shipped, did not ship,
	// and could not be put back aboard for the next departure (the store
	// failed): they are off the train until boarded again. Replaced
	// ones were held back at their turn, and a newer boarding of their
	// app took their place before they were put back aboard: that car,
	// which Reason names, waits for the next departure instead. LeftBack
	// ones were held back at their turn, put back aboard, and taken off
	// (train leave) since: not before their turn, as Left ones. HeldLeft
	// ones were held back as the departure started, stayed aboard, and
	// were taken off (train leave) during it: their turn never came.
	Shipped, Failed, Postponed, Left, Running, Lost, Replaced, LeftBack, HeldLeft []CarResult
	// Err is set when the departure could not take its cars (an unknown
	// train, the store unreachable); nothing shipped.
	Err error
	// Message is the summary posted to the train's channels; zero when
	// nothing was posted (an empty train with empty: silent).
	Message chat.Message
}

// CarResult is what happened to one car.
type CarResult struct {
	Car Car
	// DeployID is the deploy the car started, if it started one.
	DeployID string
	// Outcome is that deploy's outcome, if it finished in time.
	Outcome deploy.Outcome
	// Reason says why the car failed or was postponed.
	Reason string
	// refused is why the deploy was refused, when it did not start.
	refused errs.Code
	// running is set when the deploy started and had no outcome when
	// the departure stopped waiting for it.
	running bool
	// newer is set on a car of Summary.Left that nobody took off: a
	// newer boarding of its app replaced it before its turn.
	newer bool
}

// Depart sends the train off now with whatever is aboard, waiting first
// for a departure of the same train in progress. It returns when every car
// has shipped, failed or been put back. note, if set, is shown with the
// departure.
func (s *Scheduler) Depart(ctx context.Context, trainName, note string) Summary {
	tr, ok := s.trains[trainName]
	if !ok {
		return Summary{Train: trainName, Note: note, Err: s.unknownTrain(trainName)}
	}
	select {
	case tr.busy <- struct{}{}:
	case <-ctx.Done():
		return Summary{Train: trainName, Note: note, Err: fmt.Errorf("depart %s: %w", trainName, ctx.Err())}
	}
	defer tr.giveBack()
	return s.depart(ctx, trainName, tr, s.now(), note, nil)
}

// depart runs one departure of the train, labelled by at; the caller holds
// tr.busy, and dep, the train's departure lease, when it took it (nil:
// depart takes it). A train another replica is departing does not leave
// here; that replica announces its departure.
func (s *Scheduler) depart(ctx context.Context, name string, tr *trainState, at time.Time, note string, dep *departure) Summary {
	log := s.log.With("train", name, "at", at)
	sum := Summary{Train: name, At: at, Note: note}
	label := s.label(tr, at, at)
	ended := KindEnded
	if dep != nil && dep.early {
		ended = KindEarlyEnded
	}
	var err error
	if dep == nil {
		dep, err = s.claim(ctx, name)
		if errors.Is(err, deploy.ErrLeaseHeld) {
			log.Info("train: another replica is departing this train")
			sum.Err = errs.Wrap(errs.Conflict, err, "the %s train is departing already, on another replica of the bot%s", name, s.departing(ctx, name, tr))
			return sum
		}
	}
	if dep != nil {
		defer dep.release()
		// Deferred after the release, so as to run before it: a saying
		// under this departure's hold (sayDeparting) ends while the
		// lease is still held.
		defer tr.hold(Departure{At: at, Early: dep.early}, dep)()
	}
	// The cars stay aboard until their turn, when each is taken off to be
	// shipped: a bot that dies during the departure leaves the cars it had
	// not reached aboard for the next one, and only the car being shipped
	// is off the train, its deploy recorded (and reported as interrupted).
	var cars []Car
	if err == nil {
		cars, err = s.store.Cars(ctx, name)
	}
	if err != nil && ctx.Err() != nil {
		// The bot's stop cut the lease or the read short: the store
		// may be fine.
		sum.Err = fmt.Errorf("depart %s: %w", name, err)
		sum.Message = s.notLeftAs(ctx, name, tr, at, note, stopping, ended)
		return sum
	}
	if err != nil {
		log.Error("train: list cars", "err", err)
		sum.Err = fmt.Errorf("depart %s: %w", name, err)
		sum.Message = chat.Message{Level: chat.Failure, Public: true, Lines: noteLines(note),
			Title: fmt.Sprintf("The %s could not leave: %s. The cars stay aboard.", label, storeDown(err))}
		s.auditEnd(ctx, name, tr, at, sum.Message.Title, ended)
		s.announce(context.WithoutCancel(ctx), tr, sum.Message)
		return sum
	}
	if len(cars) == 0 {
		s.auditEnd(ctx, name, tr, at, "left empty", ended)
		if tr.cfg.Empty != "silent" {
			sum.Message = chat.Message{Level: chat.Info, Public: true, Lines: noteLines(note),
				Title: fmt.Sprintf("🚂 The %s left empty: nobody was aboard.", label)}
			s.announce(ctx, tr, sum.Message)
		}
		return sum
	}

	// postponed holds indexes into cars, so they go back in boarding order.
	postponed := map[int]string{}
	// heldBack holds the indexes of the cars of postponed the gate held
	// back as the departure started: those stay aboard, never taken for
	// their turn.
	heldBack := map[int]bool{}
	var ship []int
	gone := 0 // cars left behind (behindOf)
	for i, c := range cars {
		if s.behindOf(tr, c) != shipsAboard {
			// Not a deploy anyone mistyped: said at its turn, and not
			// announced as leaving. Nor held back: a lock or window of
			// an env the train no longer goes to would hold it, and
			// audit it as refused, at every departure, never saying it
			// cannot ship with this train.
			gone++
			ship = append(ship, i)
			continue
		}
		if reason, held := s.held(ctx, tr, c); held {
			postponed[i] = reason
			heldBack[i] = true
			continue
		}
		ship = append(ship, i)
	}
	if len(ship) > gone {
		boarded := make([]Car, len(ship))
		for j, i := range ship {
			boarded[j] = cars[i]
		}
		shipping, left := s.splitBehind(tr, boarded)
		m := chat.Message{Level: chat.Info, Public: true, Lines: noteLines(note),
			Title: fmt.Sprintf("🚂 The %s is leaving with %s: %s.", label, count(len(shipping), "car"), carList(shipping))}
		if len(postponed) > 0 {
			m.Lines = append(m.Lines, fmt.Sprintf("%s held back; see the summary.", count(len(postponed), "car")))
		}
		for _, l := range left {
			m.Lines = append(m.Lines, l+"; see the summary.")
		}
		s.announce(ctx, tr, m)
	}

	var stopped string // why the remaining cars stay, once set
	var back []Car     // cars taken off that go back aboard
	// replaced holds the cars of back boarded in place of one taken off
	// for its turn, by index in sum.Left: that such a car waits for the
	// next train is said once it is known to be aboard.
	replaced := map[int]Car{}
	// returned holds the indexes of the postponed cars in back: those
	// are put back by this departure, the others stayed aboard.
	returned := map[int]bool{}
	for _, i := range ship {
		c := cars[i]
		if stopped == "" && ctx.Err() != nil {
			stopped = "the bot is shutting down"
		}
		if stopped == "" && !dep.held() {
			stopped = dep.whyNotHeld()
		}
		if stopped != "" {
			postponed[i] = stopped
			continue
		}
		// Recorded as taken off by nobody: the summary names who took a
		// car off (train leave), not the departure taking it for its turn.
		taken, err := s.store.Leave(ctx, name, c.App, "", time.Time{})
		switch {
		case errs.CodeOf(err) == errs.NotFound:
			sum.Left = append(sum.Left, CarResult{Car: c, Reason: "it was taken off the train before its turn" + s.takenOffBy(ctx, name, tr, c)})
			continue
		case err != nil:
			if ctx.Err() != nil {
				log.Info("train: the bot stopped as a car was taken off to ship it", "app", c.App, "err", err)
				stopped = "the bot is shutting down"
			} else {
				log.Error("train: take a car off to ship it", "app", c.App, "err", err)
				stopped = storeDown(err)
			}
			postponed[i] = stopped
			// The store may have taken it off before the reply was lost;
			// ReturnCars leaves a car still aboard where it is.
			back = append(back, c)
			returned[i] = true
			continue
		case !sameCar(taken, c):
			// Boarded again since the train was announced: that car is
			// the next train's, and goes back where it was.
			back = append(back, taken)
			replaced[len(sum.Left)] = taken
			sum.Left = append(sum.Left, CarResult{Car: c, Reason: fmt.Sprintf("%s boarded in its place", carName(taken)), newer: true})
			continue
		}
		if b := s.behindOf(tr, c); b != shipsAboard {
			sum.Failed = append(sum.Failed, CarResult{Car: c, Reason: s.reason(b, tr, c)})
			if b == envMoved {
				// The config sends the train elsewhere since c boarded:
				// no deploy was asked of an env the train no longer
				// goes to, so none is audited as refused.
				continue
			}
			// Its app, or the app's env, was removed from the config
			// since it boarded: no deploy of it can run, now or at a
			// later train.
			s.auditGone(ctx, tr, c, s.reason(b, tr, c))
			log.Warn("train: car of an app or env no longer configured left behind", "app", c.App, "env", c.Env, "build", c.Build, "user", c.User)
			continue
		}
		res := s.ship(ctx, tr, c, label)
		if res.DeployID == "" {
			// Refused before it started: a lock taken or a window closed
			// since the train left holds the car back as it would have
			// then, for the next train. The refused deploy is audited
			// already, saying why: not twice.
			if reason, held := s.gateClosed(ctx, c); held {
				postponed[i] = reason
				back = append(back, c)
				returned[i] = true
				continue
			}
			switch res.refused {
			case errs.NoChange:
				// The build is live already (deployed by hand since it
				// boarded): the car has arrived.
				sum.Shipped = append(sum.Shipped, res)
				continue
			case errs.Conflict, errs.Unavailable:
				// The app+env is busy (a deploy or rollback under way),
				// or the store, the build's source or the hosts cannot
				// be reached: nothing is wrong with the car, which waits
				// for the next train.
				postponed[i] = strings.TrimPrefix(res.Reason, "refused: ")
				back = append(back, c)
				returned[i] = true
				continue
			}
		}
		if res.Outcome == deploy.OutcomeSucceeded {
			sum.Shipped = append(sum.Shipped, res)
			continue
		}
		if res.running {
			// Its outcome is unknown: it may yet succeed, so it is not
			// called failed, and does not stop the train.
			sum.Running = append(sum.Running, res)
			log.Warn("train: car still running", "app", c.App, "build", c.Build, "deploy", res.DeployID)
			continue
		}
		sum.Failed = append(sum.Failed, res)
		log.Warn("train: car failed", "app", c.App, "build", c.Build, "deploy", res.DeployID, "reason", res.Reason)
		// Only a deploy that ran stops the train: a car refused for good
		// (its boarder may no longer deploy, its build is gone) says
		// nothing of the builds after it.
		if tr.cfg.StopOnFailure && res.DeployID != "" {
			stopped = fmt.Sprintf("the train stopped after %s %s failed (stop_on_failure)", c.App, c.Build)
		}
	}

	s.leftMeanwhile(ctx, name, tr, cars, postponed, returned, heldBack, &sum)
	var lost error
	var off []Car            // the cars of back off the train once lost
	var takenOff []Car       // the cars of back put back, then taken off
	var newer map[string]Car // the cars boarded in place of cars of back, by app
	if len(back) > 0 {
		// Put them back even when ctx is done: they would be lost otherwise.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		lost = s.store.ReturnCars(rctx, name, back)
		cancel()
		if lost != nil {
			log.Error("train: return cars", "cars", carList(back), "err", lost)
		}
		if off, takenOff, newer = s.whereBack(ctx, name, back, lost); len(off) == 0 {
			lost = nil
		}
	}
	isOff := func(c Car) bool {
		return slices.ContainsFunc(off, func(o Car) bool { return sameCar(o, c) })
	}
	isTakenOff := func(c Car) bool {
		return slices.ContainsFunc(takenOff, func(o Car) bool { return sameCar(o, c) })
	}
	// A car that could not be put back does not move to the next train:
	// said to, nobody would board it again. Nor does one a newer boarding
	// of its app replaced as it was put back: that one moves on.
	for _, i := range slices.Sorted(maps.Keys(postponed)) {
		r := CarResult{Car: cars[i], Reason: postponed[i]}
		if returned[i] && isOff(cars[i]) {
			sum.Lost = append(sum.Lost, r)
			continue
		}
		if returned[i] && isTakenOff(cars[i]) {
			// Put back, then taken off (train leave): it does not
			// move to the next train.
			r.Reason += "; it was taken off the train since" + s.takenOffBy(ctx, name, tr, cars[i])
			sum.LeftBack = append(sum.LeftBack, r)
			continue
		}
		if n, ok := newer[cars[i].App]; ok && returned[i] {
			r.Reason += fmt.Sprintf("; %s boarded in its place since, and waits for the next train", carName(n))
			sum.Replaced = append(sum.Replaced, r)
			continue
		}
		sum.Postponed = append(sum.Postponed, r)
	}
	for j, c := range replaced {
		n, ok := newer[c.App]
		switch {
		case isOff(c):
		case isTakenOff(c):
			sum.Left[j].Reason += "; that car was taken off the train since" + s.takenOffBy(ctx, name, tr, c)
		case ok:
			sum.Left[j].Reason += fmt.Sprintf("; then %s boarded in place of that car, and waits for the next train", carName(n))
		default:
			sum.Left[j].Reason += "; that car waits for the next train"
		}
	}
	next := s.nextStamp(context.WithoutCancel(ctx), name, tr, at)
	sum.Message = summaryMessage(label, note, sum, next, lost, off, name)
	s.auditEnd(ctx, name, tr, at, summaryText(sum.Message), ended)
	s.announce(context.WithoutCancel(ctx), tr, sum.Message)
	return sum
}

// whereBack reads the train once the cars of back were put back, lost
// why that failed if it did, and returns those of back that are off it
// as they were taken off (only when putting them back failed: a car
// whose Leave failed may never have left it, and a ReturnCars whose
// reply was lost may have put them back), those of back not aboard
// although they were put back (taken off since, by train leave), and,
// by app, the cars aboard in place of cars of back: boarded while they
// were off, a newer boarding of an app replaces the car put back (see
// Store.ReturnCars). When the cars cannot be read, off is all of back
// if lost, and none is known to be gone or replaced.
func (s *Scheduler) whereBack(ctx context.Context, name string, back []Car, lost error) (off, gone []Car, newer map[string]Car) {
	// Read even when ctx is done, as ReturnCars was tried.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	aboard, err := s.store.Cars(rctx, name)
	cancel()
	if err != nil {
		s.log.Warn("train: read the cars put back", "train", name, "err", err)
		if lost != nil {
			return back, nil, nil
		}
		return nil, nil, nil
	}
	for _, c := range back {
		j := slices.IndexFunc(aboard, func(a Car) bool { return a.App == c.App })
		switch {
		case j < 0 && lost != nil:
			off = append(off, c)
		case j < 0:
			gone = append(gone, c)
		case !sameCar(aboard[j], c):
			if newer == nil {
				newer = map[string]Car{}
			}
			newer[c.App] = aboard[j]
		}
	}
	return off, gone, newer
}

// leftMeanwhile moves the postponed cars that stayed aboard (not those
// in returned, which the departure puts back, and whereBack finds
// replaced) and are no longer aboard as they were read at its start:
// those boarded again with another build during the departure to
// sum.Left, as replaced, and those taken off (train leave) during it to
// sum.HeldLeft when the gate held them back as it started (heldBack),
// else, the departure having stopped before their turn, to sum.Left. Said to
// move to the next train, a car taken off would not, and one boarded
// again would be another build. When the cars cannot be read again, the
// postponed stay as they are.
func (s *Scheduler) leftMeanwhile(ctx context.Context, name string, tr *trainState, cars []Car, postponed map[int]string, returned, heldBack map[int]bool, sum *Summary) {
	stayed := false
	for i := range postponed {
		stayed = stayed || !returned[i]
	}
	if !stayed {
		return
	}
	// Read even when ctx is done: a stopping bot's summary says where
	// the cars it did not reach are too.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	aboard, err := s.store.Cars(rctx, name)
	cancel()
	if err != nil {
		s.log.Warn("train: read the cars held back again", "train", name, "err", err)
		return
	}
	for _, i := range slices.Sorted(maps.Keys(postponed)) {
		if returned[i] {
			continue
		}
		c := cars[i]
		j := slices.IndexFunc(aboard, func(a Car) bool { return a.App == c.App })
		switch {
		case j >= 0 && sameCar(aboard[j], c):
			continue
		case j >= 0:
			sum.Left = append(sum.Left, CarResult{Car: c, Reason: fmt.Sprintf("%s boarded in its place; that car waits for the next train", carName(aboard[j])), newer: true})
		case heldBack[i]:
			// Said as what happened: held back, then taken off. It
			// was never taken for its turn, which never came.
			sum.HeldLeft = append(sum.HeldLeft, CarResult{Car: c, Reason: postponed[i] + "; it was taken off the train during the departure" + s.takenOffBy(ctx, name, tr, c)})
		default:
			sum.Left = append(sum.Left, CarResult{Car: c, Reason: "it was taken off the train during the departure" + s.takenOffBy(ctx, name, tr, c)})
		}
		delete(postponed, i)
	}
}

// takenOffBy is who took car c off the train name and when, as the
// summary says it after the car's line: ", by @alice at 14:02", or "" when the store
// has no record of it (taken off by a version that kept none, or the
// record unreadable, which leaves the rest of the summary as it is).
func (s *Scheduler) takenOffBy(ctx context.Context, name string, tr *trainState, c Car) string {
	// Read even when ctx is done, as the summary is still said.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	off, err := s.store.TakenOff(rctx, name, c.App)
	cancel()
	if err != nil {
		s.log.Warn("train: read who took a car off", "train", name, "app", c.App, "err", err)
		return ""
	}
	if off.By == "" || !sameCar(off.Car, c) {
		return ""
	}
	return fmt.Sprintf(", by @%s at %s", suggest.Strip(off.By), clock(off.At.In(tr.loc)))
}

// summaryMessage describes a departure that had cars; lost is why the
// cars taken off by mistake, lostCars, could not be put back: those of
// sum.Lost, and the cars boarded in place of some of sum.Left, on the
// train named train.
func summaryMessage(label, note string, sum Summary, next string, lost error, lostCars []Car, train string) chat.Message {
	m := chat.Message{Level: chat.Success, Public: true, Lines: noteLines(note)}
	if len(sum.Shipped) == 0 && len(sum.Failed) == 0 && len(sum.Running) == 0 && len(sum.Left) == 0 && len(sum.Replaced) == 0 && len(sum.LeftBack) == 0 && len(sum.HeldLeft) == 0 && sameReason(sum.Postponed) {
		// Nothing left: the whole train waits, for one reason.
		m.Level = chat.Warning
		m.Title = fmt.Sprintf("🚂 The %s is postponed: %s", label, sum.Postponed[0].Reason)
		cars := make([]Car, len(sum.Postponed))
		for i, r := range sum.Postponed {
			cars[i] = r.Car
		}
		verb := "moves"
		if len(cars) > 1 {
			verb = "move"
		}
		m.Lines = append(m.Lines, fmt.Sprintf("%s %s to the next train, %s.", carList(cars), verb, next))
		return withLost(m, lost, lostCars, train)
	}
	var counts []string
	if n := len(sum.Shipped); n > 0 {
		counts = append(counts, fmt.Sprintf("%d shipped", n))
	}
	if n := len(sum.Failed); n > 0 {
		counts = append(counts, fmt.Sprintf("%d failed", n))
		m.Level = chat.Failure
	}
	if n := len(sum.Running); n > 0 {
		counts = append(counts, fmt.Sprintf("%d still running", n))
		if m.Level == chat.Success {
			m.Level = chat.Warning
		}
	}
	if n := len(sum.Postponed); n > 0 {
		verb := "moves"
		if n > 1 {
			verb = "move"
		}
		counts = append(counts, fmt.Sprintf("%d %s to the next train", n, verb))
		if m.Level == chat.Success {
			m.Level = chat.Warning
		}
	}
	// A car replaced before its turn is one of sum.Left, as it did not
	// ship, but nobody took it off: it is counted with the replaced.
	newer := 0
	for _, r := range sum.Left {
		if r.newer {
			newer++
		}
	}
	if n := len(sum.Replaced) + newer; n > 0 {
		counts = append(counts, fmt.Sprintf("%d replaced by a newer boarding", n))
	}
	if len(sum.Replaced) > 0 && m.Level == chat.Success {
		m.Level = chat.Warning
	}
	if n := len(sum.Left) - newer; n > 0 {
		their := "their"
		if n == 1 {
			their = "its"
		}
		counts = append(counts, fmt.Sprintf("%d taken off before %s turn", n, their))
	}
	if n := len(sum.LeftBack); n > 0 {
		counts = append(counts, fmt.Sprintf("%d put back aboard and taken off", n))
	}
	if n := len(sum.HeldLeft); n > 0 {
		counts = append(counts, fmt.Sprintf("%d held back, then taken off", n))
	}
	if n := len(sum.Lost); n > 0 {
		counts = append(counts, fmt.Sprintf("%d could not be put back aboard", n))
	}
	m.Title = fmt.Sprintf("🚂 The %s has left: %s", label, strings.Join(counts, ", "))
	if len(sum.Shipped) == 0 && len(sum.Failed) == 0 && len(sum.Running) == 0 && len(sum.Postponed) > 0 {
		// No car left, each held back for its own reason: the train
		// did not leave, whatever the cars taken off meanwhile.
		m.Title = fmt.Sprintf("🚂 The %s is postponed: %s", label, strings.Join(counts, ", "))
	}
	if len(sum.Shipped) == 0 && len(sum.Failed) == 0 && len(sum.Running) == 0 && len(sum.Postponed) == 0 {
		// Every car was taken off, replaced by a newer boarding, or
		// could not be put back aboard: nothing left, and nothing
		// failed. A newer boarding waits for the next train, as a
		// postponed car does: said as a warning, as the other
		// departures that did not leave are. Cars only taken off wait
		// for nothing, which is no warning.
		m.Level = chat.Info
		if len(sum.Replaced)+newer > 0 {
			m.Level = chat.Warning
		}
		m.Title = fmt.Sprintf("🚂 The %s did not leave: %s", label, strings.Join(counts, ", "))
	}
	for _, r := range sum.Shipped {
		if r.DeployID == "" {
			m.Lines = append(m.Lines, fmt.Sprintf("✅ %s: live already, nothing to deploy", carName(r.Car)))
			continue
		}
		m.Lines = append(m.Lines, fmt.Sprintf("✅ %s: deploy %s succeeded", carName(r.Car), r.DeployID))
	}
	for _, r := range sum.Failed {
		m.Lines = append(m.Lines, fmt.Sprintf("❌ %s: %s; it leaves the train", carName(r.Car), r.Reason))
	}
	for _, r := range sum.Running {
		m.Lines = append(m.Lines, fmt.Sprintf("⏳ %s: %s; it left the train", carName(r.Car), r.Reason))
	}
	for _, r := range sum.Postponed {
		m.Lines = append(m.Lines, fmt.Sprintf("⏭ %s moves to the next train: %s", carName(r.Car), r.Reason))
	}
	for _, r := range sum.Replaced {
		m.Lines = append(m.Lines, fmt.Sprintf("↩ %s did not ship: %s", carName(r.Car), r.Reason))
	}
	for _, r := range sum.Left {
		m.Lines = append(m.Lines, fmt.Sprintf("↩ %s did not ship: %s", carName(r.Car), r.Reason))
	}
	for _, r := range sum.LeftBack {
		m.Lines = append(m.Lines, fmt.Sprintf("↩ %s did not ship: %s", carName(r.Car), r.Reason))
	}
	for _, r := range sum.HeldLeft {
		m.Lines = append(m.Lines, fmt.Sprintf("↩ %s did not ship: %s", carName(r.Car), r.Reason))
	}
	if len(sum.Postponed) > 0 || len(sum.Replaced) > 0 {
		m.Lines = append(m.Lines, "Next departure: "+next+".")
	}
	return withLost(m, lost, lostCars, train)
}

// lostShown bounds the cars named in the line of those that could not
// be put back aboard; the rest are counted.
const lostShown = 3

// withLost adds to m, if lost, that the cars back could not be put back
// aboard train, naming them: only the people who boarded them can board
// them again, and a count alone does not tell them whose. Each car named
// comes with the train board that boards it again, addressed to its
// boarder: sent by anyone else, it would board the car as them.
func withLost(m chat.Message, lost error, back []Car, train string) chat.Message {
	if lost == nil {
		return m
	}
	m.Level = chat.Failure
	shown := back[:min(len(back), lostShown)]
	named := carList(shown)
	if n := len(back) - lostShown; n > 0 {
		named += fmt.Sprintf(", and %d more", n)
	}
	they := "They are"
	if len(back) == 1 {
		they = "It is"
	}
	var again string
	if len(shown) == 1 {
		again = fmt.Sprintf("To board it again, @%s sends %s", shown[0].User, boardCommand(shown[0], train))
	} else {
		cmds := make([]string, len(shown))
		for i, c := range shown {
			cmds[i] = fmt.Sprintf("@%s %s", c.User, boardCommand(c, train))
		}
		again = "To board again, each by whoever boarded it: " + strings.Join(cmds, ", ")
	}
	// The reason in the words of the departure's other store failures
	// (storeDown), and a sentence of its own, as where a train could not
	// leave: the same failure is said once, one way, in one summary.
	m.Lines = append(m.Lines, fmt.Sprintf("⚠ %s could not be put back aboard: %s. %s off the train until boarded again: %s. %s (a car boards as whoever sends the command).",
		count(len(back), "car"), storeDown(lost), they, named, again))
	return m
}

func sameReason(rs []CarResult) bool {
	if len(rs) == 0 {
		return false
	}
	for _, r := range rs[1:] {
		if r.Reason != rs[0].Reason {
			return false
		}
	}
	return true
}

func noteLines(note string) []string {
	if note == "" {
		return nil
	}
	return []string{note}
}

// ship deploys one car through the Runner, as the user who boarded it,
// and waits for the deploy's outcome. The replies and the final message go
// to the train's first channel. A deploy it stops waiting for (res.running)
// has its outcome said in every channel of the train, label's, when it ends.
func (s *Scheduler) ship(ctx context.Context, tr *trainState, c Car, label string) CarResult {
	channel := tr.cfg.Channels[0]
	res := CarResult{Car: c}
	out := newCarOutput()
	// A car whose migrations wait for a confirmation shows the prompt in
	// the channel, buttons included, or the train would wait out
	// confirm_timeout for a question nobody saw.
	out.prompt = func(m chat.Message) { s.wg.Go(func() { s.post(context.WithoutCancel(ctx), tr, channel, m) }) }
	oc := s.runner.Handle(ctx, commands.Request{
		User: c.User, Platform: "train", Channel: channel,
		Text: fmt.Sprintf("deploy %s %s to %s", carApp(c.App), carBuild(c.Build), c.Env),
	}, out)
	replies := out.takeReplies()
	if oc.DeployID == "" && ctx.Err() != nil {
		// Refused because the bot is stopping (a store read cancelled
		// says "unreachable"): the summary says so, not the replies.
		res.Reason = "the bot is shutting down"
		return res
	}
	for _, m := range replies {
		m.Public = true
		s.post(ctx, tr, channel, m)
	}
	res.DeployID, res.refused = oc.DeployID, oc.Code
	if oc.DeployID == "" {
		var why []string
		for _, m := range replies {
			if m.Title != "" {
				why = append(why, m.Title)
			}
		}
		if len(why) == 0 {
			why = append(why, "the deploy did not start")
		}
		res.Reason = "refused: " + strings.Join(why, "; ")
		return res
	}
	// Not ctx: a stopping bot lets the deploys under way finish (the
	// engine drains), so the departure waits for this one's outcome
	// rather than calling it failed while it may still succeed. Should
	// the process die first, deploy recovery reports it as interrupted.
	// The train's deploy_timeout bounds the wait, so that one stuck car
	// does not hold the cars after it for good; its outcome is said when
	// it ends.
	var expired <-chan time.Time
	timeout := s.deployTimeout
	if d := tr.cfg.DeployTimeout.D(); d > 0 {
		timeout = d
	}
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	// A stopping bot waits for the deploy as long as it lets deploys
	// finish (StopWait), not past it: the process may exit then.
	stopping, stopped := ctx.Done(), (<-chan time.Time)(nil)
wait:
	for {
		select {
		case <-out.done:
			break wait
		case <-expired:
			res.running = true
			res.Reason = fmt.Sprintf("no outcome after %s (deploy_timeout); deploy %s may still be running (%s shows it)", spoken(timeout), oc.DeployID, suggest.Command("status"))
			s.outcomeLater(ctx, out, tr, c, label)
			return res
		case <-stopping:
			stopping = nil
			if s.stopWait > 0 {
				timer := time.NewTimer(s.stopWait)
				defer timer.Stop()
				stopped = timer.C
			}
		case <-stopped:
			res.running = true
			res.Reason = fmt.Sprintf("deploy %s was still running when the bot stopped; %s shows how it ends", oc.DeployID, suggest.Command("status"))
			s.outcomeLater(ctx, out, tr, c, label)
			return res
		}
	}
	rec, at := out.result()
	if at.IsZero() {
		at = s.now()
	}
	s.post(context.WithoutCancel(ctx), tr, channel, commands.FinalMessage(rec, at))
	res.Outcome = rec.Outcome
	if rec.Outcome != deploy.OutcomeSucceeded {
		res.Reason = fmt.Sprintf("deploy %s %s", rec.ID, commands.OutcomeText(rec))
		if rec.Error != "" {
			res.Reason += ": " + rec.Error
		}
	}
	return res
}

// outcomeLater has the outcome of the deploy out reports said, by
// lateOutcome, once the deploy ends: on a goroutine the scheduler waits
// for as it stops, not the engine's, which the posts would hold up.
func (s *Scheduler) outcomeLater(ctx context.Context, out *carOutput, tr *trainState, c Car, label string) {
	out.afterwards(func(rec *deploy.Record, at time.Time) {
		// The deploy may end after the departure that started it, when
		// nothing else holds the wait group: adding to it once Run waits
		// on it at zero is a race, so a stopped scheduler says it here.
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			s.lateOutcome(ctx, tr, c, label, rec, at)
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.lateOutcome(ctx, tr, c, label, rec, at)
		}()
	})
}

// lateOutcome says in the train's channels how the deploy of car c ended,
// which the departure (label) summarised as still running: the people
// who read "still running" there learn the outcome there too. Its final
// message went to nobody, the departure having stopped waiting.
func (s *Scheduler) lateOutcome(ctx context.Context, tr *trainState, c Car, label string, rec *deploy.Record, at time.Time) {
	if at.IsZero() {
		at = s.now()
	}
	final := commands.FinalMessage(rec, at)
	m := chat.Message{Level: final.Level, Public: true, Buttons: final.Buttons,
		Title: fmt.Sprintf("🚂 %s, which left the %s still running: deploy %s %s", carName(c), label, rec.ID, commands.OutcomeText(rec)),
		Lines: append([]string{final.Title}, final.Lines...)}
	s.log.Info("train: outcome of a car the departure stopped waiting for", "train", tr.cfg.Name, "app", c.App, "deploy", rec.ID, "outcome", rec.Outcome)
	s.announce(context.WithoutCancel(ctx), tr, m)
}

// carApp is how the app of a car is written in its deploy command: quoted
// when it is named like the words of "deploy confirm ID" and "deploy
// abort ID", which a build shaped like a deploy id would otherwise make.
func carApp(app string) string {
	if strings.EqualFold(app, "confirm") || strings.EqualFold(app, "abort") {
		return `"` + app + `"`
	}
	return app
}

// carBuild is build as the deploy command reads it: a build named "to"
// is quoted, or the deploy would read it as the "to" before the env and
// refuse the car for want of a build. A build holds no quote.
func carBuild(build string) string {
	if strings.EqualFold(build, "to") {
		return `"` + build + `"`
	}
	return build
}

// carOutput is the commands.Output of one car's deploy: it keeps the
// replies and the final record. Progress is called from the engine's
// goroutines, possibly before Handle returns.
type carOutput struct {
	done chan struct{} // closed on the first EventFinished

	mu       sync.Mutex
	replies  []chat.Message
	final    *deploy.Record
	at       time.Time
	progress commands.Progress
	prompt   func(chat.Message) // called with the progress when the deploy asks to confirm
	// late, when set, is called with the final record once the deploy
	// ends: the departure stopped waiting for it (afterwards).
	late func(*deploy.Record, time.Time)
}

func newCarOutput() *carOutput { return &carOutput{done: make(chan struct{})} }

func (o *carOutput) Reply(msg chat.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.replies = append(o.replies, msg)
}

func (o *carOutput) Progress(ev deploy.Event) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.progress.Apply(ev)
	if ev.Kind == deploy.EventConfirm && o.prompt != nil {
		o.prompt(o.progress.Message(ev.Time))
	}
	if ev.Kind != deploy.EventFinished || ev.Record == nil || o.final != nil {
		return
	}
	o.final, o.at = ev.Record.Clone(), ev.Time
	close(o.done)
	if o.late != nil {
		o.late(o.final, o.at)
	}
}

// afterwards calls f with the deploy's final record once it ends, or at
// once if it has ended already: it may have ended as the departure
// stopped waiting. f is called with o's lock held and must not block.
func (o *carOutput) afterwards(f func(*deploy.Record, time.Time)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.final != nil {
		f(o.final, o.at)
		return
	}
	o.late = f
}

func (o *carOutput) takeReplies() []chat.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.replies
	o.replies = nil
	return r
}

func (o *carOutput) result() (*deploy.Record, time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.final, o.at
}

// summaryText is m on one line, for the audit log.
func summaryText(m chat.Message) string {
	return strings.Join(append([]string{m.Title}, m.Lines...), "; ")
}

// sameCar reports whether a and b are one boarding: times read back from
// a store may differ in their location only.
func sameCar(a, b Car) bool {
	return a.App == b.App && a.Build == b.Build && a.Env == b.Env && a.User == b.User && a.Boarded.Equal(b.Boarded)
}

// held reports whether the gate holds c back now, and why; a car held
// back is audited, and counted, as a refused deploy.
func (s *Scheduler) held(ctx context.Context, tr *trainState, c Car) (string, bool) {
	if s.gate == nil || s.mayNotDeploy(ctx, c) {
		return "", false
	}
	reason, closed := s.gate.Held(ctx, c.App, c.Env, c.User)
	if closed {
		s.auditHeld(ctx, tr, c, reason)
	}
	return reason, closed
}

// gateClosed reports whether the gate holds c back now, and why, without
// auditing it: for a car whose deploy was refused, and audited, already.
// A car whose boarder may not deploy now is not held back: as a typed
// deploy, it is refused for the permission before its window and locks
// are looked at, and leaves the train, rather than wait for them day
// after day to be refused then.
func (s *Scheduler) gateClosed(ctx context.Context, c Car) (string, bool) {
	if s.gate == nil || s.mayNotDeploy(ctx, c) {
		return "", false
	}
	return s.gate.Closed(ctx, c.App, c.Env, c.User)
}

// mayNotDeploy reports whether c's boarder may not deploy it now, which
// refuses the car before the gate is asked whether to hold it back. A
// stopping bot holds every car back, whoever boarded it.
func (s *Scheduler) mayNotDeploy(ctx context.Context, c Car) bool {
	if ctx.Err() != nil {
		return false
	}
	_, forbidden := s.gate.Forbidden(ctx, c.App, c.Env, c.User, s.now())
	return forbidden
}
