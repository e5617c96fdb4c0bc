package commands_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/acl"
	"github.com/switchman-bot/switchman/internal/commands"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/ssh"
	"github.com/switchman-bot/switchman/internal/store/embedded"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// observeUntimed is an engine whose Observe is not bound by the time
// limit of status (5 s), which a busy machine may pass before a host
// answers: what is tested is the line a host's error makes, not the
// limit.
type observeUntimed struct{ *deploy.Engine }

func (e observeUntimed) Observe(ctx context.Context, app, env string) ([]deploy.HostResult, error) {
	return e.Engine.Observe(context.WithoutCancel(ctx), app, env)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestStatusSaysWhatDidNotMatch: a host whose sshd has no algorithm in
// common with the bot, however long the lists of both sides' offers,
// keeps in its line of status what did not match and the sshd_config
// keyword that sets the host's, within the 160 characters of its error
// that the line shows; the log has the error in full, both sides' offers
// included.
func TestStatusSaysWhatDidNotMatch(t *testing.T) {
	t.Parallel()
	rsaKey := filepath.Join(t.TempDir(), "rsa_hostkey")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsaKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	hosts := []struct {
		name   string
		config []string // its sshd_config lines
		want   string   // in its line of status
	}{
		{"kex", []string{"KexAlgorithms diffie-hellman-group1-sha1,diffie-hellman-group14-sha1,diffie-hellman-group-exchange-sha1,diffie-hellman-group-exchange-sha256"},
			"no common key exchange algorithm (sshd_config KexAlgorithms)"},
		{"hostkey", []string{"HostKey " + strconv.Quote(rsaKey), "HostKeyAlgorithms ssh-rsa"},
			"no common host key algorithm (sshd_config HostKeyAlgorithms)"},
		{"cipher", []string{"Ciphers 3des-cbc,aes128-cbc,aes192-cbc,aes256-cbc"},
			"no common cipher (sshd_config Ciphers)"},
		{"mac", []string{"Ciphers aes128-ctr", "MACs hmac-sha1,hmac-sha1-96,hmac-md5,hmac-md5-96,umac-64@openssh.com,umac-128@openssh.com"},
			"no common MAC (sshd_config MACs)"},
		// sshd with no host key of its HostKeyAlgorithms closes the
		// connection after its banner, offering no key exchange.
		{"nokex", []string{"HostKeyAlgorithms ssh-rsa"},
			"no common key exchange (sshd_config KexAlgorithms, or HostKeyAlgorithms matching none of its host keys)"},
	}
	fleets := make([]*sshd.Fleet, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() { fleets[i] = sshd.StartFleet(t, 1, sshd.Options{NoNamespace: true, Config: h.config}) })
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	var known strings.Builder
	for _, f := range fleets {
		b, err := os.ReadFile(f.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		known.Write(b)
	}
	dir := t.TempDir()
	knownHosts := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(knownHosts, []byte(known.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var y strings.Builder
	fmt.Fprintf(&y, "users:\n  ana: {}\nadmins: [ana]\napps:\n  web:\n    artifact: {path: 'artifacts/{app}-{build}.tar.gz'}\n    path: /srv/web\n    restart: 'true'\n")
	fmt.Fprintf(&y, "    environments:\n      prod:\n        transport: ssh\n        ssh: {user: %q, key_file: %q, known_hosts: %q}\n        hosts:\n",
		fleets[0].User, fleets[0].ClientKey, knownHosts)
	for i, h := range hosts {
		fmt.Fprintf(&y, "          - %s=%s\n", h.name, fleets[i].Hosts[0].Addr)
	}
	cfg, err := config.Parse(filepath.Join(dir, "sw.yaml"), []byte(y.String()), nil)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, y.String())
	}
	st, err := embedded.Open(filepath.Join(dir, "state.db"), embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// A connect timeout that no busy machine reaches: the hosts answer,
	// and refuse.
	tr, err := ssh.New(ssh.Config{User: fleets[0].User, KeyFile: fleets[0].ClientKey, KnownHostsFile: knownHosts, ConnectTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	eng := deploy.NewEngine(deploy.Options{Config: cfg, Store: st, Leases: st, Locks: st,
		Transport: func(*config.App, *config.Env) (deploy.Transport, error) { return tr, nil }})
	t.Cleanup(eng.Wait)
	policy, err := acl.New(cfg.AccessRules())
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	svc := commands.NewService(commands.Deps{Config: cfg, Engine: observeUntimed{eng}, Store: st, Policy: policy,
		Log: slog.New(slog.NewJSONHandler(logs, nil))})
	out := newRecorder()
	svc.Handle(context.Background(), commands.Request{User: "ana", Platform: "test", Channel: "C1", Text: "status web"}, out)
	reply := out.last()

	// Each host's error in full, as the log has it.
	logged := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct{ Host, Err string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err == nil && rec.Host != "" {
			logged[rec.Host] = rec.Err
		}
	}
	for i, h := range hosts {
		addr := fleets[i].Hosts[0].Addr
		var line string
		for l := range strings.SplitSeq(reply, "\n") {
			if strings.Contains(l, "ssh: "+h.name+" ("+addr+"): ") {
				line = l
			}
		}
		if !strings.Contains(line, h.want) {
			t.Errorf("%s: its line of status is %q, want it to say %q; status:\n%s", h.name, line, h.want, reply)
		}
		// The same error as a connection of its own meets.
		s, err := tr.Open(context.Background(), deploy.Host{Name: h.name, Address: addr})
		if err == nil {
			s.Close()
			t.Fatalf("%s: Open succeeded, want a refusal", h.name)
		}
		full := err.Error()
		if !strings.HasSuffix(line, "…") || strings.Contains(line, full) {
			t.Errorf("%s: its line of status is %q, want its error (%d characters) cut, to test the cut", h.name, line, len(full))
		}
		// The cause of a connection that the host closed names this
		// end's port, which differs from one connection to the next.
		whole := full
		if i := strings.Index(full, ": ssh: handshake failed: read tcp "); i >= 0 {
			whole = full[:i] + ": ssh: handshake failed: read tcp "
		}
		if got := logged[h.name]; !strings.HasPrefix(got, whole) || whole == full && got != full {
			t.Errorf("%s: logged %q, want its error in full, %q", h.name, got, full)
		}
	}
}
