package leakcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// recorder is a testing.TB that keeps its failures instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestCheck(t *testing.T) {
	defer func(d time.Duration) { settle = d }(settle)
	settle = 500 * time.Millisecond
	tests := []struct {
		name string
		// leak leaves something behind, or not; it returns what ends it.
		leak func(t *testing.T) func()
		want int // failures
	}{
		{name: "nothing left", want: 0, leak: func(t *testing.T) func() {
			done := make(chan struct{})
			go func() { close(done) }()
			<-done
			return func() {}
		}},
		{name: "goroutine left", want: 1, leak: func(t *testing.T) func() {
			stop := make(chan struct{})
			go func() { <-stop }()
			return func() { close(stop) }
		}},
		{name: "file left open", want: 1, leak: func(t *testing.T) func() {
			f, err := os.Create(filepath.Join(t.TempDir(), "f"))
			if err != nil {
				t.Fatal(err)
			}
			return func() { f.Close() }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{TB: t}
			snap := Take(r)
			end := tt.leak(t)
			snap.Check(r)
			end()
			if len(r.errs) != tt.want {
				t.Errorf("got %d failures %q, want %d", len(r.errs), r.errs, tt.want)
			}
		})
	}
}
