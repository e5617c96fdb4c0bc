package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/chat"
	"github.com/switchman-bot/switchman/internal/chat/chattest"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/syncbuf"
)

// recorder is a Handler that records the commands it gets and refuses
// those longer than a command may be.
type recorder struct {
	chattest.Refusals
	mu      sync.Mutex
	got     []string
	lens    []int
	refused []string // Request.Refused of each command
}

func (r *recorder) Handle(_ context.Context, req commands.Request, _ commands.Output) commands.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, req.Text[:min(len(req.Text), 20)])
	r.lens = append(r.lens, len(req.Text))
	r.refused = append(r.refused, req.Refused)
	return commands.Outcome{Failed: len(req.Text) > commands.MaxCommandLen || req.Refused != ""}
}

// failingReader returns data, then err.
type failingReader struct {
	data io.Reader
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.data.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// terminalReader returns its reads in turn, as a terminal does: Ctrl-D
// after a partial line ends that read with what was typed, and Ctrl-D at
// the start of a line is a read of 0 bytes, io.EOF; what is typed after it
// is read again.
type terminalReader struct {
	reads []string // "" is a Ctrl-D at the start of a line
}

func (r *terminalReader) Read(p []byte) (int, error) {
	if len(r.reads) == 0 {
		return 0, io.EOF
	}
	s := r.reads[0]
	r.reads = r.reads[1:]
	if s == "" {
		return 0, io.EOF
	}
	return copy(p, s), nil
}

// TestRunReadsEveryLine: a line far longer than a command reaches the
// handler, long enough to be refused, and the lines after it still run;
// CRLF line ends and a last line without one are read; input that cannot
// be read fails the run and says so; the end of the input ends it, even at
// a terminal that could still be read from.
func TestRunReadsEveryLine(t *testing.T) {
	huge := strings.Repeat("x", 2<<20)
	tests := []struct {
		name    string
		in      io.Reader
		want    []string
		ok      bool
		saysErr bool
	}{
		{"overlong line", strings.NewReader("status\n" + huge + "\nlock deploys demo maintenance\nstatus\n"),
			[]string{"status", strings.Repeat("x", 20), "lock deploys demo ma", "status"}, true, false},
		{"overlong last line", strings.NewReader("status\n" + huge),
			[]string{"status", strings.Repeat("x", 20)}, false, false},
		{"crlf and no final newline", strings.NewReader("status\r\nhistory"),
			[]string{"status", "history"}, true, false},
		{"ctrl-d twice after a partial line", &terminalReader{reads: []string{"status", "", "lock deploys demo maintenance\n", ""}},
			[]string{"status"}, true, false},
		{"read error", &failingReader{data: strings.NewReader("status\n"), err: errors.New("input/output error")},
			[]string{"status"}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &recorder{}
			var out bytes.Buffer
			c := &Console{In: tt.in, Out: &out, User: "alice", Handler: h}
			ok := c.Run(context.Background())
			if strings.Join(h.got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("handled %q, want %q", h.got, tt.want)
			}
			for i, n := range h.lens {
				if n > maxLine+1 {
					t.Errorf("command %d: %d bytes reached the handler, want at most %d", i, n, maxLine+1)
				}
			}
			if ok != tt.ok {
				t.Errorf("Run returned %v, want %v; output %q", ok, tt.ok, out.String())
			}
			if says := strings.Contains(out.String(), "cannot read the input"); says != tt.saysErr {
				t.Errorf("output %q: says it cannot read the input: %v, want %v", out.String(), says, tt.saysErr)
			}
		})
	}
}

// replier answers every command with one line.
type replier struct{ chattest.Refusals }

func (*replier) Handle(_ context.Context, req commands.Request, out commands.Output) commands.Outcome {
	out.Reply(chat.Message{Title: "ran " + req.Text})
	return commands.Outcome{}
}

// TestRunAtTerminalEndsItsLines: at a terminal, Ctrl-D after a partial
// line runs it with the cursor still behind what was typed, and Ctrl-D at
// a prompt ends the input there: neither leaves the next output (the
// reply, the shell's prompt) glued to that line.
func TestRunAtTerminalEndsItsLines(t *testing.T) {
	tests := []struct {
		name  string
		reads []string
		want  string
	}{
		{"ctrl-d at a prompt", []string{"status\n", ""},
			"switchman> ran status\nswitchman> \n"},
		{"ctrl-d after a partial line", []string{"status\n", "whoami", ""},
			"switchman> ran status\nswitchman> \nran whoami\nswitchman> \n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c := &Console{In: &terminalReader{reads: tt.reads}, Out: &out, User: "alice", Handler: &replier{}, Interactive: true}
			if !c.Run(context.Background()) {
				t.Fatalf("Run returned false, want true; output %q", out.String())
			}
			if got := out.String(); got != tt.want {
				t.Errorf("output %q, want %q", got, tt.want)
			}
		})
	}
}

// earlyProgress starts a deploy whose first event arrives, as it may,
// before the reply saying that the deploy started.
type earlyProgress struct{ chattest.Refusals }

func (*earlyProgress) Handle(_ context.Context, req commands.Request, out commands.Output) commands.Outcome {
	id := "20261123-124158-b25a0a"
	out.Progress(deploy.Event{Kind: deploy.EventNote, DeployID: id, App: "demo", Env: "local", Text: "localhost already has release 2; skipping the download"})
	out.Reply(chat.Message{Level: chat.Info, Title: "Deploying demo 2 to local (deploy " + id + ")"})
	out.Progress(deploy.Event{Kind: deploy.EventFinished, DeployID: id, App: "demo", Env: "local", Record: &deploy.Record{ID: id, Outcome: deploy.OutcomeSucceeded}})
	return commands.Outcome{DeployID: id}
}

// TestRunPrintsTheReplyBeforeProgress: progress a deploy sends before its
// start is replied is printed after that reply, script or terminal.
func TestRunPrintsTheReplyBeforeProgress(t *testing.T) {
	for _, interactive := range []bool{false, true} {
		t.Run(fmt.Sprintf("interactive=%v", interactive), func(t *testing.T) {
			var out bytes.Buffer
			c := &Console{In: strings.NewReader("deploy demo 2\n"), Out: &out, User: "alice", Handler: &earlyProgress{}, Interactive: interactive}
			c.Run(context.Background())
			got := out.String()
			reply, note := strings.Index(got, "Deploying demo 2"), strings.Index(got, "skipping the download")
			if reply < 0 || note < 0 || note < reply {
				t.Errorf("output %q: want the reply \"Deploying demo 2 …\", then the note \"… skipping the download\"", got)
			}
		})
	}
}

// TestRunKeepsThePromptBelowProgress: at a terminal, what a running
// deploy prints while the prompt waits for the next command takes the
// prompt's line, and the prompt follows it, rather than the progress
// starting behind the prompt and leaving none below it.
func TestRunKeepsThePromptBelowProgress(t *testing.T) {
	in, typed := io.Pipe()
	var out syncbuf.Buffer
	c := &Console{In: in, Out: &out, User: "alice", Handler: &replier{}, Interactive: true}
	done := make(chan bool)
	go func() { done <- c.Run(context.Background()) }()
	io.WriteString(typed, "status\n")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.HasSuffix(out.String(), "ran status\nswitchman> ") {
		if time.Now().After(deadline) {
			t.Fatalf("output %q: got no prompt after the reply", out.String())
		}
		time.Sleep(time.Millisecond)
	}
	c.Reply(chat.Message{Title: "  localhost: restart ✓"})
	typed.Close()
	<-done
	want := "switchman> ran status\nswitchman> \r           \r  localhost: restart ✓\nswitchman> \n"
	if got := out.String(); got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

// TestRunRefusesChatMentions: the console has no platform users, so a
// line starting with a chat mention (pasted from Slack, or naming someone)
// cannot be told to address the bot: it is refused, through the handler
// so that the refusal is answered and audited, rather than run as if it
// named the bot. The bot's name is not such a mention.
func TestRunRefusesChatMentions(t *testing.T) {
	tests := []struct {
		line    string
		refused string // a part of Request.Refused; "" for none
	}{
		{"<@U123> deploy demo 2", `"<@U123>" is a chat mention`},
		{"  <@!42>: status", `"<@!42>" is a chat mention`},
		{"<@U123|bob> status", `"<@U123|bob>" is a chat mention`},
		{"@switchman deploy demo 2", ""},
		{"deploy demo 2", ""},
		{"lock deploys demo see <@U123>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			h := &recorder{}
			var out bytes.Buffer
			c := &Console{In: strings.NewReader(tt.line + "\n"), Out: &out, User: "alice", Handler: h}
			ok := c.Run(context.Background())
			if len(h.refused) != 1 {
				t.Fatalf("handled %q, want the line once", h.got)
			}
			got := h.refused[0]
			if tt.refused == "" && got != "" || !strings.Contains(got, tt.refused) {
				t.Errorf("Refused: got %q, want it to contain %q", got, tt.refused)
			}
			if tt.refused != "" && (ok || !strings.Contains(got, "type the command without it")) {
				t.Errorf("got ok=%v, Refused %q, want a failed run saying what to do", ok, got)
			}
		})
	}
}
