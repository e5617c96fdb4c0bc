package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkPeers measures Switchman side by side with Capistrano, Ansible
// and Fabric: the same hosts, the same artifacts, the same layout
// (releases/<build>, current, shared/), a no-op restart and a health check
// reading the deployed BUILD file. It ignores b.N: the whole matrix runs
// once and a Markdown table is printed.
//
//	apt-get install -y capistrano ansible-core python3-fabric
//	make bench-peers
func BenchmarkPeers(b *testing.B) {
	onlyWhenNamed(b, "Peers", "bench-peers")
	k := readKnobs(b, "5,100")
	python := peerCommands(b)
	fetch := "curl"
	if f := os.Getenv("BENCH_CAP_FETCH"); f != "" {
		fetch = f
	}
	capFetch := map[string]string{"curl": "hosts fetch the tarball with curl", "upload": "the tarball is uploaded with upload! (SCP)"}[fetch]
	if capFetch == "" {
		b.Fatalf("BENCH_CAP_FETCH=%q: want curl or upload", fetch)
	}
	started := time.Now()
	e := newEnv(b, k)
	sets := e.artifacts(k.Sizes, []string{gz})

	t := &table{head: []string{"hosts", "size MB", "tool", "runs", "deploy s", "× floor", "CPU s", "host CPU s", "peak RSS MB", "tree PSS MB", "rollback s"}}
	var notes []string // skipped cells, hung runs
	// seen is each tool's median deploy, and seenBack its median rollback
	// (the timeout where one hung), at the most hosts so far, by size.
	type seenRow struct {
		hosts int
		wall  time.Duration
	}
	seen, seenBack := map[string]seenRow{}, map[string]seenRow{}
	for _, n := range k.Hosts {
		for _, mb := range k.Sizes {
			set := sets[mb]
			if !e.fits(n, set) {
				notes = append(notes, e.skipNote(n, set))
				continue
			}
			art := set.get("2", gz)
			cell := fmt.Sprintf("N=%d %dMB", n, mb)
			fl, runs := e.floors(cell, art, n, k)
			floor := fl[floorUnpack]
			size := mbCell(art.Bytes)
			for _, name := range []string{floorLocal, floorStream, floorUnpack} {
				s, r := fl[name], "1"
				if name == floorUnpack {
					r = strconv.Itoa(runs)
				}
				t.add(strconv.Itoa(n), size, "floor "+floorNames[name], r, secs(s.Wall), ratio(s.Wall, floor.Wall), secs(s.CPU), secs(s.HostCPU), mbCell(s.MaxRSS), mbCell(s.PeakPSS), "")
			}
			tools := []struct {
				name string
				tool tool
			}{
				{"switchman push", e.newSwitchman(fmt.Sprintf("n%d-%dmb-push", n, mb), n, set, gz, "push")},
				{"switchman pull", e.newSwitchman(fmt.Sprintf("n%d-%dmb-pull", n, mb), n, set, gz, "pull")},
				{"switchman warm push", e.newSwitchman(fmt.Sprintf("n%d-%dmb-warm-push", n, mb), n, set, gz, "push").warmed()},
				{"capistrano", e.newCapistrano(n, set, fetch)},
				{"ansible", e.newAnsible(n, set)},
				{"fabric", e.newFabric(n, set, python)},
			}
			for _, tl := range tools {
				if !k.wants(tl.name) {
					continue
				}
				peer := !strings.HasPrefix(tl.name, "switchman")
				key := fmt.Sprintf("%s %d", tl.name, mb)
				var proj projection // times scaled from fewer hosts
				if prev, ok := seen[key]; ok && peer {
					// A peer whose deploy, scaled from fewer hosts, would
					// outlive the timeout is not run: Ansible at 50 hosts
					// only ever showed the timeout, minutes later.
					if proj.Deploy = prev.wall * time.Duration(n) / time.Duration(prev.hosts); proj.Deploy > k.Timeout {
						notes = append(notes, fmt.Sprintf("%s %s: not run: its %d-host deploy took %s, so %d hosts would take about %s, beyond the %s timeout (BENCH_TIMEOUT_SECONDS).",
							cell, tl.name, prev.hosts, prev.wall.Round(10*time.Millisecond), n, proj.Deploy.Round(time.Second), k.Timeout))
						t.add(overRow(n, size, tl.name, k)...)
						continue
					}
				}
				prevBack, hasBack := seenBack[key]
				if hasBack && peer {
					proj.Rollback = prevBack.wall * time.Duration(n) / time.Duration(prevBack.hosts)
				}
				r := e.runTool(cell+" "+tl.name, tl.tool, n, set, k, peer, proj)
				if r.RollbackSkipped {
					notes = append(notes, rollbackSkippedNote(cell+" "+tl.name, prevBack.hosts, prevBack.wall, n, proj, r.RollbackProjected, k.Timeout))
				}
				if r.Repeated != "" || r.RollbackHung {
					notes = append(notes, repeatNote(cell+" "+tl.name, r, k))
				}
				switch {
				case r.RollbackHung || r.RollbackSkipped:
					seenBack[key] = seenRow{n, k.Timeout}
				case len(r.Rollbacks) > 0:
					seenBack[key] = seenRow{n, median(r.Rollbacks).Wall}
				}
				if len(r.Deploys) == 0 {
					t.add(overRow(n, size, tl.name, k)...)
					continue
				}
				d := median(r.Deploys)
				seen[key] = seenRow{n, d.Wall}
				t.add(strconv.Itoa(n), size, tl.name, strconv.Itoa(len(r.Deploys)), secs(d.Wall), ratio(d.Wall, floor.Wall), secs(d.CPU), secs(d.HostCPU), mbCell(d.MaxRSS), mbCell(d.PeakPSS), rollbackCell(r, k))
			}
		}
	}
	fmt.Printf("\n## Switchman, Capistrano, Ansible and Fabric deploying the same build\n\n%s\n\n", e.summary(k, started))
	fmt.Print(t.String())
	fmt.Print(note(
		"Each tool deploys build 2 with build 1 current (seeded: releases/1, current, shared/) and no releases/2 on any host, then rolls back to 1;",
		"every host is checked after every run (current, BUILD, a file's checksum, the last file's size).",
		"switchman push/pull: `bot console`, parallel = batch_size = hosts; its deploy logs in to every host (cold).",
		"switchman warm push: the same push, with the console's unmeasured `status app` first, so that the deploy finds the connections warm (ssh.keep_warm).",
		"capistrano: `cap bench deploy` / `deploy:rollback`, "+capFetch,
		"(`on roles(:all)` runs hosts in parallel); its rollback also archives the rolled-back release (tar -czf), as Capistrano does.",
		"ansible: ansible-playbook, forks = hosts, pipelining, ControlPersist; unarchive with remote_src from the HTTP URL.",
		"fabric: ThreadingGroup, put of the tarball + tar -x. Floors as in BenchmarkFleet; × floor is over floor (c).",
		"CPU: the tool's whole local process tree (rusage of everything it waited for, plus its ssh ControlPersist masters).",
		"Host CPU: everything on the hosts. peak RSS: largest single process; tree PSS: sum over the tree (sampled every 100 ms).",
	))
	if len(notes) > 0 {
		fmt.Print(note(notes...))
	}
}

// overRow is the row of a tool that has no deploy within the timeout.
func overRow(n int, size, tool string, k knobs) []string {
	return []string{strconv.Itoa(n), size, tool, "0", "> " + secs(k.Timeout), "", "", "", "", "", ""}
}

// peerCommands fails the benchmark unless cap, ansible-playbook and a
// Python that imports fabric are installed, and returns that Python.
func peerCommands(b *testing.B) string {
	b.Helper()
	for _, c := range []struct{ cmd, pkg string }{{"cap", "capistrano"}, {"ansible-playbook", "ansible-core"}} {
		if _, err := exec.LookPath(c.cmd); err != nil {
			b.Fatalf("%s not found: install it with `apt-get install -y %s`", c.cmd, c.pkg)
		}
	}
	// Debian's python3-fabric is importable by Debian's own python3, which
	// need not be the python3 first on PATH.
	candidates := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("BENCH_PYTHON"); p != "" {
		candidates = []string{p}
	}
	for _, p := range candidates {
		if exec.Command(p, "-c", "import fabric").Run() == nil {
			return p
		}
	}
	b.Fatalf("no python3 imports fabric (tried %s): install it with `apt-get install -y python3-fabric`, or set BENCH_PYTHON", strings.Join(candidates, ", "))
	return ""
}

// port is the TCP port of a fleet address.
func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// capistrano is Capistrano 3 with the SCM-less tarball strategy of
// testdata/peers/capistrano.
type capistrano struct {
	e   *env
	dir string
	set *artifactSet
	// fetch is how hosts get the tarball: curl (from the HTTP server) or
	// upload (SCP from this machine): BENCH_CAP_FETCH, default curl.
	fetch string
}

func (e *env) newCapistrano(n int, set *artifactSet, fetch string) *capistrano {
	e.b.Helper()
	c := &capistrano{e: e, dir: filepath.Join(e.dir, "capistrano", fmt.Sprintf("n%d-%dmb", n, set.SizeMB)), set: set, fetch: fetch}
	if err := copyTestdata("capistrano", c.dir); err != nil {
		e.b.Fatal(err)
	}
	q := strconv.Quote
	var stage strings.Builder
	fmt.Fprintf(&stage, `set :ssh_options, {
  user: %s,
  keys: [%s],
  keys_only: true,
  auth_methods: %%w[publickey],
  user_known_hosts_file: %s,
  global_known_hosts_file: %s,
  verify_host_key: :always,
}
`, q(e.fleet.User), q(e.fleet.ClientKey), q(e.fleet.KnownHosts), q(e.fleet.KnownHosts))
	for _, h := range e.hosts(n) {
		fmt.Fprintf(&stage, "server \"127.0.0.1\", port: %s, roles: %%w[app]\n", port(h.Addr))
	}
	if err := os.MkdirAll(filepath.Join(c.dir, "config", "deploy"), 0o755); err != nil {
		e.b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.dir, "config", "deploy", "bench.rb"), []byte(stage.String()), 0o644); err != nil {
		e.b.Fatal(err)
	}
	return c
}

func (c *capistrano) cmd(task string, env ...string) *exec.Cmd {
	cmd := exec.Command("cap", "bench", task)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

func (c *capistrano) prepare(bool) error { return nil }

func (c *capistrano) finish() error { return nil }

func (c *capistrano) deploy(m *meter, build string) error {
	a := c.set.get(build, gz)
	return m.run(c.cmd("deploy", "BUILD="+build, "ARTIFACT_URL="+a.URL, "ARTIFACT_PATH="+a.Path, "FETCH="+c.fetch))
}

func (c *capistrano) rollback(m *meter) error { return m.run(c.cmd("deploy:rollback")) }

// ansible is ansible-playbook with the playbooks of testdata/peers/ansible.
type ansible struct {
	e   *env
	dir string
	set *artifactSet
}

func (e *env) newAnsible(n int, set *artifactSet) *ansible {
	e.b.Helper()
	a := &ansible{e: e, dir: filepath.Join(e.dir, "ansible", fmt.Sprintf("n%d-%dmb", n, set.SizeMB)), set: set}
	if err := copyTestdata("ansible", a.dir); err != nil {
		e.b.Fatal(err)
	}
	// ControlPersist sockets need a path shorter than a unix socket's
	// limit (108 bytes).
	cp, err := os.MkdirTemp(e.root, "cp")
	if err != nil {
		e.b.Fatal(err)
	}
	// Ansible's default ssh_args (-C, ControlMaster=auto,
	// ControlPersist=60s) plus the fleet's known_hosts.
	cfg := fmt.Sprintf(`[defaults]
inventory = inventory.ini
forks = %d
private_key_file = %s
interpreter_python = auto_silent
host_key_checking = True
retry_files_enabled = False
local_tmp = %s
nocolor = True

[ssh_connection]
pipelining = True
ssh_args = -C -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes
control_path_dir = %s
`, n, e.fleet.ClientKey, filepath.Join(a.dir, "tmp"), e.fleet.KnownHosts, cp)
	var inv strings.Builder
	inv.WriteString("[app]\n")
	for _, h := range e.hosts(n) {
		fmt.Fprintf(&inv, "%s ansible_host=127.0.0.1 ansible_port=%s ansible_user=%s\n", h.Name, port(h.Addr), e.fleet.User)
	}
	for name, body := range map[string]string{"ansible.cfg": cfg, "inventory.ini": inv.String()} {
		if err := os.WriteFile(filepath.Join(a.dir, name), []byte(body), 0o644); err != nil {
			e.b.Fatal(err)
		}
	}
	return a
}

func (a *ansible) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command("ansible-playbook", args...)
	cmd.Dir = a.dir
	cmd.Env = append(os.Environ(), "ANSIBLE_CONFIG="+filepath.Join(a.dir, "ansible.cfg"))
	return cmd
}

func (a *ansible) prepare(bool) error { return nil }

func (a *ansible) finish() error { return nil }

func (a *ansible) deploy(m *meter, build string) error {
	return m.run(a.cmd("deploy.yml", "-e", "build="+build, "-e", "artifact_url="+a.set.get(build, gz).URL))
}

func (a *ansible) rollback(m *meter) error { return m.run(a.cmd("rollback.yml")) }

// fabric is testdata/peers/fabric/deploy.py run by a Python with Fabric 2.
type fabric struct {
	e      *env
	dir    string
	python string
}

func (e *env) newFabric(n int, set *artifactSet, python string) *fabric {
	e.b.Helper()
	f := &fabric{e: e, dir: filepath.Join(e.dir, "fabric", fmt.Sprintf("n%d-%dmb", n, set.SizeMB)), python: python}
	if err := copyTestdata("fabric", f.dir); err != nil {
		e.b.Fatal(err)
	}
	var hosts []string
	for _, h := range e.hosts(n) {
		hosts = append(hosts, h.Addr)
	}
	cfg, err := json.MarshalIndent(map[string]any{
		"hosts":       hosts,
		"user":        e.fleet.User,
		"key":         e.fleet.ClientKey,
		"known_hosts": e.fleet.KnownHosts,
		"path":        appDir,
		"tarball":     filepath.Join(set.Dir, app+"-{build}"+ext(gz)),
	}, "", "  ")
	if err != nil {
		e.b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, "config.json"), cfg, 0o644); err != nil {
		e.b.Fatal(err)
	}
	return f
}

func (f *fabric) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(f.python, append([]string{"deploy.py", "config.json"}, args...)...)
	cmd.Dir = f.dir
	return cmd
}

func (f *fabric) prepare(bool) error { return nil }

func (f *fabric) finish() error { return nil }

func (f *fabric) deploy(m *meter, build string) error { return m.run(f.cmd("deploy", build)) }

func (f *fabric) rollback(m *meter) error { return m.run(f.cmd("rollback")) }
