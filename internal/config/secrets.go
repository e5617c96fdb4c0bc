package config

import (
	"fmt"
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"
)

// SecretValues returns the values of the keys that hold secrets by their
// meaning, for messages to hide where a host's command prints them (a
// migration run with set -x echoing PGPASSWORD=…): the chat platforms'
// tokens and Slack's signing secret, Sentry's token and webhook secret,
// SSH key passphrases, and the credentials of the URLs that may carry them
// (store.redis.url, artifact and health URLs, the chat and Sentry API
// URLs). Other values are not secrets, whether ${VAR} gave them or not: an
// env, a host or a path shown hidden would make messages unreadable. The
// values are as loaded, empty ones included.
func (c *Config) SecretValues() []string {
	var out []string
	add := func(vs ...string) { out = append(out, vs...) }
	add(c.Slack.SigningSecret, c.Slack.BotToken, c.Slack.AppToken)
	add(urlSecrets(c.Slack.APIURL)...)
	// discord.public_key is public, as its name says.
	add(c.Discord.BotToken)
	add(urlSecrets(c.Discord.APIURL)...)
	if s := c.Sentry; s != nil {
		add(s.Token, s.WebhookSecret)
		add(urlSecrets(s.URL)...)
	}
	if r := c.Store.Redis; r != nil {
		add(urlSecrets(r.URL)...)
	}
	for _, name := range c.AppNames() {
		a := c.Apps[name]
		add(urlSecrets(a.Artifact.URL)...)
		add(urlSecrets(a.Health.URL)...)
		for _, env := range a.EnvNames() {
			if s := a.Envs[env].SSH; s != nil {
				add(s.Passphrase)
			}
		}
	}
	return out
}

// urlSecrets returns what of raw, a URL or a URL template, are credentials,
// as written and percent-decoded: the password of its user info, or the
// user name when there is no password (a token as the user name,
// https://glpat-…@host), and the values of query parameters whose name
// says they are secret (?token=…, ?sig=…). The URLs were validated: a
// password holds no unescaped / ? or #, so the user info ends at the
// last @ before the first of those.
func urlSecrets(raw string) []string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil
	}
	var out []string
	add := func(v string, unescape func(string) (string, error)) {
		out = append(out, v)
		if u, err := unescape(v); err == nil && u != v {
			out = append(out, u)
		}
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	beforeFragment, _, _ := strings.Cut(rest[len(authority):], "#")
	_, query, _ := strings.Cut(beforeFragment, "?")
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		user, pass, hasPass := strings.Cut(authority[:at], ":")
		if hasPass {
			add(pass, url.PathUnescape)
		} else {
			add(user, url.PathUnescape)
		}
	}
	for pair := range strings.SplitSeq(query, "&") {
		key, value, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); err == nil && secretParam(k) {
			add(value, url.QueryUnescape)
		}
	}
	return out
}

// secretParam reports whether a query parameter named name holds a
// credential by the look of its name: token, access_token, sig,
// X-Amz-Signature, key, api_key, password, auth, X-Amz-Credential.
func secretParam(name string) bool {
	name = strings.ToLower(name)
	for _, w := range []string{"token", "secret", "sig", "key", "pass", "auth", "cred"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// InlineSecrets lists, as "FILE:LINE: KEY", the secrets the file holds
// written out rather than taken from the environment with ${VAR}: the
// keys SecretValues reads, and the credentials of those URLs. Anyone who
// can read the file, a copy of it or its history in version control has
// them. They are not refused: a file only the bot's user may read, written
// by configuration management, is a choice; `bot check-config` and the
// start-up log say so.
func (c *Config) InlineSecrets() []string { return c.inline }

// inlineSecrets finds the secrets of root written in the file, before
// ${VAR} is expanded: a secret, or a URL's credential, without a ${.
func inlineSecrets(name string, root *yaml.Node) []string {
	var out []string
	check := func(n *yaml.Node, path string, isURL bool) {
		if n == nil || n.Kind != yaml.ScalarNode || n.Value == "" {
			return
		}
		parts := []string{n.Value}
		if isURL {
			parts = urlSecrets(n.Value)
		}
		for _, p := range parts {
			if p != "" && !strings.Contains(p, "${") {
				out = append(out, fmt.Sprintf("%s:%d: %s", name, n.Line, path))
				return
			}
		}
	}
	at := func(n *yaml.Node, key string) *yaml.Node {
		if n == nil {
			return nil
		}
		_, v := lookup(deref(n), key)
		if v == nil {
			return nil
		}
		return deref(v)
	}
	for _, k := range []string{"signing_secret", "bot_token", "app_token"} {
		check(at(at(root, "slack"), k), "slack."+k, false)
	}
	check(at(at(root, "slack"), "api_url"), "slack.api_url", true)
	check(at(at(root, "discord"), "bot_token"), "discord.bot_token", false)
	check(at(at(root, "discord"), "api_url"), "discord.api_url", true)
	for _, k := range []string{"token", "webhook_secret"} {
		check(at(at(root, "sentry"), k), "sentry."+k, false)
	}
	check(at(at(root, "sentry"), "url"), "sentry.url", true)
	check(at(at(at(root, "store"), "redis"), "url"), "store.redis.url", true)
	apps := at(root, "apps")
	if apps == nil || apps.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(apps.Content); i += 2 {
		app, a := apps.Content[i].Value, deref(apps.Content[i+1])
		check(at(at(a, "artifact"), "url"), "apps."+app+".artifact.url", true)
		check(at(at(a, "health"), "url"), "apps."+app+".health.url", true)
		envs := at(a, "environments")
		if envs == nil || envs.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(envs.Content); j += 2 {
			env := envs.Content[j].Value
			check(at(at(deref(envs.Content[j+1]), "ssh"), "passphrase"), "apps."+app+".environments."+env+".ssh.passphrase", false)
		}
	}
	return out
}
