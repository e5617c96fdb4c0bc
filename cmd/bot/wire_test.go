package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/train"
)

// TestInterruptedMessageHosts: the report of an interrupted deploy shows
// each host where its record leaves it. A host the deploy lost during its
// switch and nobody could read since may point at either release, or, on
// its first release, at the build or at none yet: it is not shown on the
// release it left as if it certainly still ran it. One recovery could not
// reach is shown unreachable, with the release the run last recorded for
// it (either release, when it was switching). What it was running on
// the hosts it was activating may not have stopped with it: that is said,
// and that the next run stops it; of one the recovery could not reach too
// (lost in the middle of its step), which may have hung there and go on
// with it once back.
func TestInterruptedMessageHosts(t *testing.T) {
	r := &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Outcome: deploy.OutcomeInterrupted, Error: "the process running this deploy (bot-1) stopped before it finished",
		Hosts: []deploy.HostResult{
			{Host: "web1", State: deploy.HostActive, Current: "2", Previous: "1", Switched: true},
			{Host: "web2", State: deploy.HostActivating, Current: "1", Switching: "2"},
			{Host: "web3", State: deploy.HostActivating, Switching: "2"},
			{Host: "web4", State: deploy.HostPending},
			{Host: "web5", State: deploy.HostUnreachable, Current: "1", Switching: "2", Error: "dial tcp: connection refused"},
			{Host: "web6", State: deploy.HostUnreachable, Current: "1", Error: "dial tcp: connection refused"},
			// Activating when the run died, and not reached since.
			{Host: "web7", State: deploy.HostUnreachable, Current: "2", Switched: true, Lost: true, Error: "no answer within 10s"},
			// Refused, or hung, at recovery: not read either.
			{Host: "web8", State: deploy.HostFailed, Current: "1", Unread: true, Error: "host key mismatch"},
			// Failed in the run, and read at recovery.
			{Host: "web9", State: deploy.HostFailed, Current: "1", Error: "health check failed"},
		}}
	want := []chat.Field{
		{Label: "web1", Value: "on 2"},
		{Label: "web2", Value: "on 1 or 2"},
		{Label: "web3", Value: "on 2 or no release yet"},
		{Label: "web4", Value: "on none"},
		{Label: "web5", Value: "unreachable, last seen on 1 or 2: dial tcp: connection refused"},
		{Label: "web6", Value: "unreachable, last seen on 1: dial tcp: connection refused"},
		{Label: "web7", Value: "unreachable, last seen on 2: no answer within 10s"},
		{Label: "web8", Value: "could not be read, last seen on 1: host key mismatch"},
		{Label: "web9", Value: "on 1"},
	}
	m := interruptedMessage(r)
	if !slices.Equal(m.Fields, want) {
		t.Errorf("fields:\ngot  %q\nwant %q", m.Fields, want)
	}
	// The hosts it was activating may still run what it began there,
	// until the next run stops it.
	if busy := "what the deploy had begun on web2, web3, web7 (a switch, a restart, a health check) may still be running there: the next deploy or rollback of web/prod stops it there before it changes anything"; !slices.Contains(m.Lines, busy) {
		t.Errorf("lines %q: want one saying %q", m.Lines, busy)
	}
}

// TestInterruptedMessageTitle: the report of an interrupted run is marked
// once, by its level (the console's ✖, Slack's ❌, Discord's red), not by
// a sign of its own in the title as well.
func TestInterruptedMessageTitle(t *testing.T) {
	tests := []struct {
		kind deploy.Kind
		want string
	}{
		{deploy.KindDeploy, "✖ deploy 20261123-120000-abcdef of web 2 to prod was interrupted: the process stopped\n"},
		{deploy.KindRollback, "✖ rollback 20261123-120000-abcdef of web 2 to prod was interrupted: the process stopped\n"},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			r := &deploy.Record{ID: "20261123-120000-abcdef", Kind: tt.kind, App: "web", Env: "prod", Build: "2", Previous: "1",
				Outcome: deploy.OutcomeInterrupted, Error: "the process stopped"}
			m := interruptedMessage(r)
			// Slack and Discord show the title as it is, after their own
			// mark of the level.
			if m.Level != chat.Failure || !strings.HasPrefix(m.Title, string(tt.kind)+" ") {
				t.Errorf("got level %s, title %q, want %s and the title starting with %q", m.Level, m.Title, chat.Failure, tt.kind)
			}
			if got, _, _ := strings.Cut(chat.Text(m), "  "); got != tt.want {
				t.Errorf("console title: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRecoveredRunIsAudited: a run whose process died is marked
// interrupted by the next start, and its end is in the audit log, as the
// end of every other run is: the entry its own process would have written
// as it finished died with it.
func TestRecoveredRunIsAudited(t *testing.T) {
	dir := t.TempDir()
	sys := startSystem(t, writeWebConfig(t, dir, "store:\n  path: state.db\n"))
	// What a process killed in the middle of a deploy leaves behind.
	dead := &deploy.Record{ID: "20261123-120000-abcdef", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "alice", Platform: "console", Channel: "console", Started: time.Now().Add(-time.Minute),
		Outcome: deploy.OutcomeRunning, Hosts: []deploy.HostResult{{Host: "localhost", State: deploy.HostActivating}}, Owner: "gone:1"}
	if err := sys.store.PutRecord(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	if err := sys.recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	rec, err := sys.store.Record(t.Context(), dead.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != deploy.OutcomeInterrupted {
		t.Fatalf("record after recovery: got outcome %q, want %q", rec.Outcome, deploy.OutcomeInterrupted)
	}
	entries, err := sys.store.Audit(t.Context(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var got []audit.Entry
	for _, e := range entries {
		if e.DeployID == dead.ID {
			got = append(got, e)
		}
	}
	if len(got) != 1 {
		t.Fatalf("audit entries of deploy %s: got %+v, want one", dead.ID, got)
	}
	e := got[0]
	if e.Command != "deploy 2 web/prod finished: interrupted" || e.Decision != audit.Event || e.User != "alice" ||
		e.Platform != "console" || e.App != "web" || e.Env != "prod" || e.Reason != rec.Error {
		t.Errorf("audit entry: got %+v, want the event \"deploy 2 web/prod finished: interrupted\" by alice on console with the record's error %q", e, rec.Error)
	}
}

// waitingOutput is a command's output that hands over the record of the
// run the command started once it ends.
type waitingOutput struct{ finished chan *deploy.Record }

func (o waitingOutput) Reply(chat.Message) {}

func (o waitingOutput) Progress(ev deploy.Event) {
	if ev.Kind == deploy.EventFinished {
		o.finished <- ev.Record
	}
}

// TestRollbackReplacingALockIsAudited: the lock a rollback leaves on its
// app+env replaces a person's lock of the same scope. Its reason quotes
// that lock, but a reason goes when the lock is lifted: the audit log
// says, as an event of the bot's, whose lock was replaced and what it
// was, with either store.
func TestRollbackReplacingALockIsAudited(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) string // the config's store: section
	}{
		{"embedded", func(*testing.T) string { return "store:\n  path: state.db\n" }},
		{"redis", func(t *testing.T) string {
			return fmt.Sprintf("store:\n  redis:\n    url: %s\n", redisserver.Start(t).URL())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := writeWebConfig(t, dir, tc.store(t))
			for _, b := range []string{"1", "2"} {
				artifacttest.Publish(t, filepath.Join(dir, "builds", "web-"+b+".tar.gz"), tarballOf(t, b))
			}
			sys := startSystem(t, file)
			t.Cleanup(sys.engine.Wait)
			do := func(text string) *deploy.Record {
				t.Helper()
				out := waitingOutput{finished: make(chan *deploy.Record, 1)}
				res := sys.service.Handle(t.Context(), commands.Request{User: "alice", Platform: "console", Channel: "console", Text: text}, out)
				if res.Failed {
					t.Fatalf("%q failed", text)
				}
				if res.DeployID == "" {
					return nil
				}
				select {
				case rec := <-out.finished:
					return rec
				case <-time.After(30 * time.Second):
					t.Fatalf("%q: the run did not finish", text)
				}
				return nil
			}
			do("lock deploys web prod for 2h freeze")
			held, err := sys.store.Locks(t.Context())
			if err != nil || len(held) != 1 {
				t.Fatalf("locks: %+v, %v; want alice's", held, err)
			}
			do("deploy web 1")
			do("deploy web 2")
			rb := do("rollback web prod")
			if rb == nil || rb.Outcome != deploy.OutcomeSucceeded {
				t.Fatalf("rollback: %+v", rb)
			}
			entries, err := sys.store.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}
			var got []audit.Entry
			for _, e := range entries {
				if e.Action == "lock" && e.Decision == audit.Event {
					got = append(got, e)
				}
			}
			want := audit.Entry{User: config.BotUser, Platform: "console", Channel: "console",
				Command: "alice's lock on web/prod replaced by the bot's lock of rollback " + rb.ID,
				Action:  "lock", App: "web", Env: "prod", Decision: audit.Event, DeployID: rb.ID}
			if len(got) != 1 {
				t.Fatalf("lock events in the audit log: got %+v, want one: %q", got, want.Command)
			}
			e := got[0]
			e.Seq, e.Time, e.Reason = 0, time.Time{}, ""
			if e != want {
				t.Errorf("lock event: got %+v, want %+v", e, want)
			}
			if r := got[0].Reason; !strings.HasPrefix(r, "was locked by alice since ") || !strings.Contains(r, ": freeze (until ") {
				t.Errorf("lock event reason: got %q, want alice's lock as it was, with its expiry", r)
			}
		})
	}
}

// writeWebConfig writes, in dir, a config of the store section store and
// one app, web, deployed to this machine by alice, an admin; it returns
// the file's path.
func writeWebConfig(t *testing.T, dir, store string) string {
	t.Helper()
	file := filepath.Join(dir, "switchman.yaml")
	yaml := store + `users:
  alice: {}
admins: [alice]
apps:
  web:
    artifact:
      path: builds/web-{build}.tar.gz
    path: srv/web
    restart: 'true'
    health:
      command: 'true'
    environments:
      prod:
        hosts: [localhost]
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// startSystem loads the config file and starts the bot of it, closed
// when t ends.
func startSystem(t *testing.T, file string) *system {
	t.Helper()
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	sys, err := start(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.close)
	return sys
}

// replyText keeps the replies to one command, as text.
type replyText struct{ strings.Builder }

func (r *replyText) Reply(m chat.Message) { r.WriteString(chat.Text(m) + "\n") }
func (*replyText) Progress(deploy.Event)  {}

// TestCarsAboardWithEveryTrainRemoved: with no train left in the config,
// the cars still aboard a removed one are listed by train and taken off
// by train leave. No scheduler was built then, and both answered that no
// trains are configured.
func TestCarsAboardWithEveryTrainRemoved(t *testing.T) {
	dir := t.TempDir()
	sys := startSystem(t, writeWebConfig(t, dir, "store:\n  path: state.db\n"))
	if _, err := sys.store.Board(t.Context(), "nightly", train.Car{App: "web", Build: "7", Env: "prod", User: "alice", Boarded: time.Now()}, 0, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text   string
		failed bool
		want   string // in the reply
	}{
		{"train", false, `⚠ nightly is no longer in the config: its cars never leave: web 7 (@alice); take each off with train leave web on "nightly"`},
		{"train leave web on nightly", true, "no trains are configured"},
		{`train leave web on "nightly"`, false, "web 7 (@alice) left the nightly train, which is no longer in the config"},
		{"train", false, "No trains are configured"},
	}
	for _, tc := range tests {
		out := &replyText{}
		res := sys.service.Handle(t.Context(), commands.Request{User: "alice", Platform: "console", Channel: "console", Text: tc.text}, out)
		if res.Failed != tc.failed || !strings.Contains(out.String(), tc.want) {
			t.Errorf("%s: got failed %v, reply %q; want failed %v, a reply with %q", tc.text, res.Failed, out.String(), tc.failed, tc.want)
		}
	}
}
