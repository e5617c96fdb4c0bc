package deploy_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestSwitchingBackOnlyWhenAHostSwitched: a deploy stopped after a host
// switched says it switches back; one stopped before any host switched
// (a cancel after the migrations) says that nothing was switched, in its
// progress and in its report, and never that it switches back.
func TestSwitchingBackOnlyWhenAHostSwitched(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T) (*fixture, *deploy.Record)
		note string // the note that says how the deploy stops
		err  string // in the record's error
	}{
		{"cancelled before any switch", func(t *testing.T) (*fixture, *deploy.Record) {
			started := filepath.Join(t.TempDir(), "started")
			yaml := strings.Replace(failingHealth(fixtureYAML), `run: 'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`,
				"run: 'touch "+started+"; sleep 1'", 1)
			f := newFixtureFrom(t, fmt.Sprintf(yaml, "true"), &local.Transport{})
			f.build("1")
			return f, cancelInMigration(t, f, started)
		}, "stopping: cancelled by bob; nothing was switched", "cancelled by bob; nothing was switched"},
		{"failed after its switch", func(t *testing.T) (*fixture, *deploy.Record) {
			f := newFailingFixture(t)
			f.build("1")
			f.build("2", tarEntry{name: "BROKEN", body: "x"})
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			return f, f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeReverted)
		}, "switching back: health on localhost", "switched back to 1 on localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, rec := tt.run(t)
			if !f.sawNote(tt.note) {
				t.Errorf("notes: got %q, want one saying %q", notes(f), tt.note)
			}
			switched := strings.HasPrefix(tt.note, "switching back")
			if !switched && (f.sawNote("switching back") || strings.Contains(rec.Error, "switching back")) {
				t.Errorf("notes %q, error %q: want no switching back, nothing was switched", notes(f), rec.Error)
			}
			if !strings.Contains(rec.Error, tt.err) {
				t.Errorf("error: got %q, want it to say %q", rec.Error, tt.err)
			}
		})
	}
}

func notes(f *fixture) []string {
	var out []string
	for _, ev := range f.eventsNow() {
		if ev.Kind == deploy.EventNote {
			out = append(out, ev.Text)
		}
	}
	return out
}
