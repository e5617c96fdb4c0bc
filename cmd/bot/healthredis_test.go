package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/testenv/ports"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestHealthzRedisRefusingWrites: a Redis that answers reads but refuses
// every write (a replica after a failover went the wrong way, a primary
// short of the replicas min-replicas-to-write asks for, one at maxmemory)
// refuses every command the bot runs: /healthz says so with a 503, which
// alerts fire on, rather than 200 from a check that only reads. It names
// what Redis answered, not "unreachable", which would send the operator
// to the network. So does a Redis that refuses the bot's password. It goes
// back to 200 once Redis takes writes again.
func TestHealthzRedisRefusingWrites(t *testing.T) {
	for _, tt := range []struct {
		name         string
		refuse, take func(ctx context.Context, rdb *goredis.Client) error
		body         string
	}{
		{"a replica (READONLY)",
			func(ctx context.Context, rdb *goredis.Client) error {
				port, err := ports.Free() // no primary there: the data stays
				if err != nil {
					return err
				}
				return rdb.ReplicaOf(ctx, "127.0.0.1", strconv.Itoa(port)).Err()
			},
			func(ctx context.Context, rdb *goredis.Client) error { return rdb.ReplicaOf(ctx, "NO", "ONE").Err() },
			`{"status":"unavailable","store":"refuses_writes","store_error":"READONLY"}`},
		{"short of replicas (NOREPLICAS)",
			func(ctx context.Context, rdb *goredis.Client) error {
				return rdb.ConfigSet(ctx, "min-replicas-to-write", "1").Err()
			},
			func(ctx context.Context, rdb *goredis.Client) error {
				return rdb.ConfigSet(ctx, "min-replicas-to-write", "0").Err()
			},
			`{"status":"unavailable","store":"refuses_writes","store_error":"NOREPLICAS"}`},
		{"at maxmemory (OOM)",
			func(ctx context.Context, rdb *goredis.Client) error {
				return rdb.ConfigSet(ctx, "maxmemory", "1").Err()
			},
			func(ctx context.Context, rdb *goredis.Client) error {
				return rdb.ConfigSet(ctx, "maxmemory", "0").Err()
			},
			`{"status":"unavailable","store":"refuses_writes","store_error":"OOM"}`},
		{"a password the bot does not have (NOAUTH)",
			func(ctx context.Context, rdb *goredis.Client) error {
				if err := rdb.ConfigSet(ctx, "requirepass", "health-test-password").Err(); err != nil {
					return err
				}
				// The bot's connections, authenticated before, must
				// connect again to meet the password.
				return rdb.ClientKillByFilter(ctx, "TYPE", "normal", "SKIPME", "yes").Err()
			},
			func(ctx context.Context, rdb *goredis.Client) error {
				return rdb.ConfigSet(ctx, "requirepass", "").Err()
			},
			`{"status":"unavailable","store":"refused","store_error":"NOAUTH"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TEST_SLACK_SIGNING_SECRET", "health-test-secret")
			srv := redisserver.Start(t)
			rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { rdb.Close() })
			api := newSlackAPI(t)
			dir, addr := t.TempDir(), freePort(t)
			yaml := strings.Replace(fmt.Sprintf(serveYAML, addr, api.srv.URL+"/api/", api.srv.URL+"/discord/"),
				"store:\n  path: state.db\n", "store:\n  redis:\n    url: "+srv.URL()+"\n", 1)
			cfg := filepath.Join(dir, "switchman.yaml")
			if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			bot := serveBot(t, cfg, addr)
			if err := tt.refuse(t.Context(), rdb); err != nil {
				t.Fatal(err)
			}
			pollHTTP(t, bot.base+"/healthz", func(code int, body string) bool {
				return code == http.StatusServiceUnavailable && strings.TrimSpace(body) == tt.body
			})
			if err := tt.take(t.Context(), rdb); err != nil {
				t.Fatal(err)
			}
			pollHTTP(t, bot.base+"/healthz", func(code int, _ string) bool { return code == http.StatusOK })
			if err := bot.stop(t); err != nil {
				t.Errorf("serve: %v", err)
			}
		})
	}
}

// TestHealthzEmbeddedDamaged: a state file found damaged while the bot
// runs (a disk error) refuses every command until it is restored; /healthz
// says so with a 503 naming it damaged, not "unreachable", which a local
// file never is and which would send the operator to the network.
func TestHealthzEmbeddedDamaged(t *testing.T) {
	dir, addr := t.TempDir(), freePort(t)
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, []byte("bot:\n  listen: "+addr+"\n"+minimalServeYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	bot := serveBot(t, cfg, addr)
	damageStore(t, filepath.Join(dir, "state.db"))
	pollHTTP(t, bot.base+"/healthz", func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.TrimSpace(body) == `{"status":"unavailable","store":"damaged"}`
	})
	if err := bot.stop(t); err != nil {
		t.Errorf("serve: %v", err)
	}
}

// TestMetricsLocksWarnFlushedAtStop: scrapes of /metrics while the store
// cannot be read log one WARN per window, and the last one held back,
// with how many it stands for, is written when the bot stops, not lost
// with the window's timer.
func TestMetricsLocksWarnFlushedAtStop(t *testing.T) {
	dir, addr := t.TempDir(), freePort(t)
	cfg := filepath.Join(dir, "switchman.yaml")
	if err := os.WriteFile(cfg, []byte("bot:\n  listen: "+addr+"\n"+minimalServeYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	bot := serveBot(t, cfg, addr)
	damageStore(t, filepath.Join(dir, "state.db"))
	const scrapes = 5
	for range scrapes {
		resp, err := http.Get(bot.base + "/metrics")
		if err != nil {
			t.Fatalf("%v\n%s", err, bot.stderr)
		}
		resp.Body.Close()
	}
	const line = "metrics: count locks"
	if err := bot.stop(t); err != nil {
		t.Errorf("serve: %v", err)
	}
	out := bot.stderr.String()
	if n := strings.Count(out, line); n != 2 || !strings.Contains(out, fmt.Sprintf("suppressed=%d", scrapes-2)) {
		t.Errorf("after %d failed scrapes and a stop: got\n%s\nwant the first %q line and, at the stop, the last, which counts the %d held back before it", scrapes, out, line, scrapes-2)
	}
}

// damageStore zeroes every page of the embedded store at path but its two
// meta pages, as a disk error under a running bot may: whatever a read
// reaches first is damaged.
func damageStore(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	page := int64(os.Getpagesize())
	_, err = f.WriteAt(make([]byte, info.Size()-2*page), 2*page)
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
}
