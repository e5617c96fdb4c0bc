package deploy_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestHostOutputHidesURLCredentials: what a host's command prints is
// shown in the progress, the record (status, history, and the replies
// and audit entries made of it) and the log. A migration tool commonly
// prints the database URL it could not reach, password included; a
// pulled artifact's downloader, its presigned URL. Their credentials are
// not shown; the rest of the message is.
func TestHostOutputHidesURLCredentials(t *testing.T) {
	const (
		dbURL    = "postgres://app:hunter2-pass@db.internal:5432/app"
		dbShown  = "postgres://REDACTED@db.internal:5432/app"
		artURL   = "https://builds.example.com/web-2.tgz?X-Amz-Signature=sig-7f3e9a"
		artShown = "https://builds.example.com/web-2.tgz?REDACTED"
	)
	secrets := []string{"hunter2-pass", "sig-7f3e9a"}
	print := func(url string) string {
		return fmt.Sprintf(`echo "error: could not connect to %s: connection refused" >&2; exit 1`, url)
	}
	list := `'for m in $(ls migrations 2>/dev/null); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m"; done'`
	run := `'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`
	health := `'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'`
	failed := func(shown string) string {
		return "exit status 1: error: could not connect to " + shown + ": connection refused"
	}
	tests := []hostOutputCase{
		{"migrations run", "      run: " + run, "      run: '" + print(dbURL) + "'", failed(dbShown)},
		{"migrations list", "      list: " + list, "      list: '" + print(dbURL) + "'", failed(dbShown)},
		// The list's output is shown as the pending migrations.
		{"migrations list output", "      list: " + list + "\n      run: " + run, "      list: 'echo \"warning: using " + dbURL + "\"; ls migrations'\n      run: 'exit 1'",
			"warning: using " + dbShown},
		{"restart", "    restart: 'echo \"$SWITCHMAN_BUILD\" >> restarts.log; true'", "    restart: '" + print(artURL) + "'", failed(artShown)},
		{"health command", "      command: " + health, "      command: '" + print(dbURL) + "'", failed(dbShown)},
		{"backup", "        hosts: [localhost]", "        hosts: [localhost]\n        backup: '" + print(dbURL) + "'", failed(dbShown)},
	}
	for _, tc := range tests {
		yaml := fmt.Sprintf(fixtureYAML, "true")
		if strings.HasPrefix(tc.name, "health") {
			// The host fails its health check.
			yaml = failingHealth(yaml)
		}
		t.Run(tc.name, func(t *testing.T) { tc.check(t, yaml, secrets) })
	}
}

// TestHostOutputHidesConfiguredSecrets: a host's command may print a
// secret the config holds outside any URL: a migration run under set -x
// echoes PGPASSWORD=…, a failing tool quotes the token it was given. The
// value of every key that is a secret by its meaning is hidden wherever
// the output is shown; other words are not.
func TestHostOutputHidesConfiguredSecrets(t *testing.T) {
	const (
		botToken  = "xoxb-1234-bot-token-5678"
		sentryTok = "sntrys_0a1b2c3d4e5f"
		redisPass = "r3dis/pass" // percent-encoded in the URL
	)
	secrets := []string{botToken, sentryTok, redisPass}
	settings := `slack:
  signing_secret: 0123456789abcdef
  bot_token: ` + botToken + `
sentry:
  org: acme
  token: ` + sentryTok + `
store:
  redis:
    url: redis://:r3dis%2Fpass@127.0.0.1:6379/0
`
	print := `echo "+ PGPASSWORD=` + sentryTok + ` psql -c select" >&2; ` +
		`echo "curl: Authorization: Bearer ` + botToken + ` refused; AUTH ` + redisPass + ` refused in production" >&2; exit 1`
	shown := "exit status 1: + PGPASSWORD=REDACTED psql -c select\ncurl: Authorization: Bearer REDACTED refused; AUTH REDACTED refused in production"
	list := `'for m in $(ls migrations 2>/dev/null); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m"; done'`
	run := `'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`
	health := `'test "$(cat current/BUILD)" = {build} && test ! -e current/BROKEN'`
	// An app answers its health check with what went wrong.
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "db down: PGPASSWORD="+sentryTok+" for postgres://app:"+redisPass+"@db/app", http.StatusInternalServerError)
	}))
	defer app.Close()
	tests := []hostOutputCase{
		{"migrations run", "      run: " + run, "      run: '" + print + "'", shown},
		{"migrations list", "      list: " + list, "      list: '" + print + "'", shown},
		{"migrations list output", "      list: " + list + "\n      run: " + run,
			"      list: 'echo \"warning: PGPASSWORD=" + sentryTok + " is set\"; ls migrations'\n      run: 'exit 1'",
			"warning: PGPASSWORD=REDACTED is set"},
		{"restart", "    restart: 'echo \"$SWITCHMAN_BUILD\" >> restarts.log; true'", "    restart: '" + print + "'", shown},
		{"health command", "      command: " + health, "      command: '" + print + "'", shown},
		{"backup", "        hosts: [localhost]", "        hosts: [localhost]\n        backup: '" + print + "'", shown},
		{"health URL answer", "      command: " + health, "      url: " + app.URL + "/health",
			"answered 500 Internal Server Error: db down: PGPASSWORD=REDACTED for postgres://REDACTED@db/app"},
	}
	for _, tc := range tests {
		yaml := settings + fmt.Sprintf(fixtureYAML, "true")
		if strings.HasPrefix(tc.name, "health") {
			// The host fails its health check.
			yaml = failingHealth(yaml)
		}
		t.Run(tc.name, func(t *testing.T) { tc.check(t, yaml, secrets) })
	}
}

// TestHostOutputHidesCutSecrets: a transport keeps the last 4 KiB of a
// step's standard error. Where that cut falls inside a secret the host
// printed, what is left of the secret is not shown either. (The cut of
// standard output, at 4 MiB, is checked in scriptio: a deploy printing
// that much is slow to test.)
func TestHostOutputHidesCutSecrets(t *testing.T) {
	const sentryTok = "sntrys_0a1b2c3d4e5f"
	rest := sentryTok[len(sentryTok)-9:]
	settings := `sentry:
  org: acme
  token: ` + sentryTok + `
`
	// print writes the token and then enough x for the cut to keep only
	// rest of it, and fails.
	print := fmt.Sprintf(`printf "+ PGPASSWORD=%%s" %s >&2; printf "%%%ds" "" | tr " " x >&2; exit 1`, sentryTok, 4<<10-len(rest))
	failed := "exit status 1: REDACTEDxxxx"
	run := `'for m in $(ls migrations); do grep -qx "$m" ../../applied 2>/dev/null || echo "$m" >> ../../applied; done'`
	tests := []hostOutputCase{
		{"migrations run", "      run: " + run, "      run: '" + print + "'", failed},
		{"restart", "    restart: 'echo \"$SWITCHMAN_BUILD\" >> restarts.log; true'", "    restart: '" + print + "'", failed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, settings+fmt.Sprintf(fixtureYAML, "true"), []string{sentryTok, rest})
		})
	}
}

// hostOutputCase is a deploy whose host prints secrets in one place.
type hostOutputCase struct {
	name string
	old  string // lines of fixtureYAML
	new  string // what replaces it
	want string // what an error or the pending migrations say
}

// check deploys with yaml, tc's change made, expects the deploy to fail,
// and that the record, its hosts, the events and the log show none of
// secrets, while one of them (not the log) says tc.want.
func (tc hostOutputCase) check(t *testing.T, yaml string, secrets []string) {
	t.Helper()
	if !strings.Contains(yaml, tc.old) {
		t.Fatalf("the fixture has no line %q; update this test", tc.old)
	}
	var log syncbuf.Buffer
	f := newFixtureWith(t, strings.Replace(yaml, tc.old, tc.new, 1), func(o *deploy.Options) {
		o.Transports["local"] = &local.Transport{}
		o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	f.build("2", tarEntry{name: "migrations/002_email.sql", body: "x"})
	rec, err := f.run(deploy.KindDeploy, "2")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome == deploy.OutcomeSucceeded {
		t.Fatalf("outcome %s, want the %s to fail", rec.Outcome, tc.name)
	}
	shown := map[string]string{"record error": rec.Error, "record migrations": strings.Join(rec.Migrations, " "), "log": log.String()}
	for _, h := range rec.Hosts {
		shown["host "+h.Host+" error"] = h.Error
	}
	f.mu.Lock()
	for i, ev := range f.events {
		shown[fmt.Sprintf("event %d", i)] = ev.Err + " " + strings.Join(ev.Migrations, " ")
	}
	f.mu.Unlock()
	named := false
	for what, s := range shown {
		named = named || what != "log" && strings.Contains(s, tc.want)
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("%s shows the secret %q the host printed: %q", what, secret, s)
			}
		}
	}
	if !named {
		t.Errorf("no record error, event or migration says %q:\n%v", tc.want, shown)
	}
}
