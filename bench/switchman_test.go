package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// switchman is the bot set up to deploy one artifact set to the first n
// hosts with one delivery and compression, with its own config and store.
type switchman struct {
	e    *env
	n    int
	name string
	dir  string
	cfg  string
	runs int // measured commands so far, to name their profiles
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

// console is `bot -config FILE console` reading input.
func (s *switchman) console(input string) *exec.Cmd {
	cmd := exec.Command(s.e.bot, "-config", s.cfg, "console")
	cmd.Dir = s.dir
	cmd.Stdin = strings.NewReader(input)
	return cmd
}

// measured is console for a measured command, profiled into BENCH_PROFILE
// when it is set: ROW-WHAT-RUN.cpu.pprof and .mem.pprof.
func (s *switchman) measured(what, input string) *exec.Cmd {
	cmd := s.console(input)
	if s.e.profile != "" {
		s.runs++
		base := filepath.Join(s.e.profile, fmt.Sprintf("%s-%s-%d", s.name, what, s.runs))
		cmd.Args = append(cmd.Args, "-cpuprofile", base+".cpu.pprof", "-memprofile", base+".mem.pprof")
	}
	return cmd
}

// run runs console commands, unmeasured.
func (s *switchman) run(input string) error {
	return (&meter{}).run(s.console(input))
}

// deploy is the tool interface's deploy: `deploy app BUILD`.
func (s *switchman) deploy(m *meter, build string) error {
	return m.run(s.measured("deploy", fmt.Sprintf("deploy %s %s\n", app, build)))
}

// rollback is `rollback app`: back to the previous release.
func (s *switchman) rollback(m *meter) error {
	return m.run(s.measured("rollback", "rollback "+app+"\n"))
}

// prepare readies the next measured deploy of build: a rollback locks the
// env until someone unlocks it.
func (s *switchman) prepare(first bool) error {
	if first {
		return nil
	}
	return s.run(fmt.Sprintf("unlock deploys %s %s\n", app, botEnv))
}
