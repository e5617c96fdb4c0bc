package config

import (
	"net/url"
	"strings"
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
