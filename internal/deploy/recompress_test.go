package deploy_test

import (
	"context"
	"fmt"
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
