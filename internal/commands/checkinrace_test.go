package commands_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// midFit is a state store that runs mid, once, as the first write to the
// check-ins arrives: between the read of a check-in by a grant or revoke
// fitting it to the admin and that read's write.
type midFit struct {
	commands.Store
	mid func()
}

func (s *midFit) before() {
	if mid := s.mid; mid != nil {
		s.mid = nil
		mid()
	}
}

func (s *midFit) CheckInUnder(ctx context.Context, user string, until time.Time, under string) error {
	s.before()
	return s.Store.CheckInUnder(ctx, user, until, under)
}

func (s *midFit) CheckOut(ctx context.Context, user string) error {
	s.before()
	return s.Store.CheckOut(ctx, user)
}

func (s *midFit) CheckInIf(ctx context.Context, user string, prev, until time.Time) (time.Time, bool, error) {
	s.before()
	return s.Store.CheckInIf(ctx, user, prev, until)
}

func (s *midFit) CheckOutIf(ctx context.Context, user string, prev time.Time) (time.Time, bool, error) {
	s.before()
	return s.Store.CheckOutIf(ctx, user, prev)
}

// TestFitCheckInLeavesANewerOne: an away or a here of the user's own,
// made while a grant or revoke fits their check-in to their admin, after
// it read the check-in, stands. A shorter grant brought back the check-in
// its user had just ended with away, counting them around unasked, or
// lengthened the shorter one they had just made; a revoke said their
// check-in ended with the grant when they had ended it themselves.
func TestFitCheckInLeavesANewerOne(t *testing.T) {
	tests := []struct {
		name string
		text string // ana's, after "grant @carl admin" and carl's "here for 4h"
		// mid is carl's command between the read and the write; "left
		// for 8h" a check-in of carl's written to the store, as by a here
		// that read his grants before ana's grant replaced them.
		mid string
		// line is the check-in's line of the reply and audit entry, ""
		// for none; admins, carl's line of admins afterwards.
		line, admins string
	}{
		{"away before a shorter grant's write", "grant @carl admin for 1h", "away",
			"", "carl: away"},
		{"shorter here before a shorter grant's write", "grant @carl admin for 1h", "here for 30m",
			"", "carl: here until 2026-11-23 10:30:00 CET (checked in)"},
		{"away before a revoke's write", "revoke @carl admin", "away",
			"", ""},
		{"check-in past the admin before a shorter grant's write", "grant @carl admin for 1h", "left for 8h",
			"carl's check-in now ends at 2026-11-23 11:00:00 CET, when their admin (a runtime grant) ends",
			"carl: here until 2026-11-23 11:00:00 CET (checked in)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			for _, step := range []struct{ user, text string }{{"ana", "grant @carl admin"}, {"carl", "here for 4h"}} {
				if res, out, _ := f.do(step.user, step.text); res.Failed {
					t.Fatalf("%q: %s", step.text, out.last())
				}
			}
			ran := false
			st := &midFit{Store: f.store, mid: func() {
				ran = true
				if tt.mid == "left for 8h" {
					if err := f.store.CheckIn(t.Context(), "carl", f.clock.Now().Add(8*time.Hour)); err != nil {
						t.Fatal(err)
					}
					return
				}
				if res, out, _ := f.do("carl", tt.mid); res.Failed {
					t.Fatalf("%q between the read and the write: %s", tt.mid, out.last())
				}
			}}
			f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			res, out, _ := f.do("ana", tt.text)
			if res.Failed {
				t.Fatalf("%q: %s", tt.text, out.last())
			}
			if !ran {
				t.Fatalf("%q wrote no check-in: the test did not stage %q between the read and the write", tt.text, tt.mid)
			}
			var lines []string
			for _, l := range out.lastMessage().Lines {
				if !strings.HasPrefix(l, "replaces the earlier grant") {
					lines = append(lines, l)
				}
			}
			if tt.line == "" && len(lines) > 0 || tt.line != "" && !slices.Equal(lines, []string{tt.line}) {
				t.Errorf("%q reply lines: got %q, want %q", tt.text, lines, tt.line)
			}
			entry := auditEntryOf(t, f.store, "ana", tt.text)
			if entry == nil || strings.Contains(entry.Reason, "check-in") != (tt.line != "") || tt.line != "" && !strings.HasSuffix(entry.Reason, "; "+tt.line) {
				t.Errorf("%q audit entry: got %+v, want its reason to end in %q", tt.text, entry, tt.line)
			}
			present, err := f.store.Present(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			_, in := present["carl"]
			if want := tt.admins != "" && tt.admins != "carl: away"; in != want {
				t.Errorf("carl checked in: got %v (%v), want %v", in, present, want)
			}
			if tt.admins == "" {
				return
			}
			_, out, _ = f.do("bob", "admins")
			if got := out.lastMessage().Lines; !slices.Contains(got, tt.admins) {
				t.Errorf("admins: got %q, want a line %q", got, tt.admins)
			}
		})
	}
}

// TestFitCheckInChangedAgainAndAgain: a check-in that changes before
// every write of a grant fitting it is left as it is, and the reply says
// so rather than name an end it does not have.
func TestFitCheckInChangedAgainAndAgain(t *testing.T) {
	f := newGuardFixture(t, "")
	for _, step := range []struct{ user, text string }{{"ana", "grant @carl admin"}, {"carl", "here for 4h"}} {
		if res, out, _ := f.do(step.user, step.text); res.Failed {
			t.Fatalf("%q: %s", step.text, out.last())
		}
	}
	st := &midFit{Store: f.store}
	changes := 0
	var change func()
	change = func() {
		changes++
		// Each a check-in past the admin, as by a here that read the
		// grants before the grant replaced them.
		if err := f.store.CheckIn(t.Context(), "carl", f.clock.Now().Add(time.Duration(8+changes)*time.Hour)); err != nil {
			t.Fatal(err)
		}
		st.mid = change
	}
	st.mid = change
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
	res, out, _ := f.do("ana", "grant @carl admin for 1h")
	if res.Failed {
		t.Fatalf("grant: %s", out.last())
	}
	want := "⚠ carl's check-in changed while it was being fitted to their admin, again and again, so it was left as it is; " + suggest.Command("admins") + " lists who is around"
	if got := out.lastMessage().Lines; !slices.Contains(got, want) || slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, "now ends at") }) {
		t.Errorf("reply lines: got %q, want a line %q and none naming an end", got, want)
	}
	present, err := f.store.Present(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := f.clock.Now().Add(time.Duration(8+changes) * time.Hour); !present["carl"].Equal(want) {
		t.Errorf("carl's check-in: got %v, want the last one written, until %v", present["carl"], want)
	}
}

// TestHereRacesTheGrant: a revoke or a shorter grant of the admin made
// between here's read of the grants and its write, whose own fitting of
// the check-in found none, does not leave the check-in here writes
// counting its user around: here ends it or cuts it short, and its reply
// says so. The check-in stayed, its user no admin, and the reply said
// they were around until it ended.
func TestHereRacesTheGrant(t *testing.T) {
	tests := []struct {
		name string
		mid  string // ana's, between carl's read of his grants and his write
		// before is whether carl checked in for 2h before, which mid's
		// own fitting then finds and ends.
		before bool
		// failed is whether carl's here is refused, title its reply's
		// title; in whether carl is checked in afterwards, until 11:00
		// when his admin ends.
		failed, in bool
		title      string
	}{
		{"revoke", "revoke @carl admin", false, true, false,
			"carl is no admin now: their admin was taken back as they checked in, so they are not checked in; only admins check in"},
		{"revoke of one checked in already", "revoke @carl admin", true, true, false,
			"carl is no admin now: their admin was taken back as they checked in, so they are not checked in; only admins check in"},
		{"shorter grant", "grant @carl admin for 1h", false, false, true,
			"carl is around until 2026-11-23 11:00:00 CET, when their admin (a runtime grant) ends; deploys that need an admin present may run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			steps := []struct{ user, text string }{{"ana", "grant @carl admin"}}
			if tt.before {
				steps = append(steps, struct{ user, text string }{"carl", "here for 2h"})
			}
			for _, step := range steps {
				if res, out, _ := f.do(step.user, step.text); res.Failed {
					t.Fatalf("%q: %s", step.text, out.last())
				}
			}
			ran := false
			st := &midFit{Store: f.store, mid: func() {
				ran = true
				if res, out, _ := f.do("ana", tt.mid); res.Failed {
					t.Fatalf("%q between the read and the write: %s", tt.mid, out.last())
				}
			}}
			f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			res, out, _ := f.do("carl", "here for 4h")
			if !ran {
				t.Fatalf("here wrote no check-in: the test did not stage %q between the read and the write", tt.mid)
			}
			if got := suggest.Strip(out.lastMessage().Title); res.Failed != tt.failed || got != tt.title {
				t.Errorf("here: got failed %v, %q; want failed %v, %q", res.Failed, got, tt.failed, tt.title)
			}
			present, err := f.store.Present(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var want time.Time
			if tt.in {
				want = f.clock.Now().Add(time.Hour)
			}
			if got, in := present["carl"]; in != tt.in || !got.Equal(want) {
				t.Errorf("carl's check-in: got %v (%v), want %v (%v)", got, in, want, tt.in)
			}
			wantDecision, wantReason := audit.Allowed, "checked in until 2026-11-23 11:00:00 CET, when their admin (a runtime grant) ends"
			if tt.failed {
				wantDecision, wantReason = audit.Refused, tt.title
			}
			entry := auditEntryOf(t, f.store, "carl", "here for 4h")
			if entry == nil || entry.Decision != wantDecision || entry.Reason != wantReason {
				t.Errorf("here's audit entry: got %+v, want %s, %q", entry, wantDecision, wantReason)
			}
		})
	}
}

// failedFit is a state store whose conditional writes of a check-in all
// fail with err, without a word to the store underneath.
type failedFit struct {
	commands.Store
	err error
}

func (s *failedFit) CheckInIf(context.Context, string, time.Time, time.Time) (time.Time, bool, error) {
	return time.Time{}, false, s.err
}

func (s *failedFit) CheckOutIf(context.Context, string, time.Time) (time.Time, bool, error) {
	return time.Time{}, false, s.err
}

// TestFitCheckInWriteFailed: a check-in whose end or cut failed with an
// error of a write Redis may have taken, its reply lost, is not said to
// stand: the reply says it may or may not have been ended or cut short,
// and where that shows. One the store refused before writing still says
// it could not be.
func TestFitCheckInWriteFailed(t *testing.T) {
	lost := errs.Wrap(errs.Unavailable, errors.New("redis at 127.0.0.1:6379: i/o timeout"), deploy.StoreUnreachable)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	notRun := deploy.StoreNotRun(ended)
	tests := []struct {
		name string
		err  error
		// user and text are the command fitting carl's check-in, made
		// after "grant @carl admin"; checkedIn whether carl checked in for
		// 4h before, midRevoke whether ana revokes his admin as carl's
		// here reads his grants.
		user, text           string
		checkedIn, midRevoke bool
		want                 string
	}{
		{"revoke, reply lost", lost, "ana", "revoke @carl admin", true, false,
			"⚠ carl's check-in may or may not have been ended (state store unreachable): if not, it counts them around once they are an admin again, when admins shows it"},
		{"revoke, not written", notRun, "ana", "revoke @carl admin", true, false,
			"⚠ carl's check-in could not be ended (state store unreachable), and counts them around once they are an admin again; admins lists who is around"},
		{"shorter grant, reply lost", lost, "ana", "grant @carl admin for 1h", true, false,
			"⚠ carl's check-in may or may not have been cut short to end at 2026-11-23 11:00:00 CET with their admin (state store unreachable): if not, it may run until 2026-11-23 14:00:00 CET, counting them around whenever they are an admin again, when admins shows it"},
		{"shorter grant, not written", notRun, "ana", "grant @carl admin for 1h", true, false,
			"⚠ carl's check-in could not be cut short to end at 2026-11-23 11:00:00 CET with their admin (state store unreachable): it may run until 2026-11-23 14:00:00 CET, counting them around whenever they are an admin again; admins lists who is around"},
		{"here as the admin is revoked, reply lost", lost, "carl", "here for 4h", false, true,
			"⚠ carl's check-in may or may not have been ended (state store unreachable): if not, it counts them around once they are an admin again, when admins shows it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			steps := []struct{ user, text string }{{"ana", "grant @carl admin"}}
			if tt.checkedIn {
				steps = append(steps, struct{ user, text string }{"carl", "here for 4h"})
			}
			for _, step := range steps {
				if res, out, _ := f.do(step.user, step.text); res.Failed {
					t.Fatalf("%q: %s", step.text, out.last())
				}
			}
			mid := &midFit{Store: f.store}
			if tt.midRevoke {
				mid.mid = func() {
					if res, out, _ := f.do("ana", "revoke @carl admin"); res.Failed {
						t.Fatalf("revoke between the read and the write: %s", out.last())
					}
				}
			}
			f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: &failedFit{Store: mid, err: tt.err}, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			_, out, _ := f.do(tt.user, tt.text)
			if mid.mid != nil {
				t.Fatalf("%q wrote no check-in: the test did not stage the revoke between the read and the write", tt.text)
			}
			lines := out.lastMessage().Lines
			var got []string
			var marked []string
			for _, l := range lines {
				if strings.HasPrefix(l, "⚠") {
					got = append(got, suggest.Strip(l))
					suggest.Rewrite(l, func(cmd string) string { marked = append(marked, cmd); return cmd })
				}
			}
			if !slices.Equal(got, []string{tt.want}) {
				t.Errorf("%q reply's warnings: got %q, want %q", tt.text, got, tt.want)
			}
			if !slices.Equal(marked, []string{"admins"}) {
				t.Errorf("%q: commands marked as suggested %q; want [admins]", tt.text, marked)
			}
			entry := auditEntryOf(t, f.store, tt.user, tt.text)
			if entry == nil || !strings.HasSuffix(entry.Reason, "; "+tt.want) {
				t.Errorf("%q audit entry: got %+v, want its reason to end in %q", tt.text, entry, tt.want)
			}
		})
	}
}

// TestGrantEndsAnEarlierCheckIn: a check-in left behind by a revoke whose
// check-out failed, its user no admin, does not count them around once a
// fresh grant makes them one again: the grant ends it, and its reply and
// audit entry say so. A here of theirs made once the grant holds stands,
// and a grant that makes them no admin leaves the check-in alone.
func TestGrantEndsAnEarlierCheckIn(t *testing.T) {
	ended := "carl's check-in from before this grant, made under an admin since ended, ended: they check in again with here"
	tests := []struct {
		name, text string
		// mid is carl's command between the grant's write and its end of
		// the check-in, "" for none; fail the failure of the grant's read
		// of the check-ins ("read") or of its end of one ("write"), ""
		// for none.
		mid, fail string
		// line is the check-in's line of the reply and audit entry, ""
		// for none; until carl's check-in afterwards, zero for none.
		line  string
		until time.Duration
	}{
		{"grant until revoked", "grant @carl admin", "", "", ended, 0},
		{"grant for an hour", "grant @carl admin for 1h", "", "", ended, 0},
		{"here once the grant holds", "grant @carl admin", "here for 30m", "", "", 30 * time.Minute},
		{"grant of no admin", "grant @carl deployer", "", "", "", 4 * time.Hour},
		{"end not written", "grant @carl admin", "", "write",
			"⚠ carl's check-in from before this grant, made under an admin since ended, could not be ended (state store unreachable): it counts them around until 2026-11-23 14:00:00 CET; admins lists who is around", 4 * time.Hour},
		{"check-ins not read", "grant @carl admin", "", "read",
			"⚠ whether carl has a check-in from before this grant could not be read (state store unreachable), so one of theirs stays, counting them around; admins lists who is around", 4 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGuardFixture(t, "")
			for _, step := range []struct{ user, text string }{{"ana", "grant @carl admin"}, {"carl", "here for 4h"}} {
				if res, out, _ := f.do(step.user, step.text); res.Failed {
					t.Fatalf("%q: %s", step.text, out.last())
				}
			}
			notRun := func() error {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return deploy.StoreNotRun(ctx)
			}()
			f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: &failedFit{Store: f.store, err: notRun}, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			if res, out, _ := f.do("ana", "revoke @carl admin"); res.Failed {
				t.Fatalf("revoke: %s", out.last())
			}
			if present, err := f.store.Present(t.Context()); err != nil || !present["carl"].Equal(f.clock.Now().Add(4*time.Hour)) {
				t.Fatalf("carl's check-in after the failed revoke: got %v (%v), want one left until %v", present, err, f.clock.Now().Add(4*time.Hour))
			}
			st := &midFit{Store: f.store}
			if tt.mid != "" {
				st.mid = func() {
					if res, out, _ := f.do("carl", tt.mid); res.Failed {
						t.Fatalf("%q after the grant's write: %s", tt.mid, out.last())
					}
				}
			}
			var grantStore commands.Store = st
			switch tt.fail {
			case "write":
				grantStore = &failedFit{Store: st, err: notRun}
			case "read":
				grantStore = &unreadPresence{Store: st, err: notRun}
			}
			f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: grantStore, Policy: f.policy, Presence: f.presence, Now: f.clock.Now})
			res, out, _ := f.do("ana", tt.text)
			if res.Failed {
				t.Fatalf("%q: %s", tt.text, out.last())
			}
			if st.mid != nil {
				t.Fatalf("%q wrote no check-in: the test did not stage %q after its write", tt.text, tt.mid)
			}
			var lines []string
			for _, l := range out.lastMessage().Lines {
				lines = append(lines, suggest.Strip(l))
			}
			if tt.line == "" && len(lines) > 0 || tt.line != "" && !slices.Equal(lines, []string{tt.line}) {
				t.Errorf("%q reply lines: got %q, want %q", tt.text, lines, tt.line)
			}
			entry := auditEntryOf(t, f.store, "ana", tt.text)
			if entry == nil || strings.Contains(entry.Reason, "check-in") != (tt.line != "") || tt.line != "" && !strings.HasSuffix(entry.Reason, "; "+tt.line) {
				t.Errorf("%q audit entry: got %+v, want its reason to end in %q", tt.text, entry, tt.line)
			}
			present, err := f.store.Present(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var want time.Time
			if tt.until > 0 {
				want = f.clock.Now().Add(tt.until)
			}
			if got, in := present["carl"]; in != (tt.until > 0) || !got.Equal(want) {
				t.Errorf("carl's check-in: got %v (%v), want %v (%v)", got, in, want, tt.until > 0)
			}
			if tt.until > 0 {
				return
			}
			_, out, _ = f.do("bob", "admins")
			if got := out.lastMessage().Lines; !slices.Contains(got, "carl: away") {
				t.Errorf("admins: got %q, want a line %q", got, "carl: away")
			}
		})
	}
}

// unreadPresence is a state store whose check-ins cannot be read.
type unreadPresence struct {
	commands.Store
	err error
}

func (s *unreadPresence) Present(context.Context) (map[string]time.Time, error) {
	return nil, s.err
}

func (s *unreadPresence) CheckIns(context.Context) (map[string]acl.CheckIn, error) {
	return nil, s.err
}

// auditEntryOf is the audit entry of user's command text, its outcome
// folded in; nil if there is none.
func auditEntryOf(t *testing.T, st interface {
	Audit(context.Context, audit.Query) ([]audit.Entry, error)
}, user, text string) *audit.Entry {
	t.Helper()
	entries, err := st.Audit(t.Context(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range audit.Fold(entries) {
		if e.User == user && e.Command == text {
			return &e
		}
	}
	return nil
}
