package ssh

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// TestLoginErrorsNameTheUser: an error of a host that did not let the bot
// in names the login it tried, user@host:port, whether the host refused
// it or could not be reached: whoever reads "Permission denied" in the
// host's sshd log, or finds the bastion's user differs from the host's,
// needs it. An unreachable host said only its address. None names the
// key or its file.
func TestLoginErrorsNameTheUser(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 2, sshd.Options{NoNamespace: true})
	stranger := filepath.Join(t.TempDir(), "id")
	keygen(t, stranger, "")
	for _, tc := range []struct {
		name string
		edit func(*Config)
		host func() deploy.Host
		// want is where the error starts, ends where it is
		// unreachable, whether it wraps deploy.ErrUnreachable.
		want, ends  string
		unreachable bool
	}{
		{"a key the host refuses", func(c *Config) { c.KeyFile = stranger }, func() deploy.Host { return host(f, 0) },
			"ssh: " + f.Hosts[0].Name + " (" + f.Hosts[0].Addr + "): log in as " + f.User + "@" + f.Hosts[0].Addr + ": ", "", false},
		{"a bastion refusing its own user", func(c *Config) { c.Jump = &JumpHost{Address: f.Hosts[0].Addr, User: "nobody"} }, func() deploy.Host { return host(f, 1) },
			"ssh: bastion for " + f.Hosts[1].Name + " (" + f.Hosts[0].Addr + "): log in as nobody@" + f.Hosts[0].Addr + ": ", "", false},
		{"a port nothing listens on", nil, func() deploy.Host { return deploy.Host{Name: "gone", Address: "127.0.0.1:1"} },
			"ssh: gone (127.0.0.1:1): host unreachable: dial tcp 127.0.0.1:1: ", "connection refused (connecting as " + f.User + "@127.0.0.1:1)", true},
		{"through a bastion that cannot reach it", func(c *Config) { c.Jump = &JumpHost{Address: f.Hosts[0].Addr} }, func() deploy.Host { return deploy.Host{Name: "gone", Address: "127.0.0.1:1"} },
			"ssh: gone (127.0.0.1:1): host unreachable: the bastion (" + f.Hosts[0].Addr + ") could not connect to it: ", " (connecting as " + f.User + "@127.0.0.1:1)", true},
		{"its sshd killed", nil, func() deploy.Host { f.Kill(1); return host(f, 1) },
			"ssh: " + f.Hosts[1].Name + " (" + f.Hosts[1].Addr + "): host unreachable: dial tcp " + f.Hosts[1].Addr + ": ", "connection refused (connecting as " + f.User + "@" + f.Hosts[1].Addr + ")", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := transport(t, f, tc.edit)
			s, err := tr.Open(context.Background(), tc.host())
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.want) || !strings.HasSuffix(msg, tc.ends) {
				t.Errorf("got %q, want it to start %q and end %q", msg, tc.want, tc.ends)
			}
			if got := errors.Is(err, deploy.ErrUnreachable); got != tc.unreachable {
				t.Errorf("got %v: unreachable %v, want %v", err, got, tc.unreachable)
			}
			for _, secret := range []string{f.ClientKey, stranger, "PRIVATE KEY"} {
				if strings.Contains(msg, secret) {
					t.Errorf("got %q, want no %q in it", msg, secret)
				}
			}
		})
	}
}
