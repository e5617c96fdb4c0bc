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

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
)

// Handler runs commands; *commands.Service implements it.
type Handler interface {
	Handle(ctx context.Context, req commands.Request, out commands.Output) commands.Outcome
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
	// deploy has finished (and should let no further one start).
	Wait func()

	mu         sync.Mutex // guards Out and the fields below
	lastDeploy string
	lastFailed bool
	finished   map[string]chan struct{}
	failed     map[string]bool // finished deploys that did not succeed
}

// Run reads commands until end of input or ctx is done, then waits for
// running deploys. It returns false if the last command failed (a refused
// command, or a deploy that did not succeed).
func (c *Console) Run(ctx context.Context) bool {
	c.finished = map[string]chan struct{}{}
	c.failed = map[string]bool{}
	lines := make(chan string)
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
			select {
			case lines <- line:
			case <-ctx.Done():
				return
			}
		}
	}()
	ended := false // lines was closed: readErr is set
	for {
		c.prompt()
		var line string
		var ok bool
		select {
		case <-ctx.Done():
			ok = false
		case line, ok = <-lines:
			ended = !ok
		}
		if !ok {
			break
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		c.handle(ctx, line)
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
	return !c.lastFailed
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
		fmt.Fprint(c.Out, "switchman> ")
		c.mu.Unlock()
	}
}

func (c *Console) handle(ctx context.Context, line string) {
	res := c.Handler.Handle(ctx, commands.Request{User: c.User, Platform: "console", Channel: "console", Text: line}, c)
	c.mu.Lock()
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
	fmt.Fprint(c.Out, chat.Text(m))
}

// Progress prints one deploy event and notes how the last deploy ended.
func (c *Console) Progress(ev deploy.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The reply already said the deploy started, and a step that ends
	// prints its own line: the console shows finished steps only.
	if ev.Kind != deploy.EventStarted && (ev.Kind != deploy.EventStep || ev.Done) {
		fmt.Fprint(c.Out, chat.Text(commands.EventMessage(ev)))
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
