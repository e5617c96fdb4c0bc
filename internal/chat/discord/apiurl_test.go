package discord

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

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
