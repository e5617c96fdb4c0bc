package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// deploySlash is /deploy app:web build:1337 env:prod.
func deploySlash(id, userID string) map[string]any {
	return slashCommand(id, userID, "deploy", opt("app", 3, "web"), opt("build", 3, "1337"), opt("env", 3, "prod"))
}

func TestDeployShowsProgressInOneMessage(t *testing.T) {
	hs := newHarness(t, deployHandler("d-1"), nil)
	resp := responseOf(t, hs.post(t, deploySlash("401", "111")))
	if want := map[string]any{"type": 5.0}; !reflect.DeepEqual(resp, want) {
		t.Fatalf("response %v, want %v (deferred, visible to the channel)", resp, want)
	}
	out := hs.h.waitOut(t, 1)
	if got, want := hs.h.Requests()[0], (commands.Request{User: "ana", Platform: "discord", Channel: testChannel, Text: "deploy web 1337 to prod"}); got != want {
		t.Fatalf("request %+v, want %+v", got, want)
	}
	hs.fd.waitCalls(t, 1) // the acknowledgement

	started := hs.clock.Now()
	out.Progress(deploy.Event{Kind: deploy.EventStarted, Time: started, DeployID: "d-1", Record: record("d-1", deploy.KindDeploy, deploy.OutcomeRunning, started)})
	hs.fd.waitCalls(t, 2)
	out.Progress(deploy.Event{Kind: deploy.EventStep, Time: started, DeployID: "d-1", Host: "web-1", Step: deploy.StepDeliver})
	hs.fd.waitCalls(t, 3)
	out.Progress(deploy.Event{Kind: deploy.EventStep, Time: started, DeployID: "d-1", Host: "web-1", Step: deploy.StepDeliver, Done: true})
	hs.fd.waitCalls(t, 4)
	out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: started.Add(42 * time.Second), DeployID: "d-1", Record: record("d-1", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
	hs.fd.waitCalls(t, 5)
	hs.shutdown(t)

	calls := hs.fd.Calls()
	golden(t, "flows/deploy.json", transcript(t, calls))
	for i, c := range calls {
		if c.Method != http.MethodPatch || c.Path != "/api/v9/webhooks/"+testAppID+"/"+interactionToken("401")+"/messages/@original" {
			t.Errorf("call %d is %s %s, want PATCH of @original", i, c.Method, c.Path)
		}
		if i > 0 && c.at.Sub(calls[i-1].at) < hs.options.EditInterval {
			t.Errorf("edits %d and %d are %s apart, want at least %s", i-1, i, c.at.Sub(calls[i-1].at), hs.options.EditInterval)
		}
	}
	final := string(calls[len(calls)-1].Body)
	for _, want := range []string{`"custom_id":"rollback web prod from 1337"`, `"label":"Rollback"`, `"style":4`, `now runs 1337`} {
		if !strings.Contains(final, want) {
			t.Errorf("final edit %s lacks %s", final, want)
		}
	}
}

func TestEventsDuringHandleAreShownOnce(t *testing.T) {
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		started := time.Date(2025, 3, 14, 14, 2, 0, 0, time.UTC)
		out.Progress(deploy.Event{Kind: deploy.EventStarted, Time: started, DeployID: "d-2", Record: record("d-2", deploy.KindDeploy, deploy.OutcomeRunning, started)})
		out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: started, DeployID: "d-2", Record: record("d-2", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
		out.Reply(chat.Message{Level: chat.Info, Title: "Deploying web 1337 to prod (deploy d-2)"})
		return commands.Outcome{DeployID: "d-2"}
	}}
	hs := newHarness(t, h, nil)
	responseOf(t, hs.post(t, deploySlash("402", "111")))
	hs.h.waitOut(t, 1)
	hs.shutdown(t)
	calls := hs.fd.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1 (the final state): %s", len(calls), transcript(t, calls))
	}
	if !strings.Contains(string(calls[0].Body), "rollback web prod") {
		t.Errorf("the only edit is not the final state: %s", calls[0].Body)
	}
}

func TestRefusedDeployIsEphemeral(t *testing.T) {
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Level: chat.Failure, Title: "web/prod is locked: by ana since 14:02 (db maintenance)"})
		return commands.Outcome{Failed: true}
	}}
	hs := newHarness(t, h, nil)
	resp := responseOf(t, hs.post(t, deploySlash("403", "333")))
	if resp["type"] != 5.0 {
		t.Fatalf("response %v, want type 5", resp)
	}
	hs.h.waitOut(t, 1)
	if got := hs.h.Requests()[0].User; got != "discord:333" {
		t.Errorf("user %q, want discord:333 for an unmapped Discord id", got)
	}
	hs.shutdown(t)
	calls := hs.fd.Calls()
	golden(t, "flows/refused.json", transcript(t, calls))
	if len(calls) != 2 || calls[0].Method != http.MethodDelete || calls[1].Method != http.MethodPost {
		t.Fatalf("calls %s, want DELETE @original then POST follow-up", transcript(t, calls))
	}
	var body struct{ Flags int }
	if err := json.Unmarshal(calls[1].Body, &body); err != nil || body.Flags != 64 {
		t.Errorf("follow-up flags %d (%v), want 64 (ephemeral)", body.Flags, err)
	}
}

func TestStatusReplyIsEphemeral(t *testing.T) {
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Level: chat.Info, Title: "web", Fields: []chat.Field{{Label: "prod", Value: "1337"}, {Label: "staging", Value: "1338"}}})
		return commands.Outcome{}
	}}
	hs := newHarness(t, h, nil)
	resp := responseOf(t, hs.post(t, slashCommand("404", "222", "status", opt("app", 3, "web"))))
	data, _ := resp["data"].(map[string]any)
	if resp["type"] != 5.0 || data["flags"] != 64.0 {
		t.Fatalf("response %v, want type 5 with flags 64", resp)
	}
	hs.h.waitOut(t, 1)
	if got := hs.h.Requests()[0]; got.Text != "status web" || got.User != "bob" {
		t.Errorf("request %+v, want status web as bob", got)
	}
	hs.shutdown(t)
	golden(t, "flows/status.json", transcript(t, hs.fd.Calls()))
}

func TestButtonRunsAsTheClicker(t *testing.T) {
	h := &fakeHandler{fn: func(_ context.Context, req commands.Request, out commands.Output) commands.Outcome {
		if req.User != "bob" {
			out.Reply(chat.Message{Level: chat.Failure, Title: req.User + " may not rollback web/prod"})
			return commands.Outcome{Failed: true}
		}
		out.Reply(chat.Message{Level: chat.Warning, Public: true, Title: "Rolling back web/prod from 1337 to 1336 (rollback r-1)"})
		return commands.Outcome{}
	}}
	hs := newHarness(t, h, nil)
	resp := responseOf(t, hs.post(t, buttonClick("405", "222", "rollback web prod")))
	if want := map[string]any{"type": 5.0}; !reflect.DeepEqual(resp, want) {
		t.Fatalf("response %v, want %v", resp, want)
	}
	responseOf(t, hs.post(t, buttonClick("406", "333", "rollback web prod")))
	hs.h.waitOut(t, 2)
	hs.shutdown(t)
	reqs := hs.h.Requests()
	got := map[string]string{}
	for _, r := range reqs {
		if r.Text != "rollback web prod" || r.Platform != "discord" || r.Channel != testChannel {
			t.Errorf("request %+v, want the button's command from the channel", r)
		}
		got[r.User] = r.Text
	}
	if _, ok := got["bob"]; !ok {
		t.Errorf("no request as bob (Discord user 222): %+v", reqs)
	}
	if _, ok := got["discord:333"]; !ok {
		t.Errorf("no request as discord:333: %+v", reqs)
	}
	calls := hs.fd.Calls()
	var public, refused int
	for _, c := range calls {
		switch {
		case c.Method == http.MethodPatch && strings.Contains(c.Path, interactionToken("405")):
			public++
		case c.Method == http.MethodPost && strings.Contains(c.Path, interactionToken("406")) && strings.Contains(string(c.Body), `"flags":64`):
			refused++
		}
	}
	if public != 1 || refused != 1 {
		t.Errorf("calls %s: want bob's rollback shown in the channel and the refusal of 333 ephemeral", transcript(t, calls))
	}
}

func TestDuplicateInteractionRunsOnce(t *testing.T) {
	hs := newHarness(t, deployHandler("d-3"), nil)
	first := responseOf(t, hs.post(t, deploySlash("407", "111")))
	second := responseOf(t, hs.post(t, deploySlash("407", "111")))
	if first["type"] != 5.0 {
		t.Errorf("first response %v, want type 5", first)
	}
	data, _ := second["data"].(map[string]any)
	if second["type"] != 4.0 || data["flags"] != 64.0 || !strings.Contains(fmt.Sprint(data["embeds"]), "already handled") {
		t.Errorf("second response %v, want an ephemeral \"already handled\"", second)
	}
	out := hs.h.waitOut(t, 1)
	out.Progress(deploy.Event{Kind: deploy.EventFinished, DeployID: "d-3", Record: record("d-3", deploy.KindDeploy, deploy.OutcomeSucceeded, hs.clock.Now())})
	hs.shutdown(t)
	if n := len(hs.h.Requests()); n != 1 {
		t.Errorf("Handle ran %d times, want 1", n)
	}
}

// failingDedupe fails every duplicate check with err, errStore when nil.
type failingDedupe struct{ err error }

func (f failingDedupe) SetOnce(context.Context, string, time.Duration) (bool, error) {
	if f.err != nil {
		return false, f.err
	}
	return false, errStore
}

func TestDedupeFailureFailsClosed(t *testing.T) {
	hs := newHarness(t, deployHandler("d-4"), func(o *Options) { o.Dedupe = failingDedupe{} })
	resp := responseOf(t, hs.post(t, deploySlash("408", "111")))
	golden(t, "flows/dedupe_failure_response.json", indentJSON(t, resp))
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "State store unreachable; nothing was changed") || !strings.Contains(string(b), `"flags":64`) {
		t.Errorf("response %s, want the ephemeral state store message", b)
	}
	hs.shutdown(t)
	if n := len(hs.h.Requests()); n != 0 {
		t.Errorf("Handle ran %d times, want 0", n)
	}
	if calls := hs.fd.Calls(); len(calls) != 0 {
		t.Errorf("REST calls %s, want none", transcript(t, calls))
	}
	if logs := hs.logs.String(); strings.Contains(logs, interactionToken("408")) {
		t.Errorf("the logs hold the interaction token:\n%s", logs)
	}
}

// TestDedupeFailureIsAudited: an interaction refused because the
// duplicate check failed is audited with why; the response does not wait
// for the audit write, and one that fails is logged.
func TestDedupeFailureIsAudited(t *testing.T) {
	for _, tt := range []struct {
		name   string
		stuck  bool // the audit write does not answer
		err    error
		answer string // in the response
		reason string // in the audited refusal
	}{
		{name: "audited", err: errStore, answer: "State store unreachable; nothing was changed", reason: "state store unreachable"},
		{name: "audit write fails", stuck: true, err: errStore, answer: "State store unreachable; nothing was changed"},
		// A store that answers is said to refuse, as the commands say it.
		{name: "store refuses writes", err: fmt.Errorf("dedupe: %w", errRefusing),
			answer: "State store redis at 127.0.0.1:6379 refuses writes: OOM command not allowed when used memory",
			reason: "state store redis at 127.0.0.1:6379 refuses writes: OOM command not allowed when used memory > 'maxmemory' (found by the duplicate check); nothing was run"},
		{name: "store closed as the bot stops", err: fmt.Errorf("dedupe: %w", deploy.ErrStoreClosed),
			answer: "Switchman is stopping, so its state store is closed; nothing was changed", reason: "Switchman is stopping, so its state store is closed (found by the duplicate check)"},
		// Trying again does not help: the bot must be restarted.
		{name: "store reset", err: fmt.Errorf("dedupe: %w", deploy.ErrStoreReset),
			answer: "The state store was reset", reason: "state store reset"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := deployHandler("d-4")
			h.Stuck = tt.stuck
			hs := newHarness(t, h, func(o *Options) { o.Dedupe = failingDedupe{tt.err} })
			start := time.Now()
			resp := responseOf(t, hs.post(t, deploySlash("410", "111")))
			if took := time.Since(start); took > time.Second {
				t.Errorf("response took %s, want it not to wait for the audit write", took)
			}
			if b, _ := json.Marshal(resp); !strings.Contains(string(b), tt.answer) {
				t.Errorf("response %s, want it to say %q", b, tt.answer)
			}
			if tt.stuck {
				waitFor(t, "the failed audit write logged", func() bool {
					return strings.Contains(hs.logs.String(), "audit a refused discord interaction")
				})
				return
			}
			waitFor(t, "the refusal audited", func() bool { return len(h.Audited()) > 0 })
			got := h.Audited()
			if len(got) != 1 || got[0].User != "ana" || got[0].Platform != Platform || !strings.Contains(got[0].Text, "web") ||
				!strings.Contains(got[0].Refused, tt.reason) {
				t.Errorf("audited %+v, want one refusal of ana's deploy saying %q", got, tt.reason)
			}
		})
	}
}

func TestRateLimitedEditStillDeliversFinal(t *testing.T) {
	hs := newHarness(t, deployHandler("d-5"), nil)
	limited := false
	hs.fd.respond = func(c apiCall, n int) (int, string, bool) {
		if n == 1 { // the edit after the acknowledgement
			limited = true
			return http.StatusTooManyRequests, `{"message":"You are being rate limited.","retry_after":0.5,"global":false}`, true
		}
		return 0, "", false
	}
	responseOf(t, hs.post(t, deploySlash("409", "111")))
	out := hs.h.waitOut(t, 1)
	hs.fd.waitCalls(t, 1)
	started := hs.clock.Now()
	out.Progress(deploy.Event{Kind: deploy.EventStarted, Time: started, DeployID: "d-5", Record: record("d-5", deploy.KindDeploy, deploy.OutcomeRunning, started)})
	hs.fd.waitCalls(t, 2) // 429
	// While the editor waits out retry_after, the deploy finishes: the
	// latest state is what gets sent.
	out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: started, DeployID: "d-5", Record: record("d-5", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
	hs.fd.waitCalls(t, 3)
	hs.shutdown(t)
	calls := hs.fd.Calls()
	if !limited || len(calls) != 3 {
		t.Fatalf("calls %s, want ack, 429, final", transcript(t, calls))
	}
	if calls[1].Status != http.StatusTooManyRequests {
		t.Errorf("call 1 status %d, want 429", calls[1].Status)
	}
	if d := calls[2].at.Sub(calls[1].at); d < 500*time.Millisecond {
		t.Errorf("retried %s after the 429, want at least retry_after (500ms)", d)
	}
	if !strings.Contains(string(calls[2].Body), "rollback web prod") {
		t.Errorf("last edit is not the final state: %s", calls[2].Body)
	}
}

func TestProgressEditsAreCoalesced(t *testing.T) {
	hs := newHarness(t, deployHandler("d-6"), func(o *Options) { o.EditInterval = 300 * time.Millisecond })
	responseOf(t, hs.post(t, deploySlash("410", "111")))
	out := hs.h.waitOut(t, 1)
	hs.fd.waitCalls(t, 1)
	started := hs.clock.Now()
	out.Progress(deploy.Event{Kind: deploy.EventStarted, Time: started, DeployID: "d-6", Record: record("d-6", deploy.KindDeploy, deploy.OutcomeRunning, started)})
	for _, host := range []string{"web-1", "web-2"} {
		for _, step := range []deploy.Step{deploy.StepConnect, deploy.StepDeliver, deploy.StepActivate, deploy.StepRestart, deploy.StepHealth} {
			out.Progress(deploy.Event{Kind: deploy.EventStep, Time: started, DeployID: "d-6", Host: host, Step: step})
			out.Progress(deploy.Event{Kind: deploy.EventStep, Time: started, DeployID: "d-6", Host: host, Step: step, Done: true})
		}
	}
	out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: started, DeployID: "d-6", Record: record("d-6", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
	hs.shutdown(t)
	calls := hs.fd.Calls()
	if len(calls) > 3 {
		t.Errorf("%d edits for 22 events within one interval, want at most 3", len(calls))
	}
	if last := calls[len(calls)-1]; !strings.Contains(string(last.Body), "rollback web prod") {
		t.Errorf("last edit is not the final state: %s", last.Body)
	}
}

func TestLongDeployMovesToAChannelMessage(t *testing.T) {
	hs := newHarness(t, deployHandler("d-7"), nil)
	out, started := hs.startDeploy(t, "411", "d-7")
	hs.clock.Advance(14 * time.Minute)
	out.Progress(deploy.Event{Kind: deploy.EventStep, Time: hs.clock.Now(), DeployID: "d-7", App: "web", Env: "prod", Build: "1337",
		Host: "web-1", Step: deploy.StepMigrate})
	hs.fd.waitCalls(t, 4) // channel message, then the note on the old one
	hs.clock.Advance(3 * time.Minute)
	out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: hs.clock.Now(), DeployID: "d-7", App: "web", Env: "prod", Build: "1337",
		Record: record("d-7", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
	hs.fd.waitCalls(t, 5)
	hs.shutdown(t)
	calls := hs.fd.Calls()
	golden(t, "flows/handover.json", transcript(t, calls))
	want := []string{
		"PATCH /api/v9/webhooks/" + testAppID + "/" + interactionToken("411") + "/messages/@original",
		"PATCH /api/v9/webhooks/" + testAppID + "/" + interactionToken("411") + "/messages/@original",
		"POST /api/v9/channels/" + testChannel + "/messages",
		"PATCH /api/v9/webhooks/" + testAppID + "/" + interactionToken("411") + "/messages/@original",
		"PATCH /api/v9/channels/" + testChannel + "/messages/message-1",
	}
	if len(calls) != len(want) {
		t.Fatalf("calls %s, want %v", transcript(t, calls), want)
	}
	for i, c := range calls {
		if got := c.Method + " " + c.Path; got != want[i] {
			t.Errorf("call %d: %s, want %s", i, got, want[i])
		}
	}
	if calls[2].Auth != "bot" || calls[4].Auth != "bot" {
		t.Errorf("channel message calls sent auth %q and %q, want the bot token", calls[2].Auth, calls[4].Auth)
	}
	if !strings.Contains(string(calls[3].Body), "15 minutes") {
		t.Errorf("the expiring reply does not say where progress went: %s", calls[3].Body)
	}
	if !strings.Contains(string(calls[2].Body), "migrating") {
		t.Errorf("the channel message does not show the latest state: %s", calls[2].Body)
	}
}

// TestHandoverNoteOutlastsARateLimit: the note that ends the reply once
// the progress moved to a channel message is sent again after a 429, not
// dropped, which would leave the reply showing a stale state (and its
// buttons) with no word of where the progress went.
func TestHandoverNoteOutlastsARateLimit(t *testing.T) {
	hs := newHarness(t, deployHandler("d-8"), nil)
	original := "/api/v9/webhooks/" + testAppID + "/" + interactionToken("412") + "/messages/@original"
	var moved, limited bool
	hs.fd.respond = func(c apiCall, n int) (int, string, bool) {
		switch {
		case c.Method == http.MethodPost && c.Path == "/api/v9/channels/"+testChannel+"/messages":
			moved = true
		case moved && !limited && c.Method == http.MethodPatch && c.Path == original:
			limited = true
			return http.StatusTooManyRequests, `{"message":"You are being rate limited.","retry_after":0.05,"global":false}`, true
		}
		return 0, "", false
	}
	out, started := hs.startDeploy(t, "412", "d-8")
	hs.clock.Advance(14 * time.Minute)
	out.Progress(deploy.Event{Kind: deploy.EventStep, Time: hs.clock.Now(), DeployID: "d-8", App: "web", Env: "prod", Build: "1337",
		Host: "web-1", Step: deploy.StepMigrate})
	hs.fd.waitCalls(t, 4) // the reply twice, the channel message, the note refused
	hs.clock.Advance(time.Minute)
	out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: hs.clock.Now(), DeployID: "d-8", App: "web", Env: "prod", Build: "1337",
		Record: record("d-8", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
	hs.shutdown(t) // once the final state is shown
	var noted bool
	for _, c := range hs.fd.Calls() {
		if c.Method == http.MethodPatch && c.Path == original && c.Status == http.StatusOK && strings.Contains(string(c.Body), "15 minutes") {
			noted = true
		}
	}
	if !limited || !noted {
		t.Errorf("note on the reply after a 429 (429 sent: %v): got none taken, want it sent again; calls %s", limited, transcript(t, hs.fd.Calls()))
	}
}

func TestLogsNeverHoldTokens(t *testing.T) {
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
		return commands.Outcome{}
	}}
	hs := newHarness(t, h, nil)
	hs.fd.hijack = func(apiCall) bool { return true } // every call fails with its URL in the error
	responseOf(t, hs.post(t, slashCommand("412", "111", "whoami")))
	hs.h.waitOut(t, 1)
	hs.shutdown(t)
	logs := hs.logs.String()
	if !strings.Contains(logs, "discord edit reply failed") || !strings.Contains(logs, "[redacted]") {
		t.Errorf("want the failed edit logged with the token redacted:\n%s", logs)
	}
	for _, secret := range []string{interactionToken("412"), testBotToken} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold %q:\n%s", secret, logs)
		}
	}
}

func TestAPIURLRewritesRESTCalls(t *testing.T) {
	fd := newFakeDiscord(t)
	a, err := New(Options{
		PublicKey: strings.Repeat("ab", 32), ApplicationID: testAppID, BotToken: testBotToken,
		Handler: &fakeHandler{}, APIURL: fd.srv.URL + "/api/v9",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.cancel)
	if err := a.RegisterCommands(context.Background()); err != nil {
		t.Fatalf("RegisterCommands: %v", err)
	}
	calls := fd.Calls()
	if len(calls) != 1 || calls[0].Method != http.MethodPut || calls[0].Path != "/api/v9/applications/"+testAppID+"/commands" || calls[0].Auth != "bot" {
		t.Errorf("calls %s, want one PUT of the global commands with the bot token", transcript(t, calls))
	}
}

// middleware wraps a ResponseWriter as the bot's HTTP server does: it
// only unwraps to the Flusher.
type middleware struct{ http.ResponseWriter }

func (m middleware) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// TestDeferredResponseIsFlushed: the deferred response leaves before the
// follow-ups that edit it start, through the server's middleware too.
func TestDeferredResponseIsFlushed(t *testing.T) {
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Level: chat.Info, Title: "ok"})
		return commands.Outcome{}
	}}
	hs := newHarness(t, h, nil)
	body, err := json.Marshal(deploySlash("405", "111"))
	if err != nil {
		t.Fatal(err)
	}
	sig, ts := hs.sign(body, hs.clock.Now())
	rec := httptest.NewRecorder()
	hs.serve(middleware{rec}, body, sig, ts)
	if !rec.Flushed {
		t.Error("the deferred response was not flushed")
	}
	hs.h.waitOut(t, 1)
	hs.shutdown(t)
}

// TestFailedEditIsTriedAgain: an edit Discord fails (a 500) is sent again
// with the newest state, not left stale until the deploy's next event.
func TestFailedEditIsTriedAgain(t *testing.T) {
	hs := newHarness(t, deployHandler("d-8"), nil)
	hs.fd.respond = func(c apiCall, n int) (int, string, bool) {
		if n == 2 { // the edit after the started state
			return http.StatusInternalServerError, `{"message":"500: Internal Server Error","code":0}`, true
		}
		return 0, "", false
	}
	out, started := hs.startDeploy(t, "413", "d-8")
	out.Progress(deploy.Event{Kind: deploy.EventStep, Time: started, DeployID: "d-8", Host: "web-1", Step: deploy.StepMigrate})
	hs.fd.waitCalls(t, 4) // the failed edit, then the same state again
	calls := hs.fd.Calls()
	if calls[2].Status != http.StatusInternalServerError || calls[3].Status != http.StatusOK || !bytes.Equal(calls[2].Body, calls[3].Body) {
		t.Errorf("calls 2 and 3: %d then %d, want the failed edit sent again:\n%s\n%s", calls[2].Status, calls[3].Status, calls[2].Body, calls[3].Body)
	}
	out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: started, DeployID: "d-8", Record: record("d-8", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
	hs.shutdown(t)
}

// TestChannelRefusedKeepsEditingTheReply: when the bot may not post in the
// channel at the handover, progress stays in the interaction's message
// while its token lasts, final state included.
func TestChannelRefusedKeepsEditingTheReply(t *testing.T) {
	hs := newHarness(t, deployHandler("d-9"), nil)
	hs.fd.respond = func(c apiCall, n int) (int, string, bool) {
		if c.Method == http.MethodPost && strings.Contains(c.Path, "/channels/") {
			return http.StatusForbidden, `{"message":"Missing Access","code":50001}`, true
		}
		return 0, "", false
	}
	out, started := hs.startDeploy(t, "414", "d-9")
	hs.clock.Advance(14*time.Minute + 10*time.Second)
	out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: hs.clock.Now(), DeployID: "d-9", App: "web", Env: "prod", Build: "1337",
		Record: record("d-9", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
	hs.fd.waitCalls(t, 4) // the refused channel post, then the edit
	hs.shutdown(t)
	calls := hs.fd.Calls()
	last := calls[len(calls)-1]
	if last.Method != http.MethodPatch || !strings.HasSuffix(last.Path, "/messages/@original") || last.Status != http.StatusOK ||
		!strings.Contains(string(last.Body), "rollback web prod") {
		t.Errorf("last call: %s %s %d %s, want the final state edited into the reply", last.Method, last.Path, last.Status, last.Body)
	}
}

// startDeploy sends a deploy slash command and its started state, and
// returns once the state is shown: the handler's output and the time.
func (hs *harness) startDeploy(t *testing.T, slashID, deployID string) (commands.Output, time.Time) {
	t.Helper()
	responseOf(t, hs.post(t, deploySlash(slashID, "111")))
	out := hs.h.waitOut(t, 1)
	hs.fd.waitCalls(t, 1)
	started := hs.clock.Now()
	out.Progress(deploy.Event{Kind: deploy.EventStarted, Time: started, DeployID: deployID, App: "web", Env: "prod", Build: "1337",
		Record: record(deployID, deploy.KindDeploy, deploy.OutcomeRunning, started)})
	hs.fd.waitCalls(t, 2)
	return out, started
}

// gatedSleep is an adapter's Sleep that tells the test each wait it is
// asked for on asked, and returns once the test, having moved its clock,
// sends on done, or once ctx ends.
type gatedSleep struct {
	asked chan time.Duration
	done  chan struct{}
}

func (g *gatedSleep) sleep(ctx context.Context, d time.Duration) error {
	select {
	case g.asked <- d:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-g.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestQuietDeployMovesAtTheHandover: a deploy with no event across the
// handover (waiting for its migrations to be confirmed) moves its progress
// to a channel message while the interaction's token still takes the
// note, rather than at its next event, once the reply can no longer be
// edited and would keep its stale prompt and buttons.
func TestQuietDeployMovesAtTheHandover(t *testing.T) {
	sleeps := &gatedSleep{asked: make(chan time.Duration), done: make(chan struct{})}
	hs := newHarness(t, deployHandler("d-10"), func(o *Options) { o.Sleep = sleeps.sleep })
	out, started := hs.startDeploy(t, "415", "d-10")
	out.Progress(deploy.Event{Kind: deploy.EventConfirm, Time: started, DeployID: "d-10", App: "web", Env: "prod", Build: "1337",
		Text: "2 migrations to run", Migrations: []string{"0042_add_index", "0043_drop_column"}})
	calls := hs.fd.waitCalls(t, 3)
	if !strings.Contains(string(calls[2].Body), "Confirm migrations") {
		t.Fatalf("call 2 does not show the prompt: %s", calls[2].Body)
	}
	// The handover is waited for on the adapter's clock, from the
	// command's start; nothing moves before that clock says it is due.
	select {
	case d := <-sleeps.asked:
		if d != DefaultHandover {
			t.Errorf("handover wait: got %s, want %s", d, DefaultHandover)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("timed out waiting for the handover to be waited for with the adapter's Sleep")
	}
	if n := len(hs.fd.Calls()); n != 3 {
		t.Errorf("calls before the handover: got %d, want 3", n)
	}
	hs.clock.Advance(DefaultHandover)
	sleeps.done <- struct{}{}
	// No further event: the handover alone moves the progress.
	calls = hs.fd.waitCalls(t, 5)
	post, note := calls[3], calls[4]
	if got, want := post.Method+" "+post.Path, "POST /api/v9/channels/"+testChannel+"/messages"; got != want {
		t.Errorf("call 3: %s, want %s", got, want)
	}
	if !strings.Contains(string(post.Body), "Confirm migrations") {
		t.Errorf("the channel message lacks the prompt's buttons: %s", post.Body)
	}
	if !strings.HasSuffix(note.Path, "/messages/@original") || !strings.Contains(string(note.Body), "Continued in a new message below") ||
		strings.Contains(string(note.Body), "Confirm migrations") {
		t.Errorf("call 4: %s %s, want the reply's note without buttons", note.Path, note.Body)
	}
	out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: hs.clock.Now(), DeployID: "d-10", App: "web", Env: "prod", Build: "1337",
		Record: record("d-10", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
	hs.shutdown(t)
	calls = hs.fd.Calls()
	last := calls[len(calls)-1]
	if got, want := last.Method+" "+last.Path, "PATCH /api/v9/channels/"+testChannel+"/messages/message-1"; got != want {
		t.Errorf("final state: %s, want %s", got, want)
	}
}

// TestRateLimitOfOneReplyHoldsNoOther: Discord limits the edits of each
// interaction's messages by its token; one interaction's exhausted limit
// (a deploy's progress, edited again and again) holds back no other
// interaction's reply.
func TestRateLimitOfOneReplyHoldsNoOther(t *testing.T) {
	const resetAfter = 4 * time.Second
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Level: chat.Info, Title: "You are ana (discord)"})
		return commands.Outcome{}
	}}
	hs := newHarness(t, h, nil)
	hs.fd.header = func(c apiCall) http.Header {
		if !strings.Contains(c.Path, interactionToken("420")) {
			return nil
		}
		return http.Header{
			"X-Ratelimit-Limit": {"5"}, "X-Ratelimit-Remaining": {"0"},
			"X-Ratelimit-Reset-After": {fmt.Sprintf("%.3f", resetAfter.Seconds())},
			"X-Ratelimit-Bucket":      {"webhook-edits-420"},
		}
	}
	responseOf(t, hs.post(t, slashCommand("420", "111", "whoami")))
	hs.fd.waitCalls(t, 1)
	sent := time.Now()
	responseOf(t, hs.post(t, slashCommand("421", "222", "whoami")))
	calls := hs.fd.waitCalls(t, 2)
	hs.shutdown(t)
	other := calls[1]
	if !strings.Contains(other.Path, interactionToken("421")) {
		t.Fatalf("call 1: %s %s, want the edit of the second reply", other.Method, other.Path)
	}
	if d := other.at.Sub(sent); d > resetAfter/2 {
		t.Errorf("the second reply was edited %s after its command, want well within the first's reset (%s)", d.Round(time.Millisecond), resetAfter)
	}
}

// TestOtherRepliesFollowTheProgressMessage: a deploy's replies besides
// its acknowledgement (the audit log unreachable, say) follow up once the
// progress message is shown. Discord gives the first follow-up sent while
// the deferred response still says "thinking…" that message's place and
// visibility, so sent before, it went to the channel and the progress
// then replaced it.
func TestOtherRepliesFollowTheProgressMessage(t *testing.T) {
	h := &fakeHandler{fn: func(_ context.Context, _ commands.Request, out commands.Output) commands.Outcome {
		out.Reply(chat.Message{Level: chat.Info, Title: "Deploying web 1337 to prod (deploy d-11)"})
		out.Reply(chat.Message{Level: chat.Failure, Title: "The audit log is unreachable: state store unreachable"})
		return commands.Outcome{DeployID: "d-11"}
	}}
	hs := newHarness(t, h, nil)
	responseOf(t, hs.post(t, deploySlash("416", "111")))
	out := hs.h.waitOut(t, 1)
	calls := hs.fd.waitCalls(t, 2)
	started := hs.clock.Now()
	out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: started, DeployID: "d-11", Record: record("d-11", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
	hs.shutdown(t)
	calls = hs.fd.Calls()
	original := "PATCH /api/v9/webhooks/" + testAppID + "/" + interactionToken("416") + "/messages/@original"
	followup := "POST /api/v9/webhooks/" + testAppID + "/" + interactionToken("416")
	if got := calls[0].Method + " " + calls[0].Path; got != original {
		t.Fatalf("call 0: %s, want the progress message (%s) before any follow-up; calls %s", got, original, transcript(t, calls))
	}
	var notice *apiCall
	for i := range calls {
		if strings.HasPrefix(calls[i].Method+" "+calls[i].Path, followup) {
			notice = &calls[i]
		}
	}
	if notice == nil || !strings.Contains(string(notice.Body), "audit log is unreachable") || !strings.Contains(string(notice.Body), `"flags":64`) {
		t.Errorf("follow-up %+v, want the audit notice to the requester alone", notice)
	}
}
