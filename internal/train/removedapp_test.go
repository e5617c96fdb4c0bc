package train_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/train"
)

// A car whose app, or the app's env, was removed from the config since
// it boarded is left behind, and the departure says why, in its channel
// and in the audit log, rather than send a deploy the command service
// refuses as if someone had mistyped it.
func TestCarOfARemovedAppLeftBehind(t *testing.T) {
	// billing with staging alone: the daily train goes to production.
	noProduction := strings.Replace(trainYAML, "srv/billing\n    restart: 'echo \"$SWITCHMAN_APP $SWITCHMAN_BUILD\" >> ../order.log'\n    environments: {production:",
		"srv/billing\n    restart: 'echo \"$SWITCHMAN_APP $SWITCHMAN_BUILD\" >> ../order.log'\n    environments: {staging:", 1)
	if noProduction == trainYAML {
		t.Fatal("the config without billing's production env is the config with it")
	}
	for _, tc := range []struct {
		name, yaml, app string
		reason, behind  string
	}{
		{"app removed", trainYAML, "shop",
			"it was left behind: the app shop is no longer configured",
			"shop 7 (@bob) left behind: its app is no longer configured; see the summary."},
		{"env removed", noProduction, "billing",
			"it was left behind: the env production of the app billing is no longer configured",
			"billing 7 (@bob) left behind: its app's env production is no longer configured; see the summary."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := newTrainSystem(t, tc.yaml, map[string]map[string]string{"web-7.tar.gz": {"BUILD": "7"}, "billing-7.tar.gz": {"BUILD": "7"}})
			ctx := context.Background()
			for _, app := range []string{tc.app, "web"} {
				if _, err := sys.st.Board(ctx, "daily", train.Car{App: app, Build: "7", Env: "production", User: "bob", Boarded: time.Now()}, 0, nil); err != nil {
					t.Fatal(err)
				}
			}
			sum := sys.sched.Depart(ctx, "daily", "")
			if len(sum.Shipped) != 1 || sum.Shipped[0].Car.App != "web" || len(sum.Failed) != 1 || sum.Failed[0].Reason != tc.reason {
				t.Errorf("departure: got shipped %+v, failed %+v; want web shipped, %s failed with %q", sum.Shipped, sum.Failed, tc.app, tc.reason)
			}
			posts := sys.out.all()
			leaving := slices.IndexFunc(posts, func(p string) bool { return strings.Contains(p, "is leaving with") })
			if leaving < 0 || !strings.Contains(posts[leaving], "is leaving with 1 car: web 7 (@bob).\n  "+tc.behind) {
				t.Errorf("leaving announcement: got %q, want it to name web alone, and %s left behind", posts, tc.app)
			}
			if !strings.Contains(strings.Join(posts, "\n"), "❌ "+tc.app+" 7 (@bob): "+tc.reason+"; it leaves the train") {
				t.Errorf("summary: got %q, want %s said left behind", posts, tc.app)
			}
			for _, p := range posts {
				if strings.Contains(p, "usage:") {
					t.Errorf("channel: got %q, a reply to a mistyped command, want none", p)
				}
			}
			entries, err := sys.st.Audit(ctx, audit.Query{Limit: 20})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				if e.App == tc.app {
					got = append(got, string(e.Decision)+" "+e.User+" "+e.Command+" "+e.Env+": "+e.Reason)
				}
			}
			if want := []string{"refused bob deploy " + tc.app + " 7 to production production: " + tc.reason}; !slices.Equal(got, want) {
				t.Errorf("audit entries of %s:\ngot  %q\nwant %q", tc.app, got, want)
			}
			if cars, err := sys.st.Cars(ctx, "daily"); err != nil || len(cars) != 0 {
				t.Errorf("aboard after the departure: got %+v, %v; want nobody", cars, err)
			}
		})
	}
}
