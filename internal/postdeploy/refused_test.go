package postdeploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestSpikeRollbackRefusedIsToldOnce: an automatic rollback the engine
// refuses (here, the release it goes back to is gone from the host) was
// announced "rolling back now", then "did not start": two messages that
// contradict each other. The spike is posted once, saying that the
// automatic rollback did not start and why, and what people can do; the
// refusal is audited as refused, with its reason.
func TestSpikeRollbackRefusedIsToldOnce(t *testing.T) {
	f := newAutoRollbackFixture(t)
	f.run("1")
	f.eng.Wait()
	f.w.Wait()
	f.before = func() {
		if err := os.RemoveAll(filepath.Join(f.dir, "srv/web/releases/1")); err != nil {
			t.Error(err)
		}
	}
	f.fs.deployAt = f.clk.Now()
	f.fs.spiking.Store(true)
	f.run("2")
	f.w.Wait()
	f.eng.Wait()
	if current, _ := os.Readlink(filepath.Join(f.dir, "srv/web/current")); current != "releases/2" {
		t.Errorf("current after the refused rollback: got %q, want releases/2", current)
	}
	got := f.out.titles()
	for _, not := range []string{"rolling back now", "Rolled back", "Automatic rollback of web/production did not start"} {
		if strings.Contains(got, not) {
			t.Errorf("posts: got %q, for a rollback that never started:\n%s", not, got)
		}
	}
	const spike = "📈 Error spike after web 2 to production"
	if n := strings.Count(got, spike); n != 1 {
		t.Fatalf("posts: got the spike %d times, want once:\n%s", n, got)
	}
	var told string
	for _, line := range strings.Split(got, "\n") {
		if strings.HasPrefix(line, spike) {
			told = line
		}
	}
	for _, want := range []string{
		"auto_rollback is on for web/production, but the automatic rollback did not start: ",
		"nothing rolls this deploy back by itself now; roll it back yourself: the Roll back to 1 button, or ",
		"rollback web production to 1 from 2",
	} {
		if !strings.Contains(told, want) {
			t.Errorf("the spike's post lacks %q:\n%s", want, told)
		}
	}
	f.out.mu.Lock()
	var buttons int
	for _, m := range f.out.msgs {
		if strings.HasPrefix(m.Title, spike) {
			buttons = len(m.Buttons)
		}
	}
	f.out.mu.Unlock()
	if buttons != 1 {
		t.Errorf("the spike's post: got %d buttons, want its Rollback button", buttons)
	}
	entries, err := f.st.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var refused bool
	for _, e := range audit.Fold(entries) {
		refused = refused || (e.Action == "rollback" && e.Decision == audit.Refused && strings.HasPrefix(e.Reason, "automatic rollback refused: "))
	}
	if !refused {
		t.Errorf("audit: want the automatic rollback refused, with its reason:\n%+v", entries)
	}
	recs, err := f.st.Records(context.Background(), deploy.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Kind == deploy.KindRollback {
			t.Errorf("records: got rollback %s, want none", r.ID)
		}
	}
}
