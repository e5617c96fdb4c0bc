package commands_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestUncheckableBuildSaysWhy: a deploy refused because its build could
// not be checked tells the requester why, without the artifact URL's
// credentials, and a failing artifact store is logged for operators.
func TestUncheckableBuildSaysWhy(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/web-1.tar.gz", "/web-2.tar.gz", "/web-3.tar.gz":
			w.WriteHeader(http.StatusOK)
		case "/web-1.tar.gz.sha256":
			http.Error(w, "try later", http.StatusServiceUnavailable)
		case "/web-2.tar.gz.sha256":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html>Welcome to the build server</html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	url := strings.Replace(srv.URL, "http://", "http://ci:pa55word@", 1) + "/{app}-{build}.tar.gz?token=s3cr3t"
	f := newServiceFixtureFrom(t, strings.Replace(serviceYAML, "path: artifacts/{app}-{build}.tar.gz", "url: "+url, 1), nil)
	var logs bytes.Buffer
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: f.store, Policy: f.policy, Log: slog.New(slog.NewTextHandler(&logs, nil))})

	tests := []struct {
		text   string
		reply  string
		logged bool
	}{
		{"deploy web 1", "cannot check build 1 of web: http://REDACTED@" + srv.Listener.Addr().String() + "/web-1.tar.gz.sha256?REDACTED: GET: HTTP 503 Service Unavailable; nothing was changed", true},
		{"deploy web 2", "/web-2.tar.gz.sha256?REDACTED: got an HTML page, not a checksum file; nothing was changed", false},
		{"deploy web 2 --dry-run", "/web-2.tar.gz.sha256?REDACTED: got an HTML page, not a checksum file", false},
		{"deploy web 3", "build 3 of web has no published checksum (http://REDACTED@" + srv.Listener.Addr().String() + "/web-3.tar.gz.sha256?REDACTED not found); publish one, or set artifact.checksum: optional for this app; nothing was changed", false},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			logs.Reset()
			res, out, _ := f.do("bob", tt.text)
			if !res.Failed || !strings.Contains(out.last(), tt.reply) {
				t.Errorf("got failed=%v reply %q, want a refusal saying %q", res.Failed, out.last(), tt.reply)
			}
			if got := strings.Contains(logs.String(), "GET: HTTP 503"); got != tt.logged {
				t.Errorf("got log %q, want the cause logged: %v", logs.String(), tt.logged)
			}
			for _, s := range []string{out.last(), logs.String()} {
				if strings.Contains(s, "pa55word") || strings.Contains(s, "s3cr3t") {
					t.Errorf("got %q, want no credentials", s)
				}
			}
		})
	}
}

// TestOptionalChecksumSaysSo: with artifact.checksum optional, a build
// published without one is deployed, and its progress says once that it
// was checked for structure only.
func TestOptionalChecksumSaysSo(t *testing.T) {
	yaml := strings.Replace(serviceYAML, "      path: artifacts/{app}-{build}.tar.gz\n", "      path: artifacts/{app}-{build}.tar.gz\n      checksum: optional\n", 1)
	f := newServiceFixtureFrom(t, yaml, nil)
	if err := os.WriteFile(filepath.Join(f.app, "../../artifacts/web-3.tar.gz"), tgz(t, map[string]string{"BUILD": "3"}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, rec := f.do("bob", "deploy web 3")
	if rec == nil || rec.Outcome != deploy.OutcomeSucceeded {
		t.Fatalf("got record %+v (reply %q), want a deploy that succeeded", rec, out.last())
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	notes := 0
	for _, ev := range out.events {
		if ev.Kind == deploy.EventNote && ev.Text == "no checksum published for build 3: checked for structure only" {
			notes++
		}
	}
	if notes != 1 {
		t.Errorf("got the note %d times in %+v, want once", notes, out.events)
	}
}
