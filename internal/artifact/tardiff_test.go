package artifact

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
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
		{"cut after an entry ending in zeros", cut.Bytes(), "truncated"},
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
}

// TestRedactUserInfo: a token given as a URL's user name is not shown.
func TestRedactUserInfo(t *testing.T) {
	for _, loc := range []string{"https://glpat-SECRET@builds.example.com/web/1.tgz", "https://ci:SECRET@builds.example.com/web/1.tgz?token=SECRET"} {
		if got := redactString(loc); strings.Contains(got, "SECRET") {
			t.Errorf("redactString(%q) = %q, shows the secret", loc, got)
		}
	}
}
