package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
)

// TestConsoleHidesConfiguredSecrets: a migration that prints the value of
// a configured secret outside any URL (a token it was given, under set -x)
// fails a deploy whose reply, record, audit entries and log show the rest
// of what it printed, not the secret.
func TestConsoleHidesConfiguredSecrets(t *testing.T) {
	const token = "xoxb-1111-2222-secret-token"
	t.Setenv("TEST_SLACK_BOT_TOKEN", token)
	t.Setenv("TEST_STAGE", "production")
	f := newDemo(t)
	b, err := os.ReadFile(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	const run = "      run: ./bin/migrations apply\n"
	if !strings.Contains(string(b), run) {
		t.Fatalf("the demo config has no line %q; update this test", run)
	}
	cfg := `slack:
  signing_secret: 0123456789abcdef
  bot_token: ${TEST_SLACK_BOT_TOKEN}
  api_url: http://127.0.0.1:1/api/
` + strings.Replace(string(b), run,
		`      run: 'echo "+ curl -H \"Authorization: Bearer ${TEST_SLACK_BOT_TOKEN}\" https://hooks.example/${TEST_STAGE}" >&2; exit 1'`+"\n", 1)
	if err := os.WriteFile(f.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	out, _ := runBot(t, "deploy demo 1\nstatus demo\nhistory demo\n", "-config", f.cfg, "console")
	if !strings.Contains(out, "localhost: migrate failed") {
		t.Fatal("the output says no migration failed; want the deploy's migrations to fail")
	}
	const want = `Authorization: Bearer REDACTED" https://hooks.example/production`
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q", want)
	}
	shown := map[string]string{"output and log": out}
	st, err := embedded.Open(filepath.Join(f.dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.Records(context.Background(), deploy.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		shown["record "+r.ID] = fmt.Sprintf("%+v", *r)
	}
	entries, err := st.Audit(context.Background(), audit.Query{})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		shown[fmt.Sprintf("audit entry %d", i)] = fmt.Sprintf("%+v", e)
	}
	for what, s := range shown {
		if strings.Contains(s, token) {
			t.Errorf("%s shows the bot token:\n%s", what, s)
		}
	}
}

// TestLogHidesConfiguredSecrets: the bot's log hides the config's secret
// values from every line, whatever code wrote it (a library's error
// quoting the token it was given), and keeps the rest of the line.
func TestLogHidesConfiguredSecrets(t *testing.T) {
	const token = "xoxb-3333-4444-secret-token"
	yaml := `slack:
  signing_secret: 0123456789abcdef
  bot_token: ` + token + `
apps:
  web:
    artifact: {path: 'builds/{build}.tgz'}
    path: /srv/web
    restart: 'true'
    environments:
      prod:
        hosts: [localhost]
`
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "switchman.yaml"), []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	newLogger(&out, cfg).Error("slack: post failed", "err", fmt.Errorf("invalid_auth for token %s", token))
	if got := out.String(); strings.Contains(got, token) || !strings.Contains(got, "invalid_auth for token REDACTED") {
		t.Errorf("log line: got %q, want the token hidden and the rest shown", got)
	}
}
