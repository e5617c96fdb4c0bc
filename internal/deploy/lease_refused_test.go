package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
)

// TestLeaseRefusedSaysWhy: a deploy whose lease the store will not give
// is refused, nothing changed, with the store's own reason: a Redis that
// answers but refuses writes, or a store found reset, was called
// unreachable, which sends people looking for a network fault. A store
// that cannot be reached is still called unreachable.
func TestLeaseRefusedSaysWhy(t *testing.T) {
	for _, tc := range storeFailures {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			leases := redisStore(t, srv)
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) { o.Leases = leases })
			f.build("1")
			c := redisClient(t, srv)
			tc.spoil(t, srv, c)

			_, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}, func(deploy.Event) {})
			if msg := errs.Message(err); err == nil || !strings.HasPrefix(msg, tc.want(srv)) || errs.CodeOf(err) != errs.Unavailable {
				t.Errorf("Deploy: got %v (message %q, code %s), want code %s and a message starting %q", err, msg, errs.CodeOf(err), errs.Unavailable, tc.want(srv))
			}
			if f.exists("current") || f.exists("releases/1") {
				t.Error("the hosts were changed, although the lease was refused")
			}
		})
	}
}

// TestSignalCancelSaysWhy: a cancel passed on to the replica running the
// deploy, refused because the store failed, gives the store's own reason,
// as a refused lease does: every such failure was called unreachable.
func TestSignalCancelSaysWhy(t *testing.T) {
	for _, tc := range storeFailures {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			rs := redisStore(t, srv)
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) { o.Leases = rs; o.Signals = rs })
			// Another replica's deploy of web/prod holds the lease.
			if _, err := rs.Acquire(t.Context(), deploy.LeaseKey("web", "prod"), "7 deploy", time.Minute); err != nil {
				t.Fatal(err)
			}
			c := redisClient(t, srv)
			tc.spoil(t, srv, c)

			want := tc.want(srv)
			if tc.signalled != nil {
				want = tc.signalled(srv)
			}
			_, err := f.engine.SignalCancel(context.Background(), "web", "prod", "ana")
			if msg := errs.Message(err); err == nil || !strings.HasPrefix(msg, want) || errs.CodeOf(err) != errs.Unavailable {
				t.Errorf("SignalCancel: got %v (message %q, code %s), want code %s and a message starting %q", err, msg, errs.CodeOf(err), errs.Unavailable, want)
			}
		})
	}
}

// storeFailures are the ways a store fails a command, each with the start
// of what the refusal must say: a Redis that answers but refuses writes,
// or a store found reset, is named as such, never unreachable.
//
// signalled, when set, is what a cancel passed on to another replica
// says instead: the failure meets its signal's write, which Redis may
// have taken on an earlier try whose reply was lost (go-redis tries
// again after NOREPLICAS as after a timeout), so that whether the cancel
// was passed on is not known.
var storeFailures = []struct {
	name      string
	spoil     func(t *testing.T, srv *redisserver.Server, c *goredis.Client)
	want      func(srv *redisserver.Server) string
	signalled func(srv *redisserver.Server) string
}{
	{
		name: "refuses writes",
		spoil: func(t *testing.T, _ *redisserver.Server, c *goredis.Client) {
			if err := c.ConfigSet(t.Context(), "min-replicas-to-write", "1").Err(); err != nil {
				t.Fatal(err)
			}
		},
		want: func(srv *redisserver.Server) string {
			return "state store redis at " + srv.Addr() + " refuses writes: NOREPLICAS Not enough good replicas to write.; nothing was changed"
		},
		signalled: func(srv *redisserver.Server) string {
			return "whether the cancel of deploy 7 of web/prod was passed on to the replica running it is not known (state store redis at " + srv.Addr() + " refuses writes: NOREPLICAS Not enough good replicas to write.): "
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

// spoiledOnRecord spoils the Redis behind it just before the first record
// of a run is written: the lease and every read before went through.
type spoiledOnRecord struct {
	*redis.Store
	once  sync.Once
	spoil func()
}

func (s *spoiledOnRecord) PutRecord(ctx context.Context, r *deploy.Record) error {
	s.once.Do(s.spoil)
	return s.Store.PutRecord(ctx, r)
}

// TestRecordRefusedSaysWhy: a deploy whose first record the store refuses
// does not start, and says why as a refused lease does: a Redis that
// answers but refuses writes was called unreachable.
func TestRecordRefusedSaysWhy(t *testing.T) {
	wants := map[string]func(srv *redisserver.Server) string{
		"refuses writes": func(srv *redisserver.Server) string {
			return "state store redis at " + srv.Addr() + " refuses writes: NOREPLICAS Not enough good replicas to write.: the deploy could not be recorded; nothing was changed"
		},
		"reset": func(*redisserver.Server) string { return "the state store was reset, so nothing was run: " },
		"unreachable": func(*redisserver.Server) string {
			return "state store unreachable: the deploy could not be recorded; nothing was changed"
		},
	}
	for _, tc := range storeFailures {
		t.Run(tc.name, func(t *testing.T) {
			srv := redisserver.Start(t)
			rs := redisStore(t, srv)
			c := redisClient(t, srv)
			st := &spoiledOnRecord{Store: rs, spoil: func() { tc.spoil(t, srv, c) }}
			f := newFixtureWith(t, fmt.Sprintf(fixtureYAML, "true"), func(o *deploy.Options) { o.Store = st })
			f.build("1")

			_, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}, func(deploy.Event) {})
			want := wants[tc.name](srv)
			if msg := errs.Message(err); err == nil || !strings.HasPrefix(msg, want) || errs.CodeOf(err) != errs.Unavailable {
				t.Errorf("Deploy: got %v (message %q, code %s), want code %s and a message starting %q", err, msg, errs.CodeOf(err), errs.Unavailable, want)
			}
			if f.exists("current") {
				t.Error("the hosts were switched, although the deploy was never recorded")
			}
		})
	}
}

// redisStore opens the store the engine uses on srv, closed with the test.
func redisStore(t *testing.T, srv *redisserver.Server) *redis.Store {
	t.Helper()
	st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// redisClient is a plain client of srv, to spoil the store with behind
// the engine's back; closed with the test.
func redisClient(t *testing.T, srv *redisserver.Server) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}
