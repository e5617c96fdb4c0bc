package config

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// SSH says how to reach an env's hosts over SSH.
type SSH struct {
	User string `yaml:"user"`
	// KeyFile is a private key; Passphrase unlocks it (from ${ENV}).
	KeyFile    string `yaml:"key_file"`
	Passphrase string `yaml:"passphrase"`
	// Agent uses the ssh-agent at $SSH_AUTH_SOCK. Agent forwarding is
	// never enabled.
	Agent bool `yaml:"agent"`
	// KnownHosts is the known_hosts file host keys are verified against.
	KnownHosts string `yaml:"known_hosts"`
	// InsecureIgnoreHostKey skips host key verification: for throwaway
	// test fleets only, and logged loudly on every connection.
	InsecureIgnoreHostKey bool     `yaml:"insecure_ignore_host_key"`
	Port                  int      `yaml:"port"` // default 22
	Jump                  *Jump    `yaml:"jump"`
	ConnectTimeout        Duration `yaml:"connect_timeout"` // default 10s
	KeepAlive             Duration `yaml:"keepalive"`       // default 5s
	// KeepWarm is how long a host's connection stays open after a deploy,
	// rollback or /status, for the next one to reuse; 0s closes it at
	// once. Default 10m.
	KeepWarm Duration `yaml:"keep_warm"`
}

// Jump is a bastion host the env's hosts are reached through.
type Jump struct {
	Address string `yaml:"address"` // host:port
	User    string `yaml:"user"`    // default: the env's ssh user
	// MaxStartups bounds the logins to the bastion in progress at once,
	// across every env reached through it: its sshd drops new
	// connections past its own MaxStartups. Default 8.
	MaxStartups int `yaml:"max_startups"`
}

// HostPort is the bastion's address with its port (22 when it names
// none), in one spelling per bastion as a host's is (see sshHostPort):
// what tells one bastion from another. Two envs that write one bastion
// two ways ("fd00::1", "[FD00:0::1]:22") share its bound of logins and
// the machines behind it.
func (j *Jump) HostPort() string { return sshHostPort(j.Address, 22) }

// Pool takes a host out of its load balancer around its restart.
type Pool struct {
	HAProxy *HAProxy `yaml:"haproxy"`
}

// HAProxy is a load balancer driven through its runtime API.
type HAProxy struct {
	// Socket is "unix:/run/haproxy/admin.sock" or "tcp:127.0.0.1:9999".
	Socket string `yaml:"socket"`
	// Via, when set, names a host (an address for SSH) through which the
	// socket is reached; default: the bot connects to it directly.
	Via     string `yaml:"via"`
	Backend string `yaml:"backend"`
	// Server is the server name of a host in the backend, a template with
	// {host} and the host's vars; default "{host}".
	Server       string   `yaml:"server"`
	DrainTimeout Duration `yaml:"drain_timeout"` // default 30s
	// ReadyTimeout bounds the wait for HAProxy's checks to report a server
	// up after ready: HAProxy checks a server set ready at once, and one
	// passing check brings it up, so about one check's inter, plus a margin.
	ReadyTimeout Duration `yaml:"ready_timeout"` // default 10s
}

// Hooks are commands run on each host around its restart, in the app's
// path: a generic way to drive other load balancers or notify systems.
type Hooks struct {
	BeforeRestart string `yaml:"before_restart"`
	AfterRestart  string `yaml:"after_restart"`
}

// MaxFailures is how many hosts may fail before a deploy stops and switches
// every switched host back: a count ("2") or a percentage ("10%").
type MaxFailures string

// Allowed returns how many of n hosts may fail.
func (m MaxFailures) Allowed(n int) int {
	s := strings.TrimSpace(string(m))
	if s == "" {
		return 0
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		pct, _ := strconv.ParseFloat(p, 64)
		return int(float64(n) * pct / 100)
	}
	c, _ := strconv.Atoi(s)
	return c
}

func (m MaxFailures) valid() bool {
	s := strings.TrimSpace(string(m))
	if s == "" {
		return true
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		pct, err := strconv.ParseFloat(p, 64)
		return err == nil && pct >= 0 && pct <= 100
	}
	c, err := strconv.Atoi(s)
	return err == nil && c >= 0
}

// validateFleet checks the fleet settings of an env with their lines.
func (e *Env) validateFleet(loc locator, ps *problems, app string) {
	p := "apps." + app + ".environments." + e.Name
	at := func(path ...any) int {
		return loc.line(append([]any{"apps", app, "environments", e.Name}, path...)...)
	}
	switch e.Transport {
	case "ssh":
		s := e.SSH
		if s == nil {
			ps.add(at("transport"), "%s: transport ssh needs an ssh section (user, key_file or agent, known_hosts)", p)
			break
		}
		if s.User == "" {
			ps.add(at("ssh"), "%s.ssh.user: required", p)
		}
		if s.KeyFile == "" && !s.Agent {
			ps.add(at("ssh"), "%s.ssh: set key_file or agent: true", p)
		}
		if s.KnownHosts == "" && !s.InsecureIgnoreHostKey {
			ps.add(at("ssh"), "%s.ssh.known_hosts: required: host keys are always verified (insecure_ignore_host_key is for throwaway test fleets only)", p)
		}
		// The transport refuses the pair at start-up rather than guess
		// which was meant: checking the config must say so first.
		if s.KnownHosts != "" && s.InsecureIgnoreHostKey {
			ps.add(at("ssh", "insecure_ignore_host_key"), "%s.ssh: set known_hosts or insecure_ignore_host_key: true, not both", p)
		}
		if s.Port < 1 || s.Port > 65535 {
			ps.add(at("ssh", "port"), "%s.ssh.port: want 1-65535, got %d", p, s.Port)
		}
		// Left out, each has a default; written as 0 it reads as "no
		// timeout" or "no keepalives", which the transport does not do.
		if s.ConnectTimeout <= 0 {
			ps.add(at("ssh", "connect_timeout"), "%s.ssh.connect_timeout: must be more than 0, got %s (leave it out for the default)", p, s.ConnectTimeout)
		}
		if s.KeepAlive <= 0 {
			ps.add(at("ssh", "keepalive"), "%s.ssh.keepalive: must be more than 0, got %s (leave it out for the default)", p, s.KeepAlive)
		}
		if s.KeepWarm < 0 {
			ps.add(at("ssh", "keep_warm"), "%s.ssh.keep_warm: must be 0s (off) or more, got %s", p, s.KeepWarm)
		}
		switch {
		case s.Jump == nil:
		case s.Jump.Address == "":
			ps.add(at("ssh", "jump"), "%s.ssh.jump.address: required (host:port)", p)
		case !sshAddressOK(s.Jump.Address):
			ps.add(at("ssh", "jump", "address"), "%s.ssh.jump.address: %q: %s", p, s.Jump.Address, sshAddressRule)
		}
		if s.Jump != nil && s.Jump.MaxStartups < 1 {
			ps.add(at("ssh", "jump", "max_startups"), "%s.ssh.jump.max_startups: must be at least 1, got %d (leave it out for the default, %d)", p, s.Jump.MaxStartups, defaultJumpStartups)
		}
	case "local":
		if e.SSH != nil {
			ps.add(at("ssh"), "%s.ssh: only used with transport: ssh", p)
		}
	}
	if !e.MaxFailures.valid() {
		ps.add(at("max_failures"), "%s.max_failures: want a count (2) or a percentage (10%%), got %q", p, e.MaxFailures)
	}
	if e.Canary < 0 || e.Canary > len(e.Hosts) {
		ps.add(at("canary"), "%s.canary: want 0 to %d hosts, got %d", p, len(e.Hosts), e.Canary)
	}
	switch e.Migrate {
	case "auto", "ask", "never":
	default:
		ps.add(at("migrate"), "%s.migrate: want auto, ask or never, got %q", p, e.Migrate)
	}
	switch {
	case e.Migrate == "ask" && e.ConfirmTimeout.D() <= 0:
		// The wait would end before anyone could answer: every deploy
		// with a migration would abort.
		ps.add(at("confirm_timeout"), "%s.confirm_timeout: with migrate: ask it must be positive, got %s", p, e.ConfirmTimeout.D())
	case e.ConfirmTimeout.D() <= 0:
		// Unused until migrate becomes ask, and then wrong: refused now.
		// A positive one is kept for then (a migrate switched to auto for
		// a while, say), as documented.
		ps.add(at("confirm_timeout"), "%s.confirm_timeout: must be positive, got %s: it applies only with migrate: ask, where it would abort every deploy with pending migrations at once; leave it out for the default (15m)", p, e.ConfirmTimeout.D())
	}
	if e.Pool != nil && e.Pool.HAProxy != nil {
		h := e.Pool.HAProxy
		if _, _, err := SplitSocket(h.Socket); err != nil {
			ps.add(at("pool", "haproxy", "socket"), "%s.pool.haproxy.socket: %v", p, err)
		}
		if h.Via != "" && e.Transport != "ssh" {
			// The bot would refuse to start with it.
			ps.add(at("pool", "haproxy", "via"), "%s.pool.haproxy.via: needs transport: ssh (the socket is reached through an SSH connection to %s), got transport %s", p, h.Via, e.Transport)
		}
		switch {
		case h.Backend == "":
			ps.add(at("pool", "haproxy"), "%s.pool.haproxy.backend: required", p)
		case !haproxyName.MatchString(h.Backend):
			ps.add(at("pool", "haproxy", "backend"), "%s.pool.haproxy.backend: %q: use only letters, digits, '.', '_' and '-'", p, h.Backend)
		}
		// Left out, each has a default; written as 0 it would read as
		// "do not wait", which it never meant.
		for _, key := range []string{"drain_timeout", "ready_timeout"} {
			line, n := loc.find("apps", app, "environments", e.Name, "pool", "haproxy", key)
			if n == nil {
				continue
			}
			if d, err := parseDuration(n.Value); err == nil && d <= 0 {
				ps.add(line, "%s.pool.haproxy.%s: must be more than 0, got %s (leave it out for the default)", p, key, d)
			}
		}
		// Checked now, host by host, rather than refused by the drain of
		// the first host a deploy has already switched.
		// Two hosts on one server would each drain and ready the other's:
		// one restarted in rotation, the other taken out for it.
		owner := map[string]string{}
		for _, host := range e.Hosts {
			name := serverName(h.Server, host)
			switch prev, dup := owner[name]; {
			case !haproxyName.MatchString(name):
				ps.add(at("pool", "haproxy", "server"), "%s.pool.haproxy.server: for host %s it names the server %q: use only letters, digits, '.', '_' and '-' (and placeholders the host has: {host}, {address} or one of its vars)", p, host.Name, name)
			case dup:
				ps.add(at("pool", "haproxy", "server"), "%s.pool.haproxy.server: hosts %s and %s both name the server %q: each host needs a server of its own (use {host}, {address} or a host var)", p, prev, host.Name, name)
			default:
				owner[name] = host.Name
			}
		}
	}
}

// validatePoolServers refuses two envs whose load balancer pools name one
// HAProxy server (the same socket, reached the same way, backend and
// server) for hosts of their own: two apps on one fleet behind one backend
// with server: "{host}", say. Each deploy runs under its own app+env
// lease, so two of them at once would drain and ready that server
// without knowing of the other: one sets it ready while the other's
// restart behind it is under way, and the other, finding it in maint as
// it starts, takes it for a server someone took out and leaves it so.
func (c *Config) validatePoolServers(loc locator, ps *problems) {
	type user struct{ app, env, host string }
	seen := map[string]user{} // socket, backend and server -> first env
	for _, appName := range c.AppNames() {
		a := c.Apps[appName]
		if a == nil {
			continue
		}
		for _, envName := range a.EnvNames() {
			e := a.Envs[envName]
			if e == nil || e.Pool == nil || e.Pool.HAProxy == nil {
				continue
			}
			h := e.Pool.HAProxy
			reported := false
			for _, host := range e.Hosts {
				if host == nil {
					continue
				}
				name := serverName(h.Server, host)
				key := h.viaKey(e) + "|" + canonicalSocket(h.Socket) + "|" + h.Backend + "/" + name
				other, dup := seen[key]
				switch {
				case !dup:
					seen[key] = user{appName, envName, host.Name}
				case other.app == appName && other.env == envName:
					// Refused by Env.validate: two hosts of one env.
				case !reported:
					reported = true
					where := "apps." + appName + ".environments." + envName
					lb := h.Socket
					if h.Via != "" {
						lb += " on " + h.Via
					}
					ps.add(loc.line("apps", appName, "environments", envName, "pool", "haproxy", "server"),
						"%s.pool.haproxy.server: for host %s it names the server %s/%s of the HAProxy at %s, as apps.%s.environments.%s does for its host %s: their deploys run at once, each draining and readying that server while the other may be restarting behind it; give each env servers of its own (a backend of its own, or a server: template such as \"%s-{host}\")",
						where, host.Name, h.Backend, name, lb, other.app, other.env, other.host, appName)
				}
			}
		}
	}
}

// viaKey is the host the socket is reached through, in one spelling per
// host and port as an ssh host's (see sshHostPort); "" for the bot's own
// machine.
func (h *HAProxy) viaKey(e *Env) string {
	if h.Via == "" {
		return ""
	}
	port := 22
	if e.SSH != nil && e.SSH.Port != 0 {
		port = e.SSH.Port
	}
	return sshHostPort(h.Via, port)
}

// canonicalSocket is one spelling of a runtime socket, so that two ways of
// writing one (unix:/run//haproxy.sock, tcp:localhost:9999 beside
// tcp:127.0.0.1:09999) name one HAProxy: the path cleaned, the port as a
// number and localhost, 127.0.0.1 and ::1 as one loopback, which a
// balancer listening on localhost may be reached by any of. A socket
// SplitSocket refuses is returned as written: it is reported there.
func canonicalSocket(socket string) string {
	network, addr, err := SplitSocket(socket)
	if err != nil {
		return socket
	}
	if network == "unix" {
		return "unix:" + path.Clean(addr)
	}
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.Unmap().String()
	}
	switch host {
	case "localhost", "127.0.0.1", "::1":
		host = "localhost"
	}
	return "tcp:" + net.JoinHostPort(host, strconv.Itoa(n))
}

// haproxyName is what the HAProxy pool sends as a backend or server name
// (internal/haproxy refuses anything else: it could end the command).
var haproxyName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// serverName expands a pool's server template for host as the pool does:
// {host}, {address}, then the host's vars; default "{host}".
func serverName(tmpl string, host *Host) string {
	if tmpl == "" {
		tmpl = "{host}"
	}
	pairs := []string{"{host}", host.Name, "{address}", host.Address}
	for k, v := range host.Vars {
		pairs = append(pairs, "{"+k+"}", v)
	}
	return strings.NewReplacer(pairs...).Replace(tmpl)
}

// SplitSocket splits "unix:/path" or "tcp:host:port" into network and
// address. It refuses what could only fail at the first deploy's check (a
// TCP address without a host or a port) and a relative socket path, which
// would name a file relative to wherever the bot, or the sshd of the via
// host, happens to run.
func SplitSocket(s string) (network, addr string, err error) {
	network, addr, ok := strings.Cut(s, ":")
	switch {
	case ok && network == "unix":
		if !strings.HasPrefix(addr, "/") {
			return "", "", fmt.Errorf("want unix: and an absolute path, got %q", s)
		}
	case ok && network == "tcp":
		host, port, err := net.SplitHostPort(addr)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
			return "", "", fmt.Errorf("want tcp:host:port with a port from 1 to 65535, got %q", s)
		}
	default:
		return "", "", fmt.Errorf("want unix:/path/to/socket or tcp:host:port, got %q", s)
	}
	return network, addr, nil
}

// validateDelivery checks the app's delivery mode.
func (a *App) validateDelivery(loc locator, ps *problems) {
	line := loc.line("apps", a.Name, "delivery")
	switch a.Delivery {
	case "push":
	case "pull":
		if a.Artifact.URL == "" {
			ps.add(line, "apps.%s.delivery: pull needs artifact.url (hosts download from it)", a.Name)
		}
	default:
		ps.add(line, "apps.%s.delivery: want push or pull, got %q", a.Name, a.Delivery)
	}
	if a.Recompress != "auto" && a.Recompress != "never" {
		ps.add(loc.line("apps", a.Name, "recompress"), "apps.%s.recompress: want auto or never, got %q", a.Name, a.Recompress)
	}
}
