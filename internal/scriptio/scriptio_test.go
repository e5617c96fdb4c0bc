package scriptio

import (
	"errors"
	"io"
	"strings"
	"testing"
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
