package artifact

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// entry is one member of a test tarball.
type entry struct {
	name string
	typ  byte // tar.TypeReg when zero
	body string
	link string
}

func file(name, body string) entry   { return entry{name: name, body: body} }
func dir(name string) entry          { return entry{name: name, typ: tar.TypeDir} }
func symlink(name, to string) entry  { return entry{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) entry { return entry{name: name, typ: tar.TypeLink, link: to} }

func makeTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, ModTime: time.Unix(1700000000, 0)}
		switch e.typ {
		case tar.TypeXGlobalHeader:
			hdr = &tar.Header{Typeflag: e.typ, PAXRecords: map[string]string{"comment": "abc123"}}
		case 0:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(len(e.body))
		case tar.TypeDir:
			hdr.Mode = 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatalf("tar body %q: %v", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("tar close: %v", err)
	}
	return buf.Bytes()
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// inspect feeds data to an Inspector in small uneven writes, as a network
// stream would.
func inspect(t testing.TB, data []byte, want string) (Report, error) {
	t.Helper()
	insp := NewInspector(want)
	for rest, n := data, 1; len(rest) > 0; n = n*2 + 1 {
		n = min(n%70000+1, len(rest))
		if w, err := insp.Write(rest[:n]); w != n || err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", w, err, n)
		}
		rest = rest[n:]
	}
	closeErr := insp.Close()
	rep, err := insp.Result()
	if !errors.Is(closeErr, err) && closeErr != err {
		t.Errorf("Close returned %v, Result %v; want the same", closeErr, err)
	}
	if rep.Bytes != int64(len(data)) || rep.SHA256 != sum(data) {
		t.Errorf("report says %d bytes, sha256 %s; want %d, %s", rep.Bytes, rep.SHA256, len(data), sum(data))
	}
	return rep, err
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name string
		head []byte
		want Compression
	}{
		{"gzip", []byte{0x1f, 0x8b, 0x08, 0x00}, Gzip},
		{"gzip, two bytes", []byte{0x1f, 0x8b}, Gzip},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0x04}, Zstd},
		{"zstd cut short", []byte{0x28, 0xb5, 0x2f}, ""},
		{"plain tar", []byte("app/\x00\x00\x00"), ""},
		{"bzip2", []byte("BZh91AY"), ""},
		{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0}, ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(tt.head)
			if tt.want == "" {
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not a gzip or zstd tarball") {
					t.Errorf("Detect = %q, %v; want an ErrCorrupt saying not a gzip or zstd tarball", got, err)
				}
				return
			}
			if got != tt.want || err != nil {
				t.Errorf("Detect = %q, %v; want %q, nil", got, err, tt.want)
			}
		})
	}
}

func TestInspectValid(t *testing.T) {
	tarball := makeTar(t,
		entry{name: "pax_global_header", typ: tar.TypeXGlobalHeader},
		dir("./"),
		dir("bin/"),
		file("bin/app", "#!/bin/sh\necho hi\n"),
		file("README", "hello"),
		symlink("bin/run", "app"),
		symlink("lib", "bin"),
		symlink("bin/up", "../README"),
		dir("node_modules/.bin/"),
		dir("node_modules/x/bin/"),
		file("node_modules/x/bin/cli.js", "x"),
		symlink("node_modules/.bin/x", "../x/bin/cli.js"),
		hardlink("README.copy", "README"),
		hardlink("via-link", "lib/app"),
		symlink("self-dir", "."),
		file("self-dir/inner", "written through a link into the release"),
		file("héllo wörld.txt", "unicode is fine"),
	)
	for _, tt := range []struct {
		name string
		data []byte
		comp Compression
	}{
		{"gzip", gz(t, tarball), Gzip},
		{"zstd", zst(t, tarball), Zstd},
		{"concatenated gzip members", append(gz(t, tarball[:512]), gz(t, tarball[512:])...), Gzip},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := inspect(t, tt.data, sum(tt.data))
			if err != nil {
				t.Fatalf("Result: %v", err)
			}
			want := Report{Compression: tt.comp, SHA256: sum(tt.data), Bytes: int64(len(tt.data)), Entries: 16, Files: 5, UnpackedBytes: int64(len("#!/bin/sh\necho hi\n") + 5 + 1 + 39 + 15)}
			if rep != want {
				t.Errorf("got %+v, want %+v", rep, want)
			}
		})
	}
}

// TestInspectSystemTar checks tarballs made by the tar that builds
// artifacts in CI.
func TestInspectSystemTar(t *testing.T) {
	for _, bin := range []string{"tar", "gzip", "zstd"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("%s not found; install it with: apt-get install tar gzip zstd", bin)
		}
	}
	src := t.TempDir()
	for name, body := range map[string]string{"bin/app": "#!/bin/sh\n", "config/app.yml": "a: 1\n", "public/index.html": "<p>hi</p>"} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../bin/app", filepath.Join(src, "public/app")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "bin/app"), filepath.Join(src, "bin/app2")); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	for _, tt := range []struct {
		flag string
		comp Compression
	}{{"-z", Gzip}, {"--zstd", Zstd}} {
		t.Run(string(tt.comp), func(t *testing.T) {
			file := filepath.Join(out, "a.tar."+string(tt.comp))
			if b, err := exec.Command("tar", "-c", tt.flag, "-f", file, "-C", src, ".").CombinedOutput(); err != nil {
				t.Fatalf("tar: %v: %s", err, b)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := inspect(t, data, sum(data))
			if err != nil {
				t.Fatalf("Result: %v", err)
			}
			// ./ bin/ bin/app bin/app2 config/ config/app.yml public/
			// public/index.html public/app; bin/app2 is a hard link entry, not a file.
			if rep.Compression != tt.comp || rep.Entries != 9 || rep.Files != 3 {
				t.Errorf("got %+v, want %s with 9 entries, 3 of them files", rep, tt.comp)
			}
		})
	}
}

func TestInspectChecksum(t *testing.T) {
	data := gz(t, makeTar(t, file("a", "a")))
	other := strings.Repeat("0", 64)
	tests := []struct {
		name    string
		want    string
		wantErr bool
	}{
		{"none expected", "", false},
		{"match", sum(data), false},
		{"match, upper case", strings.ToUpper(sum(data)), false},
		{"mismatch", other, true},
		{"not a digest", "abc", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inspect(t, data, tt.want)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Result: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrChecksum) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsafe) {
				t.Fatalf("got %v, want only ErrChecksum", err)
			}
		})
	}
	t.Run("message names both sums", func(t *testing.T) {
		_, err := inspect(t, data, other)
		var ce *ChecksumError
		if !errors.As(err, &ce) || ce.Want != other || ce.Got != sum(data) {
			t.Fatalf("got %v, want a *ChecksumError{%s, %s}", err, other, sum(data))
		}
		if msg := err.Error(); !strings.Contains(msg, "expected sha256 "+other) || !strings.Contains(msg, "got "+sum(data)) {
			t.Errorf("message %q does not name the expected and actual sums", msg)
		}
	})
}

func TestInspectUnsafe(t *testing.T) {
	tests := []struct {
		name      string
		entries   []entry
		wantEntry string
	}{
		{"absolute path", []entry{file("/etc/cron.d/x", "x")}, "/etc/cron.d/x"},
		{"dot dot", []entry{file("../x", "x")}, "../x"},
		{"dot dot inside", []entry{dir("a/"), file("a/../../x", "x")}, "a/../../x"},
		{"dot dot directory", []entry{dir("a/../..")}, "a/../.."},
		{"dot dot that stays inside", []entry{dir("a/"), file("a/../b", "x")}, "a/../b"},
		{"hard link with dot dot inside", []entry{dir("a/"), file("b", "x"), hardlink("h", "a/../b")}, "h"},
		{"symlink absolute", []entry{symlink("etc", "/etc")}, "etc"},
		{"symlink up", []entry{dir("a/"), symlink("a/l", "../../x")}, "a/l"},
		{"symlink up from root", []entry{symlink("l", "..")}, "l"},
		{"symlink through symlink", []entry{symlink("s", "."), symlink("t", "s/..")}, "t"},
		{"symlink made unsafe later", []entry{symlink("t", "s/.."), symlink("s", ".")}, "t"},
		{"file through a link made unsafe later", []entry{symlink("t", "s/.."), symlink("s", "."), file("t/x", "x")}, "t/x"},
		{"symlink loop", []entry{symlink("a", "b"), symlink("b", "a")}, "a"},
		{"file through symlink", []entry{dir("d/"), symlink("up", "d/.."), symlink("s", "."), file("s/../x", "x")}, "s/../x"},
		{"replaces symlink", []entry{dir("d/"), symlink("l", "d"), file("l", "x")}, "l"},
		{"replaces symlink with directory", []entry{dir("d/"), symlink("l", "d"), dir("l/")}, "l/"},
		{"hard link up", []entry{hardlink("h", "../etc/passwd")}, "h"},
		{"hard link absolute", []entry{hardlink("h", "/etc/passwd")}, "h"},
		{"hard link through symlink", []entry{symlink("s", "."), hardlink("h", "s/../etc/passwd")}, "h"},
		{"character device", []entry{{name: "null", typ: tar.TypeChar}}, "null"},
		{"block device", []entry{{name: "sda", typ: tar.TypeBlock}}, "sda"},
		{"fifo", []entry{{name: "pipe", typ: tar.TypeFifo}}, "pipe"},
		{"newline in name", []entry{file("a\nb", "x")}, "a\nb"},
		{"escape in name", []entry{file("\x1b[2Jx", "x")}, "\x1b[2Jx"},
		{"control character in link", []entry{symlink("l", "a\tb")}, "l"},
		{"long name", []entry{file(strings.Repeat("a/", 2100)+"x", "x")}, strings.Repeat("a/", 2100) + "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Safe entries before and a large file after: the Inspector
			// must keep hashing after it stopped reading.
			entries := append([]entry{file("ok", "fine")}, tt.entries...)
			entries = append(entries, file("big", string(randomBytes(1<<20))))
			data := gz(t, makeTar(t, entries...))
			_, err := inspect(t, data, sum(data))
			var ue *UnsafeEntryError
			if !errors.As(err, &ue) || !errors.Is(err, ErrUnsafe) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want an *UnsafeEntryError", err)
			}
			if ue.Entry != tt.wantEntry {
				t.Errorf("error names entry %q, want %q (%v)", ue.Entry, tt.wantEntry, err)
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	for _, s := range []string{"", "a\x00b", "a\x7f", "\r"} {
		if checkName(s) == "" {
			t.Errorf("checkName(%q) accepted it", s)
		}
	}
	for _, s := range []string{"a", "a b/c-d_e.f", "ünï", strings.Repeat("x", maxName)} {
		if why := checkName(s); why != "" {
			t.Errorf("checkName(%q) = %q, want it accepted", s, why)
		}
	}
}

func TestInspectCorrupt(t *testing.T) {
	tarball := makeTar(t, file("a", "hello"), file("b", string(randomBytes(64<<10))))
	good := gz(t, tarball)
	goodZstd := zst(t, tarball)
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"garbage", randomBytes(4096)},
		{"plain tar", tarball},
		{"truncated gzip", good[:len(good)/2]},
		{"gzip without its trailer", good[:len(good)-4]},
		{"truncated zstd", goodZstd[:len(goodZstd)/2]},
		{"flipped byte in gzip", flip(good, len(good)/2)},
		{"flipped byte in zstd", flip(goodZstd, len(goodZstd)/2)},
		{"trailing garbage after gzip", append(append([]byte(nil), good...), "junk after the stream"...)},
		// gzip -d ignores trailing zeros: refusing them keeps a stream's
		// last bytes part of its compressed data, which a push holds back
		// until it is verified.
		{"zeros after gzip", append(append([]byte(nil), good...), make([]byte, 512)...)},
		{"zeros after zstd", append(append([]byte(nil), goodZstd...), make([]byte, 512)...)},
		{"gzip of garbage", gz(t, randomBytes(10000))},
		{"zstd of garbage", zst(t, randomBytes(10000))},
		{"gzip of a tar cut inside padding", gz(t, tarball[:1000])},
		{"gzip of a tar cut between entries", gz(t, tarball[:1024])},
		{"gzip of a tar cut inside a header", gz(t, tarball[:1024+100])},
		{"gzip of a tar cut inside data", gz(t, tarball[:1024+512+300])},
		{"gzip of nothing", gz(t, nil)},
		{"empty tar", gz(t, makeTar(t))},
		{"magic only", []byte{0x1f, 0x8b}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inspect(t, tt.data, "")
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsafe) || errors.Is(err, ErrChecksum) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("corrupt and wrong checksum", func(t *testing.T) {
		_, err := inspect(t, good[:100], sum(good))
		if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrChecksum) {
			t.Fatalf("got %v, want both ErrCorrupt and ErrChecksum", err)
		}
	})
}

func TestInspectorErrReportsEarly(t *testing.T) {
	insp := NewInspector("")
	t.Cleanup(func() { insp.Close() })
	if _, err := insp.Write(randomBytes(8192)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for insp.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("Err still nil 5s after garbage was written")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(insp.Err(), ErrCorrupt) {
		t.Errorf("Err = %v, want ErrCorrupt", insp.Err())
	}
	// More writes neither block nor fail.
	for range 1000 {
		if _, err := insp.Write(make([]byte, 64<<10)); err != nil {
			t.Fatalf("Write after the reader stopped: %v", err)
		}
	}
}

func TestInspectorMisuse(t *testing.T) {
	insp := NewInspector("")
	if _, err := insp.Result(); err == nil {
		t.Error("Result before Close succeeded, want an error")
	}
	insp.Write(gz(t, makeTar(t, file("a", "a"))))
	if err := insp.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := insp.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := insp.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded, want an error")
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0xff
	return c
}

// rng makes incompressible test data, the same on every run.
var rng = rand.NewChaCha8([32]byte{'s', 'w', 'i', 't', 'c', 'h'})

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rng.Read(b)
	return b
}

// FuzzInspect checks that the Inspector returns, without panicking, on any
// input. Run it with: go test ./internal/artifact -run '^$' -fuzz FuzzInspect
func FuzzInspect(f *testing.F) {
	f.Add(gz(f, makeTar(f, dir("a/"), file("a/b", "x"), symlink("l", "a/b"), hardlink("h", "a/b"))))
	f.Add(zst(f, makeTar(f, file("a", "x"), symlink("s", "."), symlink("t", "s/.."))))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := inspect(t, data, "")
		if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsafe) {
			t.Fatalf("got %v, want nil, ErrCorrupt or ErrUnsafe", err)
		}
		if err == nil && rep.Entries == 0 {
			t.Fatalf("accepted an archive with no entries: %+v", rep)
		}
	})
}

// An archive of many symlinks with long names compresses to little, and
// the inspector keeps every symlink until the archive ends: it must refuse
// the archive rather than take the bot's memory.
func TestInspectTooManySymlinks(t *testing.T) {
	long := strings.Repeat("x", 4000)
	n := maxLinkBytes/(2*len(long)) + 2
	entries := make([]entry, 0, n)
	for i := range n {
		entries = append(entries, symlink(fmt.Sprintf("%s%06d", long, i), long))
	}
	data := gz(t, makeTar(t, entries...))
	_, err := inspect(t, data, sum(data))
	var ue *UnsafeEntryError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want an *UnsafeEntryError", err)
	}
	if !strings.Contains(ue.Reason, "symlinks take more than") {
		t.Errorf("got reason %q, want one about the symlinks' size", ue.Reason)
	}
}

// Resolving an entry must cost in proportion to its name, not to its depth
// times its length: deep names of a few KB each, which compress to almost
// nothing, once made the bot copy megabytes per entry, and a 290 KB archive
// took it 41 s of CPU. The measure is the memory allocated, which that
// copying shows, rather than the time.
func TestTreeDeepNamesCostTheirLength(t *testing.T) {
	deep := strings.Repeat("a/", 2000)
	tests := []struct {
		name  string
		links []entry
	}{
		{"no symlinks", nil},
		{"a symlink", []entry{symlink("l", ".")}},
		{"a deep symlink", []entry{symlink(deep+"l", "../b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree()
			for _, e := range tt.links {
				if err := tr.add(&tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link}); err != nil {
					t.Fatal(err)
				}
			}
			const n = 200
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := range n {
				if err := tr.add(&tar.Header{Name: fmt.Sprintf("%sf%d", deep, i), Typeflag: tar.TypeReg}); err != nil {
					t.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			// The names themselves are 4 KB each; allow a hundred times that.
			if got, most := after.TotalAlloc-before.TotalAlloc, uint64(n*len(deep)*100); got > most {
				t.Errorf("got %d MB allocated for %d entries, want at most %d MB", got>>20, n, most>>20)
			}
		})
	}
}

// TestLimitUnpacked: an archive whose files come to more than the limit is
// refused at the header of the file that goes past it, before its data
// (a build of compressed zeros would otherwise fill every host's disk);
// one at the limit passes, and 0 sets none.
func TestLimitUnpacked(t *testing.T) {
	data := gz(t, makeTar(t, file("a", strings.Repeat("x", 600)), file("b", strings.Repeat("y", 400))))
	for _, tt := range []struct {
		limit int64
		tooBy string // the entry refused, or "" for none
	}{
		{0, ""},
		{1000, ""},
		{999, "b"},
		{599, "a"},
	} {
		insp := NewInspector(sum(data))
		insp.LimitUnpacked(tt.limit)
		_, _ = insp.Write(data)
		insp.Close()
		_, err := insp.Result()
		var tl *TooLargeError
		switch {
		case tt.tooBy == "" && err != nil:
			t.Errorf("limit %d: got %v, want the archive accepted", tt.limit, err)
		case tt.tooBy != "" && (!errors.As(err, &tl) || tl.Entry != tt.tooBy || tl.Limit != tt.limit || !errors.Is(err, ErrTooLarge)):
			t.Errorf("limit %d: got %v, want a TooLargeError at %q", tt.limit, err, tt.tooBy)
		}
	}
	// The refusal comes before the data: a header claiming 1 TiB, with no
	// data behind it, is refused as too large, not as truncated.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40}); err != nil {
		t.Fatal(err)
	}
	tw.Flush()
	insp := NewInspector("")
	insp.LimitUnpacked(20 << 30)
	_, _ = insp.Write(gz(t, buf.Bytes()))
	insp.Close()
	if _, err := insp.Result(); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), `more than 20 GiB once unpacked, the limit (artifact.max_unpacked), by entry "zeros" of 1 TiB`) {
		t.Errorf("a 1 TiB file: got %v, want it refused as too large", err)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 1536: "1.5 KiB", 20 << 30: "20 GiB", 1 << 40: "1 TiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestZerosAfterTheEndMarker: tar pads an archive to its record size
// after the end-of-archive marker, and nothing there counts towards
// LimitUnpacked: zeros without end there, a few MB compressed, must not
// be read to the end.
func TestZerosAfterTheEndMarker(t *testing.T) {
	tarball := makeTar(t, file("a", "hello"))
	padded := func(n int) []byte {
		return append(append([]byte(nil), tarball...), make([]byte, n)...)
	}
	for _, tt := range []struct {
		name    string
		zeros   int
		refused bool
	}{
		{"tar's default record", 10<<10 - len(tarball)%(10<<10), false},
		{"16 MiB", 16 << 20, false},
		{"16 MiB and a block", 16<<20 + 512, true},
		{"64 MiB", 64 << 20, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			insp := NewInspector("")
			insp.LimitUnpacked(1 << 20)
			_, _ = insp.Write(zst(t, padded(tt.zeros)))
			insp.Close()
			_, err := insp.Result()
			switch {
			case !tt.refused && err != nil:
				t.Errorf("got %v, want the archive accepted", err)
			case tt.refused && (!errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "more than 16 MiB of zeros after the end-of-archive marker")):
				t.Errorf("got %v, want ErrCorrupt for the zeros after the marker", err)
			}
		})
	}
}

// TestLimitEntries: empty files, directories and links hold nothing for
// LimitUnpacked to count, yet each takes an inode on every host.
func TestLimitEntries(t *testing.T) {
	data := gz(t, makeTar(t, dir("d/"), file("d/a", ""), file("d/b", ""), hardlink("d/c", "d/a")))
	for _, tt := range []struct {
		limit int
		past  string // the entry refused, or "" for none
	}{
		{0, ""},
		{4, ""},
		{3, "d/c"},
		{1, "d/a"},
	} {
		insp := NewInspector(sum(data))
		insp.LimitEntries(tt.limit)
		_, _ = insp.Write(data)
		insp.Close()
		_, err := insp.Result()
		var tm *TooManyEntriesError
		switch {
		case tt.past == "" && err != nil:
			t.Errorf("limit %d: got %v, want the archive accepted", tt.limit, err)
		case tt.past != "" && (!errors.As(err, &tm) || tm.Entry != tt.past || tm.Limit != tt.limit || !errors.Is(err, ErrTooLarge)):
			t.Errorf("limit %d: got %v, want a TooManyEntriesError at %q", tt.limit, err, tt.past)
		}
	}
	// Refused at the header past the limit, not as the truncated archive
	// it also is: the entries of a stream without end are not read to it.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range 1000 {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("e%d", i), Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
	}
	tw.Flush()
	insp := NewInspector("")
	insp.LimitEntries(100)
	_, _ = insp.Write(gz(t, buf.Bytes()))
	insp.Close()
	if _, err := insp.Result(); err == nil || !strings.Contains(err.Error(), `it has more than 100 entries (files, directories and links), the limit (artifact.max_entries), at entry "e100"`) {
		t.Errorf("1000 entries without an end: got %v, want them refused at the 101st", err)
	}
}
