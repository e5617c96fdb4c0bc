package ssh

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/pause"
	"github.com/switchman-bot/switchman/internal/testenv/ports"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
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
	tr, err := New(Config{User: "deploy", KeyFile: key, KnownHostsFile: s.knownHosts, ConnectTimeout: testConnectTimeout})
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
	disconnecter := startDisconnecter(t, 2, "too many connections")
	tests := []struct {
		name        string
		known       *goServer // whose key the transport knows
		addr        string
		want        string // the start of the error
		reason      string // in the error too
		unreachable bool   // whether it wraps deploy.ErrUnreachable
	}{
		{
			// It sends away before any key is seen: srv's is as good
			// as any. Nothing ran and no key was tried: the host is
			// unreachable, as one that drops the connection before its
			// banner is, after as many tries.
			name:        "before the key exchange",
			known:       srv,
			addr:        disconnecter,
			want:        "ssh: web1 (" + disconnecter + "): host unreachable: the host closed the connection before login, 5 times: ",
			reason:      "too many connections",
			unreachable: true,
		},
		{
			name:   "after the key was refused",
			known:  refuser,
			addr:   refuser.addr,
			want:   "ssh: web1 (" + refuser.addr + "): log in as deploy@" + refuser.addr + ": ",
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
			if got := errors.Is(err, deploy.ErrUnreachable); got != tt.unreachable {
				t.Errorf("errors.Is(err, deploy.ErrUnreachable) = %v, want %v", got, tt.unreachable)
			}
		})
	}
}

// TestSentAwayBeforeLoginTriedAgain puts a front before a real sshd that
// ends the first connections before login, as an sshd over its limits
// does: with an SSH disconnect, or before its banner. Nothing ran on
// the host and no key was tried, so the connection is tried again within
// connect_timeout, and logs in once the host lets it; a host that goes on
// sending it away is unreachable.
func TestSentAwayBeforeLoginTriedAgain(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	tests := []struct {
		name    string
		how     frontRefusal
		refused int    // connections sent away before the host lets one in; -1 for all
		want    string // the start of the error after the host's name and address
	}{
		{name: "disconnect, then let in", how: refuseDisconnect, refused: 2},
		{name: "closed before the banner, then let in", how: refuseBeforeBanner, refused: 2},
		{name: "disconnect every time", how: refuseDisconnect, refused: -1,
			want: "host unreachable: the host closed the connection before login, 5 times: ssh: handshake failed: ssh: disconnect, reason 12: \"too many connections\""},
		{name: "closed before the banner every time", how: refuseBeforeBanner, refused: -1,
			// EOF, or a reset when the host closed with the bot's
			// version line unread.
			want: "host unreachable: closed the connection before its SSH banner, 5 times (its sshd refusing new connections past MaxStartups?): ssh: handshake failed: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			front, accepted := startFront(t, f.Hosts[0].Addr, tt.how, tt.refused)
			tr := transport(t, f, func(c *Config) { c.KnownHostsFile = knownAs(t, f, 0, front) })
			defer tr.Close()
			s, err := tr.Open(context.Background(), deploy.Host{Name: "web1", Address: front})
			if tt.refused >= 0 {
				if err != nil {
					t.Fatalf("Open: %v; want a login once the host let one in", err)
				}
				defer s.Close()
				if out, err := s.Run(context.Background(), deploy.Command{Script: "echo ok"}); err != nil || string(out) != "ok\n" {
					t.Errorf("Run: got %q, %v; want \"ok\\n\"", out, err)
				}
				if got, want := accepted(), tt.refused+1; got != want {
					t.Errorf("the host got %d connections, want %d", got, want)
				}
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Open of a host that sends every connection away succeeded")
			}
			if !errors.Is(err, deploy.ErrUnreachable) {
				t.Errorf("got %v, want it to wrap deploy.ErrUnreachable", err)
			}
			if want := "ssh: web1 (" + front + "): " + tt.want; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got %q, want it to start %q", err.Error(), want)
			}
			if got := accepted(); got != maxDropped {
				t.Errorf("the host got %d connections, want %d", got, maxDropped)
			}
		})
	}
}

// TestMismatchDisconnectNotTriedAgain: a host that sends the connection
// away before login with an SSH disconnect saying that the key exchange
// failed (no algorithm in common, in its words) or that it does not speak
// the bot's protocol version is refused at once, with its reason: its
// configuration and the bot's do not meet, which no second try puts
// right, and it answered, so it is not unreachable. A host that sends it
// away as too busy is still tried again (TestSentAwayBeforeLoginTriedAgain).
func TestMismatchDisconnectNotTriedAgain(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	tests := []struct {
		name string
		how  frontRefusal
		want string // the error after the host's name and address
	}{
		{"key exchange failed", refuseKeyExchange,
			"the host refused the key exchange, as it does with no algorithm in common (sshd_config KexAlgorithms, HostKeyAlgorithms, Ciphers, MACs): " +
				"ssh: handshake failed: ssh: disconnect, reason 3: \"no matching cipher found\""},
		{"protocol version not supported", refuseVersion,
			"the host refused the protocol version: ssh: handshake failed: ssh: disconnect, reason 8: \"protocol 2.1 required\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			front, accepted := startFront(t, f.Hosts[0].Addr, tt.how, -1)
			tr := transport(t, f, func(c *Config) { c.KnownHostsFile = knownAs(t, f, 0, front) })
			defer tr.Close()
			pauses := 0
			tr.pause = func(context.Context, time.Duration) error {
				pauses++
				return nil
			}
			s, err := tr.Open(context.Background(), deploy.Host{Name: "web1", Address: front})
			if err == nil {
				s.Close()
				t.Fatal("Open of a host that refuses the key exchange succeeded")
			}
			if want := "ssh: web1 (" + front + "): " + tt.want; err.Error() != want {
				t.Errorf("got %q, want %q", err.Error(), want)
			}
			if errors.Is(err, deploy.ErrUnreachable) {
				t.Errorf("got %v, want it not to wrap deploy.ErrUnreachable", err)
			}
			if got := accepted(); got != 1 || pauses != 0 {
				t.Errorf("the host got %d connections, with %d pauses between them; want 1 and none", got, pauses)
			}
		})
	}
}

// TestNoKeyExchangeOffered: a host that closes the connection after its
// SSH banner, before offering any key exchange, does so because it has
// none to offer: sshd whose HostKeyAlgorithms match none of its host keys
// logs "No supported key exchange algorithms" and closes, on every try.
// It fails at once, named, saying so and what the bot offers, rather than
// being tried again and reported unreachable as a host over its limits,
// which closes before its banner (TestSentAwayBeforeLoginTriedAgain).
func TestNoKeyExchangeOffered(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true, Config: []string{"HostKeyAlgorithms ssh-rsa"}})
	good := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	tests := []struct {
		name  string
		start func(t *testing.T) (addr, knownHosts string, tries func() int)
		log   func() string // the host's sshd log, "" for none
	}{
		{"sshd with no host key of its HostKeyAlgorithms", func(t *testing.T) (string, string, func() int) {
			before := strings.Count(f.Log(0), "Connection from ")
			return f.Hosts[0].Addr, f.KnownHosts, func() int { return strings.Count(f.Log(0), "Connection from ") - before }
		}, func() string { return f.Log(0) }},
		{"a front that closes after the host's banner", func(t *testing.T) (string, string, func() int) {
			front, accepted := startFront(t, good.Hosts[0].Addr, refuseAfterBanner, -1)
			return front, knownAs(t, good, 0, front), accepted
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, knownHosts, tries := tt.start(t)
			tr := transport(t, f, func(c *Config) { c.KnownHostsFile = knownHosts })
			defer tr.Close()
			pauses := 0
			tr.pause = func(context.Context, time.Duration) error {
				pauses++
				return nil
			}
			s, err := tr.Open(context.Background(), deploy.Host{Name: "web1", Address: addr})
			if err == nil {
				s.Close()
				t.Fatal("Open of a host that offers no key exchange succeeded")
			}
			want := "ssh: web1 (" + addr + "): no common key exchange (sshd_config KexAlgorithms, or HostKeyAlgorithms matching none of its host keys): " +
				"the host closed the connection after its SSH banner without offering one, " +
				"as sshd does when its sshd_config leaves it none to offer, or, rarely, when it cannot start the login's process (its log says which); " +
				"we offer key exchange algorithms mlkem768x25519-sha256, ecdh-sha2-nistp256, curve25519-sha256, curve25519-sha256@libssh.org, " +
				"ecdh-sha2-nistp384, ecdh-sha2-nistp521, diffie-hellman-group14-sha256, diffie-hellman-group16-sha512; " +
				"host key algorithms ssh-ed25519, " + strings.Join(hostCertAlgorithms, ", ") +
				", ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, rsa-sha2-512, rsa-sha2-256: "
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("got %q, want it to start %q", err.Error(), want)
			}
			if errors.Is(err, deploy.ErrUnreachable) {
				t.Errorf("got %v, want it not to wrap deploy.ErrUnreachable", err)
			}
			if got := tries(); got != 1 || pauses != 0 {
				t.Errorf("the host got %d connections, with %d pauses between them; want 1 and none", got, pauses)
			}
			if tt.log != nil && !strings.Contains(tt.log(), "No supported key exchange algorithms") {
				t.Errorf("the host's sshd logged %q, want it to say it had no key exchange to offer", tt.log())
			}
		})
	}
}

// frontRefusal is how a front sends a connection away before login.
type frontRefusal int

const (
	// refuseDisconnect sends a banner and an SSH disconnect, "too many
	// connections".
	refuseDisconnect frontRefusal = iota
	// refuseAfterBanner passes on the host's own banner, then closes.
	refuseAfterBanner
	// refuseBeforeBanner closes at once, as sshd past MaxStartups does.
	refuseBeforeBanner
	// refuseKeyExchange sends a banner and an SSH disconnect saying the
	// key exchange failed, "no matching cipher found", as a host whose
	// sshd takes none of the ciphers offered does.
	refuseKeyExchange
	// refuseVersion sends a banner and an SSH disconnect saying the
	// protocol version is not supported.
	refuseVersion
	// refuseAlternately closes the first connection it refuses before
	// the banner, as refuseBeforeBanner, the second as
	// refuseDisconnect, and so on.
	refuseAlternately
)

// startFront starts a listener on 127.0.0.1 that sends its first refused
// connections away as how says (every one when refused is negative) and
// passes the others on to addr; it returns its address and a count of
// the connections it accepted. It is stopped when the test ends.
func startFront(t *testing.T, addr string, how frontRefusal, refused int) (string, func() int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	n := 0
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	serve := func(c net.Conn, n int, refuse bool) {
		defer c.Close()
		how := how
		if how == refuseAlternately {
			how = refuseDisconnect
			if n%2 == 1 {
				how = refuseBeforeBanner
			}
		}
		up, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, up)
		mu.Unlock()
		defer up.Close()
		switch {
		case refuse && how == refuseBeforeBanner:
			return
		case refuse && (how == refuseDisconnect || how == refuseKeyExchange || how == refuseVersion):
			packet := disconnectPacket(12, "too many connections")
			switch how {
			case refuseKeyExchange:
				packet = disconnectPacket(3, "no matching cipher found")
			case refuseVersion:
				packet = disconnectPacket(8, "protocol 2.1 required")
			}
			c.Write(append([]byte("SSH-2.0-OpenSSH_9.2\r\n"), packet...))
			// Open until the client closes, as sshd keeps it: a close
			// at once resets what the client sends meanwhile.
			io.Copy(io.Discard, c)
		case refuse:
			banner, err := bufio.NewReader(up).ReadString('\n')
			if err != nil {
				return
			}
			c.Write([]byte(banner))
		default:
			go func() {
				io.Copy(up, c)
				up.(*net.TCPConn).CloseWrite()
			}()
			io.Copy(c, up)
		}
	}
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			n := n
			refuse := refused < 0 || n <= refused
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { serve(c, n, refuse) })
		}
	})
	return l.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// knownAs writes a known_hosts file that knows host i of f by addr, and
// returns its path.
func knownAs(t *testing.T, f *sshd.Fleet, i int, addr string) string {
	t.Helper()
	pub, err := os.ReadFile(f.Hosts[i].HostKey)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	line := "[" + host + "]:" + port + " " + strings.TrimSpace(string(pub)) + "\n"
	if err := os.WriteFile(path, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
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
			s, err := goTransport(t, srv).Open(context.Background(), deploy.Host{Name: "web1", Address: startDisconnecter(t, 2, "sent away: "+forged)})
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
// line and then disconnects with code and reason, as a host that sends
// away the bot in words of its own does; stopped when the test ends.
func startDisconnecter(t *testing.T, code uint32, reason string) string {
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
	packet := disconnectPacket(code, reason)
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

// disconnectPacket is an SSH_MSG_DISCONNECT with code and reason, in a
// packet before any key exchange: no cipher nor MAC, padding to a
// multiple of 8, at least 4 bytes.
func disconnectPacket(code uint32, reason string) []byte {
	payload := ssh.Marshal(struct {
		Reason   uint32
		Message  string
		Language string
	}{Reason: code, Message: reason})
	payload = append([]byte{1}, payload...)
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	packet := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+pad))
	packet = append(packet, byte(pad))
	packet = append(packet, payload...)
	return append(packet, make([]byte, pad)...)
}

// TestDisconnectRecognised: x/crypto's error for a host's SSH disconnect,
// as its handshake returns it, is recognised for each reason the
// transport tells apart: the key exchange failed (3) and the protocol
// version refused (8) are a mismatch of configuration; any other
// sends the bot away, to try again. x/crypto exports no type for that
// error, so its text is read: text that only quotes a disconnect (the
// host's own message, a host certificate's principal, an error flattened
// into another's words) is no disconnect, nor does it change the reason.
func TestDisconnectRecognised(t *testing.T) {
	t.Parallel()
	const (
		keyExchange = "the host refused the key exchange, as it does with no algorithm in common (sshd_config KexAlgorithms, HostKeyAlgorithms, Ciphers, MACs)"
		version     = "the host refused the protocol version"
	)
	// handshake returns the error of a login to a host that disconnects
	// with code and reason.
	handshake := func(t *testing.T, code uint32, reason string) error {
		t.Helper()
		addr := startDisconnecter(t, code, reason)
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		c, _, _, err := ssh.NewClientConn(nc, addr, &ssh.ClientConfig{User: "deploy", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
		if err == nil {
			c.Close()
			t.Fatal("a host that disconnects let the bot in")
		}
		return err
	}
	forged := `ssh: disconnect, reason 3: "no matching cipher found"`
	tests := []struct {
		name       string
		err        func(t *testing.T) error
		disconnect bool
		refusal    string // mismatchRefusal's
	}{
		{"key exchange failed", func(t *testing.T) error { return handshake(t, 3, "no matching cipher found") }, true, keyExchange},
		{"protocol version not supported", func(t *testing.T) error { return handshake(t, 8, "protocol 2.1 required") }, true, version},
		{"too many connections", func(t *testing.T) error { return handshake(t, 12, "too many connections") }, true, ""},
		{"by application", func(t *testing.T) error { return handshake(t, 11, "") }, true, ""},
		{"no reason code", func(t *testing.T) error { return handshake(t, 0, "go away") }, true, ""},
		{"its message quotes another code", func(t *testing.T) error { return handshake(t, 2, forged) }, true, ""},
		{"wrapped again", func(t *testing.T) error {
			return fmt.Errorf("ssh: web1 (127.0.0.1:22): %w", handshake(t, 3, "no matching cipher found"))
		}, true, keyExchange},
		{"flattened into another error's text", func(t *testing.T) error {
			return errors.New(handshake(t, 3, "no matching cipher found").Error())
		}, false, ""},
		{"quoted by another error", func(t *testing.T) error {
			return fmt.Errorf("ssh: connect: %v", handshake(t, 12, "too many connections"))
		}, false, ""},
		{"a host certificate's principal", func(*testing.T) error {
			return fmt.Errorf("ssh: handshake failed: %w", &HostKeyError{Host: "web1", Address: "127.0.0.1:22", KeyType: "ssh-ed25519",
				Fingerprint: "SHA256:x", Certificate: fmt.Sprintf("it is for %q, not %q", forged, "127.0.0.1")})
		}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err(t)
			if got := isDisconnect(err); got != tt.disconnect {
				t.Errorf("isDisconnect(%q) = %v, want %v", err, got, tt.disconnect)
			}
			if got := mismatchRefusal(err); got != tt.refusal {
				t.Errorf("mismatchRefusal(%q) = %q, want %q", err, got, tt.refusal)
			}
		})
	}
}

// TestSentAwayUntilCallerLimit: a host that sends every connection away
// before login, whose tries the caller's time limit (status's, shorter
// than connect_timeout) ends during a pause between them, is said to
// have sent them away, not to have given no answer: it answered each
// time. The limit passes as the pause after the second try begins.
func TestSentAwayUntilCallerLimit(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	// TOOK stands for how long the tries took, which the error says as
	// a timeout does.
	const limit = ", until the time limit of its caller (context deadline exceeded) ended the tries, TOOK after the connection began: "
	tests := []struct {
		name string
		how  frontRefusal
		want string // the start of the error after the host's name and address
	}{
		{"disconnect", refuseDisconnect,
			"host unreachable: the host closed the connection before login, 2 times" + limit + "ssh: handshake failed: ssh: disconnect, reason 12: \"too many connections\""},
		{"closed before the banner", refuseBeforeBanner,
			"host unreachable: closed the connection before its SSH banner, 2 times (its sshd refusing new connections past MaxStartups?)" + limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			front, accepted := startFront(t, f.Hosts[0].Addr, tt.how, -1)
			tr := transport(t, f, func(c *Config) {
				c.KnownHostsFile = knownAs(t, f, 0, front)
				c.ConnectTimeout = time.Hour
			})
			defer tr.Close()
			ctx := newLimitCtx()
			pauses := 0
			tr.pause = func(pctx context.Context, d time.Duration) error {
				if pauses++; pauses == 2 {
					ctx.expire()
				}
				return pause.For(pctx, d)
			}
			s, err := tr.Open(ctx, deploy.Host{Name: "web1", Address: front})
			if err == nil {
				s.Close()
				t.Fatal("Open of a host that sends every connection away succeeded")
			}
			if !errors.Is(err, deploy.ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %v, want it to wrap deploy.ErrUnreachable and context.DeadlineExceeded", err)
			}
			want := "ssh: web1 (" + front + "): " + tt.want
			before, after, _ := strings.Cut(want, "TOOK")
			rest, ok := strings.CutPrefix(err.Error(), before)
			took, _, _ := strings.Cut(rest, " ")
			if d, perr := time.ParseDuration(took); !ok || perr != nil || d <= 0 || !strings.HasPrefix(rest[len(took):], after) {
				t.Errorf("got %q, want it to start %q, with TOOK how long", err.Error(), want)
			}
			if got := accepted(); got != 2 {
				t.Errorf("the host got %d connections, want 2", got)
			}
		})
	}
}

// TestSentAwayThenSilent: a host that sends the first tries away before
// login and then leaves the next one unanswered (an sshd over its limits
// that then hangs) is unreachable for want of an answer, as a host silent
// from the start is, and the error says what the earlier tries met: "no
// answer" alone would hide that the host answered them, and how.
func TestSentAwayThenSilent(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	// The tries the front lets through reach an sshd that is stopped:
	// its kernel accepts them, and nothing answers.
	f.Pause(0)
	t.Cleanup(func() { f.Resume(0) })
	tests := []struct {
		name    string
		how     frontRefusal
		refused int
		caller  bool   // the caller's time limit, not connect_timeout, ends the last try
		want    string // the error after the host's name and address; TOOK stands for how long the tries took
	}{
		{name: "disconnect", how: refuseDisconnect, refused: 2,
			want: "host unreachable: the host closed the connection before login, 2 times, then no answer within 1s"},
		{name: "disconnect once", how: refuseDisconnect, refused: 1,
			want: "host unreachable: the host closed the connection before login, once, then no answer within 1s"},
		{name: "closed before the banner", how: refuseBeforeBanner, refused: 3,
			want: "host unreachable: closed the connection before its SSH banner, 3 times (its sshd refusing new connections past MaxStartups?), then no answer within 1s"},
		{name: "both", how: refuseAlternately, refused: 3,
			want: "host unreachable: the host closed the connection before login, 3 times (2 of them before its SSH banner), then no answer within 1s"},
		{name: "the caller's limit", how: refuseDisconnect, refused: 2, caller: true,
			want: "host unreachable: the host closed the connection before login, 2 times, then no answer within the time limit of its caller, TOOK after the connection began: context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			front, accepted := startFront(t, f.Hosts[0].Addr, tt.how, tt.refused)
			tr := transport(t, f, func(c *Config) {
				c.KnownHostsFile = knownAs(t, f, 0, front)
				c.ConnectTimeout = time.Second
				if tt.caller {
					c.ConnectTimeout = time.Hour
				}
			})
			defer tr.Close()
			tr.pause = func(context.Context, time.Duration) error { return nil }
			ctx := context.Background()
			if tt.caller {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Second)
				defer cancel()
			}
			s, err := tr.Open(ctx, deploy.Host{Name: "web1", Address: front})
			if err == nil {
				s.Close()
				t.Fatal("Open of a host that never answers the last try succeeded")
			}
			if !errors.Is(err, deploy.ErrUnreachable) {
				t.Errorf("got %v, want it to wrap deploy.ErrUnreachable", err)
			}
			want := "ssh: web1 (" + front + "): " + tt.want + " (connecting as " + f.User + "@" + front + ")"
			before, after, timed := strings.Cut(want, "TOOK")
			rest, ok := strings.CutPrefix(err.Error(), before)
			switch {
			case !timed && err.Error() != want:
				t.Errorf("got %q, want %q", err.Error(), want)
			case timed:
				took, _, _ := strings.Cut(rest, " ")
				if d, perr := time.ParseDuration(took); !ok || perr != nil || d <= 0 || rest[len(took):] != after {
					t.Errorf("got %q, want %q, with TOOK how long", err.Error(), want)
				}
			}
			if got, want := accepted(), tt.refused+1; got != want {
				t.Errorf("the host got %d connections, want %d", got, want)
			}
		})
	}
	// A host that sends the tries away and then refuses the next
	// connection (its sshd stopped meanwhile) says both too.
	t.Run("then refused", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		var wg sync.WaitGroup
		t.Cleanup(func() {
			l.Close()
			wg.Wait()
		})
		wg.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Write(append([]byte("SSH-2.0-OpenSSH_9.2\r\n"), disconnectPacket(12, "too many connections")...))
				io.Copy(io.Discard, c)
				c.Close()
			}
		})
		tr := transport(t, f, func(c *Config) { c.KnownHostsFile = knownAs(t, f, 0, addr) })
		defer tr.Close()
		// Two tries sent away, then the port is closed: the third is
		// refused.
		pauses := 0
		tr.pause = func(context.Context, time.Duration) error {
			if pauses++; pauses == 2 {
				l.Close()
			}
			return nil
		}
		s, err := tr.Open(context.Background(), deploy.Host{Name: "web1", Address: addr})
		if err == nil {
			s.Close()
			t.Fatal("Open of a host that refuses the last try succeeded")
		}
		want := "ssh: web1 (" + addr + "): host unreachable: the host closed the connection before login, 2 times, then dial tcp " + addr + ": connect: connection refused (connecting as " + f.User + "@" + addr + ")"
		if !errors.Is(err, deploy.ErrUnreachable) || err.Error() != want {
			t.Errorf("got %q, want %q, wrapping deploy.ErrUnreachable", err, want)
		}
	})
}

// TestSentAwayTriesLogged: every try of a connection that the host sends
// away before login is logged at debug level, the last one too, which
// says that the tries ended, whether at the fifth or because the caller's
// time limit passed during a pause between them.
func TestSentAwayTriesLogged(t *testing.T) {
	t.Parallel()
	f := sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true})
	tests := []struct {
		name    string
		limitAt int // the pause during which the caller's limit passes; 0 for none
		tries   int
	}{
		{name: "five tries", tries: maxDropped},
		{name: "the caller's limit", limitAt: 2, tries: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			front, _ := startFront(t, f.Hosts[0].Addr, refuseDisconnect, -1)
			logs := &recordLog{store: &recordStore{}}
			tr := transport(t, f, func(c *Config) {
				c.KnownHostsFile = knownAs(t, f, 0, front)
				c.ConnectTimeout = time.Hour
				c.Log = slog.New(logs)
			})
			defer tr.Close()
			ctx := newLimitCtx()
			pauses := 0
			tr.pause = func(pctx context.Context, d time.Duration) error {
				if pauses++; pauses == tt.limitAt {
					ctx.expire()
					return pause.For(pctx, d)
				}
				return nil
			}
			if _, err := tr.Open(ctx, deploy.Host{Name: "web1", Address: front}); err == nil {
				t.Fatal("Open of a host that sends every connection away succeeded")
			}
			var got []string
			for _, r := range logs.store.all() {
				if !strings.HasPrefix(r.Message, "ssh: connection closed before login") {
					continue
				}
				attrs := map[string]string{}
				r.Attrs(func(a slog.Attr) bool {
					attrs[a.Key] = a.Value.String()
					return true
				})
				if r.Level != slog.LevelDebug || attrs["host"] != "web1" || attrs["addr"] != front || !strings.Contains(attrs["err"], "too many connections") {
					t.Errorf("record %s %q %v: want level DEBUG, host web1, addr %s and the host's reason", r.Level, r.Message, attrs, front)
				}
				got = append(got, r.Message+" attempt="+attrs["attempt"])
			}
			var want []string
			for i := 1; i < tt.tries; i++ {
				want = append(want, "ssh: connection closed before login; trying again attempt="+strconv.Itoa(i))
			}
			want = append(want, "ssh: connection closed before login; giving up attempt="+strconv.Itoa(tt.tries))
			if !slices.Equal(got, want) {
				t.Errorf("logged %q, want %q", got, want)
			}
		})
	}
}

// recordLog is a slog.Handler that keeps every record in its store, with
// the attributes given to With; safe for concurrent use.
type recordLog struct {
	store *recordStore
	attrs []slog.Attr
}

type recordStore struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (s *recordStore) all() []slog.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recs)
}

func (h *recordLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *recordLog) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	h.store.recs = append(h.store.recs, r)
	return nil
}

func (h *recordLog) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordLog{store: h.store, attrs: append(slices.Clone(h.attrs), as...)}
}

// WithGroup keeps no groups: the transport names none.
func (h *recordLog) WithGroup(string) slog.Handler { return h }

// limitCtx is a context whose time limit passes when the test says.
type limitCtx struct {
	context.Context // for values
	deadline        time.Time
	done            chan struct{}
	once            sync.Once
}

func newLimitCtx() *limitCtx {
	return &limitCtx{Context: context.Background(), deadline: time.Now().Add(time.Hour), done: make(chan struct{})}
}

func (c *limitCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *limitCtx) Done() <-chan struct{}       { return c.done }
func (c *limitCtx) expire()                     { c.once.Do(func() { close(c.done) }) }

func (c *limitCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
