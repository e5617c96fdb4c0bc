package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults for optional settings; a key written with an explicit value
// (even 0) is validated rather than defaulted.
const (
	defaultBotName      = "switchman"
	defaultListen       = "127.0.0.1:8080"
	defaultLogLevel     = "info"
	defaultStorePath    = "var/switchman.db"
	defaultKeepReleases = 5
	defaultTransport    = "local"
	defaultParallel     = 10
	defaultBatchSize    = 1

	defaultHealthTimeout  = Duration(30 * time.Second)
	defaultHealthInterval = Duration(500 * time.Millisecond)
	defaultStepTimeout    = Duration(5 * time.Minute)
	// defaultKeepWarm keeps a host's connection through the first minutes
	// after a deploy, when a rollback is most likely and must be quick.
	defaultKeepWarm = Duration(10 * time.Minute)
	// defaultJumpStartups stays under the 10 connections that have not
	// logged in yet past which OpenSSH's sshd drops new ones at random
	// (MaxStartups 10:30:100), with room for a person's login.
	defaultJumpStartups = 8
)

// Load reads the configuration file at path, expanding environment
// variables from the process environment. See Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse decodes and validates a configuration. name is the file's path: it
// prefixes every problem, and relative paths in the configuration (the
// store and artifact paths) are resolved against its directory. env looks
// up the variables of ${VAR} and ${VAR:-default} references; nil means
// none is set.
//
// Parse does no I/O. Anything wrong with the content is returned as one
// *Error listing every problem with its line; the *Config is then nil.
func Parse(name string, data []byte, env func(string) (string, bool)) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	ps := newProblems(name)

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		ps.addYAML(err.Error(), false)
		return nil, ps.err()
	}
	if line, ok := secondDocument(data); ok {
		ps.add(line, "a second YAML document (after ---): the bot reads one; put its keys in the first")
		return nil, ps.err()
	}
	if len(doc.Content) == 0 {
		ps.add(0, "the file is empty: at least one app is required")
		return nil, ps.err()
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		ps.add(root.Line, "the top level must be a mapping of keys (bot, apps, …), got %s", kindName(root))
		return nil, ps.err()
	}

	inline := inlineSecrets(name, root) // before expansion hides where they came from
	expandNode(root, env, ps)
	checkNode(root, reflect.TypeFor[Config](), "", ps)
	var c Config
	if err := doc.Decode(&c); err != nil {
		if te, ok := err.(*yaml.TypeError); ok {
			for _, msg := range te.Errors {
				ps.addYAML(msg, true)
			}
		} else {
			ps.addYAML(err.Error(), true)
		}
	}

	c.File = name
	c.inline = inline
	loc := locator{root}
	c.setDefaults(loc, filepath.Dir(name))
	ps.late = true
	c.validate(loc, ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return &c, nil
}

// secondDocument returns the line of the content of a second YAML
// document in data, which yaml.Unmarshal drops without a word: the keys
// there (admins, access entries, windows) would go unused. An empty
// document (a --- that ends the file) holds nothing to drop. The line is 0
// when the document does not parse.
func secondDocument(data []byte) (int, bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first yaml.Node
	if err := dec.Decode(&first); err != nil {
		return 0, false
	}
	for {
		var next yaml.Node
		if err := dec.Decode(&next); errors.Is(err, io.EOF) {
			return 0, false
		} else if err != nil {
			// One that does not parse is not empty either.
			return 0, true
		}
		for _, n := range next.Content {
			if n.ShortTag() != "!!null" || n.Value != "" {
				return n.Line, true
			}
		}
	}
}

// setDefaults names apps and envs after their keys and fills in what the
// file leaves out. Numbers and durations are defaulted only when their key
// is absent or null, so an explicit 0 is reported rather than replaced.
func (c *Config) setDefaults(loc locator, dir string) {
	c.Bot.Name = or(c.Bot.Name, defaultBotName)
	c.Bot.Listen = or(c.Bot.Listen, defaultListen)
	c.Bot.LogLevel = strings.ToLower(or(c.Bot.LogLevel, defaultLogLevel))
	if !loc.has("bot", "lease_ttl") {
		c.Bot.LeaseTTL = Duration(30 * time.Second)
	}
	c.Store.Path = resolve(dir, or(c.Store.Path, defaultStorePath))
	if r := c.Store.Redis; r != nil && r.CAFile != "" {
		r.CAFile = resolve(dir, r.CAFile)
	}
	c.setChatDefaults()

	for name, t := range c.Trains {
		if t == nil {
			t = &Train{}
			c.Trains[name] = t
		}
		t.Name = name
		t.Empty = or(t.Empty, "note")
		if !loc.has("trains", name, "grace") {
			t.Grace = Duration(15 * time.Minute)
		}
		if !loc.has("trains", name, "deploy_timeout") {
			t.DeployTimeout = Duration(DefaultTrainDeployTimeout)
		}
	}
	for name, a := range c.Apps {
		if a == nil {
			a = &App{}
			c.Apps[name] = a
		}
		a.Name = name
		at := func(key ...string) bool { return loc.has(append([]string{"apps", name}, key...)...) }
		if a.Artifact.Path != "" {
			a.Artifact.Path = resolve(dir, a.Artifact.Path)
		}
		// Fail closed: a build nobody vouched for is not deployed unless
		// the app says so.
		a.Artifact.Checksum = or(a.Artifact.Checksum, "required")
		a.Artifact.MaxUnpacked = or(a.Artifact.MaxUnpacked, DefaultMaxUnpacked)
		if !at("artifact", "max_entries") {
			a.Artifact.MaxEntries = DefaultMaxEntries
		}
		a.Delivery = or(a.Delivery, "push")
		a.Recompress = or(a.Recompress, "auto")
		if !at("keep_releases") {
			a.KeepReleases = defaultKeepReleases
		}
		if !at("health", "timeout") {
			a.Health.Timeout = defaultHealthTimeout
		}
		if !at("health", "interval") {
			a.Health.Interval = defaultHealthInterval
		}
		if a.DefaultEnv == "" && len(a.Envs) == 1 {
			for env := range a.Envs {
				a.DefaultEnv = env
			}
		}
		for envName, e := range a.Envs {
			if e == nil {
				e = &Env{}
				a.Envs[envName] = e
			}
			e.Name = envName
			at := func(key ...string) bool {
				return loc.has(append([]string{"apps", name, "environments", envName}, key...)...)
			}
			e.Transport = or(e.Transport, defaultTransport)
			if !at("parallel") {
				e.Parallel = defaultParallel
			}
			if !at("batch_size") {
				e.BatchSize = defaultBatchSize
			}
			if !at("step_timeout") {
				e.StepTimeout = defaultStepTimeout
			}
			if !at("backup_timeout") {
				e.BackupTimeout = e.StepTimeout
			}
			e.Migrate = or(e.Migrate, "auto")
			e.MinFreeSpace = or(e.MinFreeSpace, DefaultMinFreeSpace)
			if !at("confirm_timeout") {
				e.ConfirmTimeout = Duration(15 * time.Minute)
			}
			if s := e.SSH; s != nil {
				if !at("ssh", "port") {
					s.Port = 22
				}
				if !at("ssh", "connect_timeout") {
					s.ConnectTimeout = Duration(10 * time.Second)
				}
				if !at("ssh", "keepalive") {
					s.KeepAlive = Duration(5 * time.Second)
				}
				if !at("ssh", "keep_warm") {
					s.KeepWarm = Duration(defaultKeepWarm)
				}
				if s.Jump != nil && !at("ssh", "jump", "max_startups") {
					s.Jump.MaxStartups = defaultJumpStartups
				}
				if s.KnownHosts != "" {
					s.KnownHosts = resolve(dir, s.KnownHosts)
				}
				if s.KeyFile != "" {
					s.KeyFile = resolve(dir, s.KeyFile)
				}
			}
			if p := e.Pool; p != nil && p.HAProxy != nil {
				p.HAProxy.Server = or(p.HAProxy.Server, "{host}")
				if p.HAProxy.DrainTimeout == 0 {
					p.HAProxy.DrainTimeout = Duration(30 * time.Second)
				}
				if p.HAProxy.ReadyTimeout == 0 {
					p.HAProxy.ReadyTimeout = Duration(10 * time.Second)
				}
			}
			for _, h := range e.Hosts {
				if h != nil {
					h.Address = or(h.Address, h.Name)
				}
			}
		}
		// An app deployed only to this machine may live next to the
		// config (the demo does); hosts reached over SSH need an absolute
		// path, which validation checks.
		if a.Path != "" && !path.IsAbs(a.Path) && onlyLocal(a) {
			if abs, err := filepath.Abs(resolve(dir, a.Path)); err == nil {
				a.Path = abs
			}
		}
	}
}

func onlyLocal(a *App) bool {
	for _, e := range a.Envs {
		if e.Transport != defaultTransport {
			return false
		}
	}
	return len(a.Envs) > 0
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// resolve makes a relative path relative to dir, the config file's
// directory. Placeholders such as {build} are ordinary path elements to
// filepath and survive.
func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// locator finds where a decoded value was written, for messages.
type locator struct {
	root *yaml.Node // the top-level mapping
}

// line returns the line of the key at path (a string is a mapping key, an
// int a list index). When the path ends early, it returns the line of the
// deepest part that exists, which is where a missing key belongs; 0 when
// nothing does.
func (l locator) line(path ...any) int {
	line, _ := l.find(path...)
	return line
}

// has reports whether path exists with a non-null value.
func (l locator) has(path ...string) bool {
	p := make([]any, len(path))
	for i, s := range path {
		p[i] = s
	}
	_, n := l.find(p...)
	return n != nil && !isNull(n)
}

// find returns the line of the deepest part of path that exists, and the
// value node at path or nil.
func (l locator) find(path ...any) (int, *yaml.Node) {
	n, line := l.root, 0
	for _, p := range path {
		n = deref(n)
		switch p := p.(type) {
		case string:
			k, v := lookup(n, p)
			if k == nil {
				return line, nil
			}
			line, n = k.Line, v
		case int:
			if n.Kind != yaml.SequenceNode || p < 0 || p >= len(n.Content) {
				return line, nil
			}
			n = n.Content[p]
			line = n.Line
		default:
			panic(fmt.Sprintf("config: locator path element %T", p))
		}
	}
	return line, deref(n)
}

// lookup returns the key and value nodes of key in mapping n, looking into
// merged mappings ("<<: *anchor") when n has no such key itself.
func lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	return lookupDepth(n, key, 0)
}

func lookupDepth(n *yaml.Node, key string, depth int) (k, v *yaml.Node) {
	if n.Kind != yaml.MappingNode || depth > 10 { // an anchor may merge itself
		return nil, nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn := n.Content[i]
		switch {
		case kn.Kind != yaml.ScalarNode:
		case kn.ShortTag() == "!!merge":
			merges = append(merges, n.Content[i+1])
		case kn.Value == key:
			return kn, n.Content[i+1]
		}
	}
	for _, m := range merges {
		m = deref(m)
		if m.Kind == yaml.SequenceNode {
			for _, c := range m.Content {
				if k, v := lookupDepth(deref(c), key, depth+1); k != nil {
					return k, v
				}
			}
			continue
		}
		if k, v := lookupDepth(m, key, depth+1); k != nil {
			return k, v
		}
	}
	return nil, nil
}

// deref follows an alias to its anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}
