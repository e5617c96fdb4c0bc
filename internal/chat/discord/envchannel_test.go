package discord

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestDeployPostsInTheEnvChannel: a deploy asked for in Discord whose env
// names a Discord channel posts its progress and final report there with
// the bot token, as a Slack deploy does in its env's channel, and the
// reply links to it; where the bot may not post there, the progress stays
// in the reply.
func TestDeployPostsInTheEnvChannel(t *testing.T) {
	const envChannel = "300000000000000099"
	tests := []struct {
		name    string
		refused bool // the bot may not post in the env's channel
	}{
		{"posted there", false},
		{"refused there", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := newHarness(t, deployHandler("d-20"), func(o *Options) {
				o.EnvChannel = func(app, env string) string {
					if app == "web" && env == "prod" {
						return envChannel
					}
					return ""
				}
			})
			if tt.refused {
				hs.fd.respond = func(c apiCall, n int) (int, string, bool) {
					if c.Method == http.MethodPost && strings.Contains(c.Path, "/channels/"+envChannel+"/") {
						return http.StatusForbidden, `{"message":"Missing Access","code":50001}`, true
					}
					return 0, "", false
				}
			}
			out, started := hs.startDeploy(t, "440", "d-20")
			out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: started, DeployID: "d-20", App: "web", Env: "prod", Build: "1337",
				Record: record("d-20", deploy.KindDeploy, deploy.OutcomeSucceeded, started)})
			hs.shutdown(t)
			calls := hs.fd.Calls()

			var posted, linked, finalThere, finalInReply bool
			for _, c := range calls {
				body := string(c.Body)
				switch {
				case c.Method == http.MethodPost && c.Path == "/api/v9/channels/"+envChannel+"/messages" && c.Status == http.StatusOK:
					posted = c.Auth == "bot"
				case c.Method == http.MethodPatch && strings.HasSuffix(c.Path, "/messages/@original") && strings.Contains(body, "<#"+envChannel+">"):
					linked = true
				case c.Method == http.MethodPatch && strings.HasPrefix(c.Path, "/api/v9/channels/"+envChannel+"/messages/") && strings.Contains(body, "rollback web prod"):
					finalThere = true
				case c.Method == http.MethodPatch && strings.HasSuffix(c.Path, "/messages/@original") && strings.Contains(body, "rollback web prod"):
					finalInReply = true
				}
			}
			want := !tt.refused
			if posted != want || linked != want || finalThere != want || finalInReply == want {
				t.Errorf("posted in the env's channel %v, reply links to it %v, final report there %v, in the reply %v; want %v, %v, %v, %v\n%s",
					posted, linked, finalThere, finalInReply, want, want, want, !want, transcript(t, calls))
			}
		})
	}
}

// TestUndeliveredInTheEnvChannelNamesIt: a final report the env's
// channel refuses, once the progress moved there, is noted for status
// with that channel, where it was refused, not the one the deploy was
// asked in, where the bot was never refused.
func TestUndeliveredInTheEnvChannelNamesIt(t *testing.T) {
	const envChannel = "300000000000000099"
	hs := newHarness(t, deployHandler("d-21"), func(o *Options) {
		o.EnvChannel = func(app, env string) string {
			if app == "web" && env == "prod" {
				return envChannel
			}
			return ""
		}
	})
	hs.fd.respond = func(c apiCall, n int) (int, string, bool) {
		if c.Method == http.MethodPatch && strings.HasPrefix(c.Path, "/api/v9/channels/"+envChannel+"/messages/") {
			return http.StatusForbidden, `{"message":"Missing Access","code":50001}`, true
		}
		return 0, "", false
	}
	out, started := hs.startDeploy(t, "441", "d-21")
	out.Progress(deploy.Event{Kind: deploy.EventFinished, Time: started, DeployID: "d-21", App: "web", Env: "prod", Build: "1337",
		Record: record("d-21", deploy.KindDeploy, deploy.OutcomeFailed, started)})
	hs.shutdown(t)
	notes := hs.h.Undelivered()
	if len(notes) != 1 {
		t.Fatalf("notes %+v, want one\n%s", notes, transcript(t, hs.fd.Calls()))
	}
	if n := notes[0]; n.DeployID != "d-21" || n.Channel != envChannel || !strings.Contains(n.Reason, "Missing Access") {
		t.Errorf("note %+v, want d-21 in discord channel %s, refused for Missing Access", n, envChannel)
	}
}
