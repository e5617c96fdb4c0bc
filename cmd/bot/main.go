// Command bot is Switchman, the ChatOps deploy bot. It only parses flags
// and wires the packages together; see run.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// SIGHUP as well: the bot reloads nothing, and a hangup (a terminal
	// closed on the console, a `kill -HUP` meant as a reload) would
	// otherwise end it at once, mid-deploy, with nothing drained or said.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	// The first signal stops the bot gently: running deploys finish and
	// post their final state, for up to drainTimeout. From then on a
	// signal has its default effect, so that a second one (Ctrl-C again,
	// a supervisor that will not wait) ends the process at once; kept
	// relayed, it was dropped, and only SIGKILL stopped a bot waiting
	// for a stuck restart. A deploy cut short so is reported interrupted
	// at the next start, as after a crash.
	context.AfterFunc(ctx, func() {
		stop()
		sayStopping(ctx, os.Stderr)
	})
	err := run(ctx, os.Args[1:], stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	var exit exitCode
	switch {
	case errors.As(err, &exit):
		os.Exit(int(exit))
	case err != nil:
		// 2 is for a command line not understood (run returns it as an
		// exitCode); a bot that could not start or run is a failure.
		fmt.Fprintln(os.Stderr, "switchman:", err)
		os.Exit(1)
	}
}

// sayStopping tells, once a signal ended ctx (signal.NotifyContext's), how
// the bot stops. ctx also ends when main calls stop after run returned:
// the bot stopped by itself (a failed start, the end of a console script),
// no signal came, and there is nothing to say; said, the line looked like
// a signal nobody sent and a drain that was not happening.
func sayStopping(ctx context.Context, w io.Writer) {
	if context.Cause(ctx) == context.Canceled {
		return
	}
	fmt.Fprintf(w, "switchman: stopping once running deploys finish (at most %s); signal again to stop now, leaving them to be reported interrupted at the next start\n", drainTimeout)
}
