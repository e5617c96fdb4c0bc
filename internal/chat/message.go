// Package chat is the platform-neutral message model: command replies and
// deploy progress are described once here and rendered by one renderer per
// platform (plain text for the console, Block Kit for Slack, embeds for
// Discord). Nothing here knows a platform.
package chat

// Level colours a message.
type Level string

const (
	Info    Level = "info"
	Success Level = "success"
	Warning Level = "warning"
	Failure Level = "failure"
)

// Message is one reply or one state of a progress message.
type Message struct {
	Level Level
	// Title is the headline ("Deploy demo 2 → local started").
	Title string
	// Lines are plain text lines under the title.
	Lines []string
	// Fields are label/value pairs shown as a compact table.
	Fields []Field
	// Buttons offer follow-up actions (rendered where the platform can).
	Buttons []Button
	// Public messages are for the whole channel (deploy progress,
	// announcements); others are for the requester only where the platform
	// allows it.
	Public bool
	// Usages name the lines of Lines that give a command's usage in the
	// grammar's words, and the command of each: a platform whose users
	// send commands in a form of its own (Discord's slash commands) shows
	// those in that form, built from the command. The others show Lines
	// as they are.
	Usages []Usage
	// Typed are the indexes in Lines of the lines that explain commands
	// as typed: their keywords, flags and quoting ("depart needs the
	// word now"). A platform whose users send commands in a form of its
	// own (Discord's slash commands) leaves them out; the others show
	// them.
	Typed []int
}

// Usage says that a line of a Message ends with the usage of a command.
type Usage struct {
	// Line is the line's index in Lines, or TitleLine for the Title.
	Line int
	// Verb is the command's verb ("grant"; "confirm" for deploy
	// confirm); Action, an action of it ("board" of train), or "" for
	// the command itself.
	Verb, Action string
	// Text is the usage as the line ends with it, in the grammar's words
	// ("grant @USER ROLE [APP] [ENV] [for DURATION]"); what comes before
	// it ("usage: ", an indent) is the line's own.
	Text string
}

// TitleLine is the Line of a Usage that names the Title.
const TitleLine = -1

// Field is one label/value pair.
type Field struct {
	Label string
	Value string
}

// MaxLabel is the longest Button Label every platform shows whole
// (Slack allows 75 characters, Discord 80): a renderer cuts a longer one,
// which then may no longer say what the button does.
const MaxLabel = 75

// Button is an action a person can take; Action and Value are what the
// platform sends back when it is clicked (parsed like a typed command).
type Button struct {
	Label  string
	Action string // a command text, e.g. "rollback demo local"
	// Short is the same command in fewer bytes, if there is such a form,
	// for a platform that limits an action's length (Discord: 100 bytes).
	Short string
	Style string // "primary", "danger" or ""
}
