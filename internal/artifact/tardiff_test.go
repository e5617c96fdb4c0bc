package artifact

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rawHeader is one ustar header block, written by hand: archive/tar's
// writer will not produce the headers GNU tar and archive/tar read
// differently.
func rawHeader(name string, typ byte, size int, link string) []byte {
	b := make([]byte, blockSize)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], "14000000000\x00")
	b[156] = typ
	copy(b[157:257], link)
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	for i := 148; i < 156; i++ {
		b[i] = ' '
	}
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// rawEntry is a header and its data, padded to whole blocks.
func rawEntry(typ byte, name, link string, body []byte) []byte {
	out := append(rawHeader(name, typ, len(body), link), body...)
	if r := len(out) % blockSize; r != 0 {
		out = append(out, make([]byte, blockSize-r)...)
	}
	return out
}

// paxRecord is one "LEN key=value\n" record.
func paxRecord(k, v string) string {
	rec := " " + k + "=" + v + "\n"
	for n := len(rec); ; {
		s := fmt.Sprintf("%d%s", n, rec)
		if len(s) == n {
			return s
		}
		n = len(s)
	}
}

func rawArchive(entries ...[]byte) []byte {
	return append(bytes.Join(entries, nil), make([]byte, 2*blockSize)...)
}

// oldGNUHeader is an old-GNU header ("ustar  \0") whose access and change
// time bytes, where ustar keeps its prefix, hold prefix instead.
func oldGNUHeader(name, prefix string, typ byte, link string) []byte {
	b := rawHeader(name, typ, 0, link)
	copy(b[257:265], "ustar  \x00")
	copy(b[345:500], prefix)
	return checksummed(b)
}

// starHeader is a ustar header with the star trailer ("tar\0" at 508)
// and a prefix of prefix131 in the star prefix field and tail in the
// 24 bytes after it, which star keeps its times in.
func starHeader(name, prefix131, tail string, typ byte, link string) []byte {
	b := rawHeader(name, typ, 0, link)
	copy(b[345:476], prefix131)
	copy(b[476:500], tail)
	copy(b[508:512], "tar\x00")
	return checksummed(b)
}

// checksummed sets the checksum of header block b.
func checksummed(b []byte) []byte {
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// goTar is an archive archive/tar writes of the headers, without data.
func goTar(t *testing.T, hdrs ...*tar.Header) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestInspectAsGNUTarReads refuses archives that archive/tar, which the
// inspector reads with, and GNU tar, which unpacks on the hosts, read
// differently, or that are cut short after an entry ending in zeros:
// each was seen to pass the inspector and then unpack a symlink leading
// out of the release, or a release missing files, with GNU tar 1.34.
func TestInspectAsGNUTarReads(t *testing.T) {
	binary := append([]byte("\x7fELF"), make([]byte, 600)...) // ends in zeros, as binaries do
	var cut bytes.Buffer
	tw := tar.NewWriter(&cut)
	tw.WriteHeader(&tar.Header{Name: "bin/app", Typeflag: tar.TypeReg, Size: int64(len(binary)), Mode: 0o755})
	tw.Write(binary)
	tw.Flush() // the producer died here, before config/app.yml and the end marker

	tests := []struct {
		name string
		tar  []byte
		want string // in the error
	}{
		{"hard link to a symlink", rawArchive(
			rawEntry(tar.TypeDir, "a/", "", nil),
			rawEntry(tar.TypeSymlink, "a/up", "..", nil),
			rawEntry(tar.TypeLink, "up", "a/up", nil)), `hard link to the symlink "a/up"`},
		{"pax path against a GNU long name", rawArchive(
			rawEntry(tar.TypeDir, "d/", "", nil),
			rawEntry(tar.TypeXHeader, "PaxHeader", "", []byte(paxRecord("path", "up"))),
			rawEntry(tar.TypeGNULongName, "././@LongLink", "", []byte("d/up\x00")),
			rawEntry(tar.TypeSymlink, "d/up", "..", nil)), `pax path "up" differs`},
		{"pax linkpath against a GNU long link", rawArchive(
			rawEntry(tar.TypeXHeader, "PaxHeader", "", []byte(paxRecord("linkpath", "/etc"))),
			rawEntry(tar.TypeGNULongLink, "././@LongLink", "", []byte("ok\x00")),
			rawEntry(tar.TypeSymlink, "etc", "ok", nil)), `pax linkpath "/etc" differs`},
		{"GNU.sparse.name", rawArchive(
			rawEntry(tar.TypeDir, "d/", "", nil),
			rawEntry(tar.TypeXHeader, "PaxHeader", "", []byte(paxRecord("GNU.sparse.name", "up")+paxRecord("path", "d/up"))),
			rawEntry(tar.TypeSymlink, "d/up", "..", nil)), "sparse files are not supported"},
		{"global linkpath", rawArchive(
			rawEntry(tar.TypeXGlobalHeader, "pax_global_header", "", []byte(paxRecord("linkpath", "/etc"))),
			rawEntry(tar.TypeSymlink, "cfg", "ok", nil)), "a global pax header sets linkpath"},
		{"global path", rawArchive(
			rawEntry(tar.TypeDir, "d/", "", nil),
			rawEntry(tar.TypeXGlobalHeader, "pax_global_header", "", []byte(paxRecord("path", "up"))),
			rawEntry(tar.TypeSymlink, "d/up", "..", nil)), "a global pax header sets path"},
		// GNU tar takes a global size for every later entry's: the data
		// of "a", which archive/tar skips, are headers to it.
		{"global size", rawArchive(
			rawEntry(tar.TypeXGlobalHeader, "pax_global_header", "", []byte(paxRecord("size", "0"))),
			rawEntry(tar.TypeReg, "a", "", rawHeader("x", tar.TypeSymlink, 0, "/etc"))),
			"a global pax header sets size"},
		// archive/tar drops a GNU long name or link, or a pax header,
		// that a global header follows; GNU tar keeps it for the next
		// entry, which it names or links otherwise.
		{"GNU long link before a global header", rawArchive(
			rawEntry(tar.TypeGNULongLink, "././@LongLink", "", []byte("../../../etc\x00")),
			rawEntry(tar.TypeXGlobalHeader, "pax_global_header", "", []byte(paxRecord("comment", "3f1c2a9e"))),
			rawEntry(tar.TypeSymlink, "cfg", "ok", nil)), "before a global pax header"},
		{"GNU long name before a global header", rawArchive(
			rawEntry(tar.TypeDir, "d/", "", nil),
			rawEntry(tar.TypeGNULongName, "././@LongLink", "", []byte("up\x00")),
			rawEntry(tar.TypeXGlobalHeader, "pax_global_header", "", []byte(paxRecord("comment", "3f1c2a9e"))),
			rawEntry(tar.TypeSymlink, "d/up", "..", nil)), "before a global pax header"},
		{"pax header before a global header", rawArchive(
			rawEntry(tar.TypeDir, "d/", "", nil),
			rawEntry(tar.TypeXHeader, "PaxHeader", "", []byte(paxRecord("path", "up"))),
			rawEntry(tar.TypeXGlobalHeader, "pax_global_header", "", []byte(paxRecord("comment", "3f1c2a9e"))),
			rawEntry(tar.TypeSymlink, "d/up", "..", nil)), "before a global pax header"},
		// GNU tar stops at the marker, unless the host's TAR_OPTIONS,
		// which the delivery keeps, say --ignore-zeros.
		{"an entry after the end-of-archive marker", append(rawArchive(rawEntry(tar.TypeReg, "a", "", []byte("hi"))),
			rawArchive(rawEntry(tar.TypeSymlink, "lnk", "/etc", nil))...), "data after the end-of-archive marker"},
		{"cut after an entry ending in zeros", cut.Bytes(), "truncated"},
		// archive/tar reads the old-GNU atime/ctime bytes as a prefix
		// when they do not parse ("p/…/p/s"); GNU tar reads "s", at the
		// top, where the link leads out.
		{"old-GNU header with a prefix in its times", rawArchive(
			rawEntry(tar.TypeReg, "app.txt", "", []byte("hello")),
			oldGNUHeader("s", strings.TrimSuffix(strings.Repeat("p/", 12), "/"), tar.TypeSymlink, strings.Repeat("../", 12)+"etc/passwd")),
			`read as "s" by GNU tar and as "p/p/p/p/p/p/p/p/p/p/p/p/s" by archive/tar`},
		// archive/tar takes 131 bytes of a star header's prefix, GNU tar
		// all 155: the two place the link in different directories.
		{"star header with a long prefix", rawArchive(
			rawEntry(tar.TypeDir, "e/", "", nil),
			starHeader("s", strings.Repeat("d", 131), strings.Repeat("0", 24), tar.TypeSymlink, "..")),
			"non-standard name prefix"},
		// archive/tar reads no data after a directory: the next block is
		// a header to it, data to a tar that honours the size.
		{"directory carrying data", rawArchive(
			append(rawHeader("d/", tar.TypeDir, blockSize, ""), rawHeader("x", tar.TypeSymlink, 0, "../..")...)),
			"a directory entry carrying 512 bytes"},
		// GNU tar makes a directory of a regular file whose name ends in
		// a slash, and reads no data after it either.
		{"file named as a directory, carrying data", rawArchive(
			append(rawHeader("d/", tar.TypeReg, blockSize, ""), rawHeader("x", tar.TypeSymlink, 0, "/etc")...)),
			"a file named as a directory (d/) carrying 512 bytes"},
		{"contiguous file named as a directory, carrying data", rawArchive(
			append(rawHeader("d/", tar.TypeCont, blockSize, ""), rawHeader("x", tar.TypeSymlink, 0, "/etc")...)),
			"a file named as a directory (d/) carrying 512 bytes"},
		{"symlink carrying data", rawArchive(
			append(rawHeader("l", tar.TypeSymlink, blockSize, "d"), rawHeader("d", tar.TypeReg, 0, "")...)),
			"a symlink entry carrying 512 bytes"},
		{"setuid file", goTar(t, &tar.Header{Name: "bin/su", Typeflag: tar.TypeReg, Mode: 0o4755}),
			"setuid or setgid bit (mode 4755)"},
		{"setgid directory", goTar(t, &tar.Header{Name: "shared/", Typeflag: tar.TypeDir, Mode: 0o2775}),
			"setuid or setgid bit (mode 2775)"},
		{"world-writable file", goTar(t, &tar.Header{Name: "config/app.conf", Typeflag: tar.TypeReg, Mode: 0o666}),
			`"config/app.conf": world-writable (mode 0666)`},
		{"world-writable directory", goTar(t, &tar.Header{Name: "public/", Typeflag: tar.TypeDir, Mode: 0o777}),
			`"public/": world-writable (mode 0777)`},
		{"world-writable sticky directory", goTar(t, &tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}),
			`"tmp/": world-writable (mode 1777)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := NewInspector("")
			i.Write(gz(t, tt.tar))
			err := i.Close()
			var unsafe *UnsafeEntryError
			if err == nil || !(errors.As(err, &unsafe) || errors.Is(err, ErrCorrupt)) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want a refusal saying %q", err, tt.want)
			}
		})
	}

	// What git archive and GNU tar --format=pax write still passes: a
	// global comment, and a pax path for a long name that agrees with it.
	long := strings.Repeat("n", 120) + "/file"
	ok := rawArchive(
		rawEntry(tar.TypeXGlobalHeader, "pax_global_header", "", []byte(paxRecord("comment", "3f1c2a9e"))),
		rawEntry(tar.TypeXHeader, "PaxHeader", "", []byte(paxRecord("path", long))),
		rawEntry(tar.TypeReg, long[:99], "", []byte("x")),
		rawEntry(tar.TypeReg, "bin/app", "", binary))
	i := NewInspector("")
	i.Write(gz(t, ok))
	if err := i.Close(); err != nil {
		t.Errorf("a git archive style tarball with a long pax name: %v", err)
	}
	// Global headers between entries (tar --concatenate of two git
	// archives), after an entry's data and padding, pass too.
	twice := rawArchive(append(ok[:len(ok)-2*blockSize:len(ok)-2*blockSize], rawEntry(tar.TypeXGlobalHeader, "pax_global_header", "", []byte(paxRecord("comment", "4a2d3b0f")))...),
		rawEntry(tar.TypeReg, "lib/x", "", []byte("x")))
	i = NewInspector("")
	i.Write(gz(t, twice))
	if err := i.Close(); err != nil {
		t.Errorf("two global headers, each before entries: %v", err)
	}
}

// TestRedactUserInfo: a token given as a URL's user name is not shown.
func TestRedactUserInfo(t *testing.T) {
	for _, loc := range []string{"https://glpat-SECRET@builds.example.com/web/1.tgz", "https://ci:SECRET@builds.example.com/web/1.tgz?token=SECRET"} {
		if got := (Source{URL: loc}).Display("web", "1"); strings.Contains(got, "SECRET") {
			t.Errorf("Display of %q: got %q, which shows the secret", loc, got)
		}
	}
}

// TestInspectAcceptsWhatTarsWrite: archives that GNU tar and archive/tar
// write in each of their formats, with names that need a ustar prefix, a
// GNU long name or a pax path, pass the header checks.
func TestInspectAcceptsWhatTarsWrite(t *testing.T) {
	deep := strings.Repeat("a", 70) + "/" + strings.Repeat("b", 70) + "/file" // > 100 bytes: a prefix
	long := strings.Repeat("n", 130)                                          // a name no ustar field holds
	tree := func(t *testing.T, longNames bool) string {
		dir := t.TempDir()
		files := []string{deep, "bin/app"}
		if longNames {
			files = append(files, "lib/"+long)
		}
		for _, f := range files {
			p := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("x"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink("bin/app", filepath.Join(dir, "app")); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(dir, "bin/app"), filepath.Join(dir, "bin/app2")); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	check := func(t *testing.T, archive []byte) {
		t.Helper()
		i := NewInspector("")
		i.Write(gz(t, archive))
		if err := i.Close(); err != nil {
			t.Errorf("refused: %v", err)
		}
	}
	for _, format := range []string{"gnu", "oldgnu", "pax", "posix", "ustar"} {
		t.Run("GNU tar "+format, func(t *testing.T) {
			dir := tree(t, format != "ustar")
			out, err := exec.Command("tar", "--format="+format, "-c", "-C", dir, ".").Output()
			if err != nil {
				t.Fatalf("tar --format=%s: %v (apt-get install -y tar)", format, err)
			}
			check(t, out)
		})
	}
	for _, format := range []tar.Format{tar.FormatUSTAR, tar.FormatPAX, tar.FormatGNU} {
		t.Run("archive/tar "+format.String(), func(t *testing.T) {
			hdrs := []*tar.Header{
				{Name: deep, Typeflag: tar.TypeReg, Mode: 0o644, Format: format},
				{Name: "app", Typeflag: tar.TypeSymlink, Linkname: "bin/app", Mode: 0o777, Format: format},
			}
			if format != tar.FormatUSTAR {
				hdrs = append(hdrs, &tar.Header{Name: "lib/" + long, Typeflag: tar.TypeReg, Mode: 0o644, Format: format})
			}
			check(t, goTar(t, hdrs...))
		})
	}
}
