package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// UnreadableFiles lists the files the config names that this machine
// cannot open: SSH keys and known_hosts, the Redis CA, and a missing
// embedded store it could not create. The bot refuses to
// start without them, but a config is often checked where it is not run
// (in CI, without the secrets), so `bot check-config` warns rather than
// fails. Each line names the key and the error; a file named by several
// envs is listed once. Keys are opened, never read.
func (c *Config) UnreadableFiles() []string {
	var out []string
	seen := map[string]bool{}
	check := func(key, path string) {
		if path == "" || seen[path] {
			return
		}
		seen[path] = true
		f, err := os.Open(path)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", key, err))
			return
		}
		f.Close()
	}
	if r := c.Store.Redis; r != nil {
		check("store.redis.ca_file", r.CAFile)
	} else if err := creatable(c.Store.Path); err != nil {
		out = append(out, "store.path: "+err.Error())
	}
	for _, name := range c.AppNames() {
		a := c.Apps[name]
		for _, env := range a.EnvNames() {
			s := a.Envs[env].SSH
			if s == nil {
				continue
			}
			p := fmt.Sprintf("apps.%s.environments.%s.ssh", name, env)
			check(p+".key_file", s.KeyFile)
			check(p+".known_hosts", s.KnownHosts)
		}
	}
	return out
}

// ExposedKeyFiles lists the SSH private keys the config names that users
// other than the file's owner may read, each with its key path and mode:
// OpenSSH refuses such a key ("UNPROTECTED PRIVATE KEY FILE"), and whoever
// can read it can log in to every host of the env. The bot uses them all
// the same (a key mounted from a secret store may carry its group's read
// bit), and says so: `bot check-config` and the start-up log warn of each.
// A key that cannot be opened is UnreadableFiles' to report.
func (c *Config) ExposedKeyFiles() []string {
	var out []string
	seen := map[string]bool{}
	for _, name := range c.AppNames() {
		a := c.Apps[name]
		for _, env := range a.EnvNames() {
			s := a.Envs[env].SSH
			if s == nil || s.KeyFile == "" || seen[s.KeyFile] {
				continue
			}
			seen[s.KeyFile] = true
			info, err := os.Stat(s.KeyFile)
			if err != nil || info.Mode().Perm()&0o077 == 0 {
				continue
			}
			out = append(out, fmt.Sprintf("apps.%s.environments.%s.ssh.key_file: %s may be read by others than its owner (mode %04o): chmod 600 %s", name, env, s.KeyFile, info.Mode().Perm(), s.KeyFile))
		}
	}
	return out
}

// creatable says why the bot could not create a missing embedded store
// at path, as its first start would: the nearest directory that exists
// on the way is a file, or this user may not write it. A store that
// exists is the store's own checks' to judge.
func creatable(path string) error {
	if path == "" {
		return nil
	}
	// ENOTDIR: a file where a directory on the way should be.
	missing := func(err error) bool { return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) }
	if _, err := os.Lstat(path); !missing(err) {
		return nil
	}
	dir := filepath.Dir(path)
	for {
		info, err := os.Stat(dir)
		switch {
		case missing(err) && filepath.Dir(dir) != dir:
			dir = filepath.Dir(dir)
			continue
		case err != nil:
			return fmt.Errorf("cannot create %s: %w", path, err)
		case !info.IsDir():
			return fmt.Errorf("cannot create %s: %s is not a directory", path, dir)
		}
		if err := syscall.Access(dir, 0o2|0o1); err != nil { // W_OK|X_OK
			return fmt.Errorf("cannot create %s: this user may not write %s: %w", path, dir, err)
		}
		return nil
	}
}
