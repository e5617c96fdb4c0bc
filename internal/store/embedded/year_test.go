package embedded_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/storetest"
)

// yearFile returns a store file holding a year of use (see
// storetest.SeedYear), on a tmpfs when there is one: seeding it on a
// disk that syncs every write would take most of the benchmark's time.
func yearFile(b *testing.B) string {
	b.Helper()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		b.Setenv("TMPDIR", "/dev/shm")
	}
	path := filepath.Join(b.TempDir(), "switchman.db")
	s, err := embedded.Open(path, embedded.Options{Now: func() time.Time { return storetest.YearNow }})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	storetest.SeedYear(b, s)
	if err := s.Close(); err != nil {
		b.Fatalf("Close: %v", err)
	}
	return path
}

// BenchmarkYear measures the reads of commands and deploys on a store a
// year old (see storetest.BenchYear), and the bot's start-up on it:
// opening the file, then listing the running records to recover.
func BenchmarkYear(b *testing.B) {
	path := yearFile(b)
	if st, err := os.Stat(path); err == nil {
		b.Logf("store file: %d MB", st.Size()>>20)
	}
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := embedded.Open(path, embedded.Options{})
			if err != nil {
				b.Fatalf("Open: %v", err)
			}
			if _, err := s.Records(b.Context(), deploy.Filter{Outcome: deploy.OutcomeRunning}); err != nil {
				b.Fatal(err)
			}
			if err := s.Close(); err != nil {
				b.Fatalf("Close: %v", err)
			}
		}
	})
	s, err := embedded.Open(path, embedded.Options{Now: func() time.Time { return storetest.YearNow }})
	if err != nil {
		b.Fatalf("Open: %v", err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	storetest.BenchYear(b, s)
}
