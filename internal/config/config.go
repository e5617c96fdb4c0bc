// Package config loads Switchman's one YAML configuration file: decoded
// strictly, with ${VAR} expansion for secrets, and validated as a whole so
// that every problem is reported at once with its file:line.
package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// BotUser is the name the bot acts under by itself: the owner of the lock
// it takes after a rollback, the requester of its automatic rollbacks and
// the user of its schedules' audit entries. No configured user may have
// it (under users, admins, deployers, groups or bot.console_user), or that
// user would pass the bot's own locks.
const BotUser = "switchman"

// IsBotUser reports whether name is the bot's own name, whatever its case:
// a chat platform or an operator may write it either way.
func IsBotUser(name string) bool { return strings.EqualFold(name, BotUser) }

// botUserWhy ends a refusal of the bot's own name as a user's.
const botUserWhy = "it owns the locks the bot takes (after a rollback) and the audit entries of what it does by itself; name the person or account otherwise"

// Config is the whole configuration. The zero values of optional fields are
// sensible defaults, filled in by Load.
type Config struct {
	Bot   Bot             `yaml:"bot"`
	Store Store           `yaml:"store"`
	Users map[string]User `yaml:"users"`
	// Admins lists users allowed everything: a shorthand for an access
	// entry of the built-in role admin.
	Admins []string `yaml:"admins"`
	// Deployers lists users allowed deploy, rollback, cancel, lock,
	// unlock, confirm and train on every app and env: a shorthand for an
	// access entry of the built-in role deployer.
	Deployers []string `yaml:"deployers"`
	// Groups name sets of users.
	Groups map[string][]string `yaml:"groups"`
	// Roles map a role name to the actions it grants; admin and deployer
	// are built in unless redefined here.
	Roles map[string][]string `yaml:"roles"`
	// Access gives roles to users and groups on app/env patterns.
	Access []Access        `yaml:"access"`
	Apps   map[string]*App `yaml:"apps"`
	// Sentry, when set, gets releases and deploys and is watched after them.
	Sentry *Sentry `yaml:"sentry"`
	// Trains are deploy trains by name.
	Trains  map[string]*Train `yaml:"trains"`
	Slack   Slack             `yaml:"slack"`
	Discord Discord           `yaml:"discord"`

	// File is the path the config was loaded from (not decoded).
	File string `yaml:"-"`
	// inline is what InlineSecrets returns.
	inline []string
}

// Bot holds process-wide settings.
type Bot struct {
	// Name is what the bot answers to in mentions ("@switchman deploy …").
	Name string `yaml:"name"` // default "switchman"
	// ConsoleUser is the user the console adapter acts as; default: the OS
	// user, unless that is BotUser (the console then refuses to start).
	ConsoleUser string `yaml:"console_user"`
	// Listen is the address of `bot serve`; default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// MetricsListen, when set, is where `bot serve` serves /metrics (and
	// /healthz), instead of /metrics on Listen beside the chat endpoints.
	MetricsListen string `yaml:"metrics_listen"`
	// LogLevel is debug, info, warn or error; default info.
	LogLevel string `yaml:"log_level"`
	// LeaseTTL is how long a deploy's app+env lease (and the scheduler's,
	// and an error watch's) lives without renewal: the time within which
	// another replica notices that the one running a deploy, or a watch,
	// died. Default 30s.
	LeaseTTL Duration `yaml:"lease_ttl"`
	// StatsD, when set (host:port), receives a deploy marker (a counter
	// and an event) for every finished deploy and rollback.
	StatsD string `yaml:"statsd"`
}

// Store selects the state store.
type Store struct {
	// Path is the embedded store's file; default "./var/switchman.db"
	// relative to the config file's directory.
	Path string `yaml:"path"`
	// Redis, when set, is the shared store of several replicas, used
	// instead of the embedded file.
	Redis *Redis `yaml:"redis"`
	// Retention bounds how long records and audit entries are kept.
	Retention Retention `yaml:"retention"`
}

// Retention is how long the store keeps what it is given; zero keeps it
// forever.
type Retention struct {
	// Records: finished deploy and rollback records that started longer
	// ago are deleted, except the newest KeepRecords of each app/env.
	Records Duration `yaml:"records"`
	// Audit: audit entries older than this are deleted.
	Audit Duration `yaml:"audit"`
}

// KeepRecords is how many records of each app/env are kept whatever their
// age: rollbacks, status and the next deploy read the recent history.
const KeepRecords = 100

// minRetention is the shortest retention: a typo such as 30m would
// otherwise empty the history within the hour.
const minRetention = 24 * time.Hour

// Redis is a Redis server shared by the bot's replicas.
type Redis struct {
	// URL is redis://[user:password@]host:port[/db], or rediss:// for TLS;
	// take it from the environment: ${REDIS_URL}.
	URL string `yaml:"url"`
	// Prefix starts every key; default "switchman:".
	Prefix string `yaml:"prefix"`
	// CAFile is a PEM file of CAs to trust for rediss:// (default: the
	// system's).
	CAFile string `yaml:"ca_file"`
}

// User maps a Switchman user to chat identities.
type User struct {
	Slack   string `yaml:"slack"`
	Discord string `yaml:"discord"`
}

// App is one deployable application.
type App struct {
	Name string `yaml:"-"` // the key in Config.Apps

	// DefaultEnv is used when a command names no env. Required when the
	// app has more than one env; with one env it defaults to that env.
	DefaultEnv string   `yaml:"default_env"`
	Artifact   Artifact `yaml:"artifact"`
	// Path is the deploy directory on every host: releases/, current,
	// previous and shared/ live under it.
	Path         string   `yaml:"path"`
	KeepReleases int      `yaml:"keep_releases"` // default 5, minimum 2
	Shared       []string `yaml:"shared"`        // relative paths linked from shared/ into each release
	// Delivery is push (the bot streams the artifact to the hosts) or
	// pull (each host downloads it from the artifact URL); default push.
	Delivery string `yaml:"delivery"`
	// Recompress is auto (push sends a gzip artifact to hosts as zstd,
	// which they unpack with a fraction of the CPU, when every host of the
	// wave has zstd) or never; default auto.
	Recompress string `yaml:"recompress"`
	// Restart runs on each host after `current` switched, in Path.
	Restart    string     `yaml:"restart"`
	Migrations Migrations `yaml:"migrations"`
	Health     Health     `yaml:"health"`
	// Envs are keyed by env name.
	Envs map[string]*Env `yaml:"environments"`
}

// Artifact says where builds come from. Exactly one of URL and Path is set;
// both are templates with {app} and {build}, and no other placeholder. A
// checksum file is looked for at the same location plus ".sha256".
type Artifact struct {
	URL  string `yaml:"url"`
	Path string `yaml:"path"` // relative paths are relative to the config file's directory
	// Checksum is required (a build without a published checksum file is
	// refused) or optional (such a build is checked for its structure
	// only); default required.
	Checksum string `yaml:"checksum"`
	// MaxUnpacked bounds what a build's files hold once unpacked, as a
	// size ("20GiB", "500MB", "0" for no limit); default
	// DefaultMaxUnpacked. A few hundred KB of compressed zeros unpack to
	// terabytes, on every host.
	MaxUnpacked string `yaml:"max_unpacked"`
	// MaxEntries bounds a build's entries (files, directories and links;
	// 0: no limit); default DefaultMaxEntries. Empty files count nothing
	// towards MaxUnpacked, and a few hundred MB of them compressed would
	// take every inode of every host's disk.
	MaxEntries int `yaml:"max_entries"`
}

// DefaultMaxUnpacked is artifact.max_unpacked when the config has none.
const DefaultMaxUnpacked = "20GiB"

// DefaultMaxEntries is artifact.max_entries when the config has none: a
// few times the files of a release with a large node_modules.
const DefaultMaxEntries = 1_000_000

// ChecksumOptional reports whether a build without a published checksum
// may be deployed.
func (a Artifact) ChecksumOptional() bool { return a.Checksum == "optional" }

// MaxUnpackedBytes is MaxUnpacked in bytes (0: no limit). Validation
// refuses a size it cannot read.
func (a Artifact) MaxUnpackedBytes() int64 {
	n, _ := ParseSize(a.MaxUnpacked)
	return n
}

// DefaultMinFreeSpace is an env's min_free_space when the config has
// none: room for the running app's logs and temporary files.
const DefaultMinFreeSpace = "256MiB"

// MinFreeSpaceBytes is MinFreeSpace in bytes (0: no check). Validation
// refuses a size it cannot read.
func (e Env) MinFreeSpaceBytes() int64 {
	n, _ := ParseSize(e.MinFreeSpace)
	return n
}

// sizeUnits are the units ParseSize takes, by suffix: decimal and binary
// prefixes as people write them.
var sizeUnits = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseSize reads a size: a whole number of bytes, or one followed by a
// unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB).
func ParseSize(size string) (int64, error) {
	s := strings.TrimSpace(size)
	mult := int64(1)
	for _, u := range sizeUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("want a size such as 20GiB, 500MB or 0, got %q", size)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large", size)
	}
	return n * mult, nil
}

// Migrations are the app's schema migration commands, run on a host in the
// new release's directory.
type Migrations struct {
	// List prints pending migrations, one per line (empty output: none).
	List string `yaml:"list"`
	// Run applies them.
	Run string `yaml:"run"`
}

// Health is the post-restart check: an HTTP URL polled from the bot or a
// command run on the host; both are templates with {host}, {build}, {app},
// {env} and the host's vars.
type Health struct {
	URL     string `yaml:"url"`
	Command string `yaml:"command"`
	// Expect, when set, must appear in the URL's response body (a template too).
	Expect   string   `yaml:"expect"`
	Timeout  Duration `yaml:"timeout"`  // default 30s: how long to keep retrying
	Interval Duration `yaml:"interval"` // default 500ms between tries
}

// Env is one environment of an app: its hosts and how to reach them.
type Env struct {
	Name string `yaml:"-"` // the key in App.Envs

	// Transport is "local" (this machine) or "ssh"; default local.
	Transport string  `yaml:"transport"`
	Hosts     []*Host `yaml:"hosts"`
	// Parallel bounds how many hosts receive the artifact at once; default 10.
	Parallel int `yaml:"parallel"`
	// BatchSize is how many hosts switch at once; default 1.
	BatchSize int `yaml:"batch_size"`
	// StepTimeout bounds every host step; default 5m.
	StepTimeout Duration `yaml:"step_timeout"`
	// MinFreeSpace is the free space a deploy leaves at least on the
	// file system of the app's path/releases on every host it delivers
	// to (a size, see ParseSize); "0" turns the check off, and the check
	// of free inodes with it. Default DefaultMinFreeSpace.
	MinFreeSpace string `yaml:"min_free_space"`
	// Sentry maps the env to a Sentry project and watches it after deploys.
	Sentry *EnvSentry `yaml:"sentry"`
	// Window limits when deploys may run; nil: always.
	Window *Window `yaml:"window"`
	// SSH says how to reach the hosts of an ssh env.
	SSH *SSH `yaml:"ssh"`
	// Canary is how many hosts switch first, alone, before the rest.
	Canary int `yaml:"canary"`
	// MaxFailures is how many hosts may fail (a count or a percentage)
	// before the deploy stops and switches back; default 0.
	MaxFailures MaxFailures `yaml:"max_failures"`
	// Migrate is the migration policy: auto (run them before any host
	// switches), ask (pause until the requester confirms) or never
	// (refuse a deploy with pending migrations); default auto.
	Migrate string `yaml:"migrate"`
	// ConfirmTimeout bounds the wait for a confirmation; default 15m.
	ConfirmTimeout Duration `yaml:"confirm_timeout"`
	// Backup runs on the first host, in the app's path, before
	// migrations run (a pg_dump into shared/, say).
	Backup string `yaml:"backup"`
	// BackupTimeout bounds the backup, which dumps the whole database
	// and may take far longer than any other step; default StepTimeout.
	BackupTimeout Duration `yaml:"backup_timeout"`
	Pool          *Pool    `yaml:"pool"`
	Hooks         Hooks    `yaml:"hooks"`
	// Channel is where deploy progress is posted (a chat channel id or
	// name); default: the channel the command came from.
	Channel string `yaml:"channel"`
}

// Host is one machine of an env. In YAML a host is either a mapping or a
// plain string "name" (address = name) or "name=address".
type Host struct {
	Name    string            `yaml:"name"`
	Address string            `yaml:"address"`
	Vars    map[string]string `yaml:"vars"`
}

// Duration is a time.Duration written as "30s", "5m", "1h30m" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
