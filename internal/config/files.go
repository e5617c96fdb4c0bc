package config

import (
	"fmt"
	"os"
)

// UnreadableFiles lists the files the config names that this machine
// cannot open: SSH keys and known_hosts, and the Redis CA (a missing
// embedded store the bot could not create is embedded.Check's to say,
// in the bot's own words). The bot refuses to
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
