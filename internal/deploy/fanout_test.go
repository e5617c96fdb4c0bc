package deploy

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestFanoutDelivers checks that every host gets the whole stream, byte for
// byte, whatever its pace, and that a host leaving early holds nobody up.
func TestFanoutDelivers(t *testing.T) {
	data := make([]byte, 3*fanoutWindow+12345)
	rand.NewChaCha8([32]byte{'f'}).Read(data)

	f := newFanout()
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
			buf := make([]byte, 7000*(i+1))
			for {
				n, err := r.Read(buf)
				out.Write(buf[:n])
				if i == 0 && n > 0 {
					time.Sleep(time.Microsecond) // the slow one
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
		f := newFanout()
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
		f := newFanout()
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
		f := newFanout()
		r := f.add()
		f.Write([]byte("partial"))
		cause := errors.New("artifact store went away")
		f.close(cause)
		got, err := io.ReadAll(r)
		if string(got) != "partial" || !errors.Is(err, cause) {
			t.Errorf("got %q, %v; want \"partial\" then the source's error", got, err)
		}
	})
}
