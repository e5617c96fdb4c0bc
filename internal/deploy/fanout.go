package deploy

import (
	"errors"
	"io"
	"sync"
)

var errAllGone = errors.New("every host stopped reading")

// fanoutWindow bounds how far the fastest host may run ahead of the
// slowest: the bytes the fan-out holds. Each host also has its SSH window
// (2 MiB with OpenSSH) in flight.
const fanoutWindow = 8 << 20

// chunkSize is the size of the buffers the stream is copied into; they are
// reused once every host has read them, so a stream of any length costs
// the window's worth of memory, not garbage.
const chunkSize = 64 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, 0, chunkSize); return &b }}

// fanout copies one stream to several hosts. Every chunk written is kept
// once and shared by the hosts' readers until the slowest has read it, so
// a host that is briefly slower (its CPU share, its SSH window) does not
// stall the others until it falls fanoutWindow behind. A host whose
// reader is closed is dropped and the others go on; when every host is
// gone the copy stops.
//
// Write and close are called by one goroutine; the readers and err are
// safe to use from any.
type fanout struct {
	mu      sync.Mutex
	cond    *sync.Cond
	chunks  []*[]byte // chunks[i] is chunk base+i of the stream, from chunkPool
	base    int
	held    int // bytes in chunks
	readers []*fanReader
	live    int
	ended   bool
	endErr  error // nil for a complete stream
}

// fanReader is one host's end of a fanout.
type fanReader struct {
	f    *fanout
	next int // index of the chunk being read
	off  int // bytes of it already read
	gone bool
}

func newFanout() *fanout {
	f := &fanout{}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// add returns the reading end for one more host; Close it when the host
// stops reading.
func (f *fanout) add() *fanReader {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &fanReader{f: f, next: f.base}
	f.readers = append(f.readers, r)
	f.live++
	return r
}

// Write hands p to every live host; it fails with errAllGone once none
// is left.
func (f *fanout) Write(p []byte) (int, error) {
	// The caller reuses p: the hosts get a copy, made once for all.
	for rest := p; len(rest) > 0; {
		n := min(len(rest), chunkSize)
		if err := f.push(rest[:n]); err != nil {
			return len(p) - len(rest), err
		}
		rest = rest[n:]
	}
	return len(p), nil
}

// push adds a copy of p, at most chunkSize bytes, for every live host,
// once the window has room for it.
func (f *fanout) push(p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.live > 0 && f.held > 0 && f.held+len(p) > fanoutWindow {
		f.cond.Wait()
	}
	if f.live == 0 {
		return errAllGone
	}
	c := chunkPool.Get().(*[]byte)
	*c = append((*c)[:0], p...)
	f.chunks = append(f.chunks, c)
	f.held += len(p)
	f.cond.Broadcast()
	return nil
}

// err returns errAllGone once every host has stopped reading.
func (f *fanout) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.live == 0 {
		return errAllGone
	}
	return nil
}

// close ends every host's stream: at its end, or with err if the source
// failed.
func (f *fanout) close(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if errors.Is(err, errAllGone) {
		err = nil
	}
	f.ended, f.endErr = true, err
	f.cond.Broadcast()
}

// trim drops the chunks every live reader is done with. f.mu is held.
func (f *fanout) trim() {
	low := f.base + len(f.chunks)
	for _, r := range f.readers {
		if !r.gone && r.next < low {
			low = r.next
		}
	}
	n := low - f.base
	if n <= 0 {
		return
	}
	for i := range n {
		f.held -= len(*f.chunks[i])
		chunkPool.Put(f.chunks[i])
		f.chunks[i] = nil
	}
	f.chunks = f.chunks[n:]
	f.base = low
	f.cond.Broadcast()
}

func (r *fanReader) Read(p []byte) (int, error) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if r.gone {
			return 0, io.ErrClosedPipe
		}
		if i := r.next - f.base; i < len(f.chunks) {
			c := *f.chunks[i]
			n := copy(p, c[r.off:])
			r.off += n
			if r.off == len(c) {
				r.next, r.off = r.next+1, 0
				if i == 0 {
					f.trim()
				}
			}
			return n, nil
		}
		if f.ended {
			if f.endErr != nil {
				return 0, f.endErr
			}
			return 0, io.EOF
		}
		f.cond.Wait()
	}
}

// Close drops the host: the stream goes on without it. The host's own
// step reports why it stopped reading.
func (r *fanReader) Close() error {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.gone {
		return nil
	}
	r.gone = true
	f.live--
	f.trim()
	f.cond.Broadcast()
	return nil
}
