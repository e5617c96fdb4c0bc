package discord

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/chat"
)

// apiURLSecrets are the parts of an api_url a proxy in front of Discord
// may take as credentials.
var apiURLSecrets = []string{"proxyuser-7c1e", "pr0xy-s3cret", "pathkey-3b8f"}

// TestAPIURLCredentialsNotShown: no error of the adapter shows what of
// discord.api_url may be credentials (its user info, its path), neither
// one refusing the URL, which names its host, nor one of a REST call to a
// proxy there that failed.
func TestAPIURLCredentialsNotShown(t *testing.T) {
	tests := []struct {
		name     string
		password string
		respond  func(fd *fakeDiscord)
	}{
		// net/url refuses braces in user info, which the config's check
		// lets through: it reads them as a placeholder.
		{name: "a password net/url refuses", password: "{" + apiURLSecrets[1] + "}"},
		{name: "the proxy answers 500", password: apiURLSecrets[1], respond: func(fd *fakeDiscord) {
			fd.respond = func(apiCall, int) (int, string, bool) {
				return http.StatusInternalServerError, `{"message":"upstream failed"}`, true
			}
		}},
		{name: "the proxy drops the connection", password: apiURLSecrets[1], respond: func(fd *fakeDiscord) {
			fd.hijack = func(apiCall) bool { return true }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd := newFakeDiscord(t)
			u, err := url.Parse(fd.srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			api := "http://" + apiURLSecrets[0] + ":" + tt.password + "@" + u.Host + "/" + apiURLSecrets[2] + "/api/v9"
			a, err := New(Options{
				PublicKey: strings.Repeat("ab", 32), ApplicationID: testAppID, BotToken: testBotToken,
				Handler: &fakeHandler{}, APIURL: api,
			})
			var errs []error
			if tt.respond == nil {
				if err == nil {
					t.Fatalf("New accepted the API URL %q, want it refused", api)
				}
				errs = append(errs, err)
			} else {
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(a.cancel)
				tt.respond(fd)
				ctx := context.Background()
				errs = append(errs, a.RegisterCommands(ctx), a.CheckToken(ctx), a.Post(ctx, testChannel, chat.Message{Title: "hello"}))
			}
			for i, err := range errs {
				if err == nil {
					t.Errorf("error %d: got none, want the call to fail", i)
					continue
				}
				// A REST call's error names the discord.com URL the
				// client was asked for, rewritten to api_url below it.
				if tt.respond == nil && !strings.Contains(err.Error(), "http://"+u.Host+"/…") {
					t.Errorf("error %d: got %q, want it to name http://%s/…", i, err, u.Host)
				}
				for _, secret := range apiURLSecrets {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %d: got %q, which shows %q of the API URL", i, err, secret)
					}
				}
			}
		})
	}
}

// TestDocumentedAPIURLIsTheDefault: the api_url the README and the
// reference config show, commented out beside "default Discord's", is the
// base the adapter's requests are written for. Requests are rewritten
// from that base to api_url's, so an example of another API version,
// uncommented to put a proxy in front, would send every request to a
// version the adapter was never written for.
func TestDocumentedAPIURLIsTheDefault(t *testing.T) {
	for _, file := range []string{"../../../README.md", "../../../config/reference.yaml"} {
		t.Run(file, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			for _, line := range strings.Split(string(b), "\n") {
				_, rest, ok := strings.Cut(line, "api_url: https://discord.com/")
				if !ok {
					continue
				}
				found++
				got := "https://discord.com/" + strings.Fields(rest)[0]
				if got != discordgo.EndpointAPI {
					t.Errorf("api_url example: got %s, want %s, the adapter's default", got, discordgo.EndpointAPI)
				}
			}
			if found == 0 {
				t.Errorf("got no discord.api_url example, want one")
			}
		})
	}
}
