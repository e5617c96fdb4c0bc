package redact

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []textCase{
		{"nothing to hide", "https://builds.example.com/web/1.tgz", "https://builds.example.com/web/1.tgz"},
		{"a path", "/srv/artifacts/web-1.tgz", "/srv/artifacts/web-1.tgz"},
		{"a relative path", "var/artifacts/web-1@2.tgz", "var/artifacts/web-1@2.tgz"},
		{"no slashes after the scheme", "https:ci:hunter2@b.example.com/1.tgz?token=hunter2", "https:REDACTED@b.example.com/1.tgz?REDACTED"},
		{"basic auth", "http://deploy:hunter2@web-1:8080/health", "http://REDACTED@web-1:8080/health"},
		{"a token as the user name", "https://glpat-hunter2@builds.example.com/web/1.tgz", "https://REDACTED@builds.example.com/web/1.tgz"},
		{"a token in the query", "https://web-1/health?token=hunter2", "https://web-1/health?REDACTED"},
		{"a presigned S3 URL", "https://b.s3.amazonaws.com/web/1.tgz?X-Amz-Credential=AKIA&X-Amz-Signature=hunter2", "https://b.s3.amazonaws.com/web/1.tgz?REDACTED"},
		{"an Azure SAS", "https://a.blob.core.windows.net/c/1.tgz?sv=2022&sig=hunter2", "https://a.blob.core.windows.net/c/1.tgz?REDACTED"},
		{"a fragment", "https://web-1/health#hunter2", "https://web-1/health"},
		{"a query and a fragment", "https://web-1/health?token=hunter2#hunter2", "https://web-1/health?REDACTED"},
		{"an empty query", "https://web-1/health?", "https://web-1/health"},
		{"all of them", "https://ci:hunter2@b.example.com/1.tgz?token=hunter2#hunter2", "https://REDACTED@b.example.com/1.tgz?REDACTED"},
		{"a placeholder in the host", "https://ci:hunter2@art-{env}.example.com/1.tgz", "https://REDACTED@art-{env}.example.com/1.tgz"},
		{"a bad escape", "https://ci:hunter2@ci.example.com/%zz/1.tgz?token=hunter2", "https://REDACTED@ci.example.com/%zz/1.tgz?REDACTED"},
		// net/url reads each of these as a host "ci" on port 12 and the
		// rest of the password as what follows the host.
		{"an unescaped / in the password", "https://ci:12/hunter2@b.example.com/1.tgz", "https://REDACTED@b.example.com/1.tgz"},
		{"an unescaped # in the password", "https://ci:12#hunter2@b.example.com/1.tgz", "https://REDACTED@b.example.com/1.tgz"},
		{"an unescaped ? in the password", "https://ci:12?hunter2@b.example.com/1.tgz", "https://REDACTED@b.example.com/1.tgz"},
		{"an unescaped / in a token", "https://glpat/hunter2@b.example.com/1.tgz", "https://REDACTED@b.example.com/1.tgz"},
		{"an unescaped @ in the password", "https://ci:hun?te@r2@art.example.com/1.tgz", "https://REDACTED@art.example.com/1.tgz"},
		{"an unescaped : in the password", "postgres://app:hun:ter2@db/app", "postgres://REDACTED@db/app"},
		// Less is shown than could be, rather than guess.
		{"an @ in the path", "https://npm.example.com/@scope/web-1.tgz", "https://REDACTED@scope/web-1.tgz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := URL(tt.in)
			if got != tt.want {
				t.Errorf("URL(%q): got %q, want %q", tt.in, got, tt.want)
			}
			if strings.Contains(got, "hun") || strings.Contains(got, "r2") {
				t.Errorf("URL(%q): got %q, which shows a secret", tt.in, got)
			}
		})
	}
}

func TestText(t *testing.T) {
	tests := []textCase{
		{"no URL", "psql: error: connection refused", "psql: error: connection refused"},
		{"a database URL", `error: could not connect to postgres://app:hunter2@db:5432/app: connection refused`,
			`error: could not connect to postgres://REDACTED@db:5432/app: connection refused`},
		{"quoted", `dial "mysql://root:hunter2@tcp(db:3306)/app" failed`, `dial "mysql://REDACTED@tcp(db:3306)/app" failed`},
		{"a presigned URL ending a sentence", "curl: (22) https://b.s3.amazonaws.com/1.tgz?X-Amz-Signature=hunter2: 403.",
			"curl: (22) https://b.s3.amazonaws.com/1.tgz?REDACTED: 403."},
		{"in parentheses", "(see https://ci:hunter2@ci.example.com/job/1)", "(see https://REDACTED@ci.example.com/job/1)"},
		{"two", "from redis://:hunter2@r:6379/0 to amqp://guest:hunter2@mq/", "from redis://REDACTED@r:6379/0 to amqp://REDACTED@mq/"},
		{"lines", "line 1\nhttps://x-token:hunter2@git.example.com/app.git\nline 3", "line 1\nhttps://REDACTED@git.example.com/app.git\nline 3"},
		{"an e-mail address is not a URL", "mail ops@example.com", "mail ops@example.com"},
	}
	checkText(t, tests)
}

func TestSecrets(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"bare", []string{"hunter2"}, "+ PGPASSWORD=hunter2 psql", "+ PGPASSWORD=REDACTED psql"},
		{"every occurrence", []string{"hunter2"}, "hunter2 and hunter2hunter2", "REDACTED and REDACTEDREDACTED"},
		{"several", []string{"xoxb-1-2-3", "sntrys_abc"}, "tokens xoxb-1-2-3, sntrys_abc.", "tokens REDACTED, REDACTED."},
		{"short values are not hidden", []string{"s3c", "admin", "pässw"}, "user admin, key s3c, pässw", "user admin, key s3c, pässw"},
		{"six characters are", []string{"pässwö"}, "pw pässwö", "pw REDACTED"},
		{"surrounding space is trimmed", []string{" hunter2\n"}, "pw=hunter2;", "pw=REDACTED;"},
		{"blank", []string{"", "      "}, "nothing      here", "nothing      here"},
		{"none", nil, "PGUSER=hunter2", "PGUSER=hunter2"},
		{"one holds the other", []string{"hunter2", "hunter2-longer"}, "a hunter2-longer b hunter2", "a REDACTED b REDACTED"},
		{"the other way round", []string{"hunter2-longer", "hunter2"}, "a hunter2-longer b hunter2", "a REDACTED b REDACTED"},
		{"one's end is the other's start", []string{"abcdef12", "ef12ghij"}, "x abcdef12ghij y", "x REDACTED y"},
		{"overlapping itself", []string{"aaaaaa"}, "aaaaaaaa.", "REDACTED."},
		{"repeats", []string{"hunter2", "hunter2"}, "hunter2", "REDACTED"},
		{"and URLs", []string{"hunter2"}, "postgres://app:pw@db/app as hunter2", "postgres://REDACTED@db/app as REDACTED"},
		{"a secret in a URL", []string{"glpat-hunter2"}, "git clone https://ci.example/x?t=glpat-hunter2", "git clone https://ci.example/x?REDACTED"},
		// A transport keeps the tail of what a script prints: its cut may
		// fall inside a value.
		{"starts with a value's end", []string{"sntrys_0a1b2c3d"}, "1b2c3d: refused", "REDACTED: refused"},
		{"ends with a value's start", []string{"sntrys_0a1b2c3d"}, "token sntrys_0", "token REDACTED"},
		{"the longest end", []string{"ab12ab12ab12"}, "12ab12ab12 x", "REDACTED x"},
		{"cut inside a character", []string{"pässwörter-1"}, "\xb6rter-1 refused", "REDACTED refused"},
		{"an end shorter than 6 characters", []string{"sntrys_0a1b2c3d"}, "2c3d: refused", "2c3d: refused"},
		{"a start shorter than 6 characters", []string{"sntrys_0a1b2c3d"}, "token sntr", "token sntr"},
		{"a part inside the text is no cut", []string{"sntrys_0a1b2c3d"}, "x 0a1b2c3d y sntrys_0a z", "x 0a1b2c3d y sntrys_0a z"},
		{"both edges", []string{"sntrys_0a1b2c3d", "xoxb-1-2-3-4"}, "1b2c3d, xoxb-1-", "REDACTED, REDACTED"},
		{"an end running into a value", []string{"abcdef123456", "123456ghijkl"}, "def123456ghijkl!", "REDACTED!"},
		// A cut inside a URL's user info leaves no "://": what is left of
		// it, up to the @ before the host, is hidden whatever its length
		// when it ends a value, or when the shape says it is user info.
		{"starts with a password's end and @host", []string{"hunter2"}, "nter2@db.example.com/app: connection refused", "REDACTED@db.example.com/app: connection refused"},
		{"one character of it", []string{"hunter2"}, "2@db.example.com/app", "REDACTED@db.example.com/app"},
		{"a value's end before an @host without port or path", []string{"hunter2"}, "nter2@db.example.com refused", "REDACTED@db.example.com refused"},
		{"a token as the user name", []string{"glpat-hunter2"}, "r2@builds.example.com refused", "REDACTED@builds.example.com refused"},
		{"an @ in the password", []string{"hun?te@r2"}, "te@r2@art.example.com refused", "REDACTED@art.example.com refused"},
		{"percent-encoded", []string{"hunter%402", "hunter@2"}, "r%402@db refused", "REDACTED@db refused"},
		{"an unknown password before a host with a path", nil, "nter2@db.example.com/app: connection refused", "REDACTED@db.example.com/app: connection refused"},
		{"before a host with a port", nil, "nter2@db:5432 refused", "REDACTED@db:5432 refused"},
		{"before an IPv6 host with a port", nil, "nter2@[::1]:5432/app", "REDACTED@[::1]:5432/app"},
		{"before a Go driver's tcp(host:port)", nil, "nter2@tcp(db:3306)/app\" failed", "REDACTED@tcp(db:3306)/app\" failed"},
		{"user and password", nil, "er:hunter2@db.example.com refused", "REDACTED@db.example.com refused"},
		{"a known password after the user's end", []string{"hunter2"}, "er:hunter2@db/app", "REDACTED@db/app"},
		{"an unknown @ in the password", nil, "te@r2@art.example.com/1.tgz", "REDACTED@art.example.com/1.tgz"},
		{"then a whole URL", nil, "nter2@db/app; retry postgres://app:pw@db/app", "REDACTED@db/app; retry postgres://REDACTED@db/app"},
		{"an e-mail address is not user info", nil, "ops@example.com: mailbox full", "ops@example.com: mailbox full"},
		{"nor an e-mail address ending a sentence", []string{"hunter2"}, "ops@example.com.", "ops@example.com."},
		{"nor a scp target", nil, "deploy@web-1:/srv/app: Permission denied", "deploy@web-1:/srv/app: Permission denied"},
		{"nor a Git remote", nil, "git@github.com:acme/web.git: not found", "git@github.com:acme/web.git: not found"},
		{"nor user@host of ssh", nil, "deploy@web-1: Permission denied (publickey).", "deploy@web-1: Permission denied (publickey)."},
		{"nor a value's end before an @ that is not the first word's", []string{"hunter2"}, "x nter2@db/app", "x nter2@db/app"},
		{"nor an @ alone", nil, "@db/app: x", "@db/app: x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NewSecrets(tt.secrets...).Text(tt.in)
			if got != tt.want {
				t.Errorf("Text(%q) hiding %q: got %q, want %q", tt.in, tt.secrets, got, tt.want)
			}
		})
	}
}

func TestNilSecretsHideURLs(t *testing.T) {
	var s *Secrets
	in := "dial postgres://app:hunter2@db/app: PGPASSWORD=hunter2"
	if got, want := s.Text(in), Text(in); got != want {
		t.Errorf("nil Secrets: got %q, want %q", got, want)
	}
	// The end of a URL's user info a cut left is hidden by its shape.
	in = "er:hunter2@db:5432/app: connection refused"
	if got, want := s.Text(in), "REDACTED@db:5432/app: connection refused"; got != want {
		t.Errorf("nil Secrets: got %q, want %q", got, want)
	}
}

// TestSecretsWriter: a log handler writing through Writer shows no secret
// value and no URL credential, and the rest of each record as it was.
func TestSecretsWriter(t *testing.T) {
	var out strings.Builder
	log := slog.New(slog.NewTextHandler(NewSecrets("xoxb-hunter2-token").Writer(&out), nil))
	log.Warn("slack: auth.test failed", "err", errors.New(`post https://ci:hunter2@slack.example/api: token "xoxb-hunter2-token" refused`))
	got := out.String()
	for _, want := range []string{`msg="slack: auth.test failed"`, `post https://REDACTED@slack.example/api: token \"REDACTED\" refused`} {
		if !strings.Contains(got, want) {
			t.Errorf("log line %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "hunter2") {
		t.Errorf("log line %q shows a secret", got)
	}

	failed := errors.New("disk full")
	if n, err := NewSecrets().Writer(failingWriter{failed}).Write([]byte("x")); n != 0 || !errors.Is(err, failed) {
		t.Errorf("Write to a failing writer: got %d, %v; want 0, %v", n, err, failed)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestSecretsWriterQuoted: the log's text handler quotes an attribute
// holding a quote, a backslash or a control character, escaping them; a
// secret value holding one is hidden in that form too.
func TestSecretsWriterQuoted(t *testing.T) {
	tests := []struct {
		name, secret string
	}{
		{"a quote", `pa"ss-word`},
		{"a backslash", `pa\ss-word`},
		{"a tab", "pa\tss-word"},
		{"invalid UTF-8", "pa\xffss-word"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			log := slog.New(slog.NewTextHandler(NewSecrets(tt.secret).Writer(&out), nil))
			log.Warn("redis: auth failed", "err", errors.New("password "+tt.secret+" refused"))
			got := out.String()
			if want := `err="password REDACTED refused"`; !strings.Contains(got, want) {
				t.Errorf("log line %q lacks %q", got, want)
			}
			if strings.Contains(got, "ss-word") {
				t.Errorf("log line %q shows the secret", got)
			}
			// As %q writes it in a message.
			if got := NewSecrets(tt.secret).Text(fmt.Sprintf("token %q refused", tt.secret)); got != `token "REDACTED" refused` {
				t.Errorf("%%q of the secret: got %q, want %q", got, `token "REDACTED" refused`)
			}
		})
	}
}

// TestAuthorizationHeader: the credentials of an Authorization header, as
// the tools a health command or a hook runs print it (curl -v on its
// standard error, a set -x trace), are hidden; its scheme stays.
func TestAuthorizationHeader(t *testing.T) {
	tests := []textCase{
		{"curl -v", "> GET /health HTTP/1.1\r\n> Authorization: Bearer eyJhbGciOi.hunter2\r\n> Accept: */*\r\n",
			"> GET /health HTTP/1.1\r\n> Authorization: Bearer REDACTED\r\n> Accept: */*\r\n"},
		{"curl -v over HTTP/2", "> authorization: Bearer hunter2\n< HTTP/2 503", "> authorization: Bearer REDACTED\n< HTTP/2 503"},
		{"basic", "> Authorization: Basic ZGVwbG95Omh1bnRlcjI=\n", "> Authorization: Basic REDACTED\n"},
		{"set -x of curl -H", "+ curl -fsS -H 'Authorization: Bearer hunter2' http://127.0.0.1:8080/health",
			"+ curl -fsS -H 'Authorization: Bearer REDACTED' http://127.0.0.1:8080/health"},
		{"set -x of curl -H with Digest", `+ curl -H 'Authorization: Digest username="ci", response="hunter2"' x`, `+ curl -H 'Authorization: Digest REDACTED' x`},
		{"double quotes", `curl -H "Authorization: token hunter2" x`, `curl -H "Authorization: token REDACTED" x`},
		{"JSON", `{"Authorization": "Bearer hunter2", "Accept": "*/*"}`, `{"Authorization": "Bearer REDACTED", "Accept": "*/*"}`},
		{"a Go header map", "map[Authorization:[Bearer hunter2] User-Agent:[curl]]", "map[Authorization:[Bearer REDACTED] User-Agent:[curl]]"},
		{"no scheme", "Authorization: hunter2\nnext", "Authorization: REDACTED\nnext"},
		{"an unknown scheme with parameters", `Authorization: Custom user="x", secret="hunter2"`, `Authorization: REDACTED`},
		{"JSON with an escaped quote", `{"Authorization": "Digest response=\"hunter2\""}`, `{"Authorization": "Digest REDACTED"}`},
		{"JSON quoted again in a log line", `err="body {\"Authorization\": \"Bearer hunter2\"}"`, `err="body {\"Authorization\": \"Bearer REDACTED\"}"`},
		{"AWS's", "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/2026, Signature=hunter2", "Authorization: AWS4-HMAC-SHA256 REDACTED"},
		{"a proxy's", "> Proxy-Authorization: Basic aHVudGVyMg==", "> Proxy-Authorization: Basic REDACTED"},
		{"upper case", "AUTHORIZATION: BEARER hunter2", "AUTHORIZATION: BEARER REDACTED"},
		{"the word alone", "authorization failed for deploy", "authorization failed for deploy"},
		{"no value", "> Authorization: \n", "> Authorization: \n"},
		{"a token scheme's credentials end at a space", "curl: Authorization: Bearer hunter2 refused", "curl: Authorization: Bearer REDACTED refused"},
	}
	checkText(t, tests, "hunter2", "ZGVwbG95", "aHVudGVy")
}

// TestCredentialHeaders: the values of the headers other than
// Authorization that carry a credential (a cookie, an API key, a token),
// as curl -v, a set -x trace of curl -H, JSON or a Go header map print
// them, are hidden; their names stay, and so does text that only names
// one.
func TestCredentialHeaders(t *testing.T) {
	tests := []textCase{
		{"curl -v of X-Api-Key", "> GET /health HTTP/1.1\r\n> X-Api-Key: hunter2hunter2\r\n> Accept: */*\r\n",
			"> GET /health HTTP/1.1\r\n> X-Api-Key: REDACTED\r\n> Accept: */*\r\n"},
		{"Api-Key over HTTP/2", "> api-key: hunter2\n< HTTP/2 503", "> api-key: REDACTED\n< HTTP/2 503"},
		{"set -x of curl -H X-Auth-Token", "+ curl -fsS -H 'X-Auth-Token: hunter2' http://127.0.0.1:8080/health",
			"+ curl -fsS -H 'X-Auth-Token: REDACTED' http://127.0.0.1:8080/health"},
		{"Cookie", "> Cookie: session=hunter2; theme=dark\r\n> Accept: */*", "> Cookie: REDACTED\r\n> Accept: */*"},
		{"Set-Cookie", "< set-cookie: sid=hunter2; Path=/; HttpOnly\n< content-length: 0", "< set-cookie: REDACTED\n< content-length: 0"},
		{"X-Amz-Security-Token", "X-Amz-Security-Token: hunter2", "X-Amz-Security-Token: REDACTED"},
		{"X-Goog-Api-Key", `curl -H "X-Goog-Api-Key: hunter2" x`, `curl -H "X-Goog-Api-Key: REDACTED" x`},
		{"GitLab's Private-Token", "PRIVATE-TOKEN: glpat-hunter2", "PRIVATE-TOKEN: REDACTED"},
		{"a webhook signature", "> X-Hub-Signature-256: sha256=hunter2", "> X-Hub-Signature-256: REDACTED"},
		{"JSON", `{"X-Vault-Token": "hvs.hunter2", "Accept": "*/*"}`, `{"X-Vault-Token": "REDACTED", "Accept": "*/*"}`},
		{"JSON quoted again in a log line", `err="body {\"X-Api-Key\": \"hunter2\"}"`, `err="body {\"X-Api-Key\": \"REDACTED\"}"`},
		{"JSON quoted again, an escaped quote in the value", `err="body {\"X-Api-Key\": \"hun\\\"ter2\"}"`, `err="body {\"X-Api-Key\": \"REDACTED\"}"`},
		{"a Go header map", "map[Accept:[*/*] Cookie:[sid=hunter2] X-Api-Key:[hunter2]]", "map[Accept:[*/*] Cookie:[REDACTED] X-Api-Key:[REDACTED]]"},
		{"a URL's user name is no header", "https://x-token:hunter2@git.example.com/app.git", "https://REDACTED@git.example.com/app.git"},
		{"another header", "> X-Request-Id: 4f2a\n> X-Api-Key-Id: 42", "> X-Request-Id: 4f2a\n> X-Api-Key-Id: 42"},
		{"the words alone", "cookie consent saved; rotated the api key; x-api-key missing", "cookie consent saved; rotated the api key; x-api-key missing"},
	}
	checkText(t, tests)
}

// TestCredentialParams: the values of parameters named for a credential,
// in a query shown without its URL's scheme (curl -v's request line), in
// a command's options or in its environment (set -x), are hidden; their
// names stay, and so does text that only names one.
func TestCredentialParams(t *testing.T) {
	tests := []textCase{
		{"curl -v's request line", "> GET /health?token=hunter2 HTTP/1.1", "> GET /health?token=REDACTED HTTP/1.1"},
		{"among other parameters", "GET /api/status?verbose=1&access_token=hunter2&page=2 HTTP/1.1", "GET /api/status?verbose=1&access_token=REDACTED&page=2 HTTP/1.1"},
		{"a form", "+ curl -d 'user=ci&password=hunter2' http://127.0.0.1:8080/login", "+ curl -d 'user=ci&password=REDACTED' http://127.0.0.1:8080/login"},
		{"an option", "+ mysql --user=app --password=hunter2 app", "+ mysql --user=app --password=REDACTED app"},
		{"the environment", "+ PGPASSWORD=hunter2 GITHUB_TOKEN=ghp_hunter2 MYSQL_PWD=hunter2 AWS_SECRET_ACCESS_KEY=hunter2 make",
			"+ PGPASSWORD=REDACTED GITHUB_TOKEN=REDACTED MYSQL_PWD=REDACTED AWS_SECRET_ACCESS_KEY=REDACTED make"},
		{"a presigned request", "GET /web/1.tgz?X-Amz-Security-Token=hunter2&X-Amz-Signature=hunter2 HTTP/1.1",
			"GET /web/1.tgz?X-Amz-Security-Token=REDACTED&X-Amz-Signature=REDACTED HTTP/1.1"},
		{"an Azure SAS", "GET /c/1.tgz?sv=2022&sig=hunter2 HTTP/1.1", "GET /c/1.tgz?sv=2022&sig=REDACTED HTTP/1.1"},
		{"a query's key", "GET /v1/geo?key=hunter2 HTTP/1.1", "GET /v1/geo?key=REDACTED HTTP/1.1"},
		{"quoted", `client_secret="hunter2 hunter2" refused`, `client_secret="REDACTED" refused`},
		{"quoted in a log line", `err="exec: DB_PASSWORD=\"hunter2\" migrate"`, `err="exec: DB_PASSWORD=\"REDACTED\" migrate"`},
		{"an escaped quote in a quoted value", `DB_PASSWORD="hun\"ter2" migrate`, `DB_PASSWORD="REDACTED" migrate`},
		{"an escaped backslash ends a quoted value", `DB_PASSWORD="hunter2\\" user=ci`, `DB_PASSWORD="REDACTED" user=ci`},
		{"quoted again, an escaped quote in the value", `err="exec: DB_PASSWORD=\"hun\\\"ter2\" migrate"`, `err="exec: DB_PASSWORD=\"REDACTED\" migrate"`},
		{"ending a sentence", "refused: token=hunter2.", "refused: token=REDACTED."},
		{"a URL's password", "fetch https://ci:hunter2@builds.example.com/1.tgz?token=hunter2 failed", "fetch https://REDACTED@builds.example.com/1.tgz?REDACTED failed"},
		{"the words alone", "token expired; password changed for deploy", "token expired; password changed for deploy"},
		{"no value", "token= \npassword=\t\n", "token= \npassword=\t\n"},
		{"a space after the =", "secret= hunter2", "secret= REDACTED"},
		{"spaces after the =, then more", "+ DB_PASSWORD=  hunter2 make\n+ x token=\thunter2; x", "+ DB_PASSWORD=  REDACTED make\n+ x token=\tREDACTED; x"},
		{"a space after the =, quoted", `api_key= "hunter2 hunter2" user=ci`, `api_key= "REDACTED" user=ci`},
		{"the word after it is hidden even in prose", "check: token= is empty", "check: token= REDACTED empty"},
		{"other names", "tokens=3 monkey=1 sort_key=name x_auth=none", "tokens=3 monkey=1 sort_key=name x_auth=none"},
		{"run together", "+ SECRETACCESSKEY=hunter2 AWSSECRETKEY=hunter2 app --secretAccessKey=hunter2 --sessionKey=hunter2",
			"+ SECRETACCESSKEY=REDACTED AWSSECRETKEY=REDACTED app --secretAccessKey=REDACTED --sessionKey=REDACTED"},
		{"other names run together", "MONKEY=1 SORTKEY=name TURNKEY=1 OLDPWD=/srv sortKey=name primaryKey=id", "MONKEY=1 SORTKEY=name TURNKEY=1 OLDPWD=/srv sortKey=name primaryKey=id"},
		{"short names outside a query", `level=WARN msg="SSH private keys others may read" key=/home/deploy/.ssh/id_ed25519`,
			`level=WARN msg="SSH private keys others may read" key=/home/deploy/.ssh/id_ed25519`},
		{"the shell's PWD and initdb's --auth", "PWD=/srv/web OLDPWD=/srv initdb --auth=trust", "PWD=/srv/web OLDPWD=/srv initdb --auth=trust"},
	}
	checkText(t, tests)
}

// TestCredentialJSONFields: the string value of a JSON field named for a
// credential, as the same rules name a parameter (an API's answer, a
// structured log line, a config dumped by a hook), is hidden, in JSON
// quoted again inside a log line's string too; the field's name stays,
// and so do values that are not strings and fields that only say
// something about a credential.
func TestCredentialJSONFields(t *testing.T) {
	tests := []textCase{
		{"password", `{"user": "ci", "password": "hunter2"}`, `{"user": "ci", "password": "REDACTED"}`},
		{"compact", `{"api_key":"hunter2","page":2}`, `{"api_key":"REDACTED","page":2}`},
		{"a client secret", `"client_id": "web", "client_secret": "hunter2 hunter2"`, `"client_id": "web", "client_secret": "REDACTED"`},
		{"an OAuth answer", `{"access_token":"eyJ.hunter2","token_type":"Bearer","expires_in":3600,"refresh_token":"hunter2"}`,
			`{"access_token":"REDACTED","token_type":"Bearer","expires_in":3600,"refresh_token":"REDACTED"}`},
		{"camel case", `{"clientSecret": "hunter2", "apiKey": "hunter2"}`, `{"clientSecret": "REDACTED", "apiKey": "REDACTED"}`},
		{"camel case run together", `{"secretAccessKey": "hunter2", "AWSSecretAccessKey": "hunter2", "sessionKey": "hunter2", "dbPass": "hunter2"}`,
			`{"secretAccessKey": "REDACTED", "AWSSecretAccessKey": "REDACTED", "sessionKey": "REDACTED", "dbPass": "REDACTED"}`},
		{"camel case names of other things", `{"sortKey": "id", "primaryKey": "id", "tokenCount": "3", "passwordChangedAt": "2026-12-05", "bypass": "yes"}`,
			`{"sortKey": "id", "primaryKey": "id", "tokenCount": "3", "passwordChangedAt": "2026-12-05", "bypass": "yes"}`},
		{"a space before the colon", `{"password" : "hunter2"}`, `{"password" : "REDACTED"}`},
		{"pretty-printed", "{\n  \"db_password\": \"hunter2\",\n  \"db_host\": \"db\"\n}", "{\n  \"db_password\": \"REDACTED\",\n  \"db_host\": \"db\"\n}"},
		{"an escaped quote in the value", `{"password": "hun\"ter2\\", "user": "ci"}`, `{"password": "REDACTED", "user": "ci"}`},
		{"quoted again in a log line", `err="body {\"password\":\"hunter2\",\"user\":\"ci\"}"`, `err="body {\"password\":\"REDACTED\",\"user\":\"ci\"}"`},
		{"quoted again, an escaped quote in the value", `err="body {\"secret\": \"hun\\\"ter2\"}"`, `err="body {\"secret\": \"REDACTED\"}"`},
		{"a Python dict", `{'password': 'hunter2', 'user': 'ci'}`, `{'password': 'REDACTED', 'user': 'ci'}`},
		{"cut before the closing quote", "{\"password\": \"hunter2\nnext", "{\"password\": \"REDACTED\nnext"},
		{"not a string", `{"password": null, "secret": true, "credentials": {"user": "ci"}}`,
			`{"password": null, "secret": true, "credentials": {"user": "ci"}}`},
		{"a number", `{"password": 12345, "pin_token":12.5}`, `{"password": REDACTED, "pin_token":REDACTED}`},
		{"a number quoted again in a log line", `err="body {\"password\":12345,\"user\":\"ci\"}"`, `err="body {\"password\":REDACTED,\"user\":\"ci\"}"`},
		{"an empty string", `{"password": ""}`, `{"password": ""}`},
		{"fields about a credential", `{"token_count": 3, "password_changed_at": "2026-12-05T14:00:00Z", "token_type": "Bearer", "tokens": "3"}`,
			`{"token_count": 3, "password_changed_at": "2026-12-05T14:00:00Z", "token_type": "Bearer", "tokens": "3"}`},
		{"short names", `{"key": "sort", "pass": "first", "auth": "none"}`, `{"key": "sort", "pass": "first", "auth": "none"}`},
		{"a credential word as a value", `{"field": "password", "msg": "token: expired"}`, `{"field": "password", "msg": "token: expired"}`},
		{"an Authorization field keeps its scheme", `{"Authorization": "Bearer hunter2"}`, `{"Authorization": "Bearer REDACTED"}`},
	}
	checkText(t, tests)
}

// TestCredentialYAML: the value of a YAML line naming a credential, as a
// hook dumping a config or a tool printing its settings shows it, is
// hidden; such a line holds nothing but the name and one value. A line
// whose "value" is several words is prose ("passwd: password updated
// successfully"), and so is a name that is not the line's first word.
func TestCredentialYAML(t *testing.T) {
	tests := []textCase{
		{"a config dump", "db:\n  host: db\n  password: hunter2\n  user: ci\n", "db:\n  host: db\n  password: REDACTED\n  user: ci\n"},
		{"at the start", "api_key: hunter2", "api_key: REDACTED"},
		{"a list item", "- client_secret: hunter2\n- name: web", "- client_secret: REDACTED\n- name: web"},
		{"CRLF", "PASSWORD: hunter2\r\nuser: ci", "PASSWORD: REDACTED\r\nuser: ci"},
		{"camel case", "\tsecretAccessKey: hunter2", "\tsecretAccessKey: REDACTED"},
		{"a comment after it", "token: hunter2  # rotated 2026-12-01", "token: REDACTED  # rotated 2026-12-01"},
		{"double quoted", `password: "hun\"ter2 hunter2"`, `password: "REDACTED"`},
		{"single quoted", "  passphrase: 'hunter2 hunter2'", "  passphrase: 'REDACTED'"},
		{"the one word of a line", "password: changed", "password: REDACTED"},
		{"no value", "Password:\npassword: \n", "Password:\npassword: \n"},
		{"several words", "passwd: password updated successfully\ntoken: expired, log in again", "passwd: password updated successfully\ntoken: expired, log in again"},
		{"not the first word", "error: password: too short\nyour password: changed", "error: password: too short\nyour password: changed"},
		{"other names", "token_count: 3\nkey: sort\npass: 2\npassword_changed_at: 2026-12-05", "token_count: 3\nkey: sort\npass: 2\npassword_changed_at: 2026-12-05"},
		{"no space after the colon", "password:none", "password:none"},
		{"a literal block", "db:\n  password: |\n    hunter2\n    hunter2\n  user: ci", "db:\n  password: |\n    REDACTED\n  user: ci"},
		{"a folded block, chomped", "private_key: >-\n  hunter2\n\n  hunter2\n\nuser: ci", "private_key: >-\n  REDACTED\n\nuser: ci"},
		{"a block with an indentation indicator, CRLF", "- token: |2\r\n   hunter2\r\n- name: web", "- token: |2\r\n   REDACTED\r\n- name: web"},
		{"a block at the end", "secret: |+\n  hunter2", "secret: |+\n  REDACTED"},
		{"a block with nothing in it", "password: |\nuser: ci", "password: |\nuser: ci"},
		{"a block of another name", "script: |\n  echo ok", "script: |\n  echo ok"},
		{"not a block", "password: |hunter2\n  next\npassword: ", "password: REDACTED\n  next\npassword: "},
	}
	checkText(t, tests, "hunter2", "hun")
}

// TestCredentialLooseShapes: the value of a key naming a credential is
// hidden in the other shapes configs and dumps print it in: an INI or TOML
// line with spaces around its = (at the line's start, its value up to the
// line's end), a quoted key with an unquoted value (loose JSON, YAML), and
// Go's %v or %+v of a struct or a map. Prose of similar shape, and keys
// not named for a credential, stay.
func TestCredentialLooseShapes(t *testing.T) {
	tests := []textCase{
		{"INI", "[db]\npassword = hunter2\nuser = ci", "[db]\npassword = REDACTED\nuser = ci"},
		{"INI, indented", "  db_password = hunter2\n", "  db_password = REDACTED\n"},
		{"INI, tabs", "\tapi_key\t=\thunter2\r\nuser = ci", "\tapi_key\t=\tREDACTED\r\nuser = ci"},
		{"INI, a value of several words", "passphrase = hunter2 hunter2  \nuser = ci", "passphrase = REDACTED  \nuser = ci"},
		{"INI, a space before the = alone", "password =hunter2", "password =REDACTED"},
		{"INI, a space after the = alone", "passphrase= hunter2 hunter2\nuser = ci\nsecret= x", "passphrase= REDACTED\nuser = ci\nsecret= REDACTED"},
		{"TOML, quoted", `token = "hun\"ter2" # rotated`, `token = "REDACTED" # rotated`},
		{"TOML, single quoted", "clientSecret = 'hunter2'", "clientSecret = 'REDACTED'"},
		{"INI, other names", "tokens = 3 left\nkey = sort\npassword_changed_at = 2026-12-05", "tokens = 3 left\nkey = sort\npassword_changed_at = 2026-12-05"},
		{"INI, not the first word", "set password = hunter\nif token == expected", "set password = hunter\nif token == expected"},
		{"INI, a comparison", "password == hunter\ntoken != expected", "password == hunter\ntoken != expected"},
		{"INI, no value", "password =\n", "password =\n"},
		{"a quoted key, unquoted value", "\"password\": hunter2\n  'api_key': hunter2 # old", "\"password\": REDACTED\n  'api_key': REDACTED # old"},
		{"a quoted key in a flow mapping", `{"user": ci, "password": hunter2, "token": hunter2}`, `{"user": ci, "password": REDACTED, "token": REDACTED}`},
		{"a quoted key, list item", `- "secret": hunter2`, `- "secret": REDACTED`},
		{"a quoted key, not a string", `{"password": null, "secret": true, "credentials": {"user": "ci"}, "key": [1]}`,
			`{"password": null, "secret": true, "credentials": {"user": "ci"}, "key": [1]}`},
		{"a quoted key, a number", "\"password\": 12345\n'api_key': 987654 # old", "\"password\": REDACTED\n'api_key': REDACTED # old"},
		{"a quoted key and =", `'password'=12345 "token"=hunter2 x`, `'password'=REDACTED "token"=REDACTED x`},
		{"a quoted key and =, other names", `'user'=12345 "password'=12345 password"=12345`, `'user'=12345 "password'=12345 password"=12345`},
		{"a quoted key in prose", `invalid value for "password": too short` + "\nerror: \"token\": expired", `invalid value for "password": too short` + "\nerror: \"token\": expired"},
		{"a quoted key, several words", `"password": too short`, `"password": too short`},
		{"Go's %+v", "config: {Password:hunter2 User:ci}", "config: {Password:REDACTED User:ci}"},
		{"Go's %+v, a pointer, last field", "&{User:ci DBPassword:hunter2}", "&{User:ci DBPassword:REDACTED}"},
		{"Go's %+v, a value with a space", "{User:ci Password:hunter2 hunter2 Port:5432}", "{User:ci Password:REDACTED Port:5432}"},
		{"Go's %+v, nested", "{DB:{Password:hunter2} Name:web}", "{DB:{Password:REDACTED} Name:web}"},
		{"Go's map", "map[password:hunter2 user:ci]", "map[password:REDACTED user:ci]"},
		{"Go's map, last", "env map[HOME:/root GITHUB_TOKEN:hunter2]", "env map[HOME:/root GITHUB_TOKEN:REDACTED]"},
		{"Go's %+v, a value holding a lowercase name and colon", "{Password:hunter2 b:hunter2 User:ci}", "{Password:REDACTED User:ci}"},
		{"Go's %+v, such a value last", "{User:ci Token:a hunter2:hunter2}", "{User:ci Token:REDACTED}"},
		{"Go's %+v, such a value nested", "{DB:{Password:x y:hunter2 Port:5432} Name:web}", "{DB:{Password:REDACTED Port:5432} Name:web}"},
		{"Go's %+v, such a value behind a pointer", "&{Password:a user:hunter2 User:ci}", "&{Password:REDACTED User:ci}"},
		{"Go's %+v, a slice of structs", "[{Password:a b:hunter2 User:ci} {Password:hunter2 c:d User:ro}]", "[{Password:REDACTED User:ci} {Password:REDACTED User:ro}]"},
		{"Go's %+v, a map of structs", "map[db:{Password:a b:hunter2 User:ci} web:{Token:hunter2}]", "map[db:{Password:REDACTED User:ci} web:{Token:REDACTED}]"},
		{"Go's %+v, a map in a struct", "{Env:map[home:/root token:hunter2 hunter2 user:ci] Name:web}", "{Env:map[home:/root token:REDACTED user:ci] Name:web}"},
		{"Go's %+v, unexported fields", "{password:hunter2 user:ci}", "{password:REDACTED}"},
		{"Go's map, a value with spaces", "map[password:hunter2 hunter2 user:ci]", "map[password:REDACTED user:ci]"},
		{"Go's map, a value with spaces, last", "map[user:ci password:hunter2 hunter2]", "map[user:ci password:REDACTED]"},
		{"Go's %+v, other fields", "{TokenCount:3 Key:sort Password: User:ci Credentials:{User:ci}}", "{TokenCount:3 Key:sort Password: User:ci Credentials:{User:ci}}"},
		{"no braces", "password:none\nset token:abc", "password:none\nset token:abc"},
		{"a list is not a map", "[password:hunter]", "[password:hunter]"},
		{"Go's %+v, a header's name", "req: {Authorization:Bearer hunter2 Host:web-1} sent", "req: {Authorization:Bearer REDACTED Host:web-1} sent"},
		{"Go's %+v, a header's name, last", "&{Method:GET Authorization:Bearer hunter2}", "&{Method:GET Authorization:Bearer REDACTED}"},
		{"Go's %+v, a header's name, no scheme", "{Authorization:hunter2 Host:web-1 Port:80}", "{Authorization:REDACTED Host:web-1 Port:80}"},
		{"Go's %+v, a header's name, an unknown scheme", "{Authorization:Custom hunter2 hunter2 Host:web-1}", "{Authorization:REDACTED Host:web-1}"},
		{"Go's %+v, a header's name, a user and password", "{Authorization:Custom ci:hunter2 Host:web-1}", "{Authorization:REDACTED Host:web-1}"},
		{"Go's %+v, a cookie and a key", "{Cookie:sid=hunter2; theme=dark XApiKey:none X-Api-Key:hunter2 Name:web}", "{Cookie:REDACTED XApiKey:none X-Api-Key:REDACTED Name:web}"},
		{"Go's %+v, a header's name, nested", "{Req:{Authorization:none} Name:web}", "{Req:{Authorization:REDACTED} Name:web}"},
		{"a header after a space is a line's, not a field's", `{"out":"> Authorization: Custom a b:hunter2`, `{"out":"> Authorization: REDACTED`},
	}
	checkText(t, tests, "hunter2")
}

// TestChatCredentials: Slack tokens and the secret paths of Slack and
// Discord webhooks, which a hook notifying a channel prints (wget names
// the URL it fetches on its standard error; set -x traces the command),
// are hidden whoever's they are.
func TestChatCredentials(t *testing.T) {
	tests := []textCase{
		{"wget of a Slack webhook", "--2026-12-05 14:00:01--  https://hooks.slack.com/services/T0001/B0001/hunter2hunter2\nResolving hooks.slack.com",
			"--2026-12-05 14:00:01--  https://hooks.slack.com/services/REDACTED\nResolving hooks.slack.com"},
		{"a Slack workflow trigger", "POST https://hooks.slack.com/triggers/T0001/123/hunter2: 404", "POST https://hooks.slack.com/triggers/REDACTED: 404"},
		{"a Discord webhook", "curl https://discord.com/api/webhooks/1234567890/hunter2-hunter2 failed", "curl https://discord.com/api/webhooks/1234567890/REDACTED failed"},
		{"a Discord webhook, versioned, with a query", "https://discordapp.com/api/v10/webhooks/123/hunter2?wait=true", "https://discordapp.com/api/v10/webhooks/123/REDACTED?REDACTED"},
		{"another Slack URL is not a webhook", "https://api.slack.com/apps/A0001", "https://api.slack.com/apps/A0001"},
		{"a Discord webhook's id alone", "https://discord.com/api/webhooks/123/", "https://discord.com/api/webhooks/123/"},
		{"a bot token", "+ notify --token xoxb-1234-5678-hunter2 --channel C1", "+ notify --token REDACTED --channel C1"},
		{"a user token", "SLACK_TOKEN=xoxp-1234-5678-9012-hunter2", "SLACK_TOKEN=REDACTED"},
		{"an app-level token", "xapp-1-A0001-1234-hunter2 refused", "REDACTED refused"},
		{"the prefix alone", "xoxb- and xapp- prefixes", "xoxb- and xapp- prefixes"},
	}
	checkText(t, tests)
}

// textCase is a text shown and what Text makes of it.
type textCase struct{ name, in, want string }

// checkText runs Text, and Secrets.Text with no values of its own, on
// each case: each gives want, which holds none of secrets ("hunter2" when
// none are given).
func checkText(t *testing.T, tests []textCase, secrets ...string) {
	t.Helper()
	if len(secrets) == 0 {
		secrets = []string{"hunter2"}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Text(tt.in)
			if got != tt.want {
				t.Errorf("Text(%q): got %q, want %q", tt.in, got, tt.want)
			}
			for _, secret := range secrets {
				if strings.Contains(got, secret) {
					t.Errorf("Text(%q): got %q, which shows a secret", tt.in, got)
				}
			}
			if got := NewSecrets().Text(tt.in); got != tt.want {
				t.Errorf("Secrets.Text(%q): got %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
