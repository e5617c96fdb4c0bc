package train_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/testenv/leakcheck"
)

// TestDeparturesLeaveNothing boards and sends off trains again and again,
// a failing car among them, and checks that once they have left, with
// the scheduler still there, nothing of theirs is left running. Not
// parallel: other tests' goroutines would count.
func TestDeparturesLeaveNothing(t *testing.T) {
	arts := map[string]map[string]string{}
	for b := 1; b <= 4; b++ {
		arts[fmt.Sprintf("web-%d.tar.gz", b)] = map[string]string{"BUILD": fmt.Sprint(b)}
		arts[fmt.Sprintf("api-%d.tar.gz", b)] = map[string]string{"BUILD": fmt.Sprint(b), "BROKEN": "x"}
	}
	sys := newTrainSystem(t, trainYAML, arts)
	ctx := context.Background()
	say := func(user, text string) {
		t.Helper()
		if got := sys.svc.Handle(ctx, commands.Request{User: user, Platform: "test", Channel: "#releases", Text: text}, nopOut{}); got.Failed {
			t.Fatalf("%s %q failed", user, text)
		}
	}
	snap := leakcheck.Take(t)
	for b := 1; b <= 3; b++ {
		say("bob", fmt.Sprintf("train board web %d", b))
		say("ana", fmt.Sprintf("train board api %d", b))
		sum := sys.sched.Depart(ctx, "daily", "")
		if len(sum.Shipped) != 1 || len(sum.Failed) != 1 {
			t.Fatalf("departure %d: shipped %d, failed %d; want 1 and 1", b, len(sum.Shipped), len(sum.Failed))
		}
	}
	// Sent off early: the departure runs in the background.
	summaries := func() int {
		sys.out.mu.Lock()
		defer sys.out.mu.Unlock()
		n := 0
		for _, m := range sys.out.msgs {
			if strings.Contains(m, "1 shipped, 1 failed") {
				n++
			}
		}
		return n
	}
	say("bob", "train board web 4")
	say("ana", "train board api 4")
	say("ana", "train depart daily now")
	deadline := time.Now().Add(30 * time.Second)
	for summaries() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the departure sent off early did not end within 30s; channel:\n%s", strings.Join(sys.out.msgs, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	sys.eng.Wait()
	snap.Check(t)
}
