package commands

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// DefaultCheckIn is how long /here lasts without "for DURATION".
const DefaultCheckIn = 4 * time.Hour

// PresenceSource tells whether a user is active on a chat platform (Slack
// presence). An error means "unknown", which counts as not present; one
// wrapping ErrNoPresence means the source can never see the user (no chat
// id for them in the config).
type PresenceSource interface {
	Active(ctx context.Context, user string) (bool, error)
}

// ErrNoPresence is wrapped by the error of a PresenceSource for a user it
// can never see present, a console-only admin say: only their check-in
// counts. Said in every closed window's reply, it told nothing the config
// does not, and crowded out what changes; the bot says it once as it
// starts, and admins shows it.
var ErrNoPresence = errors.New("presence not looked up")

// grants returns the runtime grants in force. A store that cannot answer
// fails the command: permissions are never decided on partial data.
func (c *call) grants(ctx context.Context) ([]acl.Grant, bool) {
	g, err := c.s.store.Grants(ctx)
	if err != nil {
		c.refuse(deploy.StoreRefused(err))
		return nil, false
	}
	return g, true
}

// check decides a permission with the runtime grants and refuses the
// command when it is missing.
func (c *call) check(ctx context.Context, action acl.Action, app, env string) (acl.Decision, bool) {
	return c.checkAs(ctx, "", action, app, env)
}

// checkAdmin is check of the admin permission for command what: its
// refusal names the command, which the permission ("may not admin web")
// does not.
func (c *call) checkAdmin(ctx context.Context, what, app, env string) (acl.Decision, bool) {
	return c.checkAs(ctx, what+" is for admins: ", acl.Admin, app, env)
}

func (c *call) checkAs(ctx context.Context, prefix string, action acl.Action, app, env string) (acl.Decision, bool) {
	grants, ok := c.grants(ctx)
	if !ok {
		return acl.Decision{}, false
	}
	d := c.s.policy.Check(c.req.User, action, app, env, grants, c.s.now())
	if !d.Allowed {
		c.refuse(errs.New(errs.Forbidden, "%s%s", prefix, d.Reason))
	}
	return d, d.Allowed
}

// window decides whether app/env is open for a deploy user asks for now:
// its weekly window, freezes, and an admin's presence when required. It
// returns whether it is open and, when closed, why, in full sentences
// ending with who can force a deploy past it, and whether no admin being
// around is among the reasons. It fails only when ctx ended as it looked
// for an admin around: the reads that end cut short say nothing of who is
// around, nor of the store.
func (s *Service) window(ctx context.Context, app, env, user string) (open bool, why string, noAdmin bool, err error) {
	open, why, noAdmin, admin, err := s.shut(ctx, app, env, user, true)
	if open || err != nil {
		return open, why, noAdmin, err
	}
	if admin {
		// Told which admins could force it, an admin was sent to ask
		// themselves.
		return false, why + fmt.Sprintf("; %s, an admin, can force it (--force \"reason\")", user), noAdmin, nil
	}
	// Admins by a runtime grant can force it too, and in an incident
	// are often the ones to ask: named with the config's. Grants that
	// cannot be read are said to be, so that the list is not taken for
	// whole.
	admins, aerr := s.adminsNow(ctx)
	if len(admins) > 0 {
		why += "; admins who can force it (--force \"reason\"): " + strings.Join(admins, ", ")
	}
	if aerr != nil {
		s.log.Warn("closed window: read runtime grants", "app", app, "env", env, "err", aerr)
		why += "; admins by a runtime grant, who could force it too, are not named: the runtime grants could not be read (" + deploy.StoreReason(aerr) + ")"
	}
	return false, why, noAdmin, nil
}

// windowShut is window for no requester, without who can force a deploy:
// for what is not forced past a closed window (a train's car, which waits
// for it; a rollback, which never waits).
func (s *Service) windowShut(ctx context.Context, app, env string) (open bool, why string, noAdmin bool, err error) {
	open, why, noAdmin, _, err = s.shut(ctx, app, env, "", true)
	return open, why, noAdmin, err
}

// shutVerdict is what windowShut found.
type shutVerdict struct {
	open bool
	why  string
	err  error
}

// windowLater starts windowShut of app/env and returns a func waiting for
// its verdict, which may be called any number of times, from any
// goroutine. For a rollback, to which the window is only a note: its
// start does not wait for the Slack presence of each admin.
func (s *Service) windowLater(ctx context.Context, app, env string) func() shutVerdict {
	done := make(chan shutVerdict, 1)
	go func() {
		open, why, _, err := s.windowShut(ctx, app, env)
		done <- shutVerdict{open: open, why: why, err: err}
	}()
	return sync.OnceValue(func() shutVerdict { return <-done })
}

// shut is windowShut for a deploy user asks for ("" for none): when it is
// closed, admin says whether user is an admin, which changes only the
// words of why, never whether it is closed. An admin who has not checked
// in is told so, not that nobody is around: they are, and one word from
// them (here, or a --force) lets the deploy through. Without lookup,
// admins' chat presence is not looked up: only check-ins count, as for
// a presence that cannot be read, and why says so.
func (s *Service) shut(ctx context.Context, app, env, user string, lookup bool) (open bool, why string, noAdmin, admin bool, err error) {
	now := s.now()
	var reasons []string
	if sched, ok := s.schedules[app+"/"+env]; ok {
		v := sched.At(now)
		if !v.Open {
			r := v.Reason
			if !v.NextOpen.IsZero() {
				r += "; the next window opens " + v.NextOpen.In(sched.Loc).Format("Mon 2006-01-02 15:04 MST")
			}
			reasons = append(reasons, r)
		}
	}
	var notes []string
	if s.requireAdmin[app+"/"+env] {
		var present []string
		present, notes = s.presentAdmins(ctx, lookup)
		if len(present) == 0 && ctx.Err() != nil {
			return false, "", false, false, errs.Wrap(errs.Unavailable, fmt.Errorf("admins around %s/%s: %w", app, env, ctx.Err()),
				"whether an admin is around could not be read; nothing was changed")
		}
		noAdmin = len(present) == 0
	}
	if len(reasons) == 0 && !noAdmin {
		return true, "", false, false, nil
	}
	if user != "" {
		// Grants that cannot be read leave user no admin here: the
		// words then are those anyone is told, true of them too.
		admin, _ = s.isAdmin(ctx, user)
	}
	if noAdmin {
		r := "no admin is around (an admin checks in with /here)"
		if admin {
			r = fmt.Sprintf("%s, an admin, has not checked in, and no other admin is around (check in with /here)", user)
		}
		if len(notes) > 0 {
			r += "; " + strings.Join(notes, "; ")
		}
		reasons = append(reasons, r)
	}
	return false, fmt.Sprintf("deploys to %s/%s are closed now: %s", app, env, strings.Join(reasons, "; ")), noAdmin, admin, nil
}

// isAdmin reports whether user is an admin now, by the config or a
// runtime grant. When the runtime grants cannot be read and the config
// does not make user an admin, it returns false and an error saying so,
// for the refusal to give: refused as no admin, an admin by a grant was
// told they are none.
func (s *Service) isAdmin(ctx context.Context, user string) (bool, error) {
	if s.policy.IsAdmin(user, nil, s.now()) {
		return true, nil
	}
	grants, err := s.store.Grants(ctx)
	if err != nil {
		return false, errs.Wrap(errs.Unavailable, fmt.Errorf("read grants: %w", err),
			"whether %s is an admin, which a --force needs while no admin is around, is not known: the runtime grants could not be read (%s); nothing was changed", user, deploy.StoreReason(err))
	}
	return s.policy.IsAdmin(user, grants, s.now()), nil
}

// presentAdmins lists admins who are around now, and notes about presence
// that could not be read. Without lookup, only check-ins count.
func (s *Service) presentAdmins(ctx context.Context, lookup bool) ([]string, []string) {
	var present, notes []string
	checkedIn, err := s.store.CheckIns(ctx)
	if err != nil {
		notes = append(notes, "check-ins unreadable: "+deploy.StoreReason(err))
	}
	admins, grants, grantsErr := s.adminsAndGrants(ctx)
	if grantsErr != nil {
		// An admin by a grant checked in is around, unseen: said, as a
		// presence that cannot be read is.
		notes = append(notes, "admins by a runtime grant unknown (the runtime grants could not be read: "+deploy.StoreReason(grantsErr)+"), counted as away")
	}
	// Only a check-in made under what makes them an admin now counts,
	// as at start (ForgetRemovedUsers): one made under a grant since
	// revoked, left by a revoke whose end of it failed, counted them
	// around, unasked, once granted the admin anew.
	lapsed := s.lapsedCheckIns(checkedIn, admins, grants, grantsErr, s.now())
	var away []string
	for _, a := range admins {
		if _, ok := checkedIn[a]; ok && lapsed[a] == "" {
			present = append(present, a)
		} else {
			away = append(away, a)
		}
	}
	unlooked := false
	var seen map[string]presenceOf
	switch {
	case s.presence == nil || len(away) == 0:
	case !lookup:
		unlooked = true
	default:
		seen = s.presences(ctx, away)
	}
	for _, a := range away {
		p, ok := seen[a]
		switch {
		case !ok, errors.Is(p.err, ErrNoPresence):
		case p.err != nil:
			notes = append(notes, fmt.Sprintf("presence of %s unknown (%v), counted as away", a, p.err))
		case p.active:
			present = append(present, a)
			continue
		}
		// A check-in that counts no one is said to, whose and why, as
		// admins says it: told only that no admin is around, whoever saw
		// the admin check in was left to guess why it did not count.
		if why := lapsed[a]; why != "" {
			notes = append(notes, a+": "+s.notCounted(checkedIn[a].Until, why))
		}
	}
	if unlooked {
		notes = append(notes, "admins' chat presence not looked up, so as not to hold a rollback back: only check-ins count")
	}
	notes = append(notes, s.uncountedCheckIns(acl.Untils(checkedIn), admins, grantsErr)...)
	return present, notes
}

// lapsedCheckIns says, by admin, why the check-in of each of admins in
// checkIns counts them around no longer (checkInLapsed), leaving out
// those that count: the one rule by which the deploy gate, admins,
// grant, revoke and away read presence. When the runtime grants could
// not be read (grantsErr), what made an admin one as they checked in
// cannot be weighed, and is said not to be known.
func (s *Service) lapsedCheckIns(checkIns map[string]acl.CheckIn, admins []string, grants []acl.Grant, grantsErr error, now time.Time) map[string]string {
	lapsed := map[string]string{}
	for _, a := range admins {
		c, ok := checkIns[a]
		if !ok {
			continue
		}
		if why := s.checkInLapsed(a, c, grants, now); why != "" {
			if grantsErr != nil {
				why = "whether what made " + a + " an admin as they checked in still does is not known (the runtime grants could not be read), and deploys count them away"
			}
			lapsed[a] = why
		}
	}
	return lapsed
}

// notCounted says that a check-in until until counts its user, an
// admin, around no longer, and why, as admins and a refusal for want of
// an admin around say it.
func (s *Service) notCounted(until time.Time, why string) string {
	return fmt.Sprintf("checked in until %s, not counted: %s; %s checks them in anew", s.stamp(until), why, suggest.Command("here"))
}

// presenceOf is what the presence source said of one user.
type presenceOf struct {
	active bool
	err    error
}

// presences asks the presence source about each of users at once. Each
// ask may wait out Slack's rate limits for up to 5 s: asked one after
// another, a deploy waited that long for every admin not checked in,
// not the 5 s in all that it is told of.
func (s *Service) presences(ctx context.Context, users []string) map[string]presenceOf {
	got := make([]presenceOf, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Go(func() { got[i].active, got[i].err = s.presence.Active(ctx, u) })
	}
	wg.Wait()
	out := make(map[string]presenceOf, len(users))
	for i, u := range users {
		out[u] = got[i]
	}
	return out
}

// adminsNow lists the users who are admins everywhere, by config or a
// runtime grant in force, sorted. When the grants cannot be read it
// returns the config's admins and the error.
func (s *Service) adminsNow(ctx context.Context) ([]string, error) {
	admins, _, err := s.adminsAndGrants(ctx)
	return admins, err
}

// adminsAndGrants is adminsNow that returns the runtime grants it read
// too: none when they cannot be read.
func (s *Service) adminsAndGrants(ctx context.Context) ([]string, []acl.Grant, error) {
	set := map[string]bool{}
	for _, a := range s.policy.Admins() {
		set[a] = true
	}
	grants, err := s.store.Grants(ctx)
	if err != nil {
		err = fmt.Errorf("read grants: %w", err)
	}
	for _, g := range grants {
		if s.policy.IsAdmin(g.User, grants, s.now()) {
			set[g.User] = true
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out, grants, err
}

// resolveUser turns the user named in a grant or revoke into a Switchman
// user: a name from the config, or a chat id mapped to one.
func (c *call) resolveUser(cmd Command) (string, error) {
	name := cmd.User
	if cmd.UserIsID {
		if u, ok := c.s.cfg.UserBySlack(name); ok {
			return u, nil
		}
		if u, ok := c.s.cfg.UserByDiscord(name); ok {
			return u, nil
		}
		return "", errs.New(errs.Invalid, "chat user %s is not mapped to a Switchman user; add their id under users in the config; nothing was changed", name)
	}
	if !c.s.policy.KnownUser(name) {
		// Names are compared exactly (the config refuses two spellings
		// differing in case), so @Ana is not ana: name the one meant
		// rather than send the admin to a config that has it.
		for _, u := range c.s.cfg.UserNames() {
			if strings.EqualFold(u, name) {
				return "", errs.New(errs.Invalid, "unknown user %q; user names are compared exactly, case and all: did you mean @%s? nothing was changed", name, u)
			}
		}
		return "", errs.New(errs.Invalid, "unknown user %q; users are named in the config; nothing was changed", name)
	}
	return name, nil
}

func (c *call) grant(ctx context.Context, cmd Command) {
	d, ok := c.checkAdmin(ctx, "grant", cmd.App, cmd.Env)
	if !ok {
		return
	}
	user, err := c.resolveUser(cmd)
	if err != nil {
		c.refuse(err)
		return
	}
	if !c.s.policy.RoleExists(cmd.Role) {
		c.refuse(errs.New(errs.Invalid, "unknown role %q; roles are %s; nothing was changed", cmd.Role, strings.Join(c.s.policy.Roles(), ", ")))
		return
	}
	g := acl.Grant{User: user, Role: cmd.Role, App: cmd.App, Env: cmd.Env, GrantedBy: c.req.User, Created: c.s.now()}
	if cmd.For > 0 {
		g.Expires = g.Created.Add(cmd.For)
	}
	// An admin by a time-bound grant gives nothing that outlasts it: a
	// grant until revoked (to themselves, or to another who grants it
	// back) would make their admin permanent.
	grants, ok := c.grants(ctx)
	if !ok {
		return
	}
	if until, bounded := c.s.adminUntil(c.req.User, cmd.App, cmd.Env, grants, g.Created); bounded && (g.Expires.IsZero() || g.Expires.After(until)) {
		c.refuse(errs.New(errs.Forbidden, "%s is admin on %s only until %s, by a runtime grant, and may not grant beyond it: give the grant a shorter \"for DURATION\"; nothing was changed",
			c.req.User, grantScope(g), c.s.stamp(until)))
		return
	}
	// A grant replaces the one of the same user, role and scope, its
	// expiry with it: said, as a re-lock says what it replaced, so that a
	// grant for an hour does not end unseen one that held until revoked.
	// It goes on from the one it replaces, which the check-ins made
	// under that one count under (acl.GrantTerms): a grant revoked and
	// made again starts anew.
	var replaced string
	for _, old := range grants {
		if old.User == g.User && old.Role == g.Role && old.App == g.App && old.Env == g.Env {
			replaced = fmt.Sprintf("replaces the earlier grant by %s, %s", old.GrantedBy, c.s.grantUntil(old))
			g.Since = old.Held()
		}
	}
	// A check-in that does not count its user around before a grant
	// that makes them an admin (checkInLapsed, as the deploy gate reads
	// it) was made under an admin that has ended (left by a revoke whose
	// check-out failed): kept, it could count them around as soon as
	// the grant was written, without a word from them. It is read before
	// the write, so that only that one is ended, not a here of theirs
	// made once the grant holds.
	var earlier earlierCheckIn
	if c.s.policy.IsAdmin(user, append(slices.Clone(grants), g), g.Created) {
		earlier = c.readEarlierCheckIn(ctx, user, grants, g.Created)
	}
	if err := c.s.store.PutGrant(ctx, g); err != nil {
		// The grant may have been written and only the reply lost: told
		// that nothing changed, nobody would take back a grant that
		// holds.
		revoke := strings.Join(strings.Fields(fmt.Sprintf("revoke @%s %s %s %s", user, g.Role, g.App, g.Env)), " ")
		c.refuse(deploy.OutcomeUnknown(err, fmt.Sprintf("whether %s was granted the role %s on %s", user, g.Role, grantScope(g)),
			"grant it again, whose reply says whether it replaces this one, or take it back: "+suggest.Command(revoke)))
		return
	}
	until := c.s.grantUntil(g)
	// The audit log says how long the grant holds, in the zone and words
	// of the reply: read alone, it told a grant for an hour from one
	// until revoked. It keeps the authority the grant was made under too,
	// as every allowed command's entry does: without it, a grant by an
	// admin whose own admin came from a grant could not be traced back.
	c.allow(fmt.Sprintf("granted %s role %s on %s, %s; %s", user, g.Role, grantScope(g), until, d.Via))
	m := chat.Message{Level: chat.Success, Public: true,
		Title: fmt.Sprintf("%s granted %s the role %s on %s, %s", c.req.User, user, g.Role, grantScope(g), until)}
	if replaced != "" {
		c.entry.Reason += "; " + replaced
		m.Lines = []string{replaced}
	}
	line := c.endEarlierCheckIn(ctx, user, earlier)
	if replaced != "" && !earlier.read {
		// Only a grant that replaces another can shorten an admin: one
		// for an hour in place of one until revoked left a check-in made
		// under the old one running past it, to count its user around
		// again, unasked, as soon as anyone granted the admin back.
		line = c.fitCheckIn(ctx, user)
	}
	if line != "" {
		m.Lines = append(m.Lines, line)
		c.entry.Reason += "; " + suggest.Strip(line)
	}
	c.out.Reply(m)
}

// earlierCheckIn is the check-in a grant read before its write: read is
// whether it was looked for, until its end (zero: none), err the read's
// failure.
type earlierCheckIn struct {
	read  bool
	until time.Time
	err   error
}

// readEarlierCheckIn reads user's check-in before a grant that makes
// them an admin, and keeps it to be ended only if it does not count them
// around under grants, those in force before it, at now. One that counts
// (an admin's whose grant is replaced) is left for fitCheckIn, and so is
// one that cannot be read of a user who was an admin before.
func (c *call) readEarlierCheckIn(ctx context.Context, user string, grants []acl.Grant, now time.Time) earlierCheckIn {
	admin := c.s.policy.IsAdmin(user, grants, now)
	ci, err := c.s.checkInOf(ctx, user)
	switch {
	case err != nil && admin:
		return earlierCheckIn{}
	case err != nil:
		return earlierCheckIn{read: true, err: err}
	case admin && (ci.Until.IsZero() || c.s.checkInLapsed(user, ci, grants, now) == ""):
		return earlierCheckIn{}
	}
	return earlierCheckIn{read: true, until: ci.Until}
}

// checkInOf reads user's check-in in force: a zero one for none.
func (s *Service) checkInOf(ctx context.Context, user string) (acl.CheckIn, error) {
	all, err := s.store.CheckIns(ctx)
	if err != nil {
		return acl.CheckIn{}, err
	}
	return all[user], nil
}

// endEarlierCheckIn ends user's check-in read before a grant made them an
// admin again, if it still ends when it did then: a here or away of
// theirs since is theirs and stands. It returns what to tell, "" when
// there was nothing to end.
func (c *call) endEarlierCheckIn(ctx context.Context, user string, e earlierCheckIn) string {
	if !e.read {
		return ""
	}
	if e.err != nil {
		return fmt.Sprintf("⚠ whether %s has a check-in from before this grant could not be read (%s), so one of theirs stays, counting them around; %s lists who is around",
			user, deploy.StoreReason(e.err), suggest.Command("admins"))
	}
	if e.until.IsZero() {
		return ""
	}
	_, ended, err := c.s.store.CheckOutIf(ctx, user, e.until)
	switch {
	case err != nil && mayHaveWritten(err):
		return fmt.Sprintf("⚠ %s's check-in from before this grant, made under an admin since ended, may or may not have been ended (%s): if not, it counts them around until %s; %s lists who is around",
			user, deploy.StoreReason(err), c.s.stamp(e.until), suggest.Command("admins"))
	case err != nil:
		return fmt.Sprintf("⚠ %s's check-in from before this grant, made under an admin since ended, could not be ended (%s): it counts them around until %s; %s lists who is around",
			user, deploy.StoreReason(err), c.s.stamp(e.until), suggest.Command("admins"))
	case ended:
		return fmt.Sprintf("%s's check-in from before this grant, made under an admin since ended, ended: they check in again with %s", user, suggest.Command("here"))
	}
	return ""
}

// grantUntil says how long g holds: "until revoked", or "until" its end.
func (s *Service) grantUntil(g acl.Grant) string {
	if g.Expires.IsZero() {
		return "until revoked"
	}
	return "until " + s.stamp(g.Expires)
}

// adminUntil returns when user's admin over app/env ends, and whether it
// ends at all: not when the config or a runtime grant until revoked gives
// it. Of several time-bound grants, the last to expire counts; with none
// in force at now, it ends at now.
func (s *Service) adminUntil(user, app, env string, grants []acl.Grant, now time.Time) (time.Time, bool) {
	if s.policy.Check(user, acl.Admin, app, env, nil, now).Allowed {
		return time.Time{}, false
	}
	var until time.Time
	for _, g := range grants {
		if g.User != user || !s.policy.Check(user, acl.Admin, app, env, []acl.Grant{g}, now).Allowed {
			continue
		}
		if g.Expires.IsZero() {
			return time.Time{}, false
		}
		if g.Expires.After(until) {
			until = g.Expires
		}
	}
	if until.IsZero() {
		// No admin there at now at all: the grant that made them one
		// ended after the command's permission was checked. Read as
		// unbounded, their last command could grant until revoked.
		return now, true
	}
	return until, true
}

func (c *call) revoke(ctx context.Context, cmd Command) {
	d, ok := c.checkAdmin(ctx, "revoke", cmd.App, cmd.Env)
	if !ok {
		return
	}
	user, err := c.resolveUser(cmd)
	if err != nil {
		c.refuse(err)
		return
	}
	g, err := c.s.store.DeleteGrant(ctx, user, cmd.Role, cmd.App, cmd.Env)
	if err != nil {
		if errors.Is(err, deploy.ErrNotFound) && !c.s.policy.RoleExists(cmd.Role) {
			// A typo of a role ("deplyer") is no grant missing: told
			// only that the user holds none of it, an admin read the
			// grant they meant to take back as gone. Looked for first
			// all the same, so that a grant of a role the config has
			// since dropped, before the bot's start deletes it, can be
			// taken back.
			c.refuse(errs.New(errs.Invalid, "unknown role %q; roles are %s; nothing was changed", cmd.Role, strings.Join(c.s.policy.Roles(), ", ")))
			return
		}
		if errors.Is(err, deploy.ErrNotFound) {
			c.refuse(errs.New(errs.NotFound, "%s has no runtime grant of role %s on %s (roles from the config are changed in the config)",
				user, cmd.Role, grantScope(acl.Grant{App: cmd.App, Env: cmd.Env})))
			return
		}
		// As a grant's, the delete may have been applied and only its
		// reply lost.
		c.refuse(deploy.OutcomeUnknown(err, fmt.Sprintf("whether the role %s on %s was taken from %s", cmd.Role, grantScope(acl.Grant{App: cmd.App, Env: cmd.Env}), user),
			fmt.Sprintf("revoke it again: if it was, you are told %s has no runtime grant of it", user)))
		return
	}
	// The grant taken back goes into the audit entry, who gave it and
	// until when, as an unlock's names the lock it lifted.
	c.allow(fmt.Sprintf("%s; was granted by %s, %s", d.Via, g.GrantedBy, c.s.grantUntil(g)))
	m := chat.Message{Level: chat.Success, Public: true,
		Title: fmt.Sprintf("%s revoked the role %s on %s from %s (granted by %s, %s)", c.req.User, g.Role, grantScope(g), user, g.GrantedBy, c.s.grantUntil(g))}
	if line := c.fitCheckIn(ctx, user); line != "" {
		m.Lines = []string{line}
		c.entry.Reason += "; " + suggest.Strip(line)
	}
	c.out.Reply(m)
}

// fitCheckIn makes the check-in of user, whose runtime grants a grant
// or revoke just changed, end no later than their admin of
// everything: it ends it when they are no admin now, and cuts it short
// when their admin now ends before it. A check-in counts its user around
// only while they are an admin; left running past that, it counted them
// around again, unasked, the moment anyone granted the admin back, for as
// long as the check-in made under the old grant had to run. It returns
// what to tell, "" when nothing was checked in or nothing changed, the
// user's own away or here since it read the check-in among it.
func (c *call) fitCheckIn(ctx context.Context, user string) string {
	unread := func(err error) string {
		return fmt.Sprintf("⚠ whether %s is checked in could not be read (%s), so a check-in of theirs stays; %s lists who is around", user, deploy.StoreReason(err), suggest.Command("admins"))
	}
	ci, err := c.s.checkInOf(ctx, user)
	if err != nil {
		return unread(err)
	}
	if ci.Until.IsZero() {
		return ""
	}
	grants, err := c.s.store.Grants(ctx)
	if err != nil {
		return fmt.Sprintf("⚠ whether %s is still an admin could not be read (%s), so their check-in stays; %s lists who is around", user, deploy.StoreReason(err), suggest.Command("admins"))
	}
	now := c.s.now()
	admin := c.s.policy.IsAdmin(user, grants, now)
	end, bounded := c.s.adminUntil(user, "", "", grants, now)
	// The check-in is changed only from the one read. One the user ended
	// or made since, with away or here, is theirs: written over, an away
	// was undone, counting them around unasked, and a shorter here made
	// longer. It is read again and fitted in turn, as it may outlast the
	// admin too (a here that read the grants before this command changed
	// them).
	for range fitCheckInTries {
		if ci.Until.IsZero() {
			return ""
		}
		// A check-in counts by the rule the deploy gate reads it by: one
		// that does not (its user no admin, or one on other terms) ends,
		// as cut short it would be said to count until its new end.
		if why := c.s.checkInLapsed(user, ci, grants, now); why != "" {
			cur, ended, err := c.s.store.CheckOutIf(ctx, user, ci.Until)
			switch {
			case err != nil:
				return checkOutFailed(user, err)
			case ended && !admin:
				return fmt.Sprintf("%s is no admin now, so their check-in ended with the grant", user)
			case ended:
				return fmt.Sprintf("%s's check-in until %s did not count them around (%s), so it ended; %s checks them in anew",
					user, c.s.stamp(ci.Until), why, suggest.Command("here"))
			case cur.IsZero():
				return ""
			}
			if ci, err = c.s.checkInOf(ctx, user); err != nil {
				return unread(err)
			}
			continue
		}
		if !bounded || !end.Before(ci.Until) {
			return ""
		}
		cur, cut, err := c.s.store.CheckInIf(ctx, user, ci.Until, end)
		if err != nil {
			return c.s.cutShortFailed(user, end, ci.Until, err)
		}
		if cut {
			return fmt.Sprintf("%s's check-in now ends at %s, when their admin (a runtime grant) ends", user, c.s.stamp(end))
		}
		if cur.IsZero() {
			return ""
		}
		if ci, err = c.s.checkInOf(ctx, user); err != nil {
			return unread(err)
		}
	}
	return fmt.Sprintf("⚠ %s's check-in changed while it was being fitted to their admin, again and again, so it was left as it is; %s lists who is around", user, suggest.Command("admins"))
}

// checkOutFailed says that ending user's check-in failed with err. A
// write whose reply was lost may have been applied: "could not be ended"
// told whoever read it that the check-in certainly stands. admins lists
// no one who is no admin, so it shows the check-in only once they are
// one again, which is when it would count.
func checkOutFailed(user string, err error) string {
	if mayHaveWritten(err) {
		return fmt.Sprintf("⚠ %s's check-in may or may not have been ended (%s): if not, it counts them around once they are an admin again, when %s shows it",
			user, deploy.StoreReason(err), suggest.Command("admins"))
	}
	return fmt.Sprintf("⚠ %s's check-in could not be ended (%s), and counts them around once they are an admin again; %s lists who is around", user, deploy.StoreReason(err), suggest.Command("admins"))
}

// cutShortFailed is checkOutFailed for cutting user's check-in, until
// until, short to end at end. admins shows a check-in past its user's
// admin ending with the admin, so it tells only once the admin is
// granted back.
func (s *Service) cutShortFailed(user string, end, until time.Time, err error) string {
	if mayHaveWritten(err) {
		return fmt.Sprintf("⚠ %s's check-in may or may not have been cut short to end at %s with their admin (%s): if not, it may run until %s, counting them around whenever they are an admin again, when %s shows it",
			user, s.stamp(end), deploy.StoreReason(err), s.stamp(until), suggest.Command("admins"))
	}
	return fmt.Sprintf("⚠ %s's check-in could not be cut short to end at %s with their admin (%s): it may run until %s, counting them around whenever they are an admin again; %s lists who is around",
		user, s.stamp(end), deploy.StoreReason(err), s.stamp(until), suggest.Command("admins"))
}

// mayHaveWritten reports whether a store write that failed with err may
// have been applied all the same, as OutcomeUnknown judges it.
func mayHaveWritten(err error) bool {
	return errors.Is(deploy.OutcomeUnknown(err, "", ""), deploy.ErrOutcomeUnknown)
}

// fitCheckInTries bounds how often fitCheckIn fits a check-in its user
// changes meanwhile: each change is a command of theirs, so a few tries
// see all but a user racing the grant on purpose.
const fitCheckInTries = 3

func grantScope(g acl.Grant) string {
	switch {
	case g.App == "":
		return "every app"
	case g.Env == "":
		return g.App
	}
	return g.App + "/" + g.Env
}

func (c *call) here(ctx context.Context, cmd Command) {
	grants, ok := c.grants(ctx)
	if !ok {
		return
	}
	if !c.s.policy.IsAdmin(c.req.User, grants, c.s.now()) {
		c.refuse(errs.New(errs.Forbidden, "only admins check in: deploy windows that require an admin count admins only"))
		return
	}
	d := cmd.For
	if d == 0 {
		d = DefaultCheckIn
	}
	now := c.s.now()
	until := now.Add(d)
	// An admin by a time-bound grant counts as around only while they
	// are an admin: a check-in past that told the channel that deploys
	// needing an admin may run when none would.
	var capped string
	if end, bounded := c.s.adminUntil(c.req.User, "", "", grants, now); bounded && end.Before(until) {
		until = end
		capped = ", when their admin (a runtime grant) ends"
	}
	// What made them an admin is kept with it: a start whose config
	// makes them one on other terms ends it (ForgetRemovedUsers).
	under := c.s.policy.AdminUnder(c.req.User, grants, now)
	if err := c.s.store.CheckInUnder(ctx, c.req.User, until, under); err != nil {
		// The check-in may have been written and only the reply lost:
		// deploys that need an admin present would run while nobody
		// thinks one is checked in.
		c.refuse(deploy.OutcomeUnknown(err, "whether "+c.req.User+" was checked in", suggest.Command("admins")+" lists who is around"))
		return
	}
	// A revoke or a shorter grant between the read of the grants and the
	// write fitted the check-in in force then, not this one: read alone,
	// its user stayed checked in, no admin, counted around again as soon
	// as anyone granted the admin back, and the reply said they were
	// around. Whichever of the two reads the other's write fits it; here
	// it is this one, after the write, and only from what it wrote.
	until, capped, ok = c.refitHere(ctx, until, capped)
	if !ok {
		return
	}
	if capped != "" {
		c.allow("checked in until " + c.s.stamp(until) + capped)
	} else {
		c.allow("")
	}
	c.out.Reply(chat.Message{Level: chat.Success, Public: true,
		Title: fmt.Sprintf("%s is around until %s%s; deploys that need an admin present may run", c.req.User, c.s.stamp(until), capped)})
}

// refitHere reads the grants again after here wrote a check-in until
// until, and ends or cuts it short, from what was written, when the
// user's admin was taken back or shortened meanwhile. It returns the end
// of the check-in that stands and what to say of it, or ok false when it
// replied itself.
func (c *call) refitHere(ctx context.Context, until time.Time, capped string) (time.Time, string, bool) {
	user := c.req.User
	grants, err := c.s.store.Grants(ctx)
	if err != nil {
		// Not refused: the check-in stands, and only a revoke in the
		// instant between the two reads would be missed.
		c.allow("checked in until " + c.s.stamp(until) + capped + "; the runtime grants could not be read again after it")
		c.out.Reply(chat.Message{Level: chat.Warning, Public: true,
			Title: fmt.Sprintf("%s is around until %s%s; deploys that need an admin present may run", user, c.s.stamp(until), capped),
			Lines: []string{fmt.Sprintf("⚠ whether %s is still an admin could not be read again after the check-in (%s); %s lists who is around", user, deploy.StoreReason(err), suggest.Command("admins"))}})
		return time.Time{}, "", false
	}
	for range fitCheckInTries {
		now := c.s.now()
		if !c.s.policy.IsAdmin(user, grants, now) {
			if !until.IsZero() {
				cur, ended, err := c.s.store.CheckOutIf(ctx, user, until)
				if err != nil {
					line := checkOutFailed(user, err)
					c.allow("checked in until " + c.s.stamp(until) + "; admin taken back meanwhile; " + suggest.Strip(line))
					c.out.Reply(chat.Message{Level: chat.Warning, Public: true,
						Title: fmt.Sprintf("%s is no admin now: their admin was taken back as they checked in", user), Lines: []string{line}})
					return time.Time{}, "", false
				}
				if !ended {
					until = cur
					continue
				}
			}
			c.refuse(errs.New(errs.Forbidden, "%s is no admin now: their admin was taken back as they checked in, so they are not checked in; only admins check in", user))
			return time.Time{}, "", false
		}
		if until.IsZero() {
			// Ended meanwhile by the user's own away.
			c.allow("checked in; ended meanwhile")
			c.out.Reply(chat.Message{Level: chat.Info, Public: true, Title: user + " is away: their check-in was ended as it was made"})
			return time.Time{}, "", false
		}
		end, bounded := c.s.adminUntil(user, "", "", grants, now)
		if !bounded || !end.Before(until) {
			return until, capped, true
		}
		cur, cut, err := c.s.store.CheckInIf(ctx, user, until, end)
		if err != nil {
			line := c.s.cutShortFailed(user, end, until, err)
			c.allow("checked in until " + c.s.stamp(until) + "; admin shortened meanwhile; " + suggest.Strip(line))
			c.out.Reply(chat.Message{Level: chat.Warning, Public: true,
				Title: fmt.Sprintf("%s's admin (a runtime grant) now ends at %s, before their check-in", user, c.s.stamp(end)), Lines: []string{line}})
			return time.Time{}, "", false
		}
		if cut {
			return end, ", when their admin (a runtime grant) ends", true
		}
		until = cur
	}
	line := fmt.Sprintf("⚠ %s's check-in changed while it was being fitted to their admin, again and again, so it was left as it is; %s lists who is around", user, suggest.Command("admins"))
	c.allow("checked in; " + suggest.Strip(line))
	c.out.Reply(chat.Message{Level: chat.Warning, Public: true, Title: user + "'s admin changed as they checked in", Lines: []string{line}})
	return time.Time{}, "", false
}

func (c *call) away(ctx context.Context) {
	// away ends a check-in. Anyone else, a viewer among them, has nothing
	// to end, and the channel is not told that they left.
	ci, err := c.s.checkInOf(ctx, c.req.User)
	if err != nil {
		c.refuse(deploy.StoreRefused(err))
		return
	}
	if ci.Until.IsZero() {
		c.refuse(errs.New(errs.NoChange, "%s is not checked in (admins check in with /here); nothing was changed", c.req.User))
		return
	}
	// A check-in that did not count its user around (checkInLapsed, the
	// deploy gate's rule) is ended all the same, and said not to have
	// counted: told only that they are away, the channel read that they
	// had been around. Grants that cannot be read leave that unsaid.
	var line string
	if grants, err := c.s.store.Grants(ctx); err == nil {
		if why := c.s.checkInLapsed(c.req.User, ci, grants, c.s.now()); why != "" {
			line = fmt.Sprintf("their check-in until %s did not count them around: %s", c.s.stamp(ci.Until), why)
		}
	}
	if err := c.s.store.CheckOut(ctx, c.req.User); err != nil {
		c.refuse(deploy.OutcomeUnknown(err, "whether "+c.req.User+" was checked out", suggest.Command("admins")+" lists who is around"))
		return
	}
	c.allow(line)
	m := chat.Message{Level: chat.Info, Public: true, Title: c.req.User + " is away"}
	if line != "" {
		m.Lines = []string{line}
	}
	c.out.Reply(m)
}

func (c *call) adminsCmd(ctx context.Context) {
	c.allow("")
	checkIns, err := c.s.store.CheckIns(ctx)
	if err != nil {
		c.refuse(deploy.StoreRefused(err))
		return
	}
	m := chat.Message{Level: chat.Info, Title: "Admins"}
	admins, grants, grantsErr := c.s.adminsAndGrants(ctx)
	now := c.s.now()
	// A check-in of an admin made on other terms than those that make
	// them one now counts nobody (presentAdmins): its admin is listed as
	// not checked in, and why it does not count follows.
	lapsed := c.s.lapsedCheckIns(checkIns, admins, grants, grantsErr, now)
	checkedIn := acl.Untils(checkIns)
	var seen map[string]presenceOf
	if c.s.presence != nil {
		var away []string
		for _, a := range admins {
			if _, ok := checkedIn[a]; !ok || lapsed[a] != "" {
				away = append(away, a)
			}
		}
		seen = c.s.presences(ctx, away)
	}
	for _, a := range admins {
		line := a + ": "
		if until, ok := checkedIn[a]; ok && lapsed[a] == "" {
			// A check-in counts only while its user is an admin: one
			// whose admin grant was since replaced by a shorter one
			// outlasts it, and its own end named a time they would no
			// longer count as around.
			if end, bounded := c.s.adminUntil(a, "", "", grants, now); bounded && end.Before(until) {
				line += "here until " + c.s.stamp(end) + " (checked in), when their admin (a runtime grant) ends"
			} else {
				line += "here until " + c.s.stamp(until) + " (checked in)"
			}
		} else if c.s.presence != nil {
			p := seen[a]
			switch {
			case errors.Is(p.err, ErrNoPresence):
				line += fmt.Sprintf("away (%v, so only a check-in counts)", p.err)
			case p.err != nil:
				line += fmt.Sprintf("unknown (%v), counted as away", p.err)
			case p.active:
				line += "active on Slack"
			default:
				line += "away"
			}
		} else {
			line += "away"
		}
		if why := lapsed[a]; why != "" {
			line += "; " + c.s.notCounted(checkedIn[a], why)
		}
		m.Lines = append(m.Lines, line)
	}
	if grantsErr != nil {
		// Not "no admins are configured", nor a list read as whole.
		m.Lines = append(m.Lines, "admins by a runtime grant are not listed: the runtime grants could not be read ("+deploy.StoreReason(grantsErr)+")")
	}
	if len(m.Lines) == 0 {
		m.Lines = []string{"no admins are configured"}
	}
	m.Lines = append(m.Lines, c.s.uncountedCheckIns(checkedIn, admins, grantsErr)...)
	c.out.Reply(m)
}

// uncountedCheckIns says of each check-in of a user not among admins that
// it counts no one around, and why. Such a check-in outlives the admin it
// was made under when its end failed (a revoke's check-out the store
// did not take) or when another replica, still on an older config, took
// a here: left out of admins, it stayed stored unseen, and would count
// its user around again, unasked, once they were an admin again.
func (s *Service) uncountedCheckIns(checkedIn map[string]time.Time, admins []string, grantsErr error) []string {
	var out []string
	for _, user := range slices.Sorted(maps.Keys(checkedIn)) {
		if slices.Contains(admins, user) {
			continue
		}
		var why string
		switch {
		case !s.policy.KnownUser(user):
			why = user + " is not in the config"
		case grantsErr != nil:
			why = "whether " + user + " is an admin by a runtime grant is not known, and deploys count them away"
		default:
			why = user + " is no admin of every app and env, by the config or a runtime grant in force"
		}
		out = append(out, fmt.Sprintf("%s: checked in until %s, not counted: %s; it ends then, or when they send %s",
			user, s.stamp(checkedIn[user]), why, suggest.Command("away")))
	}
	return out
}

// auditReasonLen is how much of an entry's reason audit shows.
const auditReasonLen = 200

func (c *call) auditCmd(ctx context.Context, cmd Command) {
	if _, ok := c.checkAdmin(ctx, "audit", cmd.App, ""); !ok {
		return
	}
	// A command that changed state has two entries, its pending one and
	// its outcome, shown as one line: twice N entries hold N lines.
	entries, err := c.s.store.Audit(ctx, audit.Query{App: cmd.App, Limit: 2 * cmd.N})
	if err != nil {
		c.refuse(deploy.StoreRefused(err))
		return
	}
	entries = audit.Fold(entries)
	if len(entries) > cmd.N {
		entries = entries[:cmd.N]
	}
	c.allow("")
	m := chat.Message{Level: chat.Info, Title: "Audit log"}
	for _, e := range entries {
		line := fmt.Sprintf("%s  %s%s  %s  %q", c.s.stamp(e.Time), orNone(e.User), where(e), e.Decision, e.Command)
		if e.Reason != "" {
			// One line per entry: a reason's further lines (a host's
			// standard error, the usage under a refusal) would read as
			// entries of their own. bot audit exports it whole.
			line += "  — " + firstLine(e.Reason, auditReasonLen)
		}
		m.Lines = append(m.Lines, line)
	}
	if len(m.Lines) == 0 {
		m.Lines = []string{"no entries"}
	}
	m.Lines = fitLines(m.Lines, func(n int) string {
		return fmt.Sprintf("… %d older entries not shown, to fit in one message: name the app, or ask for fewer (bot audit exports them all)", n)
	})
	c.out.Reply(m)
}

// where says where an entry's command came from, after its user: the
// platform and the channel (" (slack C0123)", " (console)"), or nothing
// for an entry that names neither. The same user may type on Slack, on
// Discord and at the console, and a train or an error watch acts in a
// channel of its own.
func where(e audit.Entry) string {
	parts := []string{}
	if e.Platform != "" {
		parts = append(parts, e.Platform)
	}
	if e.Channel != "" && e.Channel != e.Platform {
		parts = append(parts, e.Channel)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, " ") + ")"
}

// confirm answers a deploy's migrations prompt: the requester may, and so
// may holders of confirm on the app/env (admins among them). A requester
// confirms only while they may still deploy there (a runtime grant may
// have expired since the deploy started); aborting their own deploy is
// always theirs. Whether the user may answer is decided before anything
// of the deploy is said: one who may not is told what they would be of
// an id nobody used, so that no reply tells which ids exist, of which
// app and env, or how a deploy ended.
func (c *call) confirm(ctx context.Context, cmd Command) {
	grants, ok := c.grants(ctx)
	if !ok {
		return
	}
	requester, here := c.s.engine.Requester(cmd.DeployID)
	var app, env string
	for _, r := range c.s.engine.Running() {
		if r.ID == cmd.DeployID {
			app, env = r.App, r.Env
		}
	}
	var rec *deploy.Record
	if !here {
		// Another replica may run it: its record says whose it is.
		var err error
		rec, err = c.s.store.Record(ctx, cmd.DeployID)
		switch {
		case errors.Is(err, deploy.ErrNotFound):
			c.refuse(noPromptToAnswer(cmd.DeployID, c.req.User))
			return
		case err != nil:
			c.refuse(deploy.StoreRefused(err))
			return
		}
		requester, app, env = rec.Requester, rec.App, rec.Env
	}
	now := c.s.now()
	via := "requester"
	switch {
	case requester == c.req.User && cmd.Verb == VerbAbort:
	case requester == c.req.User:
		d := c.s.policy.Check(c.req.User, acl.Deploy, app, env, grants, now)
		if !d.Allowed {
			// One who may no longer deploy there (a runtime grant that
			// expired while the deploy waited) and holds confirm answers
			// as any holder of confirm does. The deploy is theirs: the
			// refusal may name it.
			cd := c.s.policy.Check(c.req.User, acl.Confirm, app, env, grants, now)
			if !cd.Allowed {
				c.entry.App, c.entry.Env = app, env
				c.refuse(errs.New(errs.Forbidden, "%s", d.Reason))
				return
			}
			d = cd
		}
		via = "requester; " + d.Via
	default:
		d := c.s.policy.Check(c.req.User, acl.Confirm, app, env, grants, now)
		if !d.Allowed {
			c.refuse(forbiddenUnsaid{noPromptToAnswer(cmd.DeployID, c.req.User)})
			// The audit log, which admins read, keeps what the reply
			// does not say.
			c.entry.App, c.entry.Env = app, env
			c.entry.Reason += fmt.Sprintf(" (deploy %s is of %s/%s: %s)", cmd.DeployID, app, env, d.Reason)
			return
		}
		via = d.Via
	}
	c.entry.App, c.entry.Env = app, env
	if rec != nil && rec.Outcome != deploy.OutcomeRunning {
		c.refuse(errs.New(errs.Conflict, "deploy %s is not running (it ended %s)", cmd.DeployID, rec.Outcome))
		return
	}
	yes := cmd.Verb == VerbConfirm
	answer := c.s.engine.Confirm
	if !here {
		answer = c.s.engine.SignalConfirm
	}
	if err := answer(ctx, cmd.DeployID, c.req.User, yes); err != nil {
		c.refuse(err)
		return
	}
	c.allow(via)
	c.entry.DeployID = cmd.DeployID
	verb := "confirmed the migrations of"
	if !yes {
		verb = "aborted"
	}
	m := chat.Message{Level: chat.Info, Public: true, Title: fmt.Sprintf("%s %s deploy %s", c.req.User, verb, cmd.DeployID)}
	if !here {
		m.Lines = []string{"passed on to the replica of the bot running it, which takes it within seconds; its progress messages say what it did"}
	}
	c.out.Reply(m)
}

// checkInLapsed says why user's check-in c no longer counts them around,
// "" while it does: they are no admin now, or are one on other terms than
// those they checked in under (made as an admin by a runtime grant since
// revoked, whose end failed, it counted them around unasked once a config
// made them admin again).
func (s *Service) checkInLapsed(user string, c acl.CheckIn, grants []acl.Grant, now time.Time) string {
	under := s.policy.AdminUnder(user, grants, now)
	switch {
	case under == "":
		return fmt.Sprintf("%s is no longer an admin, by the config or a runtime grant", user)
	case !c.Counts(under):
		return fmt.Sprintf("%s checked in as an admin by %s, and is one now only by %s", user, underWords(c.Under, ""), underWords(under, c.Under))
	}
	return ""
}

// underWords says what under (acl.CheckIn's Under) names. A grant is
// "another runtime grant" when made, the terms a check-in was made
// under, names one too: a grant the check-in was not made under. Terms
// this version does not know (a newer one wrote them) are said to be,
// not taken for a grant.
func underWords(under, made string) string {
	config, grant, unknown := acl.Kinds(under)
	var words []string
	if config {
		words = append(words, "the config")
	}
	if grant {
		g := "a runtime grant"
		if _, was, _ := acl.Kinds(made); was {
			g = "another runtime grant"
		}
		words = append(words, g)
	}
	if unknown {
		words = append(words, "terms this version does not know")
	}
	switch len(words) {
	case 0:
		return "nothing"
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

// endUnadminedCheckIn ends user's check-in, read as ending at until, made
// under an admin they no longer hold (see startChange for its audit). Only
// that check-in is ended: one made anew since, under an admin granted
// meanwhile, stands, and the audit log says it was left.
func (s *Service) endUnadminedCheckIn(ctx context.Context, user string, until time.Time, why string) error {
	ch := startChange{what: "admin check-in of " + user, done: "ended", action: "away", why: why}
	return s.changeAtStart(ctx, ch, func() (string, error) {
		cur, ended, err := s.store.CheckOutIf(ctx, user, until)
		switch {
		case err != nil:
			return "", err
		case ended:
			s.log.Info("check-in of a user no longer an admin ended", "user", user, "until", until)
			return "", nil
		case cur.IsZero():
			s.log.Info("check-in of a user no longer an admin ended meanwhile", "user", user)
			return "it had ended by then (an away, or its end reached)", nil
		}
		s.log.Info("check-in of a user no longer an admin changed since it was read; left as it is", "user", user)
		return fmt.Sprintf("it changed since it was read: a check-in until %s, made since, stands", s.stamp(cur)), nil
	})
}

// startChange is a change the bot makes as it starts to what a config
// change left behind: what it changes ("admin check-in of bob"), the
// word for it done ("ended"), why, and the audit entry's action.
type startChange struct {
	what, done, why, action string
}

// changeAtStart makes ch with write and audits it as a command that
// changes state is audited: a pending entry first, so that nothing
// changes unaudited, and once write has returned, an entry of what really
// happened. write returns why it changed nothing ("" when it made the
// change), or an error. An entry written before the write, saying it was
// made, stayed in the log when the write then found things changed and
// did nothing, or failed. A write whose reply was lost is audited as
// unknown, as a command's is: it may or may not have been made. A failed
// write is returned, so that the start stops and the next tries again.
func (s *Service) changeAtStart(ctx context.Context, ch startChange, write func() (string, error)) error {
	e := audit.Entry{Time: s.now(), User: config.BotUser, Platform: "config", Decision: audit.Event, Action: ch.action,
		Command: fmt.Sprintf("%s to be %s: %s", ch.what, ch.done, ch.why)}
	if err := audit.Begin(ctx, s.store, &e); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	left, err := write()
	switch {
	case err != nil && mayHaveWritten(err):
		e.Decision = audit.Unknown
		e.Command = fmt.Sprintf("%s may or may not have been %s: %s", ch.what, ch.done, ch.why)
		e.Reason = fmt.Sprintf("the state store failed to confirm the write (%s); tried again at the next start", deploy.StoreReason(err))
	case err != nil:
		e.Command = fmt.Sprintf("%s not %s: %s", ch.what, ch.done, ch.why)
		e.Reason = fmt.Sprintf("the state store failed (%s); nothing was changed; tried again at the next start", deploy.StoreReason(err))
	case left != "":
		e.Command = fmt.Sprintf("%s not %s: %s", ch.what, ch.done, ch.why)
		e.Reason = left
	default:
		e.Command = fmt.Sprintf("%s %s: %s", ch.what, ch.done, ch.why)
	}
	aerr := s.appendAudit(ctx, &e)
	if err != nil {
		return err
	}
	if aerr != nil {
		return fmt.Errorf("audit: %w", aerr)
	}
	return nil
}

// noPromptToAnswer refuses an answer to the migrations prompt of deploy
// id, which names no deploy, or one whose prompt user may not answer:
// alike, so that the reply does not tell one from the other.
func noPromptToAnswer(id, user string) error {
	return errs.New(errs.NotFound, "there is no deploy %s whose migrations prompt %s may answer (its requester and holders of confirm there may); nothing was changed", id, orChatUser(user))
}

// ForgetRemovedUsers deletes the runtime grants and check-ins of users the
// config no longer names, auditing each, so that a later user given the
// same name starts with none of them. A grant of a removed user already
// counts for nothing (Effective), but it stays stored; and while the name
// is out of the config, revoke refuses it as unknown. Their locks stay, owned
// by the bot. So go the runtime grants of a role the config no longer has:
// they grant nothing meanwhile, and a later role given the same name,
// whatever its actions, would otherwise be held at once by everyone the
// old one was granted to. So too ends the check-in of a user the config
// still names but who is no admin by it nor by a grant in force (their
// admin taken out of the config): hidden from admins, it would count them
// around, unasked, the moment they became admin again. The bot runs this
// as it starts, the only time its config changes.
func (s *Service) ForgetRemovedUsers(ctx context.Context) error {
	// Check-ins read before the grants: a grant and a here made between
	// the two reads (another replica still running) show in the grants,
	// and one made after both changes the check-in, which then stands.
	present, err := s.store.CheckIns(ctx)
	if err != nil {
		return fmt.Errorf("forget removed users: %w", err)
	}
	grants, err := s.store.Grants(ctx)
	if err != nil {
		return fmt.Errorf("forget removed users: %w", err)
	}
	forget := func(user, what string, write func() (string, error)) error {
		return s.changeAtStart(ctx, startChange{what: what, done: "removed", why: user + " is no longer in the config", action: "revoke"}, write)
	}
	for _, g := range grants {
		gone := g.User
		switch {
		case !s.policy.KnownUser(g.User):
		case !s.policy.RoleExists(g.Role):
			gone = "role " + g.Role
		default:
			continue
		}
		// A removal that fails is tried again at the next start.
		err := forget(gone, fmt.Sprintf("runtime grant of role %s on %s to %s (granted by %s)", g.Role, grantScope(g), g.User, g.GrantedBy), func() (string, error) {
			_, err := s.store.DeleteGrant(ctx, g.User, g.Role, g.App, g.Env)
			if errors.Is(err, deploy.ErrNotFound) {
				return "it was gone by then (revoked, or expired)", nil
			}
			return "", err
		})
		if err != nil {
			return fmt.Errorf("forget removed users: %w", err)
		}
	}
	now := s.now()
	for _, user := range slices.Sorted(maps.Keys(present)) {
		if s.policy.KnownUser(user) {
			if why := s.checkInLapsed(user, present[user], grants, now); why != "" {
				if err := s.endUnadminedCheckIn(ctx, user, present[user].Until, why); err != nil {
					return fmt.Errorf("forget removed users: %w", err)
				}
			}
			continue
		}
		err := forget(user, "admin check-in of "+user, func() (string, error) {
			return "", s.store.CheckOut(ctx, user)
		})
		if err != nil {
			return fmt.Errorf("forget removed users: %w", err)
		}
	}
	locks, err := s.store.Locks(ctx)
	if err != nil {
		return fmt.Errorf("forget removed users: %w", err)
	}
	for _, l := range locks {
		if l.Owner == config.BotUser || s.policy.KnownUser(l.Owner) || !l.Active(s.now()) {
			continue
		}
		// The lock stays in force: deleting it would open deploys nobody
		// chose to open. Its owner passes it, so it goes to the bot, whom
		// no later user of the same name can be.
		next := l
		next.Owner = config.BotUser
		next.Reason = fmt.Sprintf("%s (locked by %s, who is no longer in the config)", l.Reason, l.Owner)
		err := forget(l.Owner, "ownership of the lock on "+l.Scope(), func() (string, error) {
			// Only in place of the lock read: a lock set since (theirs
			// lifted, another taken) is someone's now, and stays.
			cur, ok, err := s.store.ReplaceLock(ctx, &l, next)
			switch {
			case err != nil:
				return "", err
			case ok:
				return "", nil
			}
			s.log.Info("lock of a removed user changed since it was read; left as it is", "scope", l.Scope(), "owner", l.Owner)
			if cur == nil {
				return "the lock was lifted by then", nil
			}
			return "the lock changed since it was read, and stands: " + describeLock(*cur, s.now()), nil
		})
		if err != nil {
			return fmt.Errorf("forget removed users: %w", err)
		}
	}
	return nil
}
