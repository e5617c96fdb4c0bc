package commands_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/switchman-bot/switchman/internal/audit"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/server"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// useStore has the fixture's service and engine keep their state in st.
func (f *serviceFixture) useStore(st *embedded.Store) {
	f.t.Helper()
	eng := deploy.NewEngine(deploy.Options{Config: f.cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}}, Store: st, Leases: st, Locks: st})
	f.t.Cleanup(eng.Wait)
	f.store, f.eng = st, eng
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: eng, Store: st, Policy: f.policy})
}

// useRedis has the fixture's service and engine keep their state in a
// Redis store on a redis-server of the test's own, through which the
// engine passes cancels and answers on as replicas do, and returns the
// server, the store and a client to reconfigure the server with.
func (f *serviceFixture) useRedis() (*redisserver.Server, *redis.Store, *goredis.Client) {
	f.t.Helper()
	return f.useRedisWith(redis.Options{}, nil)
}

// useRedisWith is useRedis with the store opened with opt (its URL set
// here), and reached by the service and engine through wrap (nil: as it
// is).
func (f *serviceFixture) useRedisWith(opt redis.Options, wrap func(*redisserver.Server, raceStore) raceStore) (*redisserver.Server, *redis.Store, *goredis.Client) {
	f.t.Helper()
	srv := redisserver.Start(f.t)
	opt.URL = srv.URL()
	st, err := redis.Open(f.t.Context(), opt)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { st.Close() })
	var use raceStore = st
	if wrap != nil {
		use = wrap(srv, st)
	}
	eng := deploy.NewEngine(deploy.Options{Config: f.cfg, Transports: map[string]deploy.Transport{"local": &local.Transport{}}, Store: use, Leases: use, Locks: use, Signals: use})
	f.t.Cleanup(eng.Wait)
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: eng, Store: use, Policy: f.policy})
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	f.t.Cleanup(func() { rdb.Close() })
	return srv, st, rdb
}

// smallDisk mounts a file system of 1 MiB at a new directory, unmounted
// when the test ends, and returns the directory. It needs root.
func smallDisk(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs at %s (needs root): %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill takes every free byte of the file system holding dir with the
// file dir/fill.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestStoreDiskFull: the disk of the embedded store is full, and the
// store's file has no free page left for a write. A command that changes
// state is refused at its first audit write, before it acts: the lock is
// not set, the deploy leaves no record and touches no host. The reply
// says the audit log cannot be written, naming the file and its full
// disk rather than an unreachable store; the refusal is counted and
// logged with who asked what. Once space is freed nothing has been tried
// again by itself, and the command runs when asked again.
func TestStoreDiskFull(t *testing.T) {
	for _, tt := range []struct {
		name, text, done string
	}{
		{"lock", "lock deploys web prod for 1h " + strings.Repeat("maintenance ", 75), "Locked web/prod"},
		{"deploy", "deploy web 1 to prod", "Deploying web 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newServiceFixture(t)
			disk := smallDisk(t)
			st, err := embedded.Open(filepath.Join(disk, "state.db"), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			f.useStore(st)
			reg := prometheus.NewRegistry()
			m := server.NewDeployMetrics(reg, func(ctx context.Context) (int, error) { return 0, nil }, slog.New(slog.DiscardHandler))
			var logs bytes.Buffer
			f.svc = commands.NewService(commands.Deps{Config: f.cfg, Engine: f.eng, Store: st, Policy: f.policy, Refusals: m,
				Log: slog.New(slog.NewTextHandler(&logs, nil))})
			fill(t, disk)
			// Entries that need pages of their own use up the file's free
			// pages, until it must grow; smaller ones then use up what is
			// left, until not even the smallest write fits.
			for _, size := range []int{8 << 10, 1 << 10, 64, 1} {
				var werr error
				for i := 0; werr == nil && i < 1000; i++ {
					werr = st.AppendAudit(t.Context(), &audit.Entry{User: "ana", Command: strings.Repeat("x", size)})
				}
				if !errors.Is(werr, deploy.ErrStoreFull) {
					t.Fatalf("writes of %d bytes to the full store: got %v, want it full", size, werr)
				}
			}
			before, err := st.Audit(t.Context(), audit.Query{})
			if err != nil {
				t.Fatal(err)
			}

			res, out, _ := f.do("bob", tt.text)
			if !res.Failed || res.DeployID != "" {
				t.Errorf("%s on a full store: got %+v, want it refused, no deploy", tt.name, res)
			}
			full := "state store " + filepath.Join(disk, "state.db") + " cannot be written: its disk is full (no space left on device)"
			if got, want := texts(out), []string{"Not run: the audit log cannot be written, so nothing was changed"}; !slices.Equal(got, want) {
				t.Errorf("replies: got %q, want %q", got, want)
			}
			if got := out.lastMessage().Lines; !slices.Equal(got, []string{full}) {
				t.Errorf("reply lines: got %q, want %q", got, []string{full})
			}
			if got := refused(t, reg, "unaudited"); got != 1 {
				t.Errorf("switchman_commands_refused_total{reason=\"unaudited\"}: got %v, want 1", got)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "user=bob") || !strings.Contains(logs.String(), "the audit log cannot be written") {
				t.Errorf("log: got %q, want an ERROR naming bob and the audit log", logs.String())
			}
			nothingChanged := func(when string) {
				t.Helper()
				if locks, err := st.Locks(t.Context()); err != nil || len(locks) != 0 {
					t.Errorf("locks %s: got %+v, %v; want none", when, locks, err)
				}
				if recs, err := st.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 0 {
					t.Errorf("deploy records %s: got %+v, %v; want none", when, recs, err)
				}
				if _, err := os.Stat(f.app); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("host's app directory %s: got %v, want none: no host touched", when, err)
				}
				if after, err := st.Audit(t.Context(), audit.Query{}); err != nil || len(after) != len(before) {
					t.Errorf("audit entries %s: got %d, %v; want %d", when, len(after), err, len(before))
				}
			}
			nothingChanged("on the full disk")

			if err := os.Remove(filepath.Join(disk, "fill")); err != nil {
				t.Fatal(err)
			}
			nothingChanged("once space was freed: nothing is tried again by itself")
			res, out, _ = f.do("bob", tt.text)
			if got := texts(out); res.Failed || len(got) == 0 || !strings.HasPrefix(got[0], tt.done) {
				t.Errorf("%s once space was freed: got %+v, replies %q; want %q", tt.name, res, got, tt.done)
			}
		})
	}
}

// texts is the titles of what out was told, one reply each.
func texts(out *recorder) []string {
	out.mu.Lock()
	defer out.mu.Unlock()
	var s []string
	for _, m := range out.replies {
		s = append(s, m.Title)
	}
	return s
}

// TestRedisRefusesWrites: the Redis store's server takes no writes: it
// wants a replica it does not have (min-replicas-to-write), or it is out
// of memory and evicts nothing (maxmemory, noeviction). A command that
// changes state is refused at its first audit write, before it acts: the
// lock is not set, the deploy leaves no record and touches no host, and
// the reply says the audit log cannot be written because Redis refuses
// writes, not that it is unreachable, nor that something went wrong
// inside the bot.
func TestRedisRefusesWrites(t *testing.T) {
	type refusal struct {
		name       string
		set, unset [2]string // CONFIG SET that makes Redis refuse writes, and undoes it
		want       string    // Redis's answer, in the reply after "refuses writes: "
	}
	refusals := []refusal{
		{"no replicas", [2]string{"min-replicas-to-write", "1"}, [2]string{"min-replicas-to-write", "0"},
			"NOREPLICAS Not enough good replicas to write."},
		{"out of memory", [2]string{"maxmemory", "1"}, [2]string{"maxmemory", "0"},
			"OOM command not allowed when used memory > 'maxmemory'."},
	}
	for _, r := range refusals {
		for _, tt := range []struct{ name, text string }{
			{"lock", "lock deploys web prod x"},
			{"deploy", "deploy web 1 to prod"},
		} {
			t.Run(r.name+"/"+tt.name, func(t *testing.T) {
				f := newServiceFixture(t)
				srv, st, rdb := f.useRedis()
				if err := rdb.ConfigSet(t.Context(), "maxmemory-policy", "noeviction").Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.ConfigSet(t.Context(), r.set[0], r.set[1]).Err(); err != nil {
					t.Fatal(err)
				}

				res, out, _ := f.do("bob", tt.text)
				if !res.Failed || res.DeployID != "" {
					t.Errorf("%s: got %+v, want it refused, no deploy", tt.name, res)
				}
				if got, want := texts(out), []string{"Not run: the audit log cannot be written, so nothing was changed"}; !slices.Equal(got, want) {
					t.Errorf("replies: got %q, want %q", got, want)
				}
				refuses := []string{"state store redis at " + srv.Addr() + " refuses writes: " + r.want}
				if got := out.lastMessage().Lines; !slices.Equal(got, refuses) {
					t.Errorf("reply lines: got %q, want %q", got, refuses)
				}

				if err := rdb.ConfigSet(t.Context(), r.unset[0], r.unset[1]).Err(); err != nil {
					t.Fatal(err)
				}
				if locks, err := st.Locks(t.Context()); err != nil || len(locks) != 0 {
					t.Errorf("locks: got %+v, %v; want none", locks, err)
				}
				if recs, err := st.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 0 {
					t.Errorf("deploy records: got %+v, %v; want none", recs, err)
				}
				if _, err := os.Stat(f.app); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("host's app directory: got %v, want none: no host touched", err)
				}
				if entries, err := st.Audit(t.Context(), audit.Query{}); err != nil || len(entries) != 0 {
					t.Errorf("audit entries: got %+v, %v; want none", entries, err)
				}
			})
		}
	}
}

// TestDryRunUnaudited: a dry run changes nothing, so, like status, it
// runs when the audit log cannot be written and then says the log could
// not take it; a deploy that is no dry run is not run.
func TestDryRunUnaudited(t *testing.T) {
	f := newServiceFixture(t)
	srv, st, rdb := f.useRedis()
	if err := rdb.ConfigSet(t.Context(), "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	_, out, _ := f.do("bob", "deploy web 1 to prod --dry-run")
	got := texts(out)
	// Named as Redis refusing writes, as a command refused at its pending
	// entry is told, not as a store that cannot be reached.
	lost := "The audit log cannot be written: state store redis at " + srv.Addr() + " refuses writes: NOREPLICAS Not enough good replicas to write."
	if len(got) != 2 || !strings.HasPrefix(got[0], "Dry run: deploy web 1 to prod") || got[1] != lost {
		t.Errorf("dry run on a store that refuses writes: replies %q, want the plan, then %q", got, lost)
	}
	if recs, err := st.Records(t.Context(), deploy.Filter{}); err != nil || len(recs) != 0 {
		t.Errorf("deploy records: got %+v, %v; want none", recs, err)
	}
}

// TestStatusUnauditedWithExpiredLock: status only reads, so it answers
// when Redis refuses writes, and says its audit entry was lost; an expired
// lock the store drops as it lists the locks does not change that, though
// Redis refuses the drop too.
func TestStatusUnauditedWithExpiredLock(t *testing.T) {
	f := newServiceFixture(t)
	_, st, rdb := f.useRedis()
	now := time.Now()
	expired := deploy.Lock{App: "web", Env: "prod", Owner: "ana", Reason: "db work", Created: now.Add(-2 * time.Hour), Expires: now.Add(-time.Hour)}
	if err := st.PutLock(t.Context(), expired); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ConfigSet(t.Context(), "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	_, out, _ := f.do("bob", "status web")
	got := texts(out)
	if len(got) != 2 || got[0] != "Status" || !strings.HasPrefix(got[1], "The audit log cannot be written") {
		t.Errorf("status on a store that refuses writes, with an expired lock: replies %q; want the status, then that the audit log could not take it", got)
	}
}
