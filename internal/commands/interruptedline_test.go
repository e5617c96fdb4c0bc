package commands_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestInterruptedLineHasNoDuration: an interrupted run's record ends when
// a bot marked it so, which may be days after its process died: history
// and status say when that was, not a duration it never took (stats and
// the duration metric leave it out for that reason).
func TestInterruptedLineHasNoDuration(t *testing.T) {
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	// Shown in the bot's zone, the fixture's: the machine's.
	at := func(t time.Time) string { return t.In(time.Local).Format("2006-01-02 15:04:05 MST") }
	tests := []struct {
		name    string
		outcome deploy.Outcome
		want    string
		notWant string
	}{
		{name: "interrupted", outcome: deploy.OutcomeInterrupted, want: "interrupted by bob at " + at(start) + ", marked interrupted at " + at(start.Add(72*time.Hour)), notWant: "72h"},
		{name: "succeeded", outcome: deploy.OutcomeSucceeded, want: "succeeded by bob at " + at(start) + ", 72h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			r := &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
				Requester: "bob", Outcome: tt.outcome, Started: start, Finished: start.Add(72 * time.Hour),
				Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostActive, Current: "2", Previous: "1"}}}
			if err := f.store.PutRecord(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			_, out, _ := f.do("carl", "history web")
			got := out.last()
			if !strings.Contains(got, tt.want) {
				t.Errorf("history:\n%s\nwant it to contain %q", got, tt.want)
			}
			if tt.notWant != "" && strings.Contains(got, tt.notWant) {
				t.Errorf("history:\n%s\nwant no %q", got, tt.notWant)
			}
		})
	}
}
