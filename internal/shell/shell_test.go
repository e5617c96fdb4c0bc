package shell

import (
	"os/exec"
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "''"},
		{"plain word", "web-1", "web-1"},
		{"safe punctuation", "releases/2024.06.01_3:x@y%z+a,b", "releases/2024.06.01_3:x@y%z+a,b"},
		{"leading dash", "-rf", "-rf"},
		{"space", "a b", "'a b'"},
		{"single quote", "it's", `'it'\''s'`},
		{"only a single quote", "'", `''\'''`},
		{"double quote", `say "hi"`, `'say "hi"'`},
		{"dollar", "$HOME", "'$HOME'"},
		{"command substitution", "$(id)", "'$(id)'"},
		{"backticks", "`id`", "'`id`'"},
		{"backslash", `a\b`, `'a\b'`},
		{"semicolon", "a;b", "'a;b'"},
		{"glob", "*", "'*'"},
		{"tilde", "~", "'~'"},
		{"newline", "a\nb", "'a\nb'"},
		{"unicode", "héllo", "'héllo'"},
		{"assignment", "PATH=/opt/bin", "'PATH=/opt/bin'"},
		{"assignment with digits", "_A1=x", "'_A1=x'"},
		{"not an assignment: leading digit", "1A=x", "1A=x"},
		{"not an assignment: leading equals", "=x", "=x"},
		{"not an assignment: dash before equals", "--flag=x", "--flag=x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Quote(tt.in); got != tt.want {
				t.Errorf("Quote(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestJoin(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want string
	}{
		{"none", nil, ""},
		{"one", []string{"ls"}, "ls"},
		{"mixed", []string{"ln", "-sfn", "releases/b 1", "current"}, "ln -sfn 'releases/b 1' current"},
		{"empty arg", []string{"printf", "%s", ""}, "printf %s ''"},
		{"assignment first", []string{"A=1", "env"}, "'A=1' env"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Join(tt.in...); got != tt.want {
				t.Errorf("Join(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestValid(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", true},
		{"a b\n", true},
		{"a\x00b", false},
		{"\x00", false},
	}
	for _, tt := range tests {
		if got := Valid(tt.in); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// hostile are strings that break naive quoting.
var hostile = []string{
	"",
	"$(id)",
	"`id`",
	"'",
	"''",
	`"`,
	`\`,
	`\'`,
	"'\\''",
	"a\nb",
	"\n",
	"a;b",
	"a && b",
	"a || b",
	"a | b",
	"*",
	"?",
	"[a]",
	"~",
	"~root",
	"{a,b}",
	"$HOME",
	"${HOME}",
	"$((1+1))",
	"#comment",
	"a#b",
	"!",
	"<in >out 2>&1",
	"&",
	"(x)",
	"héllo, wörld ✓",
	"日本語",
	"-n",
	"-e",
	"--help",
	"-",
	" leading and trailing ",
	"\t",
	"\x01\x1b[31mred\x7f",
	"\xff\xfe invalid utf-8",
	"PATH=/nonexistent",
	"IFS=x",
	"%s%d%%",
	"../../etc/passwd",
}

// printed runs script with /bin/sh and returns its standard output.
func printed(t testing.TB, script string) string {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", script).Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", script, err)
	}
	return string(out)
}

func TestQuoteRoundTripsThroughShell(t *testing.T) {
	for _, s := range hostile {
		t.Run(strings.ToValidUTF8(s, "?"), func(t *testing.T) {
			if got := printed(t, "printf %s "+Quote(s)); got != s {
				t.Errorf("sh printed %q, want %q (quoted as %s)", got, s, Quote(s))
			}
		})
	}
}

func TestJoinKeepsArgumentsApart(t *testing.T) {
	// Each argument must arrive as exactly one argument: printf repeats its
	// format once per argument.
	script := "printf '<%s>' " + Join(hostile...)
	var want strings.Builder
	for _, s := range hostile {
		want.WriteString("<" + s + ">")
	}
	if got := printed(t, script); got != want.String() {
		t.Errorf("sh printed %q, want %q", got, want.String())
	}
}

func TestJoinFirstWordIsNotAnAssignment(t *testing.T) {
	// Unquoted, "X=1 printf ok" would run printf with X set. Quoted, the
	// shell looks for a command named "X=1" and fails.
	err := exec.Command("/bin/sh", "-c", Join("X=1", "printf", "ok")).Run()
	if err == nil {
		t.Fatal("got success, want the shell to fail to find a command named X=1")
	}
}

// FuzzQuote checks that every Valid string survives a trip through sh.
// Run it with: go test ./internal/shell -run '^$' -fuzz FuzzQuote
func FuzzQuote(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !Valid(s) {
			// A NUL cannot be passed in argv; check that it stays inside
			// quotes so that a truncated script cannot run.
			q := Quote(s)
			if q[0] != '\'' || q[len(q)-1] != '\'' {
				t.Fatalf("Quote(%q) = %q, want it single-quoted", s, q)
			}
			return
		}
		if got := printed(t, "printf %s "+Quote(s)); got != s {
			t.Errorf("sh printed %q, want %q (quoted as %s)", got, s, Quote(s))
		}
	})
}
