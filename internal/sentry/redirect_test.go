package sentry

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/errs"
)

// A Sentry (or the proxy before it) that answers with a redirect is not
// followed: the token would go along to where it leads, even over plain
// HTTP from an https url (Go keeps Authorization for the same host name on
// another scheme or port), and a POST redirected by 301, 302 or 303 comes
// back as a GET, whose 200 (a list of releases) read as "release created".
func TestRedirectIsNotFollowed(t *testing.T) {
	const releases = "/api/0/organizations/acme/releases/"
	// elsewhere is where the redirects lead: plain HTTP, same host name.
	var mu sync.Mutex
	var reached []string
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		reached = append(reached, r.Method+" "+r.URL.Path+" auth="+r.Header.Get("Authorization"))
		mu.Unlock()
		reply(200, `[]`)(w, r)
	}))
	t.Cleanup(elsewhere.Close)

	tests := []struct {
		name   string
		status int
	}{
		{"moved permanently", http.StatusMovedPermanently},
		{"found", http.StatusFound},
		{"see other", http.StatusSeeOther},
		{"temporary redirect", http.StatusTemporaryRedirect},
		{"permanent redirect", http.StatusPermanentRedirect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			reached = nil
			mu.Unlock()
			var seenN int
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seenN++
				mu.Unlock()
				http.Redirect(w, r, elsewhere.URL+r.URL.Path, tt.status)
			}))
			t.Cleanup(srv.Close)
			var s sleeps
			c, err := New(Options{BaseURL: srv.URL, Token: testToken, HTTPClient: srv.Client(), Timeout: 2 * time.Second, Sleep: s.sleep})
			if err != nil {
				t.Fatal(err)
			}
			err = c.CreateRelease(context.Background(), "acme", "shop@1.2.3", []string{"shop-web"})
			mu.Lock()
			got := append([]string(nil), reached...)
			n := seenN
			mu.Unlock()
			if len(got) != 0 {
				t.Errorf("the redirect was followed: %q", got)
			}
			if err == nil {
				t.Fatal("CreateRelease: got nil, want an error")
			}
			if n != 1 {
				t.Errorf("requests: got %d, want 1 (a redirect is not retried)", n)
			}
			var se *Error
			if !errors.As(err, &se) || se.Status != tt.status {
				t.Errorf("errors.As(*Error): got %#v, want status %d", se, tt.status)
			}
			msg := errs.Message(err)
			if !strings.Contains(msg, "redirect") || !strings.Contains(msg, "sentry.url") {
				t.Errorf("message: got %q, want it to say Sentry redirected and to set sentry.url", msg)
			}
			if !strings.Contains(err.Error(), elsewhere.URL+releases) {
				t.Errorf("error: got %q, want where the redirect leads", err.Error())
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error shows the token: %q", err.Error())
			}
		})
	}
}

// Sentry answers a project's old slug, once the project is renamed, with a
// 302 "resource-moved" to the new one. What is wrong then is the env's
// sentry.project, not sentry.url: the message names the key to change.
func TestRenamedProjectNamesSentryProject(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // in the message
		not  string // not in the message
	}{
		{"slug in extra", `{"slug":"shop-api","detail":{"code":"resource-moved","message":"Resource has been moved","extra":{"url":"/api/0/projects/acme/shop-api/","slug":"shop-api"}}}`,
			`renamed to "shop-api": set the env's sentry.project to it`, "sentry.url"},
		{"top-level slug only", `{"slug":"shop-api","detail":{"code":"resource-moved","message":"Resource has been moved"}}`,
			`renamed to "shop-api": set the env's sentry.project to it`, "sentry.url"},
		{"no slug", `{"detail":{"code":"resource-moved","message":"Resource has been moved"}}`,
			"renamed: set the env's sentry.project to its new slug", "sentry.url"},
		{"not a slug", `{"detail":{"code":"resource-moved","extra":{"slug":"<b>x</b> now"}}}`,
			"renamed: set the env's sentry.project to its new slug", "<b>"},
		{"another redirect", `<html>moved</html>`,
			"set sentry.url to where it leads", "sentry.project"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/0/projects/acme/shop-web/" {
					t.Errorf("request: got %s %s, want the project's lookup only", r.Method, r.URL.Path)
				}
				reply(http.StatusFound, tt.body, "Location", "/api/0/projects/acme/shop-api/")(w, r)
			}))
			t.Cleanup(srv.Close)
			var s sleeps
			c, err := New(Options{BaseURL: srv.URL, Token: testToken, HTTPClient: srv.Client(), Timeout: 2 * time.Second, Sleep: s.sleep})
			if err != nil {
				t.Fatal(err)
			}
			end := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
			_, err = c.ErrorCounts(context.Background(), "acme", "shop-web", "production", end.Add(-time.Hour), end, time.Minute)
			if err == nil {
				t.Fatal("ErrorCounts: got nil, want an error")
			}
			msg := errs.Message(err)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message: got %q, want it to hold %q", msg, tt.want)
			}
			if strings.Contains(msg, tt.not) {
				t.Errorf("message: got %q, want no %q", msg, tt.not)
			}
			if !strings.Contains(err.Error(), "redirected to ") {
				t.Errorf("error: got %q, want where the redirect leads, for the log", err.Error())
			}
		})
	}
}
