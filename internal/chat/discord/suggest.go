package discord

import (
	"slices"
	"strconv"
	"strings"

	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/suggest"
)

// The commands the bot suggests ("decide: /rollback web prod to 1336, or
// /deploy web BUILD to prod") are written in the typed grammar, which
// Slack's slash commands and the console take as they are. Discord's
// slash commands take options instead, and have no "deploys" word:
// typed as suggested, they fail. slashForm rewrites such a suggestion
// into what a Discord user types: /rollback app:web env:prod build:1336.

// slashForms rewrites every command the bot marked as suggested in s (see
// suggest) that has a Discord form, reading it with cat, the apps, envs
// and trains of the config (nil when unknown). The rest of s is left as
// it is: text of a command's shape that the bot did not mark (a lock's
// reason "deploy web 5", a run named "(rollback ID)") is not a
// suggestion, and rewritten it would misquote who wrote it.
//
// The user of a slash form's user option, a mention <@ID>, is written
// with mentionOpen for its "<" (see showText); any mentionOpen in s is
// taken out first, so that only a slash form has one.
func slashForms(s string, cat commands.Catalog) string {
	return suggest.Rewrite(strings.ReplaceAll(s, mentionOpen, ""), func(cmd string) string { return slashForm(cmd, cat) })
}

// mentionOpen stands for the "<" of the mention a slash form's user
// option holds until its text is escaped: Discord shows "<@222>" as the
// user's name, as it shows the option typed, where escaped it would
// show "\<@222>". Like the marks of a suggestion, it is a character of
// Unicode's private use area.
const mentionOpen = "\ue002"

// showText is s as Discord shows it, read with cat: its suggestions
// written as slash commands, escaped (see escapeText) but for the
// mentions of their user options. (The usages a message names are
// written as slash commands before, see slashUsageLines.)
func showText(s string, cat commands.Catalog) string {
	return strings.ReplaceAll(escapeText(slashForms(s, cat)), mentionOpen, "<")
}

// slashForm writes cmd, a suggested command with or without its leading
// slash, as a Discord slash command, or returns cmd as it is when Discord
// would not take it.
//
// With cat, cmd is read as the parser reads it. When its words alone
// make a slash command that sends the same command, that is its form: a
// window or a duration is shown as suggested (window:2w), not in the
// parser's unit (window:14d). Else its canonical text is written as a
// slash command: the parser knows the apps, envs and trains,
// and the canonical text quotes every reason and puts a lock's "for D"
// before it, so "lock deploys web db down" is the lock of every env of
// web for "db down" when web has no env db, and "train cancel daily
// late" the cancel of daily for "late". The canonical text also holds
// the defaults the parser filled in (an app's default env, the only
// train, history's N, stats' window); those cmd does not write are left
// out again (see leaveDefaults). A suggestion the parser refuses with
// cat (an app since removed from the config, say) is read as it is
// without.
//
// Without cat, the words are split as the parser splits them (a quoted
// reason is one word) and must be the shape the verb takes: a
// placeholder "…", or a lock whose unquoted reason may start with an
// env, is shown as written. A deploy id right after the verb is the run
// named, never an app.
func slashForm(cmd string, cat commands.Catalog) string {
	if cat != nil {
		if r := commands.Parse(cmd, cat, commands.Options{}); r.Kind == commands.Run {
			if f, ok := wordForm(cmd); ok {
				if sent, ok := f.sends(cat); ok && sent == r.Cmd.Text {
					return f.String()
				}
			}
			f, ok := wordForm(r.Cmd.Text)
			if !ok {
				return cmd
			}
			f.leaveDefaults(cmd, r.Cmd.Text, cat)
			f.pickUsers(cat)
			return f.String()
		}
	}
	if f, ok := wordForm(cmd); ok {
		f.pickUsers(cat)
		return f.String()
	}
	return cmd
}

// discordIDs knows the Discord accounts of the config's users (see
// usersCatalog).
type discordIDs interface {
	discordID(user string) (string, bool)
}

// usersCatalog is a catalog that also knows the Discord id of each user
// of the config that has one, by user name.
type usersCatalog struct {
	commands.Catalog
	ids map[string]string
}

func (c usersCatalog) discordID(user string) (string, bool) {
	id, ok := c.ids[user]
	return id, ok
}

// withDiscordIDs returns cat knowing the Discord ids of users (Discord id
// → user name, as Options.Users); a nil cat stays nil, as what reads it
// takes nil for no config.
func withDiscordIDs(cat commands.Catalog, users map[string]string) commands.Catalog {
	if cat == nil {
		return nil
	}
	ids := make(map[string]string, len(users))
	for id, name := range users {
		ids[name] = id
	}
	return usersCatalog{Catalog: cat, ids: ids}
}

// pickUsers writes the user option of a grant or revoke that names a
// user of the config (@ana) as the value Discord's user option takes: a
// mention of their Discord account when cat knows it, else what to pick
// there, as a placeholder. Discord sends a user option as an account's
// id, never as a name: "user:@ana" is no value it takes.
func (f *form) pickUsers(cat commands.Catalog) {
	for i, o := range f.opts {
		name, ok := strings.CutPrefix(o.value, "@")
		if o.name != "user" || !ok {
			continue
		}
		if ids, ok := cat.(discordIDs); ok {
			if id, ok := ids.discordID(name); ok {
				f.opts[i].value = mentionOpen + "@" + id + ">"
				continue
			}
		}
		f.opts[i].value = "(pick " + name + "'s Discord account)"
	}
}

// wordForm writes cmd as a Discord slash command from its words alone,
// and reports whether they are the shape the verb takes.
func wordForm(cmd string) (*form, bool) {
	words, err := commands.Words(strings.TrimPrefix(cmd, "/"))
	if err != nil || len(words) == 0 || words[0].Quoted {
		return nil, false
	}
	verb, rest := words[0].Text, words[1:]
	if (verb == "lock" || verb == "unlock") && len(rest) > 0 && isKeyword(rest[0], "deploys") {
		verb, rest = verb+" deploys", rest[1:]
	}
	if len(rest) > 0 && commands.CheckDeployID(rest[0].Text) == nil {
		return nil, false
	}
	f := &form{}
	if !f.of(verb, rest) {
		return nil, false
	}
	return f, true
}

// form is a Discord slash command being written: its name (with its
// subcommand, /train board), then options as name:value.
type form struct {
	cmd  []string
	opts []option
}

// option is one option of a form, its value as shown.
type option struct{ name, value string }

func (f *form) name(s ...string) { f.cmd = s }

func (f *form) opt(name, value string) { f.opts = append(f.opts, option{name, value}) }

// String writes f as a Discord user types it.
func (f *form) String() string {
	parts := []string{"/" + strings.Join(f.cmd, " ")}
	for _, o := range f.opts {
		parts = append(parts, o.name+":"+o.value)
	}
	return strings.Join(parts, " ")
}

// of writes verb and words as a Discord slash command into f, and reports
// whether they are the shape the verb takes, every word used.
func (f *form) of(verb string, words []commands.Word) bool {
	switch verb {
	case "deploy":
		return f.deploy(words)
	case "rollback":
		return f.rollback(words)
	case "status":
		// status [APP]
		return f.positional("status", words, "app")
	case "cancel":
		// cancel APP [ENV]
		return len(words) > 0 && f.positional("cancel", words, "app", "env")
	case "unlock deploys":
		// unlock deploys [APP] [ENV]
		return f.positional("unlock", words, "app", "env")
	case "lock deploys":
		return f.lock(words)
	case "train":
		return f.train(words)
	case "history":
		// history [APP] [ENV] [N]
		return f.counted("history", words, "app", "env")
	case "audit":
		// audit [APP] [N]
		return f.counted("audit", words, "app")
	case "stats":
		// stats APP [ENV] [WINDOW]
		vals, ok := plainValues(words)
		if !ok || len(vals) == 0 || len(vals) > 3 {
			return false
		}
		var window string
		if n := len(vals); n > 1 && isWindow(vals[n-1]) {
			window, vals = vals[n-1], vals[:n-1]
		}
		if len(vals) > 2 {
			return false
		}
		f.name("stats")
		for i, opt := range []string{"app", "env"}[:len(vals)] {
			f.opt(opt, vals[i])
		}
		if window != "" {
			f.opt("window", window)
		}
		return true
	case "grant":
		// grant @USER ROLE [APP] [ENV] [for DURATION]
		return f.grant("grant", words, true)
	case "revoke":
		// revoke @USER ROLE [APP] [ENV]
		return f.grant("revoke", words, false)
	case "here":
		// here [for DURATION]
		switch {
		case len(words) == 0:
			f.name("here")
		case len(words) == 2 && isKeyword(words[0], "for") && isDurationWord(words[1]):
			f.name("here")
			f.opt("duration", words[1].Text)
		default:
			return false
		}
		return true
	case "away", "admins", "whoami":
		if len(words) > 0 {
			return false
		}
		f.name(verb)
		return true
	case "help":
		// help [COMMAND]: the command option takes a verb alone.
		if len(words) > 0 && !slices.Contains(commands.Verbs(), commands.Verb(words[0].Text)) {
			return false
		}
		return f.positional("help", words, "command")
	}
	return false
}

// train writes train and its actions as /train's subcommands: train
// (list), board APP BUILD [to ENV] [on TRAIN], leave APP [on TRAIN],
// cancel [TRAIN] "REASON" and depart [TRAIN] now. The reason of a cancel
// must be quoted: without the trains an unquoted word may be the train or
// the reason's first word (the parser's canonical text quotes it).
func (f *form) train(words []commands.Word) bool {
	if len(words) == 0 {
		f.name("train", "list")
		return true
	}
	action, args := words[0], words[1:]
	if action.Quoted {
		return false
	}
	switch action.Text {
	case commands.TrainBoard, commands.TrainLeave:
		vals, ok := plainValues(args)
		n := 2 // app and build
		if action.Text == commands.TrainLeave {
			n = 1
		}
		if !ok || len(vals) < n {
			return false
		}
		f.name("train", action.Text)
		for i, opt := range []string{"app", "build"}[:n] {
			f.opt(opt, vals[i])
		}
		k := n
		kws := []struct{ word, opt string }{{"to", "env"}, {"on", "train"}}
		if action.Text == commands.TrainLeave {
			kws = kws[1:]
		}
		for _, kw := range kws {
			if k+1 < len(vals) && vals[k] == kw.word {
				f.opt(kw.opt, vals[k+1])
				k += 2
			}
		}
		return k == len(vals)
	case commands.TrainCancel:
		if len(args) == 0 || len(args) > 2 || !args[len(args)-1].Quoted || strings.TrimSpace(args[len(args)-1].Text) == "" {
			return false
		}
		train, ok := plainValues(args[:len(args)-1])
		if !ok {
			return false
		}
		f.name("train", commands.TrainCancel)
		if len(train) == 1 {
			f.opt("train", train[0])
		}
		f.opt("reason", args[len(args)-1].Text)
		return true
	case commands.TrainDepart:
		vals, ok := plainValues(args)
		if !ok || len(vals) == 0 || len(vals) > 2 || vals[len(vals)-1] != "now" {
			return false
		}
		f.name("train", commands.TrainDepart)
		if len(vals) == 2 {
			f.opt("train", vals[0])
		}
		return true
	}
	return false
}

// counted writes history or audit: the options opts in order, then a
// number last, as n.
func (f *form) counted(name string, words []commands.Word, opts ...string) bool {
	vals, ok := plainValues(words)
	if !ok {
		return false
	}
	var n string
	if k := len(vals); k > 0 && strings.Trim(vals[k-1], "0123456789") == "" {
		n, vals = vals[k-1], vals[:k-1]
	}
	if !f.positional(name, wordsOf(vals), opts...) {
		return false
	}
	if n != "" {
		f.opt("n", n)
	}
	return true
}

// wordsOf makes unquoted words of texts.
func wordsOf(texts []string) []commands.Word {
	ws := make([]commands.Word, len(texts))
	for i, t := range texts {
		ws[i] = commands.Word{Text: t}
	}
	return ws
}

// isWindow reports whether w is written as a stats window: a number of
// days or weeks, 7d or 2w.
func isWindow(w string) bool {
	num, ok := strings.CutSuffix(w, "d")
	if !ok {
		num, ok = strings.CutSuffix(w, "w")
	}
	return ok && num != "" && strings.Trim(num, "0123456789") == ""
}

// grant writes grant or revoke: a user, a role, then the optional app,
// env and, for grant, "for DURATION" at the end, as the parser writes it.
func (f *form) grant(verb string, words []commands.Word, timed bool) bool {
	vals, ok := plainValues(words)
	if !ok || len(vals) < 2 || !isUserWord(vals[0]) {
		return false
	}
	var duration string
	if n := len(vals); timed && n >= 4 && vals[n-2] == "for" && isDurationWord(commands.Word{Text: vals[n-1]}) {
		duration, vals = vals[n-1], vals[:n-2]
	}
	if len(vals) > 4 || slices.Contains(vals[2:], "for") {
		return false
	}
	f.name(verb)
	f.opt("user", userShown(vals[0]))
	f.opt("role", vals[1])
	for i, opt := range []string{"app", "env"}[:len(vals)-2] {
		f.opt(opt, vals[2+i])
	}
	if duration != "" {
		f.opt("duration", duration)
	}
	return true
}

// userShown writes w, the user of grant or revoke, as Discord shows a user
// option: a mention of a Discord id (all digits) with mentionOpen for its
// "<", anything else as it is.
func userShown(w string) string {
	if id, ok := strings.CutPrefix(w, "<@"); ok {
		if id, ok := strings.CutSuffix(id, ">"); ok && id != "" && strings.Trim(id, "0123456789") == "" {
			return mentionOpen + "@" + id + ">"
		}
	}
	return w
}

// isUserWord reports whether w names a user as grant and revoke take
// one: @name, or a mention <@ID>.
func isUserWord(w string) bool {
	return strings.HasPrefix(w, "@") && len(w) > 1 || strings.HasPrefix(w, "<@") && strings.HasSuffix(w, ">")
}

func (f *form) deploy(words []commands.Word) bool {
	// deploy APP BUILD [to ENV]
	if len(words) < 2 {
		return false
	}
	if w := strings.ToLower(words[0].Text); !words[0].Quoted && (w == string(commands.VerbConfirm) || w == string(commands.VerbAbort)) {
		// "deploy confirm ID" answers a run's migrations prompt: it is
		// /confirm (or /abort), as /deploy app:confirm would deploy an
		// app of that name. Without a deploy id it is shown as written.
		if len(words) != 2 || words[1].Quoted || commands.CheckDeployID(words[1].Text) != nil {
			return false
		}
		f.name(w)
		f.opt("id", words[1].Text)
		return true
	}
	// The flags, written after the target as the parser writes them
	// back: --dry-run, and --force with its reason.
	var dryRun bool
	var force string
	var target []commands.Word
	for i := 0; i < len(words); i++ {
		switch {
		case isKeyword(words[i], "--dry-run") && !dryRun:
			dryRun = true
		case isKeyword(words[i], "--force") && force == "" && i+1 < len(words) && strings.TrimSpace(words[i+1].Text) != "" &&
			(words[i+1].Quoted || plainWord(words[i+1].Text)):
			force = words[i+1].Text
			i++
		default:
			target = append(target, words[i])
		}
	}
	vals, ok := plainValues(target)
	if !ok || len(vals) != 2 && (len(vals) != 4 || vals[2] != "to") {
		return false
	}
	f.name("deploy")
	f.opt("app", vals[0])
	f.opt("build", vals[1])
	if len(vals) == 4 {
		f.opt("env", vals[3])
	}
	if dryRun {
		f.opt("dry_run", "true")
	}
	if force != "" {
		f.opt("force", force)
	}
	return true
}

func (f *form) rollback(words []commands.Word) bool {
	// rollback APP [ENV] [to BUILD] [from BUILD]
	vals, ok := plainValues(words)
	if !ok || len(vals) < 1 {
		return false
	}
	f.name("rollback")
	f.opt("app", vals[0])
	k := 1
	if k < len(vals) && vals[k] != "to" && vals[k] != "from" && isEnvWord(vals[k]) {
		f.opt("env", vals[k])
		k++
	}
	for _, kw := range []struct{ word, opt string }{{"to", "build"}, {"from", "from"}} {
		if k+1 < len(vals) && vals[k] == kw.word {
			f.opt(kw.opt, vals[k+1])
			k += 2
		}
	}
	return k == len(vals)
}

// lock writes lock deploys [APP] [ENV] [for DURATION] REASON. Without
// the apps it cannot tell an app or an env from a word of the reason,
// so the reason must be one quoted word, or follow "for DURATION", after
// which the parser takes the rest of the line as the reason; anything
// else is shown as written (the parser's canonical text, which
// slashForm writes when it has the apps, quotes the reason). Discord's
// reason option takes a quoted reason's words without the quotes.
func (f *form) lock(words []commands.Word) bool {
	var target []string
	i := 0
	for i < len(words) && len(target) < 2 && !words[i].Quoted && !isKeyword(words[i], "for") && plainWord(words[i].Text) {
		target = append(target, words[i].Text)
		i++
	}
	var duration string
	if i+1 < len(words) && isKeyword(words[i], "for") && isDurationWord(words[i+1]) {
		duration = words[i+1].Text
		i += 2
	}
	rest := words[i:]
	var reason string
	switch {
	case len(rest) == 1 && rest[0].Quoted:
		reason = rest[0].Text
	case duration != "" && len(rest) > 0 && !rest[0].Quoted:
		reason = joinTexts(rest)
	}
	if strings.TrimSpace(reason) == "" {
		return false
	}
	f.name("lock")
	for j, opt := range []string{"app", "env"}[:len(target)] {
		f.opt(opt, target[j])
	}
	if duration != "" {
		f.opt("duration", duration)
	}
	f.opt("reason", reason)
	return true
}

// positional writes /name with words as the options opts, in order: one
// plain word each, fewer words than options allowed.
func (f *form) positional(name string, words []commands.Word, opts ...string) bool {
	vals, ok := plainValues(words)
	if !ok || len(vals) > len(opts) {
		return false
	}
	f.name(name)
	for i, v := range vals {
		f.opt(opts[i], v)
	}
	return true
}

// plainValues returns the texts of words, when each is a plain unquoted
// word (see plainWord) that a word option takes as it is.
func plainValues(words []commands.Word) ([]string, bool) {
	vals := make([]string, len(words))
	for i, w := range words {
		if w.Quoted || !plainWord(w.Text) {
			return nil, false
		}
		vals[i] = w.Text
	}
	return vals, true
}

// isKeyword reports whether w is the unquoted keyword kw.
func isKeyword(w commands.Word, kw string) bool { return !w.Quoted && w.Text == kw }

// isDurationWord reports whether w is written as the duration after
// "for": unquoted, starting with a digit (as the parser and the slash
// commands' duration option want it).
func isDurationWord(w commands.Word) bool {
	return !w.Quoted && w.Text != "" && w.Text[0] >= '0' && w.Text[0] <= '9' && plainWord(w.Text)
}

// joinTexts joins the texts of words with spaces.
func joinTexts(words []commands.Word) string {
	texts := make([]string, len(words))
	for i, w := range words {
		texts[i] = w.Text
	}
	return strings.Join(texts, " ")
}

// isEnvWord reports whether w may be an env: not a word of the sentence
// the suggestion ends in.
func isEnvWord(w string) bool {
	switch w {
	case "when", "then", "or", "and", "if", "once":
		return false
	}
	return true
}

// defaultedOpts are the options whose value the parser fills in when a
// command leaves it out: an app's default env, the only train, history's
// and audit's N, stats' window.
var defaultedOpts = []string{"env", "train", "n", "window"}

// leaveDefaults takes out of f, written from text (the canonical text of
// cmd, read with cat), the options whose value the parser filled in
// where cmd does not write it: "cancel web" is /cancel app:web, as
// suggested, not /cancel app:web env:prod, which reads as if the env had
// to be named. An option stays when the slash command sent without it
// would not be text: the slash handler writes a command without the
// option, which must read back, with cat, as text does.
func (f *form) leaveDefaults(cmd, text string, cat commands.Catalog) {
	words, err := commands.Words(strings.TrimPrefix(cmd, "/"))
	if err != nil {
		return
	}
	for i := 0; i < len(f.opts); {
		if slices.Contains(defaultedOpts, f.opts[i].name) && !f.written(words, i) {
			without := &form{cmd: f.cmd, opts: slices.Delete(slices.Clone(f.opts), i, i+1)}
			if sent, ok := without.sends(cat); ok && sent == text {
				f.opts = without.opts
				continue
			}
		}
		i++
	}
}

// written reports whether words, those of the suggestion f was written
// from, hold the value of f's option i: more often than the command's
// name and f's other options account for ("deploy prod 5" of an app prod
// whose default env is prod writes the app, not the env).
func (f *form) written(words []commands.Word, i int) bool {
	v := f.opts[i].value
	inWords := 0
	for _, w := range words {
		if strings.EqualFold(w.Text, v) {
			inWords++
		}
	}
	elsewhere := 0
	for _, s := range f.cmd {
		if strings.EqualFold(s, v) {
			elsewhere++
		}
	}
	for j, o := range f.opts {
		if j != i && strings.EqualFold(o.value, v) {
			elsewhere++
		}
	}
	return inWords > elsewhere
}

// sends returns the canonical text of the command that f, typed in
// Discord as shown, makes: what the slash handler writes for its options,
// read with cat. It reports false when the slash handler or the parser
// refuses it, or an option of f is not one Discord sends as shown (a user
// by name).
func (f *form) sends(cat commands.Catalog) (string, bool) {
	spec, ok := slash[commands.Verb(f.cmd[0])]
	if !ok {
		return "", false
	}
	if spec.subs != nil {
		i := slices.IndexFunc(spec.subs, func(s subcommand) bool { return len(f.cmd) == 2 && s.name == f.cmd[1] })
		if i < 0 {
			return "", false
		}
		spec = spec.subs[i].slashSpec
	}
	o := options{vals: map[string]any{}, cat: cat}
	for _, opt := range f.opts {
		v, ok := sentValue(opt)
		if !ok {
			return "", false
		}
		o.vals[opt.name] = v
	}
	text, err := spec.text(o)
	if err != nil {
		return "", false
	}
	r := commands.Parse(text, cat, commands.Options{})
	if r.Kind != commands.Run {
		return "", false
	}
	return r.Cmd.Text, true
}

// sentValue is the value Discord sends for opt typed as shown: a number
// for n, a boolean for dry_run, a user's id for user, text otherwise.
func sentValue(opt option) (any, bool) {
	switch opt.name {
	case "n":
		n, err := strconv.Atoi(opt.value)
		return float64(n), err == nil
	case "dry_run":
		return opt.value == "true", true
	case "user":
		id, ok := strings.CutPrefix(opt.value, mentionOpen+"@")
		id, closed := strings.CutSuffix(id, ">")
		return id, ok && closed
	}
	return opt.value, true
}
