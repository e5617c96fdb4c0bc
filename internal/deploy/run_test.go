package deploy

import (
	"runtime"
	"sync"
	"testing"
)

// Saves that arrive while a write is in flight share the next write, which
// is of the newest snapshot; none returns before its change is written.
func TestSaverGroupsWrites(t *testing.T) {
	var s saver
	var mu sync.Mutex
	var written []string // builds of the snapshots written, in order
	first := make(chan struct{})
	release := make(chan struct{})
	put := func(rec *Record) {
		mu.Lock()
		written = append(written, rec.Build)
		n := len(written)
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release
		}
	}

	done := make(chan struct{})
	go func() {
		s.save(&Record{Build: "1"}, 1, put)
		close(done)
	}()
	<-first
	// Seq 2..10 queue behind the write of 1, handed in out of order: the
	// newest (10) must be what is written next.
	var wg sync.WaitGroup
	returned := make(chan uint64, 10)
	for _, seq := range []uint64{3, 10, 2, 7, 5, 4, 9, 6, 8} {
		wg.Go(func() {
			s.save(&Record{Build: string(rune('0' + seq%10))}, seq, put)
			returned <- seq
		})
	}
	// Let them all queue; none may return while only 1 is written.
	for {
		s.mu.Lock()
		queued := s.nextSeq == 10
		s.mu.Unlock()
		if queued {
			break
		}
		runtime.Gosched()
	}
	select {
	case seq := <-returned:
		t.Fatalf("save of %d returned before its snapshot was written", seq)
	default:
	}
	close(release)
	wg.Wait()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(written) != 2 || written[0] != "1" || written[1] != "0" {
		t.Errorf("writes: got %q, want [1 0]: the first, then only the newest (seq 10)", written)
	}

	// A save older than what is written returns at once, writing nothing.
	s.save(&Record{Build: "old"}, 4, put)
	if len(written) != 2 {
		t.Errorf("an old snapshot was written: %q", written)
	}
}
