package commands_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/server"
)

// unknownID is a deploy id no test deploy has.
const unknownID = "20261123-124158-b25a0a"

// probeReply is the outcome and reply of one command naming a deploy id,
// the id written ID: what tells one id from another.
type probeReply struct {
	failed bool
	code   string
	level  chat.Level
	text   string
}

func probe(res commands.Outcome, out *recorder, id string) probeReply {
	m := out.lastMessage()
	return probeReply{failed: res.Failed, code: string(res.Code), level: m.Level, text: strings.ReplaceAll(chat.Text(m), id, "ID")}
}

// countRefusals has f's service count its refusals in a registry of its
// own, and returns a check that the command run counted one refusal under
// want, and none under any other reason.
func countRefusals(f *serviceFixture) func(t *testing.T, run func(), want string) {
	reg := prometheus.NewRegistry()
	m := server.NewDeployMetrics(reg, func(ctx context.Context) (int, error) { return 0, nil }, slog.New(slog.DiscardHandler))
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: f.store, Policy: f.policy, Refusals: m})
	return func(t *testing.T, run func(), want string) {
		t.Helper()
		before := map[string]float64{}
		for _, r := range commands.RefusalReasons {
			before[r] = refused(t, reg, r)
		}
		run()
		for _, r := range commands.RefusalReasons {
			n := before[r]
			if r == want {
				n++
			}
			if got := refused(t, reg, r); got != n {
				t.Errorf("switchman_commands_refused_total{reason=%q}: got %v, want %v", r, got, n)
			}
		}
	}
}

// refusedEntries counts the refused audit entries of user's command text.
func refusedEntries(t *testing.T, f *serviceFixture, user, text string) int {
	t.Helper()
	entries, err := f.store.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range audit.Fold(entries) {
		if e.User == user && e.Command == text && e.Decision == audit.Refused {
			n++
		}
	}
	return n
}

// TestRollbackOfADeployItsUserMayNotRollBack: `rollback DEPLOY-ID` by a
// user who may not roll back that deploy's app and env is refused as
// one of an id nobody used: the reply told a deploy that exists, and its
// app and env, from one that does not. Each is audited, and counted as
// what it is: forbidden, or not found (a forbidden one was counted as not
// found, which hid from operators the users refused).
func TestRollbackOfADeployItsUserMayNotRollBack(t *testing.T) {
	f := newServiceFixtureFrom(t, serviceYAML, &acl.Rules{
		Users: []string{"ana", "bob", "carl", "dana"},
		Roles: map[string][]acl.Action{"admin": {acl.Admin}, "deployer": {acl.Deploy, acl.Rollback, acl.Cancel, acl.Lock, acl.Unlock}},
		Bindings: []acl.Binding{{Role: "admin", Users: []string{"ana"}}, {Role: "deployer", Users: []string{"bob"}},
			{Role: "deployer", Users: []string{"dana"}, On: []string{"api"}}},
	})
	counted := countRefusals(f)
	if _, out, rec := f.do("bob", "deploy web 1"); rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("deploy: %q, %+v", out.last(), rec)
	}
	_, out, d := f.do("bob", "deploy web 2")
	if d == nil || d.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("deploy: %q, %+v", out.last(), d)
	}
	tests := []struct {
		name, user string
	}{
		{"no permission anywhere", "carl"},
		{"permission on another app only", "dana"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []probeReply
			for _, id := range []string{d.ID, unknownID} {
				var (
					res commands.Outcome
					out *recorder
					rec *deploy.Record
				)
				reason := string(errs.Forbidden)
				if id == unknownID {
					reason = string(errs.NotFound)
				}
				counted(t, func() { res, out, rec = f.do(tt.user, "rollback "+id) }, reason)
				if rec != nil || res.DeployID != "" {
					t.Fatalf("rollback %s by %s: started %s", id, tt.user, res.DeployID)
				}
				got = append(got, probe(res, out, id))
				if n := refusedEntries(t, f, tt.user, "rollback "+id); n != 1 {
					t.Errorf("audit: got %d refused entries of %s's rollback %s, want 1", n, tt.user, id)
				}
			}
			if !got[0].failed {
				t.Fatalf("rollback of %s by %s: got %+v, want it refused", d.ID, tt.user, got[0])
			}
			if got[0] != got[1] {
				t.Errorf("refusals: got %+v for a deploy of web/prod and %+v for an unknown id, want them alike", got[0], got[1])
			}
			if strings.Contains(got[0].text, "web") {
				t.Errorf("refusal: got %q, want it not to name the deploy's app", got[0].text)
			}
		})
	}
	// Who may roll it back is told what is wrong with an id.
	if r, out, _ := f.do("bob", "rollback "+unknownID); !r.Failed || !strings.Contains(out.last(), "there is no deploy "+unknownID) {
		t.Errorf("an unknown deploy: failed %v, %q", r.Failed, out.last())
	}
}

// TestConfirmOfADeployItsUserMayNotConfirm: `deploy confirm ID` and
// `deploy abort ID` by a user who may not answer that deploy's prompt
// are refused as of an id nobody used, whether the deploy waits at its
// prompt, has ended or does not exist: the replies told them apart,
// named the deploy's app and env and how a deploy ended. Each is
// audited, and counted as forbidden, unless the id names no deploy.
func TestConfirmOfADeployItsUserMayNotConfirm(t *testing.T) {
	f := newServiceFixtureFrom(t, askYAML, nil)
	counted := countRefusals(f)
	// A deploy that ended: bob aborts it at its prompt.
	ended := newRecorder()
	if res := f.svc.Handle(context.Background(), commands.Request{User: "bob", Text: "deploy web 1"}, ended); res.Failed {
		t.Fatalf("deploy: %q", ended.last())
	}
	endedID := waitConfirm(t, ended)
	if res, out, _ := f.do("bob", "deploy abort "+endedID); res.Failed {
		t.Fatalf("abort: %q", out.last())
	}
	<-ended.finished
	waiting := newRecorder()
	if res := f.svc.Handle(context.Background(), commands.Request{User: "bob", Text: "deploy web 1"}, waiting); res.Failed {
		t.Fatalf("deploy: %q", waiting.last())
	}
	waitingID := waitConfirm(t, waiting)
	t.Cleanup(func() {
		f.do("bob", "deploy abort "+waitingID)
		<-waiting.finished
	})
	for _, verb := range []string{"confirm", "abort"} {
		t.Run(verb, func(t *testing.T) {
			var got []probeReply
			ids := []string{waitingID, endedID, unknownID}
			for _, id := range ids {
				text := "deploy " + verb + " " + id
				var (
					res commands.Outcome
					out *recorder
				)
				reason := string(errs.Forbidden)
				if id == unknownID {
					reason = string(errs.NotFound)
				}
				counted(t, func() { res, out, _ = f.do("carl", text) }, reason)
				got = append(got, probe(res, out, id))
				if n := refusedEntries(t, f, "carl", text); n != 1 {
					t.Errorf("audit: got %d refused entries of %q, want 1", n, text)
				}
			}
			if !got[0].failed {
				t.Fatalf("%s of a waiting deploy by carl: got %+v, want it refused", verb, got[0])
			}
			for i := range ids[1:] {
				if got[i+1] != got[0] {
					t.Errorf("refusals: got %+v for %s, %+v for a deploy waiting at its prompt, want them alike", got[i+1], []string{"an ended deploy", "an unknown id"}[i], got[0])
				}
			}
			if strings.Contains(got[0].text, "web") {
				t.Errorf("refusal: got %q, want it not to name the deploy's app", got[0].text)
			}
		})
	}
}
