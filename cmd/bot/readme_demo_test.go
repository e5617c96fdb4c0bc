package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
)

// readmeDemoAddr is where the README's demo app listens.
const readmeDemoAddr = "127.0.0.1:8099"

// readmeStep is one command of the README's demo and what the README
// shows it print.
type readmeStep struct {
	line  int    // of the command in README.md
	stdin string // the console's input; "" for a curl of the app's health
	want  []string
}

// readmeDemoSteps reads the console blocks of the README's demo section:
// "$ printf '…' | bin/bot … console" and "switchman> COMMAND" run
// commands, "$ curl …/health" asks the demo app, and the lines up to the
// next of these are what it prints.
func readmeDemoSteps(t *testing.T) []readmeStep {
	t.Helper()
	md, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var (
		steps            []readmeStep
		inDemo, inBlock  bool
		n                int
		printfPattern    = regexp.MustCompile(`^\$ printf '(.*)' \| bin/bot .* console$`)
		healthURLPattern = regexp.MustCompile(`^\$ curl \S+/health$`)
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			inDemo = line == "## The demo"
		case !inDemo:
		case line == "```console":
			inBlock = true
		case line == "```":
			inBlock = false
		case !inBlock:
		case strings.HasPrefix(line, "switchman> "):
			steps = append(steps, readmeStep{line: n, stdin: strings.TrimPrefix(line, "switchman> ") + "\n"})
		case printfPattern.MatchString(line):
			steps = append(steps, readmeStep{line: n, stdin: strings.ReplaceAll(printfPattern.FindStringSubmatch(line)[1], `\n`, "\n")})
		case healthURLPattern.MatchString(line):
			steps = append(steps, readmeStep{line: n})
		case len(steps) == 0:
			t.Fatalf("README.md:%d: got output %q before any command", n, line)
		default:
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, line)
		}
	}
	if len(steps) == 0 {
		t.Fatal("README.md: got no command in the demo section, want its console blocks")
	}
	return steps
}

var (
	// What differs from run to run: deploy ids, times, durations.
	readmeDeployID = regexp.MustCompile(`\b\d{8}-\d{6}-[0-9a-f]{6}\b`)
	readmeTime     = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC\b`)
	readmeDuration = regexp.MustCompile(`\b\d+(\.\d+)?(ms|s)\b`)
)

// readmeNormal replaces in line what differs from run to run, and the
// demo app's address, with fixed words.
func readmeNormal(line, addr string) string {
	line = strings.ReplaceAll(line, addr, "ADDR")
	line = readmeDeployID.ReplaceAllString(line, "ID")
	line = readmeTime.ReplaceAllString(line, "TIME")
	return readmeDuration.ReplaceAllString(line, "DURATION")
}

// readmeMatches reports whether got, the lines a command printed, are
// those the README shows: each line as shown, where "…" stands for any
// text, and a line "…" alone for any number of lines.
func readmeMatches(want, got []string, addr string) bool {
	var patterns []*regexp.Regexp // nil: any lines
	for _, w := range want {
		if strings.TrimSpace(w) == "…" {
			patterns = append(patterns, nil)
			continue
		}
		parts := strings.Split(readmeNormal(w, readmeDemoAddr), "…")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		patterns = append(patterns, regexp.MustCompile("^"+strings.Join(parts, ".*")+"$"))
	}
	for i, g := range got {
		got[i] = readmeNormal(g, addr)
	}
	var match func(p, g int) bool
	match = func(p, g int) bool {
		switch {
		case p == len(patterns):
			return g == len(got)
		case patterns[p] == nil:
			for k := g; k <= len(got); k++ {
				if match(p+1, k) {
					return true
				}
			}
			return false
		default:
			return g < len(got) && patterns[p].MatchString(got[g]) && match(p+1, g+1)
		}
	}
	return match(0, 0)
}

// TestReadmeDemo runs the README's demo, command by command, against the
// real demo builds, and checks that each prints what the README shows:
// the first thing a new user runs, and compares.
func TestReadmeDemo(t *testing.T) {
	f := newDemo(t)
	for _, s := range readmeDemoSteps(t) {
		var out string
		if s.stdin == "" {
			out = f.health(t) + "\n"
		} else {
			var stdout, stderr bytes.Buffer
			run(context.Background(), []string{"-config", f.cfg, "console"}, stdio{In: strings.NewReader(s.stdin), Out: &stdout, Err: &stderr})
			out = stdout.String()
		}
		got := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if !readmeMatches(s.want, got, f.addr) {
			t.Errorf("README.md:%d: %q printed\n%s\nwant what the README shows:\n%s", s.line, strings.TrimSpace(s.stdin), out, strings.Join(s.want, "\n"))
		}
	}
}
