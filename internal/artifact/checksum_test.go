package artifact

import (
	"context"
	"strings"
	"testing"
)

func TestParseChecksum(t *testing.T) {
	const (
		other = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
		name  = "web-1.tar.gz"
	)
	upper := strings.ToUpper(digest)
	tests := []struct {
		name    string
		text    string
		want    string
		wantErr string
	}{
		{"text mode", digest + "  web-1.tar.gz\n", digest, ""},
		{"binary mode", digest + " *web-1.tar.gz\n", digest, ""},
		{"single space", digest + " web-1.tar.gz\n", digest, ""},
		{"tab", digest + "\tweb-1.tar.gz\n", digest, ""},
		{"upper case", upper + "  web-1.tar.gz\n", digest, ""},
		{"no final newline", digest + "  web-1.tar.gz", digest, ""},
		{"crlf", digest + "  web-1.tar.gz\r\n", digest, ""},
		{"directory in the name", digest + "  ./dist/web-1.tar.gz\n", digest, ""},
		{"digest alone", digest + "\n", digest, ""},
		{"digest alone, trailing space", upper + " \n", digest, ""},
		{"listing, ours last", other + "  web-2.tar.gz\n" + digest + "  web-1.tar.gz\n", digest, ""},
		{"listing with blank lines and a comment", "# built by ci\n\n" + other + "  web-2.tar.gz\n\n" + digest + " *web-1.tar.gz\n", digest, ""},
		{"listing, ours twice alike", digest + "  web-1.tar.gz\n" + strings.ToUpper(digest) + "  dist/web-1.tar.gz\n", digest, ""},
		{"escaped name of another file", `\` + other + `  web\\2.tar.gz` + "\n" + digest + "  web-1.tar.gz\n", digest, ""},

		{"empty", "", "", "checksum file is empty"},
		{"blank", "\n \n", "", "checksum file is empty"},
		{"another file only", other + "  web-2.tar.gz\n", "", "no line for web-1.tar.gz: the file lists web-2.tar.gz"},
		{"a longer name", other + "  web-1.tar.gz.old\n", "", "no line for web-1.tar.gz: the file lists web-1.tar.gz.old"},
		{"many others", strings.Repeat(other+"  a\n", 5), "", "the file lists a, a, a and 2 more"},
		{"ours twice, differing", digest + "  web-1.tar.gz\n" + other + "  web-1.tar.gz\n", "", "lines 1 and 2 give different digests for web-1.tar.gz"},
		{"not hex", strings.Repeat("z", 64) + "  web-1.tar.gz\n", "", "line 1: first field is not a SHA-256 digest"},
		{"md5", "d41d8cd98f00b204e9800998ecf8427e  web-1.tar.gz\n", "", "line 1: first field is not a SHA-256 digest"},
		{"html", "<!DOCTYPE html>\n<html></html>\n", "", "line 1: first field is not a SHA-256 digest"},
		{"bsd tag format", "SHA256 (web-1.tar.gz) = " + digest + "\n", "", "line 1: first field is not a SHA-256 digest"},
		{"malformed line after ours", digest + "  web-1.tar.gz\ngarbage\n", "", "line 2: first field is not a SHA-256 digest"},
		{"digest alone among named lines", other + "  web-2.tar.gz\n" + digest + "\n", "", "line 2: a digest without a file name, in a file of several lines"},
		{"digest without a name after the mode", digest + " *\n", "", "line 1: no file name after the digest"},
		{"digests alone", digest + "\n" + digest + "\n", "", "line 1: a digest without a file name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseChecksum(tt.text, name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %q, %v; want an error saying %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestStatPicksTheArtifactsLine: a sha256sum listing of several builds
// serves each of them, by the name on the line, over HTTP and on disk.
func TestStatPicksTheArtifactsLine(t *testing.T) {
	const other = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	listing := other + "  web-2.tar.gz\n" + digest + "  web-1.tar.gz\n"
	srv := newArtifactServer(t, map[string]string{
		"/web-1.tar.gz": "one", "/web-1.tar.gz.sha256": listing,
		"/web-3.tar.gz": "three", "/web-3.tar.gz.sha256": listing,
	})
	src := Source{URL: srv.URL + "/{app}-{build}.tar.gz?sig=abc"}
	info, err := src.Stat(context.Background(), "web", "1")
	if err != nil || info.SHA256 != digest {
		t.Errorf("build 1: got %q, %v; want %q", info.SHA256, err, digest)
	}
	_, err = src.Stat(context.Background(), "web", "3")
	if want := "no line for web-3.tar.gz: the file lists web-2.tar.gz, web-1.tar.gz"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("build 3: got %v, want an error saying %q", err, want)
	}
}

// TestReadChecksumBounded: a file longer than any checksum listing is
// refused rather than read in part, where a line cut short could name
// another file or hold half a digest.
func TestReadChecksumBounded(t *testing.T) {
	big := strings.Repeat("# padding\n", maxChecksumFile/10) + digest + "  web-1.tar.gz\n"
	if _, err := readChecksum(strings.NewReader(big), "web-1.tar.gz.sha256", "web-1.tar.gz"); err == nil || !strings.Contains(err.Error(), "larger than 64 KiB") {
		t.Errorf("got %v, want an error saying the file is larger than 64 KiB", err)
	}
}

// TestChecksumURL checks where the checksum file of an artifact URL is
// looked for: beside it, the query and fragment kept after the path.
func TestChecksumURL(t *testing.T) {
	tests := []struct{ loc, want string }{
		{"https://b.example/web-7.tar.gz", "https://b.example/web-7.tar.gz.sha256"},
		{"https://b.example/web-7.tar.gz?X-Sig=a%2Fb", "https://b.example/web-7.tar.gz.sha256?X-Sig=a%2Fb"},
		{"https://b.example/web-7.tar.gz#latest", "https://b.example/web-7.tar.gz.sha256#latest"},
		{"https://b.example/web-7.tar.gz?t=1#x", "https://b.example/web-7.tar.gz.sha256?t=1#x"},
		{"https://b.example/a%20b.tar.gz#x", "https://b.example/a%20b.tar.gz.sha256#x"},
	}
	for _, tt := range tests {
		if got := checksumURL(tt.loc); got != tt.want {
			t.Errorf("checksumURL(%q) = %q, want %q", tt.loc, got, tt.want)
		}
	}
}
