package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchman-bot/switchman/internal/redact"
)

var (
	namePattern        = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	hostPattern        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	placeholderPattern = regexp.MustCompile(`\{[A-Za-z0-9_]+\}`)
	// bracketedPattern is a placeholder standing for an IPv6 address in
	// a URL's host: http://[{ip}]:8080/health.
	bracketedPattern = regexp.MustCompile(`\[\{[A-Za-z0-9_]+\}\]`)
)

const (
	nameRule = "must start with a lowercase letter and have at most 32 lowercase letters, digits, _ or -"
	hostRule = "must start with a letter or digit and have at most 64 letters, digits, ., _ or -"
)

// minLeaseTTL is the shortest bot.lease_ttl. A lease is renewed every
// third of it, over the network: below a second, one slow round trip to
// Redis loses it (and zero stopped the scheduler's leader with a panic).
const minLeaseTTL = time.Second

// validate reports every problem of a decoded, defaulted config. Values
// that may hold expanded secrets (URLs, commands) are never quoted back.
func (c *Config) validate(loc locator, ps *problems) {
	switch c.Bot.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		ps.add(loc.line("bot", "log_level"), "bot.log_level: want debug, info, warn or error, got %q", c.Bot.LogLevel)
	}
	if !isHostPort(c.Bot.Listen, "tcp") {
		ps.add(loc.line("bot", "listen"), "bot.listen: want host:port, like 127.0.0.1:8080, got %q", c.Bot.Listen)
	}
	switch m := c.Bot.MetricsListen; {
	case m != "" && !isHostPort(m, "tcp"):
		ps.add(loc.line("bot", "metrics_listen"), "bot.metrics_listen: want host:port, like 127.0.0.1:9090, got %q", m)
	case m != "" && m == c.Bot.Listen:
		// serve would fail at start with "address already in use",
		// sending the operator to look for another process.
		ps.add(loc.line("bot", "metrics_listen"), "bot.metrics_listen: %q is bot.listen as well, and one address takes one listener: leave metrics_listen out to serve /metrics and /healthz on bot.listen", m)
	case m != "" && oneListener(m, c.Bot.Listen):
		// Written otherwise, the same socket fails serve's start just
		// the same.
		ps.add(loc.line("bot", "metrics_listen"), "bot.metrics_listen: %q takes the port of bot.listen %q (a host of 0.0.0.0, :: or none listens on every address of the machine), and one address takes one listener: give metrics_listen another port, or leave it out to serve /metrics and /healthz on bot.listen", m, c.Bot.Listen)
	}
	// A StatsD address the bot cannot dial would only be logged, once a
	// deploy has ended, and no marker would ever be sent.
	if c.Bot.StatsD != "" && !isHostPort(c.Bot.StatsD, "udp") {
		ps.add(loc.line("bot", "statsd"), "bot.statsd: want host:port, like 127.0.0.1:8125, got %q", c.Bot.StatsD)
	}
	for name := range c.Users {
		if strings.TrimSpace(name) == "" {
			ps.add(loc.line("users", name), "users: a user name must not be empty")
		}
		if p := userNameProblem(name); p != "" {
			ps.add(loc.line("users", name), "users: %s", p)
		} else if IsBotUser(name) {
			ps.add(loc.line("users", name), "users: %q is the bot's own name: %s", name, botUserWhy)
		}
	}
	// The console acts as this name, and grants name it as any other
	// user: one the rule refuses elsewhere (@ana, "ana smith", here)
	// could never be granted a role, and the console could do nothing.
	switch cu := c.Bot.ConsoleUser; {
	case cu != "" && strings.TrimSpace(cu) == "":
		ps.add(loc.line("bot", "console_user"), "bot.console_user: blank: name the user the console acts as, or leave the key out for the OS user")
	case userNameProblem(cu) != "":
		ps.add(loc.line("bot", "console_user"), "bot.console_user: %s", userNameProblem(cu))
	case IsBotUser(cu):
		ps.add(loc.line("bot", "console_user"), "bot.console_user: %q is the bot's own name: %s", cu, botUserWhy)
	}
	validateNames(loc, ps, "admins", c.Admins)
	validateNames(loc, ps, "deployers", c.Deployers)
	c.validateAccess(loc, ps)
	c.validateNameCase(loc, ps)
	if line, n := loc.find("store", "redis"); n != nil && isNull(n) {
		// An empty redis: (its url commented out) would decode to no
		// Redis, and every replica would run on a file store of its own.
		ps.add(line, "store.redis: empty: set url (redis://host:port), or remove the key to use the embedded store of a single replica")
	}
	if lt := c.Bot.LeaseTTL.D(); loc.has("bot", "lease_ttl") && lt < minLeaseTTL {
		ps.add(loc.line("bot", "lease_ttl"), "bot.lease_ttl: %s is too short: a lease is renewed every third of it, over the network; at least %s", lt, minLeaseTTL)
	}
	if r := c.Store.Redis; r != nil {
		switch {
		case !strings.HasPrefix(r.URL, "redis://") && !strings.HasPrefix(r.URL, "rediss://"):
			ps.add(loc.line("store", "redis", "url"), "store.redis.url: want redis://host:port or rediss://host:port (the value is not shown: it may hold a password)")
		case !redisURLParses(r.URL):
			ps.add(loc.line("store", "redis", "url"), "store.redis.url: not a valid URL: %s", redisURLProblem(r.URL))
		case badPort(r.URL):
			ps.add(loc.line("store", "redis", "url"), "store.redis.url: %s", badPortProblem)
		}
	}
	for _, r := range []struct {
		key string
		d   Duration
	}{{"records", c.Store.Retention.Records}, {"audit", c.Store.Retention.Audit}} {
		if r.d != 0 && r.d.D() < minRetention {
			ps.add(loc.line("store", "retention", r.key), "store.retention.%s: %s is too short: at least 1d, or 0 to keep them forever", r.key, r.d)
		}
	}
	c.validateTrains(loc, ps)
	c.validateSentry(loc, ps)
	c.validateChat(loc, ps)

	if len(c.Apps) == 0 {
		ps.add(loc.line("apps"), "no apps: at least one app is required under apps")
	}
	for _, name := range c.AppNames() {
		c.Apps[name].validate(loc, ps)
	}
	c.validateAdminPresence(loc, ps)
	c.validateBastions(loc, ps)
	c.validateDeployDirs(loc, ps)
	c.validatePoolServers(loc, ps)
	c.validateBotData(loc, ps)
}

// validateBastions refuses two envs that reach their hosts through one
// bastion with different ssh.jump.max_startups: the bound is the
// bastion's, shared by every env through it (its sshd counts the logins
// of all of them), so it must have one value.
func (c *Config) validateBastions(loc locator, ps *problems) {
	type first struct {
		where string
		n     int
	}
	seen := map[string]first{}
	for _, appName := range c.AppNames() {
		a := c.Apps[appName]
		for _, envName := range a.EnvNames() {
			e := a.Envs[envName]
			if e == nil || e.Transport != "ssh" || e.SSH == nil || e.SSH.Jump == nil || e.SSH.Jump.Address == "" {
				continue
			}
			j := e.SSH.Jump
			where := "apps." + appName + ".environments." + envName
			f, ok := seen[j.HostPort()]
			if !ok {
				seen[j.HostPort()] = first{where, j.MaxStartups}
				continue
			}
			if f.n != j.MaxStartups {
				ps.add(loc.line("apps", appName, "environments", envName, "ssh", "jump"), "%s.ssh.jump.max_startups: %d, but %s reaches the bastion %s with %d (%d when left out): the bound is the bastion's, shared by every env through it; give them the same",
					where, j.MaxStartups, f.where, j.HostPort(), f.n, defaultJumpStartups)
			}
		}
	}
}

// validateNames checks a list of user names. They need not be keys of
// users: a plain name is enough where chat identities are not mapped, so
// the bot's own name is refused here too.
func validateNames(loc locator, ps *problems, key string, names []string) {
	first := map[string]int{}
	for i, name := range names {
		switch j, dup := first[name]; {
		case strings.TrimSpace(name) == "":
			ps.add(loc.line(key, i), "%s[%d]: a user name must not be empty", key, i)
		case userNameProblem(name) != "":
			ps.add(loc.line(key, i), "%s[%d]: %s", key, i, userNameProblem(name))
		case IsBotUser(name):
			ps.add(loc.line(key, i), "%s[%d]: %q is the bot's own name: %s", key, i, name, botUserWhy)
		case dup:
			ps.add(loc.line(key, i), "%s[%d]: %q is listed twice (first at line %d)", key, i, name, loc.line(key, j))
		default:
			first[name] = i
		}
	}
}

func (a *App) validate(loc locator, ps *problems) {
	p := "apps." + a.Name
	at := func(path ...any) int { return loc.line(append([]any{"apps", a.Name}, path...)...) }

	if !namePattern.MatchString(a.Name) {
		ps.add(at(), "app name %q %s", a.Name, nameRule)
	}

	a.validateDelivery(loc, ps)
	art := a.Artifact
	switch {
	case art.URL == "" && art.Path == "":
		ps.add(at("artifact"), "%s.artifact: set url or path to say where builds come from", p)
	case art.URL != "" && art.Path != "":
		ps.add(at("artifact"), "%s.artifact: set url or path, not both", p)
	}
	if art.URL != "" {
		if !strings.Contains(art.URL, "{build}") {
			ps.add(at("artifact", "url"), "%s.artifact.url: must contain {build}", p)
		}
		switch {
		case !isHTTPURL(art.URL):
			ps.add(at("artifact", "url"), "%s.artifact.url: must be an http:// or https:// URL", p)
		case splitPassword(art.URL):
			ps.add(at("artifact", "url"), "%s.artifact.url: %s", p, splitPasswordAdvice)
		case badPort(art.URL):
			ps.add(at("artifact", "url"), "%s.artifact.url: %s", p, badPortProblem)
		}
	}
	if art.Path != "" && !strings.Contains(art.Path, "{build}") {
		ps.add(at("artifact", "path"), "%s.artifact.path: must contain {build}", p)
	}
	if art.Checksum != "required" && art.Checksum != "optional" {
		ps.add(at("artifact", "checksum"), "%s.artifact.checksum: want required or optional, got %q", p, art.Checksum)
	}
	if _, err := ParseSize(art.MaxUnpacked); err != nil {
		ps.add(at("artifact", "max_unpacked"), "%s.artifact.max_unpacked: %v", p, err)
	}
	if art.MaxEntries < 0 {
		ps.add(at("artifact", "max_entries"), "%s.artifact.max_entries: want a count of entries, or 0 for no limit, got %d", p, art.MaxEntries)
	}
	for _, t := range []struct{ key, template string }{{"url", art.URL}, {"path", art.Path}} {
		// Any other placeholder would stay as it is, and fail every
		// deploy with an error quoting the URL.
		if bad := otherPlaceholders(t.template, artifactPlaceholders); len(bad) > 0 {
			ps.add(at("artifact", t.key), "%s.artifact.%s: unknown placeholder %s: artifact.url and artifact.path take only {app} and {build}", p, t.key, strings.Join(bad, ", "))
		}
	}

	switch {
	case a.Path == "":
		ps.add(at("path"), "%s.path: the deploy directory on the hosts is required", p)
	case !path.IsAbs(a.Path):
		ps.add(at("path"), "%s.path: must be absolute (a relative path is only allowed when every env uses the local transport), got %q", p, a.Path)
	case path.Clean(a.Path) == "/":
		ps.add(at("path"), "%s.path: must not be /", p)
	}
	if a.KeepReleases < 2 {
		ps.add(at("keep_releases"), "%s.keep_releases: must be at least 2 so a rollback has a release to go back to, got %d", p, a.KeepReleases)
	}
	validateShared(loc, ps, a)
	if strings.TrimSpace(a.Restart) == "" {
		ps.add(at("restart"), "%s.restart: the command run after switching releases is required", p)
	}
	if a.Migrations.List != "" && a.Migrations.Run == "" {
		ps.add(at("migrations"), "%s.migrations: list is set but run is not", p)
	}
	if a.Migrations.Run != "" && a.Migrations.List == "" {
		// The bot runs migrations only when list names pending ones: run
		// alone would never run, nor back up.
		ps.add(at("migrations"), "%s.migrations: run is set but list is not; list prints the pending migrations, and run runs only when it names some", p)
	}

	h := a.Health
	if h.URL != "" && h.Command != "" {
		ps.add(at("health"), "%s.health: set url or command, not both", p)
	}
	switch {
	case h.URL == "":
	case !isHTTPURL(h.URL):
		ps.add(at("health", "url"), "%s.health.url: must be an http:// or https:// URL", p)
	case splitPassword(h.URL):
		ps.add(at("health", "url"), "%s.health.url: %s", p, splitPasswordAdvice)
	case badPort(h.URL):
		ps.add(at("health", "url"), "%s.health.url: %s", p, badPortProblem)
	}
	if h.Expect != "" && h.URL == "" {
		ps.add(at("health", "expect"), "%s.health.expect: only used with health.url", p)
	}
	if _, n := loc.find("apps", a.Name, "health"); n != nil && !isNull(n) && h.URL == "" && h.Command == "" && h.Expect == "" {
		// A health section left with its timeout or interval alone (its
		// url commented out) reads as a check, and every host would be
		// counted healthy right after its restart without one.
		ps.add(at("health"), "%s.health: sets no url or command, so no host would be checked after its restart (its timeout and interval are unused); set url or command, or leave health out for no check", p)
	}
	if h.Timeout <= 0 {
		ps.add(at("health", "timeout"), "%s.health.timeout: must be more than 0, got %s", p, h.Timeout)
	}
	if h.Interval <= 0 {
		ps.add(at("health", "interval"), "%s.health.interval: must be more than 0, got %s", p, h.Interval)
	} else if h.Timeout > 0 && h.Interval >= h.Timeout && (h.URL != "" || h.Command != "") {
		// The first attempt comes right after the restart, when most
		// apps are still starting; the pause before the second would
		// outlast the timeout, so every deploy would fail its check.
		ps.add(at("health", "interval"), "%s.health.interval: %s is not shorter than health.timeout (%s): the check would be tried once, never again; want an interval shorter than the timeout", p, h.Interval, h.Timeout)
	}
	validateHealthPlaceholders(loc, ps, a)

	envs := a.EnvNames()
	switch {
	case len(envs) == 0:
		ps.add(at("environments"), "%s.environments: at least one environment is required", p)
	case a.DefaultEnv == "":
		ps.add(at("default_env"), "%s.default_env: required when an app has more than one environment (%s)", p, strings.Join(envs, ", "))
	case a.Envs[a.DefaultEnv] == nil:
		ps.add(at("default_env"), "%s.default_env: %q is not an environment of the app (%s)", p, a.DefaultEnv, strings.Join(envs, ", "))
	}
	for _, name := range envs {
		a.Envs[name].validate(loc, ps, a.Name)
		// A backup runs only before migrations the bot runs: without
		// them it would never run, and a deploy whose restart migrates
		// the schema by itself would go ahead with no backup taken.
		if e := a.Envs[name]; e != nil && e.Backup != "" && a.Migrations.List == "" && a.Migrations.Run == "" {
			ps.add(at("environments", name, "backup"), "%s.environments.%s.backup: it runs only before the migrations the bot runs, and %s has no migrations: it would never run; set migrations.list and migrations.run, or leave backup out", p, name, p)
		}
		// So does migrate: ask or never: it would never ask, nor refuse
		// a deploy, whatever schema change the release brings.
		if e := a.Envs[name]; e != nil && (e.Migrate == "ask" || e.Migrate == "never") && a.Migrations.List == "" && a.Migrations.Run == "" {
			what := map[string]string{"ask": "ask for a confirmation", "never": "refuse a deploy"}[e.Migrate]
			ps.add(at("environments", name, "migrate"), "%s.environments.%s.migrate: %s applies to the migrations the bot runs, and %s has no migrations: it would never %s; set migrations.list and migrations.run, or leave migrate out", p, name, e.Migrate, p, what)
		}
	}
}

// validateDeployDirs refuses two envs that deploy into one directory of
// one machine: their deploys, each under its own app+env lease, would
// switch one `current` (at once) and prune each other's releases. An app's
// path is the same in all its envs, so two envs of one app may never share
// a machine; two apps may, with paths of their own, neither inside the
// other (see nestedWhy). The local transport's machine is the bot's; an
// ssh host's is known by its address and port, and by the bastion it is
// reached through, behind which the same private address may name another
// machine.
func (c *Config) validateDeployDirs(loc locator, ps *problems) {
	type user struct{ app, env string }
	seen := map[string][]user{} // machine and directory -> the envs there
	type placed struct{ dir, app, env string }
	onMachine := map[string][]placed{} // machine -> the envs there, in order
	// nested records app/env deploying into dir on machine and returns
	// the first env there whose directory holds dir or lies inside it.
	nested := func(machine, dir, app, env string) (placed, bool) {
		others := onMachine[machine]
		onMachine[machine] = append(others, placed{dir, app, env})
		for _, o := range others {
			if o.dir != dir && (within(dir, o.dir) || within(o.dir, dir)) {
				return o, true
			}
		}
		return placed{}, false
	}
	// relation says where dir lies against other's directory.
	relation := func(dir string, other placed) string {
		if within(dir, other.dir) {
			return "inside " + other.dir
		}
		return "which holds " + other.dir
	}
	// there records app/env at key and returns the env already there to
	// name, of the same app first (the fix differs), if any.
	there := func(key, app, env string) (user, bool) {
		others := seen[key]
		seen[key] = append(others, user{app, env})
		for _, o := range others {
			if o.app == app {
				return o, true
			}
		}
		if len(others) == 0 {
			return user{}, false
		}
		return others[0], true
	}
	for _, appName := range c.AppNames() {
		a := c.Apps[appName]
		if a == nil || !path.IsAbs(a.Path) || path.Clean(a.Path) == "/" {
			continue // refused by App.validate
		}
		dir := path.Clean(a.Path)
		for _, envName := range a.EnvNames() {
			e := a.Envs[envName]
			if e == nil {
				continue
			}
			where := "apps." + appName + ".environments." + envName
			switch {
			case e.Transport == defaultTransport:
				other, dup := there("local|"+dir, appName, envName)
				if n, ok := nested("local", dir, appName, envName); !dup && ok {
					ps.add(loc.line("apps", appName, "environments", envName), "%s: transport local deploys into %s on this machine, %s where apps.%s.environments.%s deploys: %s",
						where, dir, relation(dir, n), n.app, n.env, nestedWhy)
				}
				if !dup {
					continue
				}
				fix := "give each app its own path"
				if other.app == appName {
					fix = "two envs of one app need two machines (transport: ssh for one of them)"
				}
				ps.add(loc.line("apps", appName, "environments", envName), "%s: transport local deploys into %s on this machine, as apps.%s.environments.%s does: their deploys would switch and prune each other's releases; %s",
					where, dir, other.app, other.env, fix)
			case e.Transport == "ssh" && e.SSH != nil:
				jump := ""
				if e.SSH.Jump != nil && e.SSH.Jump.Address != "" {
					jump = e.SSH.Jump.HostPort()
				}
				envHosts := map[string]int{} // key -> the first host's index
				for i, h := range e.Hosts {
					if h == nil || h.Address == "" {
						continue
					}
					addr := sshHostPort(h.Address, e.SSH.Port)
					machine := "ssh|" + jump + "|" + addr
					key := machine + "|" + dir
					if j, dup := envHosts[key]; dup {
						// One deploy would unpack and switch there twice
						// at once, in two sessions racing each other.
						ps.add(loc.line("apps", appName, "environments", envName, "hosts", i), "%s.hosts[%d]: %s is also hosts[%d] of this env: the deploy would run there twice at once; list each machine once",
							where, i, addr, j)
						continue
					}
					envHosts[key] = i
					other, dup := there(key, appName, envName)
					n, isNested := nested(machine, dir, appName, envName)
					switch {
					case !dup && isNested:
						ps.add(loc.line("apps", appName, "environments", envName, "hosts", i), "%s.hosts[%d]: %s is also a host of apps.%s.environments.%s: this env deploys into %s there, %s where that env deploys: %s",
							where, i, addr, n.app, n.env, dir, relation(dir, n), nestedWhy)
					case !dup:
					case other.app == appName:
						ps.add(loc.line("apps", appName, "environments", envName, "hosts", i), "%s.hosts[%d]: %s is also a host of %s: two envs of one app on one machine deploy into the same %s, and would switch and prune each other's releases; give each env its own machines",
							where, i, addr, other.env, dir)
					default:
						ps.add(loc.line("apps", appName, "environments", envName, "hosts", i), "%s.hosts[%d]: %s is also a host of apps.%s.environments.%s, which deploys into the same %s: their deploys would switch and prune each other's releases; give each app its own path",
							where, i, addr, other.app, other.env, dir)
					}
				}
			}
		}
	}
}

// sshAddressOK reports whether address is one the ssh transport can
// dial: a host (to which it adds ssh.port), or host:port with a port
// from 1 to 65535; an IPv6 address with or without brackets, or in
// brackets with a port; in printable ASCII, as every host name (an
// international one in its xn-- form) and IP address is. Anything else
// (a port past 65535, two ports, user@host, no host, a name in Unicode)
// would fail the dial of every deploy, host by host, and be written into
// each host's error as is, marks of the bot's suggested commands
// included (see suggest).
func sshAddressOK(address string) bool {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		host = strings.TrimSuffix(strings.TrimPrefix(address, "["), "]")
		if strings.Contains(host, ":") {
			_, err := netip.ParseAddr(host)
			return err == nil
		}
	} else if n, err := net.LookupPort("tcp", port); err != nil || n < 1 {
		return false
	}
	if host == "" || strings.ContainsAny(host, " \t/@[]") {
		return false
	}
	for i := 0; i < len(address); i++ {
		if address[i] <= ' ' || address[i] > '~' {
			return false
		}
	}
	return true
}

// sshAddressRule ends the refusal of an address sshAddressOK refuses.
const sshAddressRule = "want host or host:port, with a port from 1 to 65535, in ASCII (an international name in its xn-- form)"

// sshHostPort is the host:port the ssh transport dials for address, with
// port when it has none, in one spelling per machine: lowercase, an IP
// address in its canonical form, a port without leading zeros. The
// transport dials "[fd00::11]" as fd00::11 on the env's port: written so
// in one env and "fd00::11" in another, it is one machine.
func sshHostPort(address string, port int) string {
	host, p, err := net.SplitHostPort(address)
	if err != nil {
		host, p = strings.TrimSuffix(strings.TrimPrefix(address, "["), "]"), strconv.Itoa(port)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	}
	if n, err := strconv.Atoi(p); err == nil && n >= 0 {
		p = strconv.Itoa(n)
	}
	return strings.ToLower(net.JoinHostPort(host, p))
}

// validateBotData refuses the bot's own files where a deploy to this
// machine deletes or replaces them: the embedded store (with no Redis) and
// the builds of an artifact.path, in releases/, current or previous of an
// app with a local env. The store would be lost, or replaced by an empty
// one at the next start; a build, with no source left to deploy it again.
// A path through current or previous into one of the app's shared paths
// is shared/'s, and kept: a config shipped in the bot's own release, with
// the default store next to it, is fine once var is shared. Paths are
// compared as written, made absolute as the app's path was: a symlink is
// not followed (Parse does no I/O).
func (c *Config) validateBotData(loc locator, ps *problems) {
	type deployDir struct {
		dir, app, env string
		shared        []string
	}
	var dirs []deployDir
	for _, appName := range c.AppNames() {
		a := c.Apps[appName]
		if a == nil || !path.IsAbs(a.Path) || path.Clean(a.Path) == "/" {
			continue // refused by App.validate
		}
		for _, envName := range a.EnvNames() {
			if e := a.Envs[envName]; e != nil && e.Transport == defaultTransport {
				dirs = append(dirs, deployDir{path.Clean(a.Path), appName, envName, a.Shared})
				break // two local envs of one app are refused already
			}
		}
	}
	// check reports p, shown as shown, at line if it lies where a local
	// deploy deletes or replaces it. Both are made absolute, as a local
	// app's relative path is.
	check := func(line int, key, shown, p string) {
		p, err := filepath.Abs(p)
		if err != nil {
			return
		}
		if abs, err := filepath.Abs(shown); err == nil {
			shown = abs
		}
		for _, d := range dirs {
			place, why := clobberedBy(d.dir, d.shared, p)
			if place == "" {
				continue
			}
			ps.add(line, "%s: %s lies in %s, where apps.%s.environments.%s deploys on this machine: %s; keep the bot's files out of the app's releases/, current and previous (a shared path of the app's, reached through current, is kept)",
				key, shown, place, d.app, d.env, why)
			return
		}
	}
	if c.Store.Redis == nil && c.Store.Path != "" {
		key := "store.path"
		if !loc.has("store", "path") {
			key = "store.path (left out: " + defaultStorePath + " next to the config file)"
		}
		check(loc.line("store", "path"), key, c.Store.Path, c.Store.Path)
	}
	for _, appName := range c.AppNames() {
		a := c.Apps[appName]
		if a == nil || a.Artifact.Path == "" {
			continue
		}
		// The builds' directory: what precedes the first {build} up to
		// its last /, with {app} filled in as every deploy fills it.
		t := strings.ReplaceAll(a.Artifact.Path, "{app}", appName)
		i := strings.Index(t, "{build}")
		if i < 0 {
			continue // refused by App.validate
		}
		j := strings.LastIndex(t[:i], "/")
		if j < 0 {
			continue
		}
		check(loc.line("apps", appName, "artifact", "path"), "apps."+appName+".artifact.path", a.Artifact.Path, t[:j])
	}
}

// clobberedBy returns the place under the deploy directory dir, of an app
// sharing shared, that holds p (clean and absolute) and why a deploy there
// deletes or replaces what it holds; "" when nothing does.
func clobberedBy(dir string, shared []string, p string) (place, why string) {
	const (
		releasesWhy = "releases/ is the deploys': they unpack there and prune every directory past keep_releases, whatever its name"
		linkWhy     = "current and previous are links to releases, which a switch replaces and a prune deletes once old"
	)
	if base := path.Join(dir, "releases"); p == base || within(p, base) {
		return base, releasesWhy
	}
	for _, link := range []string{"current", "previous"} {
		base := path.Join(dir, link)
		if p != base && !within(p, base) {
			continue
		}
		rest := strings.TrimPrefix(p, base+"/")
		for _, s := range shared {
			if p != base && (rest == s || strings.HasPrefix(rest, s+"/")) {
				return "", ""
			}
		}
		return base, linkWhy
	}
	return "", ""
}

// nestedWhy ends the refusal of a deploy directory inside another's on
// one machine. Under the outer one, prune removes every directory of
// releases/ past keep_releases (whatever its name) and stale .tmp-*
// entries, a switch renames a link over current and previous, and shared/
// is the outer app's data; any other place is where its restart, hooks and
// backup run. No nesting is what an operator means, so none is allowed.
const nestedWhy = "an app's deploys prune releases/, replace current and previous and keep shared/ in its directory, and could delete or shadow what a deploy directory inside it holds; give each app a path outside the other's"

// within reports whether dir lies strictly inside parent, both clean and
// absolute: /srv/app/releases/x is inside /srv/app, /srv/application not.
func within(dir, parent string) bool {
	return strings.HasPrefix(dir, strings.TrimSuffix(parent, "/")+"/")
}

// healthPlaceholders are those a health check fills in for every host, on
// top of the host's vars (see deploy's run.vars).
var healthPlaceholders = []string{"{host}", "{address}", "{app}", "{env}", "{build}"}

// validateHealthPlaceholders checks that every host of the app has what
// the health URL and expect name: another placeholder would stay as it
// is, and the check of every deploy would fail only after the hosts
// switched (and be switched back). A health command is not checked: the
// shell's ${VAR}, written $${VAR}, has the same braces.
func validateHealthPlaceholders(loc locator, ps *problems, a *App) {
	for _, t := range []struct{ key, template string }{{"url", a.Health.URL}, {"expect", a.Health.Expect}} {
		reported := map[string]bool{}
		unreadable := false
		for _, envName := range a.EnvNames() {
			for _, h := range a.Envs[envName].Hosts {
				if h == nil {
					continue
				}
				allowed := slices.Clone(healthPlaceholders)
				for k := range h.Vars {
					allowed = append(allowed, "{"+k+"}")
				}
				others := otherPlaceholders(t.template, allowed)
				for _, ph := range others {
					if reported[ph] {
						continue
					}
					reported[ph] = true
					ps.add(loc.line("apps", a.Name, "health", t.key), "apps.%s.health.%s: unknown placeholder %s for host %s of %s: it takes {host}, {address}, {app}, {env}, {build} and the host's vars", a.Name, t.key, ph, h.Name, envName)
				}
				// The host's values may make a sound template a URL
				// that does not parse (an IPv6 address outside brackets,
				// an address with its SSH port before the URL's), which
				// would fail every deploy's check after the switch too.
				if t.key != "url" || len(others) > 0 || unreadable || !isHTTPURL(t.template) {
					continue
				}
				if _, err := url.Parse(healthURLFor(t.template, a, envName, h)); err != nil {
					unreadable = true
					ps.add(loc.line("apps", a.Name, "health", "url"), "apps.%s.health.url: for host %s of %s it is not a valid URL once the host's values are filled in: an IPv6 address goes in brackets (http://[{ip}]:8080/health), and {address} holds the host's SSH port when its address has one (the URL is not shown: it may hold a password)", a.Name, h.Name, envName)
				}
			}
		}
	}
}

// healthURLFor is the health URL template tmpl as the deploys of app a in
// env fill it in for host h (see deploy's run.vars), with 1 as the build:
// a build id holds nothing that changes how a URL reads.
func healthURLFor(tmpl string, a *App, env string, h *Host) string {
	pairs := make([]string, 0, 2*(len(h.Vars)+len(healthPlaceholders)))
	for k, v := range h.Vars {
		pairs = append(pairs, "{"+k+"}", v)
	}
	// The deploy's own values first: of two pairs for one placeholder
	// the first wins, as they win over a var of the same name there.
	pairs = append([]string{"{host}", h.Name, "{address}", h.Address, "{app}", a.Name, "{env}", env, "{build}", "1"}, pairs...)
	return strings.NewReplacer(pairs...).Replace(tmpl)
}

// validateShared checks the paths linked from shared/ into each release:
// they must stay inside both directories.
func validateShared(loc locator, ps *problems, a *App) {
	first := map[string]int{}
	for i, s := range a.Shared {
		line := loc.line("apps", a.Name, "shared", i)
		p := fmt.Sprintf("apps.%s.shared[%d]", a.Name, i)
		switch j, dup := first[s]; {
		case s == "":
			ps.add(line, "%s: must not be empty", p)
		case strings.HasPrefix(s, "/"):
			ps.add(line, "%s: must be relative to the release, got %q", p, s)
		case s == ".." || strings.HasPrefix(s, "../") || strings.HasSuffix(s, "/..") || strings.Contains(s, "/../"):
			ps.add(line, "%s: must not contain .., got %q", p, s)
		case path.Clean(s) != s || s == ".":
			ps.add(line, "%s: must be a clean path like %q, got %q", p, path.Clean(s), s)
		case dup:
			ps.add(line, "%s: %q is listed twice (first at line %d)", p, s, loc.line("apps", a.Name, "shared", j))
		default:
			first[s] = i
		}
	}
}

func (e *Env) validate(loc locator, ps *problems, app string) {
	p := "apps." + app + ".environments." + e.Name
	at := func(path ...any) int {
		return loc.line(append([]any{"apps", app, "environments", e.Name}, path...)...)
	}

	e.validateFleet(loc, ps, app)
	e.validateWindow(loc, ps, app)
	if !namePattern.MatchString(e.Name) {
		ps.add(at(), "environment name %q %s", e.Name, nameRule)
	}
	switch e.Transport {
	case "local", "ssh":
	default:
		ps.add(at("transport"), "%s.transport: want local or ssh, got %q", p, e.Transport)
	}
	switch {
	case len(e.Hosts) == 0:
		ps.add(at("hosts"), "%s.hosts: at least one host is required", p)
	case e.Transport == "local" && len(e.Hosts) > 1:
		ps.add(at("hosts"), "%s.hosts: transport local deploys to this machine and takes one host, got %d", p, len(e.Hosts))
	}
	first := map[string]int{}
	for i, h := range e.Hosts {
		hp := fmt.Sprintf("%s.hosts[%d]", p, i)
		if h == nil {
			ps.add(at("hosts", i), "%s: empty host", hp)
			continue
		}
		key := strings.ToLower(h.Name) // host names are case-insensitive
		switch j, dup := first[key]; {
		case h.Name == "" && h.Address == "":
			// The address defaults to the name: the transport would have
			// nothing to dial, and no name to say so with.
			ps.add(at("hosts", i), "%s: neither name nor address: a host needs a name, which is also its address when address is left out (web1, web1=10.0.0.11 or {name: web1, address: 10.0.0.11})", hp)
		case h.Name == "":
			ps.add(at("hosts", i), "%s: name is required", hp)
		case !hostPattern.MatchString(h.Name):
			ps.add(at("hosts", i), "%s: host name %q %s", hp, h.Name, hostRule)
		case dup:
			ps.add(at("hosts", i), "%s: duplicate host name %q (first at line %d)", hp, h.Name, at("hosts", j))
		default:
			first[key] = i
		}
		if e.Transport == "ssh" && h.Address != "" && !sshAddressOK(h.Address) {
			ps.add(at("hosts", i), "%s: address %q: %s", hp, h.Address, sshAddressRule)
		}
	}
	if e.Parallel < 1 {
		ps.add(at("parallel"), "%s.parallel: must be at least 1, got %d", p, e.Parallel)
	}
	if e.BatchSize < 1 {
		ps.add(at("batch_size"), "%s.batch_size: must be at least 1, got %d", p, e.BatchSize)
	}
	if e.StepTimeout <= 0 {
		ps.add(at("step_timeout"), "%s.step_timeout: must be more than 0, got %s", p, e.StepTimeout)
	}
	// Left out, it is step_timeout's, whose own check speaks for it.
	if e.BackupTimeout <= 0 && loc.has("apps", app, "environments", e.Name, "backup_timeout") {
		ps.add(at("backup_timeout"), "%s.backup_timeout: must be more than 0, got %s", p, e.BackupTimeout)
	}
	if _, err := ParseSize(e.MinFreeSpace); err != nil {
		ps.add(at("min_free_space"), "%s.min_free_space: %v", p, err)
	}
}

// artifactPlaceholders are those a deploy fills in in artifact.url and
// artifact.path (see artifact.Source.Location).
var artifactPlaceholders = []string{"{app}", "{build}"}

// otherPlaceholders lists, once each, the placeholders of template that
// are not among allowed.
func otherPlaceholders(template string, allowed []string) []string {
	var out []string
	for _, ph := range placeholderPattern.FindAllString(template, -1) {
		if !slices.Contains(allowed, ph) && !slices.Contains(out, ph) {
			out = append(out, ph)
		}
	}
	return out
}

// redisURLParses reports whether s parses as a URL with nothing after its
// host that belongs to its user info (see redact.RedisURLSplit), which the
// summary would show, and the store would refuse it or connect elsewhere.
func redisURLParses(s string) bool {
	u, err := url.Parse(s)
	return err == nil && !redact.RedisURLSplit(u)
}

// redisURLProblem says why s, which redisURLParses refused, is not a
// valid URL. A URL without an @ has no user info, and so no password:
// net/url's reason, which quotes the part it could not read, is shown.
// Otherwise nothing of it is: net/url refuses a password holding any
// character user info may not hold, not only one that splits the URL.
func redisURLProblem(s string) string {
	var ue *url.Error
	if _, err := url.Parse(s); !strings.Contains(s, "@") && errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "percent-encode a password holding anything but letters, digits and -._~!$&'()*+,;=:@ (such as / ? # % ^ or a space) (the value is not shown: it may hold a password)"
}

// isHostPort reports whether s is host:port with a port the network takes:
// a number up to 65535, or a service name.
// oneListener reports whether TCP listeners on a and b, two valid
// host:port, would need one socket: the same port, and the same address
// or a wildcard on either side. Go listens on a wildcard host (none,
// 0.0.0.0 or ::) on every address of both families, so it takes the port
// of any other host; localhost is 127.0.0.1, the address Go listens on for
// it. Port 0 is a new free port at each listen and never meets another.
func oneListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return false
	}
	na, errA := net.LookupPort("tcp", pa)
	nb, errB := net.LookupPort("tcp", pb)
	if errA != nil || errB != nil || na != nb || na == 0 {
		return false
	}
	ka, kb := listenHost(ha), listenHost(hb)
	return ka == "" || kb == "" || ka == kb
}

// listenHost is host as a listener takes it: "" for every address, an IP
// address in one spelling, a name in lower case.
func listenHost(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if ip.IsUnspecified() {
			return ""
		}
		return ip.String()
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" {
		return "127.0.0.1"
	}
	return host
}

func isHostPort(s, network string) bool {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	_, err = net.LookupPort(network, port)
	return err == nil
}

// splitPassword reports whether s, a template of a URL that parses, holds
// a password cut in two by an unescaped /, ? or #: net/url ends the user
// info's authority there, reads the digits before it as the port (of a
// host named as the user, or of none), and the rest of the password as
// the path, the query or the fragment, up to the @ that ended it
// (https://ci:1234/5678@host is port 1234 of host ci, path /5678@host).
// The deploy would fetch from another host, and its messages, which hide
// only user info and the query, would show the password. So an @ after
// the authority of a URL without user info but with a port (or without a
// host) is refused, except where a URL holds one of its own: at the start
// of a path segment (a scoped package, /@acme/web) or in a query value.
func splitPassword(s string) bool {
	u, err := url.Parse(filled(s))
	if err != nil || u.User != nil || (u.Port() == "" && u.Hostname() != "") {
		return false
	}
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		if strings.Index(seg, "@") > 0 {
			return true
		}
	}
	for pair := range strings.SplitSeq(u.RawQuery, "&") {
		if key, _, _ := strings.Cut(pair, "="); strings.Contains(key, "@") {
			return true
		}
	}
	return strings.Contains(u.EscapedFragment(), "@")
}

// splitPasswordAdvice ends the refusal of a URL splitPassword refuses.
const splitPasswordAdvice = "percent-encode the password: one holding an unescaped / ? or # is read in part as the port and then as the path, the query or the fragment (https://ci:1234/5678@host is port 1234 of host ci), which messages would show; write / as %2F, ? as %3F, # as %23 (an @ of the path itself as %40) (the value is not shown: it may hold a password)"

// badPort reports whether s, a template, names a port no TCP connection can
// reach (0, or past 65535): url.Parse takes any digits, and the mistake
// would otherwise show only when the bot first dials it, as a deploy's
// failed download or health check, or a Slack the bot starts without. It
// is called once splitPassword found no password read as the port.
func badPort(s string) bool {
	u, err := url.Parse(filled(s))
	if err != nil || u.Port() == "" {
		return false
	}
	n, err := strconv.Atoi(u.Port())
	return err != nil || n < 1 || n > 65535
}

// badPortProblem is the refusal of a URL badPort refuses. The port is not
// shown: the URL may be a secret's.
const badPortProblem = "its port is not a TCP port (1 to 65535)"

// hasUserInfo reports whether s, a URL that parses, has user info.
func hasUserInfo(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.User != nil
}

// unusedUserInfo ends the refusal of user info in an API URL the bot
// never sends it to: credentials written there (a proxy's) would go
// unused without a word, and the proxy would refuse every request. key is
// the token the requests carry instead.
func unusedUserInfo(key string) string {
	return "remove the user info (user:password@ or token@): the bot never sends it, its requests carry " + key + " alone (the value is not shown: it may hold a password)"
}

// filled is the template s with its placeholders filled in, to read as a
// URL: 1 for each, but ::1 for one in brackets, where an IPv6 address is
// written in a URL's host (a 1 there is no URL's).
func filled(s string) string {
	return placeholderPattern.ReplaceAllString(bracketedPattern.ReplaceAllString(s, "[::1]"), "1")
}

// isHTTPURL reports whether s, a template, is an absolute http(s) URL once
// its placeholders are filled in.
func isHTTPURL(s string) bool {
	u, err := url.Parse(filled(s))
	if err != nil || u.Host == "" {
		return false
	}
	return u.Scheme == "http" || u.Scheme == "https"
}
