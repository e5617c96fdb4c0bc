// Package console is the chat adapter for a terminal or a script: one
// command per line on stdin, replies and progress as plain text lines.
package console

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// Handler runs commands; *commands.Service implements it. AuditRefusal
// records a command read but not run, req.Refused saying why.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome
	AuditRefusal(ctx context.Context, req commands.Request) error
}

// Console reads commands and prints what the bot says.
type Console struct {
	In      io.Reader
	Out     io.Writer
	User    string
	Handler Handler
	// Interactive shows a prompt and lets commands run while a deploy is
	// under way. Otherwise (a script on stdin) each deploy finishes before
	// the next line is read, so a script reads top to bottom.
	Interactive bool
	// Wait, called once the input ends, blocks until every running
	// deploy has finished, or until it gives up waiting (and should let
	// no further one start).
	Wait func()

	mu         sync.Mutex // guards Out and the fields below
	lastDeploy string
	lastFailed bool
	finished   map[string]chan struct{}
	failed     map[string]bool // finished deploys that did not succeed
	// held is the line the reader has read and not yet handed over: Run
	// takes it when it stops, and sets closed so that no further one is.
	held   *string
	closed bool
	// partial is the last line, when the input ended without a newline.
	partial *string
	// handling is set while the Handler runs a command, and deferred
	// holds the progress printed meanwhile: see handle.
	handling bool
	deferred []string
	// prompting is set while the prompt waits for a line, at the end of
	// the output: see show.
	prompting bool
}

// promptText is the interactive console's prompt.
const promptText = "switchman> "

// Channel is the channel the console records its commands in: its own,
// which no chat platform has (a Slack or Discord channel id never reads
// so), so that what is posted there later is known to be the console's.
const Channel = "console"

// Run reads commands until end of input or ctx is done, then waits for
// running deploys. It returns false if the last command failed (a refused
// command, or a deploy that did not succeed), or if Wait gave up on a
// deploy it started.
func (c *Console) Run(ctx context.Context) bool {
	c.finished = map[string]chan struct{}{}
	c.failed = map[string]bool{}
	lines := make(chan *string)
	var readErr error // set before lines is closed
	go func() {
		defer close(lines)
		r := bufio.NewReaderSize(c.In, 64<<10)
		for {
			line, err := readLine(r)
			if err != nil && (err != io.EOF || line == "") {
				if err != io.EOF {
					readErr = err
				}
				return
			}
			c.mu.Lock()
			if c.closed {
				// Read once Run stopped taking lines: not taken.
				c.mu.Unlock()
				return
			}
			c.held = &line
			if err == io.EOF {
				c.partial = &line
			}
			c.mu.Unlock()
			select {
			case lines <- &line:
			case <-ctx.Done():
				return // Run takes the held line
			}
			if err == io.EOF {
				// The last line, ended by Ctrl-D at a terminal rather
				// than a newline: the input has ended there too,
				// though a terminal could still be read.
				return
			}
		}
	}()
	ended := false // lines was closed: readErr is set
	for ctx.Err() == nil {
		c.prompt()
		var line *string
		var ok bool
		select {
		case <-ctx.Done():
		case line, ok = <-lines:
			ended = !ok
		}
		if !ok {
			break
		}
		c.mu.Lock()
		if c.held == line {
			c.held = nil
		}
		c.prompting = false // the line's Enter (or Ctrl-D) ended it
		if c.partial == line && c.Interactive {
			// Ctrl-D after a partial line leaves the cursor behind
			// what was typed: what the line prints starts a line of
			// its own.
			fmt.Fprintln(c.Out)
		}
		c.mu.Unlock()
		if strings.TrimSpace(*line) == "" {
			continue
		}
		if ctx.Err() != nil {
			c.notRun(ctx, *line)
			break
		}
		c.handle(ctx, *line)
	}
	c.mu.Lock()
	if c.prompting {
		// The input ended, or the bot was told to stop, at a prompt:
		// end its line, so that what follows (the last deploys'
		// progress, the shell's prompt) starts at the margin.
		fmt.Fprintln(c.Out)
		c.prompting = false
	}
	c.mu.Unlock()
	if ctx.Err() != nil {
		// Told to stop: a line read meanwhile is not run, nor lost.
		c.mu.Lock()
		c.closed = true
		held := c.held
		c.held = nil
		c.mu.Unlock()
		if held != nil && strings.TrimSpace(*held) != "" {
			c.notRun(ctx, *held)
		}
	}
	if ended && readErr != nil {
		// The rest of the script was not run: say so, and fail.
		c.mu.Lock()
		fmt.Fprint(c.Out, chat.Text(chat.Message{Level: chat.Failure, Title: fmt.Sprintf("cannot read the input, so the commands after this point were not run: %v", readErr)}))
		c.lastFailed = true
		c.mu.Unlock()
	}
	if c.Wait != nil {
		c.Wait()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, done := range c.finished {
		select {
		case <-done:
		default:
			// Wait gave up on it: it did not succeed, not here, and
			// was left half-done, whichever command came last (at a
			// terminal, commands go on while a deploy runs).
			c.lastFailed = true
		}
	}
	return !c.lastFailed
}

// reasonStopping is the audit log's reason for a line read but not run
// because the bot was told to stop, as the chat adapters write it.
const reasonStopping = "Switchman was stopping; nothing was run"

// notRunTimeout bounds the audit write of a line not run.
const notRunTimeout = 10 * time.Second

// notRun tells the user that line, read as the bot was told to stop, was
// not run, and audits it as refused.
func (c *Console) notRun(ctx context.Context, line string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notRunTimeout)
	defer cancel()
	err := c.Handler.AuditRefusal(ctx, commands.Request{User: c.User, Platform: "console", Channel: Channel, Text: line, Refused: reasonStopping, RefusedFor: commands.RefusalDraining})
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprint(c.Out, chat.Text(chat.Message{Level: chat.Failure, Title: fmt.Sprintf("Switchman is stopping, so %s was not run.", echo(line))}))
	if err != nil {
		fmt.Fprint(c.Out, chat.Text(chat.Message{Level: chat.Failure, Title: "The audit log is unreachable: " + err.Error()}))
	}
}

// echo quotes user text for a reply, cut to 40 characters.
func echo(s string) string {
	const maxEcho = 40
	if utf8.RuneCountInString(s) > maxEcho {
		s = string([]rune(s)[:maxEcho]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// maxLine is how much of a line is kept: far more than any command may
// be (commands.MaxCommandLen), so that a longer one reaches the handler
// long enough to be refused, and audited, whole.
const maxLine = 64 << 10

// readLine reads one line, without its end of line (\n or \r\n), keeping
// at most maxLine+1 bytes of it and skipping the rest. It returns io.EOF
// with the last line when the input ends without a newline.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if room := maxLine + 1 - len(b); room > 0 {
			b = append(b, chunk[:min(len(chunk), room)]...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		return string(b), err
	}
}

func (c *Console) prompt() {
	if c.Interactive {
		c.mu.Lock()
		fmt.Fprint(c.Out, promptText)
		c.prompting = true
		c.mu.Unlock()
	}
}

// show prints text, a whole number of lines; c.mu is held. At a terminal,
// commands run while a deploy does, and its progress arrives while the
// prompt waits: printed after it, the first line would follow the prompt
// on its line, and the prompt would then be gone above the progress. So
// the prompt's line is blanked first and the prompt shown again after.
func (c *Console) show(text string) {
	if !c.prompting {
		fmt.Fprint(c.Out, text)
		return
	}
	fmt.Fprint(c.Out, "\r"+strings.Repeat(" ", len(promptText))+"\r"+text+promptText)
}

func (c *Console) handle(ctx context.Context, line string) {
	req := commands.Request{User: c.User, Platform: "console", Channel: Channel, Text: line}
	if m := commands.LeadingMention(line); m != "" {
		// Parse would strip it as the bot's mention, which only a chat
		// platform can tell: here it may name anyone (or be pasted from
		// Slack), and the command is not run on a guess.
		req.Refused = fmt.Sprintf("%s is a chat mention, and the console cannot tell whom it names: type the command without it", echo(m))
	}
	// A deploy or rollback sends progress from the moment it starts,
	// before the Handler has replied that it started ("Deploying demo 2
	// … (deploy ID)"): its first steps and notes are held until the
	// Handler returns, so that they follow that reply.
	c.mu.Lock()
	c.handling = true
	c.mu.Unlock()
	res := c.Handler.Handle(ctx, req, c)
	c.mu.Lock()
	c.handling = false
	for _, text := range c.deferred {
		fmt.Fprint(c.Out, text)
	}
	c.deferred = nil
	c.lastFailed = res.Failed || c.failed[res.DeployID]
	c.lastDeploy = res.DeployID
	done := c.finished[res.DeployID]
	if res.DeployID != "" && done == nil {
		done = make(chan struct{})
		c.finished[res.DeployID] = done
	}
	c.mu.Unlock()
	if res.DeployID != "" && !c.Interactive {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}

// Reply prints a reply to the console user.
func (c *Console) Reply(m chat.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.show(chat.Text(m))
}

// Progress prints one deploy event and notes how the last deploy ended.
func (c *Console) Progress(ev deploy.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The reply already said the deploy started, and a step that ends
	// prints its own line: the console shows finished steps only.
	if ev.Kind != deploy.EventStarted && (ev.Kind != deploy.EventStep || ev.Done) {
		text := chat.Text(commands.EventMessage(ev))
		if c.handling {
			c.deferred = append(c.deferred, text)
		} else {
			c.show(text)
		}
	}
	if ev.Kind != deploy.EventFinished {
		return
	}
	if ev.Record != nil && ev.Record.Outcome != deploy.OutcomeSucceeded {
		c.failed[ev.DeployID] = true
		if ev.DeployID == c.lastDeploy {
			c.lastFailed = true
		}
	}
	// The event may arrive before handle() registered the deploy.
	done := c.finished[ev.DeployID]
	if done == nil {
		done = make(chan struct{})
		c.finished[ev.DeployID] = done
	}
	close(done)
}
