package deploy

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/switchman-bot/switchman/internal/artifact"
)

// TestFanoutDelivers checks that every host gets the whole stream, byte for
// byte, whatever its pace, and that a host leaving early holds nobody up.
func TestFanoutDelivers(t *testing.T) {
	data := make([]byte, 3*fanoutWindow+12345)
	rand.NewChaCha8([32]byte{'f'}).Read(data)

	f := newFanout(nil)
	const hosts = 4
	readers := make([]*fanReader, hosts)
	for i := range readers {
		readers[i] = f.add()
	}
	got := make([][]byte, hosts)
	errsOf := make([]error, hosts)
	var wg sync.WaitGroup
	for i, r := range readers {
		wg.Go(func() {
			defer r.Close()
			if i == hosts-1 {
				// This host stops reading after 100 KB.
				buf := make([]byte, 100<<10)
				_, errsOf[i] = io.ReadFull(r, buf)
				got[i] = buf
				return
			}
			var out bytes.Buffer
			out.Grow(len(data))
			buf := make([]byte, 7000*(i+1))
			for reads := 0; ; reads++ {
				n, err := r.Read(buf)
				out.Write(buf[:n])
				// The slow one: a sleep lasts a millisecond or more
				// however short it is asked to be, and one every eighth
				// read still leaves this host far behind the others,
				// where a sleep on each of its 3,600 reads made the
				// test take 20 to 45 s under the race detector.
				if i == 0 && n > 0 && reads%8 == 0 {
					time.Sleep(time.Microsecond)
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					errsOf[i] = err
					return
				}
			}
			got[i] = out.Bytes()
		})
	}
	// Writes of uneven sizes, from a reused buffer, as io.Copy does.
	buf := make([]byte, 64<<10)
	for rest, n := data, 1; len(rest) > 0; n = n*3 + 1 {
		n = min(n%len(buf)+1, len(rest))
		copy(buf, rest[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			t.Fatalf("write: %v", err)
		}
		f.mu.Lock()
		held := f.held
		f.mu.Unlock()
		if held > fanoutWindow+len(buf) {
			t.Fatalf("fan-out holds %d bytes, want at most %d", held, fanoutWindow+len(buf))
		}
		rest = rest[n:]
	}
	f.close(nil)
	wg.Wait()
	for i := range hosts - 1 {
		if errsOf[i] != nil || !bytes.Equal(got[i], data) {
			t.Errorf("host %d: got %d bytes (%v), want the %d written", i, len(got[i]), errsOf[i], len(data))
		}
	}
	if last := hosts - 1; errsOf[last] != nil || !bytes.Equal(got[last], data[:100<<10]) {
		t.Errorf("host that left: got %d bytes (%v), want the first %d", len(got[last]), errsOf[last], 100<<10)
	}
}

// TestFanoutEnds checks the two other ends of a stream: every host gone
// stops the writer, and a failed source reaches every host as an error.
func TestFanoutEnds(t *testing.T) {
	t.Run("every host gone", func(t *testing.T) {
		f := newFanout(nil)
		a, b := f.add(), f.add()
		a.Close()
		b.Close()
		if _, err := f.Write([]byte("x")); !errors.Is(err, errAllGone) {
			t.Errorf("write: got %v, want errAllGone", err)
		}
		if err := f.err(); !errors.Is(err, errAllGone) {
			t.Errorf("err: got %v, want errAllGone", err)
		}
	})
	t.Run("a writer blocked on a full window is released", func(t *testing.T) {
		f := newFanout(nil)
		r := f.add()
		big := make([]byte, fanoutWindow)
		if _, err := f.Write(big); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := f.Write([]byte("more")); done <- err }()
		select {
		case err := <-done:
			t.Fatalf("write past the window returned %v before the host read anything", err)
		case <-time.After(50 * time.Millisecond):
		}
		r.Close()
		if err := <-done; !errors.Is(err, errAllGone) {
			t.Errorf("blocked write after the only host left: got %v, want errAllGone", err)
		}
	})
	t.Run("source failed", func(t *testing.T) {
		f := newFanout(nil)
		r := f.add()
		data := bytes.Repeat([]byte("partial "), tailBytes/8+500)
		f.Write(data)
		cause := errors.New("artifact store went away")
		f.close(cause)
		got, err := io.ReadAll(r)
		// The stream's last tailBytes never reach a host of a failed one.
		if !bytes.Equal(got, data[:len(data)-tailBytes]) || !errors.Is(err, cause) {
			t.Errorf("got %d bytes, %v; want the first %d then the source's error", len(got), err, len(data)-tailBytes)
		}
	})
	t.Run("the end waits for a clean close", func(t *testing.T) {
		for _, size := range []int{10, tailBytes, tailBytes + 3*chunkSize} {
			f := newFanout(nil)
			r := f.add()
			var mu sync.Mutex
			var got []byte
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := r.Read(buf)
					mu.Lock()
					got = append(got, buf[:n]...)
					mu.Unlock()
					if err != nil {
						done <- err
						return
					}
				}
			}()
			data := make([]byte, size)
			rand.NewChaCha8([32]byte{'t'}).Read(data)
			// Written in pieces, as io.Copy would.
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 1000)
				if _, err := f.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			// Everything but the end arrives; the end does not.
			want := max(0, size-tailBytes)
			for deadline := time.Now().Add(10 * time.Second); ; {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n >= want || time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			time.Sleep(50 * time.Millisecond)
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n != want || n == size {
				t.Fatalf("%d bytes written: %d read before the stream was closed, want %d, short of the end", size, n, want)
			}
			f.close(nil)
			if err := <-done; err != io.EOF {
				t.Fatalf("%d bytes: read ended with %v, want EOF", size, err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("%d bytes: got %d after a clean close, want all", size, len(got))
			}
		}
	})
}

// TestFanoutPaces checks that a paced host gets the stream no further than
// paceWindow ahead of the archive bytes its tar reported, that reports
// move it on, and that a silent host is not held up for long.
func TestFanoutPaces(t *testing.T) {
	// Each stream byte unpacks to two archive bytes.
	const stream = 4 * paceWindow
	var written atomic.Int64
	position := func() int64 { return 2 * written.Load() }
	write := func(f *fanout) {
		buf := make([]byte, 100_000)
		for n := int64(0); n < stream; {
			m := min(int64(len(buf)), stream-n)
			written.Add(m)
			if _, err := f.Write(buf[:m]); err != nil {
				t.Errorf("write: %v", err)
				return
			}
			n += m
		}
		f.close(nil)
	}
	// readFor reads r until it blocks for 50 ms or the stream ends; its
	// reader goes on in the background (adding to got atomically) until
	// r is closed.
	readFor := func(r *fanReader, got *int64) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Read(buf)
				atomic.AddInt64(got, int64(n))
				if err != nil {
					return
				}
			}
		}()
		for last := int64(-1); ; {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			now := atomic.LoadInt64(got)
			if now == last {
				return
			}
			last = now
		}
	}

	t.Run("reports move a paced host on", func(t *testing.T) {
		written.Store(0)
		f := newFanout(position)
		r := f.addPaced(paceWindow)
		free := f.add()
		go write(f)
		go io.Copy(io.Discard, free)
		r.started()
		var got int64
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Read(buf)
				atomic.AddInt64(&got, int64(n))
				if err != nil {
					return
				}
			}
		}()
		// reach waits until the host has read at least least bytes (the
		// reader and the writer may wait for a CPU a while on a busy
		// machine), and returns what it has read then.
		reach := func(least int64) int64 {
			deadline := time.Now().Add(10 * time.Second)
			for {
				n := atomic.LoadInt64(&got)
				if n >= least || time.Now().After(deadline) {
					return n
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		for _, unpacked := range []int64{0, 1 << 20, 3 << 20} {
			r.report(unpacked)
			// The stream up to unpacked/2 unpacks to unpacked, known to
			// the write (100,000 bytes); a chunk may begin at that plus
			// the window.
			least, limit := unpacked/2+paceWindow-100_000, unpacked/2+100_000+paceWindow+chunkSize
			reach(least)
			// Given a moment more, it still holds within the window.
			time.Sleep(50 * time.Millisecond)
			if n := atomic.LoadInt64(&got); n > limit || n < least {
				t.Errorf("reported %d: host got %d stream bytes, want about %d (at most %d)", unpacked, n, unpacked/2+paceWindow, limit)
			}
		}
		r.report(2 * stream)
		if n := reach(stream); n != stream {
			t.Errorf("after the last report: host got %d stream bytes, want all %d", n, stream)
		}
	})

	// silent starts a stream to a host paced with minPaceWindow whose
	// tar has started and says nothing, with a stall of 20 ms.
	silent := func() (*fanout, *fanReader) {
		written.Store(0)
		f := newFanout(position)
		f.stall = 20 * time.Millisecond
		r := f.addPaced(minPaceWindow)
		free := f.add()
		go write(f)
		go io.Copy(io.Discard, free)
		r.started()
		return f, r
	}

	t.Run("a silent host's window grows until it has the stream", func(t *testing.T) {
		f, r := silent()
		var got int64
		all, err := io.ReadAll(r)
		got = int64(len(all))
		if err != nil || got != stream {
			t.Errorf("got %d bytes (%v), want all %d once the host stayed silent", got, err, stream)
		}
		f.mu.Lock()
		window := r.window
		f.mu.Unlock()
		if window != maxPaceWindow {
			t.Errorf("silent to the end: window %d, want it grown to %d", window, maxPaceWindow)
		}
	})

	t.Run("a silent host's first report gives it back its window", func(t *testing.T) {
		f, r := silent()
		var got int64
		readFor(r, &got) // until the window stops growing or it is unpaced
		f.mu.Lock()
		grown := r.window
		f.mu.Unlock()
		if grown <= minPaceWindow {
			t.Fatalf("silent for 50 ms with a 20 ms stall: window %d, want it grown", grown)
		}
		r.report(1)
		f.mu.Lock()
		window, paced := r.window, r.paced
		f.mu.Unlock()
		if window != minPaceWindow || !paced {
			t.Errorf("after its first report: window %d, paced %v; want %d, paced", window, paced, minPaceWindow)
		}
		r.Close()
	})

	t.Run("a host that has reported stays paced while silent", func(t *testing.T) {
		written.Store(0)
		f := newFanout(position)
		f.stall = time.Millisecond
		f.stallReporting = time.Hour
		// Its own window, smaller than the default, is what holds it.
		r := f.addPaced(minPaceWindow)
		free := f.add()
		go write(f)
		go io.Copy(io.Discard, free)
		r.started()
		r.report(1 << 20)
		var got int64
		// Silent for 50 ms at least, far beyond f.stall.
		readFor(r, &got)
		// Its reader goes on until r is closed: read got atomically.
		if n, limit := atomic.LoadInt64(&got), int64(1<<19+100_000+minPaceWindow+chunkSize); n > limit {
			t.Errorf("silent after a report: host got %d stream bytes, want at most %d (its window: %d)", n, limit, minPaceWindow)
		}
		f.mu.Lock()
		paced := r.paced
		f.mu.Unlock()
		if !paced {
			t.Error("a host whose tar reported was released from pacing by silence shorter than stallReporting")
		}
		r.Close()
	})

	t.Run("a host silent past stallReporting gets the stream unpaced", func(t *testing.T) {
		written.Store(0)
		f := newFanout(position)
		f.stall = time.Hour
		f.stallReporting = 20 * time.Millisecond
		r := f.addPaced(paceWindow)
		go write(f)
		r.started()
		r.report(1 << 20)
		read := make(chan int, 1)
		go func() {
			all, _ := io.ReadAll(r)
			read <- len(all)
		}()
		select {
		case n := <-read:
			if n != stream {
				t.Errorf("got %d bytes, want all %d once the host stayed silent", n, stream)
			}
		case <-time.After(10 * time.Second):
			r.Close()
			t.Errorf("still held back 10 s after its last report, with stallReporting %v", f.stallReporting)
		}
	})

	t.Run("a host not started yet waits, and closing it frees the writer", func(t *testing.T) {
		written.Store(0)
		f := newFanout(position)
		f.stall = time.Millisecond
		r := f.addPaced(paceWindow)
		wrote := make(chan struct{})
		go func() { write(f); close(wrote) }()
		var got int64
		readFor(r, &got)
		// The first write's position holds at its end (100,000 bytes).
		if n, limit := atomic.LoadInt64(&got), int64(100_000+paceWindow+chunkSize); n > limit {
			t.Errorf("before it started, the host got %d bytes, want at most %d", n, limit)
		}
		r.Close()
		select {
		case <-wrote:
		case <-time.After(30 * time.Second):
			t.Fatal("the writer is still blocked after the only host left")
		}
	})
}

// TestFanoutMarks checks what a paced host's progress is held against:
// the position sampled with a write holds only once the whole write is
// out, and marks no paced host needs are dropped.
func TestFanoutMarks(t *testing.T) {
	pos := int64(0)
	f := newFanout(func() int64 { return pos })
	r := f.addPaced(paceWindow)
	other := f.add()
	go io.Copy(io.Discard, other)
	pos = 1000
	f.Write(make([]byte, 2*chunkSize+10)) // three chunks
	pos = 5000
	f.Write(make([]byte, 10))
	tests := []struct {
		unpacked, want int64
	}{
		{0, chunkSize},           // anything: the first chunk
		{1, 2*chunkSize + 10},    // only the end of the first write
		{1000, 2*chunkSize + 10}, //
		{1001, 2*chunkSize + 20}, // the second write
		{5000, 2*chunkSize + 20}, //
		{5001, 2*chunkSize + 20}, // beyond what was written: all of it
	}
	f.mu.Lock()
	for _, tt := range tests {
		if got := f.unpacksBy(tt.unpacked); got != tt.want {
			t.Errorf("unpacksBy(%d) = %d, want %d", tt.unpacked, got, tt.want)
		}
	}
	f.mu.Unlock()
	r.report(1001)
	f.mu.Lock()
	if len(f.marks) != 1 || f.marks[0].pos != 5000 {
		t.Errorf("after a report of 1001: marks %v, want only the one at 5000", f.marks)
	}
	f.mu.Unlock()
	r.Close()
	f.mu.Lock()
	if len(f.marks) != 0 {
		t.Errorf("with no paced host left: marks %v, want none", f.marks)
	}
	f.mu.Unlock()
}

// rttSession is a Session that knows its round trip.
type rttSession struct {
	Session
	rtt time.Duration
}

func (s rttSession) RoundTrip() time.Duration { return s.rtt }

// TestPaceWindowFor checks the window a host is paced with: enough for
// paceRate at its round trip, within the bounds, the default when the
// transport does not know it.
func TestPaceWindowFor(t *testing.T) {
	tests := []struct {
		name    string
		session Session
		want    int64
	}{
		{"transport without round trips", rttSession{}.Session, paceWindow},
		{"unknown (behind a bastion)", rttSession{rtt: 0}, paceWindow},
		{"loopback", rttSession{rtt: 30 * time.Microsecond}, minPaceWindow},
		{"same rack", rttSession{rtt: time.Millisecond}, minPaceWindow},
		{"another region", rttSession{rtt: 20 * time.Millisecond}, 20 * paceRate / 1000},
		{"another continent", rttSession{rtt: 150 * time.Millisecond}, maxPaceWindow},
	}
	for _, tt := range tests {
		if got := paceWindowFor(roundTrip(tt.session)); got != tt.want {
			t.Errorf("%s: window %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestRecompressedMarks checks how push delivery paces hosts when it
// recompresses: each mark the fan-out records says the stream up to its
// end unpacks to at least its position, as the pacing relies on. The
// inspection reads ahead of what the zstd encoder has written out by the
// block the encoder holds; marks taken from it told hosts' pacing that
// they had more of the archive than they had, which shrank their windows
// by up to a block and, with a window of 192 KiB, stalled every host of a
// 50-host deploy until the stall limit.
func TestRecompressedMarks(t *testing.T) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	rng := rand.NewChaCha8([32]byte{'m'})
	for i := range 30 {
		// Poorly compressible, as a build's binaries and assets are:
		// the output then lags the input by about a block's size.
		body := make([]byte, 40_000+i*997)
		rng.Read(body)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("assets/%02d.bin", i), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()

	insp := artifact.NewInspector("")
	f, enc, err := deliveryStream(insp, true)
	if err != nil {
		t.Fatal(err)
	}
	r := f.add()
	var stream []byte
	done := make(chan error, 1)
	go func() {
		var err error
		stream, err = io.ReadAll(r)
		done <- err
	}()
	copyErr := streamRecompressed(&gz, insp, enc, f)
	f.close(copyErr)
	if err := <-done; err != nil || copyErr != nil {
		t.Fatalf("stream: read %v, copy %v", err, copyErr)
	}
	if _, err := insp.Result(); err != nil {
		t.Fatal(err)
	}

	f.mu.Lock()
	marks := append([]mark(nil), f.marks...)
	f.mu.Unlock()
	if len(marks) < 5 {
		t.Fatalf("%d marks for a %d-byte stream, want one per block written", len(marks), len(stream))
	}
	for _, m := range marks {
		if got := unpackedFrom(t, stream[:m.end]); got < m.pos {
			t.Errorf("mark at stream byte %d says %d archive bytes, the stream so far unpacks to %d", m.end, m.pos, got)
		}
	}
	if last := marks[len(marks)-1]; last.pos < int64(raw.Len())/2 {
		t.Errorf("the last mark says %d of %d archive bytes: pacing would hold hosts back needlessly", last.pos, raw.Len())
	}
}

// unpackedFrom returns how many bytes a prefix of a zstd stream
// decompresses to, up to where it is cut off.
func unpackedFrom(t *testing.T, prefix []byte) int64 {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(prefix), zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	n, _ := io.Copy(io.Discard, zr) // a prefix ends in a cut-off block
	return n
}

// TestFanoutDropsStuckHosts checks that a host holding back the others
// (the window full, the oldest chunk unread by it) without progress for
// the stuck limit is dropped, its stop called and its reads failing, while
// the others get the whole stream; and that a host that is slow but reads,
// one whose tar reports progress, or one that holds nobody back, is kept.
func TestFanoutDropsStuckHosts(t *testing.T) {
	const stuck = 500 * time.Millisecond
	tests := []struct {
		name string
		size int
		// host is what the second host does before it reads the rest of
		// the stream; it returns what it read.
		host    func(r *fanReader, stopped <-chan struct{}) []byte
		dropped bool
	}{
		{
			name: "reads nothing while the window is full",
			size: 2 * fanoutWindow,
			host: func(r *fanReader, stopped <-chan struct{}) []byte {
				select {
				case <-stopped:
				case <-time.After(10 * time.Second):
				}
				return nil
			},
			dropped: true,
		},
		{
			name: "slower than the others, but reading",
			size: fanoutWindow + 1<<20,
			host: func(r *fanReader, _ <-chan struct{}) []byte {
				var got []byte
				buf := make([]byte, 64<<10)
				for len(got) < 2<<20 {
					n, err := r.Read(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
					time.Sleep(stuck / 8)
				}
				return got
			},
		},
		{
			name: "reads nothing, but its tar reports progress",
			size: 2 * fanoutWindow,
			host: func(r *fanReader, _ <-chan struct{}) []byte {
				for i := range 24 { // 3 stuck limits
					r.report(int64(i+1) << 10)
					time.Sleep(stuck / 8)
				}
				return nil
			},
		},
		{
			name: "reads nothing, but holds nobody back",
			size: 1 << 20,
			host: func(r *fanReader, _ <-chan struct{}) []byte {
				time.Sleep(3 * stuck)
				return nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := make([]byte, tt.size)
			rand.NewChaCha8([32]byte{'s'}).Read(data)
			f := newFanout(nil)
			f.stuck = stuck
			fast, r := f.add(), f.add()
			stopped := make(chan struct{})
			r.stop = func() { close(stopped) }
			var fastGot []byte
			var fastErr error
			var wg sync.WaitGroup
			wg.Go(func() { fastGot, fastErr = readAll(fast, tt.size) })
			start := time.Now()
			wg.Go(func() {
				for rest := data; len(rest) > 0; {
					n := min(len(rest), 100_000)
					if _, err := f.Write(rest[:n]); err != nil {
						t.Errorf("write: %v", err)
						break
					}
					rest = rest[n:]
				}
				f.close(nil)
			})

			got := tt.host(r, stopped)
			rest, err := readAll(r, tt.size)
			got = append(got, rest...)
			r.Close()
			wg.Wait()
			if fastErr != nil || !bytes.Equal(fastGot, data) {
				t.Errorf("the other host got %d bytes (%v), want the %d written", len(fastGot), fastErr, len(data))
			}
			var serr *stuckError
			select {
			case <-stopped:
				if !tt.dropped {
					t.Fatalf("dropped as stuck after %d bytes", len(got))
				}
				if took := time.Since(start); took < stuck {
					t.Errorf("dropped %s after the stream started, want %s at least", took, stuck)
				}
				if !errors.As(err, &serr) || err.Error() != "stopped reading the stream for 500ms" {
					t.Errorf("read after the drop: got %v, want a stuck error", err)
				}
			default:
				if tt.dropped {
					t.Fatalf("never dropped; read %d bytes (%v)", len(got), err)
				}
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("got %d bytes (%v), want the %d written", len(got), err, len(data))
				}
			}
		})
	}
}

// readAll is io.ReadAll into a buffer of size bytes made at once: growing
// one allocates, and under the race detector the collector can make the
// allocating goroutine help it for longer than a short stuck limit.
func readAll(r io.Reader, size int) ([]byte, error) {
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// TestRefusedEntryReachesNoHost: of an artifact with an unsafe entry, a
// host gets no byte of that entry or of anything after it, sent as it is
// or recompressed. The inspector reads beside the stream: the chunk
// holding the entry went to the hosts while the inspector was still
// unpacking the megabytes of zeros before it, and hosts got all but the
// stream's last 512 bytes.
func TestRefusedEntryReachesNoHost(t *testing.T) {
	rng := rand.NewChaCha8([32]byte{'r'})
	random := func(n int) []byte { b := make([]byte, n); rng.Read(b); return b }
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	add := func(name string, body []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	add("assets/a.bin", random(1<<20))
	add("assets/zeros", make([]byte, 32<<20))
	refused := int64(raw.Len())
	add("../escape", []byte("escaped"))
	add("after.bin", random(1<<20))
	tw.Close()
	// Compressed by the system's gzip: Go's deflate, race instrumented,
	// takes tens of seconds for these 34 MB.
	gz := systemGzip(t, raw.Bytes())

	for _, recompress := range []bool{false, true} {
		t.Run(fmt.Sprintf("recompress %v", recompress), func(t *testing.T) {
			insp := artifact.NewInspector("")
			f, enc, err := deliveryStream(insp, recompress)
			if err != nil {
				t.Fatal(err)
			}
			r := f.add()
			var stream []byte
			done := make(chan struct{})
			go func() {
				stream, _ = io.ReadAll(r)
				close(done)
			}()
			// Read as a file is, 32 KiB at a time.
			src := struct{ io.Reader }{bytes.NewReader(gz)}
			var copyErr error
			if recompress {
				copyErr = streamRecompressed(src, insp, enc, f)
			} else {
				copyErr = streamAsIs(src, insp, f)
			}
			insp.Close()
			_, verr := insp.Result()
			f.close(cmp.Or(verr, copyErr))
			<-done
			var unsafe *artifact.UnsafeEntryError
			if !errors.As(verr, &unsafe) {
				t.Fatalf("inspector: %v, want the unsafe entry", verr)
			}
			var got int64
			if recompress {
				got = unpackedFrom(t, stream)
			} else {
				zr, err := gzip.NewReader(bytes.NewReader(stream))
				if err != nil {
					t.Fatal(err)
				}
				got, _ = io.Copy(io.Discard, zr)
			}
			if got > refused {
				t.Errorf("the host got %d bytes of the archive, %d of them from the refused entry on", got, got-refused)
			}
		})
	}
}

// systemGzip returns raw compressed by the system's gzip.
func systemGzip(t *testing.T, raw []byte) []byte {
	t.Helper()
	cmd := exec.Command("gzip", "-c", "-n")
	cmd.Stdin = bytes.NewReader(raw)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gzip: %v: %s", err, stderr.Bytes())
	}
	return out
}
