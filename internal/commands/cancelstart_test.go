package commands_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/artifact/artifacttest"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/store/redis"
	"github.com/switchman-bot/switchman/internal/testenv/redisserver"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// openHookTransport runs opening once, as the first host is opened: a
// deploy holds its lease then, and has not started.
type openHookTransport struct {
	deploy.Transport
	once    sync.Once
	opening func(ctx context.Context)
}

func (t *openHookTransport) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	t.once.Do(func() { t.opening(ctx) })
	return t.Transport.Open(ctx, h)
}

// raceStore is a state store as the bot wires it.
type raceStore interface {
	commands.Store
	deploy.Store
	deploy.Leaser
	deploy.LockStore
	deploy.Signals
	Close() error
}

// TestCancelWhileTheDeployStarts: a cancel that arrives while a deploy
// holds its app+env and opens its hosts, before it has started, stops it
// before it changes anything, with the embedded store and with Redis (whose
// replicas pass cancels on). It was answered "no deploy of web/prod is
// running" (the lock's reply names such a deploy, with the cancel that
// stops it) and the deploy went ahead; with Redis it was passed on as to
// another replica, and the deploy started.
func TestCancelWhileTheDeployStarts(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T, dir string) raceStore
	}{
		{"embedded", func(t *testing.T, dir string) raceStore {
			st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
		{"redis", func(t *testing.T, _ string) raceStore {
			srv := redisserver.Start(t)
			st, err := redis.Open(t.Context(), redis.Options{URL: srv.URL(), Prefix: "switchman:"})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(serviceYAML), nil)
			if err != nil {
				t.Fatal(err)
			}
			st := tc.open(t, dir)
			t.Cleanup(func() { st.Close() })
			artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-1.tar.gz"), tgz(t, map[string]string{"BUILD": "1"}))
			var svc *commands.Service
			cancelled := newRecorder()
			var cancelRes commands.Outcome
			tr := &openHookTransport{Transport: &local.Transport{}, opening: func(ctx context.Context) {
				cancelRes = svc.Handle(ctx, commands.Request{User: "ana", Platform: "test", Channel: "C2", Text: "cancel web prod"}, cancelled)
			}}
			opt := deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": tr}, Store: st, Leases: st, Locks: st}
			if tc.name == "redis" {
				opt.Signals = st
			}
			eng := deploy.NewEngine(opt)
			t.Cleanup(eng.Wait)
			policy, err := acl.New(cfg.AccessRules())
			if err != nil {
				t.Fatal(err)
			}
			svc = commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy})

			out := newRecorder()
			res := svc.Handle(t.Context(), commands.Request{User: "bob", Platform: "test", Channel: "C1", Text: "deploy web 1"}, out)
			if cancelRes.Failed || !strings.Contains(cancelled.last(), "Cancelling deploy ") || strings.Contains(cancelled.last(), "another replica") {
				t.Errorf("cancel as the deploy starts: failed %v, %q; want it to cancel the deploy, which runs here", cancelRes.Failed, cancelled.last())
			}
			// It had switched nothing: no switch back is promised.
			if want := "before it starts: it has switched no host, and will switch none"; !strings.Contains(cancelled.last(), want) || strings.Contains(cancelled.last(), "switched back") {
				t.Errorf("cancel as the deploy starts: got %q, want %q and no switch back", cancelled.last(), want)
			}
			if res.DeployID != "" {
				<-out.finished
			}
			if !res.Failed || res.DeployID != "" || !strings.Contains(out.last(), "was cancelled by ana before it started; nothing was changed") {
				t.Errorf("deploy cancelled as it started: failed %v, deploy %q, %q; want it stopped before it started", res.Failed, res.DeployID, out.last())
			}
			if _, err := os.Lstat(filepath.Join(dir, "srv/web/current")); !os.IsNotExist(err) {
				t.Errorf("current after the cancelled deploy: %v; want none", err)
			}
			// The lease was given back: a deploy goes ahead now.
			tr.once.Do(func() {})
			out = newRecorder()
			if res := svc.Handle(t.Context(), commands.Request{User: "bob", Platform: "test", Channel: "C1", Text: "deploy web 1"}, out); res.DeployID == "" {
				t.Fatalf("deploy after the cancel: %q; want it to start", out.last())
			}
			if rec := <-out.finished; rec.Outcome != deploy.OutcomeSucceeded {
				t.Errorf("deploy after the cancel: ended %s; want succeeded", rec.Outcome)
			}
		})
	}
}

// TestStatusShowsADeployStarting: status shows a deploy that holds its
// app+env and opens its hosts, before it has started: a deploy there is
// refused as busy with it, and status said nothing was running.
func TestStatusShowsADeployStarting(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(serviceYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	artifacttest.Publish(t, filepath.Join(dir, "artifacts", "web-1.tar.gz"), tgz(t, map[string]string{"BUILD": "1"}))
	var svc *commands.Service
	status := newRecorder()
	tr := &openHookTransport{Transport: &local.Transport{}, opening: func(ctx context.Context) {
		svc.Handle(ctx, commands.Request{User: "carl", Platform: "test", Channel: "C2", Text: "status"}, status)
	}}
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Transports: map[string]deploy.Transport{"local": tr}, Store: st, Leases: st, Locks: st})
	t.Cleanup(eng.Wait)
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	svc = commands.NewService(commands.Deps{Config: cfg, Engine: eng, Store: st, Policy: policy})
	out := newRecorder()
	res := svc.Handle(t.Context(), commands.Request{User: "bob", Platform: "test", Channel: "C1", Text: "deploy web 1"}, out)
	if res.DeployID == "" {
		t.Fatalf("deploy: %q; want it started", out.last())
	}
	<-out.finished
	want := "▶ under way: deploy of build 1 by bob of web/prod (" + res.DeployID + ")"
	if got := status.last(); !strings.Contains(got, want) {
		t.Errorf("status as the deploy starts: got %q, want %q", got, want)
	}
}
