package slack_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestMentionSubtypes: an app_mention may carry a message subtype. Those
// a member types (a thread reply also sent to the channel, a message with
// a file, a /me message) run as any mention; an edit labelled so is
// refused as an edit is; bots' messages and the notes Slack writes itself
// are dropped without a word; any other subtype is refused, answered and
// audited, rather than dropped unseen.
func TestMentionSubtypes(t *testing.T) {
	const (
		runs = iota
		refused
		dropped
	)
	tests := []struct {
		name, subtype, extra string
		want                 int
		reason               string // in the refusal
	}{
		{"a plain message", "", "", runs, ""},
		{"a thread reply also sent to the channel", "thread_broadcast", `,"thread_ts":"1699999999.000100","root":{"type":"message","text":"root","user":"UANA","ts":"1699999999.000100"}`, runs, ""},
		{"a message with a file", "file_share", `,"files":[{"id":"F1","name":"plan.txt"}],"upload":true`, runs, ""},
		{"a /me message", "me_message", "", runs, ""},
		{"an edited thread reply sent to the channel", "thread_broadcast", `,"edited":{"user":"UBOB","ts":"1700000001.000000"}`, refused, "edited"},
		{"an edit labelled message_changed", "message_changed", "", refused, "edited"},
		{"a bot's message", "bot_message", `,"bot_id":"B2"`, dropped, ""},
		{"a bot's message without bot_id", "bot_message", "", dropped, ""},
		{"the bot joining the channel", "channel_join", "", dropped, ""},
		{"a topic naming the bot", "channel_topic", `,"topic":"ask <@UBOT>"`, dropped, ""},
		{"a subtype Slack adds later", "huddle_thread", "", refused, "(huddle_thread)"},
		{"a subtype unfit to quote", "<b>x</b>", "", refused, "(unknown)"},
		// Slack's message_changed names its author in "message", not
		// at the top: nobody to answer, and no 400 for Slack to retry.
		{"an edit without a user", "message_changed", `,"user":"","message":{"user":"UBOB","text":"<@UBOT> status web"}`, dropped, ""},
		{"a subtype Slack adds later, without a user", "huddle_thread", `,"user":""`, dropped, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := newFakeSlack(t)
			a, h, _, _ := newTestAdapter(t, api, now)
			body := `{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"EvS` + strconv.Itoa(i) + `","event_time":1700000000,` +
				`"event":{"type":"app_mention","subtype":` + strconv.Quote(tc.subtype) + `,"user":"UBOB","text":"<@UBOT> status web","ts":"1700000000.000100","channel":"C1","event_ts":"1700000000.000100"` + tc.extra + `}}`
			if tc.subtype == "" {
				body = strings.Replace(body, `"subtype":"",`, "", 1)
			}
			w := serveEvent(t, a, body)
			if w != 200 {
				t.Fatalf("status: got %d, want 200", w)
			}
			if tc.want == refused {
				// The refusal is answered through the Web API.
				api.waitFor("the refusal's answer", func(calls []apiCall) bool { return len(only(calls, "chat.postEphemeral")) > 0 })
			}
			a.Stop()
			a.Wait()
			switch tc.want {
			case dropped:
				if n := h.total(); n != 0 {
					t.Errorf("requests handed to the handler: got %d (%+v), want none", n, h.requests())
				}
				if calls := only(api.snapshot(), "chat.postEphemeral", "chat.postMessage"); len(calls) != 0 {
					t.Errorf("got answers\n%swant none", describe(calls))
				}
			default:
				wantRun(t, h, tc.want == runs)
				if reqs := h.requests(); tc.reason != "" && len(reqs) == 1 && !strings.Contains(reqs[0].Refused, tc.reason) {
					t.Errorf("refusal: got %q, want it to say %q", reqs[0].Refused, tc.reason)
				}
			}
		})
	}
}

// serveEvent sends a signed Events API payload and returns the status.
func serveEvent(t *testing.T, a interface{ Events() http.Handler }, body string) int {
	t.Helper()
	w := httptest.NewRecorder()
	a.Events().ServeHTTP(w, signed(t, "/slack/events", testSecret, body, now, "application/json"))
	return w.Code
}
