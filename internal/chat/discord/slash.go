package discord

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/pause"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// maxChoices is the most choices Discord allows on one option; with more
// apps (or envs, or trains) the option takes free text and the parser
// checks it.
const maxChoices = 25

// maxReason bounds free-text options (reasons), in characters: Discord
// counts characters, the parser bytes (commands.MaxCommandLen), so a
// reason is budgeted at utf8.UTFMax bytes a character. The word options
// beside it are budgeted in ASCII, one byte a character: every value the
// parser takes there is ASCII, and the handler refuses any other before
// it makes a command (checkWord).
const maxReason = 200

// The longest reason and the longest rest of a command fit in what the
// parser takes: were they over, this constant would be negative, which a
// uint cannot hold, and the package would not compile.
const _ uint = commands.MaxCommandLen - maxRest - maxReason*utf8.UTFMax

// The caps of the word options, in characters, and so in bytes, as
// checkWord takes only ASCII there: an app, env, train or role is at most
// as long as the longest name the config takes, a build as the longest
// the parser takes.
const (
	maxNameLen     = 32
	maxBuildLen    = 64
	maxDurationLen = 16
	maxDeployIDLen = 32
	maxWindowLen   = 8
)

// maxRest bounds the bytes of a command besides its reason, at its
// longest in /deploy: the words "deploy", "to", "--dry-run" and
// "--force" with the spaces between (31 bytes), app, env and build at
// their caps, and the reason's quotes (up to 3 bytes each, “ and ”).
// /lock (app, env, duration) and /train cancel (train) have less;
// TestLongestCommandsParse checks every command.
const maxRest = 31 + 2*maxNameLen + maxBuildLen + 2*3

// nameRule is the config's rule for the name of an app, env, train or
// role, as replies put it.
const nameRule = "a lowercase letter, then up to 31 lowercase letters, digits, '_' or '-'"

// wordRule is what a word option takes: at most max bytes of ASCII, and
// how a refusal names the value (what) and says what is valid (rule).
// check, when set, is the parser's own check of the value, whose error
// says both.
type wordRule struct {
	max        int
	what, rule string
	check      func(string) error
}

// wordRules are the rules of every word option, by option name. A value
// that is not ASCII is never one the parser takes there; refused by the
// handler, it cannot swell a command past what maxRest counts.
var wordRules = map[string]wordRule{
	"app":      {max: maxNameLen, what: "app", rule: "an app name is " + nameRule + ", e.g. web"},
	"env":      {max: maxNameLen, what: "env", rule: "an env name is " + nameRule + ", e.g. prod"},
	"train":    {max: maxNameLen, what: "train", rule: "a train name is " + nameRule + ", e.g. daily"},
	"role":     {max: maxNameLen, what: "role", rule: "a role is " + nameRule + ", e.g. deployer"},
	"build":    {max: maxBuildLen, what: "build", check: commands.CheckBuild},
	"from":     {max: maxBuildLen, what: "build", check: commands.CheckBuild},
	"id":       {max: maxDeployIDLen, what: "deploy id", check: commands.CheckDeployID},
	"duration": {max: maxDurationLen, what: "duration", rule: "a duration is a number and a unit, e.g. 30m, 2h, 1d or 1h30m"},
	"window":   {max: maxWindowLen, what: "window", rule: "a window is days or weeks, e.g. 7d, 30d or 2w"},
	"command":  {max: maxNameLen, what: "command", rule: "help names a command, e.g. deploy"},
}

// choiceSet holds the choices of the app, env and train options.
type choiceSet struct {
	apps, envs, trains []*discordgo.ApplicationCommandOptionChoice
}

// choicesOf returns the choices of cat's apps, envs (those of every app,
// once each) and trains; a nil cat has none.
func choicesOf(cat commands.Catalog) choiceSet {
	if cat == nil {
		return choiceSet{}
	}
	apps := slices.Sorted(slices.Values(cat.Apps()))
	var envs []string
	for _, app := range apps {
		envs = append(envs, cat.Envs(app)...)
	}
	slices.Sort(envs)
	trains := slices.Sorted(slices.Values(cat.Trains()))
	return choiceSet{apps: choices(apps), envs: choices(slices.Compact(envs)), trains: choices(trains)}
}

func choices(names []string) []*discordgo.ApplicationCommandOptionChoice {
	if len(names) == 0 || len(names) > maxChoices {
		return nil
	}
	cs := make([]*discordgo.ApplicationCommandOptionChoice, len(names))
	for i, n := range names {
		cs[i] = &discordgo.ApplicationCommandOptionChoice{Name: n, Value: n}
	}
	return cs
}

// slashSpec is the slash command of one verb: its typed options, and how
// an invocation is written back as a command of the grammar.
type slashSpec struct {
	options func(cs choiceSet) []*discordgo.ApplicationCommandOption
	text    func(o options) (string, error)
	// subs, when set, are the subcommands of the verb, in the order
	// Discord lists them (/train board …); options and text are then
	// unused, each subcommand has its own.
	subs []subcommand
}

// subcommand is one subcommand of a slash command, such as /train board.
type subcommand struct {
	name, description string
	slashSpec
}

// optionsOf returns the options of spec: its own, or one per subcommand.
func optionsOf(spec slashSpec, cs choiceSet) []*discordgo.ApplicationCommandOption {
	if spec.subs == nil {
		return spec.options(cs)
	}
	opts := make([]*discordgo.ApplicationCommandOption, len(spec.subs))
	for i, sub := range spec.subs {
		subOpts := sub.options(cs)
		if subOpts == nil {
			subOpts = []*discordgo.ApplicationCommandOption{}
		}
		opts[i] = &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionSubCommand, Name: sub.name,
			Description: sub.description, Options: subOpts}
	}
	return opts
}

// appOpt is the app of a command, one of the catalog's apps; free text
// when there are none or too many to list, which the parser checks, of
// at most maxNameLen characters, as maxRest counts it.
func appOpt(cs choiceSet, required bool, desc string) *discordgo.ApplicationCommandOption {
	o := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: "app",
		Description: desc, Required: required, Choices: cs.apps}
	if o.Choices == nil {
		o.MaxLength = maxNameLen
	}
	return o
}

// envOpt is the env of a command, one of the catalog's envs; free text
// when there are none or too many to list, which the parser checks, of
// at most maxNameLen characters, as maxRest counts it.
func envOpt(cs choiceSet, desc string) *discordgo.ApplicationCommandOption {
	o := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: "env",
		Description: desc, Choices: cs.envs}
	if o.Choices == nil {
		o.MaxLength = maxNameLen
	}
	return o
}

func buildOpt(required bool, desc string) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: "build",
		Description: desc, Required: required, MaxLength: maxBuildLen}
}

func textOpt(name string, required bool, desc string) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: name,
		Description: desc, Required: required, MaxLength: maxReason}
}

func durationOpt(desc string) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: "duration",
		Description: desc, MaxLength: maxDurationLen}
}

// deployIDOpt is the deploy id of /confirm and /abort: free text, which
// the parser checks.
func deployIDOpt(desc string) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: "id",
		Description: desc, Required: true, MaxLength: maxDeployIDLen}
}

func userOpt(desc string) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionUser, Name: "user",
		Description: desc, Required: true}
}

// trainOpt is the train of a train subcommand, one of the configured
// trains; free text when there are none or too many to list, which the
// parser checks.
func trainOpt(cs choiceSet, desc string) *discordgo.ApplicationCommandOption {
	o := &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: "train",
		Description: desc, Choices: cs.trains}
	if o.Choices == nil {
		o.MaxLength = maxNameLen
	}
	return o
}

func roleOpt(desc string) *discordgo.ApplicationCommandOption {
	return &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: "role",
		Description: desc, Required: true, MaxLength: maxNameLen}
}

// days writes a whole number of days as people write it, e.g. "30d".
func days(d time.Duration) string { return fmt.Sprintf("%dd", d/(24*time.Hour)) }

// defaultHere is commands.DefaultHereFor as people write it, e.g. "4h".
func defaultHere() string {
	d := commands.DefaultHereFor
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

// slashVerbs are the verbs with a slash command, in help order: every
// command of the grammar, and after deploy its forms confirm and abort.
func slashVerbs() []commands.Verb {
	var vs []commands.Verb
	for _, v := range commands.Verbs() {
		vs = append(vs, v)
		if v == commands.VerbDeploy {
			vs = append(vs, commands.VerbConfirm, commands.VerbAbort)
		}
	}
	return vs
}

// slash maps every verb of slashVerbs to its slash command. A test checks
// that no verb is missing.
var slash = map[commands.Verb]slashSpec{
	commands.VerbDeploy: {
		options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{
				appOpt(cs, true, "the app to deploy"),
				buildOpt(true, "the build, e.g. 1337 or 2.4.0-rc1"),
				envOpt(cs, "the env (default: the app's default env)"),
				{Type: discordgo.ApplicationCommandOptionBoolean, Name: "dry_run", Description: "show the plan and change nothing"},
				textOpt("force", false, "deploy outside the deploy window (not past a lock); the reason goes to the audit log"),
			}
		},
		text: func(o options) (string, error) {
			w := o.words("deploy")
			w.value("app")
			w.build("build")
			w.keywordValue("to", "env")
			if w.flag("dry_run") {
				w.add("--dry-run")
			}
			w.quoted("--force", "force")
			return w.done()
		},
	},
	// deploy confirm ID and deploy abort ID answer a migrations prompt;
	// /deploy takes options, so it cannot also have subcommands, and
	// they are commands of their own. The prompt's buttons send the
	// same text.
	commands.VerbConfirm: {
		options: func(choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{deployIDOpt("the deploy waiting, as its migrations prompt names it")}
		},
		text: func(o options) (string, error) {
			w := o.words("deploy", string(commands.VerbConfirm))
			w.word("id")
			return w.done()
		},
	},
	commands.VerbAbort: {
		options: func(choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{deployIDOpt("the deploy to stop, as its migrations prompt names it")}
		},
		text: func(o options) (string, error) {
			w := o.words("deploy", string(commands.VerbAbort))
			w.word("id")
			return w.done()
		},
	},
	commands.VerbRollback: {
		options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{
				appOpt(cs, true, "the app to roll back"),
				envOpt(cs, "the env (default: the app's default env)"),
				buildOpt(false, "the build to go back to (default: the previous good release)"),
				{Type: discordgo.ApplicationCommandOptionString, Name: "from", MaxLength: maxBuildLen,
					Description: "only if the env runs this build now (as the Rollback buttons send)"},
			}
		},
		text: func(o options) (string, error) {
			w := o.words("rollback")
			w.word("app")
			w.word("env")
			w.keywordValue("to", "build")
			w.keywordValue("from", "from")
			return w.done()
		},
	},
	commands.VerbLock: {
		options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{
				textOpt("reason", true, "why deploys stop; kept with the lock and in the audit log"),
				appOpt(cs, false, "lock only this app (default: every app)"),
				envOpt(cs, "lock only this env of the app (default: every env)"),
				durationOpt("how long, e.g. 30m, 2h, 1d or 1h30m (default: until unlocked)"),
			}
		},
		text: func(o options) (string, error) {
			w := o.words("lock", "deploys")
			w.word("app")
			w.word("env")
			w.duration("duration")
			w.quoted("", "reason")
			return w.done()
		},
	},
	commands.VerbUnlock: {
		options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{
				appOpt(cs, false, "the app of the lock (default: the lock on every app)"),
				envOpt(cs, "the env of the lock (default: the lock on every env of the app)"),
			}
		},
		text: func(o options) (string, error) {
			w := o.words("unlock", "deploys")
			w.word("app")
			w.word("env")
			return w.done()
		},
	},
	commands.VerbTrain: {
		subs: []subcommand{
			{name: "list", description: "list the deploy trains and what is aboard", slashSpec: slashSpec{
				options: func(choiceSet) []*discordgo.ApplicationCommandOption { return nil },
				text:    func(o options) (string, error) { return o.words("train").done() },
			}},
			{name: commands.TrainBoard, description: "put a build of an app on a train", slashSpec: slashSpec{
				options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
					return []*discordgo.ApplicationCommandOption{
						appOpt(cs, true, "the app to board"),
						buildOpt(true, "the build, e.g. 1337 or 2.4.0-rc1"),
						envOpt(cs, "the env (default: the train's env)"),
						trainOpt(cs, "the train (default: the only one)"),
					}
				},
				text: func(o options) (string, error) {
					w := o.words("train", commands.TrainBoard)
					w.word("app")
					w.build("build")
					w.keywordValue("to", "env")
					w.keywordValue("on", "train")
					return w.done()
				},
			}},
			{name: commands.TrainLeave, description: "take an app off a train", slashSpec: slashSpec{
				options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
					return []*discordgo.ApplicationCommandOption{
						appOpt(cs, true, "the app to take off"),
						trainOpt(cs, "the train (default: the only one)"),
					}
				},
				text: func(o options) (string, error) {
					w := o.words("train", commands.TrainLeave)
					w.word("app")
					w.keyword("on", "train")
					return w.done()
				},
			}},
			{name: commands.TrainCancel, description: "call off a train's next departure", slashSpec: slashSpec{
				options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
					return []*discordgo.ApplicationCommandOption{
						textOpt("reason", true, "why the train does not leave; kept in the audit log"),
						trainOpt(cs, "the train (default: the only one)"),
					}
				},
				text: func(o options) (string, error) {
					w := o.words("train", commands.TrainCancel)
					w.word("train")
					w.quoted("", "reason")
					return w.done()
				},
			}},
			// Choosing the subcommand is deliberate enough: it writes the
			// "now" that a typed depart needs.
			{name: commands.TrainDepart, description: "send a train off now with whatever is aboard", slashSpec: slashSpec{
				options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
					return []*discordgo.ApplicationCommandOption{trainOpt(cs, "the train (default: the only one)")}
				},
				text: func(o options) (string, error) {
					w := o.words("train", commands.TrainDepart)
					w.word("train")
					w.add("now")
					return w.done()
				},
			}},
		},
	},
	commands.VerbStatus: {
		options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{appOpt(cs, false, "show only this app")}
		},
		text: func(o options) (string, error) {
			w := o.words("status")
			w.word("app")
			return w.done()
		},
	},
	commands.VerbHistory: {
		options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
			one := 1.0
			return []*discordgo.ApplicationCommandOption{
				appOpt(cs, false, "only deploys of this app"),
				envOpt(cs, "only deploys to this env of the app"),
				{Type: discordgo.ApplicationCommandOptionInteger, Name: "n", MinValue: &one, MaxValue: commands.MaxHistory,
					Description: fmt.Sprintf("how many deploys (default %d)", commands.DefaultHistory)},
			}
		},
		text: func(o options) (string, error) {
			w := o.words("history")
			w.word("app")
			w.word("env")
			w.integer("n")
			return w.done()
		},
	},
	commands.VerbStats: {
		options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{
				appOpt(cs, true, "the app"),
				envOpt(cs, "only this env of the app (default: every env)"),
				{Type: discordgo.ApplicationCommandOptionString, Name: "window", MaxLength: maxWindowLen,
					Description: fmt.Sprintf("how far back, in days or weeks, e.g. 7d or 2w (default %s, at most %s)",
						days(commands.DefaultStatsWindow), days(commands.MaxStatsWindow))},
			}
		},
		text: func(o options) (string, error) {
			w := o.words("stats")
			w.word("app")
			w.word("env")
			w.word("window")
			return w.done()
		},
	},
	commands.VerbCancel: {
		options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{
				appOpt(cs, true, "the app whose deploy to cancel"),
				envOpt(cs, "the env (default: the app's default env)"),
			}
		},
		text: func(o options) (string, error) {
			w := o.words("cancel")
			w.word("app")
			w.word("env")
			return w.done()
		},
	},
	commands.VerbAudit: {
		options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
			one := 1.0
			return []*discordgo.ApplicationCommandOption{
				appOpt(cs, false, "only entries about this app"),
				{Type: discordgo.ApplicationCommandOptionInteger, Name: "n", MinValue: &one, MaxValue: commands.MaxAudit,
					Description: fmt.Sprintf("how many entries (default %d)", commands.DefaultAudit)},
			}
		},
		text: func(o options) (string, error) {
			w := o.words("audit")
			w.word("app")
			w.integer("n")
			return w.done()
		},
	},
	commands.VerbGrant: {
		options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{
				userOpt("who gets the role"),
				roleOpt("the role of the configuration to give, e.g. deployer"),
				appOpt(cs, false, "only on this app (default: everywhere)"),
				envOpt(cs, "only on this env of the app (default: every env)"),
				durationOpt("how long, e.g. 30m, 2h, 1d or 1h30m (default: until revoked)"),
			}
		},
		text: func(o options) (string, error) {
			w := o.words("grant")
			w.mention("user")
			w.word("role")
			w.word("app")
			w.word("env")
			w.duration("duration")
			return w.done()
		},
	},
	commands.VerbRevoke: {
		options: func(cs choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{
				userOpt("whose role to take back"),
				roleOpt("the role given with grant"),
				appOpt(cs, false, "the app of the grant"),
				envOpt(cs, "the env of the grant"),
			}
		},
		text: func(o options) (string, error) {
			w := o.words("revoke")
			w.mention("user")
			w.word("role")
			w.word("app")
			w.word("env")
			return w.done()
		},
	},
	commands.VerbHere: {
		options: func(choiceSet) []*discordgo.ApplicationCommandOption {
			return []*discordgo.ApplicationCommandOption{durationOpt("how long you are around, e.g. 8h (default " + defaultHere() + ")")}
		},
		text: func(o options) (string, error) {
			w := o.words("here")
			w.duration("duration")
			return w.done()
		},
	},
	commands.VerbAway: {
		options: func(choiceSet) []*discordgo.ApplicationCommandOption { return nil },
		text:    func(o options) (string, error) { return o.words("away").done() },
	},
	commands.VerbAdmins: {
		options: func(choiceSet) []*discordgo.ApplicationCommandOption { return nil },
		text:    func(o options) (string, error) { return o.words("admins").done() },
	},
	commands.VerbHelp: {
		options: func(choiceSet) []*discordgo.ApplicationCommandOption {
			var verbs []string
			for _, v := range commands.Verbs() {
				verbs = append(verbs, string(v))
			}
			return []*discordgo.ApplicationCommandOption{{Type: discordgo.ApplicationCommandOptionString, Name: "command",
				Description: "the command to explain", Choices: choices(verbs)}}
		},
		text: func(o options) (string, error) {
			w := o.words("help")
			w.word("command")
			return w.done()
		},
	},
	commands.VerbWhoami: {
		options: func(choiceSet) []*discordgo.ApplicationCommandOption { return nil },
		text:    func(o options) (string, error) { return o.words("whoami").done() },
	},
}

// Commands returns the slash commands, one per verb of slashVerbs in help
// order, with the catalog's apps, envs and trains as choices.
func (a *Adapter) Commands() []*discordgo.ApplicationCommand {
	cs := choicesOf(a.cat)
	var cmds []*discordgo.ApplicationCommand
	for _, v := range slashVerbs() {
		spec, ok := slash[v]
		if !ok {
			continue
		}
		opts := optionsOf(spec, cs)
		if opts == nil {
			opts = []*discordgo.ApplicationCommandOption{}
		}
		cmds = append(cmds, &discordgo.ApplicationCommand{
			Type: discordgo.ChatApplicationCommand, Name: string(v), Description: describe(v), Options: opts,
		})
	}
	return cmds
}

// maxDescription is the longest command or option description Discord
// takes.
const maxDescription = 100

// describe is a verb's summary within the 100 characters Discord allows:
// its first sentence if that fits, else cut at a word.
func describe(v commands.Verb) string {
	s := commands.Summary(v)
	if runes(s) <= maxDescription {
		return s
	}
	if i := strings.Index(s, ". "); i > 0 && runes(s[:i+1]) <= maxDescription {
		return s[:i+1]
	}
	r := []rune(s)[:maxDescription-1]
	if i := strings.LastIndexByte(string(r), ' '); i > 0 {
		return strings.TrimRight(string(r)[:i], " ,;:") + "…"
	}
	return string(r) + "…"
}

// ErrTokenRefused is CheckToken's answer when Discord refuses the bot
// token.
var ErrTokenRefused = errors.New("refused by Discord")

// CheckToken asks Discord whether it accepts the bot token (GET
// users/@me). Its error wraps ErrTokenRefused when Discord answers 401;
// another error says Discord could not be asked. Without a bot token
// there is nothing to check. No error holds the token.
func (a *Adapter) CheckToken(ctx context.Context) error {
	if a.token == "" {
		return nil
	}
	_, err := a.s.User("@me", discordgo.WithContext(ctx))
	if re, ok := errors.AsType[*discordgo.RESTError](err); ok && re.Response != nil && re.Response.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("%w (%s)", ErrTokenRefused, re.Response.Status)
	}
	if err != nil {
		return fmt.Errorf("discord users/@me: %s", a.scrub(err))
	}
	return nil
}

// RegisterCommands replaces the application's slash commands with
// Commands (PUT applications/{app}/commands, or
// applications/{app}/guilds/{guild}/commands when GuildID is set). It
// needs the bot token.
func (a *Adapter) RegisterCommands(ctx context.Context) error {
	if a.token == "" {
		return errors.New("register discord commands: no bot token")
	}
	cmds := a.Commands()
	err := a.retry(ctx, func() error {
		_, err := a.s.ApplicationCommandBulkOverwrite(a.appID, a.guildID, cmds, discordgo.WithContext(ctx))
		return err
	})
	if err != nil {
		return fmt.Errorf("register discord commands: %s", a.scrub(err))
	}
	a.log.Info("discord commands registered", "commands", len(cmds), "guild", a.guildID)
	return nil
}

// retry runs a REST call, repeating it after retry_after while Discord
// answers 429 (at most maxRateLimited times) and ctx lasts.
//
// discordgo's own retry on 429 is off (ShouldRetryOnRateLimit, see New):
// it sleeps without a context and retries without bound, so a call
// whose answer is no use past a deadline (an interaction's response,
// the post of a deploy's progress) would wait for as long as Discord
// says. Its per-route buckets still hold back calls before they are
// sent.
func (a *Adapter) retry(ctx context.Context, f func() error) error {
	return a.retryBy(ctx, time.Time{}, f)
}

// retryBy is retry, but gives up, returning the 429, rather than wait
// past by (the real clock, which the waits run on; zero: no bound):
// the call would be sent too late to be of use.
func (a *Adapter) retryBy(ctx context.Context, by time.Time, f func() error) error {
	for i := 0; ; i++ {
		err := f()
		wait, limited := rateLimitWait(err)
		if !limited || i == maxRateLimited {
			return err
		}
		if !by.IsZero() && time.Now().Add(wait).After(by) {
			a.log.Info("discord rate limit: not waited for, past the call's deadline", "retry_after", wait, "deadline", by)
			return fmt.Errorf("%w (not tried again: the wait ends past the call's deadline)", err)
		}
		a.log.Info("discord rate limit", "retry_after", wait)
		if cerr := pause.For(ctx, wait); cerr != nil {
			// The 429 is why the call did not go out: the context's
			// error alone would leave the log and the audit to guess.
			return fmt.Errorf("%w while waiting out Discord's rate limit: %w", cerr, err)
		}
	}
}

// commandText writes a slash command invocation as a command of the
// grammar, e.g. /deploy app:web build:1337 env:prod dry_run:true as
// "deploy web 1337 to prod --dry-run". Values that are words in the
// grammar (app, env, build, duration, …) must be one plain word; free text
// (reasons) is quoted. The result is exactly what the user could have
// typed, so the Handler parses, authorises and audits it like any command.
//
// With cat, an app or env option names one of its apps or envs, or the
// command is refused: the user who filled the option meant that app or
// env, and the parser, reading the words, could take an unknown one for
// the first word of a lock's reason, locking more than was asked.
func commandText(d discordgo.ApplicationCommandInteractionData, cat commands.Catalog) (string, error) {
	spec, ok := slash[commands.Verb(d.Name)]
	if !ok {
		return "", fmt.Errorf("unknown command %q; try /help", clip(d.Name, 40))
	}
	opts := d.Options
	if spec.subs != nil {
		sub, err := subcommandOf(d.Name, spec, opts)
		if err != nil {
			return "", err
		}
		spec, opts = sub.slashSpec, opts[0].Options
	}
	o := options{vals: map[string]any{}, cat: cat}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if _, dup := o.vals[opt.Name]; dup {
			return "", fmt.Errorf("option %q is given twice", clip(opt.Name, 40))
		}
		o.vals[opt.Name] = opt.Value
	}
	if err := knownNames(d.Name, spec, o); err != nil {
		return "", err
	}
	return spec.text(o)
}

// knownNames refuses an app or env option that o's catalog does not
// know, offering the command with the name it likely meant, and a lock's
// env without its app. Without a catalog, or with a value that is no
// plain word (which the text refuses), it has nothing to say.
func knownNames(verb string, spec slashSpec, o options) error {
	if o.cat == nil {
		return nil
	}
	name := func(opt string) string {
		s, _ := o.vals[opt].(string)
		s = strings.TrimSpace(s)
		if !plainWord(s) {
			return ""
		}
		return s
	}
	// offer is the command with opt set to sug, marked as a suggestion,
	// or "" when that does not make one.
	offer := func(opt, sug string) string {
		vals := maps.Clone(o.vals)
		vals[opt] = sug
		text, err := spec.text(options{vals: vals, cat: o.cat})
		if err != nil {
			return ""
		}
		return suggest.Command(text)
	}
	unknown := func(what, opt, value string, known []string) error {
		msg := fmt.Sprintf("unknown %s %q", what, value)
		if s, ok := commands.Suggest(value, known); ok {
			if cmd := offer(opt, s); cmd != "" {
				msg += fmt.Sprintf("; did you mean %s?", cmd)
			} else {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
		} else {
			msg += ";"
		}
		return fmt.Errorf("%s known %ss: %s; nothing was run", msg, what, strings.Join(known, ", "))
	}
	app, env := name("app"), name("env")
	if app != "" && !slices.Contains(o.cat.Apps(), app) {
		if len(o.cat.Apps()) == 0 {
			return fmt.Errorf("unknown app %q; no apps are configured; nothing was run", app)
		}
		return unknown("app", "app", app, slices.Sorted(slices.Values(o.cat.Apps())))
	}
	switch {
	case env == "":
	case app != "" && !slices.Contains(o.cat.Envs(app), env):
		err := unknown("env", "env", env, o.cat.Envs(app))
		return fmt.Errorf("%s", strings.Replace(err.Error(), fmt.Sprintf("%q;", env), fmt.Sprintf("%q for %s;", env, app), 1))
	case app == "" && verb == string(commands.VerbLock):
		return fmt.Errorf("env:%s needs the app whose env it is: add app:, or leave env: out to lock every app; nothing was run", env)
	}
	return nil
}

// subcommandOf returns the subcommand that opts invoke: exactly one
// option, a subcommand of spec.
func subcommandOf(verb string, spec slashSpec, opts []*discordgo.ApplicationCommandInteractionDataOption) (subcommand, error) {
	names := make([]string, len(spec.subs))
	for i, sub := range spec.subs {
		names[i] = sub.name
	}
	if len(opts) == 1 && opts[0] != nil && opts[0].Type == discordgo.ApplicationCommandOptionSubCommand {
		for _, sub := range spec.subs {
			if sub.name == opts[0].Name {
				return sub, nil
			}
		}
	}
	return subcommand{}, fmt.Errorf("choose one subcommand of /%s: %s", verb, strings.Join(names, ", "))
}

// options are the values of one invocation, by option name, and the
// catalog they are read with (nil when unknown).
type options struct {
	vals map[string]any
	cat  commands.Catalog
}

func (o options) words(first ...string) *words {
	return &words{o: o, parts: first, used: map[string]bool{}}
}

// words builds a command text from options; the first error sticks.
type words struct {
	o     options
	parts []string
	used  map[string]bool
	err   error
}

func (w *words) add(s ...string) { w.parts = append(w.parts, s...) }

// str returns a string option ("" when absent).
func (w *words) str(name string) string {
	w.used[name] = true
	v, ok := w.o.vals[name]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		w.fail(fmt.Errorf("option %s must be text", name))
	}
	return strings.TrimSpace(s)
}

func (w *words) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// word adds a one-word option's value, if given.
func (w *words) word(name string) {
	if s := w.str(name); s != "" {
		w.add(w.checkWord(name, s))
	}
}

// keyword adds "kw VALUE" for a one-word option, if given.
func (w *words) keyword(kw, name string) {
	if s := w.str(name); s != "" {
		w.add(kw, w.checkWord(name, s))
	}
}

// value adds a one-word option's value, if given, quoted when it is a
// word of the grammar (commands.IsReserved): unquoted, /deploy
// app:confirm build:ID would confirm the deploy ID rather than deploy
// the app confirm, and build:to would leave the deploy without a build.
// Only where the parser reads a quoted word as that value (the app of
// deploy, a build) is it quoted.
func (w *words) value(name string) {
	if s := w.str(name); s != "" {
		w.add(reservedQuoted(w.checkWord(name, s)))
	}
}

// build adds the build option of deploy or train board, if given,
// quoted when it is a word of the grammar or names an app, env or train
// of the catalog: unquoted, build:prod would be read as the env prod,
// and refused as a deploy whose build is missing. The parser reads a
// quoted word there as the build.
func (w *words) build(name string) {
	s := w.str(name)
	if s == "" {
		return
	}
	s = w.checkWord(name, s)
	if cat := w.o.cat; cat != nil && !commands.IsReserved(s) && namedIn(cat, s) {
		w.add(`"` + s + `"`)
		return
	}
	w.add(reservedQuoted(s))
}

// namedIn reports whether s names an app, an env of any app, or a train
// of cat.
func namedIn(cat commands.Catalog, s string) bool {
	if slices.Contains(cat.Apps(), s) || slices.Contains(cat.Trains(), s) {
		return true
	}
	for _, app := range cat.Apps() {
		if slices.Contains(cat.Envs(app), s) {
			return true
		}
	}
	return false
}

// keywordValue adds "kw VALUE" for a one-word option, if given, the
// value quoted as value quotes it.
func (w *words) keywordValue(kw, name string) {
	if s := w.str(name); s != "" {
		w.add(kw, reservedQuoted(w.checkWord(name, s)))
	}
}

// reservedQuoted quotes s if it is a word of the grammar. A word option
// holds no quote (checkWord), so the quoting is exact.
func reservedQuoted(s string) string {
	if commands.IsReserved(s) {
		return `"` + s + `"`
	}
	return s
}

// duration adds "for" and the duration option name. The parser reads
// "for X" as a duration only when X starts with a digit, and otherwise as
// words of a lock's reason: a duration that is none ("eod") is refused
// here, rather than make a lock that never expires.
func (w *words) duration(name string) {
	s := w.str(name)
	if s == "" {
		return
	}
	if s[0] < '0' || s[0] > '9' {
		w.fail(fmt.Errorf("%s must be a number and a unit, e.g. 30m, 2h, 1d or 1h30m, not %q", name, clip(s, 40)))
		return
	}
	w.add("for", w.checkWord(name, s))
}

// checkWord returns s, the value of the word option name, or records
// why it is refused: not one word, not ASCII, or over its cap.
func (w *words) checkWord(name, s string) string {
	if !plainWord(s) {
		w.fail(fmt.Errorf("%s must be one word without spaces, quotes or a leading dash, not %q", name, clip(s, 40)))
		return s
	}
	if err := checkASCIIWord(name, s); err != nil {
		w.fail(err)
	}
	return s
}

// checkASCIIWord refuses a value of the word option name that is not
// ASCII or is longer than its cap, in the words the parser refuses a bad
// value with. An option without a rule is refused: its budget is unknown.
func checkASCIIWord(name, s string) error {
	r, ok := wordRules[name]
	if !ok {
		return fmt.Errorf("option %s has no word rule", name)
	}
	ascii := true
	for i := range len(s) {
		ascii = ascii && s[i] < utf8.RuneSelf
	}
	if ascii && len(s) <= r.max {
		return nil
	}
	if r.check != nil {
		// The parser's own check refuses every value not ASCII or over
		// the cap, in its own words.
		if err := r.check(s); err != nil {
			return err
		}
	}
	if !ascii {
		c := firstNonASCII(s)
		return fmt.Errorf("%s %q contains the non-ASCII character %q (%U), maybe a look-alike of an ASCII one; %s", r.what, clip(s, 40), c, c, r.rule)
	}
	return fmt.Errorf("%s %q is %d characters long; the limit is %d", r.what, clip(s, 40), len(s), r.max)
}

// firstNonASCII returns the first rune of s that is not ASCII.
func firstNonASCII(s string) rune {
	for _, r := range s {
		if r >= utf8.RuneSelf {
			return r
		}
	}
	return utf8.RuneError
}

// mention adds a user option (a Discord user id) as a mention, <@ID>,
// which the parser takes as a user id of the platform.
func (w *words) mention(name string) {
	s := w.str(name)
	if s == "" {
		return
	}
	if strings.Trim(s, "0123456789") != "" || len(s) > 20 {
		w.fail(fmt.Errorf("option %s must be a Discord user", name))
		return
	}
	w.add("<@" + s + ">")
}

// quoted adds "[flag] "TEXT"" for a free-text option, if given.
func (w *words) quoted(flag, name string) {
	s := w.str(name)
	if s == "" {
		return
	}
	q, err := quote(s)
	if err != nil {
		w.fail(fmt.Errorf("%s: %w", name, err))
	}
	if flag != "" {
		w.add(flag)
	}
	w.add(q)
}

// flag returns a boolean option (false when absent).
func (w *words) flag(name string) bool {
	w.used[name] = true
	v, ok := w.o.vals[name]
	if !ok || v == nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		w.fail(fmt.Errorf("option %s must be true or false", name))
	}
	return b
}

// integer adds an integer option, if given.
func (w *words) integer(name string) {
	w.used[name] = true
	v, ok := w.o.vals[name]
	if !ok || v == nil {
		return
	}
	f, ok := v.(float64) // JSON numbers
	if !ok || f != float64(int64(f)) || f < -1e9 || f > 1e9 {
		w.fail(fmt.Errorf("option %s must be a whole number", name))
		return
	}
	w.add(strconv.FormatInt(int64(f), 10))
}

func (w *words) done() (string, error) {
	for name := range w.o.vals {
		if !w.used[name] {
			w.fail(fmt.Errorf("unknown option %q", clip(name, 40)))
		}
	}
	if w.err != nil {
		return "", w.err
	}
	return strings.Join(w.parts, " "), nil
}

// plainWord reports whether s reads back as the same single word: no
// white space, no quote (which could open a quoted word) and no leading
// dash (which could make a flag).
func plainWord(s string) bool {
	if s == "" || s[0] == '-' || strings.HasPrefix(s, "\u2014") || strings.HasPrefix(s, "\u2013") {
		return false
	}
	for _, r := range s {
		if unicode.IsSpace(r) || strings.ContainsRune(quoteChars, r) {
			return false
		}
	}
	return true
}

// quoteChars are the characters the parser takes as quotes.
const quoteChars = "\"'\u201c\u201d\u2018\u2019\u201e\u00ab\u00bb"

// quote wraps free text in quotes the parser reads back unchanged.
func quote(s string) (string, error) {
	if q, ok := commands.Quote(s); ok {
		return q, nil
	}
	if strings.Contains(s, "\t") {
		return "", errors.New("the text holds a tab; use spaces")
	}
	return "", errors.New(`the text holds every kind of closing quote before a space; rephrase it`)
}
