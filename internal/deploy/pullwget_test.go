package deploy

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/shell"
)

// TestPullScriptRefusesUnsafeWgetForHTTPS: a host with no curl downloads
// from an https URL only with a GNU wget that verifies the server's
// certificate and keeps the URL's credentials from another server on a
// redirect (1.21.2 or later, CVE-2021-31879). BusyBox's wget, which may
// not check the certificate, and older or unknown wgets are refused
// before they connect, saying to install curl; from an http URL, where
// neither protects anything, they still download.
func TestPullScriptRefusesUnsafeWgetForHTTPS(t *testing.T) {
	t.Parallel()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("this test needs BusyBox: apt-get install -y busybox")
	}
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	const refusal = "install curl on this host to download from an https artifact.url"
	tests := []struct {
		name    string
		version string // "" is BusyBox's wget itself
		url     string
		refused bool
	}{
		{"BusyBox https", "", srv.URL + "/web-7.tar.gz", true},
		{"GNU 1.21.1 https", "GNU Wget 1.21.1 built on linux-gnu.", "https://builds.example.com/web-7.tar.gz", true},
		{"GNU 1.20.3 https", "GNU Wget 1.20.3 built on linux-gnu.", "https://builds.example.com/web-7.tar.gz", true},
		{"GNU 1.21 https", "GNU Wget 1.21 built on linux-gnu.", "https://builds.example.com/web-7.tar.gz", true},
		{"unknown https", "Wget2 2.1.0", "HTTPS://builds.example.com/web-7.tar.gz", true},
		{"GNU 1.21.2 https", "GNU Wget 1.21.2 built on linux-gnu.", "https://builds.example.com/web-7.tar.gz", false},
		{"GNU 1.25.0 https", "GNU Wget 1.25.0 built on linux-gnu.", "https://builds.example.com/web-7.tar.gz", false},
		{"GNU 1.20.3 http", "GNU Wget 1.20.3 built on linux-gnu.", "http://builds.example.com/web-7.tar.gz", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ran := filepath.Join(dir, "ran")
			wget := busybox
			if tt.version != "" {
				// A GNU wget that says its version, and fails any
				// download after recording that it tried.
				fake := filepath.Join(t.TempDir(), "wget")
				script := "#!/bin/sh\ncase $1 in\n--help) echo '  -i,  --input-file=FILE'; exit 0;;\n--version) printf '%s\\n\\nmore\\n' " + shell.Quote(tt.version) + "; exit 0;;\nesac\n: > " + shell.Quote(ran) + "\nexit 4\n"
				if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
					t.Fatal(err)
				}
				wget = fake
			}
			bin := pullBin(t, "wget", wget)
			cmd := exec.Command("/bin/sh", "-c", pullScript(dir, "releases/.tmp-7-x", tt.url, "", "gzip", 100, time.Minute))
			cmd.Env = []string{"PATH=" + bin}
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the pull succeeded: %s", out)
			}
			_, statErr := os.Stat(ran)
			tried := statErr == nil || tt.version == "" && hits.Load() > 0
			if tt.refused {
				if !strings.Contains(string(out), refusal) {
					t.Errorf("output %q, want it to say %q", out, refusal)
				}
				if tried {
					t.Errorf("wget downloaded; want it refused before it connects")
				}
				return
			}
			if strings.Contains(string(out), refusal) || !tried {
				t.Errorf("wget refused (%q); want it to download", out)
			}
		})
	}
}

// TestPullScriptWgetStaysOnHTTPS: on a host whose downloader is GNU wget,
// a redirect from the https URL it was given to plain http is not
// followed, as with curl (TestPullScriptStaysOnHTTPS): the URL's token
// would travel in the clear. An http URL still follows redirects.
func TestPullScriptWgetStaysOnHTTPS(t *testing.T) {
	t.Parallel()
	wget, err := exec.LookPath("wget")
	if err != nil {
		t.Fatal("this test needs GNU wget: apt-get install -y wget")
	}
	raw := buildSeven()
	plain, plainHits := plainArtifactServer(t)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/web-7.tar.gz" {
			w.Write(raw)
			return
		}
		http.Redirect(w, r, plain.URL+"/web-7.tar.gz", http.StatusFound)
	}))
	t.Cleanup(secure.Close)
	// wget trusts the test server's certificate through a wgetrc of the
	// test's own, which WGETRC names.
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(t.TempDir(), "wgetrc")
	if err := os.WriteFile(rc, []byte("ca_certificate = "+ca+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url string
		ok        bool
		plainHits int32
	}{
		{"https to http", secure.URL + "/start?token=t", false, 0},
		{"https", secure.URL + "/web-7.tar.gz?token=t", true, 0},
		{"http to http", plain.URL + "/start?token=t", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plainHits.Store(0)
			dir := t.TempDir()
			cmd := exec.Command("/bin/sh", "-c", pullScript(dir, "releases/.tmp-7-x", tt.url, "", "gzip", int64(len(raw)), time.Minute))
			cmd.Env = []string{"PATH=" + pullBin(t, "wget", wget), "WGETRC=" + rc, "HOME=" + t.TempDir()}
			out, err := cmd.CombinedOutput()
			if n := plainHits.Load(); n != tt.plainHits {
				t.Errorf("the plain http server got %d requests, want %d", n, tt.plainHits)
			}
			if !tt.ok {
				if err == nil {
					t.Errorf("the pull succeeded; want the redirect refused: %s", out)
				}
				if want := "install curl on this host if artifact.url redirects"; !strings.Contains(string(out), want) {
					t.Errorf("output %q, want it to say %q", out, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "releases/.tmp-7-x/BUILD")); err != nil || string(b) != "7" {
				t.Errorf("unpacked BUILD: %q, %v; want 7", b, err)
			}
		})
	}
}
