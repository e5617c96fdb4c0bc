package deploy_test

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	xssh "golang.org/x/crypto/ssh"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// TestFleetHostKeyRefusals: each way known_hosts refuses a host reads,
// in the reply that refuses the deploy, as a host key problem that names
// the host and its address once and says what to do.
func TestFleetHostKeyRefusals(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "host-cert.pub")
	// Every host is given the certificate; only host1, whose key it
	// certifies, serves it.
	fleet := sshd.StartFleet(t, 2, sshd.Options{Config: []string{"HostCertificate " + cert}})
	ca := filepath.Join(dir, "ca")
	keygen(t, ca)
	other := filepath.Join(dir, "other")
	keygen(t, other)
	line := func(i int, pubFile string) string {
		return "[127.0.0.1]:" + portOf(fleet.Hosts[i].Addr) + " " + pubText(t, pubFile)
	}
	host0 := line(0, fleet.Hosts[0].HostKey)
	host1 := line(1, fleet.Hosts[1].HostKey)
	caLine := "@cert-authority [127.0.0.1]:" + portOf(fleet.Hosts[1].Addr) + " " + pubText(t, ca+".pub")
	fp := pubFingerprint(t, fleet.Hosts[1].HostKey)
	addr := fleet.Hosts[1].Addr
	tests := []struct {
		name       string
		signer     string   // of host1's certificate: ca when not set
		sign       []string // ssh-keygen options of host1's certificate; none: no certificate
		knownHosts []string
		want       string // what the reply says of host1
	}{
		{name: "unknown key", knownHosts: []string{host0},
			want: "ssh: host1 (" + addr + "): unknown host key ssh-ed25519 " + fp + ": check it out of band and add it to known_hosts"},
		{name: "changed key", knownHosts: []string{host0, line(1, other+".pub")},
			want: "ssh: host1 (" + addr + "): host key changed (possible man-in-the-middle): it offered ssh-ed25519 " + fp + ", which is not the key in known_hosts; refusing to connect"},
		{name: "revoked key", knownHosts: []string{host0, host1, "@revoked * " + pubText(t, fleet.Hosts[1].HostKey)},
			want: "ssh: host1 (" + addr + "): host key ssh-ed25519 " + fp + " is marked @revoked in known_hosts; refusing to connect"},
		{name: "certificate expired", sign: []string{"-n", "127.0.0.1", "-V", "20200101:20200102"}, knownHosts: []string{host0, caLine},
			want: "ssh: host1 (" + addr + "): host certificate refused (it expired 2020-01-02 00:00:00 UTC), and its key ssh-ed25519 " + fp + " is not in known_hosts: renew the certificate, or check the key out of band and add it to known_hosts"},
		{name: "certificate for another host", sign: []string{"-n", "db.example.com"}, knownHosts: []string{host0, caLine},
			want: "ssh: host1 (" + addr + `): host certificate refused (it is for "db.example.com", not "127.0.0.1"), and its key ssh-ed25519 ` + fp + " is not in known_hosts: renew the certificate, or check the key out of band and add it to known_hosts"},
		{name: "certificate of another authority", signer: other, sign: []string{"-n", "127.0.0.1"}, knownHosts: []string{host0, caLine},
			want: "ssh: host1 (" + addr + "): host certificate refused (signed by certificate authority " + pubFingerprint(t, other+".pub") + ", which no @cert-authority line for the host names), and its key ssh-ed25519 " + fp + " is not in known_hosts: renew the certificate, or check the key out of band and add it to known_hosts"},
		{name: "certificate authority revoked", sign: []string{"-n", "127.0.0.1"}, knownHosts: []string{host0, caLine, host1, "@revoked * " + pubText(t, ca+".pub")},
			want: "ssh: host1 (" + addr + "): host certificate refused: its certificate authority " + pubFingerprint(t, ca+".pub") + " is marked @revoked in known_hosts; refusing to connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.sign != nil {
				certifyHost(t, fleet, 1, cert, cmp.Or(tt.signer, ca), tt.sign...)
			}
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(kh, []byte(strings.Join(tt.knownHosts, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			sub := &sshd.Fleet{Hosts: fleet.Hosts, KnownHosts: kh, ClientKey: fleet.ClientKey, User: fleet.User}
			f := newFleetFixture(t, sub, fleetSpec{}, nil)
			f.build("1")
			_, err := f.engine.Deploy(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}, nil)
			if err == nil {
				t.Fatal("deploy started, want it refused")
			}
			want := "cannot use 1 of 2 hosts of web/prod (max_failures allows 0); nothing was changed: " + tt.want +
				"; to go on, put right what keeps host1 out, or set max_failures of web/prod to 1 or more in the config to go on without it"
			if got := errs.Message(err); got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func portOf(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}

func keygen(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
}

func pubText(t *testing.T, pubFile string) string {
	t.Helper()
	b, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func pubFingerprint(t *testing.T, pubFile string) string {
	t.Helper()
	key, _, _, _, err := xssh.ParseAuthorizedKey([]byte(pubText(t, pubFile)))
	if err != nil {
		t.Fatal(err)
	}
	return xssh.FingerprintSHA256(key)
}

// certifyHost signs host i's key with signer (ssh-keygen -s, with opts),
// installs the certificate at cert and restarts the host with it.
func certifyHost(t *testing.T, f *sshd.Fleet, i int, cert, signer string, opts ...string) {
	t.Helper()
	pub := f.Hosts[i].HostKey
	args := append([]string{"-q", "-s", signer, "-I", f.Hosts[i].Name, "-h"}, opts...)
	// Validity dates (-V) in UTC, as refusals say them.
	sign := exec.Command("ssh-keygen", append(args, pub)...)
	sign.Env = append(os.Environ(), "TZ=UTC")
	if out, err := sign.CombinedOutput(); err != nil {
		t.Fatalf("sign the host key: %v: %s", err, out)
	}
	b, err := os.ReadFile(strings.TrimSuffix(pub, ".pub") + "-cert.pub")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, b, 0o644); err != nil {
		t.Fatal(err)
	}
	f.Stop(i)
	f.Start(i)
}

// TestFleetHostKeyRefusedWithinMaxFailures: a host refused for its key
// within max_failures is named once in the note that leaves it out, by
// the SSH error that names it with its address.
func TestFleetHostKeyRefusedWithinMaxFailures(t *testing.T) {
	fleet := sshd.StartFleet(t, 2, sshd.Options{})
	other := filepath.Join(t.TempDir(), "other")
	keygen(t, other)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	lines := "[127.0.0.1]:" + portOf(fleet.Hosts[0].Addr) + " " + pubText(t, fleet.Hosts[0].HostKey) + "\n" +
		"[127.0.0.1]:" + portOf(fleet.Hosts[1].Addr) + " " + pubText(t, other+".pub") + "\n"
	if err := os.WriteFile(kh, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := &sshd.Fleet{Hosts: fleet.Hosts, KnownHosts: kh, ClientKey: fleet.ClientKey, User: fleet.User}
	f := newFleetFixture(t, sub, fleetSpec{env: []string{"max_failures: 1"}}, nil)
	f.build("1")
	rec := f.mustRun(deploy.KindDeploy, "1", deploy.OutcomePartial)
	want := "refused and left out (max_failures allows 1): ssh: host1 (" + fleet.Hosts[1].Addr +
		"): host key changed (possible man-in-the-middle): it offered ssh-ed25519 " + pubFingerprint(t, fleet.Hosts[1].HostKey) +
		", which is not the key in known_hosts; refusing to connect"
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

// TestFleetRefusesTheOnlyHost: an env of one host it cannot use or reach
// is refused in words for one host, by the deploy and by its dry run,
// the host named once, by its reason.
func TestFleetRefusesTheOnlyHost(t *testing.T) {
	fleet := sshd.StartFleet(t, 1, sshd.Options{})
	other := filepath.Join(t.TempDir(), "other")
	keygen(t, other)
	addr := fleet.Hosts[0].Addr
	changed := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(changed, []byte("[127.0.0.1]:"+portOf(addr)+" "+pubText(t, other+".pub")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		knownHosts string // default: the fleet's
		down       bool
		want       string
	}{
		{name: "refused", knownHosts: changed,
			want: "cannot use web/prod's only host; nothing was changed: ssh: host0 (" + addr + "): host key changed (possible man-in-the-middle): it offered ssh-ed25519 " +
				pubFingerprint(t, fleet.Hosts[0].HostKey) + ", which is not the key in known_hosts; refusing to connect; to go on, put right what keeps it out"},
		{name: "down", down: true,
			want: "cannot reach web/prod's only host; nothing was changed: ssh: host0 (" + addr + "): "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.down {
				fleet.Stop(0)
				t.Cleanup(func() { fleet.Start(0) })
			}
			sub := &sshd.Fleet{Hosts: fleet.Hosts, KnownHosts: cmp.Or(tt.knownHosts, fleet.KnownHosts), ClientKey: fleet.ClientKey, User: fleet.User}
			f := newFleetFixture(t, sub, fleetSpec{}, nil)
			f.build("1")
			req := deploy.Request{App: "web", Env: "prod", Build: "1", Requester: "ana"}
			p, err := f.engine.Plan(context.Background(), req)
			if err != nil {
				t.Fatalf("plan: got %v, want a plan that refuses it", err)
			}
			_, err = f.engine.Deploy(context.Background(), req, nil)
			if err == nil {
				t.Fatal("deploy started, want it refused")
			}
			for what, got := range map[string]string{"deploy": errs.Message(err), "dry run": strings.Join(p.Refusals, "\n")} {
				if tt.down {
					if !strings.HasPrefix(got, tt.want) || !strings.HasSuffix(got, "; to go on, bring it back") {
						t.Errorf("%s: got %q, want %q…; to go on, bring it back", what, got, tt.want)
					}
				} else if got != tt.want {
					t.Errorf("%s: got  %q\nwant %q", what, got, tt.want)
				}
			}
		})
	}
}
