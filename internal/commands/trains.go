package commands

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/stats"
)

// Trains runs deploy trains; *train.Scheduler implements it. Permissions
// are checked here, before any of its methods runs.
type Trains interface {
	Board(ctx context.Context, user, train, app, build, env string) (chat.Message, error)
	Leave(ctx context.Context, user, train, app string) (chat.Message, error)
	Cancel(ctx context.Context, user, train, reason string) (chat.Message, error)
	DepartNow(ctx context.Context, user, train string) (chat.Message, error)
	List(ctx context.Context) (chat.Message, error)
	// CarEnv returns the env of app's car aboard train, if it has one.
	CarEnv(ctx context.Context, train, app string) (string, bool, error)
	// CarEnvs returns the env of every car aboard train, by app.
	CarEnvs(ctx context.Context, train string) (map[string]string, error)
}

// SetTrains gives the service its train scheduler, which itself deploys
// through the service (so the two are built one after the other).
func (s *Service) SetTrains(t Trains) { s.trains = t }

func (c *call) train(ctx context.Context, cmd Command) {
	if c.s.trains == nil {
		c.refuse(errs.New(errs.Invalid, "no trains are configured"))
		return
	}
	env := cmd.Env
	if t, ok := c.s.cfg.Trains[cmd.Train]; ok && (env == "" || cmd.TrainAction == TrainBoard) {
		// A car goes where its train goes, whatever "to ENV" says: the
		// grant to board is judged there. Judged on the env typed, a
		// "to staging" on a train to production was refused for want of
		// a grant on staging, not told where the train goes.
		env = t.Env
	}
	if cmd.TrainAction == TrainLeave {
		// The grant to take a car off is checked on the car's own env,
		// whatever the train's is now: a train the config no longer has
		// names none, and one the config sends elsewhere since the car
		// boarded names another, where a grant limited to the car's env
		// could never take it off. A car not aboard is checked on the
		// train's env, and Leave says it is not aboard.
		e, aboard, err := c.s.trains.CarEnv(ctx, cmd.Train, cmd.App)
		if err != nil {
			c.refuse(err)
			return
		}
		if aboard {
			env = e
		}
	}
	c.entry.Env = env
	var via string
	switch cmd.TrainAction {
	case TrainBoard, TrainLeave:
		d, ok := c.check(ctx, acl.Train, cmd.App, env)
		if !ok {
			return
		}
		via = d.Via
	case TrainCancel, TrainDepart:
		what := "train cancel"
		if cmd.TrainAction == TrainDepart {
			what = "train depart"
		}
		if cmd.TrainGone {
			d, ok := c.checkCarsAdmin(ctx, what, cmd.Train)
			if !ok {
				return
			}
			via = d.Via
			break
		}
		d, ok := c.checkAdmin(ctx, what, "", "")
		if !ok {
			return
		}
		via = d.Via
	}
	var m chat.Message
	var err error
	switch cmd.TrainAction {
	case TrainBoard:
		m, err = c.s.trains.Board(ctx, c.req.User, cmd.Train, cmd.App, cmd.Build, cmd.Env)
	case TrainLeave:
		m, err = c.s.trains.Leave(ctx, c.req.User, cmd.Train, cmd.App)
	case TrainCancel:
		m, err = c.s.trains.Cancel(ctx, c.req.User, cmd.Train, cmd.Reason)
	case TrainDepart:
		m, err = c.s.trains.DepartNow(ctx, c.req.User, cmd.Train)
	default:
		m, err = c.s.trains.List(ctx)
	}
	if err != nil {
		c.refuse(err)
		return
	}
	c.allow(via)
	c.out.Reply(m)
}

// checkCarsAdmin checks that the user may call off train, which the
// config no longer has, as train leave checks each car: on every car's
// own app and env, the config naming none for the train. With no car
// aboard it checks the admin grant anywhere; the train then says it
// does not know the name.
func (c *call) checkCarsAdmin(ctx context.Context, what, train string) (acl.Decision, bool) {
	envs, err := c.s.trains.CarEnvs(ctx, train)
	if err != nil {
		c.refuse(err)
		return acl.Decision{}, false
	}
	if len(envs) == 0 {
		return c.checkAdmin(ctx, what, "", "")
	}
	apps := make([]string, 0, len(envs))
	for app := range envs {
		apps = append(apps, app)
	}
	slices.Sort(apps)
	var d acl.Decision
	for _, app := range apps {
		var ok bool
		if d, ok = c.checkAdmin(ctx, what, app, envs[app]); !ok {
			return d, false
		}
	}
	// One env for the audit entry, when the cars share it.
	c.entry.Env = envs[apps[0]]
	for _, app := range apps {
		if envs[app] != c.entry.Env {
			c.entry.Env = ""
		}
	}
	return d, true
}

// Closed tells a train departure whether app/env is closed now to user's
// deploy (a closed window, a lock in force that user does not own, or a
// run of app/env under way), and why: the same checks a deploy meets.
// While the bot shuts down everything is closed, so that a departure
// under way puts its remaining cars back aboard for the next train.
func (s *Service) Closed(ctx context.Context, app, env, user string) (string, bool) {
	reason, _, closed := s.closed(ctx, app, env, user)
	return reason, closed
}

// Held is Closed for a car the departure holds back before its deploy is
// asked for: the deploy is refused all the same, so it is counted as a
// refused command, by the kind of refusal the deploy would have met.
func (s *Service) Held(ctx context.Context, app, env, user string) (string, bool) {
	reason, why, closed := s.closed(ctx, app, env, user)
	if closed && s.refusals != nil {
		s.refusals.Refused(why)
	}
	return reason, closed
}

// closed is Closed, with the refusal reason (one of RefusalReasons) the
// deploy would be refused for.
func (s *Service) closed(ctx context.Context, app, env, user string) (string, string, bool) {
	const draining = "draining"
	if ctx.Err() != nil || s.engine.Draining() {
		// Not a store failure, whatever a cancelled read would say.
		return "the bot is shutting down", draining, true
	}
	// A car cannot be forced past a closed window: it waits for it, so
	// the reason offers no --force.
	open, why, _, err := s.windowShut(ctx, app, env)
	if err != nil {
		return "the bot is shutting down", draining, true
	}
	if !open {
		return why, string(errs.Forbidden), true
	}
	locks, err := s.store.Locks(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "the bot is shutting down", draining, true
		}
		return deploy.StoreReason(err), string(errs.Unavailable), true
	}
	for _, l := range locks {
		if l.Covers(app, env) && l.Active(s.now()) && l.Owner != user {
			return fmt.Sprintf("%s/%s is locked: %s", app, env, describeLock(l, s.now())), string(errs.Conflict), true
		}
	}
	// A run under way (a deploy or rollback by hand, or the recovery of
	// a dead one) refuses the deploy too: the departure holds the car
	// back before it announces the cars that leave, not at its turn.
	runs, err := s.engine.Underway(ctx, app, env)
	if err != nil {
		if ctx.Err() != nil {
			return "the bot is shutting down", draining, true
		}
		return deploy.StoreReason(err), string(errs.Unavailable), true
	}
	for _, r := range runs {
		if r.App != app || r.Env != env {
			continue
		}
		// Said as the deploy's refusal says it, when the run's record is
		// there to say since when.
		if rec, err := s.store.Record(ctx, r.ID); err == nil {
			return fmt.Sprintf("%s/%s is busy: %s of build %s by %s since %s (deploy %s)",
				app, env, rec.Kind, rec.Build, rec.Requester, rec.Started.In(s.now().Location()).Format("15:04:05 MST"), rec.ID), string(errs.Conflict), true
		}
		return fmt.Sprintf("%s/%s is busy: %s (deploy %s)", app, env, r.What, r.ID), string(errs.Conflict), true
	}
	return "", "", false
}

// Locked tells a train boarding whether a lock in force now that user
// does not own covers app/env and is still in force at until, the
// departure, and describes the lock. A lock that cannot be read is not
// warned of: the departure asks Closed.
func (s *Service) Locked(ctx context.Context, app, env, user string, until time.Time) (string, bool) {
	locks, err := s.store.Locks(ctx)
	if err != nil {
		return "", false
	}
	now := s.now()
	for _, l := range locks {
		if l.Covers(app, env) && l.Active(now) && l.Active(until) && l.Owner != user {
			return describeLock(l, now), true
		}
	}
	return "", false
}

// Forbidden tells a train boarding whether user may not deploy app to env
// at at, the departure, by the config's roles and the runtime grants in
// force then, and why. Grants that cannot be read are not warned of: the
// departure's deploy checks the permission.
func (s *Service) Forbidden(ctx context.Context, app, env, user string, at time.Time) (string, bool) {
	grants, err := s.store.Grants(ctx)
	if err != nil {
		return "", false
	}
	if d := s.policy.Check(user, acl.Deploy, app, env, grants, at); !d.Allowed {
		return d.Reason, true
	}
	return "", false
}

// RollbackPasses returns what a rollback of app/env started now passes,
// each as Closed would say it: a closed window and every lock in force on
// app/env, whoever holds it, as a person's rollback announces them. A
// rollback never waits for either; when they cannot be read, that is
// said instead. It is said before the rollback starts, so admins' chat
// presence is not looked up (under Slack's rate limits, seconds): only
// check-ins count, and the window says so.
func (s *Service) RollbackPasses(ctx context.Context, app, env string) []string {
	if ctx.Err() != nil || s.engine.Draining() {
		return []string{"the bot is shutting down"}
	}
	var passes []string
	// A rollback passes a closed window: nobody need force it.
	open, why, _, _, err := s.shut(ctx, app, env, "", false)
	switch {
	case err != nil:
		passes = append(passes, "whether deploys to "+app+"/"+env+" are open could not be read")
	case !open:
		passes = append(passes, why)
	}
	locks, err := s.store.Locks(ctx)
	if err != nil {
		return append(passes, "whether "+app+"/"+env+" is locked could not be read: "+deploy.StoreReason(err))
	}
	for _, l := range locks {
		if l.Covers(app, env) && l.Active(s.now()) {
			passes = append(passes, fmt.Sprintf("%s/%s is locked: %s", app, env, describeLock(l, s.now())))
		}
	}
	return passes
}

func (c *call) statsCmd(ctx context.Context, cmd Command) {
	c.allow("")
	now := c.s.now()
	window := cmd.For
	if window <= 0 {
		window = stats.DefaultWindow
	}
	// Compute judges a deploy of the window by the records after it only,
	// so the records started before the window are not read: a year of
	// history cost a listing of all of it.
	recs, err := c.s.store.Records(ctx, deploy.Filter{App: cmd.App, Env: cmd.Env, Since: now.Add(-window)})
	if err != nil {
		c.refuse(deploy.StoreRefused(err))
		return
	}
	entries, err := c.s.store.Audit(ctx, audit.Query{App: cmd.App, Since: now.Add(-window)})
	if err != nil {
		c.refuse(deploy.StoreRefused(err))
		return
	}
	var spikes []stats.Spike
	for _, e := range entries {
		if e.Action == "spike" && (cmd.Env == "" || e.Env == cmd.Env) {
			spikes = append(spikes, stats.Spike{App: e.App, Env: e.Env, At: e.Time})
		}
	}
	c.out.Reply(statsMessage(cmd.App, cmd.Env, stats.Compute(recs, spikes, now, window)))
}

func statsMessage(app, env string, r stats.Report) chat.Message {
	scope := app
	if env != "" {
		scope += "/" + env
	}
	days := int(r.Window / (24 * time.Hour))
	m := chat.Message{Level: chat.Info, Title: fmt.Sprintf("Deploy stats of %s, last %d day%s", scope, days, plural(days))}
	m.Lines = []string{"deploys per day: " + r.Sparkline}
	// A rate or a mean over nothing is not 0: it says so instead.
	failureRate := "n/a: no deploys"
	if r.Deploys > 0 {
		failureRate = fmt.Sprintf("%s%% (%d of %d)", percent(100*r.ChangeFailureRate), r.Failures, r.Deploys)
	}
	restore := "n/a: nothing failed"
	switch {
	case r.Restored > 0:
		restore = fmt.Sprintf("mean %s over %d restored%s", r.MTTR.Round(time.Second), r.Restored, unrestored(r.Unrestored))
	case r.Unrestored > 0:
		restore = fmt.Sprintf("n/a: %d not restored yet", r.Unrestored)
	}
	duration := "no median: no deploys"
	switch {
	case r.Timed > 0:
		duration = fmt.Sprintf("median %s, p90 %s", r.MedianDuration.Round(100*time.Millisecond), r.P90Duration.Round(100*time.Millisecond))
		if n := r.Deploys - r.Timed; n > 0 {
			duration += fmt.Sprintf(" (%d interrupted, not timed)", n)
		}
	case r.Deploys > 0:
		duration = "no median: every deploy was interrupted, none timed"
	}
	m.Fields = []chat.Field{
		{Label: "deploys", Value: fmt.Sprintf("%d (%s a day), %d rollback%s", r.Deploys, perDay(r.PerDay), r.Rollbacks, plural(r.Rollbacks))},
		{Label: "duration", Value: duration},
		{Label: "change failure rate", Value: failureRate},
		{Label: "time to restore", Value: restore},
	}
	return m
}

// percent writes p, a percentage, whole, or with the fewest decimals that
// keep it off 0 and 100 when it is neither: 1 failure of 201 deploys is
// 0.5%, not the 0% that says nothing failed.
func percent(p float64) string {
	for decimals := 0; ; decimals++ {
		s := strconv.FormatFloat(p, 'f', decimals, 64)
		v, _ := strconv.ParseFloat(s, 64)
		if decimals == 3 || !(v == 0 && p > 0 || v == 100 && p < 100) {
			return s
		}
	}
}

// perDay writes a frequency with two decimals, or two significant digits
// below 0.01 a day: a deploy a year is 0.0027 a day, not 0.00.
func perDay(f float64) string {
	decimals := 2
	if f > 0 && f < 0.01 {
		decimals = 1 - int(math.Floor(math.Log10(f)))
	}
	return strconv.FormatFloat(f, 'f', decimals, 64)
}

func unrestored(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d not restored yet", n)
}
