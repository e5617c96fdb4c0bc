package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// switchman is the bot set up to deploy one artifact set to the first n
// hosts with one delivery and compression, with its own config and store.
type switchman struct {
	e    *env
	n    int
	name string
	dir  string
	cfg  string
	runs int // runs so far, to name their profiles
	bot  *console
	// warm has each run's console read the hosts (`status APP`,
	// unmeasured) before the deploy, as a bot that has answered a status,
	// deploy or rollback within ssh.keep_warm holds the connections.
	warm bool
}

const botEnv = "fleet"

// newSwitchman writes the config: an ssh env of n hosts with the fleet's
// user, key and known_hosts; parallel = batch_size = n, so that every host
// receives the artifact and restarts at once; a no-op restart and a health
// command reading the deployed BUILD file.
func (e *env) newSwitchman(name string, n int, set *artifactSet, comp, delivery string) *switchman {
	e.b.Helper()
	dir := filepath.Join(e.dir, "switchman", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.b.Fatal(err)
	}
	q := strconv.Quote
	var hosts strings.Builder
	for _, h := range e.hosts(n) {
		fmt.Fprintf(&hosts, "          - {name: %s, address: %s}\n", q(h.Name), q(h.Addr))
	}
	art := "path: " + q(set.pathTemplate(comp))
	if delivery == "pull" {
		art = "url: " + q(set.urlTemplate(e.http.URL, comp))
	}
	cfg := fmt.Sprintf(`bot:
  console_user: bench
  log_level: warn
store:
  path: state.db
admins: [bench]
apps:
  %[1]s:
    artifact:
      %[2]s
    delivery: %[3]s
    path: %[4]s
    keep_releases: 5
    restart: "true"
    health:
      command: test "$(cat current/BUILD)" = {build}
      timeout: 60s
      interval: 200ms
    environments:
      %[5]s:
        transport: ssh
        ssh:
          user: %[6]s
          key_file: %[7]s
          known_hosts: %[8]s
        parallel: %[9]d
        batch_size: %[9]d
        step_timeout: 15m
        hosts:
%[10]s`, app, art, delivery, appDir, botEnv, q(e.fleet.User), q(e.fleet.ClientKey), q(e.fleet.KnownHosts), n, hosts.String())
	s := &switchman{e: e, n: n, name: name, dir: dir, cfg: filepath.Join(dir, "switchman.yaml")}
	if err := os.WriteFile(s.cfg, []byte(cfg), 0o644); err != nil {
		e.b.Fatal(err)
	}
	return s
}

// The bot is what it is in use, a long-running process: each run starts
// one `bot console` (unmeasured, as a running bot is there before anyone
// types /deploy), which takes the deploy and then, after the hosts are
// checked, the rollback, so that the rollback finds the connections the
// deploy left warm (ssh.keep_warm), as a rollback soon after a deploy
// does. The deploy itself starts cold: a new process has none.

// console is the bot's console of the current run, between prepare and
// finish.
type console struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string // its output and its log, closed at their end
}

// sentinel ends every command sent to the console: the console reads a
// line only once the deploy before it has finished, and whoami's reply
// is this line.
const sentinel = "whoami\n"

func (s *switchman) start() (*console, error) {
	cmd := exec.Command(s.e.bot, "-config", s.cfg, "console")
	cmd.Dir = s.dir
	if s.e.profile != "" {
		s.runs++
		base := filepath.Join(s.e.profile, fmt.Sprintf("%s-%d", s.name, s.runs))
		cmd.Args = append(cmd.Args, "-cpuprofile", base+".cpu.pprof", "-memprofile", base+".mem.pprof")
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c := &console{cmd: cmd, lines: make(chan string, 1024)}
	var err error
	if c.in, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// The log in the same pipe: it shows where it happened in the output
	// an error quotes.
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.e.live[cmd.Process.Pid] = true
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	return c, nil
}

// command sends input and waits, at most timeout (0: no limit), for the
// console to have done it; its output must hold want.
func (c *console) command(input, want string, timeout time.Duration) error {
	if _, err := io.WriteString(c.in, input+sentinel); err != nil {
		return fmt.Errorf("bot console: %w", err)
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	var out strings.Builder
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				return fmt.Errorf("bot console %q: ended early\n%s", strings.TrimSpace(input), tailString(out.String(), 4000))
			}
			if strings.Contains(line, "You are bench (console)") {
				if !strings.Contains(out.String(), want) {
					return fmt.Errorf("bot console %q: no %q in its output\n%s", strings.TrimSpace(input), want, tailString(out.String(), 4000))
				}
				if verbose {
					fmt.Printf("--- bot console %s\n%s", strings.TrimSpace(input), out.String())
				}
				return nil
			}
			out.WriteString(line + "\n")
		case <-expired:
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL) // finish reaps it
			return fmt.Errorf("bot console %q: %w: killed after %s", strings.TrimSpace(input), errHung, timeout)
		}
	}
}

// deploy is the tool interface's deploy: `deploy app BUILD`.
func (s *switchman) deploy(m *meter, build string) error {
	return s.bot.command(fmt.Sprintf("deploy %s %s\n", app, build), fmt.Sprintf("%s/%s now runs %s (", app, botEnv, build), m.timeout)
}

// rollback is `rollback app`: back to the previous release.
func (s *switchman) rollback(m *meter) error {
	return s.bot.command("rollback "+app+"\n", "Rollback ", m.timeout)
}

// prepare starts the run's console; after the first run it unlocks the
// env, which a rollback leaves locked until someone unlocks it.
func (s *switchman) prepare(first bool) error {
	c, err := s.start()
	if err != nil {
		return err
	}
	s.bot = c
	if !first {
		if err := c.command(fmt.Sprintf("unlock deploys %s %s\n", app, botEnv), "", s.e.timeout); err != nil {
			return err
		}
	}
	if s.warm {
		return c.command(fmt.Sprintf("status %s\n", app), ": current 1,", s.e.timeout)
	}
	return nil
}

// finish ends the run's console: it closes its input, which stops the bot
// (closing the connections it keeps warm).
func (s *switchman) finish() error {
	c := s.bot
	if c == nil {
		return nil
	}
	s.bot = nil
	c.in.Close()
	t := time.AfterFunc(30*time.Second, func() { _ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL) })
	defer t.Stop()
	var goodbye strings.Builder
	for line := range c.lines {
		goodbye.WriteString(line + "\n")
	}
	err := c.cmd.Wait()
	delete(s.e.live, c.cmd.Process.Pid)
	if err != nil {
		return fmt.Errorf("bot console: %w\n%s", err, tailString(goodbye.String(), 4000))
	}
	return nil
}

// warmed makes s's deploys start on connections kept warm.
func (s *switchman) warmed() *switchman {
	s.warm = true
	return s
}
