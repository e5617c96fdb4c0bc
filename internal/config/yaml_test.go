package config

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDurationYAML(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "5m", want: 5 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: `"2m"`, want: 2 * time.Minute},
		{in: "0s", want: 0},
		{in: "400d", want: 400 * 24 * time.Hour},
		{in: "2w", want: 14 * 24 * time.Hour},
		{in: "36500d", want: 36500 * 24 * time.Hour},
		{in: "5214w", want: 5214 * 7 * 24 * time.Hour},
		{in: "36501d", wantErr: `line 2: invalid duration "36501d": at most 36500d`},
		{in: "30501w", wantErr: `line 2: invalid duration "30501w": at most 36500d`},
		{in: "1d12h", wantErr: `line 2: invalid duration "1d12h"`},
		{in: "1.5d", wantErr: `line 2: invalid duration "1.5d"`},
		{in: "5 minutes", wantErr: `line 2: invalid duration "5 minutes"`},
		{in: "30", wantErr: `line 2: invalid duration "30"`},
		{in: "[1s]", wantErr: "line 2: want a duration like 30s"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var v struct{ D Duration }
			err := yaml.Unmarshal([]byte("# comment\nd: "+tt.in+"\n"), &v)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Unmarshal(%q): got error %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%q): got error %v, want none", tt.in, err)
			}
			if v.D.D() != tt.want {
				t.Errorf("Unmarshal(%q): got %v, want %v", tt.in, v.D, tt.want)
			}
		})
	}
}

func TestDurationMarshal(t *testing.T) {
	out, err := yaml.Marshal(struct{ D Duration }{Duration(90 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "d: 1m30s\n"; got != want {
		t.Errorf("Marshal: got %q, want %q", got, want)
	}
}

func TestHostYAML(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Host
		wantErr string
	}{
		{name: "name", in: "web1", want: Host{Name: "web1"}},
		{name: "name=address", in: "web1=10.0.0.1:22", want: Host{Name: "web1", Address: "10.0.0.1:22"}},
		{name: "spaces trimmed", in: `" web1 = 10.0.0.1 "`, want: Host{Name: "web1", Address: "10.0.0.1"}},
		{name: "second = belongs to the address", in: "a=b=c", want: Host{Name: "a", Address: "b=c"}},
		{name: "mapping", in: "{name: web1, address: h1.example:22, vars: {port: '80'}}",
			want: Host{Name: "web1", Address: "h1.example:22", Vars: map[string]string{"port": "80"}}},
		{name: "mapping without address", in: "{name: web1}", want: Host{Name: "web1"}},
		{name: "no name", in: "=10.0.0.1", wantErr: "line 2: host has no name"},
		{name: "empty address", in: "web1=", wantErr: `line 2: host "web1" has an empty address after =`},
		{name: "list", in: "[web1]", wantErr: "line 2: a host is a name, name=address or a mapping"},
		{name: "bad field in mapping", in: "{name: [x]}", wantErr: "line 2: cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v struct{ H Host }
			err := yaml.Unmarshal([]byte("# comment\nh: "+tt.in+"\n"), &v)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Unmarshal(%q): got error %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%q): got error %v, want none", tt.in, err)
			}
			if !reflect.DeepEqual(v.H, tt.want) {
				t.Errorf("Unmarshal(%q): got %+v, want %+v", tt.in, v.H, tt.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	env := mapEnv(map[string]string{"A": "1", "EMPTY": ""})
	tests := []struct {
		in, want string
		errs     []expandError
	}{
		{in: "", want: ""},
		{in: "plain", want: "plain"},
		{in: "${A}", want: "1"},
		{in: "x${A}y${A}", want: "x1y1"},
		{in: "${EMPTY}", want: ""},
		{in: "${EMPTY:-d}", want: "d"},
		{in: "${UNSET:-a b:c}", want: "a b:c"},
		{in: "$$", want: "$"},
		{in: "$$$", want: "$$"},
		{in: "$${A}", want: "${A}"},
		{in: "$A $ $1 ${A", want: "$A $ $1 ${A", errs: []expandError{{8, "unterminated ${ (write $$ for a literal $)"}}},
		{in: "ab${UNSET}cd", want: "abcd", errs: []expandError{{2, "environment variable UNSET is not set (write ${UNSET:-default} to give a default)"}}},
		{in: "${}", want: "", errs: []expandError{{0, "invalid variable name in ${} (write $$ for a literal $)"}}},
		// A nested reference is refused, not read up to the inner }: the
		// secret must not become the text "${B}", or "1}".
		{in: "${UNSET:-${A}}", want: "", errs: []expandError{{0, "a ${...} inside ${...} is not supported: write one reference, or set the variable"}}},
		{in: "${A:-${A}}x", want: "x", errs: []expandError{{0, "a ${...} inside ${...} is not supported: write one reference, or set the variable"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, errs := expand(tt.in, env)
			if got != tt.want {
				t.Errorf("expand(%q): got %q, want %q", tt.in, got, tt.want)
			}
			if !reflect.DeepEqual(errs, tt.errs) {
				t.Errorf("expand(%q) errors: got %v, want %v", tt.in, errs, tt.errs)
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"artifact", "default_env", "environments", "health", "keep_releases", "path", "restart", "shared"}
	tests := []struct{ key, want string }{
		{"restrat", "restart"},
		{"Restart", "restart"},
		{"pth", "path"},
		{"enviroments", "environments"},
		{"defaultenv", "default_env"},
		{"keep", "keep_releases"},
		{"hosts", ""},
		{"x", ""},
		{"notify", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := suggest(tt.key, known); got != tt.want {
				t.Errorf("suggest(%q): got %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// TestSummaryHidesURLCredentials: check-config's output lands in CI logs;
// the user info, query and fragment of an artifact or health URL are not
// in it, also where net/url would read a password's unescaped / or # as
// the end of the host.
func TestSummaryHidesURLCredentials(t *testing.T) {
	tests := []struct{ name, artifact, health, want string }{
		{"templates", "https://b.example/{build}.tgz", "http://{host}:80/health",
			"url https://b.example/{build}.tgz|url http://{host}:80/health"},
		{"user info and query", "https://u:hunter2@b.example/{build}.tgz", "http://{host}:80/health?token=hunter2",
			"url https://REDACTED@b.example/{build}.tgz|url http://{host}:80/health?REDACTED"},
		// A password holding an unescaped / or # does not load (see
		// TestURLPasswordNotPercentEncoded): there is no summary to show it.
		{"a fragment", "https://b.example/{build}.tgz#hunter2", "http://{host}:80/health#hunter2",
			"url https://b.example/{build}.tgz|url http://{host}:80/health"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := strings.Replace(minimalYAML, "path: builds/{app}/{build}.tar.gz", "url: "+strconv.Quote(tt.artifact), 1)
			yaml = strings.Replace(yaml, "    restart: ./restart\n", "    restart: ./restart\n    health:\n      url: "+strconv.Quote(tt.health)+"\n", 1)
			sum := mustParse(t, "/etc/switchman/switchman.yaml", yaml, nil).Summary()
			var got []string
			for line := range strings.Lines(sum) {
				for _, key := range []string{"artifact:", "health:"} {
					if v, ok := strings.CutPrefix(strings.TrimSpace(line), key); ok {
						v, _, _ = strings.Cut(strings.TrimSpace(v), " (")
						got = append(got, v)
					}
				}
			}
			if g := strings.Join(got, "|"); g != tt.want {
				t.Errorf("artifact and health lines: got %q, want %q", g, tt.want)
			}
			if strings.Contains(sum, "hunter2") {
				t.Errorf("summary: got the secret in\n%s", sum)
			}
		})
	}
}
