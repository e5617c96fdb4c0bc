package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// TestBastionSharedByEnvs connects to the hosts of two envs, of two apps,
// at once through one bastion that never answers: the bastion's bound of
// logins in progress holds for both together, as its sshd counts them all.
func TestBastionSharedByEnvs(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	bastion, accepted := sshd.Silent(t)
	const perEnv = 6
	var b strings.Builder
	b.WriteString("apps:\n")
	for _, app := range []string{"api", "web"} {
		fmt.Fprintf(&b, "  %s:\n    artifact: {path: 'builds/{app}-{build}.tar.gz'}\n    path: /srv/%s\n    restart: 'true'\n    environments:\n      prod:\n", app, app)
		fmt.Fprintf(&b, "        transport: ssh\n        ssh:\n          user: %s\n          key_file: %s\n          known_hosts: %s\n          connect_timeout: 1s\n", f.User, f.ClientKey, f.KnownHosts)
		fmt.Fprintf(&b, "          jump: {address: '%s', max_startups: 4}\n        hosts:\n", bastion)
		for i := range perEnv {
			fmt.Fprintf(&b, "          - %s%d=10.0.0.%d\n", app, i, i+1)
		}
	}
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "switchman.yaml"), []byte(b.String()), nil)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, b.String())
	}
	fl, err := newFleet(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fl.close)
	var wg sync.WaitGroup
	for _, app := range []string{"api", "web"} {
		a, _ := cfg.App(app)
		e, _ := a.Env("prod")
		tr, err := fl.transport(a, e)
		if err != nil {
			t.Fatal(err)
		}
		for i := range perEnv {
			wg.Go(func() {
				h := deploy.Host{Name: fmt.Sprintf("%s%d", app, i), Address: fmt.Sprintf("10.0.0.%d", i+1)}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				s, err := tr.Open(ctx, h)
				if err == nil {
					s.Close()
				}
				if !errors.Is(err, deploy.ErrUnreachable) {
					t.Errorf("Open %s through a silent bastion: got %v, want ErrUnreachable", h.Name, err)
				}
			})
		}
	}
	wg.Wait()
	if n := accepted(); n > 4 {
		t.Errorf("the bastion got %d connections from the two envs, want at most their max_startups of 4", n)
	}
}
