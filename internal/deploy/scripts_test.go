package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/switchman-bot/switchman/internal/artifact"
	"github.com/switchman-bot/switchman/internal/shell"
)

// TestUnpackScript runs the push delivery's unpack and install scripts
// with /bin/sh: a good stream lands in releases/<build>, and a stream the
// decompressor rejects fails the script, installing nothing, even though
// tar, last in the pipeline, may have found nothing wrong with what it got.
func TestUnpackScript(t *testing.T) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	body := bytes.Repeat([]byte("release "), 40_000)
	// Some incompressible bytes, so that the compressed streams are
	// longer than the tail a push holds back.
	rng := rand.New(rand.NewPCG(1, 2))
	for range tailBytes + 4096 {
		body = append(body, byte(rng.Uint32()))
	}
	tw.WriteHeader(&tar.Header{Name: "BUILD", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	var gz, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	gw.Write(raw.Bytes())
	gw.Close()
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(raw.Bytes())
	zw.Close()

	// zstd runs without --no-asyncio and, where this machine's zstd
	// takes it (1.5.4 and later, as the inspect probe finds), with it.
	syncs := []bool{false}
	if localZstdSync(t) {
		syncs = append(syncs, true)
	}

	tests := []struct {
		name, compression string
		stdin             []byte
		wantErr           string // "" for success
	}{
		{"gzip", "gzip", gz.Bytes(), ""},
		{"zstd", "zstd", zs.Bytes(), ""},
		{"garbage as gzip", "gzip", []byte("no archive here"), "not in gzip format"},
		{"truncated zstd", "zstd", zs.Bytes()[:zs.Len()/2], "premature end"},
		// tar gets a whole archive and succeeds; only the decompressor
		// knows the stream went bad after it.
		{"zstd, then garbage", "zstd", append(bytes.Clone(zs.Bytes()), "garbage after the frame"...), "failed (status 1)"},
		{"gzip, then garbage", "gzip", append(bytes.Clone(gz.Bytes()), "garbage after the member"...), "gzip -dc failed (status 2)"},
		// A stream whose end the bot holds back (tailHold) never
		// installs, however little is missing.
		{"gzip without its last byte", "gzip", gz.Bytes()[:gz.Len()-1], "unexpected end of file"},
		{"zstd without its last byte", "zstd", zs.Bytes()[:zs.Len()-1], "premature end"},
		{"gzip without its held tail", "gzip", gz.Bytes()[:gz.Len()-tailBytes], "unexpected end of file"},
		{"zstd without its held tail", "zstd", zs.Bytes()[:zs.Len()-tailBytes], "premature end"},
	}
	for _, tt := range tests {
		for _, sync := range syncs {
			if sync && tt.compression != "zstd" {
				continue
			}
			t.Run(fmt.Sprintf("%s/sync=%v", tt.name, sync), func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "app")
				// As a push delivery runs them: unpack, then install.
				script := unpackScript(dir, "releases/.tmp-1-x", tt.compression, sync) + finalizeScript(dir, "releases/.tmp-1-x", "1", nil)
				cmd := exec.Command("/bin/sh", "-c", script)
				cmd.Stdin = bytes.NewReader(tt.stdin)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				if tt.wantErr == "" {
					if err != nil {
						t.Fatalf("got %v (%s), want success", err, stderr.String())
					}
					got, err := os.ReadFile(filepath.Join(dir, "releases/1/BUILD"))
					if err != nil || !bytes.Equal(got, body) {
						t.Errorf("unpacked BUILD: got %d bytes (%v), want %d", len(got), err, len(body))
					}
					// GNU tar's progress: a dot each paceRecords records.
					dots := int64(raw.Len()) / (paceRecords * tarRecord)
					if want := "+" + strings.Repeat(".", int(dots)); stdout.String() != want {
						t.Errorf("stdout: got %q, want %q", stdout.String(), want)
					}
					return
				}
				if err == nil || !strings.Contains(stderr.String(), tt.wantErr) {
					t.Errorf("got %v, stderr %q; want a failure saying %q", err, stderr.String(), tt.wantErr)
				}
				if _, err := os.Lstat(filepath.Join(dir, "releases/1")); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("releases/1 after a failed unpack: %v, want it absent", err)
				}
			})
		}
	}
}

// localZstdSync runs the probing inspect script on this machine and
// reports whether its zstd takes --no-asyncio.
func localZstdSync(t *testing.T) bool {
	t.Helper()
	out, err := exec.Command("/bin/sh", "-c", inspectScript(t.TempDir(), true, false)).Output()
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	st := parseInspect(out)
	if !st.Zstd {
		t.Fatal("the tests need zstd: apt-get install -y zstd")
	}
	return st.ZstdSync
}

// TestZstdTakesNoAsyncio reads versions as zstd -V prints them.
func TestZstdTakesNoAsyncio(t *testing.T) {
	tests := []struct {
		version string
		want    bool
	}{
		{"*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***", true},
		{"*** Zstandard CLI (64-bit) v1.5.7, by Yann Collet ***", true},
		{"*** zstd command line interface 64-bits v1.5.2, by Yann Collet ***", false},
		{"*** zstd command line interface 64-bits v1.4.8, by Yann Collet ***", false},
		{"*** zstd command line interface 64-bits v1.3.3, by Yann Collet ***", false},
		{"*** Zstandard CLI (64-bit) v1.10.0, by Yann Collet ***", true},
		{"*** Zstandard CLI (64-bit) v2.0.0 ***", true},
		{"yes", false}, // an inspect without the probe
		{"", false},
	}
	for _, tt := range tests {
		if got := zstdTakesNoAsyncio(tt.version); got != tt.want {
			t.Errorf("%q: got %v, want %v", tt.version, got, tt.want)
		}
	}
}

// TestParseInspectNames: a release whose name is no build id is read as
// absent, whether listed or linked.
func TestParseInspectNames(t *testing.T) {
	for _, tc := range []struct {
		out           string
		current, prev string
		releases, bad []string
	}{
		{"current=/srv/web/releases/3\nprevious=/srv/web/releases/2\nrelease=3\nrelease=2\n", "3", "2", []string{"3", "2"}, nil},
		{"current=/srv/web/releases/3\nprevious=/srv/web/releases/$(id)\nrelease=3\nrelease=$(id)\nbad=a b\nrelease=..\n", "3", "", []string{"3"}, nil},
		{"current=/srv/web/releases/x;y\nrelease=x;y\nbad=2\n", "", "", []string{"2"}, []string{"2"}},
	} {
		st := parseInspect([]byte(tc.out))
		var bad []string
		for b := range st.Bad {
			bad = append(bad, b)
		}
		if st.Current != tc.current || st.Previous != tc.prev || !slices.Equal(st.Releases, tc.releases) || !slices.Equal(bad, tc.bad) {
			t.Errorf("parseInspect(%q): current %q previous %q releases %q bad %q; want %q %q %q %q",
				tc.out, st.Current, st.Previous, st.Releases, bad, tc.current, tc.prev, tc.releases, tc.bad)
		}
	}
}

// TestPruneScript runs the prune script with /bin/sh: the oldest releases
// beyond keep go, except those current and previous point at, and so do
// temporary unpack dirs older than an hour.
func TestPruneScript(t *testing.T) {
	dir := t.TempDir()
	rel := filepath.Join(dir, "releases")
	old := time.Now().Add(-2 * time.Hour)
	for i, name := range []string{"1", "2", "3", "4", "5", ".tmp-9-stale", ".tmp-8-fresh"} {
		p := filepath.Join(rel, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		// Releases get older the lower their number; the stale temp dir is
		// two hours old.
		at := time.Now().Add(time.Duration(i-10) * time.Minute)
		if name == ".tmp-9-stale" {
			at = old
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(rel, ".bad-2"), nil, 0o644)
	os.Symlink("releases/4", filepath.Join(dir, "current"))
	os.Symlink("releases/1", filepath.Join(dir, "previous"))

	out, err := exec.Command("/bin/sh", "-c", pruneScript(dir, 2, "")).CombinedOutput()
	if err != nil {
		t.Fatalf("prune: %v: %s", err, out)
	}
	ents, _ := os.ReadDir(rel)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	// 5 and 4 are the two newest; 4 is also current, 1 previous.
	want := []string{".tmp-8-fresh", "1", "4", "5"}
	if !slices.Equal(got, want) {
		t.Errorf("releases/ after prune: got %v, want %v", got, want)
	}
	if !strings.Contains(string(out), "pruned=3\n") || !strings.Contains(string(out), "pruned=2\n") {
		t.Errorf("prune output: got %q, want pruned=3 and pruned=2", out)
	}
}

// TestPruneManyReleases prunes more releases than newestFirstMax, which
// ls sorts: the newest keep stay, and so do current and previous.
func TestPruneManyReleases(t *testing.T) {
	dir := t.TempDir()
	rel := filepath.Join(dir, "releases")
	n := newestFirstMax + 6
	for i := 1; i <= n; i++ {
		p := filepath.Join(rel, strconv.Itoa(i))
		at := time.Now().Add(time.Duration(i-n-1) * time.Minute)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink("releases/"+strconv.Itoa(n), filepath.Join(dir, "current"))
	os.Symlink("releases/1", filepath.Join(dir, "previous"))
	if out, err := exec.Command("/bin/sh", "-c", pruneScript(dir, 3, "")).CombinedOutput(); err != nil {
		t.Fatalf("prune: %v: %s", err, out)
	}
	ents, _ := os.ReadDir(rel)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := []string{"1", strconv.Itoa(n - 2), strconv.Itoa(n - 1), strconv.Itoa(n)}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("releases/ after prune: got %v, want %v", got, want)
	}
}

// TestInspectOrder checks that the inspect script lists releases newest
// first, as `ls -1t` does, with every POSIX shell a host may have as sh.
func TestInspectOrder(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	type rel struct {
		name string
		at   time.Time
		file bool // a regular file, not a release
	}
	type orderCase struct {
		name string
		rels []rel
		bad  []string
		want []string
	}
	tests := []orderCase{
		{name: "empty", want: nil},
		{
			name: "mtime, not name, order",
			rels: []rel{{name: "9", at: at(1)}, {name: "10", at: at(3)}, {name: "2", at: at(2)}},
			want: []string{"release=10", "release=2", "release=9"},
		},
		{
			name: "equal mtimes keep name order",
			rels: []rel{{name: "1", at: at(1)}, {name: "4", at: at(5)}, {name: "3", at: at(5)}},
			want: []string{"release=3", "release=4", "release=1"},
		},
		{
			name: "sub-second apart",
			rels: []rel{{name: "b", at: at(1)}, {name: "a", at: at(1).Add(time.Millisecond)}},
			want: []string{"release=a", "release=b"},
		},
		{
			name: "files, dot names, spaces, bad markers",
			rels: []rel{{name: "notes.txt", at: at(9), file: true}, {name: ".tmp-7-x", at: at(8)}, {name: "a b", at: at(2)}, {name: "6", at: at(4)}, {name: "5", at: at(3)}},
			bad:  []string{"6"},
			want: []string{"bad=6", "release=5", "release=a b", "partial=yes"},
		},
	}
	// Beyond newestFirstMax, ls sorts: the same order.
	many := orderCase{name: "more than newestFirstMax"}
	for i := range newestFirstMax + 6 {
		name := strconv.Itoa(100 + i)
		many.rels = append(many.rels, rel{name: name, at: at(-i)})
		many.want = append(many.want, "release="+name)
	}
	tests = append(tests, many)
	for _, sh := range posixShells() {
		for _, tt := range tests {
			t.Run(sh[0]+"/"+tt.name, func(t *testing.T) {
				dir := t.TempDir()
				rels := filepath.Join(dir, "releases")
				if err := os.Mkdir(rels, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, r := range tt.rels {
					p := filepath.Join(rels, r.name)
					var err error
					if r.file {
						err = os.WriteFile(p, nil, 0o644)
					} else {
						err = os.Mkdir(p, 0o755)
					}
					if err == nil {
						err = os.Chtimes(p, r.at, r.at)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				for _, b := range tt.bad {
					if err := os.WriteFile(filepath.Join(rels, ".bad-"+b), nil, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				out, err := exec.Command(sh[0], append(sh[1:], "-c", inspectScript(dir, false, false))...).Output()
				if err != nil {
					t.Fatalf("inspect: %v", err)
				}
				var got []string
				for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
					if !strings.HasPrefix(l, "zstd=") && l != "" {
						got = append(got, l)
					}
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("got %q, want %q", got, tt.want)
				}
			})
		}
	}
}

// posixShells returns the shells a host's sh may be that this machine
// has, as the words that start one: /bin/sh always, and bash and
// BusyBox's ash where installed.
func posixShells() [][]string {
	shells := [][]string{{"/bin/sh"}}
	for _, sh := range [][]string{{"bash", "--posix"}, {"busybox", "sh"}} {
		if _, err := exec.LookPath(sh[0]); err == nil {
			shells = append(shells, sh)
		}
	}
	return shells
}

// TestInspectAndNeedsPrune runs the inspect script on a host layout and
// checks which deploys leave something to prune.
func TestInspectAndNeedsPrune(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"releases/1", "releases/2", "releases/3"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	inspect := func() hostState {
		t.Helper()
		out, err := exec.Command("/bin/sh", "-c", inspectScript(dir, false, false)).Output()
		if err != nil {
			t.Fatalf("inspect: %v", err)
		}
		return parseInspect(out)
	}
	st := inspect()
	if st.Partial || len(st.Releases) != 3 || st.Current != "" || st.Previous != "" {
		t.Fatalf("inspect: got %+v, want 3 releases, no partial one, no links", st)
	}
	// Links resolve without readlink; one whose release is gone names no
	// release. A CDPATH in the environment changes nothing.
	t.Setenv("CDPATH", filepath.Join(dir, "releases"))
	os.Symlink("releases/3", filepath.Join(dir, "current"))
	os.Symlink("releases/9", filepath.Join(dir, "previous"))
	if st := inspect(); st.Current != "3" || st.Previous != "" {
		t.Errorf("inspect with links: got current %q previous %q, want 3 and none (9 is gone)", st.Current, st.Previous)
	}
	tests := []struct {
		build string
		keep  int
		want  bool
	}{
		{build: "4", keep: 4, want: false},
		{build: "4", keep: 3, want: true},
		{build: "3", keep: 3, want: false},
		{build: "2", keep: 1, want: true},
	}
	for _, tt := range tests {
		if got := st.needsPrune(tt.build, "", tt.keep); got != tt.want {
			t.Errorf("deploy %s, keep %d: needsPrune %v, want %v (%+v)", tt.build, tt.keep, got, tt.want, st)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "releases/.tmp-4-abc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if st := inspect(); !st.Partial || len(st.Releases) != 3 || !st.needsPrune("4", "", 9) {
		t.Errorf("with a partial release: got %+v, want it seen and pruned", st)
	}
}

// TestInspectLineBreaks: a line break in the deploy directory's path, or
// in the name of a directory of releases/, changes nothing the inspect
// script reports: what follows it would otherwise read as a line of its
// own, a release named "a" current, or a release marked bad.
func TestInspectLineBreaks(t *testing.T) {
	tests := []struct {
		name     string
		dir      string   // under a temporary directory
		releases []string // made in this order, the last newest
		current  string   // the release current links to
		want     hostState
	}{
		{name: "path", dir: "srv\nweb", releases: []string{"2", "3"}, current: "3",
			want: hostState{Current: "3", Releases: []string{"3", "2"}}},
		{name: "path ending in a build id", dir: "srv/x\n7", releases: []string{"3"}, current: "3",
			want: hostState{Current: "3", Releases: []string{"3"}}},
		{name: "release name", dir: "web", releases: []string{"3", "4\nbad=3", "5\nrelease=9"}, current: "3",
			want: hostState{Current: "3", Releases: []string{"3"}}},
		{name: "current's name", dir: "web", releases: []string{"2", "3\ncurrent=2"}, current: "3\ncurrent=2",
			want: hostState{Releases: []string{"2"}}},
	}
	for _, sh := range posixShells() {
		for _, tt := range tests {
			t.Run(strings.Join(sh, " ")+"/"+tt.name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), tt.dir)
				old := time.Now().Add(-time.Hour)
				for i, r := range tt.releases {
					p := filepath.Join(dir, "releases", r)
					if err := os.MkdirAll(p, 0o755); err != nil {
						t.Fatal(err)
					}
					at := old.Add(time.Duration(i) * time.Minute)
					if err := os.Chtimes(p, at, at); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Symlink("releases/"+tt.current, filepath.Join(dir, "current")); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(sh[0], append(sh[1:], "-c", inspectScript(dir, false, false))...).Output()
				if err != nil {
					t.Fatalf("inspect: %v", err)
				}
				st := parseInspect(out)
				if st.Current != tt.want.Current || st.Previous != "" || !slices.Equal(st.Releases, tt.want.Releases) || len(st.Bad) != 0 {
					t.Errorf("got current %q, previous %q, releases %q, bad %v; want current %q, releases %q, none bad (printed %q)",
						st.Current, st.Previous, st.Releases, st.Bad, tt.want.Current, tt.want.Releases, out)
				}
			})
		}
	}
}

// TestPacedUnpack streams an artifact through the fan-out to the unpack
// script run by /bin/sh, paced by what GNU tar reports: the host never
// has more than the pace window of the stream beyond what its tar has
// read, and pacing holds to the end.
func TestPacedUnpack(t *testing.T) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	rng := rand.NewChaCha8([32]byte{'p'})
	bodies := make([][]byte, 40)
	for i := range bodies {
		body := make([]byte, 100_000+i*1000)
		rng.Read(body)
		bodies[i] = body
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("assets/%02d.bin", i), Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	tw.Close()
	var zs bytes.Buffer
	zw, _ := zstd.NewWriter(&zs)
	zw.Write(raw.Bytes())
	zw.Close()

	insp := artifact.NewInspector("")
	f := newFanout(insp.Position)
	r := f.addPaced(paceWindow)
	lead := &leadReader{r: r}
	dir := filepath.Join(t.TempDir(), "app")
	cmd := exec.Command("/bin/sh", "-c", unpackScript(dir, "releases/.tmp-1-x", "zstd", localZstdSync(t)))
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = lead, &unpackReport{r: r}, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	size := zs.Len()
	_, copyErr := io.Copy(io.MultiWriter(insp, f), &zs)
	f.close(copyErr)
	if err := insp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("unpack: %v: %s", err, stderr.String())
	}
	f.mu.Lock()
	paced := r.paced
	f.mu.Unlock()
	if !paced {
		t.Error("the host's tar sent no progress in time: pacing was dropped")
	}
	// A chunk may start at the window's end; what the fan-out knows of the
	// stream moves one write (io.Copy's 32 KiB) at a time.
	if max := int64(paceWindow + chunkSize + 32<<10); lead.max > max {
		t.Errorf("the host had up to %d stream bytes beyond what its tar read, want at most %d", lead.max, max)
	}
	for i, body := range bodies {
		name := fmt.Sprintf("assets/%02d.bin", i)
		if got, err := os.ReadFile(filepath.Join(dir, "releases/.tmp-1-x", name)); err != nil || !bytes.Equal(got, body) {
			t.Errorf("%s: got %d bytes (%v), want the %d streamed", name, len(got), err, len(body))
		}
	}
	t.Logf("stream %d bytes; at most %d of it ahead of the host's tar", size, lead.max)
}

// leadReader reads a paced fan-out reader and records how far the bytes
// read ran ahead of what the host's tar had reported.
type leadReader struct {
	r    *fanReader
	read int64
	max  int64
}

func (l *leadReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.read += int64(n)
	f := l.r.f
	f.mu.Lock()
	ahead := l.read - f.unpacksBy(l.r.unpacked)
	f.mu.Unlock()
	l.max = max(l.max, ahead)
	return n, err
}

// TestPullScriptKeepsTheURLOutOfArguments: the downloader gets the
// artifact's URL, token and all, on its standard input: another user of
// the host reads arguments (ps), not standard input.
func TestPullScriptKeepsTheURLOutOfArguments(t *testing.T) {
	const url = `https://builds.example.com/web-7.tar.gz?token=s3cr3t"\x`
	for _, tool := range []string{"curl", "wget"} {
		t.Run(tool, func(t *testing.T) {
			dir, bin := t.TempDir(), t.TempDir()
			// A downloader (GNU wget's --help and --version included)
			// that records its arguments and its standard input, then
			// fails: the script stops there.
			fake := "#!/bin/sh\n[ \"$1\" = --help ] && { echo '  -i,  --input-file=FILE'; exit 0; }\n[ \"$1\" = --version ] && { echo 'GNU Wget 1.21.3 built on linux-gnu.'; exit 0; }\nprintf '%s\\n' \"$@\" > " + shell.Quote(filepath.Join(dir, "argv")) + "\ncat > " + shell.Quote(filepath.Join(dir, "stdin")) + "\nexit 22\n"
			if err := os.WriteFile(filepath.Join(bin, tool), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			// Only the fake on PATH, with what the script needs around it.
			for _, need := range []string{"mkdir", "rm", "cat", "grep"} {
				p, err := exec.LookPath(need)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(p, filepath.Join(bin, need)); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("/bin/sh", "-c", pullScript(filepath.Join(dir, "app"), "releases/.tmp-7-x", url, "", "gzip", 1, time.Minute))
			cmd.Env = []string{"PATH=" + bin}
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("the pull script succeeded with a failing %s: %s", tool, out)
			}
			argv, _ := os.ReadFile(filepath.Join(dir, "argv"))
			stdin, _ := os.ReadFile(filepath.Join(dir, "stdin"))
			if len(argv) == 0 || strings.Contains(string(argv), "s3cr3t") {
				t.Errorf("%s's arguments: %q; want them without the URL", tool, argv)
			}
			want := url + "\n"
			if tool == "curl" {
				want = `url = "https://builds.example.com/web-7.tar.gz?token=s3cr3t\"\\x"` + "\nproto-redir = \"=https\"\n"
			}
			if string(stdin) != want {
				t.Errorf("%s's standard input: %q, want %q", tool, stdin, want)
			}
		})
	}
}

// TestPullScriptStaysOnHTTPS: a host's curl does not follow a redirect
// from the https URL it was given to plain http, where the URL's token
// would travel in the clear; an http URL still follows redirects.
func TestPullScriptStaysOnHTTPS(t *testing.T) {
	raw := buildSeven()
	plain, plainHits := plainArtifactServer(t)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/web-7.tar.gz", http.StatusFound)
	}))
	defer secure.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("this test needs curl: apt-get install -y curl")
	}
	tests := []struct {
		name, url string
		ok        bool
	}{
		{"https to http", secure.URL + "/web-7.tar.gz?token=t", false},
		{"http to http", plain.URL + "/start?token=t", true},
	}
	for _, tt := range tests {
		plainHits.Store(0)
		dir := t.TempDir()
		cmd := exec.Command("/bin/sh", "-c", pullScript(dir, "releases/.tmp-7-x", tt.url, "", "gzip", int64(len(raw)), time.Minute))
		cmd.Env = append(os.Environ(), "CURL_CA_BUNDLE="+ca)
		out, err := cmd.CombinedOutput()
		if tt.ok {
			if err != nil {
				t.Errorf("%s: %v: %s", tt.name, err, out)
			} else if b, err := os.ReadFile(filepath.Join(dir, "releases/.tmp-7-x/BUILD")); err != nil || string(b) != "7" {
				t.Errorf("%s: unpacked BUILD: %q, %v; want 7", tt.name, b, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: the pull succeeded; want the redirect refused", tt.name)
		}
		if n := plainHits.Load(); n != 0 {
			t.Errorf("%s: the plain http server got %d requests, want none", tt.name, n)
		}
	}
}

// TestPullScriptWithBusyBoxWget: on a host whose only downloader is
// BusyBox's wget, which reads no URL list, the pull still downloads.
func TestPullScriptWithBusyBoxWget(t *testing.T) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("this test needs BusyBox: apt-get install -y busybox")
	}
	var raw bytes.Buffer
	gz := gzip.NewWriter(&raw)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "BUILD", Mode: 0o644, Size: 1})
	tw.Write([]byte("7"))
	tw.Close()
	gz.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(raw.Bytes()) }))
	defer srv.Close()
	dir, bin := t.TempDir(), t.TempDir()
	if err := os.Symlink(busybox, filepath.Join(bin, "wget")); err != nil {
		t.Fatal(err)
	}
	for _, need := range []string{"mkdir", "rm", "grep", "wc", "tar", "gzip"} {
		p, err := exec.LookPath(need)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(p, filepath.Join(bin, need)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("/bin/sh", "-c", pullScript(dir, "releases/.tmp-7-x", srv.URL+"/web-7.tar.gz?token=t", "", "gzip", int64(raw.Len()), time.Minute))
	cmd.Env = []string{"PATH=" + bin}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pull with BusyBox's wget: %v: %s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "releases/.tmp-7-x/BUILD")); err != nil || string(b) != "7" {
		t.Errorf("unpacked BUILD: %q, %v; want 7", b, err)
	}
}

// TestPullScriptStalledDownloadFails: a download that stops receiving
// data fails after the idle bound (and the downloader's retries), rather
// than holding the deploy until the step's timeout.
func TestPullScriptStalledDownloadFails(t *testing.T) {
	// Mostly waiting: curl notices a stall in about 6 s past the bound.
	t.Parallel()
	for _, tool := range []string{"curl", "wget"} {
		t.Run(tool, func(t *testing.T) {
			t.Parallel()
			path, err := exec.LookPath(tool)
			if err != nil {
				t.Fatalf("this test needs %s: apt-get install -y %s", tool, tool)
			}
			stop := make(chan struct{})
			// A server that sends the headers and a few bytes, then nothing.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1048576")
				w.Write([]byte("0123456789"))
				w.(http.Flusher).Flush()
				select {
				case <-stop:
				case <-r.Context().Done():
				}
			}))
			defer srv.Close()
			defer close(stop)
			dir, bin := t.TempDir(), t.TempDir()
			for _, need := range []string{tool, "mkdir", "rm", "grep", "wc"} {
				p := path
				if need != tool {
					if p, err = exec.LookPath(need); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.Symlink(p, filepath.Join(bin, need)); err != nil {
					t.Fatal(err)
				}
			}
			// The guard only tells a hang from a failure; a stalled
			// download with a 1 s bound ends in seconds.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "/bin/sh", "-c", pullScript(dir, "releases/.tmp-7-x", srv.URL+"/web-7.tar.gz", "", "gzip", 1048576, time.Second))
			cmd.Env = []string{"PATH=" + bin}
			// Killing the shell leaves its downloader holding the output.
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("the pull script was still downloading from a stalled server after %v", 2*time.Minute)
			}
			if err == nil {
				t.Fatalf("the pull script succeeded with a stalled download: %s", out)
			}
			if tool == "curl" && !strings.Contains(string(out), "too slow") {
				t.Errorf("curl's error: %q, want it to say the transfer was too slow", out)
			}
		})
	}
}

// TestNeedsPruneAgreesWithPruneScript lays out a host's releases, reads
// them with the inspect script, installs and switches to build, runs the
// prune script, and checks that needsPrune, decided before the install,
// said a prune was needed exactly when the script removed something.
func TestNeedsPruneAgreesWithPruneScript(t *testing.T) {
	tests := []struct {
		name     string
		releases []string // newest first
		bad      []string
		current  string
		build    string
		target   string
		keep     int
		want     bool
	}{
		{"a bad release holds no good one out of keep", []string{"4", "3", "2"}, []string{"4"}, "3", "5", "", 3, false},
		{"a bad release past keep among all", []string{"4", "3", "2"}, []string{"4", "3", "2"}, "", "5", "", 2, true},
		{"a good release past keep", []string{"4", "3", "2", "1"}, nil, "4", "5", "", 3, true},
		{"exactly keep", []string{"3", "2"}, nil, "3", "4", "", 3, false},
		{"only the new previous past keep", []string{"4"}, nil, "4", "5", "", 1, false},
		{"only the rollback target past keep", []string{"4", "3"}, []string{"4"}, "4", "5", "3", 1, false},
		{"redeploy of a release on disk", []string{"4", "3", "2"}, nil, "4", "3", "", 2, true},
		{"bad releases past keep with a good one within", []string{"4", "3", "2"}, []string{"3", "2"}, "4", "5", "", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rel := filepath.Join(dir, "releases")
			base := time.Now().Add(-time.Hour)
			for i, r := range tt.releases {
				p := filepath.Join(rel, r)
				if err := os.MkdirAll(p, 0o755); err != nil {
					t.Fatal(err)
				}
				at := base.Add(-time.Duration(i) * time.Minute)
				if err := os.Chtimes(p, at, at); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range tt.bad {
				if err := os.WriteFile(filepath.Join(rel, ".bad-"+r), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.current != "" {
				if err := os.Symlink("releases/"+tt.current, filepath.Join(dir, "current")); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command("/bin/sh", "-c", inspectScript(dir, false, false)).Output()
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			st := parseInspect(out)
			got := st.needsPrune(tt.build, tt.target, tt.keep)

			// Install and switch as a deploy does: the new release is
			// the newest, current points at it, previous at the old one.
			if err := os.MkdirAll(filepath.Join(rel, tt.build), 0o755); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(dir, "current"))
			if err := os.Symlink("releases/"+tt.build, filepath.Join(dir, "current")); err != nil {
				t.Fatal(err)
			}
			if tt.current != "" && tt.current != tt.build {
				if err := os.Symlink("releases/"+tt.current, filepath.Join(dir, "previous")); err != nil {
					t.Fatal(err)
				}
			}
			pruned, err := exec.Command("/bin/sh", "-c", pruneScript(dir, tt.keep, tt.target)).CombinedOutput()
			if err != nil {
				t.Fatalf("prune: %v: %s", err, pruned)
			}
			removed := strings.Contains(string(pruned), "pruned=")
			if removed != tt.want {
				t.Fatalf("prune script removed something: %v (%q), want %v", removed, pruned, tt.want)
			}
			if got != tt.want {
				t.Errorf("needsPrune(%s, %d) on %+v: got %v, want %v", tt.build, tt.keep, st, got, tt.want)
			}
		})
	}
}

// buildSeven is an artifact of build 7: a tar.gz of BUILD alone.
func buildSeven() []byte {
	var raw bytes.Buffer
	gz := gzip.NewWriter(&raw)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "BUILD", Mode: 0o644, Size: 1})
	tw.Write([]byte("7"))
	tw.Close()
	gz.Close()
	return raw.Bytes()
}

// plainArtifactServer serves buildSeven over plain http, /start
// redirecting to it, and counts the requests it gets.
func plainArtifactServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	raw := buildSeven()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/start" {
			http.Redirect(w, r, "/web-7.tar.gz", http.StatusFound)
			return
		}
		w.Write(raw)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestInspectDangling: a `current` or `previous` link whose release is
// gone is read as pointing at nothing, and named as gone with the
// release it points at, so that status can say so: it said "current
// none", as of a host never deployed to.
func TestInspectDangling(t *testing.T) {
	tests := []struct {
		name, current, previous string
		want                    hostState
	}{
		{"current gone", "releases/3", "releases/2",
			hostState{Previous: "2", CurrentDangling: true, CurrentGone: "3"}},
		{"previous gone", "releases/2", "releases/1",
			hostState{Current: "2", PreviousDangling: true, PreviousGone: "1"}},
		{"current gone, its path absolute", "/nowhere/releases/4", "releases/2",
			hostState{Previous: "2", CurrentDangling: true, CurrentGone: "4"}},
		{"current gone, to no build id", "releases/not a build", "releases/2",
			hostState{Previous: "2", CurrentDangling: true}},
		{"none gone", "releases/2", "", hostState{Current: "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "releases", "2"), 0o755); err != nil {
				t.Fatal(err)
			}
			for link, to := range map[string]string{"current": tt.current, "previous": tt.previous} {
				if to == "" {
					continue
				}
				if err := os.Symlink(to, filepath.Join(dir, link)); err != nil {
					t.Fatal(err)
				}
			}
			out, err := exec.Command("/bin/sh", "-c", inspectScript(dir, false, false)).Output()
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			st := parseInspect(out)
			if st.Current != tt.want.Current || st.Previous != tt.want.Previous ||
				st.CurrentDangling != tt.want.CurrentDangling || st.CurrentGone != tt.want.CurrentGone ||
				st.PreviousDangling != tt.want.PreviousDangling || st.PreviousGone != tt.want.PreviousGone {
				t.Errorf("got %+v, want %+v (output %q)", st, tt.want, out)
			}
		})
	}
}
