package deploy_test

import (
	"archive/tar"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// TestUncheckableArtifactSaysWhy: a build whose checksum file cannot be
// used is refused, deploy and dry run alike, saying why and with the code
// that says whether trying again may help.
func TestUncheckableArtifactSaysWhy(t *testing.T) {
	f := newFixture(t, "")
	f.build("9")
	sum := filepath.Join(f.arts, "web-9.tar.gz.sha256")
	if err := os.WriteFile(sum, []byte("<html>not found</html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "cannot check build 9 of web: " + sum + ": line 1: first field is not a SHA-256 digest"

	_, err := f.run(deploy.KindDeploy, "9")
	if msg := errs.Message(err); errs.CodeOf(err) != errs.Invalid || !strings.Contains(msg, want) || !strings.HasSuffix(msg, "; nothing was changed") {
		t.Errorf("deploy: got %s %q, want invalid saying %q and that nothing was changed", errs.CodeOf(err), msg, want)
	}
	_, err = f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "9"})
	if msg := errs.Message(err); errs.CodeOf(err) != errs.Invalid || !strings.Contains(msg, want) {
		t.Errorf("dry run: got %s %q, want invalid saying %q", errs.CodeOf(err), msg, want)
	}
	if f.exists("") {
		t.Error("the deploy dir exists after a refused deploy")
	}
}

// TestChecksumRequired: a build published without a checksum is refused
// before anything changes, deploy and dry run alike, in push and pull
// mode, unless the app makes the checksum optional; the deploy then says
// once that the build was checked for structure only.
func TestChecksumRequired(t *testing.T) {
	for _, delivery := range []string{"push", "pull"} {
		for _, checksum := range []string{"", "required", "optional"} {
			t.Run(delivery+"/"+orDefault(checksum, "default"), func(t *testing.T) {
				arts := t.TempDir()
				srv := httptest.NewServer(http.FileServer(http.Dir(arts)))
				t.Cleanup(srv.Close)
				artifact := "      url: " + srv.URL + "/{app}-{build}.tar.gz\n"
				if checksum != "" {
					artifact += "      checksum: " + checksum + "\n"
				}
				yaml := strings.Replace(fixtureYAML, "      path: artifacts/{app}-{build}.tar.gz\n", artifact+"    delivery: "+delivery+"\n", 1)
				f := newFixtureFrom(t, fmt.Sprintf(yaml, "true"), &local.Transport{})
				f.arts = arts
				if err := os.WriteFile(filepath.Join(arts, "web-9.tar.gz"), tarball(t, false, tarEntry{name: "BUILD", body: "9"}), 0o644); err != nil {
					t.Fatal(err)
				}
				if checksum != "optional" {
					want := "build 9 of web has no published checksum (" + srv.URL + "/web-9.tar.gz.sha256 not found); publish one, or set artifact.checksum: optional for this app"
					_, err := f.run(deploy.KindDeploy, "9")
					if errs.CodeOf(err) != errs.NotFound || errs.Message(err) != want+"; nothing was changed" {
						t.Errorf("deploy: got %s %q, want not_found %q", errs.CodeOf(err), errs.Message(err), want+"; nothing was changed")
					}
					_, err = f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "9"})
					if errs.CodeOf(err) != errs.NotFound || errs.Message(err) != want {
						t.Errorf("dry run: got %s %q, want not_found %q", errs.CodeOf(err), errs.Message(err), want)
					}
					if f.exists("") {
						t.Error("the deploy dir exists after a refused deploy")
					}
					return
				}
				p, err := f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "9"})
				if err != nil || !strings.Contains(p.Steps[0], "no checksum published, checked for structure only") {
					t.Errorf("dry run: got %v, %v; want a plan saying no checksum is published", p, err)
				}
				rec := f.mustRun(deploy.KindDeploy, "9", deploy.OutcomeSucceeded)
				if got := f.read("current/BUILD"); got != "9" {
					t.Errorf("current/BUILD: got %q, want 9", got)
				}
				if n := f.countNotes(rec.ID, "no checksum published for build 9: checked for structure only"); n != 1 {
					t.Errorf("got the note that no checksum was published %d times, want once", n)
				}
			})
		}
	}
}

// countNotes counts the notes of deploy id that contain substr.
func (f *fixture) countNotes(id, substr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, ev := range f.events {
		if ev.DeployID == id && ev.Kind == deploy.EventNote && strings.Contains(ev.Text, substr) {
			n++
		}
	}
	return n
}

// TestRefusedBuilds: a build the inspection refuses as it reads it is
// refused before anything changes, in push and pull mode: `current` stays
// on the build before it and no release of it is left.
//   - more than artifact.max_unpacked once unpacked: a few hundred KB of
//     compressed zeros would fill every host's disk;
//   - more entries than artifact.max_entries: empty files count nothing
//     towards max_unpacked, yet each takes an inode on every host;
//   - a world-writable file or directory: tar keeps modes when the deploy
//     user is root, and any user of a host could then rewrite the release.
func TestRefusedBuilds(t *testing.T) {
	for _, tt := range []struct {
		name, limit string
		eight, nine []tarEntry
		want        string // the whole error, or with contains a part of it
		contains    bool
	}{
		{name: "max_unpacked", limit: "      max_unpacked: 1KiB\n", nine: []tarEntry{{name: "zeros", body: strings.Repeat("\x00", 2000)}},
			want: `build 9 of web was refused: its files come to more than 1 KiB once unpacked, the limit (artifact.max_unpacked), by entry "zeros" of 2.0 KiB; nothing was changed`},
		{name: "max_entries", limit: "      max_entries: 5\n",
			eight: []tarEntry{{name: "empty1"}, {name: "empty2"}}, nine: []tarEntry{{name: "empty1"}, {name: "empty2"}, {name: "empty3"}},
			want: `build 9 of web was refused: it has more than 5 entries (files, directories and links), the limit (artifact.max_entries), at entry "empty3"; nothing was changed`},
		{name: "world-writable file", nine: []tarEntry{{name: "public/index.html", body: "hi", mode: 0o666}},
			want: `unsafe tar entry "public/index.html": world-writable (mode 0666)`, contains: true},
		{name: "world-writable directory", nine: []tarEntry{{name: "cache/", typ: tar.TypeDir, mode: 0o777}},
			want: `unsafe tar entry "cache/": world-writable (mode 0777)`, contains: true},
	} {
		for _, delivery := range []string{"push", "pull"} {
			t.Run(tt.name+"/"+delivery, func(t *testing.T) {
				arts := t.TempDir()
				srv := httptest.NewServer(http.FileServer(http.Dir(arts)))
				t.Cleanup(srv.Close)
				artifact := "      url: " + srv.URL + "/{app}-{build}.tar.gz\n" + tt.limit
				yaml := strings.Replace(fixtureYAML, "      path: artifacts/{app}-{build}.tar.gz\n", artifact+"    delivery: "+delivery+"\n", 1)
				f := newFixtureFrom(t, fmt.Sprintf(yaml, "true"), &local.Transport{})
				f.arts = arts
				f.build("8", tt.eight...)
				f.build("9", tt.nine...)
				f.mustRun(deploy.KindDeploy, "8", deploy.OutcomeSucceeded)
				rec, err := f.run(deploy.KindDeploy, "9")
				said := rec != nil && (rec.Error == tt.want || tt.contains && strings.Contains(rec.Error, tt.want))
				switch {
				case err != nil:
					t.Fatalf("deploy: refused at once (%v), want it refused as it reads the build", err)
				case rec.Outcome != deploy.OutcomeFailed || !said:
					t.Errorf("deploy: got %s %q, want failed saying %q", rec.Outcome, rec.Error, tt.want)
				}
				if got := f.read("current/BUILD"); got != "8" {
					t.Errorf("current/BUILD: got %q, want 8", got)
				}
				if f.exists("releases/9") {
					t.Error("releases/9 exists after the refused deploy")
				}
			})
		}
	}
}
