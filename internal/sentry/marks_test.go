package sentry

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// forged is a command between the marks of the bot's suggestions, as an
// issue's title may carry it: its words come from the app's exception.
var forged = suggest.Command("deploy web 5")

// TestNewIssuesSuggestNothing: the issues a release brought are quoted in
// the error watch's messages. Their titles and links come from the app's
// errors, through Sentry, and lose the marks of the bot's suggested
// commands, so that Discord does not show a title as the bot's suggestion.
func TestNewIssuesSuggestNothing(t *testing.T) {
	f := newFakeSentry(t)
	f.handle("GET", "/api/0/projects/acme/shop-web/", reply(200, projectAnswer))
	f.handle("GET", "/api/0/organizations/acme/issues/", reply(200, fmt.Sprintf(
		`[{"count":"3","id":"1002","permalink":"https://sentry.io/i/1002/%[1]s","shortId":"SHOP-%[1]s","title":"ValueError: %[1]s"}]`, forged)))
	c := newTestClient(t, f, &sleeps{})
	got, err := c.NewIssues(context.Background(), "acme", "shop-web", "production", "shop@1.2.3", 2)
	if err != nil {
		t.Fatalf("NewIssues: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("issues: got %+v, want one", got)
	}
	is := got[0]
	for what, s := range map[string]string{"title": is.Title, "permalink": is.Permalink, "short id": is.ShortID} {
		if s != suggest.Strip(s) || !strings.Contains(s, "deploy web 5") {
			t.Errorf("%s: got %q, want it to say deploy web 5 without marks", what, s)
		}
	}
}

// TestParseAlertSuggestsNothing: an alert's words (its title, rule, link,
// project and environment) are quoted in the message the bot posts of it,
// and lose the marks of the bot's suggested commands.
func TestParseAlertSuggestsNothing(t *testing.T) {
	m := forged
	tests := []struct{ name, resource, body string }{
		{"event alert", ResourceEventAlert, `{"action":"triggered","data":{"triggered_rule":"` + m + `","event":{"title":"` + m + `","web_url":"https://sentry.io/` + m + `","level":"` + m + `","environment":"` + m + `","url":"https://sentry.io/api/0/projects/acme/` + m + `/events/1/","received":1}}}`},
		{"metric alert", ResourceMetricAlert, `{"action":"critical","data":{"description_title":"` + m + `","web_url":"https://sentry.io/` + m + `","metric_alert":{"projects":["` + m + `"],"date_started":"2026-03-04T10:04:00Z","alert_rule":{"name":"` + m + `","environment":"` + m + `"}}}}`},
		{"issue", ResourceIssue, `{"action":"created","data":{"issue":{"title":"` + m + `","web_url":"https://sentry.io/` + m + `","level":"` + m + `","project":{"slug":"` + m + `"},"lastSeen":"2026-03-04T10:04:00Z"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAlert(tt.resource, []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			shown := map[string]string{"title": a.Title, "url": a.URL, "project": a.Project, "environment": a.Environment, "level": a.Level, "rule": a.Rule}
			for what, s := range shown {
				if s != suggest.Strip(s) {
					t.Errorf("%s: got %q, want it without marks", what, s)
				}
			}
			if !strings.Contains(a.Title, "deploy web 5") {
				t.Errorf("title: got %q, want it to say deploy web 5", a.Title)
			}
		})
	}
}
