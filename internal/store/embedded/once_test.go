package embedded

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestOnceKeysWithoutToken: keys written before SetOnceToken kept tokens
// (an expiry alone, or forever) read as they did, and no ForgetOnce
// removes them.
func TestOnceKeysWithoutToken(t *testing.T) {
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	s, err := Open(filepath.Join(t.TempDir(), "switchman.db"), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	live, gone := timeKey(now.Add(time.Hour), 0), timeKey(now.Add(-time.Hour), 0)
	err = s.db.Update(func(tx *bolt.Tx) error {
		keys, byExpiry := tx.Bucket(bucketOnce), tx.Bucket(bucketOnceExpiry)
		for k, v := range map[string][]byte{"forever": forever, "live": live, "expired": gone} {
			if err := keys.Put([]byte(k), v); err != nil {
				return err
			}
			if len(v) == timeKeyLen {
				if err := byExpiry.Put(append(append([]byte(nil), v...), k...), nil); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"forever", false},
		{"live", false},
		{"expired", true},
	} {
		t.Run(tc.key, func(t *testing.T) {
			for _, token := range []string{"a", "\x00"} {
				if err := s.ForgetOnce(t.Context(), tc.key, token); err != nil {
					t.Fatalf("ForgetOnce(%q): %v", token, err)
				}
			}
			if got, err := s.SetOnceToken(t.Context(), tc.key, "b", time.Hour); got != tc.want || err != nil {
				t.Errorf("SetOnceToken: got %v, %v, want %v", got, err, tc.want)
			}
		})
	}
}
