package scriptio

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/redact"
)

func TestTail(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"short", 8, []string{"ab", "cd"}, "abcd"},
		{"exact", 4, []string{"abcd"}, "abcd"},
		{"one big write", 4, []string{"abcdefgh"}, "efgh"},
		{"many writes", 4, []string{"ab", "cd", "ef"}, "cdef"},
		{"trailing newlines", 16, []string{"err\n\n"}, "err"},
		{"cut rune", 4, []string{"xé", "abc"}, "abc"},
		{"cut inside a 3-byte rune", 3, []string{"aé€z"}, "z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &Tail{Max: tt.max}
			for _, s := range tt.writes {
				if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if got := w.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk gone") }

type closedWriter struct{}

func (closedWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestFeed(t *testing.T) {
	var sb strings.Builder
	if err := Feed(&sb, strings.NewReader("artifact bytes")); err != nil || sb.String() != "artifact bytes" {
		t.Errorf("copy: got %q, %v", sb.String(), err)
	}
	if err := Feed(&sb, failingReader{}); err == nil {
		t.Error("a failing source must be reported: the script must not take half a stream for all of it")
	}
	if err := Feed(closedWriter{}, strings.NewReader("x")); err != nil {
		t.Errorf("a script that stopped reading: got %v, want nil", err)
	}
}

func TestOutput(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		writes   []string
		want     string
		wantTail string
	}{
		{"short", 8, []string{"ab", "cd"}, "abcd", "abcd"},
		{"exactly max", 8, []string{"abc\n", "def\n"}, "abc\ndef\n", "abc\ndef\n"},
		{"one big write", 8, []string{"line1\nline2\nxyz"},
			"[output truncated: the first 12 bytes were dropped]\nxyz", "ine2\nxyz"},
		{"writes wrapping around", 8, []string{"aaa\n", "bbb\n", "ccc\n", "dd"},
			"[output truncated: the first 8 bytes were dropped]\nccc\ndd", "b\nccc\ndd"},
		{"a big write after small ones", 8, []string{"aaa\n", "0123456789\nend\n"},
			"[output truncated: the first 15 bytes were dropped]\nend\n", "789\nend\n"},
		{"no line start kept", 4, []string{"abc", "defgh"},
			"[output truncated: the first 4 bytes were dropped, the start of the line below with them]\nefgh", "efgh"},
		{"no line start kept, cut inside a character", 3, []string{"x\u00e9", "bc"},
			"[output truncated: the first 3 bytes were dropped, the start of the line below with them]\nbc", "\xa9bc"},
		{"a line start kept after one without", 4, []string{"abcdefgh", "\nij"},
			"[output truncated: the first 9 bytes were dropped]\nij", "h\nij"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Output{Max: tt.max}
			for _, s := range tt.writes {
				if n, err := o.Write([]byte(s)); n != len(s) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
			}
			if got := string(o.Bytes()); got != tt.want {
				t.Errorf("Bytes: got %q, want %q", got, tt.want)
			}
			if got := string(o.Tail()); got != tt.wantTail {
				t.Errorf("Tail: got %q, want %q", got, tt.wantTail)
			}
			o.Reset()
			if got := o.Bytes(); len(got) != 0 {
				t.Errorf("after Reset: got %q", got)
			}
		})
	}
}

// TestOutputLineStart: the kept bytes are cut to the first whole line in
// them only when the byte dropped just before them was not a newline; when
// it was, they start a line already and none is lost, however the drop
// happened (one big write, a write of exactly Max, the ring wrapping).
func TestOutputLineStart(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []string
		want   string
	}{
		{"nothing dropped", 8, []string{"aaa\n", "bbb\n"}, "aaa\nbbb\n"},
		{"dropped newline, one big write", 8, []string{"aaa\nbbb\nccc\n"},
			"[output truncated: the first 4 bytes were dropped]\nbbb\nccc\n"},
		{"dropped newline, a write of exactly max", 8, []string{"aaa\n", "bbb\nccc\n"},
			"[output truncated: the first 4 bytes were dropped]\nbbb\nccc\n"},
		{"dropped newline, ring wrapping", 8, []string{"aaa\n", "bbb\n", "ccc\n"},
			"[output truncated: the first 4 bytes were dropped]\nbbb\nccc\n"},
		{"dropped newline, ring wrapping in small writes", 8, []string{"aaa\nbb", "b\n", "cc", "c\n"},
			"[output truncated: the first 4 bytes were dropped]\nbbb\nccc\n"},
		{"dropped newline, no newline kept", 4, []string{"ab\n", "cdef"},
			"[output truncated: the first 3 bytes were dropped]\ncdef"},
		{"dropped other byte, one big write", 8, []string{"aaa\nbbbb\nccc\n"},
			"[output truncated: the first 9 bytes were dropped]\nccc\n"},
		{"dropped other byte, ring wrapping", 8, []string{"aaa\n", "bbbb\n", "ccc\n"},
			"[output truncated: the first 9 bytes were dropped]\nccc\n"},
		{"dropped newline, then other byte", 8, []string{"aaa\n", "bbb\n", "ccc\n", "d"},
			"[output truncated: the first 8 bytes were dropped]\nccc\nd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Output{Max: tt.max}
			for _, s := range tt.writes {
				o.Write([]byte(s))
			}
			if got := string(o.Bytes()); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestOutputBounded: however much a script prints, its zero-value Output
// holds at most MaxOutput bytes, and keeps the end.
func TestOutputBounded(t *testing.T) {
	var o Output
	chunk := []byte(strings.Repeat("noise\n", 32<<10/6))
	total := 0
	for total < 3*MaxOutput {
		o.Write(chunk)
		total += len(chunk)
	}
	o.Write([]byte("the verdict\n"))
	if c := cap(o.buf); c > MaxOutput {
		t.Errorf("holds %d bytes for %d written, want at most %d", c, total, MaxOutput)
	}
	got := o.Bytes()
	if len(got) > MaxOutput+100 || !strings.HasPrefix(string(got), "[output truncated: the first ") ||
		!strings.HasSuffix(string(got), "noise\nthe verdict\n") {
		t.Errorf("got %d bytes starting %q and ending %q, want the last %d after a note", len(got), got[:min(len(got), 60)], got[max(0, len(got)-30):], MaxOutput)
	}
}

// TestCutSecretHidden: where the cut of a Tail or an Output falls inside
// a secret a script printed, what is left of it is hidden as the secret
// is, once the kept text is shown as the engine shows it (the standard
// error whole, the standard output line by line).
func TestCutSecretHidden(t *testing.T) {
	const token = "sntrys_0a1b2c3d4e5f"
	secrets := redact.NewSecrets(token)
	printed := "+ PGPASSWORD=" + token + " refused"
	rest := token[7:] // what the cut to 20 bytes keeps of it

	tail := &Tail{Max: 20}
	tail.Write([]byte(printed))
	stdout := &Output{Max: 20}
	stdout.Write([]byte(printed))
	var lines []string
	for _, line := range strings.Split(string(stdout.Bytes()), "\n") {
		lines = append(lines, secrets.Text(line))
	}
	tests := []struct {
		name, kept, shown string
	}{
		{"standard error", tail.String(), secrets.Text(tail.String())},
		{"standard output", string(stdout.Bytes()), strings.Join(lines, "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(tt.kept, rest) {
				t.Fatalf("kept %q: want the cut inside the token, keeping %q", tt.kept, rest)
			}
			if strings.Contains(tt.shown, rest[:6]) || strings.Contains(tt.shown, rest[len(rest)-6:]) {
				t.Errorf("shown %q: got a part of the token", tt.shown)
			}
			if want := "REDACTED refused"; !strings.HasSuffix(tt.shown, want) {
				t.Errorf("shown %q: want it to end with %q", tt.shown, want)
			}
		})
	}
}
