package main

import (
	"fmt"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestAuditExportWithoutRedisStore: as with a store file that does not
// exist, an export from a Redis that holds no store under the prefix (a
// wrong url or prefix, a Redis that lost its data) says so rather than
// exporting an empty log as if it were the real one, and writes nothing
// there: a new store id would be taken for the real store's.
func TestAuditExportWithoutRedisStore(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prefix string
		wipe   bool
	}{
		{"the store's prefix", "switchman:", false},
		{"another prefix", "typo:", false},
		{"a Redis that lost its data", "switchman:", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.AppendAudit(t.Context(), &audit.Entry{User: "alice", Command: "whoami", Decision: audit.Allowed}); err != nil {
				t.Fatal(err)
			}
			st.Close()
			rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { rdb.Close() })
			if tc.wipe {
				if err := rdb.FlushAll(t.Context()).Err(); err != nil {
					t.Fatal(err)
				}
			}
			before, err := rdb.Keys(t.Context(), "*").Result()
			if err != nil {
				t.Fatal(err)
			}
			cfg := writeWebConfig(t, t.TempDir(), fmt.Sprintf("store:\n  redis:\n    url: %s\n    prefix: %q\n", srv.URL(), tc.prefix))
			out, err := runBot(t, "", "audit", "-config", cfg)
			after, kerr := rdb.Keys(t.Context(), "*").Result()
			if kerr != nil {
				t.Fatal(kerr)
			}
			if tc.prefix == "switchman:" && !tc.wipe {
				if err != nil || !strings.Contains(out, `"command":"whoami"`) {
					t.Errorf("audit: got %v, %q; want the whoami entry", err, out)
				}
				return
			}
			want := fmt.Sprintf("prefix %q holds no Switchman state store", tc.prefix)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("audit: got %v (output %q), want an error saying %q", err, out, want)
			}
			if len(after) != len(before) {
				t.Errorf("keys after the export: got %v, want %v: nothing written", after, before)
			}
		})
	}
}
