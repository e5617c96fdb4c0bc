package config

import (
	"cmp"
	"fmt"
	"strings"
	"testing"
)

// lineOf returns the 1-based line of the first occurrence of marker in y.
func lineOf(t *testing.T, y, marker string) int {
	t.Helper()
	i := strings.Index(y, marker)
	if i < 0 {
		t.Fatalf("marker %q not found", marker)
	}
	return strings.Count(y[:i], "\n") + 1
}

func TestChatValidation(t *testing.T) {
	tests := []struct {
		name  string
		chat  string // appended to baseYAML
		wants func(y string) []want
	}{
		{name: "http mode", chat: "slack:\n  signing_secret: s3cret\n  bot_token: xoxb-1\n"},
		{name: "socket mode", chat: "slack:\n  socket_mode: true\n  app_token: xapp-1\n  bot_token: xoxb-1\n"},
		{
			name: "no bot token",
			chat: "slack:\n  signing_secret: s3cret\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "\nslack:\n") + 1, "slack.bot_token: required"}}
			},
		},
		{
			name: "http mode without a signing secret",
			chat: "slack:\n  bot_token: xoxb-1\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "\nslack:\n") + 1, "slack.signing_secret: required in HTTP mode"}}
			},
		},
		{
			name: "signing secret ending with a line break",
			chat: "slack:\n  signing_secret: \"8f742231b10e8888abcd99yyyzzz85a5\\n\"\n  bot_token: xoxb-1\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "signing_secret: "), "slack.signing_secret: starts or ends with white space (a line break kept from the file or variable it came from?)"}}
			},
		},
		{
			name: "signing secret of white space only",
			chat: "slack:\n  signing_secret: \" \"\n  bot_token: xoxb-1\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "signing_secret: "), "slack.signing_secret: starts or ends with white space"}}
			},
		},
		{
			name: "socket mode without an app token",
			chat: "slack:\n  socket_mode: true\n  bot_token: xoxb-1\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "\nslack:\n") + 1, "slack.app_token: required with socket_mode: true"}}
			},
		},
		{
			name: "tokens swapped",
			chat: "slack:\n  socket_mode: true\n  bot_token: xapp-1\n  app_token: xoxb-1\n",
			wants: func(y string) []want {
				return []want{
					{lineOf(t, y, "bot_token: xapp"), "slack.bot_token: this is an app-level token"},
					{lineOf(t, y, "app_token: xoxb"), "slack.app_token: this is a bot token (xoxb-…); put it in bot_token"},
				}
			},
		},
		{
			name: "user token as the bot token",
			chat: "slack:\n  signing_secret: s\n  bot_token: xoxp-s3cret\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "bot_token: xoxp"), "slack.bot_token: this is a user token (xoxp-…), with which every message would be posted as the person who installed the app; put the Bot User OAuth Token (xoxb-…"}}
			},
		},
		{
			name: "rotating user token as the bot token",
			chat: "slack:\n  signing_secret: s\n  bot_token: xoxe.xoxp-1-s3cret\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "bot_token: xoxe"), "slack.bot_token: this is a user token (xoxp-…)"}}
			},
		},
		{name: "rotating bot token", chat: "slack:\n  signing_secret: s\n  bot_token: xoxe.xoxb-1-s3cret\n"},
		{
			name: "user token as the app token",
			chat: "slack:\n  socket_mode: true\n  bot_token: xoxb-1\n  app_token: xoxp-s3cret\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "app_token: xoxp"), "slack.app_token: this is a user token (xoxp-…); put an app-level token (xapp-…"}}
			},
		},
		{
			name: "other app token",
			chat: "slack:\n  socket_mode: true\n  bot_token: xoxb-1\n  app_token: s3cret\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "app_token: s3cret"), "slack.app_token: must be an app-level token starting with xapp-"}}
			},
		},
		{
			// Unused in HTTP mode, but a token in the wrong key is one
			// missing from the right one the day socket_mode is set.
			name: "bot token as the app token in http mode",
			chat: "slack:\n  signing_secret: s\n  bot_token: xoxb-1\n  app_token: xoxb-s3cret\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "app_token: xoxb"), "slack.app_token: this is a bot token (xoxb-…)"}}
			},
		},
		{
			name: "api url",
			chat: "slack:\n  signing_secret: s\n  bot_token: xoxb-1\n  api_url: ftp://127.0.0.1/api/\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "api_url:"), "slack.api_url: must be an http:// or https:// URL"}}
			},
		},
		{
			name: "api url port out of range",
			chat: "slack:\n  signing_secret: s\n  bot_token: xoxb-1\n  api_url: http://127.0.0.1:99999/api/\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "api_url:"), "slack.api_url: its port is not a TCP port (1 to 65535)"}}
			},
		},
		{
			name: "discord",
			chat: "discord:\n  public_key: abc\n",
			wants: func(y string) []want {
				return []want{
					{lineOf(t, y, "discord:"), "discord.bot_token: required"},
					{lineOf(t, y, "discord:"), "discord.application_id: required"},
					{lineOf(t, y, "public_key:"), "discord.public_key: want the application's public key, 64 hex digits"},
				}
			},
		},
		{name: "discord complete", chat: "discord:\n  public_key: " + strings.Repeat("ab", 32) + "\n  bot_token: t\n  application_id: \"1\"\n"},
		{
			name: "discord token with its scheme",
			chat: "discord:\n  public_key: " + strings.Repeat("ab", 32) + "\n  bot_token: Bot s3cret.token\n  application_id: \"1\"\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "bot_token: Bot"), `discord.bot_token: give the token alone, without the "Bot " in front, which the bot adds itself`}}
			},
		},
		{
			name: "discord token with its scheme in lower case",
			chat: "discord:\n  public_key: " + strings.Repeat("ab", 32) + "\n  bot_token: bot s3cret.token\n  application_id: \"1\"\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "bot_token: bot"), `discord.bot_token: give the token alone, without the "Bot " in front`}}
			},
		},
		{name: "discord token starting with bot", chat: "discord:\n  public_key: " + strings.Repeat("ab", 32) + "\n  bot_token: Bots3cret\n  application_id: \"1\"\n"},
		{
			// Any signature made up with R of small order and S zero
			// verifies against it: see the discord package's tests.
			name: "discord public key of small order",
			chat: "discord:\n  public_key: " + strings.Repeat("00", 32) + "\n  bot_token: t\n  application_id: \"1\"\n",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "public_key:"), "discord.public_key: a point of small order (all zeros, say), which verifies signatures nobody made"}}
			},
		},
		{
			name: "slack id of two users",
			chat: "",
			wants: func(y string) []want {
				return []want{{lineOf(t, y, "bob:\n    slack: U1") + 1, `users.bob.slack: "U1" is also the slack id of ana`}}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := baseYAML + tc.chat
			if tc.name == "slack id of two users" {
				y = edit(t, y, "    slack: U1\n", "    slack: U1\n  bob:\n    slack: U1\n")
			}
			var wants []want
			if tc.wants != nil {
				wants = tc.wants(y)
			}
			got := problemsOf(t, y)
			// Problems on one line keep the order they were found in.
			checkProblems(t, got, wants)
			for _, p := range got {
				if strings.Contains(p.Msg, "s3cret") {
					t.Errorf("problem %q quotes a secret", p)
				}
			}
		})
	}
}

func TestChatDefaultsAndSummary(t *testing.T) {
	y := baseYAML + "slack:\n  signing_secret: ${SIGNING}\n  bot_token: ${TOKEN}\n"
	c := mustParse(t, "test.yaml", y, map[string]string{"SIGNING": "s3cret-signing", "TOKEN": "xoxb-s3cret"})
	if c.Slack.APIURL != DefaultSlackAPIURL {
		t.Errorf("api_url: got %q, want the default %q", c.Slack.APIURL, DefaultSlackAPIURL)
	}
	s := c.Summary()
	if !strings.Contains(s, "slack: http mode") {
		t.Errorf("summary: got\n%s\nwant a slack line", s)
	}
	if strings.Contains(s, "s3cret") {
		t.Errorf("summary: got a secret in\n%s", s)
	}

	c = mustParse(t, "test.yaml", baseYAML+"slack:\n  socket_mode: true\n  app_token: xapp-s3cret\n  bot_token: xoxb-s3cret\n  api_url: http://127.0.0.1:9/api\n", nil)
	if c.Slack.APIURL != "http://127.0.0.1:9/api/" {
		t.Errorf("api_url: got %q, want it to end with /", c.Slack.APIURL)
	}
	if s := c.Summary(); !strings.Contains(s, "slack: socket mode, configured") || strings.Contains(s, "s3cret") {
		t.Errorf("summary: got\n%s\nwant socket mode without secrets", s)
	}

	// Without a slack section nothing about Slack is set or said.
	c = mustParse(t, "test.yaml", baseYAML, nil)
	if c.Slack.Configured() || c.Slack.APIURL != "" || strings.Contains(c.Summary(), "slack:") {
		t.Errorf("no slack section: got %+v and a summary mentioning slack", c.Slack)
	}
}

func TestEnvChannel(t *testing.T) {
	y := edit(t, baseYAML, "        step_timeout: 5m\n", "        step_timeout: 5m\n        channel: \"#deploys\"\n")
	c := mustParse(t, "test.yaml", y, nil)
	if got := c.Apps["web"].Envs["prod"].Channel; got != "#deploys" {
		t.Errorf("channel: got %q, want #deploys", got)
	}
	y = edit(t, baseYAML, "        step_timeout: 5m\n", "        step_timeout: 5m\n        channel: \"#de ploys\"\n")
	checkProblems(t, problemsOf(t, y), []want{{lineOf(t, y, "channel:"), "apps.web.environments.prod.channel: want a channel id or name without spaces"}})
}

// TestChatSectionAllEmpty: a slack or discord section whose secrets all
// came out empty, their environment variables set to nothing, is refused:
// it configured nothing, and the bot started without the platform and
// without a word, where a section missing one secret stops it.
func TestChatSectionAllEmpty(t *testing.T) {
	empty := func(string) (string, bool) { return "", true }
	for _, tc := range []struct {
		name, chat string
		env        func(string) (string, bool)
		want       string // "": no problem
	}{
		{"slack secrets set to nothing",
			"slack:\n  signing_secret: ${SLACK_SIGNING_SECRET}\n  bot_token: ${SLACK_BOT_TOKEN}\n  team_id: T0123ABCD\n", empty,
			"slack: signing_secret, bot_token and app_token are empty"},
		{"slack secrets defaulting to nothing",
			"slack:\n  signing_secret: ${SLACK_SIGNING_SECRET:-}\n  bot_token: ${SLACK_BOT_TOKEN:-}\n", nil,
			"slack: signing_secret, bot_token and app_token are empty"},
		{"slack with a team only", "slack:\n  team_id: T0123ABCD\n", nil,
			"slack: signing_secret, bot_token and app_token are empty"},
		{"discord secrets set to nothing",
			"discord:\n  public_key: ${DISCORD_PUBLIC_KEY}\n  bot_token: ${DISCORD_BOT_TOKEN}\n  application_id: \"${DISCORD_APPLICATION_ID}\"\n", empty,
			"discord: public_key, bot_token and application_id are empty"},
		{"discord gateway only", "discord:\n  gateway: true\n", nil,
			"discord: public_key, bot_token and application_id are empty"},
		{"no sections", "", nil, ""},
		{"null sections", "slack:\ndiscord:\n", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(baseYAML+tc.chat), tc.env)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got %v, want no problem", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want a problem saying %q", err, tc.want)
			}
		})
	}
}

// TestAPIURLUserInfo: the Discord adapter sends its requests to the
// scheme, host and path of discord.api_url alone, and the Sentry client's
// carry the token in their Authorization header, so net/http sends no
// basic auth of sentry.url's user info: credentials there would go unused
// without a word; they are refused, without being shown. Slack's client
// sends slack.api_url's as basic auth (to a proxy) with the calls that
// carry the token in their form: they stay.
func TestAPIURLUserInfo(t *testing.T) {
	discord := "discord:\n  public_key: " + strings.Repeat("ab", 32) + "\n  bot_token: t\n  application_id: \"1\"\n  api_url: %s\n"
	slack := "slack:\n  signing_secret: s\n  bot_token: xoxb-1\n  api_url: %s\n"
	sentry := "sentry:\n  org: acme\n  token: t\n  url: %s\n"
	const refused = "remove the user info (user:password@ or token@): the bot never sends it, its requests carry "
	tests := []struct {
		name, section, url string
		want               string // the refusal; "": none
	}{
		{"discord, user and password", discord, "https://proxy-user:s3cret-pass@discord-proxy.example/api/v10", "discord.api_url: " + refused + "bot_token alone"},
		{"discord, a token as the user", discord, "https://s3cret-token@discord-proxy.example/api/v10", "discord.api_url: " + refused + "bot_token alone"},
		{"discord, a percent-encoded password", discord, "https://proxy-user:s3cret%2Fpass@127.0.0.1:9/api/v10", "discord.api_url: " + refused + "bot_token alone"},
		{"discord, none", discord, "https://discord-proxy.example/api/v10", ""},
		{"slack, user and password", slack, "https://proxy-user:s3cret-pass@slack-proxy.example/api/", ""},
		{"sentry, user and password", sentry, "https://proxy-user:s3cret-pass@sentry.example", "sentry.url: " + refused + "token alone"},
		{"sentry, a token as the user", sentry, "https://s3cret-token@sentry.example:8443/", "sentry.url: " + refused + "token alone"},
		{"sentry, none", sentry, "https://sentry.example:8443/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := baseYAML + fmt.Sprintf(tt.section, tt.url)
			var w []want
			if tt.want != "" {
				w = []want{{lineOf(t, y, tt.url), tt.want}}
			}
			got := problemsOf(t, y)
			checkProblems(t, got, w)
			showsNone(t, got, "the user info", "s3cret", "proxy-user")
		})
	}
}

// TestSlackMemberIDs: a user's slack id is the member ID Slack sends with
// every request (U… or, in an Enterprise Grid, W…). Anything else, a name
// or a mention copied whole, matches no request, and would leave the user
// a viewer without a word.
func TestSlackMemberIDs(t *testing.T) {
	tests := []struct {
		id   string // as written in the YAML
		want string // the problem, or "" for none
	}{
		{"U024BE7LH", ""},
		{"W0123ABCD", ""},
		{"U1", ""},
		{"ana", `users.ana.slack: want a Slack member ID such as U024BE7LH`},
		{`"@ana"`, `users.ana.slack: want a Slack member ID such as U024BE7LH`},
		{`"<@U024BE7LH>"`, `users.ana.slack: want a Slack member ID such as U024BE7LH`},
		{"u024be7lh", `users.ana.slack: want a Slack member ID such as U024BE7LH`},
		{`"U024BE7LH "`, `users.ana.slack: want a Slack member ID such as U024BE7LH`},
		{"T024BE7LH", `users.ana.slack: want a Slack member ID such as U024BE7LH`},
		{"https://example.slack.com/team/U024BE7LH", `users.ana.slack: want a Slack member ID such as U024BE7LH`},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			y := "users:\n  ana:\n    slack: " + tc.id + "\n" + minimalYAML
			var wants []want
			if tc.want != "" {
				wants = []want{{3, tc.want}}
			}
			checkProblems(t, problemsOf(t, y), wants)
		})
	}
}

// TestDiscordIDs: the Discord ids of the config are snowflakes, the
// decimal numbers Discord sends (a user's, under Developer Mode: the
// profile's Copy User ID). Anything else, a user name or a mention copied
// whole, matches no interaction: a user would be a viewer without a word,
// and a guild_id would refuse every interaction.
func TestDiscordIDs(t *testing.T) {
	keys := "  public_key: " + strings.Repeat("ab", 32) + "\n  bot_token: x\n"
	tests := []struct {
		user, app, guild string // as written in the YAML
		want             []want
	}{
		{user: `"80351110224678912"`, app: `"123456789012345678"`, guild: `"234567890123456789"`},
		{user: "80351110224678912", app: "123456789012345678", guild: "234567890123456789"},
		{user: "ana", want: []want{{3, `users.ana.discord: want a Discord user ID such as 80351110224678912`}}},
		{user: `"@ana"`, want: []want{{3, `users.ana.discord: want a Discord user ID`}}},
		{user: `"<@80351110224678912>"`, want: []want{{3, `users.ana.discord: want a Discord user ID`}}},
		{user: `"ana#1234"`, want: []want{{3, `users.ana.discord: want a Discord user ID`}}},
		{user: `"80351110224678912 "`, want: []want{{3, `users.ana.discord: want a Discord user ID`}}},
		{user: `"803511102246789121234"`, want: []want{{3, `users.ana.discord: want a Discord user ID`}}},
		{app: "my-bot", want: []want{{7, `discord.application_id: want the application's ID`}}},
		{guild: `"https://discord.com/channels/234567890123456789"`, want: []want{{8, `discord.guild_id: want the server's ID`}}},
	}
	for _, tc := range tests {
		t.Run(tc.user+tc.app+tc.guild, func(t *testing.T) {
			user, app := cmp.Or(tc.user, `"80351110224678912"`), cmp.Or(tc.app, `"123456789012345678"`)
			y := "users:\n  ana:\n    discord: " + user + "\ndiscord:\n" + keys +
				"  application_id: " + app + "\n"
			if tc.guild != "" {
				y += "  guild_id: " + tc.guild + "\n"
			}
			checkProblems(t, problemsOf(t, y+minimalYAML), tc.want)
		})
	}
}

// TestDiscordSummary: the summary says how interactions arrive, the
// gateway included when it is on.
func TestDiscordSummary(t *testing.T) {
	section := "discord:\n  public_key: " + strings.Repeat("ab", 32) + "\n  bot_token: s3cret\n  application_id: \"1\"\n"
	tests := []struct {
		name, extra, want string
	}{
		{"http", "", "discord: http interactions (/discord/interactions), configured\n"},
		{"gateway", "  gateway: true\n", "discord: http interactions (/discord/interactions) and the gateway, configured\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, "test.yaml", baseYAML+section+tt.extra, nil)
			if s := c.Summary(); !strings.Contains(s, tt.want) || strings.Contains(s, "s3cret") {
				t.Errorf("summary: got\n%s\nwant the line %q", s, tt.want)
			}
		})
	}
}
