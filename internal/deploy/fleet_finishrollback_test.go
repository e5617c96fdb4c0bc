package deploy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// TestFleetPartialRollbackWhoseTargetIsNotEverywhere: a rollback from 4
// to 3 that left host2 out, down, ends partial; once host2 is back it
// still runs 4, the others 3. Where 3 is then gone from host2, or marked
// bad there, the rollback that would finish the partial one (to 3 from
// 4) is refused: the refusals of a rollback from a build no host runs and
// of one naming no release offer no rollback and say why, and the
// rollback to 3 is indeed refused.
func TestFleetPartialRollbackWhoseTargetIsNotEverywhere(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		spoil func(rel string) error // spoils release 3 on host2; rel is its releases dir
		code  errs.Code              // of the refusal of the rollback to 3
	}{
		{"gone from a host", func(rel string) error { return os.RemoveAll(filepath.Join(rel, "3")) }, errs.NotFound},
		{"marked bad on a host", func(rel string) error { return os.WriteFile(filepath.Join(rel, ".bad-3"), nil, 0o644) }, errs.Conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fleet := startFleet(t, 3)
			f := newFleetFixture(t, fleet, fleetSpec{env: []string{"max_failures: 1"}}, nil)
			for _, b := range []string{"1", "2", "3", "4"} {
				f.build(b)
			}
			f.seed("1")
			for _, b := range []string{"2", "3", "4"} {
				f.mustRun(deploy.KindDeploy, b, deploy.OutcomeSucceeded)
			}
			fleet.Stop(2)
			partial := f.mustRun(deploy.KindRollback, "", deploy.OutcomePartial)
			if err := tt.spoil(filepath.Join(f.root(2), "releases")); err != nil {
				t.Fatal(err)
			}
			fleet.Start(2)

			why := "no rollback of what runs now is offered: the partial rollback " + partial.ID + " left its hosts on different releases, and 3, where it went, is not a good release on every host; status web shows what each host runs"
			for _, r := range []struct {
				name, from string
				said       string
			}{
				{"from a release no host runs", "2", "web/prod runs 3 on host0, host1; 4 on host2 now, not 2; nothing was rolled back, and " + why},
				{"naming no release", "", "the hosts of web/prod run different releases (3 on host0, host1; 4 on host2); name the release to roll back to: rollback web prod to BUILD; nothing was changed"},
			} {
				_, err := f.rollback("", r.from)
				msg := errs.Message(err)
				if errs.CodeOf(err) != errs.Conflict || !strings.Contains(suggest.Strip(msg), r.said) {
					t.Errorf("%s: got %s %q, want it refused saying %q", r.name, errs.CodeOf(err), msg, r.said)
					continue
				}
				for _, c := range offered(t, f.cfg, msg) {
					if c.Verb == commands.VerbRollback {
						t.Errorf("%s: refusal %q offers %q, want no rollback", r.name, msg, c.Text)
					}
				}
			}
			// What the refusals say: the rollback that would finish the
			// partial one is refused.
			if _, err := f.rollback("3", "4"); errs.CodeOf(err) != tt.code {
				t.Errorf("rollback to 3 from 4: got %s (%v), want it refused, %s", errs.CodeOf(err), err, tt.code)
			}
			for i, want := range []string{"releases/3", "releases/3", "releases/4"} {
				if got := f.link(i, "current"); got != want {
					t.Errorf("host%d: current %s, want %s", i, got, want)
				}
			}
		})
	}
}
