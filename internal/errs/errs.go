// Package errs gives errors a code and a message meant for people, so the
// chat layer can say exactly what went wrong while logs keep the cause.
package errs

import (
	"errors"
	"fmt"
	"strings"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// Code classifies an error for the person who caused it.
type Code string

const (
	Invalid     Code = "invalid"     // the request is malformed or names something that does not exist
	NotFound    Code = "not_found"   // a build, record or lock does not exist
	Conflict    Code = "conflict"    // something else holds the app+env (a deploy, a lock)
	Forbidden   Code = "forbidden"   // the user lacks a grant, or a window is closed
	Unavailable Code = "unavailable" // a dependency (store, host) cannot be reached
	NoChange    Code = "no_change"   // nothing to do; not a failure
	Internal    Code = "internal"    // a bug or an unexpected failure
)

// Error is an error with a code and a message for people. Err, when set, is
// the cause for operators; it is never shown in chat.
type Error struct {
	Code Code
	Msg  string
	Err  error
}

// Error returns the message and the cause, for logs. What the message
// already quotes of its cause ("... failed: %v", or the cause's own message)
// is not said again: a failed deploy's log line would otherwise repeat a
// host's error once for every layer that reported it. The marks of the
// commands the message suggests (see suggest) are for chat, and left out.
func (e *Error) Error() string {
	msg := suggest.Strip(e.Msg)
	cause := e.Err
	for cause != nil {
		if strings.Contains(msg, cause.Error()) {
			return msg
		}
		in, ok := cause.(*Error)
		if !ok || !strings.Contains(msg, suggest.Strip(in.Msg)) {
			break
		}
		cause = in.Err
	}
	if cause == nil {
		return msg
	}
	return msg + ": " + cause.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with code and a formatted message for people.
func New(code Code, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with code and message whose cause is err.
func Wrap(code Code, err error, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Message returns what to tell people about err: the message of the first
// *Error in its chain, or a generic sentence that leaks no internals.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return "internal error (details are in the bot's log)"
}
