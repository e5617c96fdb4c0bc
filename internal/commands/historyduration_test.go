package commands_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestHistoryGivesTheReportsDuration: /history gives a run's duration as
// its final message does, to the same figure: rounded to 100 ms, a
// deploy reported as taking 860ms read 900ms in the history, and one of
// 1.01s read 1s.
func TestHistoryGivesTheReportsDuration(t *testing.T) {
	tests := []struct {
		took time.Duration
		want string
	}{
		{860 * time.Millisecond, "860ms"},
		{1010 * time.Millisecond, "1.01s"},
		{1234567 * time.Microsecond, "1.23s"},
		{62*time.Second + 345*time.Millisecond, "1m2.35s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			f := newServiceFixture(t)
			at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
			rec := &deploy.Record{ID: "d-1", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "1", Requester: "bob",
				Started: at, Finished: at.Add(tt.took), Outcome: deploy.OutcomeSucceeded}
			if err := f.store.PutRecord(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			report := commands.FinalMessage(rec, rec.Finished).Title
			if !strings.Contains(report, "("+tt.want+")") {
				t.Fatalf("final message: got %q, want it to say (%s)", report, tt.want)
			}
			_, out, _ := f.do("bob", "history web prod")
			if got, want := out.last(), fmt.Sprintf("succeeded by bob at %s, %s", at.In(time.Local).Format("2006-01-02 15:04:05 MST"), tt.want); !strings.Contains(got, want) {
				t.Errorf("history: got\n%s\nwant a line with %q, as the final message %q", got, want, report)
			}
		})
	}
}
