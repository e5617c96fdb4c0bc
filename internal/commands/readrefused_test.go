package commands_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/suggest"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// spoiledOnRead spoils the Redis behind it just before the first read of
// what the command reads ("grants", "locks", "presence", "holder" (of a
// lease), "records", "audit" or "record") past the skip first ones:
// what it wrote and read before went through.
type spoiledOnRead struct {
	raceStore
	read  string
	skip  int
	seen  atomic.Int32
	once  sync.Once
	spoil func()
}

func (s *spoiledOnRead) before(read string) {
	if read == s.read && int(s.seen.Add(1)) > s.skip {
		s.once.Do(s.spoil)
	}
}

func (s *spoiledOnRead) Grants(ctx context.Context) ([]acl.Grant, error) {
	s.before("grants")
	return s.raceStore.Grants(ctx)
}

func (s *spoiledOnRead) Locks(ctx context.Context) ([]deploy.Lock, error) {
	s.before("locks")
	return s.raceStore.Locks(ctx)
}

func (s *spoiledOnRead) Present(ctx context.Context) (map[string]time.Time, error) {
	s.before("presence")
	return s.raceStore.Present(ctx)
}

func (s *spoiledOnRead) CheckIns(ctx context.Context) (map[string]acl.CheckIn, error) {
	s.before("presence")
	return s.raceStore.CheckIns(ctx)
}

func (s *spoiledOnRead) Records(ctx context.Context, f deploy.Filter) ([]*deploy.Record, error) {
	s.before("records")
	return s.raceStore.Records(ctx, f)
}

func (s *spoiledOnRead) Audit(ctx context.Context, q audit.Query) ([]audit.Entry, error) {
	s.before("audit")
	return s.raceStore.Audit(ctx, q)
}

func (s *spoiledOnRead) Holder(ctx context.Context, key string) (string, error) {
	s.before("holder")
	return s.raceStore.Holder(ctx, key)
}

func (s *spoiledOnRead) Record(ctx context.Context, id string) (*deploy.Record, error) {
	s.before("record")
	return s.raceStore.Record(ctx, id)
}

// readFailures are the ways a store fails the reads of a command, each
// with the start of what the refusal must say. A Redis at maxmemory
// refuses a MULTI, and so every read of the store, with OOM: it answers,
// and calling it unreachable would send people looking for a network
// fault. A store found reset is named as such too.
var readFailures = []struct {
	name  string
	spoil func(t *testing.T, srv *redisserver.Server, c *goredis.Client)
	want  func(srv *redisserver.Server) string
}{
	{
		name: "refuses writes",
		spoil: func(t *testing.T, _ *redisserver.Server, c *goredis.Client) {
			if err := c.ConfigSet(t.Context(), "maxmemory", "1").Err(); err != nil {
				t.Fatal(err)
			}
		},
		want: func(srv *redisserver.Server) string {
			return "state store redis at " + srv.Addr() + " refuses writes: OOM command not allowed when used memory > 'maxmemory'.; nothing was changed"
		},
	},
	{
		name: "reset",
		spoil: func(t *testing.T, _ *redisserver.Server, c *goredis.Client) {
			if err := c.FlushAll(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
		},
		want: func(*redisserver.Server) string { return "the state store was reset, so nothing was run: " },
	},
	{
		name:  "unreachable",
		spoil: func(_ *testing.T, srv *redisserver.Server, _ *goredis.Client) { srv.Kill() },
		want:  func(*redisserver.Server) string { return "state store unreachable; nothing was changed" },
	},
}

// TestReadRefusedSaysWhy: a command whose read the store fails changed
// nothing and says so, with the store's own reason: a Redis that answers
// but refuses was called unreachable. One that cannot be reached still is.
func TestReadRefusedSaysWhy(t *testing.T) {
	for _, cmd := range []struct {
		user, text, read string
		// readsAtOOM: the read is one Redis still serves at maxmemory
		// (not sent in a MULTI), so the command goes on there.
		readsAtOOM bool
		// skip: reads of the kind to let through first (a deploy id's
		// record is read once for the pending audit entry's app).
		skip int
	}{
		{"bob", "deploy web 1 to prod", "grants", false, 0},
		{"ana", "lock deploys web prod db maintenance", "locks", false, 0},
		{"bob", "deploy web 1 to prod", "locks", false, 0},
		{"bob", "deploy web 1 --dry-run", "locks", false, 0},
		{"bob", "rollback web prod", "locks", false, 0},
		{"bob", "rollback " + otherRun, "record", false, 1},
		{"ana", "away", "presence", false, 0},
		{"bob", "deploy confirm " + otherRun, "record", false, 1},
		// Commands that only read: a read refused is told as such too.
		{"bob", "status", "locks", false, 0},
		{"bob", "history web", "records", true, 0},
		{"ana", "audit", "audit", true, 0},
		{"bob", "admins", "presence", false, 0},
	} {
		for _, tc := range readFailures {
			t.Run(cmd.text+"/"+cmd.read+"/"+tc.name, func(t *testing.T) {
				f := newServiceFixture(t)
				var (
					srv *redisserver.Server
					c   *goredis.Client
				)
				srv, _, c = f.useRedisWith(redis.Options{}, func(s *redisserver.Server, st raceStore) raceStore {
					return &spoiledOnRead{raceStore: st, read: cmd.read, skip: cmd.skip, spoil: func() { tc.spoil(t, srv, c) }}
				})
				res, out, _ := f.do(cmd.user, cmd.text)
				if cmd.readsAtOOM && tc.name == "refuses writes" {
					// Its audit entry is refused after the answer.
					if len(out.replies) == 0 || out.replies[0].Level == chat.Failure {
						t.Errorf("got %+v, want it answered first: Redis serves this read at maxmemory", out.replies)
					}
					return
				}
				if !res.Failed || res.DeployID != "" {
					t.Errorf("got %+v, want refused, no deploy", res)
				}
				if len(out.replies) == 0 {
					t.Fatal("got no reply, want the refusal")
				}
				m := out.replies[0]
				if got := strings.Join(append([]string{m.Title}, m.Lines...), ": "); !strings.HasPrefix(got, tc.want(srv)) {
					t.Errorf("refusal: got %q, want it to start %q", got, tc.want(srv))
				}
			})
		}
	}
}

// TestNotesNameTheStoreRefusal: a reply that goes on past a read the store
// refused notes what could not be read with the store's own reason, as a
// refusal does: a Redis at maxmemory answers, and the notes called it
// unreachable, which sends people looking for a network fault.
func TestNotesNameTheStoreRefusal(t *testing.T) {
	adminAround := strings.Replace(serviceYAML, "        hosts: [localhost]\n",
		"        hosts: [localhost]\n        window:\n          timezone: UTC\n          require_admin_present: true\n", 1)
	for _, tc := range []struct {
		name, yaml, read string
		// note runs what notes the failed read, and returns what it said.
		note func(t *testing.T, f *serviceFixture) string
		// want is what it says, before the store's reason (and after it).
		want, after string
	}{
		{"unlock of no lock", serviceYAML, "locks", func(t *testing.T, f *serviceFixture) string {
			_, out, _ := f.do("ana", "unlock deploys web prod")
			if len(out.replies) == 0 {
				t.Fatal("got no reply, want the refusal")
			}
			return out.replies[0].Title
		}, "there is no lock on web/prod; the locks in force could not be read (", ")"},
		{"admin presence", adminAround, "presence", func(t *testing.T, f *serviceFixture) string {
			_, out, _ := f.do("bob", "deploy web 1 to prod")
			if len(out.replies) == 0 {
				t.Fatal("got no reply, want the refusal")
			}
			return strings.Join(append([]string{out.replies[0].Title}, out.replies[0].Lines...), ": ")
		}, "no admin is around (an admin checks in with /here); check-ins unreadable: ", ";"},
		{"train departure, locks", serviceYAML, "locks", func(t *testing.T, f *serviceFixture) string {
			reason, closed := f.svc.Closed(t.Context(), "web", "prod", "bob")
			if !closed {
				t.Error("got open, want closed: the locks could not be read")
			}
			return reason
		}, "", ""},
		{"train departure, runs under way", serviceYAML, "holder", func(t *testing.T, f *serviceFixture) string {
			reason, closed := f.svc.Held(t.Context(), "web", "prod", "bob")
			if !closed {
				t.Error("got open, want closed: the runs under way could not be read")
			}
			return reason
		}, "", ""},
		{"lock, runs under way", serviceYAML, "holder", func(t *testing.T, f *serviceFixture) string {
			_, out, _ := f.do("ana", "lock deploys web prod db maintenance")
			if len(out.replies) == 0 {
				t.Fatal("got no reply, want the lock's")
			}
			return strings.Join(out.replies[0].Lines, "\n")
		}, "⚠ could not check for deploys under way (", "): " + suggest.Command("status") + " shows them"},
		{"rollback passes", serviceYAML, "locks", func(t *testing.T, f *serviceFixture) string {
			return strings.Join(f.svc.RollbackPasses(t.Context(), "web", "prod"), "; ")
		}, "whether web/prod is locked could not be read: ", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newServiceFixtureFrom(t, tc.yaml, nil)
			var (
				srv *redisserver.Server
				c   *goredis.Client
			)
			srv, _, c = f.useRedisWith(redis.Options{}, func(s *redisserver.Server, st raceStore) raceStore {
				return &spoiledOnRead{raceStore: st, read: tc.read, spoil: func() { readFailures[0].spoil(t, srv, c) }}
			})
			oom := "state store redis at " + srv.Addr() + " refuses writes: OOM command not allowed when used memory > 'maxmemory'."
			want := tc.want + oom + tc.after
			if got := tc.note(t, f); !strings.Contains(got, want) {
				t.Errorf("got %q, want it to hold %q", got, want)
			}
		})
	}
}

// TestGrantsUnreadNameTheStoreRefusal: what a reply says of runtime
// grants it could not read names the store's reason, as the notes on the
// locks and the check-ins do: "the runtime grants could not be read" alone
// left a Redis at maxmemory, which answers, to be taken for one that
// cannot be reached. The grants read to check the requester's permission
// go through first.
func TestGrantsUnreadNameTheStoreRefusal(t *testing.T) {
	adminAround := strings.Replace(serviceYAML, "        hosts: [localhost]\n",
		"        hosts: [localhost]\n        window:\n          timezone: UTC\n          require_admin_present: true\n", 1)
	tests := []struct {
		name, yaml, user, text string
		// grant is granted, by ana, before: carl is an admin by it.
		grant string
		skip  int // grants reads that go through, the grant's among them
		want  []string
	}{
		{"no admin around", adminAround, "bob", "deploy web 1 to prod", "", 1, []string{
			"admins by a runtime grant unknown (the runtime grants could not be read: %s), counted as away",
			"admins by a runtime grant, who could force it too, are not named: the runtime grants could not be read (%s)",
		}},
		{"forced by an admin by a grant", adminAround, "carl", `deploy web 1 to prod --force "INC-9"`, "grant @carl admin", 6, []string{
			"whether carl is an admin, which a --force needs while no admin is around, is not known: the runtime grants could not be read (%s); nothing was changed",
		}},
		{"admins", serviceYAML, "bob", "admins", "", 0, []string{
			"admins by a runtime grant are not listed: the runtime grants could not be read (%s)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixtureFrom(t, tt.yaml, nil)
			var (
				srv *redisserver.Server
				c   *goredis.Client
			)
			srv, _, c = f.useRedisWith(redis.Options{}, func(s *redisserver.Server, st raceStore) raceStore {
				return &spoiledOnRead{raceStore: st, read: "grants", skip: tt.skip, spoil: func() { readFailures[0].spoil(t, srv, c) }}
			})
			if tt.grant != "" {
				if res, out, _ := f.do("ana", tt.grant); res.Failed {
					t.Fatalf("%s: %s", tt.grant, out.last())
				}
			}
			_, out, _ := f.do(tt.user, tt.text)
			if len(out.replies) == 0 {
				t.Fatal("got no reply")
			}
			got := strings.Join(append([]string{out.replies[0].Title}, out.replies[0].Lines...), ": ")
			oom := "state store redis at " + srv.Addr() + " refuses writes: OOM command not allowed when used memory > 'maxmemory'."
			for _, w := range tt.want {
				if w = fmt.Sprintf(w, oom); !strings.Contains(got, w) {
					t.Errorf("got %q, want it to hold %q", got, w)
				}
			}
		})
	}
}
