package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// lockRefused is a lock store whose lock writes fail.
type lockRefused struct{ deploy.LockStore }

func (lockRefused) ReplaceLock(context.Context, *deploy.Lock, deploy.Lock) (*deploy.Lock, bool, error) {
	return nil, false, errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

// TestRollbackLockNoteOffersAWholeCommand: the note a rollback posts of
// its lock offers the command that undoes it, or, when the lock could not
// be written, the one that takes it, marked as the bot's suggestion,
// written as typed, and whole: it parses back to that command. The lock
// offered had no reason, which a lock needs, and the unlock a leading
// slash.
func TestRollbackLockNoteOffersAWholeCommand(t *testing.T) {
	for _, tc := range []struct {
		name    string
		refused bool
		note    string // what the note says
		want    commands.Command
	}{
		{"locked", false, "web/prod is locked: ", commands.Command{Verb: commands.VerbUnlock, App: "web", Env: "prod"}},
		{"lock refused", true, "could not lock web/prod before switching its hosts", commands.Command{Verb: commands.VerbLock, App: "web", Env: "prod", Reason: "rolled back"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) {
				if tc.refused {
					o.Locks = lockRefused{o.Locks}
				}
			})
			f.build("1")
			f.build("2")
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
			f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
			var (
				mu    sync.Mutex
				notes []string
			)
			done := make(chan *deploy.Record, 1)
			_, err := f.engine.Rollback(context.Background(), deploy.Request{App: "web", Env: "prod", Requester: "ana"}, func(ev deploy.Event) {
				if ev.Kind == deploy.EventNote {
					mu.Lock()
					notes = append(notes, ev.Text)
					mu.Unlock()
				}
				if ev.Kind == deploy.EventFinished {
					done <- ev.Record
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			<-done
			mu.Lock()
			defer mu.Unlock()
			var note string
			for _, n := range notes {
				if strings.HasPrefix(n, tc.note) {
					note = n
				}
			}
			if note == "" {
				t.Fatalf("notes %q; want one starting %q", notes, tc.note)
			}
			var marked []string
			suggest.Rewrite(note, func(cmd string) string { marked = append(marked, cmd); return cmd })
			if len(marked) != 1 {
				t.Fatalf("note %q marks %q; want one command", note, marked)
			}
			if strings.HasPrefix(marked[0], "/") {
				t.Errorf("suggestion %q is written with a slash; suggestions are written as typed", marked[0])
			}
			r := commands.Parse(marked[0], commands.CatalogOf(f.cfg), commands.Options{})
			if r.Kind != commands.Run || r.Cmd.Verb != tc.want.Verb || r.Cmd.App != tc.want.App || r.Cmd.Env != tc.want.Env || r.Cmd.Reason != tc.want.Reason {
				t.Errorf("suggestion %q parses to %s %+v (%s); want %+v", marked[0], r.Kind, r.Cmd, r.Reply, tc.want)
			}
		})
	}
}
