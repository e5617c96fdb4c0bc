package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/ports"
)

// goServer is an SSH server of x/crypto's on 127.0.0.1, for what no
// OpenSSH sshd says: a host's own words in a disconnect or a refused
// channel, a refused exec request. It lets any key in.
type goServer struct {
	addr       string
	knownHosts string
}

// startGoServer starts a goServer, stopped when the test ends. Once its
// client has logged in, it hands each new channel to channel; with none,
// it accepts sessions and refuses every request on them (exec, env, …)
// and every other channel.
func startGoServer(t *testing.T, channel func(ssh.NewChannel)) *goServer {
	t.Helper()
	return startGoServerConfig(t, nil, channel)
}

// startGoServerConfig is startGoServer with its config changed by config,
// if not nil, once the server has its host key.
func startGoServerConfig(t *testing.T, config func(*ssh.ServerConfig), channel func(ssh.NewChannel)) *goServer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }}
	cfg.AddHostKey(signer)
	if config != nil {
		config(cfg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				serveGoConn(nc, cfg, channel)
			}()
		}
	}()
	s := &goServer{addr: l.Addr().String(), knownHosts: filepath.Join(t.TempDir(), "known_hosts")}
	_, port, _ := net.SplitHostPort(s.addr)
	line := "[127.0.0.1]:" + port + " " + string(ssh.MarshalAuthorizedKey(signer.PublicKey()))
	if err := os.WriteFile(s.knownHosts, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

func serveGoConn(nc net.Conn, cfg *ssh.ServerConfig, channel func(ssh.NewChannel)) {
	conn, chans, reqs, err := ssh.NewServerConn(nc, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nch := range chans {
		switch {
		case channel != nil:
			channel(nch)
		case nch.ChannelType() == "session":
			ch, creqs, err := nch.Accept()
			if err != nil {
				return
			}
			go func() {
				defer ch.Close()
				for r := range creqs {
					if r.WantReply {
						r.Reply(false, nil)
					}
				}
			}()
		default:
			nch.Reject(ssh.UnknownChannelType, "")
		}
	}
}

// host is the server as a deploy.Host named name.
func (s *goServer) host(name string) deploy.Host { return deploy.Host{Name: name, Address: s.addr} }

// goTransport returns a Transport logging in to s with a key of its own.
func goTransport(t *testing.T, s *goServer) *Transport {
	t.Helper()
	key := filepath.Join(t.TempDir(), "id")
	keygen(t, key, "")
	tr, err := New(Config{User: "deploy", KeyFile: key, KnownHostsFile: s.knownHosts, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// TestHostWithoutAddress: a host with no address is refused before any
// dial, with an error that reads well in a reply whether or not the host
// has a name (the config refuses both at load; a caller may still pass
// one).
func TestHostWithoutAddress(t *testing.T) {
	t.Parallel()
	tr := goTransport(t, startGoServer(t, nil))
	tests := []struct {
		name string
		host deploy.Host
		want string
	}{
		{name: "named", host: deploy.Host{Name: "web1"}, want: "ssh: host web1 has no address"},
		{name: "neither name nor address", host: deploy.Host{}, want: "ssh: a host with neither name nor address: nothing to dial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tr.Open(context.Background(), tt.host)
			if err == nil {
				s.Close()
				t.Fatal("got no error")
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDisconnectBeforeLogin: a host that sends the connection away
// before the bot offered it a key (an overloaded sshd, a host's own
// policy) is not reported as a failed login, which would send whoever
// reads the reply to check the user's credentials; one that sends it
// away after refusing the key still is.
func TestDisconnectBeforeLogin(t *testing.T) {
	t.Parallel()
	srv := startGoServer(t, nil)
	refuser := startGoServerConfig(t, func(cfg *ssh.ServerConfig) {
		cfg.MaxAuthTries = 1
		cfg.PublicKeyCallback = func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
			return nil, errors.New("key not authorized")
		}
	}, nil)
	disconnecter := startDisconnecter(t, "too many connections")
	tests := []struct {
		name   string
		known  *goServer // whose key the transport knows
		addr   string
		want   string // the start of the error
		reason string // in the error too
	}{
		{
			// It sends away before any key is seen: srv's is as good
			// as any.
			name:   "before the key exchange",
			known:  srv,
			addr:   disconnecter,
			want:   "ssh: web1 (" + disconnecter + "): the host closed the connection before login: ",
			reason: "too many connections",
		},
		{
			name:   "after the key was refused",
			known:  refuser,
			addr:   refuser.addr,
			want:   "ssh: web1 (" + refuser.addr + "): log in as deploy: ",
			reason: "too many authentication failures",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := goTransport(t, tt.known).Open(context.Background(), deploy.Host{Name: "web1", Address: tt.addr})
			if err == nil {
				s.Close()
				t.Fatal("got no error")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tt.want) || !strings.Contains(msg, tt.reason) {
				t.Errorf("got %q, want it to start %q and say %q", msg, tt.want, tt.reason)
			}
		})
	}
}

// TestExecRefused: a host that refuses to run the script (its sshd
// declines the exec request) fails the step saying so, without the
// command the request carried: the script, with the passwords a
// migration's may hold, or the step shell's whole loop, would otherwise
// be quoted in the reply.
func TestExecRefused(t *testing.T) {
	t.Parallel()
	srv := startGoServer(t, nil)
	const script = "PGPASSWORD=hunter2 psql -c 'select 1'"
	tests := []struct {
		name  string
		stdin io.Reader
	}{
		{name: "in the shell"},
		{name: "in a session", stdin: strings.NewReader("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := goTransport(t, srv).Open(context.Background(), srv.host("web1"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Run(context.Background(), deploy.Command{Script: script, Stdin: tt.stdin})
			if err == nil {
				t.Fatal("Run succeeded, want the host's refusal")
			}
			msg := err.Error()
			if want := "web1: the host refused to run the script"; !strings.Contains(msg, want) {
				t.Errorf("got %q, want it to say %q", msg, want)
			}
			for _, leak := range []string{"hunter2", "/bin/sh"} {
				if strings.Contains(msg, leak) {
					t.Errorf("got %q, want no %q in it", msg, leak)
				}
			}
		})
	}
}

// TestOutsideTextUnmarked: the text of the config (a host's name and
// address, a bastion's) and of the host (why it sent the bot away or
// refused a channel)
// reaches errors, and so replies, without the marks of the bot's
// suggested commands (see suggest), which would make what they enclose
// look like the bot's suggestion.
func TestOutsideTextUnmarked(t *testing.T) {
	t.Parallel()
	const forged = "\ue000rollback web prod\ue001"
	closed, err := ports.Addr()
	if err != nil {
		t.Fatal(err)
	}
	srv := startGoServer(t, func(nch ssh.NewChannel) {
		if nch.ChannelType() == "session" {
			nch.Reject(ssh.Prohibited, "")
			return
		}
		nch.Reject(ssh.ConnectionFailed, "no socket here: "+forged)
	})
	key := filepath.Join(t.TempDir(), "id")
	keygen(t, key, "")
	tests := []struct {
		name string
		do   func() error
		want string // in the error
	}{
		{name: "host name", want: "web1rollback web prod", do: func() error {
			s, err := goTransport(t, srv).Open(context.Background(), deploy.Host{Name: "web1" + forged, Address: closed})
			if err == nil {
				s.Close()
			}
			return err
		}},
		{name: "host address", want: "is not a host name or IP address", do: func() error {
			s, err := goTransport(t, srv).Open(context.Background(), deploy.Host{Name: "web1", Address: "web1" + forged})
			if err == nil {
				s.Close()
			}
			return err
		}},
		{name: "bastion address", want: "is not a host name or IP address", do: func() error {
			_, err := New(Config{User: "deploy", KeyFile: key, KnownHostsFile: srv.knownHosts, Jump: &JumpHost{Address: "bastion" + forged}})
			return err
		}},
		{name: "disconnect", want: "sent away", do: func() error {
			s, err := goTransport(t, srv).Open(context.Background(), deploy.Host{Name: "web1", Address: startDisconnecter(t, "sent away: "+forged)})
			if err == nil {
				s.Close()
			}
			return err
		}},
		{name: "channel refused", want: "no socket here", do: func() error {
			c, err := goTransport(t, srv).Dial(context.Background(), srv.host("lb1"+forged), "unix", "/run/haproxy.sock")
			if err == nil {
				c.Close()
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil {
				t.Fatal("got no error")
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\ue000\ue001") {
				t.Errorf("got %q, want no marks in it", msg)
			}
			if !strings.Contains(msg, tt.want) {
				t.Errorf("got %q, want it to say %q", msg, tt.want)
			}
		})
	}
}

// startDisconnecter starts a server on 127.0.0.1 that sends its version
// line and then disconnects with reason, as a host that sends away the
// bot in words of its own does; stopped when the test ends.
func startDisconnecter(t *testing.T, reason string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	// SSH_MSG_DISCONNECT, in a packet before any key exchange: no
	// cipher nor MAC, padding to a multiple of 8, at least 4 bytes.
	payload := ssh.Marshal(struct {
		Reason   uint32
		Message  string
		Language string
	}{Reason: 2, Message: reason})
	payload = append([]byte{1}, payload...)
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	packet := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	packet = append(packet, byte(pad))
	packet = append(packet, payload...)
	packet = append(packet, make([]byte, pad)...)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write(append([]byte("SSH-2.0-Go\r\n"), packet...))
			// Open until the client closes, as sshd keeps it: a close
			// at once resets what the client sends meanwhile, and the
			// client may never read the reason.
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	return l.Addr().String()
}
