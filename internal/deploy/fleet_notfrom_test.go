package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// TestFleetNotFromOffersWhatRollbackDoes: a rollback from 2, clicked on
// the message of an old deploy, is refused once a later build runs, and
// the refusal offers the rollback of what runs now. After a deploy of 4
// that ended partial within max_failures (host1 failed its health check
// and went back to 3), it offered `rollback web prod`, which was refused
// in turn: the hosts run different releases, and only a rollback naming
// its release is taken. The offer names the release, as the partial
// deploy's report does, and is taken; where no release is on every host,
// nothing is offered, and the refusal says why.
func TestFleetNotFromOffersWhatRollbackDoes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		prepare func(t *testing.T, f *fleetFixture)
		want    string // where the offered rollback goes; "" for none
		why     string // in the refusals without an offer
	}{
		{
			name:    "a host failed after its switch",
			prepare: func(t *testing.T, f *fleetFixture) {},
			want:    "3",
		},
		{
			// host1 joins with nothing on it and is left on 4, bad.
			name: "a host on its first release failed",
			prepare: func(t *testing.T, f *fleetFixture) {
				if err := os.RemoveAll(f.root(1)); err != nil {
					t.Fatal(err)
				}
			},
			why: "no release on every host to roll back to",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 3)
			f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, env: []string{"max_failures: 1"}}, nil)
			for _, b := range []string{"1", "2", "3", "4"} {
				f.build(b)
			}
			f.seed("1")
			f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
			tt.prepare(t, f)
			if err := os.WriteFile(filepath.Join(fleet.Hosts[1].Root, "sick-4"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			f.mustRun(deploy.KindDeploy, "4", deploy.OutcomePartial)

			// The clicks on the message of the deploy of 2: its Rollback
			// button, plain and naming where it went.
			var offer commands.Command
			for _, to := range []string{"", "1"} {
				_, err := f.rollback(to, "2")
				msg := errs.Message(err)
				if errs.CodeOf(err) != errs.Conflict || !strings.Contains(msg, "not 2; nothing was rolled back") {
					t.Errorf("rollback to %q from 2: got %v, want it refused as 2 no longer runs", to, err)
					continue
				}
				var rollbacks []commands.Command
				for _, c := range offered(t, f.cfg, msg) {
					if c.Verb == commands.VerbRollback {
						rollbacks = append(rollbacks, c)
					}
				}
				if tt.want == "" {
					if len(rollbacks) != 0 || !strings.Contains(msg, tt.why) {
						t.Errorf("refusal %q: offers %+v; want no rollback, and to say %q", msg, rollbacks, tt.why)
					}
					continue
				}
				if len(rollbacks) != 1 || rollbacks[0].App != "web" || rollbacks[0].Env != "prod" || rollbacks[0].Build != tt.want || rollbacks[0].From != "4" {
					t.Errorf("refusal %q: offers rollbacks %+v, want one of web/prod to %s from 4", msg, rollbacks, tt.want)
					continue
				}
				offer = rollbacks[0]
			}
			if tt.want == "" {
				if _, err := f.rollback("", ""); err == nil {
					t.Errorf("rollback after a refusal that offered none: started, want refused")
				}
				return
			}
			if offer.Verb == "" {
				return // reported above
			}
			back, err := f.rollback(offer.Build, offer.From)
			if err != nil {
				t.Fatalf("the offered rollback (%s): refused: %v", offer.Text, err)
			}
			if back.Outcome != deploy.OutcomeSucceeded || back.Build != tt.want {
				t.Errorf("the offered rollback: got %s to %s (%s), want succeeded to %s", back.Outcome, back.Build, back.Error, tt.want)
			}
			for i, h := range fleet.Hosts {
				if got := f.link(i, "current"); got != "releases/"+tt.want {
					t.Errorf("%s: current %s after the rollback, want releases/%s", h.Name, got, tt.want)
				}
			}
		})
	}
}

// TestFleetNotFromWhereFromStillRuns: after a deploy of 4 that ended
// partial within max_failures (host1 failed its health check and went
// back to 3), a rollback to 2 from 4 is refused, as host1 runs neither.
// The refusal said "web/prod runs 3 on host1; 4 on host0, host2 now, not
// 4", which 4 running on two hosts belies. It says that web/prod does not
// run only 4, and offers the rollback the partial deploy's report offers,
// which is taken. From a build no host runs, it says so as before.
func TestFleetNotFromWhereFromStillRuns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		from string // the release the refused rollback leaves
		want string // in the refusal
	}{
		{name: "from a release some hosts run", from: "4", want: "web/prod does not run only 4 now (3 on host1; 4 on host0, host2); nothing was rolled back"},
		{name: "from a release no host runs", from: "1", want: "web/prod runs 3 on host1; 4 on host0, host2 now, not 1; nothing was rolled back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet, f := partialOn4(t)

			_, err := f.rollback("2", tt.from)
			msg := errs.Message(err)
			if errs.CodeOf(err) != errs.Conflict {
				t.Fatalf("rollback to 2 from %s: got %v, want it refused as host1 runs 3", tt.from, err)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("refusal %q: want it to say %q", msg, tt.want)
			}
			takeRollbackTo3From4(t, fleet, f, msg)
		})
	}
}

// TestFleetMissingReleaseSaysWhereOthersAreBad: after a deploy of 4 that
// ended partial within max_failures (host1 failed its health check and
// went back to 3, marking 4 bad there), a rollback to 1, gone from host0
// and host2, is refused, listing the releases every host has. It said
// "(marked bad: 4)", which read as bad everywhere, although 4 runs on
// host0 and host2: it says where 4 is marked bad.
func TestFleetMissingReleaseSaysWhereOthersAreBad(t *testing.T) {
	t.Parallel()
	fleet, f := partialOn4(t)
	for _, i := range []int{0, 2} {
		if err := os.RemoveAll(filepath.Join(f.root(i), "releases", "1")); err != nil {
			t.Fatal(err)
		}
	}

	_, err := f.rollback("1", "")
	const want = "release 1 of web/prod is not on host0, host2; good releases on every host: 3, 2 (marked bad on host1: 4); nothing was changed"
	if errs.CodeOf(err) != errs.NotFound || errs.Message(err) != want {
		t.Errorf("rollback to 1: got %s %q, want not_found %q", errs.CodeOf(err), errs.Message(err), want)
	}
	for i, h := range fleet.Hosts {
		wantCurrent := "releases/4"
		if i == 1 {
			wantCurrent = "releases/3"
		}
		if got := f.link(i, "current"); got != wantCurrent {
			t.Errorf("%s: current %s after the refusal, want %s", h.Name, got, wantCurrent)
		}
	}
}

// partialOn4 is a fleet of three hosts through builds 1, 2 and 3, then a
// deploy of 4 that ended partial within max_failures: host1 failed its
// health check and went back to 3, marking 4 bad there; host0 and host2
// run 4.
func partialOn4(t *testing.T) (*sshd.Fleet, *fleetFixture) {
	t.Helper()
	fleet := startFleet(t, 3)
	f := newFleetFixture(t, fleet, fleetSpec{health: sickableCmd, env: []string{"max_failures: 1"}}, nil)
	for _, b := range []string{"1", "2", "3", "4"} {
		f.build(b)
	}
	f.seed("1")
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	f.mustRun(deploy.KindDeploy, "3", deploy.OutcomeSucceeded)
	if err := os.WriteFile(filepath.Join(fleet.Hosts[1].Root, "sick-4"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f.mustRun(deploy.KindDeploy, "4", deploy.OutcomePartial)
	return fleet, f
}

// takeRollbackTo3From4 checks that refusal msg offers one rollback, of
// web/prod to 3 from 4, and that sent back it succeeds and leaves every
// host of fleet on releases/3.
func takeRollbackTo3From4(t *testing.T, fleet *sshd.Fleet, f *fleetFixture, msg string) {
	t.Helper()
	var rollbacks []commands.Command
	for _, c := range offered(t, f.cfg, msg) {
		if c.Verb == commands.VerbRollback {
			rollbacks = append(rollbacks, c)
		}
	}
	if len(rollbacks) != 1 || rollbacks[0].App != "web" || rollbacks[0].Env != "prod" || rollbacks[0].Build != "3" || rollbacks[0].From != "4" {
		t.Fatalf("refusal %q: offers rollbacks %+v, want one of web/prod to 3 from 4", msg, rollbacks)
	}
	offer := rollbacks[0]
	back, err := f.rollback(offer.Build, offer.From)
	if err != nil {
		t.Fatalf("the offered rollback (%s): refused: %v", offer.Text, err)
	}
	if back.Outcome != deploy.OutcomeSucceeded || back.Build != "3" {
		t.Errorf("the offered rollback: got %s to %s (%s), want succeeded to 3", back.Outcome, back.Build, back.Error)
	}
	for i, h := range fleet.Hosts {
		if got := f.link(i, "current"); got != "releases/3" {
			t.Errorf("%s: current %s after the rollback, want releases/3", h.Name, got)
		}
	}
}
