package deploy

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/switchman-bot/switchman/internal/artifact"
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

// A paced host gets no more of the stream than its pace window beyond
// what its tar reported reading. Without pacing a host gets its whole SSH
// window at once, and OpenSSH's sshd (9.2 at least) grows a session's
// input buffer one 32 KiB packet at a time, each time copying the buffer
// into a fresh allocation and zeroing the old one: 5 MB sent as fast as
// sshd took it cost a host 169 ms of CPU per connection on loopback,
// against 52 ms when fed 32 KiB at a time. Each step copies all that is
// queued, so the cost grows with the square of the queue, and the window
// is as small as the host's link allows: paceRate times the connection's
// round trip, within minPaceWindow and maxPaceWindow, or paceWindow when
// the transport does not know the round trip (a host behind a bastion).
// At 50 hosts × 5 MB on loopback, 256 KiB instead of 1 MiB cut the hosts'
// CPU and the deploy by about a fifth; 512 KiB since tar reads 64 KiB
// records (see unpackScript).
const (
	// paceWindow sustains 20 MB/s to a host 50 ms away.
	paceWindow = 1 << 20
	// minPaceWindow covers what the host's own pipeline holds (two pipes,
	// zstd's input buffer, the record tar is filling and the two between
	// its reports), so that little queues in sshd. With 256 KiB a host
	// waited for its own pipeline: 10 hosts × 100 MB took 3.7–3.9 s
	// against 3.0 s. It sustains 500 MB/s at a round trip of 1 ms.
	minPaceWindow = 512 << 10
	// maxPaceWindow is twice OpenSSH's session window, which bounds what
	// is in flight anyway.
	maxPaceWindow = 4 << 20
	// paceRate is the rate per host the window must allow for.
	paceRate = 64 << 20
)

// paceWindowFor returns the pace window of a host rtt away (0: unknown).
func paceWindowFor(rtt time.Duration) int64 {
	if rtt <= 0 {
		return paceWindow
	}
	return min(max(int64(rtt.Seconds()*paceRate), minPaceWindow), maxPaceWindow)
}

// paceStall is how long a paced host's tar may stay silent after it
// started, before its first progress report, while the fan-out holds data
// back for it; then its window doubles, and once the window has reached
// maxPaceWindow it gets its stream unpaced. Pacing relies on the host's
// progress reports (a tar other than GNU tar sends none) and must never be
// what stalls a delivery; but at 50 hosts on two cores a GNU tar may wait
// longer than paceStall for the CPU to unpack its first records, and a
// host released at once then had megabytes queue in its sshd: a few such
// hosts made a 50-host deploy take up to three times as long. Doubling
// lets a silent tar have its stream within about 2 s, and keeps a slow
// one's queue small until it reports; its first report restores its
// window.
const paceStall = 500 * time.Millisecond

// paceStallReporting is paceStall for a host whose tar has reported
// progress: it is known to report, so its silence means it is not reading
// (at 50 hosts on two cores a host's tar can wait seconds for a CPU), and
// more data would only queue in its sshd, where it costs that host the
// most CPU. Releasing such a host after paceStall made a 50-host push
// deploy take 1.6 to 2.9 times as long on a VM where sshd's buffer growth
// is dear. The limit only guards against a host that stops reporting
// while it still reads.
const paceStallReporting = 10 * time.Second

// stuckLooks is how many times per stuck limit the fan-out looks for a
// host that holds back the others; the limit is met within a fraction
// this small of itself.
const stuckLooks = 4

// maxStuck bounds how long a host may hold back the others of its wave
// without progress before it is dropped from the fan-out (see
// fanout.stuck), and half the env's step_timeout does when shorter, so
// that the others have time left to finish. It is well beyond
// paceStallReporting: a host whose tar waits seconds for a CPU is slow,
// not stuck.
const maxStuck = 30 * time.Second

// stuckLimit returns the fan-out's stuck limit for a wave of hosts whose
// delivery step may take stepTimeout.
func stuckLimit(stepTimeout time.Duration) time.Duration {
	return min(maxStuck, stepTimeout/2)
}

// stuckError is the error of a host the fan-out dropped for holding back
// the others without progress.
type stuckError struct{ after time.Duration }

func (e *stuckError) Error() string {
	return fmt.Sprintf("stopped reading the stream for %s", e.after)
}

// fanout copies one stream to several hosts. Every chunk written is kept
// once and shared by the hosts' readers until the slowest has read it, so
// a host that is briefly slower (its CPU share, its SSH window) does not
// stall the others until it falls fanoutWindow behind. A host whose
// reader is closed is dropped and the others go on; when every host is
// gone the copy stops.
//
// A host that holds back the others (the window is full, and it has not
// read the oldest chunk) and makes no progress (reads nothing, reports
// nothing) for the stuck limit is dropped too: its reader's stop is
// called, and its Read fails with a *stuckError. Its tar may have stopped
// reading (a hung disk, a stopped process) on a connection that is alive;
// without the limit every host of the wave would wait for it until their
// delivery step timed out, and fail with it. A host that is slower than
// the others but makes progress is never dropped.
//
// A host whose tar reports how far it has read the archive can be paced
// (addPaced): it is handed the stream no more than its pace window ahead
// of what it unpacked. For that the fan-out notes, with each write, how far
// the archive is known to unpack from the stream so far (position).
//
// The last tailBytes of the stream reach no host before close(nil): hosts
// unpack and then install in one session, and their decompressor cannot
// finish, so no host can install, before the bot has verified the whole
// stream and closed it cleanly; and what the inspector has not checked
// yet lies within them.
//
// Write and close are called by one goroutine; the readers and err are
// safe to use from any.
type fanout struct {
	mu      sync.Mutex
	cond    *sync.Cond
	chunks  []chunk // chunks[i] is chunk base+i of the stream
	base    int
	held    int   // bytes in chunks
	sent    int64 // stream bytes written
	readers []*fanReader
	live    int
	ended   bool
	endErr  error // nil for a complete stream

	// position, when set, returns how many archive bytes the stream
	// written so far unpacks to, at least; marks record it per write.
	position func() int64
	marks    []mark
	lastPos  int64
	// stall and stallReporting are paceStall and paceStallReporting.
	stall, stallReporting time.Duration

	// stuck is the stuck limit; 0: none. full says that a write waits for
	// room in the window; watch, while it is set, looks for stuck hosts
	// every stuck/stuckLooks: one timer for many writes, not one each.
	stuck time.Duration
	full  bool
	watch *time.Timer
}

// tailBytes is how much of the end of a stream the fan-out keeps back
// until it is closed cleanly. Any part of a verified artifact's end would
// do to keep hosts from installing it (the inspector refuses anything
// after the compressed stream, and gzip and zstd both fail on a stream
// cut short); artifact.HoldBack is what a host must not get of a stream
// until the inspector has checked the tar headers in it. For a stream
// recompressed as zstd it holds more than a block and the header the tar
// reader is reading: an incompressible block grows by 3 bytes.
const tailBytes = artifact.HoldBack

type chunk struct {
	b   *[]byte // from chunkPool
	end int64   // stream offset just after it
}

// mark says that the stream up to end unpacks to at least pos archive
// bytes.
type mark struct {
	end, pos int64
}

// fanReader is one host's end of a fanout.
type fanReader struct {
	f    *fanout
	next int // index of the chunk being read
	off  int // bytes of it already read
	gone bool

	// For a paced host: its pace window, the archive bytes its tar has
	// read, and when it last said so or started; zero before it started.
	paced    bool
	window   int64
	base     int64 // the window it was given
	unpacked int64
	heard    time.Time
	// waiting is whether the reader is held back for its host's progress:
	// only then does a report need to wake the readers.
	waiting bool

	// moves counts the reads and reports that made progress; seen is its
	// value at the last look for stuck hosts, and quiet the looks in a row
	// that found it unchanged while the host held back the others.
	moves, seen uint64
	quiet       int
	// stop, if set before the stream starts, is called (without f.mu)
	// when the fan-out drops the host as stuck, whose error is then err.
	stop func()
	err  error
}

// newFanout returns a fan-out; position may be nil, and then no host is
// paced.
func newFanout(position func() int64) *fanout {
	f := &fanout{position: position, stall: paceStall, stallReporting: paceStallReporting}
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

// addPaced is add for a host that reports its progress through report,
// to be handed the stream at most window bytes ahead of it.
func (f *fanout) addPaced(window int64) *fanReader {
	r := f.add()
	f.mu.Lock()
	defer f.mu.Unlock()
	r.paced, r.window, r.base = f.position != nil, window, window
	return r
}

// Write hands p to every live host; it fails with errAllGone once none
// is left.
func (f *fanout) Write(p []byte) (int, error) {
	// What position reports now holds once all of p is out, not before:
	// p may be one compressed block, which unpacks only when complete.
	pos := f.lastPos
	if f.position != nil {
		pos = max(pos, f.position())
	}
	// The caller reuses p: the hosts get a copy, made once for all.
	for rest := p; len(rest) > 0; {
		n := min(len(rest), chunkSize)
		at := f.lastPos
		if n == len(rest) {
			at = pos
		}
		if err := f.push(rest[:n], at); err != nil {
			return len(p) - len(rest), err
		}
		rest = rest[n:]
	}
	f.lastPos = pos
	return len(p), nil
}

// push adds a copy of p, at most chunkSize bytes, for every live host,
// once the window has room for it; the stream up to its end unpacks to
// pos archive bytes at least.
func (f *fanout) push(p []byte, pos int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.live > 0 && f.held > 0 && f.held+len(p) > fanoutWindow {
		f.full = true
		if f.stuck > 0 && f.watch == nil {
			f.watchStuck()
		}
		f.cond.Wait()
	}
	f.full = false
	if f.live == 0 {
		return errAllGone
	}
	c := chunkPool.Get().(*[]byte)
	*c = append((*c)[:0], p...)
	f.sent += int64(len(p))
	f.chunks = append(f.chunks, chunk{b: c, end: f.sent})
	f.held += len(p)
	if f.position != nil {
		f.marks = append(f.marks, mark{end: f.sent, pos: pos})
	}
	f.cond.Broadcast()
	return nil
}

// watchStuck starts looking for stuck hosts, from now: what each host did
// before does not count. f.mu is held.
func (f *fanout) watchStuck() {
	for _, r := range f.readers {
		r.seen, r.quiet = r.moves, 0
	}
	f.watch = time.AfterFunc(f.stuck/stuckLooks, f.lookForStuck)
}

// lookForStuck drops the hosts that have held back the others without
// progress for f.stuck, and looks again later while the window is full.
func (f *fanout) lookForStuck() {
	f.mu.Lock()
	var stuck []*fanReader
	if f.full {
		for _, r := range f.readers {
			if r.gone {
				continue
			}
			if r.next != f.base || r.moves != r.seen {
				r.seen, r.quiet = r.moves, 0
				continue
			}
			if r.quiet++; r.quiet == stuckLooks {
				r.err = &stuckError{after: f.stuck}
				f.remove(r)
				stuck = append(stuck, r)
			}
		}
	}
	if f.full && f.live > 0 {
		f.watch.Reset(f.stuck / stuckLooks)
	} else {
		f.watch = nil
	}
	f.mu.Unlock()
	for _, r := range stuck {
		if r.stop != nil {
			r.stop()
		}
	}
}

// stuckErr returns the error of a host dropped as stuck, else nil.
func (r *fanReader) stuckErr() error {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	return r.err
}

// unpacksBy returns the stream offset up to which a host that has read
// pos archive bytes must have read the stream, or more: the first mark
// that unpacks to pos. f.mu is held.
func (f *fanout) unpacksBy(pos int64) int64 {
	i := sort.Search(len(f.marks), func(i int) bool { return f.marks[i].pos >= pos })
	if i == len(f.marks) {
		return f.sent
	}
	return f.marks[i].end
}

// holds reports whether r, paced, must wait before reading c. f.mu is
// held.
func (f *fanout) holds(r *fanReader, c chunk) bool {
	start := c.end - int64(len(*c.b))
	return r.paced && start > f.unpacksBy(r.unpacked)+r.window
}

// started records that r's host has started its tar: from now on its
// silence counts towards the stall limits.
func (r *fanReader) started() {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	r.heard = time.Now()
	r.moves++
	if r.waiting {
		f.cond.Broadcast()
	}
}

// report records that r's host has read pos archive bytes.
func (r *fanReader) report(pos int64) {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if pos > r.unpacked {
		if r.unpacked == 0 {
			r.window = r.base // it reports: its silence grew the window
		}
		r.unpacked = pos
		r.moves++
	}
	r.heard = time.Now()
	f.trimMarks()
	if r.waiting {
		f.cond.Broadcast()
	}
}

// trimMarks drops the marks no paced host needs any more: those before
// the least progress reported. f.mu is held.
func (f *fanout) trimMarks() {
	low, found := int64(0), false
	for _, r := range f.readers {
		if r.gone || !r.paced {
			continue
		}
		if !found || r.unpacked < low {
			low, found = r.unpacked, true
		}
	}
	n := len(f.marks)
	if found {
		n = sort.Search(len(f.marks), func(i int) bool { return f.marks[i].pos >= low })
	}
	if n > 0 {
		f.marks = append(f.marks[:0], f.marks[n:]...)
	}
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

// close ends every host's stream: at its end, handing out its last
// tailBytes, or with err, without them, if the source failed or the
// stream is not to be installed.
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
		f.held -= len(*f.chunks[i].b)
		chunkPool.Put(f.chunks[i].b)
		f.chunks[i] = chunk{}
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
			if r.err != nil {
				return 0, r.err
			}
			return 0, io.ErrClosedPipe
		}
		clean := f.ended && f.endErr == nil
		if i := r.next - f.base; i < len(f.chunks) {
			ch := f.chunks[i]
			c := *ch.b
			limit := len(c)
			if !clean {
				start := ch.end - int64(len(c))
				limit = int(max(0, min(int64(len(c)), f.sent-tailBytes-start)))
			}
			if r.off < limit {
				if r.off == 0 && f.holds(r, ch) {
					r.wait()
					continue
				}
				n := copy(p, c[r.off:limit])
				r.off += n
				r.moves++
				if r.off == len(c) {
					r.next, r.off = r.next+1, 0
					if i == 0 {
						f.trim()
					}
				}
				return n, nil
			}
			// What is left is the stream's held-back end.
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

// wait blocks a paced reader until its host reports progress or has been
// silent too long (f.stall, or f.stallReporting once it has reported).
// Silent too long, a host that never reported gets its window doubled, up
// to maxPaceWindow, each time; then, or if it had reported, it reads
// unpaced. f.mu is held.
func (r *fanReader) wait() {
	f := r.f
	r.waiting = true
	defer func() { r.waiting = false }()
	if r.heard.IsZero() {
		// Not started yet: the host's session ending closes r.
		f.cond.Wait()
		return
	}
	stall := f.stall
	if r.unpacked > 0 {
		stall = f.stallReporting
	}
	left := stall - time.Since(r.heard)
	if left <= 0 && r.unpacked == 0 && r.window < maxPaceWindow {
		r.window = min(2*r.window, maxPaceWindow)
		r.heard = time.Now() // the next doubling is a stall later
		return
	}
	if left <= 0 {
		r.paced = false
		f.trimMarks()
		return
	}
	t := time.AfterFunc(left, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	f.cond.Wait()
	t.Stop()
}

// Close drops the host: the stream goes on without it. The host's own
// step reports why it stopped reading.
func (r *fanReader) Close() error {
	f := r.f
	f.mu.Lock()
	defer f.mu.Unlock()
	if !r.gone {
		f.remove(r)
	}
	return nil
}

// remove drops r, not gone yet. f.mu is held.
func (f *fanout) remove(r *fanReader) {
	r.gone = true
	f.live--
	f.trim()
	f.trimMarks()
	f.cond.Broadcast()
}
