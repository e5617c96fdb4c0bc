package deploy

import (
	"errors"
	"io"
	"sync"
)

var (
	errHostGone = errors.New("host stopped reading")
	errAllGone  = errors.New("every host stopped reading")
)

// fanout copies one stream to several hosts. A host whose reader fails is
// dropped and the others go on; when every host is gone the copy stops.
// Writers are fed in turn, so the slowest host sets the pace: the stream
// is read once and never buffered whole.
type fanout struct {
	mu    sync.Mutex
	pipes []*io.PipeWriter
	extra io.Writer
	// check, when set, is asked after every write to extra; an error
	// stops the copy (the inspector found a bad entry mid-stream).
	check func() error
}

func newFanout() *fanout { return &fanout{} }

// add returns the reading end for one more host.
func (f *fanout) add() *io.PipeReader {
	pr, pw := io.Pipe()
	f.pipes = append(f.pipes, pw)
	return pr
}

// with returns a writer that feeds w and then every live host; when check
// reports an error the stream stops.
func (f *fanout) with(w io.Writer, check func() error) io.Writer {
	f.extra, f.check = w, check
	return f
}

func (f *fanout) Write(p []byte) (int, error) {
	if f.extra != nil {
		if _, err := f.extra.Write(p); err != nil {
			return 0, err
		}
	}
	if f.check != nil {
		if err := f.check(); err != nil {
			return 0, err
		}
	}
	live := f.pipes[:0]
	for _, pw := range f.pipes {
		if _, err := pw.Write(p); err != nil {
			pw.CloseWithError(err)
			continue
		}
		live = append(live, pw)
	}
	f.pipes = live
	if len(live) == 0 {
		return 0, errAllGone
	}
	return len(p), nil
}

// close ends every host's stream, with err if the source failed.
func (f *fanout) close(err error) {
	for _, pw := range f.pipes {
		if err != nil && !errors.Is(err, errAllGone) {
			pw.CloseWithError(err)
		} else {
			pw.Close()
		}
	}
}
