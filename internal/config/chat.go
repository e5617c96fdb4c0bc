package config

import (
	"encoding/hex"
	"slices"
	"strings"
	"unicode"
)

// DefaultSlackAPIURL is the Slack Web API base URL used when slack.api_url
// is not set.
const DefaultSlackAPIURL = "https://slack.com/api/"

// Slack configures the Slack adapter. It runs in one of two modes: HTTP
// (Slack calls the bot's /slack/* endpoints, which need SigningSecret) or
// Socket Mode (the bot opens a WebSocket to Slack with AppToken and needs
// no public URL). Tokens and secrets belong in the environment:
// `bot_token: ${SLACK_BOT_TOKEN}`.
type Slack struct {
	// SigningSecret verifies every request Slack sends in HTTP mode.
	SigningSecret string `yaml:"signing_secret"`
	// BotToken (xoxb-…) calls the Web API.
	BotToken string `yaml:"bot_token"`
	// AppToken (xapp-…) opens Socket Mode connections.
	AppToken   string `yaml:"app_token"`
	SocketMode bool   `yaml:"socket_mode"`
	// APIURL is the Web API base URL, for tests and Enterprise proxies;
	// default DefaultSlackAPIURL. It ends with "/".
	APIURL string `yaml:"api_url"`
	// TeamID, when set, is the one workspace (T…) whose requests run;
	// others are refused and audited.
	TeamID string `yaml:"team_id"`
}

// Configured reports whether any Slack setting is present.
func (s Slack) Configured() bool {
	return s.SigningSecret != "" || s.BotToken != "" || s.AppToken != "" || s.SocketMode || s.APIURL != ""
}

// Discord configures the Discord adapter (interactions over HTTP).
type Discord struct {
	// PublicKey is the application's Ed25519 public key, hex: it verifies
	// every interaction Discord sends.
	PublicKey     string `yaml:"public_key"`
	BotToken      string `yaml:"bot_token"`
	ApplicationID string `yaml:"application_id"`
	// GuildID, when set, registers commands in that guild only.
	GuildID string `yaml:"guild_id"`
	// APIURL overrides the REST API base URL, for tests and proxies.
	APIURL string `yaml:"api_url"`
	// Gateway also receives interactions over Discord's gateway (a
	// websocket the bot opens), for setups that cannot expose HTTP.
	Gateway bool `yaml:"gateway"`
}

// Configured reports whether any Discord setting is present.
func (d Discord) Configured() bool {
	return d.PublicKey != "" || d.BotToken != "" || d.ApplicationID != "" || d.GuildID != "" || d.APIURL != ""
}

// setChatDefaults fills in the chat platforms' defaults.
func (c *Config) setChatDefaults() {
	if c.Slack.Configured() {
		c.Slack.APIURL = or(c.Slack.APIURL, DefaultSlackAPIURL)
		if !strings.HasSuffix(c.Slack.APIURL, "/") {
			c.Slack.APIURL += "/"
		}
	}
}

// validateChat checks the chat platform settings and the deploy channels.
// Secrets are never quoted back.
func (c *Config) validateChat(loc locator, ps *problems) {
	// A section whose secrets all came out empty (bot_token:
	// ${SLACK_BOT_TOKEN} with the variable set to nothing) configures
	// nothing: the bot would start without the platform and say nothing,
	// where a section missing one secret stops it.
	for _, p := range []struct {
		key, name, secrets string
		configured         bool
	}{
		{"slack", "Slack", "signing_secret, bot_token and app_token", c.Slack.Configured()},
		{"discord", "Discord", "public_key, bot_token and application_id", c.Discord.Configured()},
	} {
		if !p.configured && loc.has(p.key) {
			ps.add(loc.line(p.key), "%s: %s are empty (are their environment variables set?); remove the section to run without %s", p.key, p.secrets, p.name)
		}
	}
	if s := c.Slack; s.Configured() {
		at := func(key string) int { return loc.line("slack", key) }
		switch {
		case s.BotToken == "":
			ps.add(at("bot_token"), "slack.bot_token: required to use Slack (the xoxb-… token, e.g. bot_token: ${SLACK_BOT_TOKEN})")
		case strings.HasPrefix(s.BotToken, "xapp-"):
			ps.add(at("bot_token"), "slack.bot_token: this is an app-level token (xapp-…); put it in app_token and the bot token (xoxb-…) here")
		case slackUserToken(s.BotToken):
			// Slack accepts it at start-up (auth.test passes): the bot
			// would then post, and be refused, as the person who
			// installed the app.
			ps.add(at("bot_token"), "slack.bot_token: this is a user token (xoxp-…), with which every message would be posted as the person who installed the app; put the Bot User OAuth Token (xoxb-…, OAuth & Permissions) here")
		}
		switch {
		case s.AppToken == "":
			if s.SocketMode {
				ps.add(at("app_token"), "slack.app_token: required with socket_mode: true (an app-level token xapp-… with connections:write)")
			}
		case strings.HasPrefix(s.AppToken, "xapp-"):
		case slackBotToken(s.AppToken):
			ps.add(at("app_token"), "slack.app_token: this is a bot token (xoxb-…); put it in bot_token and an app-level token (xapp-…, Basic Information → App-Level Tokens) here")
		case slackUserToken(s.AppToken):
			ps.add(at("app_token"), "slack.app_token: this is a user token (xoxp-…); put an app-level token (xapp-…, Basic Information → App-Level Tokens) here")
		default:
			ps.add(at("app_token"), "slack.app_token: must be an app-level token starting with xapp- (Basic Information → App-Level Tokens)")
		}
		switch {
		case !s.SocketMode && s.SigningSecret == "":
			ps.add(at("signing_secret"), "slack.signing_secret: required in HTTP mode to verify Slack's requests (or set socket_mode: true with an app_token)")
		case s.SigningSecret != strings.TrimSpace(s.SigningSecret):
			// Slack signs with the secret as it shows it: with a line
			// break kept from a file, every request would be refused,
			// each logged only as a signature that does not match.
			ps.add(at("signing_secret"), "slack.signing_secret: starts or ends with white space (a line break kept from the file or variable it came from?), so no signature of Slack's would match it and every request would be refused; remove it")
		}
		// Unlike discord.api_url's, its user info is sent: slack-go
		// posts most calls with the token in their form, and net/http
		// then sends the URL's user info as basic auth (to a proxy).
		switch {
		case !isHTTPURL(s.APIURL):
			ps.add(at("api_url"), "slack.api_url: must be an http:// or https:// URL")
		case splitPassword(s.APIURL):
			ps.add(at("api_url"), "slack.api_url: %s", splitPasswordAdvice)
		case badPort(s.APIURL):
			ps.add(at("api_url"), "slack.api_url: %s", badPortProblem)
		}
	}

	if d := c.Discord; d.Configured() {
		at := func(key string) int { return loc.line("discord", key) }
		if d.PublicKey == "" {
			ps.add(at("public_key"), "discord.public_key: required to verify Discord's interactions")
		} else if b, err := hex.DecodeString(d.PublicKey); err != nil || len(b) != 32 {
			ps.add(at("public_key"), "discord.public_key: want the application's public key, 64 hex digits")
		} else if SmallOrderKey(b) {
			ps.add(at("public_key"), "discord.public_key: a point of small order (all zeros, say), which verifies signatures nobody made; copy the application's public key from the developer portal")
		}
		switch tok := strings.TrimSpace(d.BotToken); {
		case tok == "":
			ps.add(at("bot_token"), "discord.bot_token: required to use Discord (e.g. bot_token: ${DISCORD_BOT_TOKEN})")
		case len(tok) >= 4 && strings.EqualFold(tok[:4], "bot "):
			// The bot adds the scheme itself, and the log's redaction
			// knows the value as given: the token alone, quoted in an
			// error, would not be hidden.
			ps.add(at("bot_token"), `discord.bot_token: give the token alone, without the "Bot " in front, which the bot adds itself (Bot → Reset Token in the developer portal shows it so)`)
		}
		switch {
		case d.ApplicationID == "":
			ps.add(at("application_id"), "discord.application_id: required to use Discord")
		case !snowflake(d.ApplicationID):
			ps.add(at("application_id"), "discord.application_id: want the application's ID as the developer portal shows it, a number such as 123456789012345678, got %q", d.ApplicationID)
		}
		if d.GuildID != "" && !snowflake(d.GuildID) {
			ps.add(at("guild_id"), "discord.guild_id: want the server's ID (in Discord, with Developer Mode on: the server's menu → Copy Server ID), a number such as 234567890123456789, got %q, which no interaction would come from", d.GuildID)
		}
		switch {
		case d.APIURL == "":
		case !isHTTPURL(d.APIURL):
			ps.add(at("api_url"), "discord.api_url: must be an http:// or https:// URL")
		case splitPassword(d.APIURL):
			ps.add(at("api_url"), "discord.api_url: %s", splitPasswordAdvice)
		case badPort(d.APIURL):
			ps.add(at("api_url"), "discord.api_url: %s", badPortProblem)
		case hasUserInfo(d.APIURL):
			// The adapter sends its requests to the URL's scheme, host
			// and path alone.
			ps.add(at("api_url"), "discord.api_url: %s", unusedUserInfo("bot_token"))
		}
	}

	validateSlackIDs(loc, ps, c.Users)

	for _, app := range c.AppNames() {
		a := c.Apps[app]
		for _, env := range a.EnvNames() {
			ch := a.Envs[env].Channel
			if ch != "" && blankInChannel(ch) {
				ps.add(loc.line("apps", app, "environments", env, "channel"),
					"apps.%s.environments.%s.channel: want a channel id or name without spaces, like C0123456789 or #deploys, got %q", app, env, ch)
			}
		}
	}
}

// slackUserToken reports whether tok is a Slack user token, rotating
// (xoxe.xoxp-…) or not.
func slackUserToken(tok string) bool {
	return strings.HasPrefix(strings.TrimPrefix(tok, "xoxe."), "xoxp-")
}

// slackBotToken reports whether tok is a Slack bot token, rotating
// (xoxe.xoxb-…) or not.
func slackBotToken(tok string) bool {
	return strings.HasPrefix(strings.TrimPrefix(tok, "xoxe."), "xoxb-")
}

// blankInChannel reports whether channel holds a space or a control
// character, which no Slack or Discord channel id or name has.
func blankInChannel(channel string) bool {
	return strings.IndexFunc(channel, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
}

// validateSlackIDs reports a chat id given to two users: commands from it
// would run as whichever user the adapter found first. It also reports a
// slack id that is not a Slack member ID, and a discord id that is not a
// Discord user ID, which no request carries.
func validateSlackIDs(loc locator, ps *problems, users map[string]User) {
	type seen struct{ platform, id string }
	first := map[seen]string{}
	for _, name := range sortedKeys(users) {
		u := users[name]
		if u.Slack != "" && !slackMemberID(u.Slack) {
			ps.add(loc.line("users", name, "slack"), "users.%s.slack: want a Slack member ID such as U024BE7LH (in Slack: the profile's ⋮ menu → Copy member ID), got %q, so commands from %s would be taken as a viewer's", name, u.Slack, name)
		}
		if u.Discord != "" && !snowflake(u.Discord) {
			ps.add(loc.line("users", name, "discord"), "users.%s.discord: want a Discord user ID such as 80351110224678912 (in Discord, with Developer Mode on: the profile's Copy User ID), got %q, so commands from %s would be taken as a viewer's", name, u.Discord, name)
		}
		for _, k := range []seen{{"slack", u.Slack}, {"discord", u.Discord}} {
			if k.id == "" {
				continue
			}
			if other, dup := first[k]; dup {
				ps.add(loc.line("users", name, k.platform), "users.%s.%s: %q is also the %s id of %s", name, k.platform, k.id, k.platform, other)
				continue
			}
			first[k] = name
		}
	}
}

// chatSummary describes the chat platforms for Summary, without any token
// or secret; it says nothing of a platform that is not configured.
func (c *Config) chatSummary() string {
	var b strings.Builder
	if c.Slack.Configured() {
		mode := "http mode (/slack/commands, /slack/interactions, /slack/events)"
		if c.Slack.SocketMode {
			mode = "socket mode"
		}
		b.WriteString("slack: " + mode + ", configured\n")
	}
	if c.Discord.Configured() {
		// The endpoint is served either way; the gateway comes on top.
		via := "http interactions (/discord/interactions)"
		if c.Discord.Gateway {
			via += " and the gateway"
		}
		b.WriteString("discord: " + via + ", configured\n")
	}
	return b.String()
}

// smallOrderPoints are the encodings of the points of order 1, 2, 4 and 8,
// sign bit cleared, as libsodium refuses them: y = 0, 1, the two of order
// 8, p-1, and p and p+1 (0 and 1 written past p, which Go's ed25519
// reads). With one of them as the public key, crypto/ed25519 verifies a
// signature whose R is of small order and S zero, over any message, for
// a few tries at most.
var smallOrderPoints = [...]string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

// SmallOrderKey reports whether pub, an Ed25519 public key of 32 bytes,
// encodes a point of small order, which verifies signatures nobody made.
func SmallOrderKey(pub []byte) bool {
	k := slices.Clone(pub)
	k[len(k)-1] &= 0x7f // the sign of x
	for _, p := range smallOrderPoints {
		if hex.EncodeToString(k) == p {
			return true
		}
	}
	return false
}

// snowflake reports whether id is a Discord ID: a decimal number of at
// most 20 digits (an unsigned 64-bit integer), as Discord writes them.
func snowflake(id string) bool {
	if id == "" || len(id) > 20 {
		return false
	}
	return strings.Trim(id, "0123456789") == ""
}

// slackMemberID reports whether id is a Slack member ID: U, or W in an
// Enterprise Grid, then capital letters and digits, as Slack sends them.
func slackMemberID(id string) bool {
	if len(id) < 2 || (id[0] != 'U' && id[0] != 'W') {
		return false
	}
	return strings.IndexFunc(id, func(r rune) bool { return (r < 'A' || r > 'Z') && (r < '0' || r > '9') }) < 0
}
