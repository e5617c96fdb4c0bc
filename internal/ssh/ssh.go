// Package ssh runs deploy scripts on remote hosts over SSH: the
// deploy.Transport for a fleet, on golang.org/x/crypto/ssh.
//
// Host keys are always verified against a known_hosts file unless a test
// fleet explicitly opts out. One connection per host carries every step of
// a deploy, and may stay open for the next (Config.KeepWarm); keepalives
// declare a host that stops answering dead, so a deploy never hangs on it.
package ssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/pause"
	"github.com/switchman-bot/switchman/internal/suggest"
)

const (
	defaultConnectTimeout = 10 * time.Second
	defaultKeepAlive      = 5 * time.Second
	defaultPort           = 22
	// minWarmAge is the least age up to which a warm connection may be
	// reused (see Transport.maxAge).
	minWarmAge = 10 * time.Minute
)

// keyExchanges puts ECDH on P-256 before X25519, after the post-quantum
// hybrid that newer OpenSSH (9.9 and later) offers. The two classical
// curves are equally strong, but OpenSSH (9.2 here) computes X25519 with
// its own portable code and P-256 with OpenSSL's: in a 50-host push
// deploy on two cores, 6 % of the busy CPU was that X25519 code, and
// with P-256 the hosts used 7 % less CPU. SHA-1 Diffie-Hellman, which
// x/crypto still offers by default, is left out: every OpenSSH since 5.7
// (2011) has ECDH.
var keyExchanges = []string{
	ssh.KeyExchangeMLKEM768X25519,
	ssh.KeyExchangeECDHP256,
	ssh.KeyExchangeCurve25519,
	ssh.KeyExchangeECDHP384,
	ssh.KeyExchangeECDHP521,
	ssh.KeyExchangeDH14SHA256,
	ssh.KeyExchangeDH16SHA512,
}

// ciphers puts AES-GCM first: with AES-NI it is the fastest on both ends,
// and artifacts are streamed through it.
var ciphers = []string{
	ssh.CipherAES128GCM,
	ssh.CipherChaCha20Poly1305,
	ssh.CipherAES256GCM,
	ssh.CipherAES128CTR,
	ssh.CipherAES192CTR,
	ssh.CipherAES256CTR,
}

// macs are the MACs offered, for the ciphers that need one (CTR: AES-GCM
// and ChaCha20-Poly1305 authenticate on their own). Encrypt-then-MAC
// comes first, as OpenSSH orders it. SHA-1 (hmac-sha1, hmac-sha1-96),
// which x/crypto still offers by default, is left out as it is from key
// exchange: every OpenSSH since 5.9 (2011) has SHA-2 MACs.
var macs = []string{
	ssh.HMACSHA256ETM,
	ssh.HMACSHA512ETM,
	ssh.HMACSHA256,
	ssh.HMACSHA512,
}

// Config says how to reach and log in to hosts. Its zero values are
// defaults, except that User and a credential (KeyFile or UseAgent) are
// required, and so is KnownHostsFile unless InsecureIgnoreHostKey is set.
type Config struct {
	// User is the remote user.
	User string
	// KeyFile is a private key file (OpenSSH, PKCS#1/8 or SEC1 PEM).
	KeyFile string
	// Passphrase decrypts KeyFile. It is never logged.
	Passphrase string
	// UseAgent adds the keys of the ssh-agent at AgentSocket. Agent
	// forwarding is never requested.
	UseAgent bool
	// AgentSocket is the agent's unix socket; default $SSH_AUTH_SOCK.
	AgentSocket string
	// KnownHostsFile is the OpenSSH known_hosts file host keys are checked
	// against. It is read on every Open, so an edit applies to the next
	// deploy.
	KnownHostsFile string
	// InsecureIgnoreHostKey accepts any host key. Only for throwaway test
	// fleets: every Open logs a warning.
	InsecureIgnoreHostKey bool
	// Jump is an optional bastion every connection goes through, with
	// the same credentials and known_hosts.
	Jump *JumpHost
	// ConnectTimeout bounds the dial and handshake of each hop, the
	// ssh-agent's answers included; default 10s.
	ConnectTimeout time.Duration
	// KeepAlive is the interval of keepalive requests on open connections;
	// default 5s. A host that misses 3 in a row is declared dead: its
	// connection is closed and running steps fail with an error wrapping
	// deploy.ErrUnreachable.
	KeepAlive time.Duration
	// KeepWarm is how long a connection stays open once its session has
	// closed, for the next Open of the same host to reuse: a rollback or
	// a /status soon after a deploy then needs no new login. A warm
	// connection goes on sending keepalives; before it is reused it must
	// answer one and its host key must still be the one in known_hosts.
	// A connection that logged in more than KeepWarm or 10 minutes ago,
	// whichever is longer, is neither kept nor reused, so that a key
	// revoked on a host takes effect. Zero closes every connection with
	// its session.
	KeepWarm time.Duration
	// Port is dialled when a host address has none; default 22.
	Port int
	// Log receives connection events; default none.
	Log *slog.Logger
}

// JumpHost is a bastion that connections go through.
type JumpHost struct {
	// Address is host or host:port (port 22 when omitted).
	Address string
	// User defaults to Config.User.
	User string
	// Startups bounds the logins to the bastion in progress at once; it
	// is shared by every Transport through the same bastion. Default: one
	// of DefaultJumpStartups for this Transport alone.
	Startups *Startups
}

// HostKeyError is a host refused because its key is not the one in
// known_hosts, or known_hosts revokes it.
type HostKeyError struct {
	// Host is the host's name; Address what was dialled.
	Host    string
	Address string
	// KeyType and Fingerprint (SHA256:…) describe the key the host
	// offered.
	KeyType     string
	Fingerprint string
	// Changed is true when known_hosts holds another key for the host
	// (possibly a man-in-the-middle), false when it holds none. An
	// @cert-authority line is no key of the host's.
	Changed bool
	// Certificate is why the host's certificate was refused (expired,
	// not for this host, no trusted CA signed it) when it offered one;
	// KeyType and Fingerprint are then its plain key's.
	Certificate string
	// Revoked is true when an @revoked line names the host's key
	// (KeyType, Fingerprint) or, when Authority is set, the certificate
	// authority that signed its certificate: the host is refused
	// whatever other line lists it, as OpenSSH refuses it.
	Revoked bool
	// Authority is the SHA256 fingerprint of that revoked authority.
	Authority string
}

func (e *HostKeyError) Error() string {
	switch {
	case e.Revoked && e.Authority != "":
		return fmt.Sprintf("ssh: %s (%s): host certificate refused: its certificate authority %s is marked @revoked in known_hosts; refusing to connect",
			e.Host, e.Address, e.Authority)
	case e.Revoked:
		return fmt.Sprintf("ssh: %s (%s): host key %s %s is marked @revoked in known_hosts; refusing to connect",
			e.Host, e.Address, e.KeyType, e.Fingerprint)
	case e.Changed && e.Certificate != "":
		return fmt.Sprintf("ssh: %s (%s): host key changed (possible man-in-the-middle): its certificate was refused (%s) and it offered %s %s, which is not the key in known_hosts; refusing to connect",
			e.Host, e.Address, e.Certificate, e.KeyType, e.Fingerprint)
	case e.Changed:
		return fmt.Sprintf("ssh: %s (%s): host key changed (possible man-in-the-middle): it offered %s %s, which is not the key in known_hosts; refusing to connect",
			e.Host, e.Address, e.KeyType, e.Fingerprint)
	case e.Certificate != "":
		return fmt.Sprintf("ssh: %s (%s): host certificate refused (%s), and its key %s %s is not in known_hosts: renew the certificate, or check the key out of band and add it to known_hosts",
			e.Host, e.Address, e.Certificate, e.KeyType, e.Fingerprint)
	}
	return fmt.Sprintf("ssh: %s (%s): unknown host key %s %s: check it out of band and add it to known_hosts",
		e.Host, e.Address, e.KeyType, e.Fingerprint)
}

// Transport opens SSH sessions to hosts. It is safe for concurrent use.
type Transport struct {
	cfg     Config
	log     *slog.Logger
	signers []ssh.Signer
	warm    warmPool
	// maxAge is how long after its login a connection may be kept warm
	// or reused. Each park re-arms KeepWarm, so without it a host used
	// at least once every KeepWarm (status polls, the post-deploy
	// watcher, deploys) would never see the bot log in again, and a key
	// removed from its authorized_keys would never take effect. A session
	// open at maxAge keeps its connection until it closes: a deploy is
	// not cut short.
	//
	// It is KeepWarm or minWarmAge, whichever is longer. A long KeepWarm
	// already lets an idle connection outlive a revocation that long, so
	// a shorter maxAge would only cost logins. A short KeepWarm bounds
	// idle gaps, not a connection's life: as maxAge, it would keep a
	// deploy that lasted longer from handing its connections to the
	// rollback or status after it. 10 minutes, the default KeepWarm,
	// covers a deploy and the minutes after it, and is no longer than a
	// revocation waits already with the defaults.
	maxAge time.Duration
	// pause waits between the tries of a connection the host sent
	// away: pause.For, or a test's, which sees when a pause begins.
	pause func(context.Context, time.Duration) error
}

var _ deploy.Transport = (*Transport)(nil)

// errBastionSilent is a login to the bastion not tried: another one got no
// answer while it waited its turn (see Startups).
var errBastionSilent = errors.New("ssh: the bastion left another login unanswered")

// errKnownHostsRequired is returned by New when host keys could not be
// verified.
var errKnownHostsRequired = errors.New("ssh: known_hosts file required (refusing to connect without verifying host keys)")

// New checks cfg, reads the key file and the known_hosts file, and returns
// a Transport.
func New(cfg Config) (*Transport, error) {
	if cfg.User == "" {
		return nil, errors.New("ssh: user required")
	}
	switch {
	case cfg.KnownHostsFile == "" && !cfg.InsecureIgnoreHostKey:
		return nil, errKnownHostsRequired
	case cfg.KnownHostsFile != "" && cfg.InsecureIgnoreHostKey:
		return nil, errors.New("ssh: set either KnownHostsFile or InsecureIgnoreHostKey, not both")
	case cfg.KnownHostsFile != "":
		if _, err := knownhosts.New(cfg.KnownHostsFile); err != nil {
			return nil, fmt.Errorf("ssh: known_hosts: %w", unmarkedError{err})
		}
	}
	if cfg.KeyFile == "" && !cfg.UseAgent {
		return nil, errors.New("ssh: no credentials: set KeyFile or UseAgent")
	}
	if cfg.UseAgent && cfg.AgentSocket == "" {
		cfg.AgentSocket = os.Getenv("SSH_AUTH_SOCK")
		if cfg.AgentSocket == "" {
			return nil, errors.New("ssh: UseAgent is set but SSH_AUTH_SOCK is empty")
		}
	}
	if cfg.Jump != nil {
		if cfg.Jump.Address == "" {
			return nil, errors.New("ssh: jump host has no address")
		}
		if !addressText(cfg.Jump.Address) {
			return nil, fmt.Errorf("ssh: jump host address %q is not a host name or IP address", cfg.Jump.Address)
		}
		j := *cfg.Jump
		if j.Startups == nil {
			j.Startups = NewStartups(DefaultJumpStartups)
		}
		cfg.Jump = &j
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = defaultKeepAlive
	}
	if cfg.Port <= 0 {
		cfg.Port = defaultPort
	}
	t := &Transport{cfg: cfg, log: cfg.Log, warm: warmPool{idle: map[string]*parked{}},
		maxAge: max(cfg.KeepWarm, minWarmAge), pause: pause.For}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if cfg.KeyFile != "" {
		signer, err := readKey(cfg.KeyFile, cfg.Passphrase)
		if err != nil {
			return nil, err
		}
		t.signers = []ssh.Signer{signer}
	}
	return t, nil
}

// readKey parses a private key file. Errors never include the passphrase.
func readKey(path, passphrase string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ssh: read key: %w", err)
	}
	var signer ssh.Signer
	if passphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	} else {
		signer, err = ssh.ParsePrivateKey(pem)
	}
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("ssh: key %s is encrypted and no passphrase was given", path)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh: parse key %s: %w", path, err)
	}
	return signer, nil
}

// Open connects and logs in to host, through the jump host if one is
// configured, and returns a session whose one connection serves every Run.
//
// A host that cannot be reached in time, or that goes on closing the
// connection before login, returns an error wrapping
// deploy.ErrUnreachable; a host key that does not match known_hosts, or
// that it revokes, a *HostKeyError; a rejected login an error saying so; a done ctx an error
// wrapping ctx.Err().
func (t *Transport) Open(ctx context.Context, host deploy.Host) (deploy.Session, error) {
	// The name is only ever shown, in errors that reach replies: it
	// loses the marks of the bot's suggested commands (see suggest).
	name := suggest.Strip(host.Name)
	switch {
	case host.Address == "" && name == "":
		return nil, errors.New("ssh: a host with neither name nor address: nothing to dial")
	case host.Address == "":
		return nil, fmt.Errorf("ssh: host %s has no address", name)
	}
	if !addressText(host.Address) {
		return nil, fmt.Errorf("ssh: host %s: address %q is not a host name or IP address", name, host.Address)
	}
	addr := withPort(host.Address, t.cfg.Port)
	if name == "" {
		name = addr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("ssh: connect %s: %w", name, err)
	}
	// The run's logger, when ctx carries one: its lines name the deploy.
	log := deploy.LogFrom(ctx, t.log)
	if t.cfg.InsecureIgnoreHostKey {
		log.Warn("ssh: host key verification disabled: any machine on the path can impersonate this host",
			"host", name, "addr", addr)
	}
	if c := t.reuse(ctx, name, addr); c != nil {
		c.setLog(log)
		log.Debug("ssh: reusing a warm connection", "host", name, "addr", addr)
		return &session{conn: c}, nil
	}
	start := time.Now()

	var keys []seenKey
	var jump *ssh.Client
	var jaddr string
	if j := t.cfg.Jump; j != nil {
		jaddr = withPort(j.Address, defaultPort)
		user := j.User
		if user == "" {
			user = t.cfg.User
		}
		dial := func(ctx context.Context) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", jaddr)
		}
		waited := time.Now()
		leave, err := j.Startups.enter(ctx)
		switch {
		case errors.Is(err, errBastionSilent):
			return nil, fmt.Errorf("ssh: bastion for %s (%s): %w: it left another login unanswered for %s while this one waited its turn",
				name, jaddr, deploy.ErrUnreachable, t.cfg.ConnectTimeout)
		case err != nil:
			// How long it waited tells a short time limit of its
			// caller's (status's) from a bastion that long held up.
			return nil, fmt.Errorf("ssh: connect %s (%s): waited %s for a turn to log in through the bastion (%d at a time: jump.max_startups): %w",
				name, addr, time.Since(waited).Round(time.Millisecond), j.Startups.size(), err)
		}
		jstart := time.Now()
		var key seenKey
		jump, _, key, err = t.connect(ctx, "bastion for "+name, jaddr, user, dial)
		// Only a login that waited its whole timeout tells of a bastion
		// that is down: a refused or reset one fails at once anyway.
		leave(errors.Is(err, deploy.ErrUnreachable) && ctx.Err() == nil && time.Since(jstart) >= t.cfg.ConnectTimeout)
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
	}
	dial := func(ctx context.Context) (net.Conn, error) {
		if jump != nil {
			// The bastion's refusal ("connect failed") would read as
			// the bot's own: it says who could not reach the host.
			c, err := jump.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, fmt.Errorf("the bastion (%s) could not connect to it: %w", jaddr, err)
			}
			return c, nil
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	client, rtt, key, err := t.connect(ctx, name, addr, t.cfg.User, dial)
	if err != nil {
		if jump != nil {
			jump.Close()
		}
		return nil, err
	}
	c := newConn(t, name, addr, client, jump, log)
	c.rtt = rtt
	c.keys = append(keys, key)
	log.Debug("ssh: connected", "host", name, "addr", addr, "jump", jump != nil,
		"duration", time.Since(start).Round(time.Millisecond), "rtt", rtt)
	return &session{conn: c}, nil
}

// connect dials addr with dial and logs in as user, all within
// ConnectTimeout. It also returns the shortest round trip the kernel saw
// on the connection (0 when it is not a TCP connection of this machine)
// and the host key it verified.
func (t *Transport) connect(ctx context.Context, name, addr, user string, dial func(context.Context) (net.Conn, error)) (*ssh.Client, time.Duration, seenKey, error) {
	began := time.Now()
	check, algos, err := t.hostKeyCallback(name, addr)
	if err != nil {
		return nil, 0, seenKey{}, err
	}
	var seen seenKey
	// keyed is set once a try's key exchange is done, its host key
	// verified: what follows is the login.
	var keyed atomic.Bool
	hostKey := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		if err == nil {
			seen = seenKey{name: name, addr: addr, hostname: hostname, remote: remote, key: key}
			keyed.Store(true)
		}
		return err
	}
	// The agent is asked for its keys and then for signatures during the
	// handshake, all within the one ConnectTimeout.
	dctx, cancel := context.WithTimeout(ctx, t.cfg.ConnectTimeout)
	defer cancel()
	signers := t.signers
	var ag *agentConn
	if t.cfg.UseAgent {
		if ag, err = dialAgent(dctx, t.cfg.AgentSocket); err != nil {
			return nil, 0, seenKey{}, t.agentErr(ctx, nil, name, addr, "connect to ssh-agent", err)
		}
		defer ag.Close() // its signers are only used during the handshake
		more, err := agent.NewClient(ag).Signers()
		if err != nil {
			return nil, 0, seenKey{}, t.agentErr(ctx, ag, name, addr, "list ssh-agent keys", err)
		}
		signers = append(signers[:len(signers):len(signers)], more...)
	}
	// offered is set once a try has offered the host a key: a host that
	// ends the connection before that did not refuse the login.
	var offered atomic.Bool
	cc := &ssh.ClientConfig{
		User: user,
		Auth: []ssh.AuthMethod{ssh.PublicKeysCallback(func() ([]ssh.Signer, error) {
			offered.Store(true)
			return signers, nil
		})},
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
		Config:            ssh.Config{KeyExchanges: keyExchanges, Ciphers: ciphers, MACs: macs},
	}

	// login, user@host:port, is what the errors of a host that did not
	// let the bot in name: whoever reads "permission denied" on the
	// host, or its sshd's log, needs the user it tried, and a bastion's
	// may be another than the host's. Never a key or its path. A login
	// refused says it up front; an unreachable host says it last, as
	// "(connecting as …)", after why: a status line cuts a host's error
	// short, and what stopped the connection matters more there.
	login := user + "@" + addr
	as := "connecting as " + login

	// awayBefore and awayAfter count the earlier tries the host sent
	// away before its banner and after it. A host that did so and then
	// left the last try unanswered, or refused it, answered those: the
	// error says how, or it would read as a host silent from the start.
	var awayBefore, awayAfter int
	earlier := func() string {
		n := awayBefore + awayAfter
		times := "once"
		if n > 1 {
			times = strconv.Itoa(n) + " times"
		}
		switch {
		case n == 0:
			return ""
		case awayAfter == 0:
			return "closed the connection before its SSH banner, " + times + " (its sshd refusing new connections past MaxStartups?), then "
		case awayBefore == 0:
			return "the host closed the connection before login, " + times + ", then "
		}
		return fmt.Sprintf("the host closed the connection before login, %s (%d of them before its SSH banner), then ", times, awayBefore)
	}
	unreachable := func(err error) error {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The caller's time limit, shorter than ConnectTimeout
			// (status's), passed before the host let the bot in: it
			// gave no answer in time, as at ConnectTimeout. Taken for
			// a refusal, status said a hung host "could not be read".
			// How long it had is said, as ConnectTimeout is: the
			// caller's limit may have been mostly spent before.
			return fmt.Errorf("ssh: %s (%s): %w: %sno answer within the time limit of its caller, %s after the connection began: %w (%s)",
				name, addr, deploy.ErrUnreachable, earlier(), time.Since(began).Round(time.Millisecond), ctx.Err(), as)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("ssh: connect %s (%s): %w", name, addr, ctx.Err())
		}
		if dctx.Err() != nil {
			return fmt.Errorf("ssh: %s (%s): %w: %sno answer within %s (%s)", name, addr, deploy.ErrUnreachable, earlier(), t.cfg.ConnectTimeout, as)
		}
		if e := earlier(); e != "" {
			return fmt.Errorf("ssh: %s (%s): %w: %s%w (%s)", name, addr, deploy.ErrUnreachable, e, err, as)
		}
		return fmt.Errorf("ssh: %s (%s): %w: %w (%s)", name, addr, deploy.ErrUnreachable, err, as)
	}
	for attempt := 1; ; attempt++ {
		conn, err := dial(dctx)
		if err != nil {
			return nil, 0, seenKey{}, unreachable(err)
		}
		bc := &bannerConn{Conn: conn}
		offered.Store(false)
		keyed.Store(false)
		// The handshake has no context of its own: closing the connection
		// ends it when the deadline passes or ctx is canceled.
		stop := context.AfterFunc(dctx, func() { conn.Close() })
		c, chans, reqs, err := ssh.NewClientConn(bc, addr, cc)
		cut := !stop()
		if cut && err == nil {
			c.Close()
			err = dctx.Err()
		}
		if err == nil {
			return ssh.NewClient(c, chans, reqs), minRTT(conn), seen, nil
		}
		conn.Close()
		// A host with which no algorithm of a kind is common answered,
		// and was shown no key: its sshd_config and this end's offers
		// do not meet, which no second try puts right.
		var ne *ssh.AlgorithmNegotiationError
		if errors.As(err, &ne) {
			return nil, 0, seenKey{}, &mismatchError{name: name, addr: addr, err: ne}
		}
		// So did one that sends it away saying the key exchange failed
		// or that it does not speak this protocol version, rather than
		// that it is too busy.
		if refusal := mismatchRefusal(err); refusal != "" && !offered.Load() && !cut {
			return nil, 0, seenKey{}, fmt.Errorf("ssh: %s (%s): %s: %w", name, addr, refusal, err)
		}
		// A host that closed the connection once it sent its version
		// line, with no key exchange offer after it, had none to make:
		// sshd closes so ("No supported key exchange algorithms") when
		// its KexAlgorithms, or a HostKeyAlgorithms that matches none of
		// its host keys, leave it none, and does on every try. An sshd
		// over its limits closes before its version line; one that
		// cannot fork its unprivileged child closes after it, which the
		// wire does not tell apart, so the message names both and its
		// log tells which.
		if isNetErr(err) && bc.bannerOnly() && !cut {
			offer := cc.Config
			offer.SetDefaults()
			// What did not match and the keywords come first: status
			// shows a host's error cut to 160 characters.
			return nil, 0, seenKey{}, fmt.Errorf("ssh: %s (%s): no common key exchange (sshd_config KexAlgorithms, or HostKeyAlgorithms matching none of its host keys): "+
				"the host closed the connection after its SSH banner without offering one, "+
				"as sshd does when its sshd_config leaves it none to offer, or, rarely, when it cannot start the login's process (its log says which); "+
				"we offer key exchange algorithms %s; host key algorithms %s: %w",
				name, addr, algorithmList(offer.KeyExchanges), algorithmList(algos), err)
		}
		// A connection this end closed at its deadline (or as ctx ended)
		// was not dropped by the host: a host that accepts it and never
		// answers (hung, its sshd stopped) has no answer within the
		// timeout, and its sshd's MaxStartups has nothing to do with it.
		dropped := isNetErr(err) && !bc.banner() && !cut
		// A host that ends the connection before the bot offered it a
		// key (before its banner, with an SSH disconnect, or as the key
		// exchange begins: an sshd over its limits) ran nothing and was
		// shown no credential, so it is as safe to try again as one
		// that was never reached. One that ends it once the key
		// exchange is done refused the login, key offered or not (an
		// sshd whose MaxAuthTries lets no try, a host refusing the
		// user): a second try is refused as the first was.
		sentAway := (isNetErr(err) || isDisconnect(err)) && !offered.Load() && !keyed.Load() && !cut
		if sentAway && attempt < maxDropped && dctx.Err() == nil && t.pause(dctx, dropPause(attempt)) == nil {
			deploy.LogFrom(ctx, t.log).Debug("ssh: connection closed before login; trying again", "host", name, "addr", addr,
				"banner", bc.banner(), "attempt", attempt, "err", err)
			if dropped {
				awayBefore++
			} else {
				awayAfter++
			}
			continue
		}
		if sentAway {
			// The last try, its fifth or the one a time limit cut
			// short, is logged as the others are: the debug log
			// otherwise shows tries that end without a word.
			deploy.LogFrom(ctx, t.log).Debug("ssh: connection closed before login; giving up", "host", name, "addr", addr,
				"banner", bc.banner(), "attempt", attempt, "err", err)
		}
		times := "once"
		if attempt > 1 {
			times = strconv.Itoa(attempt) + " times"
		}
		// The caller's time limit (status's), shorter than
		// ConnectTimeout, may end the tries of a host that sent each
		// connection away: the host answered every time, and "no
		// answer within the time limit" would send whoever reads it
		// looking for a hung host rather than for one over its limits.
		var limit error
		if sentAway && attempt < maxDropped && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			limit = ctx.Err()
		}
		// sentAwayErr says the host did what, times, and why (a guess,
		// or "").
		sentAwayErr := func(what, why string) error {
			if limit != nil {
				return fmt.Errorf("ssh: %s (%s): %w: %s, %s%s, until the time limit of its caller (%w) ended the tries, %s after the connection began: %w (%s)",
					name, addr, deploy.ErrUnreachable, what, times, why, limit, time.Since(began).Round(time.Millisecond), err, as)
			}
			return fmt.Errorf("ssh: %s (%s): %w: %s, %s%s: %w (%s)", name, addr, deploy.ErrUnreachable, what, times, why, err, as)
		}
		var hk *HostKeyError
		switch {
		case errors.As(err, &hk):
			return nil, 0, seenKey{}, hk
		case ag.silent():
			return nil, 0, seenKey{}, t.agentErr(ctx, ag, name, addr, "sign with an ssh-agent key", err)
		case dropped && (ctx.Err() == nil || limit != nil):
			return nil, 0, seenKey{}, sentAwayErr("closed the connection before its SSH banner", " (its sshd refusing new connections past MaxStartups?)")
		case sentAway && (ctx.Err() == nil || limit != nil):
			// Sent away before the login began (an sshd over its
			// limits, the host's own policy): the user's credentials
			// were never tried, and a reply saying "log in" would send
			// whoever reads it to check them. It is unreachable, as a
			// host that dropped it before its banner is: a deploy
			// leaves it out as unreachable, not refused.
			return nil, 0, seenKey{}, sentAwayErr("the host closed the connection before login", "")
		case keyed.Load() && isNetErr(err) && !cut && ctx.Err() == nil && dctx.Err() == nil:
			// Dropped with no SSH disconnect once the key exchange was
			// done: the host answered and let the login begin, and
			// ended it (its sshd's login process killed, or gone out
			// of memory), as one that sends a disconnect then refuses
			// it. "Unreachable: EOF" would send whoever reads it to
			// the network, and a second try to a host shown the key
			// already meets what the first did.
			return nil, 0, seenKey{}, fmt.Errorf("ssh: %s (%s): log in as %s: the host closed the connection during login: %w", name, addr, login, err)
		case ctx.Err() != nil || dctx.Err() != nil || isNetErr(err):
			return nil, 0, seenKey{}, unreachable(err)
		default:
			// The host answered and refused: a login or algorithm
			// problem, not one that a retry on another network fixes.
			return nil, 0, seenKey{}, fmt.Errorf("ssh: %s (%s): log in as %s: %w", name, addr, login, err)
		}
	}
}

// mismatchError is a host with which no algorithm of a kind (key
// exchange, host key, cipher, MAC) is common. It says what did not match,
// both sides' offers and the sshd_config keyword that sets the host's, so
// that whoever reads it can put either end right; x/crypto's own words
// ("no common algorithm for client to server cipher") list the markers of
// protocol extensions among the algorithms, and name no keyword. What did
// not match and the keyword come first, before the offers, which may run
// long: status shows a host's error cut to 160 characters.
type mismatchError struct {
	name, addr string
	err        *ssh.AlgorithmNegotiationError
}

func (e *mismatchError) Error() string {
	what, keyword := algorithmKind(e.err.What)
	if keyword != "" {
		what += " (sshd_config " + keyword + ")"
	}
	return fmt.Sprintf("ssh: %s (%s): no common %s: the host offers %s; we offer %s",
		e.name, e.addr, what, algorithmList(e.err.RequestedAlgorithms), algorithmList(e.err.SupportedAlgorithms))
}

func (e *mismatchError) Unwrap() error { return e.err }

// algorithmKind words x/crypto's name for a kind of algorithm, which says
// the direction of a cipher, MAC or compression ("client to server
// cipher"), and returns the sshd_config keyword that sets it, if any.
func algorithmKind(what string) (kind, keyword string) {
	switch {
	case what == "key exchange":
		return "key exchange algorithm", "KexAlgorithms"
	case what == "host key":
		return "host key algorithm", "HostKeyAlgorithms"
	case strings.HasSuffix(what, " cipher"):
		return "cipher", "Ciphers"
	case strings.HasSuffix(what, " MAC"):
		return "MAC", "MACs"
	case strings.HasSuffix(what, " compression"):
		return "compression", "Compression"
	}
	return what, ""
}

// algorithmList lists algorithms as a key exchange offers them, less the
// markers of protocol extensions (ext-info-c,
// kex-strict-s-v00@openssh.com), which are no algorithm either side could
// choose. The host's list is its own text: it loses the marks of the
// bot's suggested commands (see suggest).
func algorithmList(algos []string) string {
	var out []string
	for _, a := range algos {
		if !strings.HasPrefix(a, "ext-info-") && !strings.HasPrefix(a, "kex-strict-") {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return suggest.Strip(strings.Join(out, ", "))
}

// maxDropped bounds the tries of a connection that the host closes before
// login, within the connect timeout.
const maxDropped = 5

// dropPause is the pause before the next try of a connection the host
// closed before its banner for the attempt-th time: 100 ms doubling, give
// or take half, so that connections dropped together do not come back
// together.
func dropPause(attempt int) time.Duration {
	d := 100 * time.Millisecond << (attempt - 1)
	return d/2 + rand.N(d)
}

// bannerConn notes whether the host has sent its SSH version line, and
// anything after it. sshd closes a connection before that line, with at
// most a line of its own ("Exceeded MaxStartups"), when it has too many
// that have not logged in yet: MaxStartups drops new ones at random past
// 10 by default. Such a connection did nothing and is tried again. Right
// after the line sshd sends its key exchange offer, unless it has none to
// make: then it closes the connection, on every try.
type bannerConn struct {
	net.Conn
	seen atomic.Bool // the version line began (or more came than any line before it may hold)
	done atomic.Bool // the version line ended
	more atomic.Bool // something came after it
	head []byte      // what came before the version line and with it, at most maxHead
}

const maxHead = 1 << 10

// Read is called by one goroutine at a time: x/crypto reads the version
// line, then its packets, in turn.
func (c *bannerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.more.Load() {
		c.note(p[:n])
	}
	return n, err
}

// note takes b, read from the host, into account.
func (c *bannerConn) note(b []byte) {
	if c.done.Load() {
		c.more.Store(true)
		return
	}
	c.head = append(c.head, b[:min(len(b), maxHead-len(c.head))]...)
	start := -1
	switch {
	case bytes.HasPrefix(c.head, []byte("SSH-")):
		start = 0
	case bytes.Contains(c.head, []byte("\nSSH-")):
		start = bytes.Index(c.head, []byte("\nSSH-")) + 1
	}
	if start >= 0 || len(c.head) >= maxHead {
		c.seen.Store(true)
	}
	if start >= 0 {
		if end := bytes.IndexByte(c.head[start:], '\n'); end >= 0 {
			c.done.Store(true)
			c.more.Store(start+end+1 < len(c.head))
			c.head = nil
			return
		}
	}
	if len(c.head) >= maxHead {
		// A line too long to be sshd's: whatever it is, it is more
		// than a version line alone.
		c.done.Store(true)
		c.more.Store(true)
		c.head = nil
	}
}

// banner reports whether the host sent its version line (or more than
// any line before it may hold).
func (c *bannerConn) banner() bool { return c.seen.Load() }

// bannerOnly reports whether the host sent its version line and nothing
// after it.
func (c *bannerConn) bannerOnly() bool { return c.done.Load() && !c.more.Load() }

// agentConn is a connection to the ssh-agent, closed when the handshake's
// deadline passes or its ctx is done. The agent protocol has no timeout
// of its own, and an agent that is locked, waits for a confirmation or a
// touch, or sits behind a wedged forwarded socket would otherwise hold
// Open forever, the handshake's deadline notwithstanding.
type agentConn struct {
	net.Conn
	stop func() bool
	// owed is set while the agent has a request to answer, cut once the
	// deadline or ctx ended the connection: both, and the agent is why
	// the handshake failed, not the host.
	owed, cut atomic.Bool
}

// dialAgent connects to the agent at sock, bound by ctx and its deadline.
func dialAgent(ctx context.Context, sock string) (*agentConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, err
	}
	ag := &agentConn{Conn: c}
	// The deadline alone ends a request even if the closing goroutine is
	// late; the close covers ctx ending before its deadline.
	if deadline, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(deadline); err != nil {
			c.Close()
			return nil, err
		}
	}
	ag.stop = context.AfterFunc(ctx, func() {
		ag.cut.Store(true)
		c.Close()
	})
	return ag, nil
}

func (c *agentConn) Write(p []byte) (int, error) {
	c.owed.Store(true)
	n, err := c.Conn.Write(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.cut.Store(true)
	}
	return n, err
}

func (c *agentConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.owed.Store(false)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.cut.Store(true)
	}
	return n, err
}

func (c *agentConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// silent reports whether the agent left a request unanswered until the
// deadline or ctx ended its connection.
func (c *agentConn) silent() bool { return c != nil && c.owed.Load() && c.cut.Load() }

// agentErr is the error for an exchange with the ssh-agent (what) that
// failed while connecting to name: a done ctx, the agent's silence until
// the deadline, or err.
func (t *Transport) agentErr(ctx context.Context, ag *agentConn, name, addr, what string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("ssh: connect %s (%s): %w", name, addr, ctx.Err())
	case ag.silent():
		return fmt.Errorf("ssh: %s (%s): %s: the agent at %s did not answer within %s (locked, or waiting for a confirmation?): %w",
			name, addr, what, t.cfg.AgentSocket, t.cfg.ConnectTimeout, context.DeadlineExceeded)
	}
	return fmt.Errorf("ssh: %s (%s): %s: %w", name, addr, what, err)
}

// isDisconnect reports whether err is the host's SSH_MSG_DISCONNECT (see
// hostDisconnect).
func isDisconnect(err error) bool {
	_, ok := hostDisconnect(err)
	return ok
}

// SSH_MSG_DISCONNECT reason codes (RFC 4253, 11.1) that a host gives for
// a mismatch of its configuration and the bot's.
const (
	disconnectKeyExchangeFailed   = 3
	disconnectVersionNotSupported = 8
)

// mismatchRefusal says what the host refused when err is its disconnect
// for a mismatch of configuration (see hostDisconnect), or returns "".
func mismatchRefusal(err error) string {
	switch code, _ := hostDisconnect(err); code {
	case disconnectKeyExchangeFailed:
		return "the host refused the key exchange, as it does with no algorithm in common (sshd_config KexAlgorithms, HostKeyAlgorithms, Ciphers, MACs)"
	case disconnectVersionNotSupported:
		return "the host refused the protocol version"
	}
	return ""
}

// disconnectPrefix begins the text of x/crypto's error for a host's
// SSH_MSG_DISCONNECT: "ssh: disconnect, reason 12: \"too many
// connections\"", its reason code and its message quoted (%q).
const disconnectPrefix = "ssh: disconnect, reason "

// hostDisconnect returns the reason code of the host's SSH_MSG_DISCONNECT
// when err is, or wraps, x/crypto's error for one; ok is false otherwise.
//
// x/crypto exports no type for that error (its *ssh.disconnectMsg), nor
// any method that gives its code: errors.As has nothing to match, so its
// text is read, as narrowly as it can be. Only an error that wraps no
// other, of a type of x/crypto's ssh package, whose whole text is that of
// a disconnect (the prefix, a code, and one quoted message, nothing
// before or after) is taken for one. Other text quoting such words (the
// host's message in a disconnect of another code, a principal of a host
// certificate refused, any error that merely quotes a disconnect's text)
// is not: x/crypto quotes the host's message, so it cannot end the quote
// early, and an error of the bot's own, or one flattened into another's
// text, is no type of x/crypto's.
func hostDisconnect(err error) (code uint32, ok bool) {
	for _, e := range leafErrors(err) {
		t := reflect.TypeOf(e)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.PkgPath() != cryptoSSHPkg {
			continue
		}
		rest, found := strings.CutPrefix(e.Error(), disconnectPrefix)
		if !found {
			continue
		}
		num, msg, found := strings.Cut(rest, ": ")
		if !found {
			continue
		}
		n, perr := strconv.ParseUint(num, 10, 32)
		if perr != nil || strconv.FormatUint(n, 10) != num {
			continue
		}
		if _, qerr := strconv.Unquote(msg); qerr != nil || msg[0] != '"' {
			continue
		}
		return uint32(n), true
	}
	return 0, false
}

// cryptoSSHPkg is the import path of x/crypto's ssh package, where the
// type of its disconnect error is declared.
var cryptoSSHPkg = reflect.TypeFor[ssh.AlgorithmNegotiationError]().PkgPath()

// leafErrors returns the errors in err's tree that wrap no other, in the
// order errors.As visits them.
func leafErrors(err error) []error {
	switch u := err.(type) {
	case nil:
		return nil
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			return leafErrors(inner)
		}
	case interface{ Unwrap() []error }:
		var out []error
		for _, inner := range u.Unwrap() {
			out = append(out, leafErrors(inner)...)
		}
		if len(out) > 0 {
			return out
		}
	}
	return []error{err}
}

// isNetErr reports whether err is a connection failing rather than the
// peer refusing.
func isNetErr(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.As(err, &ne)
}

// probeKey is a key no known_hosts file lists: checking it for an address
// returns the keys known for that address.
var probeKey, _ = ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))

// hostKeyCallback returns the host key check for addr and the host key
// algorithms to ask for: those of the keys known_hosts has for addr first,
// so a host with both an RSA and an ed25519 key offers the one we know
// instead of looking changed.
func (t *Transport) hostKeyCallback(name, addr string) (ssh.HostKeyCallback, []string, error) {
	if t.cfg.InsecureIgnoreHostKey {
		return ssh.InsecureIgnoreHostKey(), nil, nil
	}
	known, err := knownhosts.New(t.cfg.KnownHostsFile)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh: known_hosts: %w", unmarkedError{err})
	}
	check := anyCase(known)
	var algos []string
	var ke *knownhosts.KeyError
	if err := check(addr, fakeAddr(addr), probeKey); errors.As(err, &ke) {
		seen := map[string]bool{}
		add := func(as ...string) {
			for _, a := range as {
				if !seen[a] {
					seen[a] = true
					algos = append(algos, a)
				}
			}
		}
		lines := knownHostsLines{}
		// A certificate authority's line vouches for hosts by their
		// certificates: ask for those first, or the host shows its
		// plain key, which no line holds, and looks changed.
		for _, k := range ke.Want {
			if lines.isAuthority(k) {
				add(hostCertAlgorithms...)
			}
		}
		for _, k := range ke.Want {
			add(keyAlgorithms(k.Key.Type())...)
		}
		// The others come last, as OpenSSH asks: a host that offers
		// none of the known types then shows its key and is refused as
		// a changed one, named by its fingerprint, rather than failing
		// the handshake with no common algorithm.
		add(unknownHostAlgorithms...)
	}
	if algos = supportedHostKeyAlgorithms(algos); len(algos) == 0 {
		algos = supportedHostKeyAlgorithms(unknownHostAlgorithms)
	}
	cb := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		var certErr error
		if cert, ok := key.(*ssh.Certificate); ok && err != nil {
			// A certificate of a revoked authority is refused outright,
			// as OpenSSH refuses it: falling back to its plain key would
			// let a listed key outlive its authority's revocation.
			var re *knownhosts.RevokedError
			if errors.As(check(hostname, remote, cert.SignatureKey), &re) {
				return &HostKeyError{Host: name, Address: addr, KeyType: cert.Key.Type(),
					Fingerprint: ssh.FingerprintSHA256(cert.Key), Revoked: true,
					Authority: ssh.FingerprintSHA256(cert.SignatureKey)}
			}
			// A certificate no authority in known_hosts vouches for: its
			// plain key may still be known, as OpenSSH retries it, and
			// if not, the refusal names the plain key and says why the
			// certificate was refused.
			certErr = certRefused{cert, err}
			key = cert.Key
			err = check(hostname, remote, key)
		}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke):
			hk := &HostKeyError{Host: name, Address: addr, KeyType: key.Type(),
				Fingerprint: ssh.FingerprintSHA256(key)}
			// Want lists the authorities' lines too, which vouch for
			// certificates and are no key of the host's: as OpenSSH,
			// a host only they match is unknown, not changed.
			lines := knownHostsLines{}
			for _, k := range ke.Want {
				if !lines.isAuthority(k) {
					hk.Changed = true
				}
			}
			if cert, ok := certErr.(certRefused); ok {
				hk.Certificate = cert.reason(hostname)
			}
			return hk
		case errors.As(err, &re):
			// A refusal like the others, not a failed login: the
			// user's credentials were never tried.
			return &HostKeyError{Host: name, Address: addr, KeyType: key.Type(),
				Fingerprint: ssh.FingerprintSHA256(key), Revoked: true}
		}
		return err
	}
	return cb, algos, nil
}

// certRefused is a host certificate, and x/crypto's reason for refusing
// it.
type certRefused struct {
	cert *ssh.Certificate
	err  error
}

func (c certRefused) Error() string { return c.err.Error() }

// maxPrincipals is how many of a certificate's principals its refusal
// names.
const maxPrincipals = 3

// reason says why the certificate was refused for hostname in the words
// of known_hosts and of the certificate. x/crypto's would send whoever
// reads them astray ("no authorities for hostname" of a host that has
// an authority, only not the one that signed it) or leave out what to
// check (when the certificate expired); a reason it gives that is not
// one of those is given as is.
func (c certRefused) reason(hostname string) string {
	msg := strings.TrimPrefix(c.err.Error(), "ssh: ")
	host := hostname
	if h, _, err := net.SplitHostPort(hostname); err == nil {
		host = h
	}
	switch {
	case strings.HasPrefix(msg, "no authorities for hostname"):
		return fmt.Sprintf("signed by certificate authority %s, which no @cert-authority line for the host names", ssh.FingerprintSHA256(c.cert.SignatureKey))
	case strings.HasPrefix(msg, "principal ") && len(c.cert.ValidPrincipals) > 0:
		names := c.cert.ValidPrincipals
		var quoted []string
		for _, p := range names[:min(len(names), maxPrincipals)] {
			quoted = append(quoted, strconv.Quote(p))
		}
		list := strings.Join(quoted, ", ")
		if len(names) > maxPrincipals {
			list += fmt.Sprintf(" and %d more", len(names)-maxPrincipals)
		}
		return fmt.Sprintf("it is for %s, not %q", list, host)
	case msg == "cert has expired" && int64(c.cert.ValidBefore) > 0:
		return "it expired " + certTime(c.cert.ValidBefore)
	case msg == "cert is not yet valid" && int64(c.cert.ValidAfter) > 0:
		return "it is not valid before " + certTime(c.cert.ValidAfter)
	}
	return msg
}

// certTime is a certificate's validity bound, in seconds since the
// epoch, in UTC: the bot's clock zone says nothing to whoever reads it.
func certTime(t uint64) string {
	return time.Unix(int64(t), 0).UTC().Format("2006-01-02 15:04:05 UTC")
}

// anyCase returns check searching known_hosts for a host by its name in
// lower case, as ssh searches it (and as ssh and ssh-keyscan write it,
// hashed or not), then by its name as given, which a line written by hand
// may hold: ssh matches the lines' host patterns whatever their case,
// x/crypto as they are. Otherwise a host configured as Web1.example.com
// would be refused as unknown though known_hosts holds the line ssh
// wrote for it. A key either search accepts is accepted; the keys known
// for the host are those of both.
func anyCase(check ssh.HostKeyCallback) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		lower := hostname
		if host, port, err := net.SplitHostPort(hostname); err == nil {
			lower = net.JoinHostPort(strings.ToLower(host), port)
		}
		err := check(lower, remote, key)
		if err == nil || lower == hostname {
			return err
		}
		asGiven := check(hostname, remote, key)
		if asGiven == nil {
			return nil
		}
		var ke, ke2 *knownhosts.KeyError
		if errors.As(err, &ke) && errors.As(asGiven, &ke2) {
			return &knownhosts.KeyError{Want: append(slices.Clone(ke.Want), ke2.Want...)}
		}
		return err
	}
}

// knownHostsLines reads known_hosts files, each once, to tell the kind of
// the line a known key comes from.
type knownHostsLines map[string][]string

// isAuthority reports whether k comes from an @cert-authority line.
func (l knownHostsLines) isAuthority(k knownhosts.KnownKey) bool {
	lines, ok := l[k.Filename]
	if !ok {
		b, err := os.ReadFile(k.Filename)
		if err != nil {
			return false // then it was checked against what could be read
		}
		lines = strings.Split(string(b), "\n")
		l[k.Filename] = lines
	}
	if k.Line < 1 || k.Line > len(lines) {
		return false
	}
	return strings.HasPrefix(strings.TrimSpace(lines[k.Line-1]), "@cert-authority")
}

// keyAlgorithms are the signature algorithms that prove a key of type
// keyType. SHA-1 RSA signatures are left out, as OpenSSH does.
func keyAlgorithms(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return []string{keyType}
}

// unknownHostAlgorithms is the order OpenSSH asks for host keys in when it
// knows none for the host (certificates, then ed25519, ECDSA, RSA), so the
// fingerprint in an unknown-host error is the one ssh and ssh-keyscan
// show. x/crypto's own default puts ed25519 last.
var unknownHostAlgorithms = append(slices.Clone(hostCertAlgorithms),
	ssh.KeyAlgoED25519,
	ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521,
	ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256,
)

// hostCertAlgorithms are the host certificate algorithms, in OpenSSH's
// order: a certificate authority signs host keys of any type.
var hostCertAlgorithms = []string{
	ssh.CertAlgoED25519v01,
	ssh.CertAlgoECDSA256v01, ssh.CertAlgoECDSA384v01, ssh.CertAlgoECDSA521v01,
	ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01,
}

// supportedHostKeyAlgorithms filters algos to those x/crypto implements,
// so that a known_hosts key of a type it lacks (FIDO keys) is skipped
// rather than failing every connection.
func supportedHostKeyAlgorithms(algos []string) []string {
	ok := map[string]bool{}
	for _, a := range ssh.SupportedAlgorithms().HostKeys {
		ok[a] = true
	}
	var out []string
	for _, a := range algos {
		if ok[a] {
			out = append(out, a)
		}
	}
	return out
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

// unmarkedError is err, its text without the marks of the bot's
// suggested commands (see suggest): for an error that quotes text from
// outside as is, such as x/crypto's on a known_hosts line it cannot
// parse ("got hash type …"), and reaches replies.
type unmarkedError struct{ err error }

func (e unmarkedError) Error() string { return suggest.Strip(e.err.Error()) }
func (e unmarkedError) Unwrap() error { return e.err }

// addressText reports whether address is printable ASCII without
// spaces, as every host name (an international one in its xn-- form)
// and IP address is: anything else resolves nowhere, and is quoted
// (%q) rather than written as is, in an error that reaches replies.
func addressText(address string) bool {
	for i := 0; i < len(address); i++ {
		if address[i] <= ' ' || address[i] > '~' {
			return false
		}
	}
	return true
}

// withPort returns address with port added if it has none.
func withPort(address string, port int) string {
	if _, _, err := net.SplitHostPort(address); err == nil {
		return address
	}
	if len(address) > 1 && address[0] == '[' && address[len(address)-1] == ']' {
		address = address[1 : len(address)-1]
	}
	return net.JoinHostPort(address, strconv.Itoa(port))
}
