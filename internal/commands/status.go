package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

const timeFormat = "2006-01-02 15:04:05 MST"

// observeTimeout bounds how long /status waits for hosts to answer.
const observeTimeout = 5 * time.Second

func (c *call) status(ctx context.Context, cmd Command) {
	c.allow("")
	now := c.s.now()
	var lines []string
	shown := map[string]bool{}
	for _, r := range c.s.engine.Running() {
		if cmd.App == "" || r.App == cmd.App {
			shown[r.ID] = true
			lines = append(lines, fmt.Sprintf("▶ running: %s %s of %s/%s by %s since %s (%s)", r.Kind, r.Build, r.App, r.Env, r.Requester, r.Started.In(now.Location()).Format("15:04:05 MST"), r.ID))
		}
	}
	// This replica's running runs are not all there is: one still
	// starting (it holds its app+env and opens its hosts), or one that
	// another replica runs, holds its app+env too, and a deploy there is
	// refused as busy; status said nothing of it.
	underway, err := c.s.engine.Underway(ctx, cmd.App, "")
	if err != nil {
		c.refuse(deploy.StoreRefused(err))
		return
	}
	for _, u := range underway {
		switch {
		case shown[u.ID]:
		case !strings.HasPrefix(u.What, string(deploy.KindDeploy)) && !strings.HasPrefix(u.What, string(deploy.KindRollback)):
			// A recovery holds it for the run whose process stopped
			// (its id): that run neither starts nor runs anywhere.
			lines = append(lines, fmt.Sprintf("▶ under way on %s/%s: %s (%s), which marks it interrupted and changes no host", u.App, u.Env, u.What, u.ID))
		default:
			lines = append(lines, fmt.Sprintf("▶ under way: %s of %s/%s (%s): starting, or run by another replica of the bot", u.What, u.App, u.Env, u.ID))
		}
	}
	locks, err := c.s.store.Locks(ctx)
	if err != nil {
		c.refuse(deploy.StoreRefused(err))
		return
	}
	for _, l := range locks {
		if cmd.App == "" || l.App == "" || l.App == cmd.App {
			// A reason may be as long as a command: unlock shows it whole.
			l.Reason = firstLine(l.Reason, statusReasonLen)
			lines = append(lines, "🔒 "+l.Scope()+": "+describeLock(l, c.s.now()))
		}
	}
	apps := c.s.cat.Apps()
	var hosts map[string][]string // by env, for status APP
	var undo []chat.Button
	if cmd.App != "" {
		apps = []string{cmd.App}
		hosts = c.observeEnvs(ctx, cmd.App)
	}
	for _, app := range apps {
		for _, env := range c.s.cat.Envs(app) {
			last, stuck, later, err := c.lastRuns(ctx, app, env)
			if err != nil {
				c.refuse(deploy.StoreRefused(err))
				return
			}
			line := app + "/" + env + ": "
			if last == nil {
				line += "never deployed by Switchman"
			} else {
				line += "last " + recordLine(last, now)
			}
			lines = append(lines, line)
			if last != nil {
				if l := c.s.undeliveredLine(last); l != "" {
					lines = append(lines, l)
				}
				// A reverted deploy left hosts on its build, marked
				// bad: they stay there until someone rolls them back.
				if l := deploy.RunsBadText(last); l != "" {
					lines = append(lines, "  ⚠ "+l)
				}
			}
			if stuck != nil {
				if stuck.ID != last.ID {
					// A later run that switched nothing (a deploy that
					// failed before its switch) leaves the hosts as the
					// interrupted run left them.
					lines = append(lines, fmt.Sprintf("  ⚠ unresolved before it: %s (%s)", recordLine(stuck, now), stuck.ID))
				}
				lines = append(lines, "  ⚠ "+stuck.Error)
				if m := MigrationsLine(stuck); m != "" {
					lines = append(lines, "  "+m)
				}
				// The build to deploy is the reader's to name: told as
				// prose, not marked as a command to send as it is.
				redeploy := fmt.Sprintf("deploy %s BUILD to %s", app, env)
				if rollbackLocked(locks, stuck, now) {
					// The interrupted rollback's lock refuses that
					// deploy: the advice says what comes first.
					redeploy = suggest.Command(fmt.Sprintf("unlock deploys %s %s", app, env)) + ", then " + redeploy
				}
				advice, b, ok := undoAdvice(stuck, movedOn(stuck, later), redeploy)
				lines = append(lines, advice...)
				if ok {
					undo = append(undo, b)
				}
			}
			lost, err := c.stillLost(ctx, last)
			if err != nil {
				c.refuse(deploy.StoreRefused(err))
				return
			}
			for _, l := range LostLines(lost, "") {
				lines = append(lines, "  "+l)
			}
			lines = append(lines, hosts[env]...)
		}
	}
	lines = fitLines(lines, func(n int) string {
		if cmd.App != "" {
			return fmt.Sprintf("… %d more lines not shown, to fit in one message", n)
		}
		return fmt.Sprintf("… %d more lines not shown, to fit in one message: status APP shows one app", n)
	})
	m := chat.Message{Level: chat.Info, Title: "Status", Lines: lines}
	// A click passes the same gate as the typed command the line shows.
	// Past statusButtons, the lines alone say what to type: a platform
	// shows few buttons in a row (Discord 5).
	if len(undo) <= statusButtons {
		m.Buttons = undo
	}
	c.out.Reply(m)
}

// rollbackLocked reports whether stuck is an interrupted rollback that
// locked its app+env (before its first switch) and the bot's lock of that
// app+env is among locks, in force at now: nobody deploys there before
// an unlock.
func rollbackLocked(locks []deploy.Lock, stuck *deploy.Record, now time.Time) bool {
	if stuck.Kind != deploy.KindRollback || !stuck.Locked {
		return false
	}
	return slices.ContainsFunc(locks, func(l deploy.Lock) bool {
		return l.App == stuck.App && l.Env == stuck.Env && l.Owner == deploy.LockOwnerBot && l.Active(now)
	})
}

// statusHistory is how many records of an env status reads when its last
// run says nothing of an interrupted one before it; all of them when
// those do not tell either.
const statusHistory = 20

// lastRuns returns the last run of app/env (nil: none) and the interrupted
// run no later run resolved (see deploy.Unresolved; nil: none). It reads
// the last record first, which tells in most envs (it succeeded, or was
// interrupted), and further back only when it must.
func (c *call) lastRuns(ctx context.Context, app, env string) (last, stuck *deploy.Record, later []*deploy.Record, err error) {
	for _, limit := range []int{1, statusHistory, 0} {
		recs, err := c.s.store.Records(ctx, deploy.Filter{App: app, Env: env, Limit: limit})
		if err != nil || len(recs) == 0 {
			return nil, nil, nil, err
		}
		var complete bool
		last = recs[0]
		stuck, complete = deploy.Unresolved(recs)
		if stuck != nil {
			later = recs[:slices.Index(recs, stuck)]
		}
		if complete || len(recs) < limit {
			break
		}
	}
	return last, stuck, later, nil
}

// undoAdvice is what status offers for the unresolved interrupted run
// stuck: the lines saying what to decide, and the button of the rollback
// they name (ok false: none). With moved (see movedOn), whose hosts run
// its release, only a rollback from that release is accepted: the one
// its report offers, if any. Otherwise it is the rollback that undoes
// stuck only, as its message's button does: a plain one would take hosts
// the run never switched one release further back.
func undoAdvice(stuck, moved *deploy.Record, redeploy string) (lines []string, b chat.Button, ok bool) {
	app, env := stuck.App, stuck.Env
	if moved != nil {
		b, why, then, ok := RollbackOffer(moved)
		if !ok {
			return []string{"  " + why + ", so there is no rollback to offer: " + then, "  decide: " + redeploy}, chat.Button{}, false
		}
		if deploy.ValidBuild(moved.RollbackTo) {
			b.Label = namedLabel("Roll back "+app+"/"+env, "Roll back "+app+"/"+env+" to "+moved.RollbackTo)
		}
		return []string{fmt.Sprintf("  decide: %s, or %s", suggest.Command(b.Action), redeploy)}, b, true
	}
	rollback := fmt.Sprintf("rollback %s %s", app, env)
	to, from, ok := undoInterrupted(stuck)
	if ok {
		rollback += " to " + to + " from " + from
	}
	lines = []string{fmt.Sprintf("  decide: %s, or %s", suggest.Command(rollback), redeploy)}
	if b, ok := InterruptedButton(stuck); ok {
		b.Label = namedLabel("Roll back "+app+"/"+env, "Roll back "+app+"/"+env+" to "+to)
		return lines, b, true
	}
	return lines, chat.Button{}, false
}

// movedOn returns the run whose rollback status offers in place of the
// one undoing stuck, when a run after it (later, newest first) ended
// partial on another release than stuck's two: its hosts run that release
// now, and a rollback from stuck's release to its other is refused ("runs
// 4 now"). It is the newest run that ended partial, the live one, whose
// report offers the rollback from it (see RollbackOffer). nil when no
// later run moved hosts off stuck's releases.
func movedOn(stuck *deploy.Record, later []*deploy.Record) *deploy.Record {
	var live *deploy.Record
	for _, r := range later {
		if r.Outcome != deploy.OutcomePartial {
			continue
		}
		if live == nil {
			live = r
		}
		if r.Build != stuck.Build && r.Build != stuck.Previous {
			return live
		}
	}
	return nil
}

// stillLost returns the hosts the runs of last's app+env lost in the
// middle of a step whose leftovers no later run has stopped (see
// deploy.StillLost), within the records the next run reads (as many as
// statusHistory). A last run that succeeded leaves none.
func (c *call) stillLost(ctx context.Context, last *deploy.Record) ([]deploy.LostHost, error) {
	if last == nil || last.Outcome == deploy.OutcomeSucceeded {
		return nil, nil
	}
	recs, err := c.s.store.Records(ctx, deploy.Filter{App: last.App, Env: last.Env, Limit: statusHistory})
	if err != nil {
		return nil, err
	}
	return deploy.StillLost(recs), nil
}

// Limits of what status shows of one env's hosts, so that a large fleet
// with failures still fits in one message (Slack shows 3,000 characters
// of a section, Discord 4,096 of an embed) rather than being cut where the
// platform cuts it, hosts and the drift warning with it.
const (
	// statusNames is how many hosts a line of hosts on the same releases
	// names; the others are counted.
	statusNames = 5
	// statusUnread is how many hosts that could not be read are shown with
	// their error; the others are named.
	statusUnread = 5
	// statusMoreNames is how many of those others are named.
	statusMoreNames = 40
	// statusErrLen is how much of a host's error is shown: its first line,
	// cut to this many characters (an inspect script's stderr may hold 4 KiB).
	statusErrLen = 160
	// statusReasonLen is how much of a lock's reason status shows.
	statusReasonLen = 200
	// statusButtons is how many Rollback buttons of interrupted runs
	// status offers; with more such envs it offers none.
	statusButtons = 5
)

// observeEnvs reads the hosts of every env of app at once: during an
// outage status waits for one observeTimeout, not one per env.
func (c *call) observeEnvs(ctx context.Context, app string) map[string][]string {
	envs := c.s.cat.Envs(app)
	lines := make([][]string, len(envs))
	var wg sync.WaitGroup
	for i, env := range envs {
		wg.Go(func() { lines[i] = c.observed(ctx, app, env) })
	}
	wg.Wait()
	out := make(map[string][]string, len(envs))
	for i, env := range envs {
		out[env] = lines[i]
	}
	return out
}

// observed reads the hosts of app/env and reports what they run, hosts on
// the same releases on one line, the hosts that could not be read, and any
// drift between them.
func (c *call) observed(ctx context.Context, app, env string) []string {
	ctx, cancel := context.WithTimeout(ctx, observeTimeout)
	defer cancel()
	hosts, err := c.s.engine.Observe(ctx, app, env)
	if err != nil {
		// The reply may send people to the log for the details.
		c.s.log.Warn("observe hosts", "app", app, "env", env, "err", err)
		return []string{"  hosts: " + errs.Message(err)}
	}
	type group struct {
		current, previous string
		previousBad       bool
		dangling          bool
		gone              string
		hosts             []string
	}
	var groups []*group
	var unread []deploy.HostResult
	seen := map[string]bool{}
	for _, h := range hosts {
		if h.State == deploy.HostUnreachable || h.State == deploy.HostFailed {
			unread = append(unread, h)
			continue
		}
		seen[h.Current] = true
		i := slices.IndexFunc(groups, func(g *group) bool {
			return g.current == h.Current && g.previous == h.Previous && g.previousBad == h.PreviousBad &&
				g.dangling == h.CurrentDangling && g.gone == h.CurrentGone
		})
		if i < 0 {
			groups = append(groups, &group{current: h.Current, previous: h.Previous, previousBad: h.PreviousBad,
				dangling: h.CurrentDangling, gone: h.CurrentGone})
			i = len(groups) - 1
		}
		groups[i].hosts = append(groups[i].hosts, h.Host)
	}
	var out []string
	for _, g := range groups {
		current := orNone(g.current)
		switch {
		case g.dangling && g.gone != "":
			// The link is there, and nothing runs: "none" alone read as
			// a host never deployed to.
			current = fmt.Sprintf("gone (the link points at release %s, which is not on the host)", g.gone)
		case g.dangling:
			current = "gone (the link points at a release that is not on the host)"
		}
		line := fmt.Sprintf("  %s: current %s, previous %s", hostNames(g.hosts, statusNames), current, orNone(g.previous))
		if g.previousBad {
			// After a rollback, `previous` is the release it left: read
			// quickly, it looked like where a rollback would go. As the
			// dry run of a deploy of it says.
			line += " (marked bad: a deploy of it failed, or a rollback left it, so no rollback goes to it)"
		}
		out = append(out, line)
	}
	var more []string
	moreUnreachable := 0
	for i, h := range unread {
		what := "could not be read"
		if h.State == deploy.HostUnreachable {
			what = "unreachable"
		}
		if i >= statusUnread {
			more = append(more, h.Host)
			if h.State == deploy.HostUnreachable {
				moreUnreachable++
			}
			c.logUnread(app, env, h, what)
			continue
		}
		line, cut := unreadLine(h.Host, what, h.Error)
		if cut {
			c.logUnread(app, env, h, what)
		}
		out = append(out, "  "+line)
	}
	switch {
	case len(more) == 0:
	case moreUnreachable == len(more):
		out = append(out, fmt.Sprintf("  %d more unreachable: %s", len(more), hostNames(more, statusMoreNames)))
	case moreUnreachable == 0:
		out = append(out, fmt.Sprintf("  %d more could not be read: %s", len(more), hostNames(more, statusMoreNames)))
	default:
		out = append(out, fmt.Sprintf("  %d more unreachable or could not be read (%d unreachable): %s", len(more), moreUnreachable, hostNames(more, statusMoreNames)))
	}
	if len(seen) > 1 {
		out = append(out, "  ⚠ drift: hosts run different releases")
	}
	return out
}

// logUnread logs the whole error of host h, unread for what, which the
// reply of status cut (or left out, past statusUnread): an SSH error
// that says both sides' offers of algorithms (a host with none in
// common) runs past statusErrLen, and the log is then where its end is.
func (c *call) logUnread(app, env string, h deploy.HostResult, what string) {
	if h.Error == "" {
		return
	}
	c.s.log.Info("status: a host's error in full, which the reply cut or left out", "app", app, "env", env, "host", h.Host, "state", what, "err", h.Error)
}

// unreadLine says of host, unread for what (unreachable, could not be
// read), why: its error, msg, cut to statusErrLen, and whether it was
// cut. An error that names the host as SSH's do, with its address ("ssh:
// web1 (10.0.0.5:22): host key changed …") or without ("ssh: web1:
// session closed"), names it alone, and the cut counts only what follows
// the naming: a long host name left no room for a host key's
// fingerprint. The line shows the first line of the error that says
// anything, so it names the host up front unless that line names it: a
// naming further down (an error whose first line says nothing of the
// host) left a line that named no host, and blank lines before the
// reason one that said no reason. An error that says nothing at all is
// said to give no reason, not shown as "()".
func unreadLine(host, what, msg string) (line string, cut bool) {
	why := strings.TrimLeft(chat.Clean(msg), " \t\n")
	if strings.TrimSpace(why) == "" {
		return fmt.Sprintf("%s: %s (no reason was given)", host, what), false
	}
	shown, _, _ := strings.Cut(why, "\n")
	end := deploy.NamingEnd(host, shown)
	if end < 0 {
		first, cut := cutLine(why, statusErrLen)
		return fmt.Sprintf("%s: %s (%s)", host, what, first), cut
	}
	first, cut := cutLine(why, statusErrLen+utf8.RuneCountInString(shown[:end]))
	return what + ": " + first, cut
}

// hostNames names the first n of hosts and counts the others.
func hostNames(hosts []string, n int) string {
	if len(hosts) <= n {
		return strings.Join(hosts, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(hosts[:n], ", "), len(hosts)-n)
}

// firstLine is the first line of s, cut to n characters; a cut says so.
// Every line break ends the line, a \r or a U+2028 as well as a \n, and
// control characters show as � (see chat.Clean): the line is shown as one
// line of a reply, whatever the platform takes for a line break.
func firstLine(s string, n int) string {
	line, _ := cutLine(s, n)
	return line
}

// cutLine is firstLine, and whether it left anything out.
func cutLine(s string, n int) (string, bool) {
	line, _, multi := strings.Cut(chat.Clean(s), "\n")
	line = strings.TrimRight(line, " ")
	if r := []rune(line); len(r) > n {
		return string(r[:n]) + "…", true
	}
	if multi {
		return line + " …", true
	}
	return line, false
}

func (c *call) history(ctx context.Context, cmd Command) {
	c.allow("")
	recs, err := c.s.store.Records(ctx, deploy.Filter{App: cmd.App, Env: cmd.Env, Limit: cmd.N})
	if err != nil {
		c.refuse(deploy.StoreRefused(err))
		return
	}
	m := chat.Message{Level: chat.Info, Title: "History"}
	if len(recs) == 0 {
		m.Lines = []string{"no deploys yet"}
	}
	now := c.s.now()
	// The runs of each app+env, newest first: every run after one of them
	// is in recs, which are the newest.
	byEnv := map[string][]*deploy.Record{}
	for _, r := range recs {
		byEnv[r.App+"/"+r.Env] = append(byEnv[r.App+"/"+r.Env], r)
	}
	lost := map[string][]deploy.LostHost{}
	for key, runs := range byEnv {
		lost[key] = deploy.StillLost(runs)
	}
	for _, r := range recs {
		m.Lines = append(m.Lines, r.ID+"  "+r.App+"/"+r.Env+"  "+recordLine(r, now))
		if l := c.s.undeliveredLine(r); l != "" {
			m.Lines = append(m.Lines, l)
		}
		for _, l := range LostLines(lost[r.App+"/"+r.Env], r.ID) {
			m.Lines = append(m.Lines, "  "+l)
		}
	}
	m.Lines = fitLines(m.Lines, func(n int) string {
		return fmt.Sprintf("… %d older deploys not shown, to fit in one message: name the app and env, or ask for fewer", n)
	})
	c.out.Reply(m)
}

// replyBudget is how many characters of lines a reply holds: the lines
// are one section of a Slack message, which shows 3,000 characters of it,
// and the description of a Discord embed, 4,096; what is beyond is cut
// there, mid-line and without a word.
const replyBudget = 2900

// width is how many characters line takes in a Slack message, where '<',
// '>' and '&' are escaped as "&lt;", "&gt;" and "&amp;".
func width(line string) int {
	return utf8.RuneCountInString(line) + 4*strings.Count(line, "<") + 4*strings.Count(line, ">") + 4*strings.Count(line, "&")
}

// fitLines keeps the lines that fit in replyBudget, whole, and then a last
// line, more(n), saying that n were left out and how to see them. A first
// line longer than the budget is cut.
func fitLines(lines []string, more func(n int) string) []string {
	total := 0
	for _, l := range lines {
		total += width(l) + 1
	}
	if total <= replyBudget+1 {
		return lines
	}
	room := replyBudget - width(more(len(lines)))
	used, kept := 0, 0
	for _, l := range lines {
		n := width(l) + 1
		if used+n > room {
			break
		}
		used += n
		kept++
	}
	out := slices.Clone(lines[:kept])
	if kept == 0 {
		out = append(out, clip(lines[0], room-1))
		kept = 1
	}
	if kept < len(lines) {
		out = append(out, more(len(lines)-kept))
	}
	return out
}

// recordLine summarises a record on one line.
func recordLine(r *deploy.Record, now time.Time) string {
	s := fmt.Sprintf("%s %s", r.Kind, r.Build)
	if r.Previous != "" {
		s += " (from " + r.Previous + ")"
	}
	s += fmt.Sprintf(" %s by %s at %s, ", OutcomeText(r), r.Requester, r.Started.In(now.Location()).Format(timeFormat))
	if r.Outcome == deploy.OutcomeInterrupted {
		// Its end is when a bot marked it so, which may be days after
		// its process died: not a duration it took.
		s += "marked interrupted"
		if !r.Finished.IsZero() {
			s += " at " + r.Finished.In(now.Location()).Format(timeFormat)
		}
		s += "; hosts: " + hostsByRelease(r.Hosts)
	} else {
		s += RunDuration(r, now)
	}
	return s
}

// hostsByRelease says what hosts run, one release at a time: "web1 on 2",
// or "48 on 1338 (web01, …)" for several, so that a large fleet's record
// stays one short line. Hosts the recovery could not read are counted
// apart, with why, as the recovery's report said it ("web2 not read
// (host unreachable: connection refused), last seen on 2"): theirs is
// only what the run last recorded, and whoever reads the line has to
// know whether the host is down or refused.
func hostsByRelease(hosts []deploy.HostResult) string {
	var groups []string
	by := map[string][]string{}
	for _, h := range hosts {
		g := "on " + orNone(h.Release())
		if h.Unread || h.State == deploy.HostUnreachable {
			g = "not read (" + unreadWhy(h.Host, h.Error) + "), last seen " + g
		}
		if _, ok := by[g]; !ok {
			groups = append(groups, g)
		}
		by[g] = append(by[g], h.Host)
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		if names := by[g]; len(names) == 1 {
			parts[i] = fmt.Sprintf("%s %s", names[0], g)
		} else {
			parts[i] = fmt.Sprintf("%d %s (%s)", len(names), g, hostNames(names, statusNames))
		}
	}
	return strings.Join(parts, ", ")
}

// unreadWhy is why host, of an interrupted run's record, could not be
// read: the first line of its error that says anything, without naming
// the host (the line names it), cut to unreadWhyLen characters.
func unreadWhy(host, msg string) string {
	_, rest := deploy.HostText(host, strings.TrimLeft(chat.Clean(msg), " \t\n"))
	if strings.TrimSpace(rest) == "" {
		return "no reason was given"
	}
	return firstLine(rest, unreadWhyLen)
}

// unreadWhyLen is how much of why a host was not read a record's line
// says: the line says the other hosts too.
const unreadWhyLen = 80

// describeLock says who locked what, when and why; times are shown in
// now's zone.
func describeLock(l deploy.Lock, now time.Time) string {
	s := fmt.Sprintf("locked by %s since %s: %s", l.Owner, l.Created.In(now.Location()).Format(timeFormat), l.Reason)
	if !l.Expires.IsZero() {
		s += " (until " + l.Expires.In(now.Location()).Format(timeFormat) + ")"
	}
	return s
}

// stamp shows t in the zone of the service's clock (the bot's local zone).
func (s *Service) stamp(t time.Time) string { return t.In(s.now().Location()).Format(timeFormat) }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut between characters: half a character is stored as U+FFFD.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
