// Package audit defines the audit trail entry: one record of every command,
// every decision (allowed or refused, with the reason) and every state change.
package audit

import "time"

// Decision says what the bot decided about a command.
type Decision string

const (
	Allowed Decision = "allowed"
	Refused Decision = "refused"
	// Event marks a state change that is not a user's command (a deploy
	// finished, a lock expired, recovery marked a deploy interrupted).
	Event Decision = "event"
)

// Entry is one line of the audit log. Entries are append-only.
type Entry struct {
	// Seq is assigned by the store, increasing.
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	User     string    `json:"user"`
	Platform string    `json:"platform,omitempty"`
	Channel  string    `json:"channel,omitempty"`
	// Command is the text as the user typed it (or a description of the event).
	Command  string   `json:"command"`
	Action   string   `json:"action,omitempty"` // deploy, rollback, lock, …
	App      string   `json:"app,omitempty"`
	Env      string   `json:"env,omitempty"`
	Decision Decision `json:"decision"`
	Reason   string   `json:"reason,omitempty"`
	// DeployID links to a deploy record when the command started one.
	DeployID string `json:"deploy_id,omitempty"`
}

// Query selects audit entries, newest first.
type Query struct {
	App   string
	Since time.Time
	Limit int
}
