package commands

import (
	"strconv"
	"strings"
)

// spec is one command of the grammar: how it is written, what it does, and
// the function that parses its arguments. Help text is generated from these
// fields, so the table below is the only description of the language.
type spec struct {
	verb    Verb
	usage   string   // one line, shown in help and in every rejection
	summary string   // one sentence for the overview
	details []string // extra lines for "help VERB"
	// typed are lines for "help VERB", after details, that explain the
	// command as typed: its keywords, flags and quoting. A platform
	// whose users send commands in a form of its own (Discord's slash
	// commands) leaves them out (chat.Message.Typed).
	typed    []string
	examples []string
	flags    []flagSpec
	// parse receives the arguments after the verb with the flags already
	// taken out (they are in p.flags). It returns a Command without Verb
	// and Text, or an error whose text tells the user what was wrong;
	// Parse appends the usage line.
	parse func(p *parser, args []token) (Command, error)
	// forms are commands written as this command's verb and a keyword,
	// such as "deploy confirm ID" or "train board APP BUILD". Their usage
	// holds both words. Help lists forms with their command, and Parse
	// knows them only after it (see parser.form).
	forms []spec
	// keyword is the word that selects a form after its command's verb
	// ("confirm", "board"); "" for a command. A form whose verb is its
	// command's verb is an action of that command (train board gives
	// VerbTrain, its parse function says which action); a form with a verb
	// of its own gives that verb (deploy confirm gives VerbConfirm).
	keyword string
	// parent is the command of a form, nil for a command; set by init.
	parent *spec
}

// flagSpec is one flag a command accepts. Flags may appear anywhere after
// the verb.
type flagSpec struct {
	name  string // with the leading "--"
	value string // placeholder of the value in messages; "" for a boolean flag
}

// grammar is the command language, in the order help lists it.
var grammar = []spec{
	{
		verb:    VerbDeploy,
		usage:   `deploy APP BUILD [to ENV] [--dry-run] [--force "reason"]`,
		summary: "Deploy BUILD of APP to ENV, or to the app's default env.",
		details: []string{
			"BUILD is 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit, without \"..\".",
			"A dry run shows the plan and changes nothing.",
			"A forced deploy, which gives its reason, goes outside the deploy window (admins and holders of override; without an admin around, admins only); it does not pass locks. The reason is announced and recorded in the audit log.",
			"ID is the deploy id the migrations prompt shows, e.g. " + deployIDExample + ".",
		},
		typed: []string{
			`With an app named confirm or abort, "deploy confirm 1337" deploys it, but a deploy id after the word makes it the keyword; ` +
				`to deploy a build named like a deploy id, quote the app: deploy "confirm" ` + deployIDExample + ".",
		},
		examples: []string{
			"deploy accounting 1337 to production",
			"deploy demo 2.4.0-rc1 --dry-run",
			`deploy accounting 1338 to production --force "INC-42 hotfix"`,
		},
		flags: []flagSpec{{name: "--dry-run"}, {name: "--force", value: "reason"}},
		parse: parseDeploy,
		forms: []spec{
			{
				verb:     VerbConfirm,
				keyword:  "confirm",
				usage:    "deploy confirm ID",
				summary:  "Run the pending migrations deploy ID waits for, and go on.",
				examples: []string{"deploy confirm " + deployIDExample},
				parse:    parseDeployID,
			},
			{
				verb:     VerbAbort,
				keyword:  "abort",
				usage:    "deploy abort ID",
				summary:  "Stop deploy ID at its migrations prompt; nothing changes.",
				examples: []string{"deploy abort " + deployIDExample},
				parse:    parseDeployID,
			},
		},
	},
	{
		verb:    VerbRollback,
		usage:   "rollback APP [ENV] [to BUILD] [from BUILD]",
		summary: "Roll APP in ENV back to the previous good release, or to BUILD.",
		details: []string{"Without ENV the app's default env is used."},
		typed:   []string{"With from BUILD, only if APP runs BUILD now (what a deploy message's Rollback button sends, with to BUILD when it names the release it goes back to: Roll back to BUILD).", "rollback DEPLOY-ID rolls back what that deploy put live, to the release its Rollback button names if it names one, only if it still runs; for a run that was interrupted, it undoes that run, as the interrupted message's button does (a Rollback button whose command would be too long sends it)."},
		examples: []string{
			"rollback accounting",
			"rollback accounting staging to 1336",
		},
		parse: parseRollback,
	},
	{
		verb:    VerbLock,
		usage:   "lock deploys [APP] [ENV] [for DURATION] reason…",
		summary: "Stop deploys everywhere, of APP, or of APP in ENV; say why.",
		details: []string{
			"DURATION is like 30m, 2h, 1d, 1h30m or 1w (at most 90d); without it the lock holds until unlock.",
		},
		typed: []string{`The reason is the rest of the line; quote it if it starts with an app or env name, or with a word written as a duration ("3d printer down"), which otherwise needs "for" before it.`},
		examples: []string{
			"lock deploys accounting production for 2h db migration",
			`lock deploys for 1d "release freeze"`,
		},
		parse: parseLock,
	},
	{
		verb:    VerbUnlock,
		usage:   "unlock deploys [APP] [ENV]",
		summary: "Lift the lock taken with the same APP and ENV.",
		examples: []string{
			"unlock deploys accounting production",
			"unlock deploys",
		},
		parse: parseUnlock,
	},
	{
		verb:    VerbTrain,
		usage:   "train",
		summary: "List the deploy trains; board, leave, cancel or depart one.",
		details: []string{
			"TRAIN is a train of the configuration; with only one train it may be left out.",
			"Without an env a car ships to the train's env.",
		},
		typed: []string{
			"The reason of cancel is the rest of the line; quote it if it starts with a train name.",
			"depart needs the word now, so that no train leaves by accident.",
		},
		examples: []string{"train"},
		parse:    parseTrain,
		forms: []spec{
			{
				verb:     VerbTrain,
				keyword:  TrainBoard,
				usage:    "train board APP BUILD [to ENV] [on TRAIN]",
				summary:  "Put BUILD of APP on the train.",
				examples: []string{"train board accounting 1337 to production on daily"},
				parse:    parseTrainBoard,
			},
			{
				verb:     VerbTrain,
				keyword:  TrainLeave,
				usage:    "train leave APP [on TRAIN]",
				summary:  "Take APP off the train.",
				examples: []string{"train leave accounting on daily"},
				parse:    parseTrainLeave,
			},
			{
				verb:     VerbTrain,
				keyword:  TrainCancel,
				usage:    "train cancel [TRAIN] reason…",
				summary:  "Call off the train's next departure; say why.",
				examples: []string{`train cancel daily "db migration running"`},
				parse:    parseTrainCancel,
			},
			{
				verb:     VerbTrain,
				keyword:  TrainDepart,
				usage:    "train depart [TRAIN] now",
				summary:  "Send the train off now with whatever is aboard.",
				examples: []string{"train depart daily now"},
				parse:    parseTrainDepart,
			},
		},
	},
	{
		verb:     VerbStatus,
		usage:    "status [APP]",
		summary:  "Show what runs where, running deploys and locks.",
		examples: []string{"status", "status accounting"},
		parse:    parseStatus,
	},
	{
		verb:    VerbHistory,
		usage:   "history [APP] [ENV] [N]",
		summary: "Show the last N deploys (default " + strconv.Itoa(DefaultHistory) + ", at most " + strconv.Itoa(MaxHistory) + ").",
		examples: []string{
			"history",
			"history accounting production 20",
		},
		parse: parseHistory,
	},
	{
		verb:    VerbStats,
		usage:   "stats APP [ENV] [WINDOW]",
		summary: "Show deploy statistics of APP over WINDOW (default " + formatWindow(DefaultStatsWindow) + ").",
		details: []string{
			"Without ENV, of every env of APP.",
			"WINDOW is a number of days or weeks, e.g. 7d, 90d or 2w (at most " + formatWindow(MaxStatsWindow) + ").",
		},
		examples: []string{
			"stats accounting",
			"stats accounting production 90d",
		},
		parse: parseStats,
	},
	{
		verb:     VerbCancel,
		usage:    "cancel APP [ENV]",
		summary:  "Cancel the running deploy of APP in ENV.",
		details:  []string{"Without ENV the app's default env is used."},
		examples: []string{"cancel accounting production"},
		parse:    parseCancel,
	},
	{
		verb:    VerbAudit,
		usage:   "audit [APP] [N]",
		summary: "Show the last N audit log entries (default " + strconv.Itoa(DefaultAudit) + ", at most " + strconv.Itoa(MaxAudit) + ").",
		examples: []string{
			"audit",
			"audit accounting 50",
		},
		parse: parseAudit,
	},
	{
		verb:    VerbGrant,
		usage:   "grant @USER ROLE [APP] [ENV] [for DURATION]",
		summary: "Give USER the role ROLE everywhere, on APP, or on APP in ENV.",
		details: []string{
			"ROLE is a role of the configuration.",
			"DURATION is like 30m, 2h, 1d, 1h30m or 1w (at most 90d); without it the grant holds until revoked.",
		},
		typed: []string{"USER is @name or a chat mention of one user."},
		examples: []string{
			grantExample,
			"grant @bob deployer demo",
		},
		parse: parseGrant,
	},
	{
		verb:     VerbRevoke,
		usage:    "revoke @USER ROLE [APP] [ENV]",
		summary:  "Take back a grant; USER, ROLE, APP and ENV must match the grant.",
		examples: []string{"revoke @ana deployer accounting production"},
		parse:    parseRevoke,
	},
	{
		verb:    VerbHere,
		usage:   "here [for DURATION]",
		summary: "Check in as an admin who is around, for DURATION (default " + formatDuration(DefaultHereFor) + ").",
		details: []string{"DURATION is like 30m, 2h, 1d, 1h30m or 1w (at most 90d)."},
		examples: []string{
			"here",
			"here for 8h",
		},
		parse: parseHere,
	},
	{
		verb:     VerbAway,
		usage:    "away",
		summary:  "Check out: you are no longer around as an admin.",
		examples: []string{"away"},
		parse:    parseNoArgs,
	},
	{
		verb:     VerbAdmins,
		usage:    "admins",
		summary:  "Show which admins are around, and until when.",
		examples: []string{"admins"},
		parse:    parseNoArgs,
	},
	{
		verb:     VerbHelp,
		usage:    "help [COMMAND]",
		summary:  "List the commands, or explain COMMAND.",
		examples: []string{"help", "help deploy"},
		parse:    parseHelp,
	},
	{
		verb:     VerbWhoami,
		usage:    "whoami",
		summary:  "Show who Switchman takes you for and what you may do.",
		examples: []string{"whoami"},
		parse:    parseNoArgs,
	},
}

// byVerb and byForm index grammar; byForm holds the forms with a verb of
// their own, not the actions of a command. They are filled by init rather
// than by their initialisers because the parse functions in the table
// consult them (help checks its topic), which would be an initialisation
// cycle.
var (
	byVerb    = map[Verb]*spec{} // the commands
	byForm    = map[Verb]*spec{} // the forms of the commands
	verbOrder []string           // the verbs of the commands in grammar order
)

func init() {
	for i := range grammar {
		s := &grammar[i]
		byVerb[s.verb] = s
		verbOrder = append(verbOrder, string(s.verb))
		for j := range s.forms {
			f := &s.forms[j]
			f.parent = s
			if f.verb != s.verb {
				byForm[f.verb] = f
			}
		}
	}
}

// lookup returns the spec of the command verb, or nil; forms are not
// commands.
func lookup(verb Verb) *spec { return byVerb[verb] }

// specOf returns the spec of verb, a command's or a form's, or nil. The
// actions of a command have its verb: specOf(VerbTrain) is train's spec.
func specOf(verb Verb) *spec {
	if s := byVerb[verb]; s != nil {
		return s
	}
	return byForm[verb]
}

// formNamed returns the form whose keyword is word, in any case, whatever
// its command; nil if none.
func formNamed(word string) *spec {
	for _, v := range verbOrder {
		if f := byVerb[Verb(v)].formNamed(word); f != nil {
			return f
		}
	}
	return nil
}

// formNamed returns the form of s whose keyword is word, in any case, or
// nil.
func (s *spec) formNamed(word string) *spec {
	for i := range s.forms {
		if strings.EqualFold(word, s.forms[i].keyword) {
			return &s.forms[i]
		}
	}
	return nil
}

// command returns the command of a form, or s itself.
func (s *spec) command() *spec {
	if s.parent != nil {
		return s.parent
	}
	return s
}

// name is how replies call s: "deploy", or "deploy confirm" for a form.
func (s *spec) name() string {
	if s.parent != nil {
		return string(s.parent.verb) + " " + s.keyword
	}
	return string(s.verb)
}

// isAction reports whether s is an action of its command (see keyword).
func (s *spec) isAction() bool { return s.parent != nil && s.verb == s.parent.verb }

// usageSpecs are the commands whose usage follows a rejection of s: s
// and, for a command with actions, those actions.
func (s *spec) usageSpecs() []*spec {
	specs := []*spec{s}
	for i := range s.forms {
		if s.forms[i].isAction() {
			specs = append(specs, &s.forms[i])
		}
	}
	return specs
}

// UsageLine says that a line of a reply ends with the usage of a
// command, in the grammar's words.
type UsageLine struct {
	// Line is the line's index in the reply's lines.
	Line int
	// Verb is the command's verb (VerbConfirm for deploy confirm);
	// Action, an action of it ("board" of train), or "" for the command
	// itself.
	Verb   Verb
	Action string
	// Text is the usage the line ends with ("grant @USER ROLE [APP]
	// [ENV] [for DURATION]").
	Text string
}

// usageRef names the usage of s, written at the end of line i.
func (s *spec) usageRef(i int) UsageLine {
	u := UsageLine{Line: i, Verb: s.verb, Text: s.usage}
	if s.isAction() {
		u.Action = s.keyword
	}
	return u
}

// refusal is the Reply refusing a command of s for msg: msg, then the
// usage of the first n of s.usageSpecs(), one a line, the first after
// "usage: " and the others lined up under it (see Result.Usages).
func refusal(msg string, s *spec, n int) Result {
	r := Result{Kind: Reply, Cmd: Command{Verb: s.verb}, usage: s, usageFrom: strings.Count(msg, "\n") + 1, usageN: n}
	lines := []string{msg}
	for i, u := range s.usageSpecs()[:n] {
		lead := "       "
		if i == 0 {
			lead = "usage: "
		}
		lines = append(lines, lead+u.usage)
	}
	r.Reply = strings.Join(lines, "\n")
	return r
}

// Verbs returns the verb of every command of the grammar, in help order:
// the words a command starts with. The forms VerbConfirm and VerbAbort,
// written after "deploy", are not among them; the actions of train are
// VerbTrain.
func Verbs() []Verb {
	vs := make([]Verb, len(grammar))
	for i := range grammar {
		vs[i] = grammar[i].verb
	}
	return vs
}

// Usage returns the one-line usage of verb ("" for an unknown verb), for
// adapters that register commands with their platform. The usage of a form
// starts with its command: Usage(VerbConfirm) is "deploy confirm ID".
// Usage(VerbTrain) is that of the bare "train"; help lists its actions.
func Usage(verb Verb) string {
	if s := specOf(verb); s != nil {
		return s.usage
	}
	return ""
}

// Summary returns the one-sentence description of verb, a form's too (""
// for an unknown verb).
func Summary(verb Verb) string {
	if s := specOf(verb); s != nil {
		return s.summary
	}
	return ""
}

func (s *spec) flag(name string) *flagSpec {
	for i := range s.flags {
		if s.flags[i].name == name {
			return &s.flags[i]
		}
	}
	return nil
}

func (s *spec) flagNames() []string {
	names := make([]string, len(s.flags))
	for i, f := range s.flags {
		names[i] = f.name
	}
	return names
}
