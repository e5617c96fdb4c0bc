package config

import (
	"slices"
	"strings"
	"testing"
)

// TestSecretValues: the values of the keys that are secrets by their
// meaning are the config's secrets, ${VAR} or not; no other value is,
// ${VAR} or not.
func TestSecretValues(t *testing.T) {
	const yaml = `slack:
  signing_secret: ${SLACK_SIGNING_SECRET}
  bot_token: xoxb-slack-bot
  app_token: ${SLACK_APP_TOKEN}
  socket_mode: true
  api_url: https://proxy-user:sl%40ck-proxy@slack-proxy.example/api/
  team_id: T0123ABCD
discord:
  public_key: ` + "${DISCORD_PUBLIC_KEY}" + `
  bot_token: ${DISCORD_BOT_TOKEN}
  application_id: "123456789012345678"
  api_url: https://dc-proxy.example/api/v10?api_key=dc-proxy-key
sentry:
  url: https://sentry.example
  org: ${SENTRY_ORG}
  token: ${SENTRY_AUTH_TOKEN}
  webhook_secret: sentry-webhook-secret
store:
  redis:
    url: redis://switchman:r3dis%2Fpass@redis.example:6379/0?client_name=deploy-bot
apps:
  web:
    artifact:
      url: https://glpat-artifact-token@builds.example/{app}/{build}.tgz?ref=${GIT_REF}&X-Amz-Signature=sig%2Bvalue
    path: /srv/web
    restart: ./restart ${STAGE}
    health:
      url: http://monitor:${HEALTH_PASSWORD}@{host}:8080/health?stage=${STAGE}&access_token=health-token#frag-not-sent
    environments:
      prod:
        channel: ${STAGE}
        transport: ssh
        ssh: {user: deploy, key_file: id_ed25519, passphrase: "${SSH_PASSPHRASE}", known_hosts: known_hosts}
        hosts: [web1]
`
	env := map[string]string{
		"SLACK_SIGNING_SECRET": "slack-signing-secret",
		"SLACK_APP_TOKEN":      "xapp-slack-app",
		"DISCORD_PUBLIC_KEY":   strings.Repeat("ab", 32),
		"DISCORD_BOT_TOKEN":    "discord-bot-token",
		"SENTRY_ORG":           "acme-corporation",
		"SENTRY_AUTH_TOKEN":    "sntrys_auth_token",
		"GIT_REF":              "main-branch",
		"HEALTH_PASSWORD":      "h3alth-pass",
		"STAGE":                "production",
		"SSH_PASSPHRASE":       "ssh-key-passphrase",
	}
	c := mustParse(t, "test.yaml", yaml, env)
	got := c.SecretValues()
	want := []string{
		"slack-signing-secret", "xoxb-slack-bot", "xapp-slack-app", "sl%40ck-proxy", "sl@ck-proxy",
		"discord-bot-token", "dc-proxy-key",
		"sntrys_auth_token", "sentry-webhook-secret",
		"r3dis%2Fpass", "r3dis/pass",
		"glpat-artifact-token", "sig%2Bvalue", "sig+value",
		"h3alth-pass", "health-token",
		"ssh-key-passphrase",
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("SecretValues: got %q, want it to hold %q", got, w)
		}
	}
	for _, v := range got {
		if v != "" && !slices.Contains(want, v) {
			t.Errorf("SecretValues: got %q, which is no secret", v)
		}
	}
}

func TestURLSecrets(t *testing.T) {
	tests := []struct {
		name, url string
		want      []string
	}{
		{"none", "https://builds.example/{app}/{build}.tgz", nil},
		{"not a URL", "builds/{app}/{build}.tgz", nil},
		{"a password", "https://ci:hunter2@builds.example/x", []string{"hunter2"}},
		{"an encoded password", "redis://:p%40ss%3Aword@r:6379/0", []string{"p%40ss%3Aword", "p@ss:word"}},
		{"an @ in the password", "https://ci:hun@ter2@builds.example/x", []string{"hun@ter2"}},
		{"a token as the user name", "https://glpat-abc@builds.example/x", []string{"glpat-abc"}},
		{"a user name with a password is no secret", "https://deploy-user:pw@h/x", []string{"pw"}},
		{"an empty password", "https://deploy-user:@h/x", []string{""}},
		{"secret parameters", "https://h/x?token=t1&sig=s%2B1&X-Amz-Credential=c1&apiKey=k1&password=p1&auth=a1", []string{"t1", "s%2B1", "s+1", "c1", "k1", "p1", "a1"}},
		{"other parameters", "https://h/x?ref=main&stage=production&build={build}", nil},
		{"no query in the fragment", "https://h/x#token=t1", nil},
		{"a query before a fragment", "https://h/x?token=t1#token=t2", []string{"t1"}},
		{"an @ in the path is not user info", "https://npm.example/@scope/web.tgz", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := urlSecrets(tt.url); !slices.Equal(got, tt.want) {
				t.Errorf("urlSecrets(%q): got %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}

// TestInlineSecrets: the secrets written in the file, not taken from the
// environment, are named with their lines; ${VAR} ones are not, nor a
// URL whose ${VAR} is not its credential.
func TestInlineSecrets(t *testing.T) {
	const yaml = `slack:
  signing_secret: ${SLACK_SIGNING_SECRET}
  bot_token: xoxb-written-here
  app_token: "${SLACK_APP_TOKEN}"
  socket_mode: true
sentry:
  org: acme
  token: ${SENTRY_AUTH_TOKEN}
  webhook_secret: sentry-webhook-secret
store:
  redis:
    url: redis://:r3dis-pass@127.0.0.1:6379/0
apps:
  web:
    artifact:
      url: https://builds.example/{app}/{build}.tgz?ref=${GIT_REF}&token=artifact-token
    path: /srv/web
    restart: ./restart
    default_env: prod
    health:
      url: http://monitor:${HEALTH_PASSWORD}@{host}:8080/health
    environments:
      prod:
        transport: ssh
        ssh: {user: deploy, key_file: id_ed25519, passphrase: hunter2hunter2, known_hosts: known_hosts}
        hosts: [web1]
      staging:
        transport: ssh
        ssh: {user: deploy, key_file: id_ed25519, passphrase: "${SSH_PASSPHRASE}", known_hosts: known_hosts}
        hosts: [web2]
`
	env := map[string]string{
		"SLACK_SIGNING_SECRET": "slack-signing-secret",
		"SLACK_APP_TOKEN":      "xapp-slack-app",
		"SENTRY_AUTH_TOKEN":    "sntrys_auth_token",
		"GIT_REF":              "main",
		"HEALTH_PASSWORD":      "h3alth-pass",
		"SSH_PASSPHRASE":       "ssh-key-passphrase",
	}
	c := mustParse(t, "test.yaml", yaml, env)
	want := []string{
		"test.yaml:3: slack.bot_token",
		"test.yaml:9: sentry.webhook_secret",
		"test.yaml:12: store.redis.url",
		"test.yaml:16: apps.web.artifact.url",
		"test.yaml:25: apps.web.environments.prod.ssh.passphrase",
	}
	if got := c.InlineSecrets(); !slices.Equal(got, want) {
		t.Errorf("InlineSecrets: got %q, want %q", got, want)
	}
	ref := mustParse(t, "reference.yaml", string(mustRead(t, "../../config/reference.yaml")), nil)
	if got := ref.InlineSecrets(); len(got) != 0 {
		t.Errorf("reference.yaml: got inline secrets %q, want none", got)
	}
}
