package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pullBin is a directory for PATH holding the downloader tool (at path)
// and what the pull script needs around it, and nothing else.
func pullBin(t *testing.T, tool, path string) string {
	t.Helper()
	bin := t.TempDir()
	if err := os.Symlink(path, filepath.Join(bin, tool)); err != nil {
		t.Fatal(err)
	}
	for _, need := range []string{"mkdir", "rm", "grep", "wc", "tar", "gzip", "sha256sum"} {
		p, err := exec.LookPath(need)
		if err != nil {
			t.Fatalf("this test needs %s: apt-get install -y coreutils grep tar gzip", need)
		}
		if err := os.Symlink(p, filepath.Join(bin, need)); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// TestPullScriptBoundsTheDownload: a host's download of more bytes than
// the artifact the bot verified (a wrong or hostile artifact URL) is cut
// off past that length, whatever the server says of the length and
// whichever downloader the host has, fails saying so, and leaves nothing
// on the host; the artifact itself, to the byte, still installs.
func TestPullScriptBoundsTheDownload(t *testing.T) {
	t.Parallel()
	good := buildSeven()
	digest := sha256.Sum256(good)
	sum := hex.EncodeToString(digest[:])
	// The artifact, then far more than a host should ever write of it.
	const extra = 64 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/good":
			w.Header().Set("Content-Length", strconv.Itoa(len(good)))
			w.Write(good)
			return
		case "/large":
			w.Header().Set("Content-Length", strconv.Itoa(len(good)+extra))
		}
		// /unsized: chunked, no length announced.
		w.Write(good)
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < extra; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)

	tools := map[string]string{}
	for _, tool := range []string{"curl", "wget"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("this test needs %s: apt-get install -y %s", tool, tool)
		}
		tools[tool] = p
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("this test needs BusyBox: apt-get install -y busybox")
	}
	tools["busybox wget"] = busybox
	for name, path := range tools {
		for _, file := range []string{"large", "unsized", "good"} {
			t.Run(name+" "+file, func(t *testing.T) {
				t.Parallel()
				bin := pullBin(t, "wget", path)
				if name == "curl" {
					bin = pullBin(t, "curl", path)
				}
				dir := t.TempDir()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, "/bin/sh", "-c", pullScript(dir, "releases/.tmp-7-x", srv.URL+"/"+file, sum, "gzip", int64(len(good)), time.Minute))
				cmd.Env = []string{"PATH=" + bin}
				out, err := cmd.CombinedOutput()
				if ctx.Err() != nil {
					t.Fatalf("the pull script was still downloading after %v", time.Minute)
				}
				if file == "good" {
					if err != nil {
						t.Fatalf("pull of the artifact itself: %v: %s", err, out)
					}
					if b, err := os.ReadFile(filepath.Join(dir, "releases/.tmp-7-x/BUILD")); err != nil || string(b) != "7" {
						t.Errorf("unpacked BUILD: %q, %v; want 7", b, err)
					}
					return
				}
				if err == nil {
					t.Fatalf("the pull of %s succeeded; want it refused: %s", file, out)
				}
				// The first line, the one status shows, says why.
				want := "the download is larger than the " + strconv.Itoa(len(good)) + " bytes of the build the bot verified (cut off at "
				if !strings.HasPrefix(string(out), want) {
					t.Fatalf("output %q, want it to start %q", out, want)
				}
				// The shell's file size limit counts blocks of 512 bytes
				// (1024 under a bash not started as sh).
				cut, _, _ := strings.Cut(strings.TrimPrefix(string(out), want), " ")
				if n, err := strconv.Atoi(cut); err != nil || n <= len(good) || n > len(good)+1024 {
					t.Errorf("cut off at %q bytes, want more than %d and at most %d", cut, len(good), len(good)+1024)
				}
				for _, left := range []string{"releases/.tmp-7-x", "releases/.tmp-7-x.download"} {
					if _, err := os.Lstat(filepath.Join(dir, left)); err == nil {
						t.Errorf("%s left on the host", left)
					}
				}
			})
		}
	}
}
