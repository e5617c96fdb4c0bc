// Package commands is Switchman's command language: one grammar, shared by
// every chat adapter, and Parse, which turns one chat message into a typed
// Result (run a command, reply to the user, or ignore). The package does no
// I/O: it learns about the configuration only through the Catalog it is
// given, and it never runs anything.
package commands

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// Limits of the language.
const (
	// MaxCommandLen is the longest command text Parse accepts, in bytes.
	MaxCommandLen = 1000
	// MaxReplyLen bounds every reply Parse produces, in bytes, so that it
	// fits in one message on every platform (Discord allows 2000 characters).
	MaxReplyLen = 2000
	// DefaultHistory and MaxHistory bound "history N".
	DefaultHistory = 10
	MaxHistory     = 100
	// DefaultAudit and MaxAudit bound "audit N".
	DefaultAudit = 20
	MaxAudit     = 200
	// MaxLockFor is the longest "for DURATION" of lock, grant and here. It
	// catches typos such as "for 300d"; a lock or grant meant to last longer
	// is made without "for" and lifted by hand.
	MaxLockFor = 90 * 24 * time.Hour
	// DefaultHereFor is how long "here" without "for" lasts. Parse leaves
	// Command.For at 0 then; the service applies this default, and help
	// quotes it.
	DefaultHereFor = 4 * time.Hour
	// DefaultStatsWindow and MaxStatsWindow bound the WINDOW of stats, a
	// whole number of days.
	DefaultStatsWindow = 30 * day
	MaxStatsWindow     = 365 * day
	// day is the unit of a stats window.
	day = 24 * time.Hour
	// maxUserLen is the longest user name or mention id, in bytes.
	maxUserLen = 64
	// maxRoleLen is the longest role name, in bytes.
	maxRoleLen = 32
	// DefaultBotName is what the bot answers to when Options.BotName is empty.
	DefaultBotName = "switchman"
	// maxEcho is how many characters of a user's token a reply quotes back.
	maxEcho = 40
	// maxListed is how many known names a reply lists.
	maxListed = 20
)

// Catalog is what the parser needs to know about the configuration. Its
// methods must be safe for concurrent use if Parse is called concurrently.
type Catalog interface {
	Apps() []string               // sorted app names
	Envs(app string) []string     // sorted env names of app (nil for unknown app)
	DefaultEnv(app string) string // the app's default env
	Trains() []string             // sorted train names
}

// Verb names a command.
type Verb string

// The verbs of the grammar.
const (
	VerbDeploy   Verb = "deploy"
	VerbRollback Verb = "rollback"
	VerbLock     Verb = "lock"
	VerbUnlock   Verb = "unlock"
	VerbTrain    Verb = "train"
	VerbStatus   Verb = "status"
	VerbHistory  Verb = "history"
	VerbStats    Verb = "stats"
	VerbCancel   Verb = "cancel"
	VerbAudit    Verb = "audit"
	VerbGrant    Verb = "grant"
	VerbRevoke   Verb = "revoke"
	VerbHere     Verb = "here"
	VerbAway     Verb = "away"
	VerbAdmins   Verb = "admins"
	VerbHelp     Verb = "help"
	VerbWhoami   Verb = "whoami"

	// VerbConfirm and VerbAbort answer the migrations prompt of a running
	// deploy: "deploy confirm ID" runs the pending migrations and lets the
	// deploy go on, "deploy abort ID" stops it before anything is migrated
	// or switched. They are forms of deploy, not commands of their own:
	// Verbs does not list them, and "confirm ID" alone is refused. Parse
	// says when "confirm" and "abort" after deploy are these keywords.
	VerbConfirm Verb = "confirm"
	VerbAbort   Verb = "abort"
)

// The values of Command.TrainAction: what a VerbTrain command does. Each
// but TrainList is also the keyword written after "train".
const (
	TrainList   = "list"   // train: list the trains
	TrainBoard  = "board"  // train board APP BUILD [to ENV] [on TRAIN]
	TrainLeave  = "leave"  // train leave APP [on TRAIN]
	TrainCancel = "cancel" // train cancel [TRAIN] reason…
	TrainDepart = "depart" // train depart [TRAIN] now
)

// Command is a parsed, valid command. Fields that the verb does not use are
// zero. App and Env, when set, exist in the Catalog; Build, when set,
// satisfies CheckBuild; no field contains a control character.
type Command struct {
	Verb Verb
	// App and Env name the target. Env is filled with the app's DefaultEnv
	// for deploy, rollback and cancel when the user omitted it. For lock,
	// unlock, history, stats, grant and revoke an empty Env means every env
	// of App, and an empty App means every app (stats always has an App);
	// for train board an empty Env means the train's env. Status, audit and
	// train leave take no Env.
	App, Env string
	// Build is the build of deploy and train board, and the `to BUILD`
	// target of rollback ("" = previous good).
	Build string
	// From is rollback's `from BUILD`: roll back only if app/env runs BUILD
	// now ("" = whatever runs). A deploy message's Rollback button sends
	// it, so that a click on an old message cannot roll back a later
	// deploy.
	From   string
	DryRun bool   // deploy --dry-run
	Force  string // deploy --force "reason": the reason, never empty when the flag was given
	// Reason is why, never empty for lock and train cancel.
	Reason string
	// For is the `for DURATION` of lock and grant (0 = until unlocked or
	// revoked) and of here (0 = DefaultHereFor, applied by the service),
	// at most MaxLockFor; and the WINDOW of stats, never 0 for it: whole
	// days, DefaultStatsWindow when omitted, at most MaxStatsWindow.
	For time.Duration
	N   int // history N (default 10, max 100); audit N (default 20, max 200)
	// User is whom grant and revoke are about, never empty for them: the
	// user name of "@ana" ("ana"), or, when UserIsID is set, the platform
	// id of a chat mention ("U024BE7LH" of <@U024BE7LH>, <@!U024BE7LH> or
	// <@U024BE7LH|ana>), which the chat adapter maps to a user. A name is
	// 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or
	// digit; an id is 1-64 ASCII letters and digits.
	User     string
	UserIsID bool
	// Role is the role grant and revoke give or take, never empty for them.
	// It has the shape of a role name (a lowercase letter, then up to 31
	// lowercase letters, digits, '_' or '-'); whether the configuration
	// defines it is for the service to check.
	Role  string
	Topic string // help topic: a verb, or "" for the overview
	// TrainAction is what VerbTrain does, never empty for it: TrainList,
	// TrainBoard, TrainLeave, TrainCancel or TrainDepart. Empty for every
	// other verb.
	TrainAction string
	// Train is the train of train board, leave, cancel and depart, never
	// empty for them: one of the Catalog's Trains, the one named or, when
	// none is named, the only one (Parse asks which one when there are
	// several). Empty for every other command, train list included.
	// train leave and train cancel may name, quoted, a train the Catalog
	// does not have (TrainGone).
	Train string
	// TrainGone is set for a train leave or cancel whose train, named in quotes,
	// is not the Catalog's: one removed from the config or renamed,
	// whose cars still aboard nothing else takes off. Whether it has any
	// is for the service to say.
	TrainGone bool
	// AppGone is set for a train leave whose app is not the Catalog's
	// (one removed from the config, whose car may still be aboard): named
	// in quotes, or on a train that is TrainGone. Whether it has a car
	// aboard is for the service to say.
	AppGone bool
	// DeployID is the deploy whose migrations prompt confirm and abort
	// answer, never empty for them. It satisfies CheckDeployID, e.g.
	// 20261123-124158-b25a0a. Confirm and abort set no other field but
	// Verb and Text.
	DeployID string
	// Text is the command in canonical form, for the audit log and for
	// the actions of chat buttons: lower-case verb, defaults filled in,
	// reasons quoted, users written as @name or <@ID>, e.g.
	// `deploy accounting 1337 to production --force "INC-42"`,
	// `grant @ana deployer accounting production for 2h`,
	// `train board web 42 to production on daily`, `stats web 30d` or
	// `deploy confirm 20261123-124158-b25a0a`. Parsing Text again yields
	// the same Command, unless a reason holds every kind of closing quote
	// before a space (see quoteReason).
	Text string
}

// ResultKind says what the adapter should do with a Result.
type ResultKind int

// The zero ResultKind is Ignore, so a zero Result never runs anything.
const (
	// Ignore: the text was empty or white space only; say nothing.
	Ignore ResultKind = iota
	// Run: Cmd is a valid command to execute.
	Run
	// Reply: post Reply to the user; nothing runs.
	Reply
)

func (k ResultKind) String() string {
	switch k {
	case Ignore:
		return "ignore"
	case Run:
		return "run"
	case Reply:
		return "reply"
	}
	return "ResultKind(" + strconv.Itoa(int(k)) + ")"
}

// Result is the outcome of Parse.
type Result struct {
	Kind ResultKind
	// Cmd is the command for Run. For Reply only Cmd.Verb is set, and only
	// when the verb was recognised.
	Cmd Command
	// Reply is the message for the user: the reason for the rejection for
	// Reply, the generated help text for a Run of VerbHelp, "" otherwise.
	// It is plain text of at most MaxReplyLen bytes; user input in it is
	// quoted with %q and cut to 40 characters.
	Reply string
	// usage, for a Reply that ends with the usage of its command, is that
	// command: the usage of the first usageN of usage.usageSpecs() is
	// written on the lines of Reply from usageFrom on (see Usages).
	usage             *spec
	usageFrom, usageN int
	// lead, for a Reply whose first line ends with the usage of a form
	// ("write it after deploy: deploy confirm ID"), is that form.
	lead *spec
}

// Usages names, for a Reply that ends with the usage of its command, the
// lines of Reply (split at "\n") that give it, and the command of each,
// for an adapter that shows the usage in a form of its own; a line cut
// off by MaxReplyLen is not among them. It is nil for any other Result.
func (r Result) Usages() []UsageLine {
	lines := strings.Split(r.Reply, "\n")
	var us []UsageLine
	if r.lead != nil && strings.HasSuffix(lines[0], r.lead.usage) {
		us = append(us, r.lead.usageRef(0))
	}
	if r.usage == nil {
		return us
	}
	for i, s := range r.usage.usageSpecs()[:r.usageN] {
		u := s.usageRef(r.usageFrom + i)
		if u.Line < len(lines) && strings.HasSuffix(lines[u.Line], u.Text) {
			us = append(us, u)
		}
	}
	return us
}

// Options adjust Parse. The zero value is ready to use.
type Options struct {
	// BotName is the name the bot answers to in "@switchman deploy …",
	// matched case-insensitively; default DefaultBotName.
	BotName string
	// slips counts the commands offered for slips that parse is checking
	// (see settle), so that a chain of them ends.
	slips int
}

func (o Options) botName() string {
	if name := strings.TrimPrefix(o.BotName, "@"); name != "" {
		return name
	}
	return DefaultBotName
}

// Parse parses one chat message that the adapter has decided is addressed
// to the bot (a DM, a slash command, a message starting with a mention or
// with "/"); telling addressed messages from chatter in a channel is the
// adapter's business. Adapters decode their platform's escaping first
// (Slack sends "&lt;" for "<").
//
// These forms are equivalent: "deploy demo 1", "/deploy demo 1",
// "@switchman deploy demo 1" (Options.BotName, any case) and
// "<@U123ABC> deploy demo 1" (a Slack or Discord mention token, <@!123> and
// <@123> too). One leading mention is stripped, then one "/".
//
// "confirm" and "abort" (any case, unquoted) right after "deploy" make the
// forms "deploy confirm ID" and "deploy abort ID" (VerbConfirm,
// VerbAbort), whose ID must satisfy CheckDeployID. When the Catalog has an
// app of that very name, the word names the app unless a deploy id follows
// it: with an app "confirm", "deploy confirm 1337" deploys build 1337 of
// it, while "deploy confirm 20261123-124158-b25a0a" still confirms. Quoted,
// the app is never the keyword: deploy "confirm" 20261123-124158-b25a0a
// deploys that build, and Text quotes it so. Anywhere else the words are
// ordinary words.
//
// Likewise "board", "leave", "cancel" and "depart" (any case, unquoted)
// right after "train" select what the train command does (TrainAction);
// "train" alone lists the trains. No app competes with them: the bare
// "train" takes no argument.
//
// The result is:
//   - Ignore when text is empty or white space only: there is nothing to
//     answer.
//   - Reply when text holds only a mention or "/" (the reply is a short hint
//     to try help), or when it is not a valid command: the reply says what
//     was wrong and what is valid, including the usage line of the command
//     (after the bare "train", those of its actions too).
//   - Run for a valid command, with Cmd filled in and defaults applied. For
//     help, Result.Reply also holds the help text, generated from the
//     grammar.
//
// Text longer than MaxCommandLen bytes, text that is not UTF-8, and text
// containing a control character (other than tab), a line break, or an
// invisible formatting character (such as a right-to-left override) is
// refused as a whole. The marks the bot puts on the commands it suggests
// are taken out first (see suggest): only the bot suggests, and a reason
// or name that carried them would be shown as the bot's suggestion.
//
// Parse does no I/O and is safe for concurrent use when cat is. A nil cat
// is treated as a catalog without apps.
func Parse(text string, cat Catalog, opt Options) Result {
	if cat == nil {
		cat = noApps{}
	}
	r := parse(suggest.Strip(text), cat, opt)
	r.Reply = clip(r.Reply, MaxReplyLen)
	return r
}

func parse(text string, cat Catalog, opt Options) Result {
	if len(text) > MaxCommandLen {
		return reply(fmt.Sprintf("command too long (%d bytes; the limit is %d)", len(text), MaxCommandLen))
	}
	if strings.TrimSpace(text) == "" {
		return Result{Kind: Ignore}
	}
	if msg := checkChars(text); msg != "" {
		return reply(msg)
	}
	text = plainSpaces(text)
	rest := stripAddress(text, opt.botName())
	if rest == "" {
		return reply(fmt.Sprintf(`Hi, I'm %s. Try "help" for the list of commands, e.g. "help deploy".`, opt.botName()))
	}
	toks, err := tokenize(rest)
	if err != nil {
		first := strings.Fields(rest)[0] // rest is not blank
		if s := lookup(Verb(strings.ToLower(first))); s != nil {
			return refusal(err.Error(), s, 1)
		}
		return reply(err.Error())
	}
	word := toks[0].s
	s := lookup(Verb(strings.ToLower(word)))
	if s == nil {
		if f := formNamed(word); f != nil {
			// "confirm 20261123-124158-b25a0a": the prompt's answer
			// without its "deploy".
			r := reply(fmt.Sprintf("unknown command %s; write it after %s: %s", echo(word), f.parent.verb, f.usage))
			r.lead = f
			return r
		}
		if v := disguised(word, func(w string) bool { return lookup(Verb(w)) != nil }); v != "" {
			return reply(fmt.Sprintf("unknown command %s: it looks like %s but is written with other characters (%s); type it again", echo(word), v, nonASCII(word)))
		}
		msg := "unknown command " + echo(word) + ";"
		if sug, ok := Suggest(word, verbNames()); ok {
			msg += fmt.Sprintf(" did you mean %q?", sug)
		}
		return reply(msg + ` try "help" for the list of commands`)
	}
	p := &parser{cat: cat, spec: s}
	args := toks[1:]
	if len(args) > 0 && !args[0].quoted && strings.EqualFold(args[0].s, word) && !hasHelpFlag(args) && (verbMayRepeat(s.verb, args[0].s, cat) || s.verb == VerbTrain && len(args) > 1 && s.formNamed(args[1].s) != nil) {
		// "deploy deploy web 1337": the verb written twice, not an app
		// or a stray word. The catalog decides: an app may be named so.
		// "train train board …" is too, where "train train" alone is an
		// unknown action.
		return offerOnce(args[0].s, strings.TrimSpace(string(s.verb)+" "+writtenWords(args[1:])), s, cat, opt)
	}
	if f := p.form(args); f != nil {
		p.spec, p.keyword, args = f, args[0].s, args[1:]
		s = f
		if f.isAction() && f.keyword != "cancel" && len(args) > 0 && isWord(args[0], f.keyword) && !p.isApp(args[0].s) && !p.isTrain(args[0].s) && !hasHelpFlag(args) {
			// "train board board web 1337": the action written twice,
			// not an app or a train named so. Train cancel's reason is
			// free text, which may start so.
			return offerOnce(args[0].s, strings.TrimSpace(f.name()+" "+writtenWords(args[1:])), s, cat, opt)
		}
	}
	given := args
	args, err = p.takeFlags(args)
	flagsTaken := err == nil
	if err == nil && p.noValue != nil {
		err = p.withNoValue(s.parse(p, args))
	}
	if err == nil && p.help {
		// "deploy --help" and "deploy confirm --help" are "help deploy".
		cmd := Command{Verb: VerbHelp, Topic: string(s.command().verb)}
		cmd.Text = cmd.canonical(cat)
		return Result{Kind: Run, Cmd: cmd, Reply: Help(cmd.Topic, cat)}
	}
	if err == nil && p.badFlag != nil && p.badFlagTypo {
		err = p.badFlag
	}
	var cmd Command
	if err == nil {
		cmd, err = s.parse(p, args)
		if err != nil && p.badFlag != nil && p.badFlagValue > 0 {
			// The word after an unknown flag, meant as its value, reads
			// as an argument: when the arguments parse without it, the
			// flag is what was wrong ("-f INC-42" is no "unexpected
			// word INC-42").
			if _, werr := s.parse(p, slices.Delete(slices.Clone(args), p.badFlagValue-1, p.badFlagValue)); werr == nil {
				err = p.badFlag
			}
		}
		if err != nil && p.badFlag != nil && suggest.Strip(err.Error()) != err.Error() {
			// A command offered for the arguments drops the unknown
			// flag, and may take its value for an argument ("rollback
			// web --force x y" offered a rollback to a build "x"): the
			// flag is answered first.
			err = p.badFlag
		}
	}
	if err == nil {
		err = p.badFlag
	}
	if flagsTaken && len(p.flagTwice) > 0 {
		// "deploy web 1337 --dry-run --dry-run": the command without
		// the second writing of the first flag written twice is checked
		// as every slip's is (see settle), so that a second flag written
		// twice, or what is wrong in the rest, is named with it.
		name := p.flagTwice[0]
		var once []token
		for i, t := range given {
			if !slices.Contains(p.flagTwiceAt[name], i) {
				once = append(once, t)
			}
		}
		err = writtenTwice(name, suggest.Command(p.spec.name()+" "+writtenWords(once)))
	}
	if err != nil {
		err = settle(err, cat, opt)
		r := refusal(err.Error(), s, len(s.usageSpecs()))
		if fu, ok := errors.AsType[*formUsage](err); ok {
			r.lead = fu.form
		}
		return r
	}
	cmd.Verb = s.verb
	cmd.Text = cmd.canonical(cat)
	res := Result{Kind: Run, Cmd: cmd}
	if cmd.Verb == VerbHelp {
		res.Reply = Help(cmd.Topic, cat)
	}
	return res
}

// withNoValue returns p.noValue, naming first the slip err, the error
// the arguments gave, if it is one: no command is offered for it, as the
// flag's value is the user's to write.
func (p *parser) withNoValue(_ Command, err error) error {
	var se *slipError
	if errors.As(err, &se) {
		return fmt.Errorf("%s%w", se.and(), p.noValue)
	}
	return p.noValue
}

func reply(msg string) Result { return Result{Kind: Reply, Reply: msg} }

// hasHelpFlag reports whether args hold --help or -h, which asks for the
// command's help whatever else is written: "deploy deploy --help" is
// "help deploy", as "deploy --help" is, not a verb written twice to
// write once.
func hasHelpFlag(args []token) bool {
	return slices.ContainsFunc(args, func(t token) bool {
		if !isFlag(t) {
			return false
		}
		name, _, _ := strings.Cut(t.s, "=")
		name = strings.ToLower(flagName(name))
		return name == "--help" || name == "-h"
	})
}

// offerOnce refuses the word w, written twice, offering fixed, the
// command with it once. A fixed that is refused in turn (an unknown flag,
// a missing build, a second slip) is checked as every slip's command is
// (see settle): the reply names w and then what else is wrong, and
// offers only a command that fixes both, so that the user is neither
// sent a command that fails nor left to find w once the rest is right.
func offerOnce(w, fixed string, s *spec, cat Catalog, opt Options) Result {
	err := settle(writtenTwice(w, suggest.Command(fixed)), cat, opt)
	return refusal(err.Error(), s, len(s.usageSpecs()))
}

// verbMayRepeat reports whether w, the word after verb and that very
// verb again, is it written twice: not where help takes a topic, which
// may be help itself, nor where train lists the trains (answered so), nor
// where an app goes and the catalog has an app of that name.
func verbMayRepeat(verb Verb, w string, cat Catalog) bool {
	return verb != VerbHelp && verb != VerbTrain && !slices.Contains(cat.Apps(), w)
}

// checkChars returns why text is refused as a whole, or "". Tab is allowed
// (it separates words, and becomes a space inside quotes). Zero-width
// joiners and non-joiners are allowed: emoji and several scripts need them.
func checkChars(text string) string {
	if !utf8.ValidString(text) {
		return "command is not valid UTF-8; send it as plain text"
	}
	for i, r := range text {
		switch {
		case r == '\t' || r == '\u200c' || r == '\u200d':
		case r == '\n' || r == '\r' || r == '\u0085' || r == '\u2028' || r == '\u2029':
			return fmt.Sprintf("command contains a line break (at byte %d); send one command per message, on one line", i)
		case unicode.Is(unicode.Cc, r):
			return fmt.Sprintf("command contains the control character %U (at byte %d); commands are plain text on one line", r, i)
		case isBidiControl(r):
			return fmt.Sprintf("command contains the invisible text-direction character %U (at byte %d); retype the command without it", r, i)
		case unicode.Is(unicode.Cf, r):
			return fmt.Sprintf("command contains the invisible formatting character %U (at byte %d); retype the command without it", r, i)
		case r == '\u115f' || r == '\u1160' || r == '\u3164' || r == '\uffa0' || r == '\u2800':
			// Letters that show as blanks: "web\u3164production" looks
			// like two words and is one.
			return fmt.Sprintf("command contains the blank-looking character %U (at byte %d); use a plain space", r, i)
		}
	}
	return ""
}

func isBidiControl(r rune) bool {
	return r == '\u061c' || r == '\u200e' || r == '\u200f' ||
		('\u202a' <= r && r <= '\u202e') || ('\u2066' <= r && r <= '\u2069')
}

// stripAddress removes what addresses the message to the bot: leading
// blanks, one mention (and a ":" or "," after it), then one "/". It returns
// the rest, trimmed.
func stripAddress(s, bot string) string {
	s = trimBlank(s)
	n := mentionLen(s)
	if n == 0 {
		n = botMentionLen(s, bot)
	}
	if n > 0 {
		s = s[n:]
		if s != "" && (s[0] == ':' || s[0] == ',') {
			s = s[1:]
		}
	}
	s = trimBlank(s)
	s = strings.TrimPrefix(s, "/")
	return trimBlank(s)
}

// LeadingMention returns the platform mention token that text starts with,
// after blanks ("<@U123ABC>", "<@!123>", "<@U123ABC|ana>"), or "" if none.
// Parse strips such a mention as the bot's, as the adapters that pass it
// text starting with one have checked; an adapter without platform users
// (the console) cannot tell whom it names, and refuses such text. It
// reads text as Parse does: a no-break or other Unicode space before the
// mention is a blank, and the marks of suggestions are taken out, so that
// no mention Parse strips goes unseen here. Only the text up to its first
// ">", where such a mention would end, is read: an adapter asks of each
// mention in a long message.
func LeadingMention(text string) string {
	end := strings.IndexByte(text, '>')
	if end < 0 {
		return ""
	}
	s := trimBlank(plainSpaces(suggest.Strip(text[:end+1])))
	return s[:mentionLen(s)]
}

// mentionLen returns the length of a platform mention token at the start of
// s: <@U123ABC>, <@!123>, <@123>, or Slack's <@U123ABC|name>; 0 if none.
func mentionLen(s string) int {
	rest, ok := strings.CutPrefix(s, "<@")
	if !ok {
		return 0
	}
	rest = strings.TrimPrefix(rest, "!")
	id := 0
	for id < len(rest) && isASCIIAlnum(rest[id]) {
		id++
	}
	if id == 0 || id == len(rest) {
		return 0
	}
	switch rest[id] {
	case '>':
		return len(s) - len(rest) + id + 1
	case '|':
		if end := strings.IndexByte(rest[id:], '>'); end > 0 {
			return len(s) - len(rest) + id + end + 1
		}
	}
	return 0
}

// botMentionLen returns the length of "@NAME" at the start of s when NAME
// is bot in any case and ends a word; 0 if not.
func botMentionLen(s, bot string) int {
	n := 1 + len(bot)
	if len(s) < n || s[0] != '@' || !strings.EqualFold(s[1:n], bot) {
		return 0
	}
	if n < len(s) && !isSep(s[n]) && s[n] != ':' && s[n] != ',' {
		return 0
	}
	return n
}

func trimBlank(s string) string { return strings.Trim(s, " \t") }

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// token is one word of a command.
type token struct {
	s string
	// quoted is true when the word was written in quotes. Quoted words are
	// never flags or keywords, and lock never takes them as APP or ENV.
	quoted bool
}

// quoteClosers maps each opening quote to the quotes that close it. Curly
// quotes are there because phones and macOS substitute them for typed ones.
var quoteClosers = map[rune]string{
	'"':      `"`,
	'\'':     `'`,
	'\u201c': "\u201d\u201c", // “…” and “…“
	'\u201d': "\u201d",       // ”…”
	'\u2018': "\u2019",       // ‘…’
	'\u2019': "\u2019",       // ’…’
	'\u201e': "\u201c\u201d", // „…“
	'\u00ab': "\u00bb",       // «…»
}

// tokenize splits s into words on spaces and tabs. A quote at the start of
// a word (or just after the "=" of a flag) opens a quoted word, which ends
// at a matching quote followed by a space, a tab or the end of the text; a
// quote elsewhere is an ordinary character, so "don't" needs no escaping.
// Tabs inside quotes become spaces. There are no backslash escapes.
func tokenize(s string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(s) && isSep(s[i]) {
			i++
		}
		if i == len(s) {
			return toks, nil
		}
		start := i
		quoted := false
		var b strings.Builder
		for i < len(s) && !isSep(s[i]) {
			r, size := utf8.DecodeRuneInString(s[i:])
			closers, isQuote := quoteClosers[r]
			if isQuote && (i == start || s[i-1] == '=' && isFlagStart(s[start:])) {
				body := i + size
				end, endSize := closingQuote(s[body:], closers)
				if end < 0 {
					closer, _ := utf8.DecodeRuneInString(closers)
					return nil, fmt.Errorf("missing closing quote: %s opens %s but nothing closes it; end the quoted text with %s", quoteMark(r), echo(s[body:]), quoteMark(closer))
				}
				b.WriteString(strings.ReplaceAll(s[body:body+end], "\t", " "))
				quoted = i == start
				i = body + end + endSize
				break // a closing quote is followed by a separator or the end
			}
			b.WriteString(s[i : i+size])
			i += size
		}
		toks = append(toks, token{s: b.String(), quoted: quoted})
	}
}

// closingQuote returns the offset and size of the first quote of closers in
// s that is followed by a separator or the end of s, or -1.
func closingQuote(s, closers string) (int, int) {
	for i, r := range s {
		if !strings.ContainsRune(closers, r) {
			continue
		}
		size := utf8.RuneLen(r)
		if i+size == len(s) || isSep(s[i+size]) {
			return i, size
		}
	}
	return -1, 0
}

func isSep(c byte) bool { return c == ' ' || c == '\t' }

// isFlagStart reports whether an unquoted word is written as a flag: one
// or two dashes, followed by a letter. Any dash counts: the "—" or "–"
// smart punctuation makes of "--", and the look-alikes of "-" (a
// non-breaking hyphen, a minus sign, a full-width hyphen-minus) that
// copied text brings; an unknown flag is refused, where a look-alike
// "--dry-run" after an unquoted reason would otherwise be read as part of
// the reason, and the deploy run for real. So do more dashes than two
// ("---dry-run"): a flag typed with one too many. "-1", "--" and "->" are
// not flags; "--" is refused where a name goes (see isSeparator).
func isFlagStart(w string) bool {
	rest, n, _ := stripDashes(w)
	if n == 0 {
		return false
	}
	r, _ := utf8.DecodeRuneInString(strings.TrimLeftFunc(rest, isDash))
	return unicode.IsLetter(r)
}

// isSeparator reports whether t is an unquoted word of dashes only, other
// than one "-": the "--" that ends the flags of a shell command, or the
// "—" smart punctuation makes of it. No command here takes one, and read
// as an app, an env, a build or a stray word it drew a reply about a name
// the user never meant to write. Inside a free-text reason it stays a
// word.
func isSeparator(t token) bool {
	return !t.quoted && t.s != "" && t.s != "-" && strings.TrimLeftFunc(t.s, isDash) == ""
}

// separator refuses the separator t (see isSeparator).
func separator(t token) error {
	return fmt.Errorf(`%s means nothing here: commands take no "--" separator, and flags are written --name anywhere after the command; leave it out`, echo(t.s))
}

// isDash reports whether r is a dash of any kind (see isFlagStart).
func isDash(r rune) bool { return r == '-' || r == '\u2212' || unicode.Is(unicode.Pd, r) }

// stripDashes strips one or two leading dashes of any kind from w; ascii
// tells whether they were all "-".
func stripDashes(w string) (rest string, n int, ascii bool) {
	rest, ascii = w, true
	for n < 2 {
		r, size := utf8.DecodeRuneInString(rest)
		if !isDash(r) {
			break
		}
		ascii = ascii && r == '-'
		rest = rest[size:]
		n++
	}
	return rest, n, ascii
}

// flagName is the flag a flag word names: "-h" for one "-", "--name" for
// two, or for any other dash.
func flagName(w string) string {
	rest, n, ascii := stripDashes(w)
	if n == 1 && ascii {
		return "-" + rest
	}
	return "--" + rest
}

func isFlag(t token) bool { return !t.quoted && isFlagStart(t.s) }

// parser carries the state of parsing one command's arguments.
type parser struct {
	cat  Catalog
	spec *spec // the command, or the form of it, being parsed
	// keyword is the word that selected the form spec, as written; "" for
	// a command.
	keyword string
	// flags holds the flags given: name → value ("" for a boolean flag).
	flags map[string]string
	// words holds, per value flag, the unquoted words that made up its value
	// when it was not quoted (deploy checks them for a swallowed "to ENV").
	words map[string][]token
	help  bool // --help or -h was given
	// badFlag is the first unknown flag. It is reported after the errors
	// in the arguments unless it is a near miss of a known flag (badFlagTypo):
	// in "deploy accounting 1337;rm -rf /" the build is the problem to name,
	// in "deploy accounting 1337 --dryrun" the flag is.
	badFlag     error
	badFlagTypo bool
	// badFlagValue is 1 + the index, among the arguments takeFlags
	// returns, of the word right after badFlag, which may be meant as
	// its value ("-f INC-42"); 0 when a flag or nothing follows it.
	badFlagValue int
	// flagTwice lists the flags given more than once as a slip (without
	// a value, or with the same value), in the order they were found so,
	// and flagTwiceAt holds, per flag, the indexes of the writings after
	// the first among the arguments takeFlags was given: each is answered
	// with the command without them.
	flagTwice   []string
	flagTwiceAt map[string][]int
	// noValue is the first value flag given without its value ("--force
	// needs a reason"). The arguments are still parsed, so that a slip
	// in them is named with it rather than after the reason is added.
	noValue error
}

// takeFlags removes the flags from args, checks them against the spec and
// records them in p. A value flag takes "--flag=value", a quoted word, or
// every following word up to the next flag.
func (p *parser) takeFlags(args []token) ([]token, error) {
	rest, err := p.takeAllFlags(args)
	if err != nil && p.noValue != nil {
		// Named first, as before the rest was read on.
		return nil, p.noValue
	}
	return rest, err
}

func (p *parser) takeAllFlags(args []token) ([]token, error) {
	var rest []token
	// twoValues is the first value flag given twice with two values.
	var twoValues string
	for i := 0; i < len(args); i++ {
		t := args[i]
		if !isFlag(t) {
			rest = append(rest, t)
			continue
		}
		name, value, hasValue := strings.Cut(t.s, "=")
		name = strings.ToLower(flagName(name))
		if name == "--help" || name == "-h" {
			p.help = true
			continue
		}
		f := p.spec.flag(name)
		if f == nil {
			if p.badFlag == nil {
				p.badFlagTypo, p.badFlag = p.unknownFlag(name)
				if !hasValue && i+1 < len(args) && !isFlag(args[i+1]) {
					p.badFlagValue = len(rest) + 1
				}
			}
			continue
		}
		first, dup := p.flags[name]
		if dup && f.value == "" {
			if !hasValue {
				p.twice(name, i)
				continue
			}
			return nil, fmt.Errorf("%s is given twice; give it once", name)
		}
		if p.flags == nil {
			p.flags = map[string]string{}
		}
		if f.value == "" {
			if hasValue {
				return nil, fmt.Errorf("%s takes no value; write just %s", name, name)
			}
			p.flags[name] = ""
			continue
		}
		at := i
		if !hasValue {
			j := i + 1
			if !dup && j < len(args) && isFlag(args[j]) && p.sameFlag(args[j], name) {
				// "--force --force "db migration"": the flag written
				// twice in a row, not one left without its value.
				p.twice(name, i)
				continue
			}
			switch {
			case j < len(args) && args[j].quoted:
				value = args[j].s
				i = j
			default:
				for j < len(args) && !isFlag(args[j]) {
					j++
				}
				words := args[i+1 : j]
				if p.words == nil {
					p.words = map[string][]token{}
				}
				if !dup {
					p.words[name] = words
				}
				value = joinWords(words)
				i = j - 1
			}
		}
		value = strings.TrimSpace(value)
		if !dup && !hasValue && i == at && p.valuedLater(args[i+1:], name) {
			// "--force --dry-run --force hotfix": the flag written twice,
			// its reason given with the later writing, not one left
			// without it.
			p.twice(name, i)
			continue
		}
		if dup {
			if value != first {
				// Two values, of which no reply can pick one. The
				// flags after them are read on, so that another flag
				// written twice is named with them.
				if twoValues == "" {
					twoValues = name
				}
				continue
			}
			// The same value again: a slip, as a flag without a value
			// written twice is.
			for k := at; k <= i; k++ {
				p.twice(name, k)
			}
			continue
		}
		if value == "" {
			if p.noValue == nil {
				p.noValue = fmt.Errorf(`%s needs a %s, e.g. %s "INC-42 hotfix"`, name, f.value, name)
			}
			continue
		}
		p.flags[name] = value
	}
	if twoValues != "" {
		// No command can be offered: every other flag written twice is
		// named, so that the user fixes them all at once.
		var b strings.Builder
		for _, name := range p.flagTwice {
			if name != twoValues {
				b.WriteString((&slipError{problem: fmt.Sprintf("%q is written twice", name), fix: "write it once"}).and())
			}
		}
		return nil, fmt.Errorf("%s%s is given twice; give it once", b.String(), twoValues)
	}
	return rest, nil
}

// twice records the writing at i, among the arguments takeFlags was
// given, of the flag name as one of it written twice.
func (p *parser) twice(name string, i int) {
	if !slices.Contains(p.flagTwice, name) {
		p.flagTwice = append(p.flagTwice, name)
	}
	if p.flagTwiceAt == nil {
		p.flagTwiceAt = map[string][]int{}
	}
	p.flagTwiceAt[name] = append(p.flagTwiceAt[name], i)
}

// valuedLater reports whether args, the arguments after a writing of the
// value flag name without its value, write name again with one: after
// "=", quoted, or as words before the next flag.
func (p *parser) valuedLater(args []token, name string) bool {
	for k, t := range args {
		if !isFlag(t) || !p.sameFlag(t, name) {
			continue
		}
		if _, v, ok := strings.Cut(t.s, "="); ok {
			if strings.TrimSpace(v) != "" {
				return true
			}
			continue
		}
		if k+1 < len(args) && !isFlag(args[k+1]) && strings.TrimSpace(args[k+1].s) != "" {
			return true
		}
	}
	return false
}

// sameFlag reports whether t is the flag name, as takeFlags reads it: in
// any case, and with its value after "=" or without it ("--force
// --FORCE=a" is --force written twice in a row, not one left without its
// reason).
func (p *parser) sameFlag(t token, name string) bool {
	n, _, _ := strings.Cut(t.s, "=")
	return strings.ToLower(flagName(n)) == name
}

// flagsText writes the flags given, each after a space, as canonical
// writes them, for a command written right: offered without them, a
// "deploy … --dry-run" would deploy for real.
func (p *parser) flagsText() string {
	var b strings.Builder
	for _, f := range p.spec.flags {
		v, ok := p.flags[f.name]
		switch {
		case !ok:
		case f.value == "":
			b.WriteString(" " + f.name)
		default:
			q, _ := quoteReason(v)
			b.WriteString(" " + f.name + " " + q)
		}
	}
	return b.String()
}

// unknownFlag returns whether an unknown flag is a near miss of a known
// one, and the error for it.
func (p *parser) unknownFlag(name string) (bool, error) {
	known := p.spec.flagNames()
	if len(known) == 0 {
		return false, fmt.Errorf("unknown flag %s; %s takes no flags", echo(name), p.spec.name())
	}
	msg := "unknown flag " + echo(name)
	s, typo := Suggest(name, known)
	if typo {
		msg += fmt.Sprintf("; did you mean %s?", s)
	} else {
		msg += ";"
	}
	return typo, fmt.Errorf("%s %s takes %s", msg, p.spec.name(), strings.Join(known, " and "))
}

// form returns the form of p.spec that args start with, or nil: its
// keyword, unquoted and in any case, must be the first argument, before any
// flag. For the forms with a verb of their own (deploy confirm), when the
// catalog has an app of that very name the word names the app, unless a
// deploy id follows it (see Parse); canonical quotes the app in the one
// case where it would be taken for the keyword. The actions of train
// compete with no app.
func (p *parser) form(args []token) *spec {
	if len(args) == 0 || args[0].quoted {
		return nil
	}
	f := p.spec.formNamed(args[0].s)
	if f == nil {
		return nil
	}
	if !f.isAction() && p.isApp(args[0].s) && (len(args) < 2 || !isDeployID(args[1].s)) {
		return nil
	}
	return f
}

func joinWords(ts []token) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = t.s
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}

// written writes t as a command the user may send takes it: quoted when
// it was written in quotes, where it is never a keyword and a reason's
// first word is never an app or env. A suggested command written with
// its words bare could do something other than was meant.
//
// A flag is spelled with "--", as usage writes it, where it was typed
// with other dashes ("—dry-run", which chat clients make of "--"): it
// reads the same, and an offered command shows what it runs.
func written(t token) string {
	if !t.quoted {
		return flagWritten(t)
	}
	q, _ := quoteReason(t.s)
	return q
}

// flagWritten returns the unquoted word t with its dashes written "--"
// when it is a flag typed with other dashes, as takeFlags names it; t as
// typed otherwise. More dashes than two are kept: the flag stays the
// unknown one that was refused.
func flagWritten(t token) string {
	if !isFlag(t) {
		return t.s
	}
	name, value, hasValue := strings.Cut(t.s, "=")
	rest, n, ascii := stripDashes(name)
	if ascii || n == 0 || strings.IndexFunc(rest, isDash) == 0 {
		return t.s
	}
	if hasValue {
		return "--" + rest + "=" + value
	}
	return "--" + rest
}

// writtenWords is joinWords with each word written as written does.
func writtenWords(ts []token) string {
	parts := make([]string, 0, len(ts))
	for _, t := range ts {
		if w := written(t); w != "" {
			parts = append(parts, w)
		}
	}
	return strings.Join(parts, " ")
}

// isEmptyQuoted reports whether t is an empty quoted word, a word left
// blank.
func isEmptyQuoted(t token) bool { return t.quoted && t.s == "" }

// isWord reports whether t is the unquoted keyword w, in any case.
func isWord(t token, w string) bool { return !t.quoted && strings.EqualFold(t.s, w) }

func (p *parser) isApp(name string) bool { return slices.Contains(p.cat.Apps(), name) }

func (p *parser) isEnv(app, name string) bool { return slices.Contains(p.cat.Envs(app), name) }

// isEnvOfAnyApp reports whether name is an env of some app.
func (p *parser) isEnvOfAnyApp(name string) bool {
	for _, app := range p.cat.Apps() {
		if p.isEnv(app, name) {
			return true
		}
	}
	return false
}

// app returns t as a known app, or an error naming the likely one.
func (p *parser) app(t token) (string, error) {
	if p.isApp(t.s) {
		return t.s, nil
	}
	if isSeparator(t) {
		return "", separator(t)
	}
	if isEmptyQuoted(t) {
		// `status ""`: a name left blank, as lock says of it.
		return "", fmt.Errorf("an empty quoted word stands where the app goes: name the app; known apps: %s", list(p.cat.Apps()))
	}
	return "", p.unknownApp(t.s)
}

func (p *parser) unknownApp(name string) error {
	apps := p.cat.Apps()
	if len(apps) == 0 {
		return fmt.Errorf("unknown app %s; no apps are configured", echo(name))
	}
	if a := disguised(name, p.isApp); a != "" {
		return fmt.Errorf("unknown app %s: it looks like the app %s but is written with other characters (%s); type it again", echo(name), a, nonASCII(name))
	}
	msg := "unknown app " + echo(name)
	if s, ok := Suggest(name, apps); ok {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else {
		msg += ";"
	}
	return errors.New(msg + " known apps: " + list(apps))
}

// env returns t as a known env of app, or an error naming the likely one.
func (p *parser) env(app string, t token) (string, error) {
	if p.isEnv(app, t.s) {
		return t.s, nil
	}
	if isSeparator(t) {
		return "", separator(t)
	}
	if isEmptyQuoted(t) {
		return "", fmt.Errorf("an empty quoted word stands where the env goes: name the env; known envs of %s: %s", app, list(p.cat.Envs(app)))
	}
	return "", p.unknownEnv(app, t.s)
}

func (p *parser) unknownEnv(app, name string) error {
	envs := p.cat.Envs(app)
	if len(envs) == 0 {
		return fmt.Errorf("unknown env %s for %s; %s has no envs configured", echo(name), app, app)
	}
	if e := disguised(name, func(e string) bool { return p.isEnv(app, e) }); e != "" {
		return fmt.Errorf("unknown env %s for %s: it looks like the env %s but is written with other characters (%s); type it again", echo(name), app, e, nonASCII(name))
	}
	if k := disguised(name, isKeyword); k != "" {
		// "rollback web tо 12": the env's place, taken by a "to".
		return lookalikeKeyword(name, k)
	}
	msg := fmt.Sprintf("unknown env %s for %s", echo(name), app)
	if s, ok := Suggest(name, envs); ok {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else {
		msg += ";"
	}
	return errors.New(msg + " known envs: " + list(envs))
}

// defaultEnv returns the default env of app, or an error asking for one if
// the catalog names none (or names one the app does not have).
func (p *parser) defaultEnv(app string) (string, error) {
	env := p.cat.DefaultEnv(app)
	if env == "" || !p.isEnv(app, env) {
		return "", fmt.Errorf("%s has no default env; name one: known envs: %s", app, list(p.cat.Envs(app)))
	}
	return env, nil
}

func unexpected(t token) error {
	if isSeparator(t) {
		return separator(t)
	}
	if isEmptyQuoted(t) {
		return errors.New("an empty quoted word stands where no word goes: leave it out")
	}
	if k := disguised(t.s, isKeyword); k != "" && !t.quoted {
		return lookalikeKeyword(t.s, k)
	}
	return fmt.Errorf("unexpected word %s", echo(t.s))
}

// writtenTwice refuses the keyword kw written twice in a row or twice in
// the command, where the second was read as a name or a stray word;
// fixed is the command written right.
func writtenTwice(kw, fixed string) error {
	cmd, more, ok := offered(fixed)
	if !ok {
		return fmt.Errorf(`%q is written twice; write it once: %s`, kw, fixed)
	}
	return &slipError{problem: fmt.Sprintf("%q is written twice", kw), fix: "write it once", fixed: cmd, more: more}
}

// twoNamed refuses two different values given for one slot (two envs,
// two builds, two trains) of the command name: no reply can pick one of
// them, and a guess would run a deploy nobody asked for, so no command is
// offered.
func twoNamed(what, first, second, name string) error {
	return fmt.Errorf("two %s are named, %s and %s: send the %s again with the one you mean", what, echo(first), echo(second), name)
}

// secondNamed returns a second value rest names for a slot whose value
// is first: after kw, the slot's keyword, anywhere in rest ("staging on
// daily to production"), or right after first, written bare, when is
// says it is one ("staging production"); "" if rest names none other.
func secondNamed(rest []token, first, kw string, is func(string) bool) string {
	if v, ok := afterKeyword(rest, kw); ok && v != first {
		return v
	}
	if len(rest) > 0 && !rest[0].quoted && rest[0].s != first && !isKeyword(strings.ToLower(rest[0].s)) && is(rest[0].s) {
		return rest[0].s
	}
	return ""
}

// buildShaped reports whether t, a word after a build where no word
// goes, reads as a second build: a valid build name with a digit in it.
// A word that is none ("please") is an unexpected word.
func buildShaped(t token) bool {
	return CheckBuild(t.s) == nil && strings.ContainsAny(t.s, "0123456789")
}

// nTwice refuses the N of history or audit written twice, first and
// last, with fixed, the command with the last alone.
func nTwice(first, last token, fixed string) error {
	return &slipError{problem: fmt.Sprintf("N is written twice (%s and %s)", echo(first.s), echo(last.s)), fix: "write it once, last", fixed: fixed}
}

// slipError refuses a slip with the command written right: problem says
// what is wrong, fix what to do about it, fixed is the command to send
// and more any text after it. Parse checks fixed (see settle).
type slipError struct{ problem, fix, fixed, more string }

func (e *slipError) Error() string {
	return e.problem + "; " + e.fix + ": " + suggest.Command(e.fixed) + e.more
}

// and names the slip and what to do about it, to be followed by what else
// is wrong: every reply that names more than one thing wrong joins them
// so, each said as it would be alone.
func (e *slipError) and() string { return e.problem + "; " + e.fix + ", and " }

// offered returns the command s offers, marked, at its start, and the
// text after it; ok is false unless s starts with the one command it
// marks.
func offered(s string) (cmd, more string, ok bool) {
	var cmds []string
	suggest.Rewrite(s, func(c string) string { cmds = append(cmds, c); return c })
	if len(cmds) != 1 {
		return "", "", false
	}
	more, ok = strings.CutPrefix(s, suggest.Command(cmds[0]))
	return cmds[0], more, ok
}

// maxSlips bounds the chain of offered commands settle checks.
const maxSlips = 8

// settle checks the command a slip's refusal offers: refused in turn, it
// fixes that slip alone, so the refusal names the slip and then what its
// command is refused for, whose offer, if any, fixes every slip. A slip
// the command for which runs, or an error of another kind, is err as it
// is.
func settle(err error, cat Catalog, opt Options) error {
	se, ok := err.(*slipError)
	if !ok {
		return err
	}
	if opt.slips >= maxSlips {
		return errors.New(se.and() + "more is wrong: write the command again")
	}
	opt.slips++
	r := parse(se.fixed, cat, opt)
	if r.Kind == Run || strings.HasPrefix(r.Reply, whichTrain) {
		// Asked which train, the user picks one, as they would have
		// been asked without the slip.
		return err
	}
	msg, _, _ := strings.Cut(r.Reply, "\nusage: ")
	if strings.HasPrefix(msg, se.problem+"; "+se.fix) {
		// The same word written a third time: named once, as a flag
		// written three times is.
		return errors.New(msg)
	}
	// A command the refusal offers for another kind of mistake is
	// checked too: one refused in turn is shown, not offered.
	msg = suggest.Rewrite(msg, func(cmd string) string {
		if parse(cmd, cat, opt).Kind == Run {
			return suggest.Command(cmd)
		}
		return cmd
	})
	return errors.New(se.and() + msg)
}

// keywords are the words the grammar reads between the arguments.
var keywords = []string{"to", "from", "on", "now", "for", "deploys"}

func isKeyword(w string) bool { return slices.Contains(keywords, w) }

// IsReserved reports whether w, unquoted, is read as a word of the
// grammar rather than as a value in some place of a command: a keyword
// (to, from, on, now, for, deploys) or the keyword of a form (confirm,
// abort), in any case. A value that is one reads back as itself quoted,
// as canonical writes it: deploy "confirm" 20261123-124158-b25a0a
// deploys the app confirm.
func IsReserved(w string) bool {
	return isKeyword(strings.ToLower(w)) || formNamed(w) != nil
}

// lookalikeKeyword refuses w, which looks like the keyword k and is not
// it: refused as an unexpected word or an unknown name, it read as the
// very word the grammar wanted there.
func lookalikeKeyword(w, k string) error {
	return fmt.Errorf(`%s looks like %q but is written with other characters (%s); type it again`, echo(w), k, nonASCII(w))
}

func parseDeploy(p *parser, args []token) (Command, error) {
	var c Command
	if len(args) == 0 {
		return c, fmt.Errorf("deploy needs an app and a build; known apps: %s", list(p.cat.Apps()))
	}
	if err := p.formMistake(args); err != nil {
		return c, err
	}
	app, err := p.app(args[0])
	if err != nil {
		return c, err
	}
	if len(args) == 1 || isWord(args[1], "to") {
		return c, fmt.Errorf("deploy needs a build after the app, e.g. deploy %s 1337", app)
	}
	if len(args) > 2 && !isWord(args[2], "to") && p.appTwice(app, args[1]) {
		// "deploy web web 1337": the app written twice, not a build
		// named "web" followed by a stray word.
		return c, writtenTwice(app, suggest.Command("deploy "+written(args[0])+" "+writtenWords(args[2:])+p.flagsText()))
	}
	build := args[1].s
	if !args[1].quoted && p.isEnv(app, build) {
		// Quoted, it is the build, as a quoted "to" is. BUILD is the
		// reader's to fill in: prose, not a command marked to send as it
		// is, as train board's says it.
		return c, fmt.Errorf("%q is an env of %s, not a build; the build comes first: deploy %s BUILD to %s", build, app, app, build)
	}
	if err := checkBuild(args[1]); err != nil {
		return c, err
	}
	rest := args[2:]
	var env string
	if len(rest) > 0 {
		switch {
		case isWord(rest[0], "to"):
			if len(rest) == 1 {
				return c, fmt.Errorf(`"to" needs an env; known envs of %s: %s`, app, list(p.cat.Envs(app)))
			}
			if isWord(rest[1], "to") && !p.isEnv(app, rest[1].s) {
				// "deploy web 1337 to to prod": not an env named "to".
				fixed := func(env string) string {
					return fmt.Sprintf("deploy %s %s to %s%s", written(args[0]), written(args[1]), env, p.flagsText())
				}
				if len(rest) == 2 {
					// No env follows: the form with ENV to fill in is no
					// command to send.
					return c, fmt.Errorf("%w; known envs of %s: %s", writtenTwice("to", fixed("ENV")), app, list(p.cat.Envs(app)))
				}
				return c, writtenTwice("to", suggest.Command(fixed(written(rest[2]))))
			}
			if err := p.appNotEnv(app, rest[1]); err != nil {
				return c, err
			}
			if env, err = p.env(app, rest[1]); err != nil {
				return c, err
			}
			envWritten := written(rest[1])
			rest = rest[2:]
			if second, ok := afterKeyword(rest, "to"); ok && isWord(rest[0], "to") && second != env {
				// "deploy web 1337 to staging to prod": which one?
				return c, twoNamed("envs", env, second, "deploy")
			}
			if len(rest) > 0 && isWord(rest[0], "to") {
				return c, writtenTwice("to", suggest.Command(fmt.Sprintf("deploy %s %s to %s%s", written(args[0]), written(args[1]), envWritten, p.flagsText()))+"; a deploy goes to one env")
			}
			if len(rest) > 0 && !rest[0].quoted && rest[0].s != env && p.isEnv(app, rest[0].s) {
				// "deploy web 1337 to staging prod".
				return c, twoNamed("envs", env, rest[0].s, "deploy")
			}
			if len(rest) > 0 && !rest[0].quoted && rest[0].s == env {
				// "deploy web 1337 to prod prod": not a stray word.
				fixed := strings.Join(strings.Fields(fmt.Sprintf("deploy %s %s to %s %s", written(args[0]), written(args[1]), envWritten, writtenWords(rest[1:]))), " ")
				return c, writtenTwice(env, suggest.Command(fixed+p.flagsText()))
			}
			if len(rest) > 0 && rest[0].s != build && buildShaped(rest[0]) {
				// "deploy web 1337 to prod 1338": which one?
				return c, twoNamed("builds", build, rest[0].s, "deploy")
			}
		case p.isEnv(app, rest[0].s):
			// "deploy web 1337 prod": the env without its "to".
			if second := secondNamed(rest[1:], rest[0].s, "to", func(e string) bool { return p.isEnv(app, e) }); second != "" {
				// "deploy web 1337 staging to prod", "deploy web 1337
				// staging prod": adding the "to" would leave two envs.
				return c, twoNamed("envs", rest[0].s, second, "deploy")
			}
			fixed := strings.TrimSpace(fmt.Sprintf("deploy %s %s to %s %s", written(args[0]), written(args[1]), written(rest[0]), writtenWords(rest[1:])))
			return c, &slipError{problem: "unexpected word " + echo(rest[0].s), fix: `write "to" before the env`, fixed: fixed + p.flagsText()}
		case p.appNotEnv(app, rest[0]) != nil:
			// "deploy web 1337 api": another app, not a stray word.
			return c, p.appNotEnv(app, rest[0])
		case !rest[0].quoted && rest[0].s == build:
			// "deploy web 1337 1337": the build written twice, not a
			// stray word.
			fixed := strings.TrimSpace(fmt.Sprintf("deploy %s %s %s", written(args[0]), written(args[1]), writtenWords(rest[1:])))
			return c, writtenTwice(build, suggest.Command(fixed+p.flagsText()))
		case rest[0].s != build && buildShaped(rest[0]):
			// "deploy web 1337 1338": which one?
			return c, twoNamed("builds", build, rest[0].s, "deploy")
		}
	}
	if len(rest) > 0 {
		return c, unexpected(rest[0])
	}
	named := env != ""
	if env == "" {
		if env, err = p.defaultEnv(app); err != nil {
			return c, err
		}
	}
	if force, ok := p.flags["--force"]; ok {
		// An unquoted reason runs to the next flag, so it may have swallowed
		// the target: "--force urgent to production" would deploy to the
		// default env. Refuse rather than guess. A reason that ends with
		// "to WORD" reads as a target whatever the word ("to stage",
		// "to stg"), unless the target was named before the flag.
		words := p.words["--force"]
		for i := 0; i+1 < len(words); i++ {
			if !isWord(words[i], "to") {
				continue
			}
			target := words[i+1].s
			last := i+2 == len(words) && !named
			if _, near := Suggest(target, p.cat.Envs(app)); p.isEnv(app, target) || near || last {
				return c, fmt.Errorf(`the --force reason %s seems to hold the target ("to" %s); put "to ENV" before --force, or quote the reason`, echo(force), echo(target))
			}
		}
		c.Force = force
	}
	_, c.DryRun = p.flags["--dry-run"]
	c.App, c.Build, c.Env = app, build, env
	return c, nil
}

// afterKeyword returns the first word of rest after a kw, the keyword
// written once or more ("to to prod" names prod), and whether there is
// one.
func afterKeyword(rest []token, kw string) (string, bool) {
	i := slices.IndexFunc(rest, func(t token) bool { return isWord(t, kw) })
	if i < 0 {
		return "", false
	}
	for _, t := range rest[i+1:] {
		if !isWord(t, kw) {
			return t.s, true
		}
	}
	return "", false
}

// secondDiffers reports whether rest, which starts with kw, names after
// it a value other than first.
func secondDiffers(rest []token, kw, first string) bool {
	v, ok := afterKeyword(rest, kw)
	return ok && v != first
}

// valueAfter returns the value rest names after kw, or "".
func valueAfter(rest []token, kw string) string { v, _ := afterKeyword(rest, kw); return v }

// formMistake explains a deploy whose first word is no app but seems meant
// as one of the forms of deploy, "deploy confirm ID" or "deploy abort ID":
// misplaced after a flag, missing, or misspelt. It returns nil otherwise.
func (p *parser) formMistake(args []token) error {
	w := args[0]
	if p.isApp(w.s) {
		return nil
	}
	switch f := p.spec.formNamed(w.s); {
	case f != nil && !w.quoted:
		// "deploy --dry-run confirm ID": p.form saw the flag first.
		return &formUsage{msg: fmt.Sprintf("%q goes right after %s, and takes no flags: %s", f.keyword, p.spec.verb, f.usage), form: f}
	case isDeployID(w.s):
		// "deploy 20261123-124158-b25a0a confirm".
		var forms []string
		for _, f := range p.spec.forms {
			forms = append(forms, suggest.Command(f.name()+" "+w.s))
		}
		return fmt.Errorf("%q is a deploy id, not an app; write %s", w.s, strings.Join(forms, " or "))
	case len(args) > 1 && isDeployID(args[1].s):
		// "deploy confrim 20261123-124158-b25a0a".
		var keywords []string
		for _, f := range p.spec.forms {
			keywords = append(keywords, f.keyword)
		}
		if sug, ok := Suggest(w.s, keywords); ok {
			return fmt.Errorf(`%s is not an app; did you mean %s? known apps: %s`, echo(w.s), suggest.Command(string(p.spec.verb)+" "+sug+" "+args[1].s), list(p.cat.Apps()))
		}
	}
	return nil
}

// formUsage refuses a command for what the first line of its text says,
// which ends with the usage of form, a form of the command: named so
// (Result.Usages), that usage is shown as the platform takes the form.
type formUsage struct {
	msg  string
	form *spec
}

func (e *formUsage) Error() string { return e.msg }

// parseDeployID parses the ID of the forms "deploy confirm ID" and
// "deploy abort ID".
func parseDeployID(p *parser, args []token) (Command, error) {
	name := p.spec.name()
	if len(args) == 0 {
		// Named by its keyword alone, the form reads the same however
		// the platform has it sent (/confirm on Discord); the example is
		// offered as a command, which such a platform shows in its form.
		return Command{}, fmt.Errorf("the id of the deploy to %s is missing, e.g. %s", p.spec.keyword, suggest.Command(name+" "+deployIDExample))
	}
	if len(args) > 1 && isWord(args[0], p.keyword) && CheckDeployID(args[1].s) == nil {
		// "deploy confirm confirm ID": the keyword written twice, not a
		// deploy id.
		return Command{}, writtenTwice(args[0].s, suggest.Command(name+" "+writtenWords(args[1:])))
	}
	if err := CheckDeployID(args[0].s); err != nil {
		return Command{}, err
	}
	if len(args) > 1 && !args[1].quoted && args[1].s == args[0].s {
		// "deploy confirm ID ID": not a stray word.
		return Command{}, writtenTwice(args[0].s, suggest.Command(name+" "+writtenWords(slices.Delete(slices.Clone(args), 1, 2))))
	}
	if len(args) > 1 && !args[1].quoted && CheckDeployID(args[1].s) == nil {
		// "deploy confirm ID1 ID2": no reply can pick the deploy meant,
		// and confirming or aborting a guess acts on one nobody named.
		return Command{}, twoNamed("deploy ids", args[0].s, args[1].s, name)
	}
	if len(args) > 1 {
		err := unexpected(args[1])
		if p.isApp(p.keyword) {
			// The keyword won over an app of the same name because a
			// deploy id followed; maybe that was meant as its build.
			return Command{}, fmt.Errorf(`%w; to deploy build %s of the app %s, quote the app: %s "%s" %s …`,
				err, args[0].s, p.keyword, p.spec.command().verb, p.keyword, args[0].s)
		}
		return Command{}, err
	}
	return Command{DeployID: args[0].s}, nil
}

func parseRollback(p *parser, args []token) (Command, error) {
	var c Command
	if len(args) == 0 {
		return c, fmt.Errorf("rollback needs an app; known apps: %s", list(p.cat.Apps()))
	}
	if len(args) == 1 && isDeployID(args[0].s) && !p.isApp(args[0].s) {
		// What a Rollback button sends where its full command is too
		// long (Discord's 100 bytes): the service reads the app, the env
		// and the build from the deploy's record.
		return Command{DeployID: args[0].s}, nil
	}
	app, err := p.app(args[0])
	if err != nil {
		return c, err
	}
	rest := args[1:]
	var env, build string
	// target, buildW and fromW are the parts as written, for the
	// commands written right.
	target := written(args[0])
	var buildW, fromW string
	if len(rest) > 0 && p.appTwice(app, rest[0]) {
		// "rollback web web": not a build named "web", as the reply that
		// asks for "to" would have it.
		return c, writtenTwice(app, suggest.Command(rollbackFixed(target, "", "", rest[1:])))
	}
	if len(rest) > 0 && !isWord(rest[0], "to") && !isWord(rest[0], "from") {
		if err := p.appsTwo(app, rest[0]); err != nil {
			return c, err
		}
		if env, err = p.env(app, rest[0]); err != nil {
			if _, ok := Suggest(rest[0].s, p.cat.Envs(app)); !ok && CheckBuild(rest[0].s) == nil {
				// err names the app's envs: whoever meant an env ("prod")
				// learns its name, as deploy's reply tells it, before the
				// rollback to a build of that name is offered.
				return c, fmt.Errorf(`%w; to roll back to a build, write "to": %s`, err, suggest.Command("rollback "+target+" to "+written(rest[0])))
			}
			return c, err
		}
		target += " " + written(rest[0])
		rest = rest[1:]
		if len(rest) > 0 && !rest[0].quoted && rest[0].s != env && !isWord(rest[0], "to") && !isWord(rest[0], "from") && p.isEnv(app, rest[0].s) {
			// "rollback web prod staging": which one? Not a build
			// to roll back to without its "to".
			return c, twoNamed("envs", env, rest[0].s, "rollback")
		}
		if len(rest) > 1 && !rest[0].quoted && rest[0].s == env {
			// "rollback web prod prod to 12": not a stray word; with
			// nothing after it, it is named below.
			return c, writtenTwice(env, suggest.Command(rollbackFixed(target, "", "", rest[1:])))
		}
	}
	if len(rest) > 0 && isWord(rest[0], "to") {
		if len(rest) == 1 {
			return c, errors.New(`"to" needs a build, e.g. to 1336; without "to BUILD" the previous good release is used`)
		}
		if len(rest) > 2 && isWord(rest[1], "to") {
			// "rollback web to to 1336": not a build named "to".
			if isWord(rest[2], "from") {
				// "rollback web to to from 1337": no build follows;
				// the form with BUILD to fill in is no command to send.
				return c, fmt.Errorf(`%w; without "to BUILD" the previous good release is used`, writtenTwice("to", rollbackFixed(target, "BUILD", "", rest[2:])))
			}
			return c, writtenTwice("to", suggest.Command(rollbackFixed(target, written(rest[2]), "", rest[3:])))
		}
		build, buildW = rest[1].s, written(rest[1])
		if env == "" && p.isEnv(app, build) {
			return c, fmt.Errorf(`%q is an env of %s; name the env without "to": %s`, build, app, suggest.Command("rollback "+app+" "+build))
		}
		if err := checkBuild(rest[1]); err != nil {
			return c, err
		}
		rest = rest[2:]
		if second, ok := afterKeyword(rest, "to"); ok && isWord(rest[0], "to") && second != build {
			// "rollback web to 12 to 13": which one?
			return c, twoNamed("builds", build, second, "rollback")
		}
		if len(rest) > 0 && isWord(rest[0], "to") {
			return c, writtenTwice("to", suggest.Command(fmt.Sprintf("rollback %s to %s", target, buildW))+"; a rollback goes to one build")
		}
		if len(rest) > 0 && !rest[0].quoted && rest[0].s == build && !isWord(rest[0], "from") {
			// "rollback web to 1336 1336": the build written twice, not
			// a stray word.
			return c, writtenTwice(build, suggest.Command(rollbackFixed(target, buildW, "", rest[1:])))
		}
		if len(rest) > 0 && rest[0].s != build && !isWord(rest[0], "from") && buildShaped(rest[0]) {
			// "rollback web to 1336 1335".
			return c, twoNamed("builds", build, rest[0].s, "rollback")
		}
	}
	var from string
	if len(rest) > 0 && isWord(rest[0], "from") {
		if len(rest) == 1 {
			return c, errors.New(`"from" needs the build that runs now, e.g. from 1337`)
		}
		if len(rest) > 2 && isWord(rest[1], "from") {
			// "rollback web from from 1337": not a build named "from".
			return c, writtenTwice("from", suggest.Command(rollbackFixed(target, buildW, written(rest[2]), rest[3:])))
		}
		from, fromW = rest[1].s, written(rest[1])
		if err := checkBuild(rest[1]); err != nil {
			return c, err
		}
		rest = rest[2:]
		if second, ok := afterKeyword(rest, "from"); ok && isWord(rest[0], "from") && second != from {
			return c, twoNamed("builds", from, second, "rollback")
		}
		if len(rest) > 0 && isWord(rest[0], "from") {
			return c, writtenTwice("from", suggest.Command(rollbackText(target, buildW, fromW))+"; a rollback starts from the one build that runs now")
		}
		if len(rest) > 0 && !rest[0].quoted && rest[0].s == from && !isWord(rest[0], "to") {
			// "rollback web from 1337 1337".
			return c, writtenTwice(from, suggest.Command(rollbackFixed(target, buildW, fromW, rest[1:])))
		}
		if len(rest) > 0 && rest[0].s != from && !isWord(rest[0], "to") && buildShaped(rest[0]) {
			// "rollback web from 1337 1338".
			return c, twoNamed("builds", from, rest[0].s, "rollback")
		}
		if len(rest) > 0 && isWord(rest[0], "to") && build == "" {
			// "rollback web from 1337 to 1336": both are there, in the
			// other order.
			if len(rest) == 1 {
				return c, errors.New(`"to" needs a build, e.g. to 1336; without "to BUILD" the previous good release is used`)
			}
			if err := checkBuild(rest[1]); err != nil {
				return c, err
			}
			return c, fmt.Errorf(`"to BUILD" goes before "from BUILD": %s`, suggest.Command("rollback "+target+" to "+written(rest[1])+" from "+fromW))
		}
	}
	if len(rest) == 1 && env != "" && !rest[0].quoted && rest[0].s == env {
		// "rollback web prod prod": not a build named "prod".
		return c, writtenTwice(env, suggest.Command(rollbackText(target, buildW, fromW)))
	}
	if len(rest) == 1 && env != "" && build == "" && from == "" && CheckBuild(rest[0].s) == nil {
		return c, fmt.Errorf(`unexpected word %s; to roll back to a build, write "to": %s`, echo(rest[0].s), suggest.Command("rollback "+target+" to "+written(rest[0])))
	}
	if len(rest) > 0 {
		return c, unexpected(rest[0])
	}
	if env == "" {
		if env, err = p.defaultEnv(app); err != nil {
			return c, err
		}
	}
	c.App, c.Env, c.Build, c.From = app, env, build, from
	return c, nil
}

// rollbackFixed writes the rollback a reply offers: rollbackText of
// target, build and from, with rest, the words written after the slip,
// kept. With neither build nor from given yet, words before rest's first
// "to" or "from" (an env) join target;
// a "to BUILD" or "from BUILD" in rest fills the part not given yet, so
// that "rollback web from 1337 1337 to 1336" offers the order the parser
// takes, "to" before "from". Anything else in rest is kept as written,
// after it all.
func rollbackFixed(target, build, from string, rest []token) string {
	for build == "" && from == "" && len(rest) > 0 && !isWord(rest[0], "to") && !isWord(rest[0], "from") {
		target += " " + written(rest[0])
		rest = rest[1:]
	}
	var left []token
	for i := 0; i < len(rest); i++ {
		switch {
		case i+1 < len(rest) && isWord(rest[i], "to") && build == "":
			build = written(rest[i+1])
			i++
		case i+1 < len(rest) && isWord(rest[i], "from") && from == "":
			from = written(rest[i+1])
			i++
		default:
			left = append(left, rest[i])
		}
	}
	return strings.TrimSpace(rollbackText(target, build, from) + " " + writtenWords(left))
}

// rollbackText writes a rollback of target, its app and maybe env, with
// build and from when they are not "".
func rollbackText(target, build, from string) string {
	s := "rollback " + target
	if build != "" {
		s += " to " + build
	}
	if from != "" {
		s += " from " + from
	}
	return s
}

// lockExample shows a complete lock in replies that ask for a reason.
const lockExample = "lock deploys accounting production for 2h db migration"

// example returns ex, an example of verb written with the grammar's
// example names, with the configuration's names instead, as help shows
// it.
func (p *parser) example(verb Verb, ex string) string {
	return renameExample(p.cat, verb, ex)
}

// renameExample is exampleNames.example for the parser's replies. It is
// set by init: the grammar's parse functions refer to it, and it parses
// the example again with the grammar, which would be an initialization
// cycle.
var renameExample func(cat Catalog, verb Verb, ex string) string

func init() {
	renameExample = func(cat Catalog, verb Verb, ex string) string {
		return namesOf(cat).example(specOf(verb), ex)
	}
}

// lockOmitFor says what a lock without "for" does, for parseDuration.
const lockOmitFor = "to lock until unlock"

func parseLock(p *parser, args []token) (Command, error) {
	var c Command
	if len(args) == 0 || !isWord(args[0], "deploys") {
		if err := lookalikeDeploys(args); err != nil {
			return c, err
		}
		if len(args) > 0 && p.isApp(args[0].s) {
			return c, fmt.Errorf(`write "lock deploys" before the app: lock deploys %s …`, args[0].s)
		}
		return c, errors.New(`write "lock deploys", then optionally an app, an env and "for DURATION", then the reason, e.g. ` + p.example(VerbLock, lockExample))
	}
	rest := args[1:]
	// APP and ENV are taken when the word names one; otherwise the word
	// starts the reason. A close misspelling is refused instead, so that a
	// typo does not turn a lock of one app into a lock of everything.
	if len(rest) > 0 && !rest[0].quoted {
		w := rest[0].s
		lookalike := disguised(w, p.isApp)
		switch {
		case w == "for" && len(rest) > 1 && !rest[1].quoted && startsWithDigit(foldLookalike(rest[1].s)):
			// "lock deploys for 2h …" locks every app for 2h even when
			// an app is named "for", as grant reads it and as the Text of
			// such a lock is written; that app's lock names it first
			// ("lock deploys for for 2h …").
		case p.isApp(w):
			c.App = w
			rest = rest[1:]
		case isWord(rest[0], "deploys"):
			// "lock deploys deploys web db": read as the reason, it
			// would lock every app.
			return c, writtenTwice("deploys", suggest.Command(strings.TrimSpace("lock deploys "+writtenWords(rest[1:])))+`, or, to lock every app, quote the reason: lock deploys "…"`)
		case p.isEnvOfAnyApp(w):
			return c, fmt.Errorf(`%q is an env; name the app first: lock deploys APP %s …, or quote the reason`, w, w)
		case appSlashEnv(p, w) != "":
			// "accounting/production", as the bot's own messages write a
			// target: read as the reason, it would lock every app.
			return c, fmt.Errorf(`write the app and the env apart: lock deploys %s …, or, to lock every app, quote the reason: lock deploys "…"`, appSlashEnv(p, w))
		case lookalike != "":
			return c, fmt.Errorf(`%s looks like the app %s but is written with other characters; type it again, or, to lock every app, quote the reason: lock deploys "…"`, echo(w), lookalike)
		case utf8.RuneCountInString(w) >= 3:
			// Short app names ("web", "api") are common, and so are their
			// typos ("wbe"). A three-letter word counts only at one edit,
			// not as the start of a longer name: "new" is no typo of
			// "newsletter".
			sug, ok := Suggest(w, p.cat.Apps())
			if ok && (utf8.RuneCountInString(w) >= 4 || distance(strings.ToLower(w), strings.ToLower(sug)) <= 1) {
				// The lock of the app meant is offered when it runs as
				// written; without a reason, there is none to offer.
				if fixed := strings.Join(strings.Fields("lock deploys "+sug+" "+writtenWords(rest[1:])), " "); runs(fixed, p.cat) {
					return c, fmt.Errorf(`unknown app %s; did you mean %s? known apps: %s; to lock every app, quote the reason: lock deploys "…"`, echo(w), suggest.Command(fixed), list(p.cat.Apps()))
				}
				return c, fmt.Errorf(`%v; to lock every app, quote the reason: lock deploys "…"`, p.unknownApp(w))
			}
		}
	}
	if c.App == "" && len(rest) > 0 && !rest[0].quoted && !isWord(rest[0], "for") {
		if err := p.unknownAppBeforeFor(rest); err != nil {
			return c, err
		}
	}
	if c.App != "" && len(rest) > 0 && !rest[0].quoted && !isWord(rest[0], "for") {
		w := rest[0].s
		isEnv := func(e string) bool { return p.isEnv(c.App, e) }
		if p.isEnv(c.App, w) {
			c.Env = w
			rest = rest[1:]
		} else if e := disguised(w, isEnv); e != "" {
			return c, fmt.Errorf(`%s looks like the env %s but is written with other characters; type it again, or, to lock every env of %s, quote the reason: lock deploys %s "…"`, echo(w), e, c.App, c.App)
		} else if err := p.unknownEnvBeforeFor(c.App, rest); err != nil {
			return c, err
		} else if _, ok := Suggest(w, p.cat.Envs(c.App)); (ok && utf8.RuneCountInString(w) >= 3) || p.isEnvOfAnyApp(w) {
			// Another app's env is no reason either: locking every env of
			// the app instead would lock more than was asked.
			return c, fmt.Errorf(`%v; to lock every env of %s, quote the reason: lock deploys %s "…"`, p.unknownEnv(c.App, w), c.App, c.App)
		}
	}
	if c.App != "" && len(rest) > 0 && !rest[0].quoted {
		// "lock deploys accounting staging production …", "lock deploys
		// accounting demo …": a lock has one scope, and the second name,
		// taken for the reason, would leave what it names unlocked.
		w, target := rest[0].s, c.App
		if c.Env != "" {
			target += " " + c.Env
		}
		switch {
		case isWord(rest[0], "for"):
			// After the app, "for" is the keyword, even when an app is
			// named so.
		case isWord(rest[0], "deploys") && len(rest) > 1:
			// "lock deploys accounting deploys production db": read as
			// the reason, it would lock every env of accounting.
			return c, writtenTwice("deploys", suggest.Command("lock deploys "+target+" "+writtenWords(rest[1:]))+`, or, to start the reason with "deploys", quote it: lock deploys `+target+` "…"`)
		case (w == c.App && c.Env == "" || w == c.Env) && len(rest) > 1:
			// "lock deploys web web prod db", "lock deploys web prod
			// prod db": the same name written twice, not another.
			return c, writtenTwice(w, suggest.Command("lock deploys "+target+" "+writtenWords(rest[1:]))+`, or, to start the reason with `+strconv.Quote(w)+`, quote it: lock deploys `+target+` "…"`)
		case c.Env != "" && p.isEnvOfAnyApp(w):
			return c, fmt.Errorf(`a lock covers one env, and %q is another: lock each (lock deploys %s %s …), or every env of %s (lock deploys %s …); to start the reason with %q, quote it: lock deploys %s "…"`, w, c.App, w, c.App, c.App, w, target)
		case p.isApp(w):
			return c, fmt.Errorf(`a lock covers one app, and %q is another: lock each (lock deploys %s …), or every app (lock deploys …); to start the reason with %q, quote it: lock deploys %s "…"`, w, w, w, target)
		}
	}
	if len(rest) > 0 && isEmptyQuoted(rest[0]) && c.Env == "" && joinWords(rest) != "" {
		// `lock deploys web "" db`: a name left blank, which the reason
		// would drop, locking every env (or every app) instead.
		if c.App == "" {
			return c, errors.New(`an empty quoted word stands where the app or the reason goes: name the app (lock deploys APP …), or leave the word out to lock every app; then give the reason, e.g. ` + p.example(VerbLock, lockExample))
		}
		return c, fmt.Errorf(`an empty quoted word stands where the env or the reason goes: name the env (lock deploys %s ENV …), or leave the word out to lock every env of %s; then give the reason, e.g. %s`, c.App, c.App, p.example(VerbLock, lockExample))
	}
	target := func() string { return strings.TrimSpace(c.App + " " + c.Env) }
	if len(rest) > 2 && isWord(rest[0], "for") && isWord(rest[1], "for") && !rest[2].quoted && startsWithDigit(foldLookalike(rest[2].s)) {
		// "lock deploys web for for 2h db": read as the reason, it would
		// make a lock of 2h one that never expires.
		return c, writtenTwice("for", suggest.Command(strings.Join(strings.Fields("lock deploys "+target()+" for "+writtenWords(rest[2:])), " "))+` (to start the reason with "for", quote it)`)
	}
	isFor := func(w string) bool { return w == "for" }
	for _, t := range []int{0, len(rest) - 2} {
		if t >= 0 && t < len(rest) && !rest[t].quoted && disguised(rest[t].s, isFor) != "" {
			// Read as a word of the reason, it would make a timed lock
			// one that never expires.
			return c, fmt.Errorf(`%s looks like "for" but is written with other characters; type it again, or quote the reason`, echo(rest[t].s))
		}
	}
	for _, k := range []int{0, len(rest) - 2} {
		if k >= 0 && k+1 < len(rest) && isWord(rest[k], "for") && rest[k+1].quoted && rest[k+1].s == "" {
			// `for ""`: a duration left blank, not words of a reason,
			// which would make the lock one that never expires.
			return c, errors.New(`"for" needs a duration, not an empty quoted word: write it like 30m, 2h, 1d, 1h30m or 1w, e.g. ` + p.example(VerbLock, lockExample) + `, or leave "for" out to lock until unlock`)
		}
	}
	if len(rest) > 0 && writtenAsDuration(rest[0]) {
		// "lock deploys web 2h db": a duration without its "for", which
		// would start the reason of a lock that never expires.
		w := rest[0].s
		quote := fmt.Sprintf(`to start the reason with %q, quote it: %s`, w, strings.Join(strings.Fields("lock deploys "+target()+` "`+w+` …"`), " "))
		fixed := strings.Join(strings.Fields("lock deploys "+target()+" for "+w+" "+writtenWords(rest[1:])), " ")
		if runs(fixed, p.cat) {
			return c, fmt.Errorf(`%s reads as a duration, and without "for" before it, it starts the reason of a lock that holds until unlock: write %s, or, %s`, echo(w), suggest.Command(fixed), quote)
		}
		if len(rest) == 1 && isDuration(rest[0]) {
			// The form with REASON to fill in is no command to send:
			// sent, it would lock with the reason "REASON".
			form := strings.Join(strings.Fields("lock deploys "+target()+" for "+w+" REASON"), " ")
			return c, fmt.Errorf(`%s reads as a duration, and without "for" before it, it is the reason of a lock that holds until unlock: write %s, or, %s`, echo(w), form, quote)
		}
		return c, fmt.Errorf(`%s reads as a duration, and without "for" before it, it starts the reason of a lock that holds until unlock: write "for DURATION" then the reason, e.g. %s, or, %s`, echo(w), p.example(VerbLock, lockExample), quote)
	}
	if len(rest) > 1 && isWord(rest[0], "for") && !rest[1].quoted && startsWithDigit(foldLookalike(rest[1].s)) {
		var dur token
		d, err := parseDuration(rest[1].s, lockOmitFor)
		if err != nil {
			return c, durationRefused(err, `to start the reason with "for", quote it`)
		}
		if len(rest) > 2 && writtenAsDuration(rest[2]) {
			// "lock deploys web for 2h 2h db": the second would start
			// the reason.
			return c, durationTwice(rest[1], rest[2], func(d string) string {
				return "lock deploys " + target() + " for " + d + " " + writtenWords(pastDurations(rest[3:]))
			})
		}
		c.For, dur = d, rest[1]
		rest = rest[2:]
		if len(rest) == 1 && isWord(rest[0], "for") {
			// "lock deploys web for 2h for": a second "for", not one
			// whose duration is missing, and no reason yet.
			fixed := func(reason string) string {
				return suggest.Command(strings.Join(strings.Fields("lock deploys "+target()+" for "+dur.s+" "+reason), " "))
			}
			q, _ := quoteReason(rest[0].s)
			// The form with REASON to fill in is no command to send:
			// sent, it would lock with the reason "REASON".
			form := strings.Join(strings.Fields("lock deploys "+target()+" for "+dur.s+" REASON"), " ")
			return c, fmt.Errorf(`"for" is written twice, and a lock must say why: %s, or, to give %q as the reason, quote it: %s`, form, rest[0].s, fixed(q))
		}
		if len(rest) > 1 && isWord(rest[0], "for") && writtenAsDuration(rest[1]) {
			// "lock deploys web for 2h for 2h db": "for DURATION"
			// written twice, which the reason would start with.
			fixed := func(d string) string {
				return strings.Join(strings.Fields("lock deploys "+target()+" for "+d+" "+writtenWords(pastDurations(rest[2:]))), " ")
			}
			if strings.EqualFold(dur.s, rest[1].s) {
				return c, writtenTwice("for", suggest.Command(fixed(dur.s))+` (to start the reason with "for", quote it)`)
			}
			return c, durationTwice(dur, rest[1], fixed)
		}
		if n := len(rest); n > 1 && isWord(rest[n-1], "for") {
			// "lock deploys web for 2h db for": a "for" whose duration
			// was given first, or one left in by mistake, which the
			// reason would keep.
			return c, writtenTwice("for", suggest.Command(strings.Join(strings.Fields("lock deploys "+target()+" for "+dur.s+" "+writtenWords(rest[:n-1])), " "))+` (to end the reason with "for", quote it)`)
		}
		if k := len(rest) - 2; k > 0 && isWord(rest[k], "for") && writtenAsDuration(rest[k+1]) {
			// "lock deploys web for 2h db for 3h": a duration first and
			// another last, which the reason would keep, as a lock of
			// the first that says another.
			fixed := func(d string) string {
				return strings.Join(strings.Fields("lock deploys "+target()+" for "+d+" "+writtenWords(rest[:k])), " ")
			}
			if strings.EqualFold(dur.s, rest[k+1].s) {
				return c, writtenTwice("for", suggest.Command(fixed(dur.s))+` (to end the reason with "for", quote it)`)
			}
			return c, durationTwice(dur, rest[k+1], fixed)
		}
		if err := p.nameAfterFor(c, dur, rest); err != nil {
			return c, err
		}
	} else if k := durationsAfterFor(rest); k > 0 {
		// "lock deploys web db for 2h 2h", "… for 2h 3h 4h": read as
		// words of the reason, they would make a lock of 2h one that
		// never expires.
		return c, durationTwice(rest[k+1], rest[k+2], func(d string) string {
			return "lock deploys " + target() + " " + writtenWords(rest[:k]) + " for " + d
		})
	} else if n := len(rest); n > 2 && isWord(rest[n-2], "for") && !rest[n-1].quoted {
		// "lock deploys accounting db migration for 2h" says what it means.
		// A word that is no duration ("for 2fa") ends the reason; one
		// that is a duration out of range is refused, or the lock it
		// asked to expire would never do so.
		d, err := parseDuration(rest[n-1].s, lockOmitFor)
		var syntax durationSyntaxError
		switch {
		case err == nil && n > 3 && isWord(rest[n-3], "for"):
			// "lock deploys web db for for 2h": a lock of 2h, which
			// would keep a stray "for" in its reason.
			fixed := strings.Join(strings.Fields("lock deploys "+target()+" "+writtenWords(rest[:n-3])+" for "+written(rest[n-1])), " ")
			return c, writtenTwice("for", suggest.Command(fixed)+` (to end the reason with "for", quote it)`)
		case err == nil:
			c.For = d
			rest = rest[:n-2]
		case !errors.As(err, &syntax):
			return c, durationRefused(err, `to end the reason with "for", quote it`)
		}
	}
	if n := len(rest); c.For == 0 && n > 2 {
		// "… for 2hrs", "… for 30 min", "… for 2h.": a duration written
		// otherwise than the bot reads it. Taken as words of the reason,
		// it would make the lock one that never expires.
		for _, k := range []int{n - 2, n - 3} {
			if k > 0 && isWord(rest[k], "for") && meantAsDuration(rest[k+1:]) {
				return c, fmt.Errorf(`%s reads as a duration but is not written as one; write it like 30m, 2h, 1d, 1h30m or 1w (to end the reason with "for", quote it)`, echo(joinWords(rest[k+1:])))
			}
		}
	}
	if n := len(rest); c.For == 0 && n > 3 && isWord(rest[n-1], "for") && isWord(rest[n-3], "for") && isDuration(rest[n-2]) {
		// "… db migration for 2h for": the duration that ends the reason
		// is there, and a "for" after it is one too many, not one whose
		// duration is missing.
		fixed := strings.Join(strings.Fields("lock deploys "+target()+" "+writtenWords(rest[:n-1])), " ")
		return c, writtenTwice("for", suggest.Command(fixed)+` (to end the reason with "for", quote it)`)
	}
	if n := len(rest); c.For == 0 && n > 1 && isWord(rest[n-1], "for") {
		// "… db migration for": the duration that ends the reason left
		// out, or cut off. Taken as the reason's last word, it would
		// make the lock one that never expires.
		return c, errors.New(`"for" at the end of the reason needs a duration after it, e.g. … db migration for 2h; without "for DURATION" the lock holds until unlock (to end the reason with "for", quote it)`)
	}
	if len(rest) == 1 && isWord(rest[0], "for") {
		// A duration left out, not a reason: the lock would never expire.
		return c, errors.New(`"for" needs a duration after it, and then the reason, e.g. ` + p.example(VerbLock, lockExample) + ` (to give "for" as the reason, quote it)`)
	}
	if n := len(rest); n > 0 && (isEmptyQuoted(rest[0]) || isEmptyQuoted(rest[n-1])) && joinWords(rest) != "" {
		// The reason drops it: a word meant there and left blank.
		return c, errors.New(`an empty quoted word cannot start or end the reason: leave it out, or write the word it stands for, e.g. ` + p.example(VerbLock, lockExample))
	}
	c.Reason = joinWords(rest)
	if c.Reason == "" {
		return c, errors.New("a lock must say why: add a reason, e.g. " + p.example(VerbLock, lockExample))
	}
	return c, nil
}

// runs reports whether cmd, a command a reply would offer, runs as
// written. It is set in init: parse reaches the grammar, whose parsers
// use it.
var runs func(cmd string, cat Catalog) bool

func init() {
	runs = func(cmd string, cat Catalog) bool { return parse(cmd, cat, Options{}).Kind == Run }
}

// durationSecond reports whether ts goes on after its first word with
// "for DURATION", the duration maybe out of range.
func durationSecond(ts []token) bool {
	return len(ts) > 2 && isWord(ts[1], "for") && !ts[2].quoted && startsWithDigit(foldLookalike(ts[2].s)) && writtenAsDuration(ts[2])
}

// unknownEnvBeforeFor refuses rest, whose first word is no env of app,
// when "for DURATION" follows that word: read as the start of the
// reason, it would lock every env of app, and with words after the
// duration, take the duration into the reason, a lock that never
// expires. A near miss of an env is refused even with the duration
// last, and offered fixed when that command runs; otherwise no command
// could say which env was meant. It returns nil for the rest, as "db
// for 2h", a reason of one word and the lock's duration, with maybe more
// durations after it, which are refused later.
func (p *parser) unknownEnvBeforeFor(app string, rest []token) error {
	if !durationSecond(rest) {
		return nil
	}
	const k = 2
	w, dur := rest[0].s, rest[k].s
	// Only durations after it ("db for 2h 3h") are refused as such later.
	last := len(pastDurations(rest[k+1:])) == 0
	quote := fmt.Sprintf(`to start the reason with %q, quote it: lock deploys %s for %s "%s …"`, w, app, dur, w)
	if sug, ok := Suggest(w, p.cat.Envs(app)); ok {
		fixed := strings.Join(strings.Fields("lock deploys "+app+" "+sug+" "+writtenWords(rest[1:])), " ")
		if runs(fixed, p.cat) {
			return fmt.Errorf(`unknown env %s for %s; did you mean %s? known envs: %s; %s`, echo(w), app, suggest.Command(fixed), list(p.cat.Envs(app)), quote)
		}
		if last {
			return fmt.Errorf("%v; %s", p.unknownEnv(app, w), quote)
		}
	}
	if last {
		return nil
	}
	return fmt.Errorf(`%v; read as the start of the reason, it would lock every env of %s until unlock, with "for %s" a part of the reason: name a known env, or, %s`, p.unknownEnv(app, w), app, dur, quote)
}

// unknownAppBeforeFor refuses rest, whose first word is no app, when
// "for DURATION" and more words follow that word: read as the start of
// the reason, it would lock every app, and take the duration into the
// reason, a lock that never expires. A near miss of an app is offered
// fixed when that command runs. It returns nil for the rest, as "db for
// 2h", a reason of one word and the lock's duration, with maybe more
// durations after it, which are refused later.
func (p *parser) unknownAppBeforeFor(rest []token) error {
	if !durationSecond(rest) || len(pastDurations(rest[3:])) == 0 {
		return nil
	}
	w, dur := rest[0].s, rest[2].s
	quote := fmt.Sprintf(`to start the reason with %q, quote it: lock deploys for %s "%s …"`, w, dur, w)
	if sug, ok := Suggest(w, p.cat.Apps()); ok {
		fixed := strings.Join(strings.Fields("lock deploys "+sug+" "+writtenWords(rest[1:])), " ")
		if runs(fixed, p.cat) {
			return fmt.Errorf(`unknown app %s; did you mean %s? known apps: %s; %s`, echo(w), suggest.Command(fixed), list(p.cat.Apps()), quote)
		}
	}
	return fmt.Errorf(`%v; read as the start of the reason, it would lock every app until unlock, with "for %s" a part of the reason: name a known app, or, %s`, p.unknownApp(w), dur, quote)
}

// nameAfterFor refuses rest, the words after a "for DURATION" given
// before them, when they start with an app or env name unquoted: read as
// the reason, they would lock more than was named ("lock deploys for 2h
// web db" every app, "lock deploys web for 2h prod db" every env of web),
// or leave what they name unlocked. The app or env of the lock goes
// before "for", which is offered when that command runs. It returns nil
// otherwise.
func (p *parser) nameAfterFor(c Command, dur token, rest []token) error {
	if len(rest) == 0 || rest[0].quoted {
		return nil
	}
	w, target := rest[0].s, strings.TrimSpace(c.App+" "+c.Env)
	lock := func(target, reason string) string {
		return strings.Join(strings.Fields("lock deploys "+target+" for "+dur.s+" "+reason), " ")
	}
	quote := fmt.Sprintf(`to start the reason with %q, quote it: %s`, w, lock(target, `"`+w+` …"`))
	var moved, what string
	switch {
	case c.App == "" && p.isApp(w):
		moved, what = w, fmt.Sprintf("%q is an app, and the app", w)
	case c.App != "" && c.Env == "" && p.isEnv(c.App, w):
		moved, what = c.App+" "+w, fmt.Sprintf("%q is an env of %s, and the env", w, c.App)
	case w == c.App && !p.isEnv(c.App, w) || w == c.Env:
		// "lock deploys web for 2h web db": the name written twice.
		return writtenTwice(w, suggest.Command(lock(target, writtenWords(rest[1:])))+", or, "+quote)
	case c.App == "" && p.isEnvOfAnyApp(w):
		return fmt.Errorf(`%q is an env; name the app first, before "for": lock deploys APP %s for %s …, or, %s`, w, w, dur.s, quote)
	case c.Env != "" && p.isEnvOfAnyApp(w):
		return fmt.Errorf(`a lock covers one env, and %q is another: lock each (lock deploys %s %s …), or every env of %s (lock deploys %s …); %s`, w, c.App, w, c.App, c.App, quote)
	case c.App != "" && p.isApp(w):
		return fmt.Errorf(`a lock covers one app, and %q is another: lock each (lock deploys %s …), or every app (lock deploys …); %s`, w, w, quote)
	case c.App != "" && c.Env == "" && p.isEnvOfAnyApp(w):
		// Another app's env: locking every env of the app instead
		// would lock more than was asked.
		return fmt.Errorf(`%v; %s`, p.unknownEnv(c.App, w), quote)
	default:
		return nil
	}
	if fixed := lock(moved, writtenWords(rest[1:])); runs(fixed, p.cat) {
		return fmt.Errorf(`%s goes before "for": %s; %s`, what, suggest.Command(fixed), quote)
	}
	// No reason follows: the form with REASON to fill in is no command
	// to send, which would lock with the reason "REASON".
	return fmt.Errorf(`%s goes before "for", and a lock must say why: %s; %s`, what, lock(moved, "REASON"), quote)
}

// isDuration reports whether t is a duration as lock and grant read one.
func isDuration(t token) bool {
	_, err := parseDuration(t.s, "")
	return !t.quoted && err == nil
}

// writtenAsDuration reports whether t is written as a duration, maybe
// one out of range ("100d", "0h"): a second one after "for" is no word of
// a reason either.
func writtenAsDuration(t token) bool {
	_, err := parseDuration(t.s, "")
	var syntax durationSyntaxError
	return !t.quoted && !errors.As(err, &syntax)
}

// pastDurations returns ts from its first word not written as a
// duration: a third duration after two would start the reason of the
// command offered, which is then refused as two durations in turn.
func pastDurations(ts []token) []token {
	for len(ts) > 0 && writtenAsDuration(ts[0]) {
		ts = ts[1:]
	}
	return ts
}

// durationsAfterFor returns where the "for" is that ends ts with two or
// more durations after it ("db for 2h 3h 4h"), and reason words before
// it; 0 if none does.
func durationsAfterFor(ts []token) int {
	k := len(ts)
	for k > 0 && writtenAsDuration(ts[k-1]) {
		k--
	}
	if k-1 < 1 || len(ts)-k < 2 || !isWord(ts[k-1], "for") {
		return 0
	}
	return k - 1
}

// durationTwice refuses two durations after one "for", first and second;
// fixed writes the command right with a duration.
func durationTwice(first, second token, fixed func(d string) string) error {
	fix := func(d string) string {
		return suggest.Command(strings.Join(strings.Fields(fixed(d)), " "))
	}
	// The one offered is one the lock takes: with neither, a command
	// offered would be refused, so the range is given instead.
	var d string
	switch {
	case isDuration(first):
		d = first.s
	case isDuration(second):
		d = second.s
	}
	span := fmt.Sprintf("from 1m to %dd", MaxLockFor/(24*time.Hour))
	switch {
	case strings.EqualFold(first.s, second.s) && d == "":
		return fmt.Errorf(`%q is written twice, and a lock takes a duration %s: write one such, or omit "for" %s (to keep both in the reason, quote it)`, first.s, span, lockOmitFor)
	case strings.EqualFold(first.s, second.s):
		return writtenTwice(first.s, fix(first.s)+` (to keep both in the reason, quote it)`)
	case d == "":
		return fmt.Errorf(`"for" takes one duration, and %s and %s are two, neither of which a lock takes: write one %s, or omit "for" %s (to keep both in the reason, quote it)`, echo(first.s), echo(second.s), span, lockOmitFor)
	}
	return fmt.Errorf(`"for" takes one duration, and %s and %s are two: write one, e.g. %s (to keep both in the reason, quote it)`, echo(first.s), echo(second.s), fix(d))
}

// lookalikeDeploys refuses a "deploys" after lock or unlock written with
// look-alike characters, which "write "lock deploys"" would not explain:
// it reads as that already. It returns nil otherwise.
func lookalikeDeploys(args []token) error {
	if len(args) == 0 || args[0].quoted {
		return nil
	}
	if k := disguised(args[0].s, func(w string) bool { return w == "deploys" }); k != "" {
		return lookalikeKeyword(args[0].s, k)
	}
	return nil
}

// appSlashEnv returns w written as lock takes it, "APP ENV" or "APP", when
// w is an app and one of its envs joined by a "/" ("accounting/production")
// or an app followed by one ("accounting/"); "" otherwise.
func appSlashEnv(p *parser, w string) string {
	app, env, ok := strings.Cut(w, "/")
	switch {
	case !ok || !p.isApp(app):
		return ""
	case env == "":
		return app
	case p.isEnv(app, env):
		return app + " " + env
	}
	return ""
}

// durationWords are the units people write after a number in a duration
// that parseDuration does not read: "2hrs", "30 min", "3 days".
var durationWords = []string{
	"m", "min", "mins", "minute", "minutes",
	"h", "hr", "hrs", "hour", "hours",
	"d", "day", "days",
	"w", "wk", "wks", "week", "weeks",
}

// meantAsDuration reports whether words, one or two unquoted words after a
// "for", are a duration, maybe written otherwise than parseDuration reads
// it: a number, whole or with a decimal point or comma, and a unit, apart
// or together, in any case, with full-width digits, or followed by
// punctuation ("2h.", "2 hours", "30min", "1.5h", "２h").
// A number and a word that is no unit ("2fa", "2 reviewers") is not.
func meantAsDuration(words []token) bool {
	var b strings.Builder
	for i, t := range words {
		w := foldLookalike(t.s)
		if num, _ := cutNumber(w); t.quoted || i+1 < len(words) && num != w {
			return false
		}
		b.WriteString(w)
	}
	s := strings.TrimRight(b.String(), ".,;:!?)")
	num, unit := cutNumber(s)
	if num == "" {
		return false
	}
	if _, err := parseDuration(s, ""); err == nil {
		return true
	}
	return slices.Contains(durationWords, unit)
}

// cutNumber cuts the number s starts with, ASCII digits with maybe a
// decimal point or comma and more digits, from the rest of s.
func cutNumber(s string) (num, rest string) {
	i := len(s) - len(strings.TrimLeft(s, "0123456789"))
	if i > 0 && i+1 < len(s) && (s[i] == '.' || s[i] == ',') && '0' <= s[i+1] && s[i+1] <= '9' {
		i = len(s) - len(strings.TrimLeft(s[i+1:], "0123456789"))
	}
	return s[:i], s[i:]
}

func parseUnlock(p *parser, args []token) (Command, error) {
	var c Command
	if len(args) == 0 || !isWord(args[0], "deploys") {
		if err := lookalikeDeploys(args); err != nil {
			return c, err
		}
		return c, errors.New(`write "unlock deploys", then optionally the app and env of the lock, e.g. ` + p.example(VerbUnlock, "unlock deploys accounting production"))
	}
	for i := 1; i < len(args); i++ {
		named := i == 1 && p.isApp(args[i].s) || i == 2 && p.isEnv(args[1].s, args[i].s)
		if isWord(args[i], "deploys") && !named {
			// A slip of the keyword, before or after the app or env,
			// not an app or env to look up: named as lock names it.
			return c, writtenTwice("deploys", suggest.Command("unlock "+writtenWords(slices.Delete(slices.Clone(args), i, i+1))))
		}
	}
	if err := p.unlockDuration(args); err != nil {
		return c, err
	}
	// "unlock deploys web web": the app written twice, not an env.
	if err := p.appTwiceAt(args, 1); err != nil {
		return c, err
	}
	app, env, rest, err := p.appEnv(args[1:], false)
	if err != nil {
		return c, err
	}
	if err := p.envTwiceAt(args, 3, env); err != nil {
		return c, err
	}
	if err := p.envsTwo(app, env, rest); err != nil {
		return c, err
	}
	if len(rest) > 0 {
		return c, unexpected(rest[0])
	}
	c.App, c.Env = app, env
	return c, nil
}

// unlockDuration refuses given, the arguments of unlock, when they hold
// "for DURATION", as lock takes it: "unlock deploys web for 1h" was
// answered as an unknown env "for" of web. A lock's duration is set when
// it is taken, so the reply offers the unlock without it. So too a
// duration without "for", or a "for" with none after it, written last
// ("unlock deploys web 1h", once an unknown env "1h" of web). A "for" or
// duration that names the app or env in its place is that name; nil when
// there is none.
func (p *parser) unlockDuration(given []token) error {
	for i := 1; i+1 < len(given); i++ {
		named := i == 1 && p.isApp(given[i].s) || i == 2 && p.isEnv(given[1].s, given[i].s)
		if !isWord(given[i], "for") || named || !durationWritten(given[i+1]) {
			continue
		}
		return &slipError{
			problem: fmt.Sprintf(`unlock takes no duration ("for %s"): a lock's duration is set when it is taken`, given[i+1].s),
			fix:     "to end the lock now, send",
			fixed:   "unlock " + writtenWords(slices.Delete(slices.Clone(given), i, i+2)),
		}
	}
	// A duration without "for", or a "for" with none after it, written
	// last: refused as an unknown env or a stray word otherwise.
	args := given[1:]
	bareFor := func(t token) bool { return isWord(t, "for") }
	if len(args) == 0 || !p.slipLast(args, durationWritten) && !p.slipLast(args, bareFor) {
		return nil
	}
	last := args[len(args)-1]
	return &slipError{
		problem: fmt.Sprintf(`unlock takes no duration (%s): a lock's duration is set when it is taken`, echo(last.s)),
		fix:     "to end the lock now, send",
		fixed:   "unlock " + writtenWords(given[:len(given)-1]),
	}
}

// durationWritten reports whether t is written as a duration, one too
// long or zero included.
func durationWritten(t token) bool {
	if t.quoted || !startsWithDigit(t.s) {
		return false
	}
	var syntax durationSyntaxError
	_, err := parseDuration(t.s, "")
	return !errors.As(err, &syntax)
}

// appEnv takes an optional APP and an optional ENV of it from the front of
// args. With needApp, APP is required.
func (p *parser) appEnv(args []token, needApp bool) (app, env string, rest []token, err error) {
	if len(args) == 0 {
		if needApp {
			return "", "", nil, fmt.Errorf("%s needs an app; known apps: %s", p.spec.verb, list(p.cat.Apps()))
		}
		return "", "", nil, nil
	}
	if app, err = p.app(args[0]); err != nil {
		return "", "", nil, err
	}
	if len(args) > 1 && p.appTwice(app, args[1]) {
		return "", "", nil, p.appWrittenTwice(app)
	}
	if len(args) > 1 {
		if err := p.appsTwo(app, args[1]); err != nil {
			return "", "", nil, err
		}
		if env, err = p.env(app, args[1]); err != nil {
			return "", "", nil, err
		}
		return app, env, args[2:], nil
	}
	return app, "", nil, nil
}

// appTwice reports whether t, in the env's place after app, is app
// written twice rather than an env named as it.
func (p *parser) appTwice(app string, t token) bool {
	return !t.quoted && t.s == app && !p.isEnv(app, t.s)
}

// appTwiceAfter refuses given, the arguments of a command that names
// the app first, when the app is written twice right after it (see
// appTwice): read as a stray word by the commands that take no env, or
// as a second app by history, it was answered as an unexpected word. The
// reply offers given without the second writing; nil when there is none.
func (p *parser) appTwiceAfter(given []token) error { return p.appTwiceAt(given, 0) }

// appTwiceAt is appTwiceAfter for the app at i of given, the arguments
// of a command: "unlock deploys web web" names it after its keyword.
func (p *parser) appTwiceAt(given []token, i int) error {
	if i+1 >= len(given) || !p.isApp(given[i].s) || !p.appTwice(given[i].s, given[i+1]) {
		return nil
	}
	return writtenTwice(given[i].s, suggest.Command(p.spec.name()+" "+writtenWords(slices.Delete(slices.Clone(given), i+1, i+2))))
}

// appsTwo refuses t, in the env's place after app, when it is another
// app and no env of app: looked up as an env, it was answered as an
// unknown one of an app the user did not mean it for. Both apps are
// named, with no command offered, as no reply can pick the one meant;
// nil otherwise. A quoted word is left to be looked up as an env.
func (p *parser) appsTwo(app string, t token) error {
	if t.quoted || t.s == app || p.isEnv(app, t.s) || !p.isApp(t.s) {
		return nil
	}
	return twoNamed("apps", app, t.s, p.spec.name())
}

// appNotEnv refuses t, the env of a deploy or a train board of app, when
// it is another app and no env of app: looked up as an env, "deploy
// accounting 1 to demo" was answered as an unknown env "demo" of
// accounting. As appsTwo, it names both apps and offers no command; it
// says that t is an app and lists app's envs, as the env's place is
// where the word stood. nil otherwise; a quoted word is left to be
// looked up as an env. The app's own name there, "deploy accounting 1 to
// accounting", is the app named twice: said so, with app's envs listed
// and no command offered, as the env meant is not written.
func (p *parser) appNotEnv(app string, t token) error {
	if p.appTwice(app, t) {
		return fmt.Errorf("%s is the app, not an env of %s, so the app is named twice: send the %s again with the env you mean; known envs of %s: %s", echo(t.s), app, p.spec.name(), app, list(p.cat.Envs(app)))
	}
	if p.appsTwo(app, t) == nil {
		return nil
	}
	return fmt.Errorf("%s is an app, not an env of %s, so %w; known envs of %s: %s", echo(t.s), app, twoNamed("apps", app, t.s, p.spec.name()), app, list(p.cat.Envs(app)))
}

// appWrittenTwice refuses the app written twice where the env goes:
// looked up as an env, it would be answered as an unknown one.
func (p *parser) appWrittenTwice(app string) error {
	return fmt.Errorf("%q is written twice: name the app once, then the env if any; known envs of %s: %s", app, app, list(p.cat.Envs(app)))
}

// envTwiceAt refuses given, the arguments of a command, when the word at
// i is env written twice right after it: read as a stray word, it was
// answered as an unexpected one. The reply offers given without the
// second writing, after the command's name; nil when there is none.
func (p *parser) envTwiceAt(given []token, i int, env string) error {
	if env == "" || i >= len(given) || given[i].quoted || given[i].s != env {
		return nil
	}
	return writtenTwice(env, suggest.Command(p.spec.name()+" "+writtenWords(slices.Delete(slices.Clone(given), i, i+1))))
}

// envsTwo refuses rest, the words after env of app, when they start with
// another env of it: read as a stray word, it was answered as an
// unexpected one. Both are named, as a deploy names them; nil otherwise.
func (p *parser) envsTwo(app, env string, rest []token) error {
	if env == "" || len(rest) == 0 || rest[0].quoted || rest[0].s == env || !p.isEnv(app, rest[0].s) {
		return nil
	}
	return twoNamed("envs", env, rest[0].s, p.spec.name())
}

func parseStatus(p *parser, args []token) (Command, error) {
	var c Command
	if len(args) == 2 && p.isApp(args[0].s) && p.isEnv(args[0].s, args[1].s) {
		return c, fmt.Errorf("status takes no env; %s shows every env of %s", suggest.Command("status "+written(args[0])), args[0].s)
	}
	if err := p.appTwiceAfter(args); err != nil {
		return c, err
	}
	if len(args) > 1 {
		return c, unexpected(args[1])
	}
	if len(args) == 1 {
		app, err := p.app(args[0])
		if err != nil {
			return c, err
		}
		c.App = app
	}
	return c, nil
}

func parseHistory(p *parser, args []token) (Command, error) {
	var c Command
	var err error
	given := args
	if c.N, args, err = takeN(args, DefaultHistory, MaxHistory); err != nil {
		return c, err
	}
	if len(args) > 1 {
		// Once N is taken, as audit does.
		if err := p.appTwiceAfter(given); err != nil {
			return c, err
		}
	}
	if len(args) > 2 && p.isApp(args[0].s) && p.isEnv(args[0].s, args[1].s) {
		// "history web prod prod": the env written twice, not a second
		// env.
		if err := p.envTwiceAt(given, 2, args[1].s); err != nil {
			return c, err
		}
	}
	// A number before the end is an N out of its place ("history 20
	// web"), or a second N: the names are read without it, so that the
	// reply is about the word at fault, not about a right word moved.
	names := args
	i := slices.IndexFunc(args, func(t token) bool { return looksNumeric(t.s) })
	if i >= 0 {
		names = slices.Delete(slices.Clone(args), i, i+1)
	}
	app, env, j, stray, err := p.historyTarget(names)
	if err != nil {
		if i >= 0 && j == i && (j == 0 || !stray) {
			// "history 5 extra", "history web 5 extra": what comes
			// before N is whole, and the word after it is the stray one,
			// not an unknown app or env.
			return c, unexpected(args[i+1])
		}
		if i >= 0 && i < 2 && j >= 2 {
			return c, fmt.Errorf("%w, and N goes last: history %s %s N", err, names[0].s, names[1].s)
		}
		return c, err
	}
	if i >= 0 {
		if len(args) < len(given) {
			// "history web 5 5", "history web 5 7": the last N is
			// kept, as audit keeps it, so that the command offered is
			// one to send, not one with N to fill in.
			fixed := "history " + writtenWords(slices.Delete(slices.Clone(given), i, i+1))
			return c, nTwice(args[i], given[len(given)-1], fixed)
		}
		if v, err := strconv.Atoi(args[i].s); err == nil && v >= 1 && v <= MaxHistory {
			// "history 20 web": the command with the N given moved
			// last is one to send.
			return c, fmt.Errorf("N goes last: %s", suggest.Command(strings.TrimSpace("history "+writtenWords(names)+" "+args[i].s)))
		}
		// Out of range, moved last it would be refused too: both are
		// named, and no N is offered.
		form := strings.Join(slices.DeleteFunc([]string{"history", app, env, "N"}, func(w string) bool { return w == "" }), " ")
		return c, fmt.Errorf("N must be a whole number from 1 to %d, not %s, and goes last: %s", MaxHistory, echo(args[i].s), form)
	}
	c.App, c.Env = app, env
	return c, nil
}

// historyTarget reads the APP and ENV of history from names, the words
// before N. On error it also returns the index in names of the word at
// fault, and whether the error is about a word too many (rather than an
// unknown app or env).
func (p *parser) historyTarget(names []token) (app, env string, at int, stray bool, err error) {
	if len(names) == 0 {
		return "", "", 0, false, nil
	}
	if app, err = p.app(names[0]); err != nil {
		return "", "", 0, false, err
	}
	if len(names) == 1 {
		return app, "", 0, false, nil
	}
	if !p.isEnv(app, names[1].s) && p.isApp(names[1].s) {
		// "history web api": read as web's env, it would be refused as
		// an unknown one, of an app the user did not mean it for.
		return "", "", 1, true, fmt.Errorf("unexpected word %s: history takes one app; leave the app out to see every app's deploys", echo(names[1].s))
	}
	if env, err = p.env(app, names[1]); err != nil {
		return "", "", 1, false, err
	}
	if len(names) == 2 {
		return app, env, 0, false, nil
	}
	if p.isEnv(app, names[2].s) {
		return "", "", 2, true, fmt.Errorf("%w, or leave the env out to see every env of %s", twoNamed("envs", env, names[2].s, "history"), app)
	}
	return "", "", 2, true, unexpected(names[2])
}

// takeN takes the trailing N of history and audit from args: a whole number
// from 1 to most, or def when the last word is not meant as a number.
func takeN(args []token, def, most int) (int, []token, error) {
	n := len(args)
	if n == 0 || !looksNumeric(args[n-1].s) {
		return def, args, nil
	}
	v, err := strconv.Atoi(args[n-1].s)
	if err != nil || v < 1 || v > most {
		return 0, nil, fmt.Errorf("N must be a whole number from 1 to %d, not %s", most, echo(args[n-1].s))
	}
	return v, args[:n-1], nil
}

// looksNumeric reports whether s is meant as a number: an optional sign and
// digits only.
func looksNumeric(s string) bool {
	s = strings.TrimLeft(s, "+-")
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parseCancel(p *parser, args []token) (Command, error) {
	var c Command
	if len(args) > 0 && !p.isApp(args[0].s) && p.isTrain(args[0].s) {
		return c, fmt.Errorf("%q is a train; to call off its departure: train cancel %s reason…", args[0].s, args[0].s)
	}
	if err := p.appTwiceAfter(args); err != nil {
		return c, err
	}
	app, env, rest, err := p.appEnv(args, true)
	if err != nil {
		return c, err
	}
	if err := p.envTwiceAt(args, 2, env); err != nil {
		return c, err
	}
	if err := p.envsTwo(app, env, rest); err != nil {
		return c, err
	}
	if len(rest) > 0 {
		return c, unexpected(rest[0])
	}
	if env == "" {
		if env, err = p.defaultEnv(app); err != nil {
			return c, err
		}
	}
	c.App, c.Env = app, env
	return c, nil
}

// parseStats parses "stats APP [ENV] [WINDOW]". WINDOW goes last and
// starts with a digit, which no env name does.
func parseStats(p *parser, args []token) (Command, error) {
	c := Command{For: DefaultStatsWindow}
	if len(args) == 0 {
		return Command{}, fmt.Errorf("stats needs an app; known apps: %s", list(p.cat.Apps()))
	}
	if !p.isApp(args[0].s) {
		switch w := args[0].s; {
		case isWindow(w) && len(args) > 1 && p.isApp(args[1].s):
			return Command{}, fmt.Errorf("the window goes last: stats %s … %s", args[1].s, w)
		case p.isEnvOfAnyApp(w):
			return Command{}, fmt.Errorf("%q is an env; name the app first: stats APP %s", w, w)
		}
	}
	app, err := p.app(args[0])
	if err != nil {
		return Command{}, err
	}
	rest := args[1:]
	// without writes the command with the word at i left out: the
	// command written right when that word is one written twice.
	without := func(i int) string {
		return suggest.Command("stats " + writtenWords(slices.Delete(slices.Clone(args), i, i+1)))
	}
	if len(rest) > 0 && !rest[0].quoted && rest[0].s == app && !p.isEnv(app, app) {
		// "stats accounting accounting": the app written twice, not an
		// env named as it.
		return Command{}, writtenTwice(app, without(1))
	}
	if n := len(rest); n > 0 && startsWithDigit(rest[n-1].s) && (n > 1 || !p.isEnv(app, rest[0].s)) {
		if c.For, err = parseWindow(rest[n-1].s); err != nil {
			return Command{}, err
		}
		if n > 1 && isWindow(rest[n-2].s) && !p.isEnv(app, rest[n-2].s) {
			// "stats accounting 30d 30d": a window written twice, not an
			// env named "30d" or a stray word.
			if rest[n-2].s == rest[n-1].s {
				return Command{}, writtenTwice(rest[n-1].s, without(len(args)-2))
			}
			return Command{}, fmt.Errorf("the window is written twice (%s and %s); write one, last: %s", echo(rest[n-2].s), echo(rest[n-1].s), without(len(args)-2))
		}
		rest = rest[:n-1]
	}
	if n := len(rest); n > 0 && isWord(rest[n-1], "for") {
		target := app
		if n == 2 && p.isEnv(app, rest[0].s) {
			target += " " + rest[0].s
		}
		return Command{}, fmt.Errorf(`write the window without "for": stats %s %s`, target, formatWindow(c.For))
	}
	switch {
	case len(rest) == 2 && isWindow(rest[0].s) && p.isEnv(app, rest[1].s):
		return Command{}, fmt.Errorf("the window goes last: stats %s %s %s", app, rest[1].s, rest[0].s)
	case len(rest) == 2 && rest[0].s == rest[1].s && !rest[1].quoted && p.isEnv(app, rest[1].s):
		// "stats accounting production production".
		return Command{}, writtenTwice(rest[1].s, without(2))
	case len(rest) == 2 && p.isEnv(app, rest[0].s):
		if err := p.envsTwo(app, rest[0].s, rest[1:]); err != nil {
			return Command{}, err
		}
		return Command{}, unexpected(rest[1])
	case len(rest) > 2 && p.isEnv(app, rest[0].s) && startsWithDigit(rest[1].s):
		// "stats web prod 30d extra": the window is in its place.
		return Command{}, unexpected(rest[2])
	case len(rest) > 1:
		return Command{}, unexpected(rest[1])
	case len(rest) == 1:
		if err := p.appsTwo(app, rest[0]); err != nil {
			return Command{}, err
		}
		if c.Env, err = p.env(app, rest[0]); err != nil {
			return Command{}, err
		}
	}
	c.App = app
	return c, nil
}

// windowUnits are the units of a stats window.
var windowUnits = map[byte]time.Duration{'d': day, 'w': 7 * day}

// parseWindow parses the WINDOW of stats: a whole number of days or weeks,
// e.g. 7d, 30d or 2w, from 1d to MaxStatsWindow.
func parseWindow(s string) (time.Duration, error) {
	const like = "write it as days or weeks, e.g. 7d, 30d or 2w"
	ls := strings.ToLower(s)
	if ls == "" {
		return 0, fmt.Errorf("the window is empty; %s", like)
	}
	if isDigits(ls) && len(ls) <= 6 {
		return 0, fmt.Errorf("window %s needs a unit: %sd for days, %sw for weeks", echo(s), ls, ls)
	}
	n := len(ls) - 1
	unit, ok := windowUnits[ls[n]]
	if !ok || n == 0 || n > 6 || !isDigits(ls[:n]) {
		return 0, fmt.Errorf("invalid window %s; %s", echo(s), like)
	}
	v, _ := strconv.Atoi(ls[:n]) // at most 6 digits: cannot fail
	switch {
	case v == 0:
		return 0, fmt.Errorf("window %s is zero; give at least 1d, or omit it for %s", echo(s), formatWindow(DefaultStatsWindow))
	case time.Duration(v) > MaxStatsWindow/unit:
		return 0, fmt.Errorf("window %s is too long; the limit is %s", echo(s), formatWindow(MaxStatsWindow))
	}
	return time.Duration(v) * unit, nil
}

// isWindow reports whether s is a valid stats window.
func isWindow(s string) bool {
	_, err := parseWindow(s)
	return err == nil
}

func isDigits(s string) bool { return s != "" && strings.TrimLeft(s, "0123456789") == "" }

// formatWindow writes a stats window the way parseWindow reads it, in days:
// "30d", "14d" for 2w.
func formatWindow(d time.Duration) string { return strconv.FormatInt(int64(d/day), 10) + "d" }

// trainActions are the keywords of the actions of train, for replies.
var trainActions = []string{TrainBoard, TrainLeave, TrainCancel, TrainDepart}

// parseTrain parses the bare "train", which lists the trains. Its actions
// are forms (see grammar); arguments here are a mistake to explain.
func parseTrain(p *parser, args []token) (Command, error) {
	if len(args) == 0 {
		return Command{TrainAction: TrainList}, nil
	}
	if err := p.needTrains(); err != nil {
		return Command{}, err
	}
	w := args[0]
	switch f := p.spec.formNamed(w.s); {
	case f != nil && !w.quoted:
		// "train --now depart": p.form saw the flag first.
		return Command{}, fmt.Errorf("%q goes right after train, and takes no flags", f.keyword)
	case p.isTrain(w.s):
		return Command{}, fmt.Errorf("%q is a train; say first what to do with it, e.g. train board APP BUILD on %s", w.s, w.s)
	case isWord(w, TrainList):
		return Command{}, errors.New(`"train" alone lists the trains; write just train`)
	case isEmptyQuoted(w):
		// A word left blank, not one looked up and not found.
		return Command{}, fmt.Errorf("an empty quoted word stands where the train action goes: name the action; train takes %s, or nothing to list the trains", strings.Join(trainActions, ", "))
	}
	msg := "unknown train action " + echo(w.s)
	if sug, ok := Suggest(w.s, trainActions); ok {
		msg += fmt.Sprintf("; did you mean %q?", "train "+sug)
	} else {
		msg += ";"
	}
	return Command{}, fmt.Errorf("%s train takes %s, or nothing to list the trains", msg, strings.Join(trainActions, ", "))
}

func parseTrainBoard(p *parser, args []token) (Command, error) {
	if err := p.needTrains(); err != nil {
		return Command{}, err
	}
	if len(args) == 0 {
		return Command{}, fmt.Errorf("train board needs an app and a build; known apps: %s", list(p.cat.Apps()))
	}
	if err := p.trainFirst(args[0], "train board APP BUILD on %s"); err != nil {
		return Command{}, err
	}
	app, err := p.app(args[0])
	if err != nil {
		return Command{}, err
	}
	if len(args) == 1 || isWord(args[1], "to") || isWord(args[1], "on") {
		return Command{}, fmt.Errorf("train board needs a build after the app, e.g. train board %s 1337", app)
	}
	if len(args) > 2 && !isWord(args[2], "to") && !isWord(args[2], "on") && p.appTwice(app, args[1]) {
		// "train board web web 1337": as deploy says of it.
		return Command{}, writtenTwice(app, suggest.Command("train board "+written(args[0])+" "+writtenWords(args[2:])))
	}
	build := args[1].s
	switch {
	case args[1].quoted:
		// "train board web "daily" on daily": the build, named in
		// quotes as a train or env may be, as a quoted "on" is.
	case p.isEnv(app, build):
		return Command{}, fmt.Errorf("%q is an env of %s, not a build; the build comes first: train board %s BUILD to %s", build, app, app, build)
	case p.isTrain(build):
		return Command{}, fmt.Errorf("%q is a train, not a build; the build comes first: train board %s BUILD on %s", build, app, build)
	}
	if err := checkBuild(args[1]); err != nil {
		return Command{}, err
	}
	c := Command{TrainAction: TrainBoard, App: app, Build: build}
	// envW is the env as written, kept in the command that names a train.
	var envW string
	for rest := args[2:]; len(rest) > 0; {
		t := rest[0]
		kw := strings.ToLower(t.s)
		// fixed is the command written right: the n words from here on
		// that are too many replaced by put; the parts before and after
		// are kept, so that the user can send it as it stands.
		form := func(n int, put ...string) string {
			before := args[2 : len(args)-len(rest)]
			after := rest[min(n, len(rest)):]
			words := []string{"train board", written(args[0]), written(args[1]), writtenWords(before), strings.Join(put, " "), writtenWords(after)}
			return strings.Join(slices.DeleteFunc(words, func(w string) bool { return w == "" }), " ")
		}
		fixed := func(n int, put ...string) string { return suggest.Command(form(n, put...)) }
		switch {
		case isWord(t, "to") && c.Env == "" && len(rest) > 1 && isWord(rest[1], "to") && !p.isEnv(app, rest[1].s) && (len(rest) == 2 || isWord(rest[2], "on")):
			// "train board web 1337 to to": a doubled keyword and no
			// env, not an env named "to".
			// The form with ENV to fill in is no command to send.
			return Command{}, fmt.Errorf("%w; known envs of %s: %s", writtenTwice(kw, form(2, kw, "ENV")), app, list(p.cat.Envs(app)))
		case isWord(t, "on") && c.Train == "" && len(rest) > 1 && isWord(rest[1], "on") && !p.isTrain(rest[1].s) && (len(rest) == 2 || isWord(rest[2], "to")):
			return Command{}, fmt.Errorf("%w; trains: %s", writtenTwice(kw, form(2, kw, "TRAIN")), list(p.cat.Trains()))
		case isWord(t, "to") && len(rest) > 2 && isWord(rest[1], "to") && !p.isEnv(app, rest[1].s),
			isWord(t, "on") && len(rest) > 2 && isWord(rest[1], "on") && !p.isTrain(rest[1].s):
			// "train board web 1337 on on daily".
			return Command{}, writtenTwice(kw, fixed(1))
		case isWord(t, "to") && c.Env != "" && secondDiffers(rest, kw, c.Env):
			return Command{}, twoNamed("envs", c.Env, valueAfter(rest, kw), "train board")
		case isWord(t, "on") && c.Train != "" && secondDiffers(rest, kw, c.Train):
			return Command{}, twoNamed("trains", c.Train, valueAfter(rest, kw), "train board")
		case isWord(t, "to") && c.Env != "":
			return Command{}, writtenTwice(kw, fixed(2)+"; a car goes to one env")
		case isWord(t, "on") && c.Train != "":
			return Command{}, writtenTwice(kw, fixed(2)+"; a build boards one train")
		case isWord(t, "to") && c.Env == "":
			if len(rest) == 1 {
				return Command{}, fmt.Errorf(`"to" needs an env; known envs of %s: %s`, app, list(p.cat.Envs(app)))
			}
			if err := p.appNotEnv(app, rest[1]); err != nil {
				return Command{}, err
			}
			if c.Env, err = p.env(app, rest[1]); err != nil {
				return Command{}, err
			}
			envW = " to " + written(rest[1])
		case isWord(t, "on") && c.Train == "":
			if len(rest) == 1 {
				return Command{}, fmt.Errorf(`"on" needs a train; trains: %s`, list(p.cat.Trains()))
			}
			if c.Train, err = p.train(rest[1]); err != nil {
				return Command{}, err
			}
		case c.Train != "" && !t.quoted && t.s == c.Train && !p.isEnv(app, t.s):
			// "train board web 1337 on daily daily": not a stray word.
			return Command{}, writtenTwice(t.s, fixed(1))
		case c.Env != "" && !t.quoted && t.s == c.Env && !p.isTrain(t.s):
			// "train board web 1337 to prod prod on daily", as deploy
			// says of it.
			return Command{}, writtenTwice(t.s, fixed(1))
		case len(rest) == len(args)-2 && !t.quoted && t.s == build && !p.isEnv(app, t.s) && !p.isTrain(t.s):
			// "train board web 1337 1337 on daily": the build written
			// twice, as deploy says of it.
			return Command{}, writtenTwice(t.s, fixed(1))
		case len(rest) == len(args)-2 && t.s != build && buildShaped(t) && !p.isEnv(app, t.s) && !p.isTrain(t.s):
			// "train board web 1337 1338 on daily": which one?
			return Command{}, twoNamed("builds", build, t.s, "train board")
		case c.Env != "" && !t.quoted && p.isEnv(app, t.s) && !p.isTrain(t.s):
			// "train board web 1337 to prod staging".
			return Command{}, twoNamed("envs", c.Env, t.s, "train board")
		case c.Train != "" && !t.quoted && p.isTrain(t.s) && !p.isEnv(app, t.s):
			// "train board web 1337 on daily weekly".
			return Command{}, twoNamed("trains", c.Train, t.s, "train board")
		case c.Env == "" && p.isEnv(app, t.s):
			if second := secondNamed(rest[1:], t.s, "to", func(e string) bool { return p.isEnv(app, e) && !p.isTrain(e) }); second != "" {
				// "train board web 1337 staging to prod": adding the
				// "to" would leave two envs, as deploy says of it.
				return Command{}, twoNamed("envs", t.s, second, "train board")
			}
			return Command{}, &slipError{problem: "unexpected word " + echo(t.s), fix: `write "to" before the env`, fixed: form(1, "to", written(t))}
		case c.Train == "" && p.isTrain(t.s):
			if second := secondNamed(rest[1:], t.s, "on", func(n string) bool { return p.isTrain(n) && !p.isEnv(app, n) }); second != "" {
				return Command{}, twoNamed("trains", t.s, second, "train board")
			}
			return Command{}, &slipError{problem: "unexpected word " + echo(t.s), fix: `write "on" before the train`, fixed: form(1, "on", written(t))}
		default:
			return Command{}, unexpected(t)
		}
		rest = rest[2:]
	}
	if c.Train == "" {
		if c.Train, err = p.onlyTrain(func(train string) string {
			return suggest.Command("train board " + written(args[0]) + " " + written(args[1]) + envW + " on " + train)
		}); err != nil {
			return Command{}, err
		}
	}
	return c, nil
}

func parseTrainLeave(p *parser, args []token) (Command, error) {
	// With every train removed from the config, the cars still aboard
	// one are taken off all the same.
	if err := p.needTrains(); err != nil && (len(args) == 0 || !trainGoneNext(p, args[1:])) {
		return Command{}, err
	}
	if len(args) == 0 {
		return Command{}, fmt.Errorf("train leave needs an app; known apps: %s", list(p.cat.Apps()))
	}
	if err := p.trainFirst(args[0], "train leave APP on %s"); err != nil {
		return Command{}, err
	}
	if isEmptyQuoted(args[0]) {
		// `train leave "" on daily`: a name left blank, not one looked
		// up and not found.
		_, err := p.app(args[0])
		return Command{}, err
	}
	// An app the config no longer has may still have a car aboard, which
	// only this takes off: it is passed on when quoted, or on a train the
	// config no longer has either. Else it is refused, as a typo would be.
	app := args[0].s
	var err error
	shaped := checkRole(app) == nil // app names are shaped as role names
	if !p.isApp(app) && !(args[0].quoted && shaped) && !trainGoneNext(p, args[1:]) {
		return Command{}, p.unknownApp(app)
	}
	c := Command{TrainAction: TrainLeave, App: app, AppGone: !p.isApp(app)}
	if c.AppGone && !shaped {
		return Command{}, p.unknownApp(app)
	}
	// An app named "on" is followed by the keyword in "train leave on on
	// daily": that is no app written twice.
	onTrain := len(args) == 3 && isWord(args[1], "on")
	if !p.isTrain(app) && !onTrain {
		// A train named as the app is offered with "on" below.
		if err := p.appTwiceAfter(args); err != nil {
			return Command{}, err
		}
	}
	switch rest := args[1:]; {
	case len(rest) == 0:
		if c.Train, err = p.onlyTrain(func(train string) string { return suggest.Command("train leave " + written(args[0]) + " on " + train) }); err != nil {
			return Command{}, err
		}
	case isWord(rest[0], "on") && len(rest) == 1:
		return Command{}, fmt.Errorf(`"on" needs a train; trains: %s`, list(p.cat.Trains()))
	case isWord(rest[0], "on") && isWord(rest[1], "on") && !p.isTrain(rest[1].s) && len(rest) <= 3:
		// "train leave web on on daily": a doubled keyword, not a train
		// named "on".
		if len(rest) == 2 {
			// The form with TRAIN to fill in is no command to send.
			return Command{}, fmt.Errorf("%w; trains: %s", writtenTwice("on", "train leave "+written(args[0])+" on TRAIN"), list(p.cat.Trains()))
		}
		return Command{}, writtenTwice("on", suggest.Command("train leave "+written(args[0])+" on "+written(rest[2])))
	case isWord(rest[0], "on"):
		// A train the config no longer has (removed, renamed) may still
		// have cars aboard, which only this takes off: quoted, its name
		// is passed on, and the service says whether it has any.
		// Unquoted, an unknown name is refused, as a typo would be.
		switch t := rest[1]; {
		case p.isTrain(t.s):
			c.Train = t.s
		case isEmptyQuoted(t):
			return Command{}, blankTrain(p)
		case t.quoted && checkRole(t.s) == nil: // train names are shaped as role names
			c.Train, c.TrainGone = t.s, true
		default:
			return Command{}, p.unknownTrain(t.s)
		}
		if len(rest) > 2 && !rest[2].quoted && rest[2].s == c.Train {
			// "train leave web on daily daily": not a stray word.
			return Command{}, writtenTwice(c.Train, suggest.Command(strings.TrimSpace("train leave "+written(args[0])+" on "+written(rest[1])+" "+writtenWords(rest[3:]))))
		}
		if second := secondNamed(rest[2:], c.Train, "on", p.isTrain); second != "" {
			// "train leave web on daily weekly": which one?
			return Command{}, twoNamed("trains", c.Train, second, "train leave")
		}
		if len(rest) > 2 {
			return Command{}, unexpected(rest[2])
		}
	case p.isTrain(rest[0].s):
		if second := secondNamed(rest[1:], rest[0].s, "on", p.isTrain); second != "" {
			// "train leave web daily weekly": adding the "on" would
			// leave two trains.
			return Command{}, twoNamed("trains", rest[0].s, second, "train leave")
		}
		fixed := strings.TrimSpace("train leave " + written(args[0]) + " on " + written(rest[0]) + " " + writtenWords(rest[1:]))
		return Command{}, &slipError{problem: "unexpected word " + echo(rest[0].s), fix: `write "on" before the train`, fixed: fixed}
	default:
		return Command{}, unexpected(rest[0])
	}
	return c, nil
}

// trainGoneNext tells whether rest, what follows the app of a train
// leave, names in quotes a train the catalog does not have.
func trainGoneNext(p *parser, rest []token) bool {
	return len(rest) == 2 && isWord(rest[0], "on") && rest[1].quoted && !p.isTrain(rest[1].s) && checkRole(rest[1].s) == nil
}

// trainGoneFirst tells whether t, the first word of a train cancel, names
// in quotes a train the catalog does not have: one word shaped as a train
// name, which a reason quoted whole seldom is.
func trainGoneFirst(p *parser, t token) bool {
	return t.quoted && !p.isTrain(t.s) && checkRole(t.s) == nil
}

// trainCancelExample shows a complete train cancel in replies.
const trainCancelExample = "train cancel daily db migration running"

func parseTrainCancel(p *parser, args []token) (Command, error) {
	// A train the config no longer has (removed, renamed) may still have
	// cars aboard, which this calls off as train leave takes them off one
	// by one: its name, quoted, comes first, then the reason. Else the
	// word would start the reason of the only train's cancel, a
	// departure nobody meant to call off. A quoted word alone is still
	// the reason: a chat platform's form sends the reason so.
	if len(args) > 1 && trainGoneFirst(p, args[0]) {
		return Command{TrainAction: TrainCancel, Train: args[0].s, TrainGone: true, Reason: joinWords(args[1:])}, nil
	}
	if err := p.needTrains(); err != nil {
		return Command{}, err
	}
	c := Command{TrainAction: TrainCancel}
	rest := args
	// The first word names the train when it is one; otherwise it starts
	// the reason. A close misspelling is refused instead, so that a typo
	// does not call off the wrong train, or the only one for a reason that
	// names another.
	if len(rest) > 0 && !rest[0].quoted {
		w := rest[0].s
		switch {
		case p.isTrain(w):
			c.Train = w
			rest = rest[1:]
			if len(rest) > 0 && !rest[0].quoted && rest[0].s == w {
				// "train cancel daily daily": a reason that repeats the
				// train it follows is almost surely the name written
				// twice, and a departure called off for a reason nobody
				// gave is announced to every channel of the train.
				quoted := "train cancel " + w + " " + writtenWords(append([]token{{s: w, quoted: true}}, rest[1:]...))
				if len(rest) == 1 {
					// The form with REASON to fill in is no command to
					// send: sent, it would call the departure off for the
					// reason "REASON".
					return Command{}, fmt.Errorf(`%q is written twice, and a train cancel must say why: %s, or, to give %q as the reason, quote it: %s`, w, "train cancel "+w+" REASON", w, suggest.Command(quoted))
				}
				return Command{}, fmt.Errorf(`%q is written twice; write it once: %s, or, to start the reason with %q, quote it: %s`, w, suggest.Command("train cancel "+w+" "+writtenWords(rest[1:])), w, suggest.Command(quoted))
			}
			if len(rest) > 0 && !rest[0].quoted && rest[0].s != w && p.isTrain(rest[0].s) {
				// "train cancel daily weekly …": taken for the reason,
				// the second train would still leave.
				return Command{}, fmt.Errorf(`one train cancel calls off one train, and %q is another: cancel each (train cancel %s reason…); to start the reason with %q, quote it: train cancel %s "…"`, rest[0].s, rest[0].s, rest[0].s, w)
			}
		case isWord(rest[0], "on") && len(rest) > 1 && p.isTrain(rest[1].s):
			return Command{}, fmt.Errorf(`name the train right after cancel, without "on": train cancel %s reason…`, rest[1].s)
		case utf8.RuneCountInString(w) >= 4:
			if _, ok := Suggest(w, p.cat.Trains()); ok {
				return Command{}, fmt.Errorf(`%v; to start the reason with that word, quote the reason: train cancel "…"`, p.unknownTrain(w))
			}
		}
	}
	c.Reason = joinWords(rest)
	if c.Reason == "" {
		return Command{}, errors.New("a train cancel must say why: add a reason, e.g. " + trainCancelExample)
	}
	if c.Train == "" {
		var err error
		if c.Train, err = p.onlyTrain(func(train string) string { return "train cancel " + train + " …" }); err != nil {
			return Command{}, err
		}
	}
	return c, nil
}

func parseTrainDepart(p *parser, args []token) (Command, error) {
	if err := p.needTrains(); err != nil {
		return Command{}, err
	}
	c := Command{TrainAction: TrainDepart}
	rest := args
	// The first word is the train, unless it is the "now" that ends the
	// command: alone, or when no train is called now.
	if len(rest) > 0 && !(isWord(rest[0], "now") && (len(rest) == 1 || !p.isTrain("now"))) {
		if isWord(rest[0], "on") && len(rest) > 1 && p.isTrain(rest[1].s) && !p.isTrain("on") {
			return Command{}, fmt.Errorf(`name the train right after depart, without "on": %s`, suggest.Command("train depart "+rest[1].s+" now"))
		}
		var err error
		if c.Train, err = p.train(rest[0]); err != nil {
			return Command{}, err
		}
		rest = rest[1:]
		if len(rest) > 0 && !rest[0].quoted && rest[0].s == c.Train && !(isWord(rest[0], "now") && len(rest) == 1) {
			// "train depart daily daily now": not a stray word; a train
			// called now, "train depart now now", is the train and the
			// word.
			return Command{}, writtenTwice(c.Train, suggest.Command(strings.TrimSpace("train depart "+written(args[0])+" "+writtenWords(rest[1:]))))
		}
		if len(rest) > 0 && !isWord(rest[0], "now") && p.isTrain(rest[0].s) {
			// "train depart daily weekly now": offered "train depart
			// daily now", the other train would stay.
			return Command{}, twoNamed("trains", c.Train, rest[0].s, "train depart")
		}
	}
	example := func(train string) string { return suggest.Command("train depart " + train + " now") }
	// offered is the command that sends the train off: marked as the
	// bot's suggestion when the train is known, with a placeholder,
	// which sends nothing, when it is not.
	offered := "train depart TRAIN now"
	if name := c.Train; name != "" {
		offered = example(name)
	} else if trains := p.cat.Trains(); len(trains) == 1 {
		offered = example(trains[0])
	}
	switch {
	case len(rest) == 0:
		return Command{}, fmt.Errorf(`train depart needs the word now, so that no train leaves by accident: %s`, offered)
	case !isWord(rest[0], "now"):
		return Command{}, fmt.Errorf(`unexpected word %s; to send the train off now: %s`, echo(rest[0].s), offered)
	case len(rest) == 2 && c.Train == "" && p.isTrain(rest[1].s):
		return Command{}, fmt.Errorf("the train goes before now: %s", example(rest[1].s))
	case len(rest) > 1 && isWord(rest[1], "now"):
		// "train depart daily now now": not a stray word.
		i := len(args) - len(rest) + 1
		return Command{}, writtenTwice("now", suggest.Command("train depart "+writtenWords(slices.Delete(slices.Clone(args), i, i+1))))
	case len(rest) == 2 && c.Train != "" && rest[1].s != c.Train && p.isTrain(rest[1].s):
		// "train depart daily now weekly": which one?
		return Command{}, twoNamed("trains", c.Train, rest[1].s, "train depart")
	case len(rest) > 1:
		return Command{}, unexpected(rest[1])
	}
	if c.Train == "" {
		var err error
		if c.Train, err = p.onlyTrain(example); err != nil {
			return Command{}, err
		}
	}
	return c, nil
}

// needTrains refuses the actions of train when no train is configured.
func (p *parser) needTrains() error {
	if len(p.cat.Trains()) == 0 {
		return errors.New("no trains are configured")
	}
	return nil
}

func (p *parser) isTrain(name string) bool { return slices.Contains(p.cat.Trains(), name) }

// train returns t as a known train, or an error naming the likely one.
func (p *parser) train(t token) (string, error) {
	if p.isTrain(t.s) {
		return t.s, nil
	}
	if isEmptyQuoted(t) {
		return "", blankTrain(p)
	}
	return "", p.unknownTrain(t.s)
}

// blankTrain refuses a train left blank, `on ""`, as an app or env left
// blank is refused: no name was looked up and not found.
func blankTrain(p *parser) error {
	return fmt.Errorf("an empty quoted word stands where the train goes: name the train; known trains: %s", list(p.cat.Trains()))
}

func (p *parser) unknownTrain(name string) error {
	trains := p.cat.Trains()
	msg := "unknown train " + echo(name)
	if s, ok := Suggest(name, trains); ok {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else {
		msg += ";"
	}
	return errors.New(msg + " known trains: " + list(trains))
}

// whichTrain starts the question onlyTrain asks: a command that draws it
// is written right, and names no train where more than one would do.
const whichTrain = "which train?"

// onlyTrain returns the train of an action that names none: the only
// train, or an error asking which one, with example(train) showing where
// the name goes.
func (p *parser) onlyTrain(example func(train string) string) (string, error) {
	trains := p.cat.Trains()
	if len(trains) == 1 {
		return trains[0], nil
	}
	return "", fmt.Errorf("%s there are %d; name one, e.g. %s (trains: %s)", whichTrain, len(trains), example(trains[0]), list(trains))
}

// trainFirst explains board and leave given the train where the app goes;
// usage has a %s for the train.
func (p *parser) trainFirst(t token, usage string) error {
	// Quoted, it is an app: one the config no longer has may be named as
	// a train and still have a car aboard.
	if t.quoted || p.isApp(t.s) || !p.isTrain(t.s) {
		return nil
	}
	return fmt.Errorf("%q is a train; name it last: "+usage, t.s, t.s)
}

func parseHelp(_ *parser, args []token) (Command, error) {
	var c Command
	if len(args) == 2 {
		// The overview lists "lock deploys …" and "train board …": a
		// topic written with the command's second word is that command.
		if s := lookup(Verb(strings.ToLower(strings.TrimPrefix(args[0].s, "/")))); s != nil && s.secondWord(args[1].s) {
			args = args[:1]
		}
	}
	if len(args) == 2 && !args[1].quoted && strings.EqualFold(strings.TrimPrefix(args[1].s, "/"), strings.TrimPrefix(args[0].s, "/")) && helpSpec(strings.ToLower(strings.TrimPrefix(args[0].s, "/"))) != nil {
		// "help lock lock": the topic written twice.
		return c, writtenTwice(args[1].s, suggest.Command("help "+written(args[0])))
	}
	if len(args) > 1 && isWord(args[0], "help") && helpSpec(strings.ToLower(strings.TrimPrefix(args[1].s, "/"))) != nil {
		// "help help lock": help written twice, where "help help" alone
		// is help's own topic.
		return c, writtenTwice(args[0].s, suggest.Command("help "+writtenWords(args[1:])))
	}
	if len(args) > 1 {
		return c, unexpected(args[1])
	}
	if len(args) == 1 {
		topic := strings.ToLower(strings.TrimPrefix(args[0].s, "/"))
		s := helpSpec(topic)
		if s == nil {
			msg := "no help for " + echo(args[0].s)
			if s, ok := Suggest(topic, verbNames()); ok {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				msg += ";"
			}
			return c, fmt.Errorf("%s commands: %s", msg, strings.Join(verbNames(), ", "))
		}
		c.Topic = string(s.verb)
	}
	return c, nil
}

// parseNoArgs parses the commands that take no arguments.
func parseNoArgs(_ *parser, args []token) (Command, error) {
	if len(args) > 0 {
		return Command{}, unexpected(args[0])
	}
	return Command{}, nil
}

func parseAudit(p *parser, args []token) (Command, error) {
	var c Command
	var err error
	given := args
	if c.N, args, err = takeN(args, DefaultAudit, MaxAudit); err != nil {
		return c, err
	}
	if n := len(args); n > 0 && n < len(given) && looksNumeric(args[n-1].s) && !p.isApp(args[n-1].s) {
		// "audit 5 5", "audit web 5 7": a second N, not an app named
		// "5" or a stray word.
		fixed := "audit " + writtenWords(slices.Delete(slices.Clone(given), n-1, n))
		return c, nTwice(args[n-1], given[n], fixed)
	}
	if len(args) > 1 {
		// Once N is taken: with an app named "5", "audit 5 5" is its
		// five latest entries.
		if err := p.appTwiceAfter(given); err != nil {
			return c, err
		}
	}
	switch {
	case len(args) == 0:
		return c, nil
	case len(args) == 2 && p.isApp(args[0].s) && p.isEnv(args[0].s, args[1].s):
		// N, when given, is kept: the command offered is the one meant.
		fixed := "audit " + written(args[0])
		if len(args) < len(given) {
			fixed += " " + given[len(given)-1].s
		}
		return c, fmt.Errorf("audit takes no env; %s shows every env of %s", suggest.Command(fixed), args[0].s)
	case len(args) == 2 && looksNumeric(args[0].s) && p.isApp(args[1].s):
		if v, err := strconv.Atoi(args[0].s); err == nil && v >= 1 && v <= MaxAudit {
			return c, fmt.Errorf("N comes after the app: %s", suggest.Command("audit "+written(args[1])+" "+args[0].s))
		}
		// Moved after the app it would be refused too: both are named.
		return c, fmt.Errorf("N must be a whole number from 1 to %d, not %s, and comes after the app: audit %s N", MaxAudit, echo(args[0].s), args[1].s)
	case len(args) > 2 && looksNumeric(args[1].s) && p.isApp(args[0].s):
		// "audit web 5 extra": N is in its place.
		return c, unexpected(args[2])
	case len(args) > 1:
		return c, unexpected(args[1])
	}
	c.App, err = p.app(args[0])
	return c, err
}

// grantExample shows a complete grant in replies.
const grantExample = "grant @ana deployer accounting production for 2h"

func parseGrant(p *parser, args []token) (Command, error) {
	if err := p.forTwice(args, parseGrant); err != nil {
		return Command{}, err
	}
	c, rest, err := p.userRole(args)
	if err != nil {
		return Command{}, err
	}
	if c.For, rest, err = p.takeFor(rest, true, "to grant until revoked", grantExample); err != nil {
		return Command{}, err
	}
	if err := p.grantTarget(&c, rest); err != nil {
		return Command{}, err
	}
	return c, nil
}

func parseRevoke(p *parser, args []token) (Command, error) {
	c, rest, err := p.userRole(args)
	if err != nil {
		return Command{}, err
	}
	words := rest
	if p.forIsApp(rest) {
		words = rest[1:]
	}
	if slices.ContainsFunc(words, func(t token) bool { return isWord(t, "for") }) {
		return Command{}, errors.New(`revoke takes no duration: it takes the role back now, however long the grant had left`)
	}
	if err := p.grantTarget(&c, rest); err != nil {
		return Command{}, err
	}
	return c, nil
}

// userRole takes USER and ROLE, the first two arguments of grant and
// revoke, into a Command, and returns the arguments after them.
func (p *parser) userRole(args []token) (Command, []token, error) {
	var c Command
	verb := p.spec.verb
	if len(args) == 0 {
		return c, nil, fmt.Errorf("%s needs a user and a role, e.g. %s @ana deployer", verb, verb)
	}
	user, isID, err := parseUser(args[0])
	if err != nil {
		// "grant deployer @ana": the role came first.
		if len(args) > 1 && checkRole(args[0].s) == nil {
			if u, id, uerr := parseUser(args[1]); uerr == nil {
				// Every word after the two is kept: offered without
				// them, "grant deployer @ana web for 2h" would grant
				// every app until revoked.
				fixed := strings.TrimSpace(fmt.Sprintf("%s %s %s %s", verb, userText(u, id), written(args[0]), writtenWords(args[2:])))
				return c, nil, &slipError{problem: "the role is written before the user", fix: "the user comes first", fixed: fixed}
			}
		}
		if w := args[0].s; !args[0].quoted && p.isUser(w) {
			// "grant ana deployer web": offered whole, not as "@ana"
			// alone, so that the rest need not be typed again. Only a
			// user of the config is: "grant deployer ana" has a bare
			// word first too, and offered as "grant @deployer ana" it
			// would grant a role "ana".
			fixed := strings.TrimSpace(fmt.Sprintf("%s @%s %s", verb, w, writtenWords(args[1:])))
			return c, nil, &slipError{problem: fmt.Sprintf("the user %q is written without an @", w), fix: "write it with one, or mention them", fixed: fixed}
		}
		return c, nil, err
	}
	if len(args) == 1 {
		return c, nil, fmt.Errorf("%s needs a role after the user, e.g. %s %s deployer", verb, verb, userText(user, isID))
	}
	if !args[1].quoted && args[1].s == args[0].s {
		// "grant @ana @ana deployer": the user written twice, not a
		// role that starts with '@'.
		return c, nil, writtenTwice(args[1].s, suggest.Command(string(verb)+" "+writtenWords(slices.Delete(slices.Clone(args), 1, 2))))
	}
	if !isID && len(args) > 2 && !args[1].quoted && args[1].s == user && !args[2].quoted && !isKeyword(strings.ToLower(args[2].s)) && !p.isApp(args[2].s) && !p.isEnvOfAnyApp(args[2].s) && checkRole(args[2].s) == nil {
		// "grant @alice alice deployer": the user named again without
		// the @, not a role "alice" on an app "deployer", refused as an
		// unknown app. A role named as the user is still one where an
		// app, an env, a "for" or nothing follows it ("grant @admin
		// admin web").
		fixed := string(verb) + " " + writtenWords(slices.Delete(slices.Clone(args), 1, 2))
		return c, nil, &slipError{problem: fmt.Sprintf("the user %s is named twice, as %s and as %s", echo(user), args[0].s, args[1].s), fix: "name them once", fixed: fixed}
	}
	if isWord(args[1], "for") && len(args) == 3 && !args[2].quoted && startsWithDigit(args[2].s) {
		// "grant @ana for 2h": the role left out, not a role named
		// "for", whose duration would be offered as "for for 2h".
		if verb == VerbRevoke {
			return c, nil, fmt.Errorf("%s needs a role after the user, e.g. %s %s deployer", verb, verb, userText(user, isID))
		}
		return c, nil, fmt.Errorf("%s needs a role after the user, e.g. %s %s deployer for %s", verb, verb, userText(user, isID), args[2].s)
	}
	if err := checkRole(args[1].s); err != nil {
		return c, nil, err
	}
	if len(args) > 2 && !args[2].quoted && args[2].s == args[1].s && !p.isApp(args[2].s) {
		// "grant @ana deployer deployer": looked up as an app, the
		// second would be answered as an unknown app.
		return c, nil, writtenTwice(args[1].s, suggest.Command(strings.TrimSpace(fmt.Sprintf("%s %s %s %s", verb, userText(user, isID), args[1].s, writtenWords(args[3:])))))
	}
	c.User, c.UserIsID, c.Role = user, isID, args[1].s
	return c, args[2:], nil
}

// isUser reports whether name is a user of the catalog; false when the
// catalog does not name its users.
func (p *parser) isUser(name string) bool {
	uc, ok := p.cat.(UserCatalog)
	return ok && slices.Contains(uc.Users(), name)
}

// grantTarget takes the optional APP and ENV of grant and revoke, the
// arguments after the role, into c. No env is filled in: an empty one
// means every env.
func (p *parser) grantTarget(c *Command, args []token) error {
	user := userText(c.User, c.UserIsID)
	if len(args) > 0 && !p.isApp(args[0].s) {
		if p.isApp(c.Role) && p.isEnv(c.Role, args[0].s) {
			// "grant @ana accounting production": the role is missing.
			return fmt.Errorf("%q is an app and %q one of its envs: the role is missing: %s %s ROLE %s %s", c.Role, args[0].s, p.spec.verb, user, c.Role, args[0].s)
		}
		if p.isEnvOfAnyApp(args[0].s) {
			return fmt.Errorf("%q is an env; name the app first: %s %s %s APP %s", args[0].s, p.spec.verb, user, c.Role, args[0].s)
		}
	}
	if err := p.bareDuration(c, args); err != nil {
		return err
	}
	// without writes the command with the word at i left out: the
	// command written right when that word is one written twice.
	without := func(i int) string {
		fixed := fmt.Sprintf("%s %s %s %s", p.spec.verb, user, c.Role, writtenWords(slices.Delete(slices.Clone(args), i, i+1)))
		if c.For > 0 {
			fixed += " for " + formatDuration(c.For)
		}
		return suggest.Command(fixed)
	}
	if len(args) > 1 && p.isApp(args[0].s) && p.appTwice(args[0].s, args[1]) {
		// "grant @ana deployer web web prod": the app written twice,
		// not an env named "web" followed by a stray word.
		return writtenTwice(args[0].s, without(1))
	}
	if len(args) > 2 && p.isApp(args[0].s) && p.isEnv(args[0].s, args[1].s) && !args[2].quoted && args[2].s == args[1].s {
		// "grant @ana deployer web prod prod".
		return writtenTwice(args[1].s, without(2))
	}
	if len(args) > 2 && p.isApp(args[0].s) && p.isEnv(args[0].s, args[1].s) {
		if err := p.envsTwo(args[0].s, args[1].s, args[2:]); err != nil {
			return err
		}
	}
	if len(args) > 2 {
		return unexpected(args[2])
	}
	app, env, _, err := p.appEnv(args, false)
	if err != nil {
		if p.isApp(c.Role) {
			return fmt.Errorf("%w; if %q is meant as the app, the role is missing: %s %s ROLE %s …", err, c.Role, p.spec.verb, user, c.Role)
		}
		return err
	}
	c.App, c.Env = app, env
	return nil
}

// bareDuration refuses a duration written last without "for", in the
// place of the app, the env or after them ("grant @ana deployer web prod
// 2h"), where it was refused as an unknown name or a stray word: grant
// asks for the "for", revoke says it takes no duration. A word that names
// an app or env in its place is that name.
func (p *parser) bareDuration(c *Command, args []token) error {
	if !p.slipLast(args, durationWritten) {
		return nil
	}
	n := len(args)
	last := args[n-1]
	target := userText(c.User, c.UserIsID) + " " + c.Role
	if words := writtenWords(args[:n-1]); words != "" {
		target += " " + words
	}
	if p.spec.verb == VerbRevoke {
		return fmt.Errorf(`revoke takes no duration (%s): it takes the role back now, however long the grant had left: %s`, echo(last.s), suggest.Command("revoke "+target))
	}
	fixed := fmt.Sprintf("%s %s for %s", p.spec.verb, target, last.s)
	if validDuration(last.s) {
		// Out of range, it is shown, not offered: sent, it is refused.
		fixed = suggest.Command(fixed)
	}
	return fmt.Errorf(`write "for" before the duration: %s`, fixed)
}

// slipLast reports whether args, an optional APP and ENV with one word
// more, end in a word slip reports as a slip, such as a duration (one too
// long or zero included) written without "for": refused as an unknown
// name or a stray word otherwise. A word that names an app or env in its
// place is that name, and when the words before it name no app or env,
// that is the error to give.
func (p *parser) slipLast(args []token, slip func(token) bool) bool {
	n := len(args)
	if n == 0 || n > 3 {
		return false
	}
	last := args[n-1]
	if !slip(last) || n == 1 && p.isApp(last.s) || n == 2 && p.isEnv(args[0].s, last.s) {
		return false
	}
	_, _, _, err := p.appEnv(args[:n-1], false)
	return err == nil
}

// takeFor takes "for DURATION" from the end of args, returning 0 if there
// is none. A "for" elsewhere is an error: the duration goes last. With
// forMayBeApp and an app named "for", a "for" first in args, in the app's
// place, names that app, unless a word starting with a digit follows it
// and nothing else ("grant @ana deployer for 2h" grants every app for
// 2h); any other "for" is the keyword. omitFor and example go into the
// errors (see parseDuration).
func (p *parser) takeFor(args []token, forMayBeApp bool, omitFor, example string) (time.Duration, []token, error) {
	if forMayBeApp && p.forIsApp(args) {
		d, rest, err := p.takeFor(args[1:], false, omitFor, example)
		if err != nil {
			return 0, nil, err
		}
		return d, append([]token{args[0]}, rest...), nil
	}
	var d time.Duration
	if n := len(args); n >= 2 && isWord(args[n-2], "for") {
		if args[n-1].quoted && args[n-1].s == "" {
			// `for ""`: a duration left blank, not one of zero.
			return 0, nil, fmt.Errorf(`"for" needs a duration, not an empty quoted word: write it like 30m, 2h, 1d, 1h30m or 1w, e.g. %s, or leave "for" out %s`, example, omitFor)
		}
		var err error
		if d, err = parseDuration(args[n-1].s, omitFor); err != nil {
			return 0, nil, err
		}
		args = args[:n-2]
	}
	if i := slices.IndexFunc(args, func(t token) bool { return isWord(t, "for") }); i >= 0 {
		if d > 0 {
			return 0, nil, fmt.Errorf(`"for" is written twice; write "for DURATION" once, last, e.g. %s`, example)
		}
		if i == len(args)-1 {
			return 0, nil, fmt.Errorf(`"for" needs a duration, e.g. %s`, example)
		}
		return 0, nil, fmt.Errorf(`"for DURATION" goes last, e.g. %s`, example)
	}
	return d, args, nil
}

// forTwice refuses args, the arguments of a command that ends in "for
// DURATION", when the duration is written twice ("for 2h 2h", or "for 2h
// for 2h" named as its "for" written twice) or its "for" is ("for for
// 2h"): the second
// was answered as a word after "for DURATION", which goes last, with the
// command that has it last as an example, not as a command to send. The
// reply offers args without the second writing when parse, the command's
// parse function, takes them; else it is parse's error. Nil when the
// duration is not written twice.
func (p *parser) forTwice(args []token, parse func(*parser, []token) (Command, error)) error {
	n := len(args)
	// sameDuration reports whether the words at i and j are one
	// duration written twice.
	sameDuration := func(i, j int) bool {
		return !args[i].quoted && !args[j].quoted && strings.EqualFold(args[i].s, args[j].s) && validDuration(args[i].s)
	}
	var word string
	switch {
	case n >= 3 && isWord(args[n-3], "for") && sameDuration(n-2, n-1):
		word, args = args[n-1].s, args[:n-1]
	case n >= 4 && isWord(args[n-4], "for") && isWord(args[n-2], "for") && sameDuration(n-3, n-1):
		// "here for 2h for 2h": "for DURATION" written twice whole,
		// answered as a "for" not last, with an example.
		word, args = args[n-2].s, args[:n-2]
	case n >= 3 && isWord(args[n-3], "for") && isWord(args[n-2], "for") && !p.isApp("for") && !args[n-1].quoted && validDuration(args[n-1].s):
		// "here for for 2h": with no app named "for", which grant
		// would read there, not a "for" left without a duration.
		word, args = args[n-2].s, slices.Delete(slices.Clone(args), n-2, n-1)
	case n >= 3 && isWord(args[n-3], "for") && writtenAsDuration(args[n-2]) && writtenAsDuration(args[n-1]):
		// "here for 100d 100d", "grant … for 2h 3h": two durations
		// after one "for", which are last. Read as a "for" not last,
		// they were answered that "for DURATION" goes last.
		return p.durationsTwo(args[n-2], args[n-1], args[:n-2], parse)
	default:
		return nil
	}
	if _, err := parse(p, args); err != nil {
		return err
	}
	return writtenTwice(word, suggest.Command(p.spec.name()+" "+writtenWords(args)))
}

// durationsTwo refuses first and second, two durations after one "for"
// that ends head, of which at most one is in range or both differ. The
// command offered has the one in range, when parse takes it; with none
// in range, the reply gives the range and offers no command, which would
// be refused.
func (p *parser) durationsTwo(first, second token, head []token, parse func(*parser, []token) (Command, error)) error {
	span := fmt.Sprintf("from 1m to %dd", MaxLockFor/(24*time.Hour))
	var pick token
	switch {
	case validDuration(first.s):
		pick = first
	case validDuration(second.s):
		pick = second
	case strings.EqualFold(first.s, second.s):
		return fmt.Errorf(`%q is written twice, and %s takes a duration %s: write one such, once`, first.s, p.spec.name(), span)
	default:
		return fmt.Errorf(`"for" takes one duration, and %s and %s are two, neither of which %s takes: write one %s`, echo(first.s), echo(second.s), p.spec.name(), span)
	}
	fixed := append(slices.Clone(head), pick)
	if _, err := parse(p, fixed); err != nil {
		return err
	}
	return fmt.Errorf(`"for" takes one duration, and %s and %s are two: write one, e.g. %s`, echo(first.s), echo(second.s), suggest.Command(p.spec.name()+" "+writtenWords(fixed)))
}

// validDuration reports whether s is a duration parseDuration takes.
func validDuration(s string) bool {
	_, err := parseDuration(s, "")
	return err == nil
}

// forIsApp reports whether the first of args, the words in the app's place
// of grant or revoke, names an app called "for" rather than starting "for
// DURATION".
func (p *parser) forIsApp(args []token) bool {
	if len(args) == 0 || args[0].quoted || args[0].s != "for" || !p.isApp("for") {
		return false
	}
	return len(args) != 2 || args[1].quoted || !startsWithDigit(args[1].s)
}

func parseHere(p *parser, args []token) (Command, error) {
	var c Command
	if err := p.forTwice(args, parseHere); err != nil {
		return c, err
	}
	omitFor := "for the default of " + formatDuration(DefaultHereFor)
	d, rest, err := p.takeFor(args, false, omitFor, "here for 2h")
	if err != nil {
		return c, err
	}
	if len(rest) > 0 {
		// "here 2h": a valid duration without "for".
		if _, derr := parseDuration(rest[0].s, omitFor); derr == nil && len(rest) == 1 {
			return c, fmt.Errorf(`write "for" before the duration: %s`, suggest.Command("here for "+rest[0].s))
		}
		return c, unexpected(rest[0])
	}
	c.For = d
	return c, nil
}

// userExample is a user as replies show one.
const userExample = "@ana"

// userRule says what a user name is, for replies.
const userRule = "a user name is 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit, e.g. ana"

// broadcasts are the names chat platforms use to notify a whole channel;
// none is a user.
var broadcasts = []string{"channel", "everyone", "here"}

// parseUser reads the USER of grant and revoke: "@name", or the mention
// token of a platform, <@ID>, <@!ID> or <@ID|label> (the label is dropped:
// the adapter maps the id). It returns the name or id, and whether it is an
// id.
func parseUser(t token) (user string, isID bool, err error) {
	w := t.s
	notUser := func() error {
		return fmt.Errorf("%s is not a user; write @name or mention one user, e.g. %s", echo(w), userExample)
	}
	switch {
	case strings.HasPrefix(w, "<@&"):
		return "", false, fmt.Errorf("%s mentions a chat role, not a user; name one user, e.g. %s", echo(w), userExample)
	case strings.HasPrefix(w, "<@"):
		if mentionLen(w) != len(w) {
			return "", false, fmt.Errorf("%s is not a complete mention; mention the user again, or write @name, e.g. %s", echo(w), userExample)
		}
		id := strings.TrimPrefix(w[2:], "!")
		id = id[:strings.IndexAny(id, "|>")] // mentionLen found one
		if len(id) > maxUserLen {
			return "", false, fmt.Errorf("the id of mention %s is %d characters long; the limit is %d", echo(w), len(id), maxUserLen)
		}
		return id, true, nil
	case strings.HasPrefix(w, "<"):
		return "", false, notUser()
	case strings.HasPrefix(w, "@"):
		name := w[1:]
		if name == "" {
			return "", false, fmt.Errorf(`"@" needs a user name right after it, e.g. %s`, userExample)
		}
		if slices.Contains(broadcasts, strings.ToLower(name)) {
			return "", false, fmt.Errorf("%s notifies everyone, it is not a user; name one user, e.g. %s", echo(w), userExample)
		}
		if err := checkUserName(name); err != nil {
			return "", false, err
		}
		return name, false, nil
	}
	if checkUserName(w) == nil && !slices.Contains(broadcasts, strings.ToLower(w)) {
		return "", false, fmt.Errorf("write the user with an @: @%s, or mention them", w)
	}
	return "", false, notUser()
}

// checkUserName reports whether name is a valid user name (see userRule).
func checkUserName(name string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format+"; "+userRule, a...)
	}
	for i, r := range name {
		switch {
		case r < utf8.RuneSelf && (isASCIIAlnum(byte(r)) || i > 0 && (r == '.' || r == '_' || r == '-')):
		case i == 0 && (r == '.' || r == '_' || r == '-'):
			return bad("user name %s starts with %q", echo(name), r)
		default:
			return bad("user name %s %s", echo(name), badRune(r))
		}
	}
	switch {
	case name == "":
		return bad("the user name is empty")
	case strings.Contains(name, ".."):
		return bad(`user name %s contains ".."`, echo(name))
	case len(name) > maxUserLen:
		return bad("user name %s is %d characters long; the limit is %d", echo(name), len(name), maxUserLen)
	}
	return nil
}

// roleRule says what a role name is, for replies.
const roleRule = "a role is a lowercase letter, then up to 31 lowercase letters, digits, '_' or '-', e.g. deployer"

// checkRole reports whether role has the shape of a role name (see
// roleRule). Whether the configuration defines it is not checked here.
func checkRole(role string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format+"; "+roleRule, a...)
	}
	if lower := strings.ToLower(role); lower != role && isASCII(role) && checkRole(lower) == nil {
		return fmt.Errorf("role %s has capitals; roles are lower case: %s", echo(role), lower)
	}
	for i, r := range role {
		switch {
		case 'a' <= r && r <= 'z' || i > 0 && ('0' <= r && r <= '9' || r == '_' || r == '-'):
		case i == 0 && r < utf8.RuneSelf && r != ' ':
			return bad("role %s starts with %q", echo(role), r)
		default:
			return bad("role %s %s", echo(role), badRune(r))
		}
	}
	switch {
	case role == "":
		return bad("the role is empty")
	case len(role) > maxRoleLen:
		return bad("role %s is %d characters long; the limit is %d", echo(role), len(role), maxRoleLen)
	}
	return nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// badRune says why r does not belong in a name, for replies.
func badRune(r rune) string {
	switch {
	case r == ' ':
		return "contains a space"
	case r >= utf8.RuneSelf:
		return fmt.Sprintf("contains the non-ASCII character %q (%U), maybe a look-alike of an ASCII one", r, r)
	}
	return fmt.Sprintf("contains %q, which is not allowed", r)
}

// userText writes a user of grant or revoke the way parseUser reads it.
func userText(user string, isID bool) string {
	if isID {
		return "<@" + user + ">"
	}
	return "@" + user
}

// verbNames returns the verbs as strings, in help order.
func verbNames() []string { return slices.Clone(verbOrder) }

func startsWithDigit(s string) bool { return s != "" && '0' <= s[0] && s[0] <= '9' }

// durationUnits are the units of a lock duration.
var durationUnits = map[byte]time.Duration{
	'm': time.Minute,
	'h': time.Hour,
	'd': 24 * time.Hour,
	'w': 7 * 24 * time.Hour,
}

// durationSyntaxError is parseDuration's error for a word that is not
// written as a duration at all, as opposed to one that is zero or too long.
type durationSyntaxError struct{ error }

// parseDuration parses the DURATION of "for DURATION": one or more NUMBER
// UNIT pairs with the units m, h, d and w, e.g. 30m, 2h, 1d, 1h30m, 1w. It
// must be positive and at most MaxLockFor. omitFor completes the advice
// `omit "for" …` in the errors, e.g. "to lock until unlock".
func parseDuration(s, omitFor string) (time.Duration, error) {
	bad := durationSyntaxError{fmt.Errorf("invalid duration %s; write it like 30m, 2h, 1d, 1h30m or 1w", echo(s))}
	ls := strings.ToLower(s)
	var total time.Duration
	for i := 0; i < len(ls); {
		j := i
		for j < len(ls) && '0' <= ls[j] && ls[j] <= '9' {
			j++
		}
		if j == i || j-i > 6 || j == len(ls) {
			return 0, bad
		}
		unit, ok := durationUnits[ls[j]]
		if !ok {
			return 0, bad
		}
		n, _ := strconv.Atoi(ls[i:j]) // at most 6 digits: cannot fail
		if time.Duration(n) > MaxLockFor/unit {
			total = MaxLockFor + 1 // and n*unit might overflow
		} else {
			total += time.Duration(n) * unit
		}
		if total > MaxLockFor {
			return 0, durationTooLongError{s: s, omitFor: omitFor}
		}
		i = j + 1
	}
	if total == 0 {
		return 0, fmt.Errorf("duration %s is zero; omit \"for\" %s, or give e.g. 2h", echo(s), omitFor)
	}
	return total, nil
}

// durationTooLongError is parseDuration's error for a duration past
// MaxLockFor.
type durationTooLongError struct{ s, omitFor string }

func (e durationTooLongError) Error() string { return e.with("") }

// with writes the error with hint, another way out, inside its one
// bracket: two brackets in a row read as two afterthoughts.
func (e durationTooLongError) with(hint string) string {
	if hint != "" {
		hint = ", or, " + hint
	}
	return fmt.Sprintf("duration %s is too long; the limit is %dd (omit \"for\" %s%s)", echo(e.s), MaxLockFor/(24*time.Hour), e.omitFor, hint)
}

// durationRefused adds hint, how to keep "for" in the reason, to err,
// parseDuration's refusal of a lock's duration.
func durationRefused(err error, hint string) error {
	var long durationTooLongError
	if errors.As(err, &long) {
		return errors.New(long.with(hint))
	}
	return fmt.Errorf("%w (%s)", err, hint)
}

// formatDuration writes d the way parseDuration reads it, e.g. "1w2d3h30m".
// Parts smaller than a minute are dropped.
func formatDuration(d time.Duration) string {
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name byte
	}{{7 * 24 * time.Hour, 'w'}, {24 * time.Hour, 'd'}, {time.Hour, 'h'}, {time.Minute, 'm'}} {
		if n := d / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteByte(u.name)
			d -= n * u.unit
		}
	}
	if b.Len() == 0 {
		return "0m"
	}
	return b.String()
}

// canonical writes c in the form Parse reads back to the same Command.
func (c Command) canonical(cat Catalog) string {
	parts := []string{string(c.Verb)}
	if f := byForm[c.Verb]; f != nil {
		parts = []string{string(f.parent.verb), string(c.Verb)}
	}
	add := func(ss ...string) {
		for _, s := range ss {
			if s != "" {
				parts = append(parts, s)
			}
		}
	}
	switch c.Verb {
	case VerbDeploy:
		app := c.App
		if lookup(VerbDeploy).formNamed(app) != nil && isDeployID(c.Build) {
			// Unquoted, "deploy confirm 20261123-124158-b25a0a" would
			// confirm rather than deploy the app confirm (see parser.form).
			app = `"` + app + `"`
		}
		add(app, quoteName(quoteKeyword(c.Build, "to"), cat.Envs(c.App)), "to", c.Env)
		if c.DryRun {
			add("--dry-run")
		}
		if c.Force != "" {
			q, _ := quoteReason(c.Force)
			add("--force", q)
		}
	case VerbRollback:
		if c.DeployID != "" {
			add(c.DeployID)
			break
		}
		add(c.App, c.Env)
		if c.Build != "" {
			add("to", quoteKeyword(c.Build, "to", "from"))
		}
		if c.From != "" {
			add("from", quoteKeyword(c.From, "to", "from"))
		}
	case VerbLock:
		add("deploys", c.App, c.Env)
		if c.For > 0 {
			add("for", formatDuration(c.For))
		}
		q, _ := quoteReason(c.Reason)
		add(q)
	case VerbUnlock:
		add("deploys", c.App, c.Env)
	case VerbStatus, VerbCancel:
		add(c.App, c.Env)
	case VerbHistory:
		add(c.App, c.Env, strconv.Itoa(c.N))
	case VerbStats:
		add(c.App, c.Env, formatWindow(c.For))
	case VerbTrain:
		switch c.TrainAction {
		case TrainBoard:
			add(TrainBoard, c.App, quoteName(quoteName(quoteKeyword(c.Build, "to", "on"), cat.Envs(c.App)), cat.Trains()))
			if c.Env != "" {
				add("to", c.Env)
			}
			add("on", c.Train)
		case TrainLeave:
			train := c.Train
			if c.TrainGone {
				train = `"` + train + `"`
			}
			app := c.App
			if c.AppGone {
				app = `"` + app + `"`
			}
			add(TrainLeave, app, "on", train)
		case TrainCancel:
			q, _ := quoteReason(c.Reason)
			train := c.Train
			if c.TrainGone {
				train = `"` + train + `"`
			}
			add(TrainCancel, train, q)
		case TrainDepart:
			add(TrainDepart, c.Train, "now")
		}
	case VerbAudit:
		add(c.App, strconv.Itoa(c.N))
	case VerbGrant, VerbRevoke:
		add(userText(c.User, c.UserIsID), c.Role, c.App, c.Env)
		if c.For > 0 {
			add("for", formatDuration(c.For))
		}
	case VerbHere:
		if c.For > 0 {
			add("for", formatDuration(c.For))
		}
	case VerbHelp:
		add(c.Topic)
	case VerbConfirm, VerbAbort:
		add(c.DeployID)
	}
	return strings.Join(parts, " ")
}

// quoteKeyword quotes a build that would read back as one of the keywords
// that may follow it: unquoted, "deploy web to to production" lacks a
// build. A build holds no quote, so the quoting is exact.
func quoteKeyword(build string, keywords ...string) string {
	for _, k := range keywords {
		if strings.EqualFold(build, k) {
			return `"` + build + `"`
		}
	}
	return build
}

// quoteName quotes a build that would read back as one of names, an env
// or a train the parser refuses in the build's place unquoted. A build
// quoted already is left so.
func quoteName(build string, names []string) string {
	if slices.Contains(names, build) {
		return `"` + build + `"`
	}
	return build
}

// quoteReason quotes s so that tokenize reads it back unchanged (see
// Quote). Where no quote pair will do, it falls back to strconv.Quote,
// which is unambiguous in a log but not read back exactly (exact is
// false).
func quoteReason(s string) (quoted string, exact bool) {
	if q, ok := Quote(s); ok {
		return q, true
	}
	return strconv.Quote(s), false
}

// quoteOpeners are the opening quotes Quote tries, in order.
var quoteOpeners = []rune{'"', '\'', '\u201c', '\u00ab'}

// Quote quotes free text as one word that the parser reads back as s: with
// the first opening quote none of whose closing quotes (see quoteClosers)
// s has before a space or a tab, where the parser would end the word. It
// reports false when no quote will do, and when s holds a tab, which the
// parser reads back as a space.
func Quote(s string) (string, bool) {
	// Parse reads Unicode spaces as spaces: so must the check of where
	// a quote would close.
	s = plainSpaces(s)
	if strings.Contains(s, "\t") {
		return "", false
	}
	for _, open := range quoteOpeners {
		closers := quoteClosers[open]
		if !closesBeforeSep(s, closers) {
			closer, _ := utf8.DecodeRuneInString(closers)
			return string(open) + s + string(closer), true
		}
	}
	return "", false
}

// plainSpaces turns no-break and other Unicode spaces into spaces: they
// slip in from keyboards and copied text, and separate words like one.
func plainSpaces(s string) string {
	return strings.Map(func(r rune) rune {
		if r != ' ' && unicode.Is(unicode.Zs, r) {
			return ' '
		}
		return r
	}, s)
}

// closesBeforeSep reports whether s has one of closers followed by a
// separator: quoted, s would end there.
func closesBeforeSep(s, closers string) bool {
	for i, r := range s {
		if size := utf8.RuneLen(r); strings.ContainsRune(closers, r) && i+size < len(s) && isSep(s[i+size]) {
			return true
		}
	}
	return false
}

// checkBuild is CheckBuild for the word t written in a build's place.
func checkBuild(t token) error {
	if isSeparator(t) {
		return separator(t)
	}
	if isEmptyQuoted(t) {
		return errors.New("an empty quoted word stands where the build goes: name the build, e.g. 1337")
	}
	return CheckBuild(t.s)
}

// CheckBuild reports whether build is a valid build name: 1-64 characters
// from ASCII letters, digits, '.', '_' and '-', starting with a letter or a
// digit, and without "..". The error says what is wrong and what is valid.
func CheckBuild(build string) error {
	const valid = "a build is 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit, e.g. 1337 or 2.4.0-rc1"
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format+"; "+valid, a...)
	}
	switch {
	case build == "":
		return bad("the build is empty")
	case build == "." || build == "..":
		return bad("build %q is not a build name", build)
	}
	for i, r := range build {
		switch {
		case r < utf8.RuneSelf && (isASCIIAlnum(byte(r)) || i > 0 && (r == '.' || r == '_' || r == '-')):
			continue
		case i == 0 && (r == '.' || r == '_' || r == '-'):
			return bad("build %s starts with %q", echo(build), r)
		case r == ' ':
			return bad("build %s contains a space", echo(build))
		case r >= utf8.RuneSelf:
			return bad("build %s contains the non-ASCII character %q (%U), maybe a look-alike of an ASCII one", echo(build), r, r)
		default:
			return bad("build %s contains %q, which is not allowed", echo(build), r)
		}
	}
	if strings.Contains(build, "..") {
		return bad(`build %s contains ".."`, echo(build))
	}
	if len(build) > 64 {
		return bad("build %s is %d characters long; the limit is 64", echo(build), len(build))
	}
	return nil
}

// deployIDExample is a deploy id as help and replies show one.
const deployIDExample = "20261123-124158-b25a0a"

// CheckDeployID reports whether id is a deploy id as the deploy engine
// makes them: the UTC date and time of the start and 6 lowercase hex
// digits, YYYYMMDD-HHMMSS-xxxxxx, e.g. 20261123-124158-b25a0a. Only the
// shape is checked, not that the date exists. The error says what is
// wrong and what is valid.
func CheckDeployID(id string) error {
	const valid = "a deploy id is the UTC date and time and 6 lowercase hex digits, e.g. " + deployIDExample
	bad := func(format string, a ...any) error {
		return fmt.Errorf(format+"; "+valid, a...)
	}
	if isDeployID(id) {
		return nil
	}
	if lower := strings.ToLower(id); isDeployID(lower) {
		return bad("deploy id %s has capitals; deploy ids are lower case: %s", echo(id), lower)
	}
	if id == "" {
		return bad("the deploy id is empty")
	}
	for _, r := range id {
		if r == ' ' || r >= utf8.RuneSelf {
			return bad("deploy id %s %s", echo(id), badRune(r))
		}
	}
	return bad("%s is not a deploy id", echo(id))
}

// isDeployID reports whether s has the shape YYYYMMDD-HHMMSS-xxxxxx of a
// deploy id, x being a lowercase hex digit.
func isDeployID(s string) bool {
	if len(s) != len("20060102-150405-abcdef") {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case i == 8 || i == 15:
			if c != '-' {
				return false
			}
		case c >= '0' && c <= '9':
		case i < 15 || c < 'a' || c > 'f':
			return false
		}
	}
	return true
}

// echo quotes a user's word for a reply: cut to maxEcho characters and
// quoted with %q, so control and invisible characters show.
func echo(s string) string {
	if utf8.RuneCountInString(s) > maxEcho {
		r := []rune(s)
		s = string(r[:maxEcho]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// list joins names for a reply, naming at most maxListed of them.
func list(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	if len(names) > maxListed {
		return strings.Join(names[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(names)-maxListed)
	}
	return strings.Join(names, ", ")
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const more = "…"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// noApps is the Catalog used when Parse is given none.
type noApps struct{}

func (noApps) Apps() []string           { return nil }
func (noApps) Envs(string) []string     { return nil }
func (noApps) DefaultEnv(string) string { return "" }
func (noApps) Trains() []string         { return nil }

// quoteMark shows a quotation mark in a reply: between single quotes, as
// %q shows a rune, but an apostrophe between double quotes, where %q
// would put a backslash before it.
func quoteMark(r rune) string {
	if r == '\'' {
		return `"'"`
	}
	return fmt.Sprintf("%q", r)
}

// Word is one word of a command as the parser splits it: its text without
// the quotes it was written in, if any.
type Word struct {
	Text   string
	Quoted bool
}

// Words splits s into words as Parse does, so that an adapter rewriting
// a command (as a platform's slash command, say) reads a quoted reason as
// one word, exactly as Parse would. It errs on a quote left open.
func Words(s string) ([]Word, error) {
	toks, err := tokenize(plainSpaces(s))
	if err != nil {
		return nil, err
	}
	ws := make([]Word, len(toks))
	for i, t := range toks {
		ws[i] = Word{Text: t.s, Quoted: t.quoted}
	}
	return ws, nil
}
