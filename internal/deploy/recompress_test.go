package deploy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// scriptLog is a local transport that keeps every script it runs. With
// noZstd its hosts answer the inspection as hosts without zstd would;
// with zstdVersion, as hosts whose zstd -V prints that.
type scriptLog struct {
	local.Transport
	noZstd      bool
	zstdVersion string

	mu      sync.Mutex
	scripts []string
	runs    []string // each script's run token
}

func (l *scriptLog) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := l.Transport.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return &loggedSession{Session: s, log: l}, nil
}

type loggedSession struct {
	deploy.Session
	log *scriptLog
}

func (s *loggedSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	if s.log.noZstd {
		cmd.Script = strings.Replace(cmd.Script, "command -v zstd ", "command -v no-such-zstd ", 1)
	}
	if v := s.log.zstdVersion; v != "" {
		cmd.Script = strings.Replace(cmd.Script, "$(zstd -V ", "$(echo '"+v+"' ", 1)
	}
	s.log.mu.Lock()
	s.log.scripts = append(s.log.scripts, cmd.Script)
	s.log.runs = append(s.log.runs, cmd.Run)
	s.log.mu.Unlock()
	return s.Session.Run(ctx, cmd)
}

// unpack returns the decompressor of the delivery scripts run so far.
func (l *scriptLog) unpack(t *testing.T) string {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.scripts {
		for _, line := range strings.Split(s, "\n") {
			if rest, ok := strings.CutPrefix(line, "rc=$( { { st=0; "); ok {
				dec, _, _ := strings.Cut(rest, " ||")
				return dec
			}
		}
	}
	t.Fatal("no delivery script ran")
	return ""
}

// TestRecompress checks which compression a gzip artifact travels in: zstd
// when the app allows it and the host can unpack it, gzip otherwise; the
// release on disk is the artifact's either way. zstd 1.5.4 and later (as
// it says itself: this machine's) unpacks without its I/O threads.
func TestRecompress(t *testing.T) {
	out, err := exec.Command("zstd", "-V").Output()
	if err != nil {
		t.Fatalf("zstd -V: %v; the tests need zstd: apt-get install -y zstd", err)
	}
	local := "zstd -dcq"
	if deploy.ZstdTakesNoAsyncio(string(out)) {
		local += " --no-asyncio"
	}
	for _, c := range []struct {
		name        string
		recompress  string
		noZstd      bool
		zstdVersion string
		want        string
	}{
		{"auto, host with zstd", "auto", false, "", local},
		{"auto, host with zstd 1.4.8", "auto", false, "*** zstd command line interface 64-bits v1.4.8, by Yann Collet ***", "zstd -dcq"},
		{"auto, host without zstd", "auto", true, "", "gzip -dc"},
		{"never", "never", false, "", "gzip -dc"},
	} {
		t.Run(c.name, func(t *testing.T) {
			yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "    path: srv/web\n", "    path: srv/web\n    recompress: "+c.recompress+"\n", 1)
			tr := &scriptLog{noZstd: c.noZstd, zstdVersion: c.zstdVersion}
			f := newFixtureFrom(t, yaml, tr)
			big := strings.Repeat("x", 300_000)
			f.build("1", tarEntry{name: "public/app.js", body: big})
			f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)

			if got := tr.unpack(t); got != c.want {
				t.Errorf("decompressor: got %q, want %q", got, c.want)
			}
			if got := f.read("current/BUILD"); got != "1" {
				t.Errorf("current/BUILD: got %q, want 1", got)
			}
			if got := f.read("current/public/app.js"); got != big {
				t.Errorf("current/public/app.js: got %d bytes, want %d", len(got), len(big))
			}
		})
	}
}

// fullDisk fails every delivery at once, as a host with a full disk does.
type fullDisk struct{ local.Transport }

func (f *fullDisk) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	s, err := f.Transport.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return fullDiskSession{s}, nil
}

type fullDiskSession struct{ deploy.Session }

func (s fullDiskSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	if cmd.Stdin != nil {
		cmd.Script = "echo 'mkdir: No space left on device' >&2; exit 1\n" + cmd.Script
	}
	return s.Session.Run(ctx, cmd)
}

// TestHostsThatStopReadingAreNotABadBuild: when every host's delivery
// fails early, the inspector has seen only part of a good build; the
// deploy reports what the hosts said, not a corrupt or tampered build.
func TestHostsThatStopReadingAreNotABadBuild(t *testing.T) {
	f := newFixtureFrom(t, fmt.Sprintf(fixtureYAML, "true"), &fullDisk{})
	big := make([]byte, 20<<20) // far more than the fan-out holds for a host
	rand.NewChaCha8([32]byte{}).Read(big)
	// Compressed by the system's gzip: Go's deflate, race
	// instrumented, took most of the test's time for these 20 MB.
	f.write("9", gzipped(t, tarOf(t, fixtureEntries("9", tarEntry{name: "big.bin", body: string(big)})...)), "")
	rec, err := f.run(deploy.KindDeploy, "9")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != deploy.OutcomeFailed || !strings.Contains(rec.Error, "No space left on device") || strings.Contains(rec.Error, "refused") {
		t.Errorf("got outcome %s, error %q; want failed with the host's error, not a refused build", rec.Outcome, rec.Error)
	}
	if hr := rec.Host("localhost"); hr == nil || hr.State != deploy.HostFailed || !strings.Contains(hr.Error, "No space left") {
		t.Errorf("host: %+v, want failed with its error", hr)
	}
	if got := f.releases(); len(got) != 0 {
		t.Errorf("releases left on disk: %v", got)
	}
}
