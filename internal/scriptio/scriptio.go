// Package scriptio holds what the deploy transports (local, SSH) share:
// feeding a script's standard input and keeping the tail of its standard
// output and error.
package scriptio

import (
	"bytes"
	"fmt"
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

// MaxOutput is how much of a script's standard output the transports keep.
// What the bot parses is small (an inspection, a list of migrations, a
// chain's status lines), and a host printing without end (a verbose
// migration, a health command gone wrong) must not grow the bot until
// the step times out, on every host of every deploy at once.
const MaxOutput = 4 << 20

// Output keeps a script's standard output: all of it up to Max bytes,
// past that the last Max bytes. The end is kept rather than the start
// because that is where a script's verdict is: a chain of scripts reports
// each one's status on a line after its output (the statuses of those
// that passed are followed as they stream, but a failure's is only read
// at the end), and a tool prints its error, or its summary, last.
//
// Its zero value keeps MaxOutput bytes. It is not safe for concurrent use.
type Output struct {
	// Max is how much is kept; 0 means MaxOutput.
	Max int

	// buf holds the kept bytes; once it holds Max, it is a ring whose
	// oldest byte is at start.
	buf     []byte
	start   int
	dropped int64
	// before is the last byte dropped, the one just before the kept
	// ones: a newline there means the kept bytes start at a whole line.
	before byte
}

func (o *Output) limit() int {
	if o.Max > 0 {
		return o.Max
	}
	return MaxOutput
}

func (o *Output) Write(p []byte) (int, error) {
	n, limit := len(p), o.limit()
	if len(p) >= limit {
		if len(p) > limit {
			o.before = p[len(p)-limit-1]
		} else if len(o.buf) > 0 {
			o.before = o.buf[(o.start+len(o.buf)-1)%len(o.buf)]
		}
		o.dropped += int64(len(o.buf) + len(p) - limit)
		if cap(o.buf) < limit {
			o.buf = make([]byte, 0, limit)
		}
		o.buf = append(o.buf[:0], p[len(p)-limit:]...)
		o.start = 0
		return n, nil
	}
	if room := limit - len(o.buf); room > 0 {
		k := min(room, len(p))
		if cap(o.buf) < len(o.buf)+k {
			// Grown by hand: append could overshoot Max.
			grown := make([]byte, len(o.buf), min(limit, max(2*cap(o.buf), len(o.buf)+k)))
			copy(grown, o.buf)
			o.buf = grown
		}
		o.buf = append(o.buf, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 {
		k := min(len(o.buf)-o.start, len(p))
		o.before = o.buf[o.start+k-1]
		copy(o.buf[o.start:], p[:k])
		p = p[k:]
		o.dropped += int64(k)
		o.start = (o.start + k) % limit
	}
	return n, nil
}

// Bytes returns a copy of the output. When some was dropped, it starts
// with a line saying how much, followed by the kept bytes from the first
// whole line in them: the rest of a line whose start was dropped could be
// misread by a parser. When the last byte dropped was a newline, the kept
// bytes start at a whole line and all of them follow. Kept bytes that hold
// no line's start (one line longer than Max) are all the end of that line:
// they follow from their first whole character, and the note says the line
// lost its start, so that nobody takes it for a whole one. The line stays
// on a line of its own, where a secret the cut fell inside is still found
// and hidden.
func (o *Output) Bytes() []byte {
	if o.dropped == 0 {
		return bytes.Clone(o.buf)
	}
	kept := o.Tail()
	dropped := o.dropped
	cut := ""
	nl := bytes.IndexByte(kept, '\n')
	switch {
	case o.before == '\n':
		// The kept bytes start a line already: cutting to the next
		// newline would lose a whole line.
	case nl >= 0:
		kept = kept[nl+1:]
		dropped += int64(nl + 1)
	default:
		for i := 0; i < utf8.UTFMax && len(kept) > 0 && !utf8.RuneStart(kept[0]); i++ {
			kept = kept[1:]
			dropped++
		}
		cut = ", the start of the line below with them"
	}
	note := fmt.Sprintf("[output truncated: the first %d bytes were dropped%s]\n", dropped, cut)
	return append([]byte(note), kept...)
}

// Tail returns a copy of the last Max bytes written, as they are.
func (o *Output) Tail() []byte {
	kept := make([]byte, 0, len(o.buf))
	kept = append(kept, o.buf[o.start:]...)
	return append(kept, o.buf[:o.start]...)
}

// Reset empties o and lets go of its buffer.
func (o *Output) Reset() {
	o.buf, o.start, o.dropped, o.before = nil, 0, 0, 0
}
