package postdeploy_test

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/testenv/leakcheck"
)

// TestWatchesLeaveNothing deploys again and again, each deploy watched
// until its watch ends, some of them spiking and rolled back by
// themselves, and checks that once they have ended, with the watcher
// still running, nothing of theirs is left. Not parallel: other tests'
// goroutines would count.
func TestWatchesLeaveNothing(t *testing.T) {
	f := newAutoRollbackFixture(t)
	settle := func() {
		f.w.Wait()
		f.eng.Wait()
		f.fs.srv.CloseClientConnections()
	}
	f.run("1")
	settle()
	snap := leakcheck.Take(t)
	current := "1"
	for i := range 6 {
		spike := i%3 == 2
		f.fs.deployAt = f.clk.Now()
		f.fs.spiking.Store(spike)
		next := map[string]string{"1": "2", "2": "1"}[current]
		f.run(next)
		settle()
		current = next
		if spike {
			current = map[string]string{"1": "2", "2": "1"}[next]
			// The automatic rollback locked web/production.
			if _, err := f.st.DeleteLock(t.Context(), "web", "production"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := f.out.titles(); got == "" {
		t.Error("no posts: the spikes were not seen, want them rolled back")
	}
	snap.Check(t)
}
