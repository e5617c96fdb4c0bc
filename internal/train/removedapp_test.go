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

// A car whose app was removed from the config since it boarded is left
// behind, and the departure says why, in its channel and in the audit
// log, rather than send a deploy of an unknown app for the command
// service to refuse as if someone had mistyped it.
func TestCarOfARemovedAppLeftBehind(t *testing.T) {
	sys := newTrainSystem(t, trainYAML, map[string]map[string]string{"web-7.tar.gz": {"BUILD": "7"}})
	ctx := context.Background()
	for _, app := range []string{"shop", "web"} {
		if _, err := sys.st.Board(ctx, "daily", train.Car{App: app, Build: "7", Env: "production", User: "bob", Boarded: time.Now()}, 0); err != nil {
			t.Fatal(err)
		}
	}
	sum := sys.sched.Depart(ctx, "daily", "")
	const reason = "it was left behind: the app shop is no longer configured"
	if len(sum.Shipped) != 1 || sum.Shipped[0].Car.App != "web" || len(sum.Failed) != 1 || sum.Failed[0].Reason != reason {
		t.Errorf("departure: got shipped %+v, failed %+v; want web shipped, shop failed with %q", sum.Shipped, sum.Failed, reason)
	}
	posts := sys.out.all()
	leaving := slices.IndexFunc(posts, func(p string) bool { return strings.Contains(p, "is leaving with") })
	if leaving < 0 || !strings.Contains(posts[leaving], "is leaving with 1 car: web 7 (@bob).\n  shop 7 (@bob) left behind: its app is no longer configured; see the summary.") {
		t.Errorf("leaving announcement: got %q, want it to name web alone, and shop left behind", posts)
	}
	if !strings.Contains(strings.Join(posts, "\n"), "❌ shop 7 (@bob): "+reason+"; it leaves the train") {
		t.Errorf("summary: got %q, want shop said left behind", posts)
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
		if e.App == "shop" {
			got = append(got, string(e.Decision)+" "+e.User+" "+e.Command+" "+e.Env+": "+e.Reason)
		}
	}
	if want := []string{"refused bob deploy shop 7 to production production: " + reason}; !slices.Equal(got, want) {
		t.Errorf("audit entries of shop:\ngot  %q\nwant %q", got, want)
	}
	if cars, err := sys.st.Cars(ctx, "daily"); err != nil || len(cars) != 0 {
		t.Errorf("aboard after the departure: got %+v, %v; want nobody", cars, err)
	}
}
