package commands_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// locksHookStore runs between once, right after the first read of the
// locks: a deploy's gate has read them, and the deploy holds no lease.
type locksHookStore struct {
	raceStore
	once    sync.Once
	between func(ctx context.Context)
}

func (s *locksHookStore) Locks(ctx context.Context) ([]deploy.Lock, error) {
	locks, err := s.raceStore.Locks(ctx)
	if err == nil {
		s.once.Do(func() { s.between(ctx) })
	}
	return locks, err
}

// TestLockOnAnotherReplicaAsADeployStarts: of two replicas sharing Redis,
// one deploys and the other takes a lock of the app as the deploy starts.
// Taken after the deploy's gate and before its lease, the lock refuses the
// deploy, and its reply names no deploy under way; taken once the deploy
// holds its lease and reaches its hosts, the deploy goes on, and the
// lock's reply names it with the cancel that stops it.
func TestLockOnAnotherReplicaAsADeployStarts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		afterLease bool
	}{
		{"before the lease", false},
		{"after the lease", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(serviceYAML), nil)
			if err != nil {
				t.Fatal(err)
			}
			artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-1.tar.gz"), tgz(t, map[string]string{"BUILD": "1"}))
			policy, err := acl.New(cfg.AccessRules())
			if err != nil {
				t.Fatal(err)
			}
			srv := redisserver.Start(t)
			replica := func(st raceStore, tr deploy.Transport) *commands.Service {
				eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": tr},
					Store: st, Leases: st, Locks: st, Signals: st})
				t.Cleanup(eng.Wait)
				return commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy})
			}
			open := func() raceStore {
				st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), Prefix: "switchman:"})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			b := replica(open(), &local.Transport{})
			locked := newRecorder()
			var lockRes commands.Outcome
			lock := func(ctx context.Context) {
				lockRes = b.Handle(ctx, commands.Request{User: "ana", Platform: "test", Channel: "C2", Text: "lock deploys web incident 7"}, locked)
			}
			stA := &locksHookStore{raceStore: open(), between: lock}
			trA := &openHookTransport{Transport: &local.Transport{}, opening: lock}
			if tc.afterLease {
				stA.once.Do(func() {})
			} else {
				trA.once.Do(func() {})
			}
			a := replica(stA, trA)

			out := newRecorder()
			res := a.Handle(t.Context(), commands.Request{User: "bob", Platform: "test", Channel: "C1", Text: "deploy web 1"}, out)
			if lockRes.Failed || !strings.Contains(locked.last(), "Locked web") {
				t.Fatalf("lock on the other replica: failed %v, %q; want it set", lockRes.Failed, locked.last())
			}
			if !tc.afterLease {
				if !res.Failed || res.DeployID != "" || !strings.Contains(out.last(), "web/prod is locked: locked by ana") {
					t.Errorf("deploy: failed %v, deploy %q, %q; want it refused by ana's lock", res.Failed, res.DeployID, out.last())
				}
				if strings.Contains(locked.last(), "under way") {
					t.Errorf("lock: reply %q names a run under way; want none", locked.last())
				}
				return
			}
			if res.DeployID == "" {
				t.Fatalf("deploy: %q; want it to go on", out.last())
			}
			if rec := <-out.finished; rec.Outcome != deploy.OutcomeSucceeded {
				t.Errorf("deploy: ended %s; want succeeded", rec.Outcome)
			}
			want := "web/prod: deploy of build 1 by bob is under way (" + res.DeployID + ") and goes on"
			if !strings.Contains(locked.last(), want) || !strings.Contains(locked.last(), "cancel web prod") {
				t.Errorf("lock: reply %q; want %q, with the cancel that stops it", locked.last(), want)
			}
		})
	}
}
