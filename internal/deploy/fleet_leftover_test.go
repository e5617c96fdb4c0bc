package deploy_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/ssh"
	"github.com/switchman-bot/switchman/internal/testenv/procs"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// leftoverStep is a step that outlives its bot: it tells its shell's pid
// (/srv/began), sleeps, then writes /srv/late.
const leftoverStep = `sh -c 'echo $PPID' >/srv/began.tmp && mv /srv/began.tmp /srv/began
sleep 60
echo late >/srv/late`

// TestFleetLeftoverStepIsStopped: a bot dies (its connection to the host
// ends at once) while a step of its run sleeps on the host, and the
// host's shell goes on running it. The next run of web/prod, a rollback
// or the deploy again, stops that step before it changes anything there:
// at its first step the step's shell and its sleep are gone, so the late
// write never comes, and its progress and record say what it stopped.
// Without it, the step ran on under the next run, which it raced.
func TestFleetLeftoverStepIsStopped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// token is the dead run's: its own in each subtest, as they run
		// at once on one machine.
		token string
		// stdin runs the step in an SSH session of its own, as a push
		// delivery is; otherwise in the shell the steps share.
		stdin bool
		next  deploy.Kind
		build string
	}{
		{name: "a step in the shared shell, then a rollback", token: "0123456789abcdef0123456789abcdef", next: deploy.KindRollback},
		{name: "a step in a session of its own, then the deploy again", token: "00112233445566778899aabbccddeeff", stdin: true, next: deploy.KindDeploy, build: "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// One host: the simulated hosts share the machine's processes.
			fleet := startFleet(t, 1)
			f := newFleetFixture(t, fleet, fleetSpec{}, nil)
			f.build("1")
			f.build("2")
			f.seed("1")
			f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)

			token := tt.token
			host := fleet.Hosts[0].Root
			stepShell := startLeftover(t, fleet, token, tt.stdin)
			dead := &deploy.Record{ID: "20260101-000000-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
				Requester: "ana", Started: time.Now(), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: fleetDeadFence(t, f),
				Run: token, Hosts: []deploy.HostResult{{Host: "host0", State: deploy.HostActivating, Current: "2", Previous: "1", Switched: true}}}
			if err := f.store.PutRecord(t.Context(), dead); err != nil {
				t.Fatal(err)
			}

			var mu sync.Mutex
			var atFirstStep []int
			checked := false
			var notes []string
			done := make(chan *deploy.Record, 1)
			sink := func(ev deploy.Event) {
				switch ev.Kind {
				case deploy.EventStep:
					mu.Lock()
					if !checked {
						checked = true
						atFirstStep = procs.Carrying(token)
						if procs.Alive(stepShell) {
							atFirstStep = append(atFirstStep, stepShell)
						}
					}
					mu.Unlock()
				case deploy.EventNote:
					mu.Lock()
					notes = append(notes, ev.Text)
					mu.Unlock()
				case deploy.EventFinished:
					done <- ev.Record
				}
			}
			req := deploy.Request{App: "web", Env: "prod", Build: tt.build, Requester: "ana"}
			var err error
			if tt.next == deploy.KindRollback {
				_, err = f.engine.Rollback(t.Context(), req, sink)
			} else {
				_, err = f.engine.Deploy(t.Context(), req, sink)
			}
			if err != nil {
				t.Fatal(err)
			}
			rec := f.wait(done)
			if rec.Outcome != deploy.OutcomeSucceeded {
				t.Errorf("%s: got %s (%s), want succeeded", tt.next, rec.Outcome, rec.Error)
			}
			mu.Lock()
			defer mu.Unlock()
			if !checked || len(atFirstStep) > 0 {
				t.Errorf("at the %s's first step (checked: %v), the dead run's step still ran: pids %v", tt.next, checked, atFirstStep)
			}
			const said = "deploy 20260101-000000-dead00: 2 processes (sh, sleep)"
			if want := "stopped on host0 what was still running there of a run whose process died: " + said; !slices.Contains(notes, want) {
				t.Errorf("notes %q: want %q", notes, want)
			}
			if h := hostResult(t, rec, "host0"); h.Stopped != said {
				t.Errorf("host0's record says it stopped %q, want %q", h.Stopped, said)
			}
			if _, err := os.Stat(filepath.Join(host, "late")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the dead run's step wrote /srv/late: %v", err)
			}
		})
	}
}

// startLeftover runs leftoverStep on host0 with the run token as a bot
// does, through a connection that it then ends at once, as the bot's
// death does, and returns the pid of the shell running the step, which
// runs on.
func startLeftover(t *testing.T, fleet *sshd.Fleet, token string, stdin bool) int {
	t.Helper()
	h := fleet.Hosts[0]
	proxy := newCuttable(t, h.Addr)
	pub, err := os.ReadFile(h.HostKey)
	if err != nil {
		t.Fatal(err)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(kh, []byte("[127.0.0.1]:"+strconv.Itoa(proxy.port())+" "+string(pub)), 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := ssh.New(ssh.Config{User: fleet.User, KeyFile: fleet.ClientKey, KnownHostsFile: kh})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	s, err := tr.Open(t.Context(), deploy.Host{Name: h.Name, Address: proxy.addr()})
	if err != nil {
		t.Fatal(err)
	}
	cmd := deploy.Command{Script: leftoverStep, Run: token}
	if stdin {
		cmd.Stdin = strings.NewReader("")
	}
	ended := make(chan error, 1)
	go func() {
		_, err := s.Run(context.Background(), cmd)
		ended <- err
	}()
	began := filepath.Join(h.Root, "began")
	waitFile(t, began)
	proxy.cut()
	if err := <-ended; !errors.Is(err, deploy.ErrUnreachable) {
		t.Fatalf("the step's connection ended: got %v, want the host unreachable", err)
	}
	s.Close()
	b, err := os.ReadFile(began)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("began holds %q, want a pid", b)
	}
	if !procs.Alive(pid) {
		t.Fatalf("the step's shell %d died with its connection: nothing left to stop", pid)
	}
	return pid
}

// fleetDeadFence returns the fencing token of a run of web/prod that died
// just now (see fixture.deadFence).
func fleetDeadFence(t *testing.T, f *fleetFixture) int64 {
	t.Helper()
	l, err := f.store.Acquire(t.Context(), deploy.LeaseKey("web", "prod"), "gone:1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	return l.Token()
}

// cuttable forwards TCP connections to an address until cut, which ends
// them all at once, as the death of the process holding them does.
type cuttable struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCuttable(t *testing.T, to string) *cuttable {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cuttable{l: l}
	t.Cleanup(c.cut)
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			c.mu.Lock()
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return c
}

func (c *cuttable) addr() string { return c.l.Addr().String() }

func (c *cuttable) port() int { return c.l.Addr().(*net.TCPAddr).Port }

func (c *cuttable) cut() {
	c.l.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// TestFleetLeftoverSearchFailureNamesHostOnce: the search for what a dead
// run left running fails on the only host (its SSH session ends before
// the search runs), which refuses the rollback, nothing changed. The
// refusal names the host once, up front, as the SSH error names it: with
// the host's name before the SSH error's own naming of it, it read
// "host0: could not look …: ssh: host0: session closed".
func TestFleetLeftoverSearchFailureNamesHostOnce(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 1)
	f := newFleetFixture(t, fleet, fleetSpec{}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	dead := &deploy.Record{ID: "20260101-000000-dead00", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "ana", Started: time.Now(), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: fleetDeadFence(t, f),
		Run: "0a1b2c3d4e5f60718293a4b5c6d7e8f9", Hosts: []deploy.HostResult{{Host: "host0", State: deploy.HostActivating, Current: "2", Previous: "1", Switched: true}}}
	if err := f.store.PutRecord(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	f.engine = deploy.NewEngine(deploy.Options{
		Config: f.cfg, Store: f.store, Leases: f.store, Locks: f.store,
		Transport: func(app *config.App, env *config.Env) (deploy.Transport, error) {
			tr, err := f.transport(app, env)
			return closingSearch{Transport: tr}, err
		},
	})
	t.Cleanup(f.engine.Wait)

	rec, err := f.run(deploy.KindRollback, "")
	msg := ""
	switch {
	case err != nil:
		msg = errs.Message(err)
	case rec != nil:
		msg = rec.Error
	}
	want := "host0: could not look for what deploy 20260101-000000-dead00 had begun there and may still be running: session closed; nothing was changed"
	if msg != want {
		t.Errorf("the rollback: got %q, want %q", msg, want)
	}
	if got := f.link(0, "current"); got != "releases/2" {
		t.Errorf("host0's current is %q, want releases/2: nothing was to change", got)
	}
}

// TestFleetLeftoverSearchFailureNoteNamesHostOnce: the search for what a
// dead run left running fails on one host of two, which max_failures
// lets the rollback go on without. The note that it is left out names it
// once, up front: it read "host0 failed and is left out (…): could not
// look …: ssh: host0: session closed".
func TestFleetLeftoverSearchFailureNoteNamesHostOnce(t *testing.T) {
	t.Parallel()
	fleet := startFleet(t, 2)
	f := newFleetFixture(t, fleet, fleetSpec{env: []string{"max_failures: 1"}}, nil)
	f.build("1")
	f.build("2")
	f.seed("1")
	f.mustRun(deploy.KindDeploy, "2", deploy.OutcomeSucceeded)
	dead := &deploy.Record{ID: "20260101-000000-dead01", Kind: deploy.KindDeploy, App: "web", Env: "prod", Build: "2", Previous: "1",
		Requester: "ana", Started: time.Now(), Outcome: deploy.OutcomeRunning, Owner: "gone:1", Fence: fleetDeadFence(t, f),
		Run: "1a1b2c3d4e5f60718293a4b5c6d7e8f9", Hosts: []deploy.HostResult{
			{Host: "host0", State: deploy.HostActivating, Current: "2", Previous: "1", Switched: true},
			{Host: "host1", State: deploy.HostActivating, Current: "2", Previous: "1", Switched: true}}}
	if err := f.store.PutRecord(t.Context(), dead); err != nil {
		t.Fatal(err)
	}
	f.engine = deploy.NewEngine(deploy.Options{
		Config: f.cfg, Store: f.store, Leases: f.store, Locks: f.store,
		Transport: func(app *config.App, env *config.Env) (deploy.Transport, error) {
			tr, err := f.transport(app, env)
			return closingSearch{Transport: tr, host: "host0"}, err
		},
	})
	t.Cleanup(f.engine.Wait)

	rec, err := f.run(deploy.KindRollback, "")
	if err != nil {
		t.Fatalf("the rollback: %v", err)
	}
	want := "host0 failed and is left out (1 of 2 hosts failed; max_failures allows 1): could not look for what deploy 20260101-000000-dead01 had begun there and may still be running: session closed"
	var got []string
	for _, n := range f.notes(rec.ID) {
		if strings.Contains(n, "left out") {
			got = append(got, n)
		}
	}
	if len(got) != 1 || got[0] != want {
		t.Errorf("got notes %q\nwant one %q", got, want)
	}
}

// closingSearch closes a session of host, or of every host when host is
// empty, before it runs the search for what a dead run left running (the
// script that reads the processes' environments), so the search fails as
// a session lost there does.
type closingSearch struct {
	deploy.Transport
	host string
}

func (c closingSearch) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := c.Transport.Open(ctx, h)
	if err != nil || (c.host != "" && h.Name != c.host) {
		return s, err
	}
	return closingSession{s}, nil
}

type closingSession struct{ deploy.Session }

func (s closingSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	if strings.Contains(cmd.Script, "/environ") {
		s.Session.Close()
	}
	return s.Session.Run(ctx, cmd)
}
