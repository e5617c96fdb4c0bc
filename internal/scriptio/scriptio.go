// Package scriptio holds what the deploy transports (local, SSH) share:
// feeding a script's standard input and keeping the tail of its standard
// error.
package scriptio

import (
	"bytes"
	"io"
	"unicode/utf8"
)

// Feed copies r to a script's standard input w. It returns an error only
// when reading r fails: a script that stops reading its input early is not
// an error of Feed's (the script's exit status says what happened).
func Feed(w io.Writer, r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// Tail keeps the last Max bytes written to it. It is not safe for
// concurrent use.
type Tail struct {
	Max int
	buf []byte
}

func (w *Tail) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= w.Max {
		w.buf = append(w.buf[:0], p[len(p)-w.Max:]...)
		return n, nil
	}
	if over := len(w.buf) + len(p) - w.Max; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	w.buf = append(w.buf, p...)
	return n, nil
}

// String returns the kept text without trailing newlines, starting at a
// character boundary.
func (w *Tail) String() string { return TailOf(w.buf, w.Max) }

// TailOf returns the last max bytes of b as text, starting at a character
// boundary, without trailing newlines.
func TailOf(b []byte, max int) string {
	if len(b) > max {
		b = b[len(b)-max:]
	}
	for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
		b = b[1:]
	}
	return string(bytes.TrimRight(b, "\n"))
}
