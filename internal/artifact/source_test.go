package artifact

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/errs"
)

const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

func TestLocation(t *testing.T) {
	tests := []struct {
		name       string
		src        Source
		app, build string
		want       string
	}{
		{"url", Source{URL: "https://ci.example.com/{app}/{app}-{build}.tar.gz"}, "shop", "1.2.3", "https://ci.example.com/shop/shop-1.2.3.tar.gz"},
		{"url escapes", Source{URL: "https://ci.example.com/{app}/{build}.tgz"}, "my app", "a/b?c", "https://ci.example.com/my%20app/a%2Fb%3Fc.tgz"},
		{"path", Source{Path: "/srv/builds/{app}/{build}.tar.zst"}, "shop", "42", "/srv/builds/shop/42.tar.zst"},
		{"path is not escaped", Source{Path: "/srv/{app}/{build}"}, "my app", "42", "/srv/my app/42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.src.Location(tt.app, tt.build); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		src  Source
		ok   bool
	}{
		{"url", Source{URL: "https://ci.example.com/{app}/{build}.tgz"}, true},
		{"http", Source{URL: "http://127.0.0.1:8080/{build}"}, true},
		{"path", Source{Path: "builds/{build}.tgz"}, true},
		{"neither", Source{}, false},
		{"both", Source{URL: "https://x/{build}", Path: "/x/{build}"}, false},
		{"ftp", Source{URL: "ftp://x/{build}"}, false},
		{"no host", Source{URL: "https:///{build}"}, false},
		{"not a url", Source{URL: "ci.example.com/{build}"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.src.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSourcePath(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("shop/1.tgz", "artifact one")
	write("shop/1.tgz.sha256", strings.ToUpper(digest)+"  shop/1.tgz\n")
	write("shop/2.tgz", "artifact two")
	write("shop/3.tgz", "artifact three")
	write("shop/3.tgz.sha256", "not-a-digest  shop/3.tgz\n")
	write("shop/4.tgz", "artifact four")
	write("shop/4.tgz.sha256", "")
	if err := os.Mkdir(filepath.Join(root, "shop/dir.tgz"), 0o755); err != nil {
		t.Fatal(err)
	}
	src := Source{Path: filepath.Join(root, "{app}/{build}.tgz")}
	ctx := context.Background()

	tests := []struct {
		name     string
		build    string
		optional bool // Source.ChecksumOptional
		want     Info
		wantErr  string
	}{
		{name: "with checksum", build: "1", want: Info{Size: 12, SHA256: digest}},
		{name: "with checksum, optional", build: "1", optional: true, want: Info{Size: 12, SHA256: digest}},
		{name: "without checksum", build: "2", wantErr: "2.tgz.sha256: no checksum file"},
		{name: "without checksum, optional", build: "2", optional: true, want: Info{Size: 12}},
		{name: "malformed checksum", build: "3", wantErr: "line 1: first field is not a SHA-256 digest"},
		{name: "malformed checksum, optional", build: "3", optional: true, wantErr: "line 1: first field is not a SHA-256 digest"},
		{name: "empty checksum file", build: "4", wantErr: "is empty"},
		{name: "missing", build: "9", wantErr: "not found"},
		{name: "directory", build: "dir", wantErr: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := src
			src.ChecksumOptional = tt.optional
			loc := src.Location("shop", tt.build)
			info, err := src.Stat(ctx, "shop", tt.build)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), loc) {
					t.Fatalf("got %v, want an error naming %s and saying %q", err, loc, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			tt.want.Location = loc
			if info != tt.want {
				t.Errorf("got %+v, want %+v", info, tt.want)
			}
		})
	}

	t.Run("missing wraps ErrNotFound", func(t *testing.T) {
		if _, err := src.Stat(ctx, "shop", "9"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat: got %v, want ErrNotFound", err)
		}
		if _, err := src.Open(ctx, "shop", "9"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open: got %v, want ErrNotFound", err)
		}
	})
	t.Run("missing checksum wraps ErrNoChecksum", func(t *testing.T) {
		if _, err := src.Stat(ctx, "shop", "2"); !errors.Is(err, ErrNoChecksum) || errors.Is(err, ErrNotFound) {
			t.Errorf("Stat: got %v, want ErrNoChecksum and not ErrNotFound", err)
		}
	})
	t.Run("open", func(t *testing.T) {
		rc, err := src.Open(ctx, "shop", "2")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer rc.Close()
		if b, err := io.ReadAll(rc); err != nil || string(b) != "artifact two" {
			t.Errorf("read %q, %v; want %q", b, err, "artifact two")
		}
	})
	t.Run("open directory", func(t *testing.T) {
		if _, err := src.Open(ctx, "shop", "dir"); err == nil {
			t.Error("Open of a directory succeeded, want an error")
		}
	})
}

// artifactServer serves files on 127.0.0.1 and records the methods used.
type artifactServer struct {
	*httptest.Server
	mu      sync.Mutex
	files   map[string]string
	status  map[string]int // forced status per path
	get     map[string]int // forced status per path of a GET, HEAD passing
	noHEAD  bool
	html    map[string]bool // paths served as text/html
	methods []string
}

func newArtifactServer(t *testing.T, files map[string]string) *artifactServer {
	t.Helper()
	s := &artifactServer{files: files, status: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *artifactServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.methods = append(s.methods, r.Method+" "+r.URL.Path)
	if s.noHEAD && r.Method == http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if code, ok := s.status[r.URL.Path]; ok {
		http.Error(w, http.StatusText(code), code)
		return
	}
	if code, ok := s.get[r.URL.Path]; ok && r.Method == http.MethodGet {
		http.Error(w, http.StatusText(code), code)
		return
	}
	body, ok := s.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if s.html[r.URL.Path] {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
	}
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}

func (s *artifactServer) used() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.methods...)
}

func TestSourceURL(t *testing.T) {
	srv := newArtifactServer(t, map[string]string{
		"/shop/1.tgz":        "artifact one",
		"/shop/1.tgz.sha256": digest + "  1.tgz\n",
		"/shop/2.tgz":        "artifact two",
		"/shop/3.tgz":        "artifact three",
		"/shop/3.tgz.sha256": "d41d8cd98f00b204e9800998ecf8427e  3.tgz\n", // md5, not sha256
		"/shop/4.tgz":        "artifact four",
	})
	srv.status["/shop/4.tgz.sha256"] = http.StatusForbidden
	srv.status["/shop/5.tgz"] = http.StatusInternalServerError
	src := Source{URL: srv.URL + "/{app}/{build}.tgz"}
	ctx := context.Background()

	tests := []struct {
		name     string
		build    string
		optional bool // Source.ChecksumOptional
		want     Info
		wantErr  string
	}{
		{name: "with checksum", build: "1", want: Info{Size: 12, SHA256: digest}},
		{name: "without checksum", build: "2", wantErr: "2.tgz.sha256: no checksum file"},
		{name: "without checksum, optional", build: "2", optional: true, want: Info{Size: 12}},
		{name: "checksum forbidden, optional", build: "4", optional: true, wantErr: "403 Forbidden"},
		{name: "malformed checksum", build: "3", wantErr: "line 1: first field is not a SHA-256 digest"},
		{name: "checksum forbidden", build: "4", wantErr: "403 Forbidden"},
		{name: "missing", build: "9", wantErr: "404 Not Found"},
		{name: "server error", build: "5", wantErr: "500 Internal Server Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := src
			src.ChecksumOptional = tt.optional
			info, err := src.Stat(ctx, "shop", tt.build)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), srv.URL+"/shop/"+tt.build) {
					t.Fatalf("got %v, want an error naming the location and saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			tt.want.Location = srv.URL + "/shop/" + tt.build + ".tgz"
			if info != tt.want {
				t.Errorf("got %+v, want %+v", info, tt.want)
			}
		})
	}

	t.Run("stat uses HEAD", func(t *testing.T) {
		before := len(srv.used())
		if _, err := src.Stat(ctx, "shop", "1"); err != nil {
			t.Fatal(err)
		}
		got := srv.used()[before:]
		want := []string{"HEAD /shop/1.tgz", "GET /shop/1.tgz.sha256"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("requests %q, want %q", got, want)
		}
	})
	t.Run("missing wraps ErrNotFound", func(t *testing.T) {
		if _, err := src.Stat(ctx, "shop", "9"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat: got %v, want ErrNotFound", err)
		}
		if _, err := src.Open(ctx, "shop", "9"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open: got %v, want ErrNotFound", err)
		}
	})
	t.Run("open", func(t *testing.T) {
		rc, err := src.Open(ctx, "shop", "1")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer rc.Close()
		if b, err := io.ReadAll(rc); err != nil || string(b) != "artifact one" {
			t.Errorf("read %q, %v; want %q", b, err, "artifact one")
		}
	})
	t.Run("open server error", func(t *testing.T) {
		_, err := src.Open(ctx, "shop", "5")
		if err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), srv.URL+"/shop/5.tgz") || errors.Is(err, ErrNotFound) {
			t.Errorf("got %v, want an error naming status 500 and the location", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := src.Stat(cctx, "shop", "1"); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	})
}

func TestSourceURLWithoutHEAD(t *testing.T) {
	srv := newArtifactServer(t, map[string]string{"/a/1.tgz": "one", "/a/1.tgz.sha256": digest})
	srv.noHEAD = true
	info, err := Source{URL: srv.URL + "/{app}/{build}.tgz"}.Stat(context.Background(), "a", "1")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Size != 3 {
		t.Errorf("size %d, want 3", info.Size)
	}
}

func TestSourceURLKeepsQueryOutOfErrors(t *testing.T) {
	srv := newArtifactServer(t, map[string]string{"/a/1.tgz": "one", "/a/1.tgz.sha256": digest})
	src := Source{URL: srv.URL + "/{app}/{build}.tgz?token=s3cr3t"}
	info, err := src.Stat(context.Background(), "a", "1")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.SHA256 != digest {
		t.Errorf("checksum %q, want %q: the checksum file keeps the query", info.SHA256, digest)
	}
	_, err = src.Stat(context.Background(), "a", "2")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("got %v, want an error without the query's secret", err)
	}
	_, err = Source{URL: "http://user:pw@127.0.0.1:1/{build}?token=s3cr3t"}.Open(context.Background(), "a", "1")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), ":pw@") {
		t.Errorf("got %v, want a connection error without credentials", err)
	}
}

// dnsFailure is a transport whose every dial fails as a lookup of a name
// that does not exist would, without asking a resolver.
func dnsFailure() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, _, _ := net.SplitHostPort(addr)
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, Server: "127.0.0.53:53", IsNotFound: true}}
		},
	}}
}

func TestRefusal(t *testing.T) {
	srv := newArtifactServer(t, map[string]string{
		"/shop/1.tgz":        "artifact one",
		"/shop/1.tgz.sha256": "not-a-digest  1.tgz\n",
		"/shop/2.tgz":        "artifact two",
		"/shop/2.tgz.sha256": "<!DOCTYPE html><html><body>Builds</body></html>\n",
		"/shop/3.tgz":        "artifact three",
		"/shop/4.tgz":        "artifact four",
		"/shop/5.tgz":        "artifact five",
		"/shop/6.tgz":        "artifact six",
	})
	srv.html = map[string]bool{"/shop/2.tgz.sha256": true}
	srv.status["/shop/3.tgz.sha256"] = http.StatusForbidden
	srv.status["/shop/4.tgz"] = http.StatusServiceUnavailable
	srv.status["/shop/6.tgz"] = http.StatusUnauthorized
	// Credentials in the URL must stay out of every message.
	secret := strings.Replace(srv.URL, "http://", "http://ci:pa55word@", 1) + "/{app}/{build}.tgz?token=s3cr3t"

	tests := []struct {
		name  string
		src   Source
		build string
		code  errs.Code
		want  string
	}{
		{"malformed checksum", Source{URL: secret}, "1", errs.Invalid, "/shop/1.tgz.sha256?REDACTED: line 1: first field is not a SHA-256 digest (64 hex digits)"},
		{"html for the checksum", Source{URL: secret}, "2", errs.Invalid, "/shop/2.tgz.sha256?REDACTED: got an HTML page, not a checksum file"},
		// Asking again does not help: the credentials need fixing.
		{"checksum forbidden", Source{URL: secret}, "3", errs.Forbidden,
			"the artifact server refused access to build 3 of shop: http://REDACTED@"},
		{"artifact unauthorized", Source{URL: secret}, "6", errs.Forbidden,
			"/shop/6.tgz?REDACTED: HEAD: HTTP 401 Unauthorized; check the credentials of the app's artifact.url"},
		{"server error", Source{URL: secret}, "4", errs.Unavailable, "/shop/4.tgz?REDACTED: HEAD: HTTP 503 Service Unavailable"},
		{"missing", Source{URL: secret}, "9", errs.NotFound, "build 9 of shop not found at http://REDACTED@"},
		{"no checksum", Source{URL: secret}, "5", errs.NotFound, "/shop/5.tgz.sha256?REDACTED not found); publish one, or set artifact.checksum: optional for this app"},
		{"no such host", Source{URL: "https://ci:pa55word@builds.example.com/{app}/{build}.tgz?token=s3cr3t", Client: dnsFailure()}, "1", errs.Unavailable,
			"cannot check build 1 of shop: https://REDACTED@builds.example.com/shop/1.tgz?REDACTED: lookup builds.example.com: no such host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.src.Stat(context.Background(), "shop", tt.build)
			if err == nil {
				t.Fatal("Stat succeeded, want an error")
			}
			r := tt.src.Refusal("shop", tt.build, err)
			if r.Code != tt.code || !strings.Contains(r.Msg, tt.want) {
				t.Errorf("got %s %q, want %s saying %q", r.Code, r.Msg, tt.code, tt.want)
			}
			for _, s := range []string{r.Msg, r.Error()} {
				if strings.Contains(s, "pa55word") || strings.Contains(s, "s3cr3t") {
					t.Errorf("got %q, want no credentials", s)
				}
			}
		})
	}
}

// TestReadRefusal: Open of a build Stat passed says why it failed, with a
// code saying whether retrying may help: a download refused after the
// check passed (a signed URL that expired in between) is Forbidden, not
// an outage.
func TestReadRefusal(t *testing.T) {
	files := map[string]string{}
	for _, b := range []string{"1", "2", "3", "4"} {
		files["/shop/"+b+".tgz"] = "artifact " + b
		files["/shop/"+b+".tgz.sha256"] = digest + "  " + b + ".tgz\n"
	}
	srv := newArtifactServer(t, files)
	srv.get = map[string]int{
		"/shop/1.tgz": http.StatusForbidden,
		"/shop/2.tgz": http.StatusUnauthorized,
		"/shop/3.tgz": http.StatusNotFound,
		"/shop/4.tgz": http.StatusBadGateway,
	}
	secret := strings.Replace(srv.URL, "http://", "http://ci:pa55word@", 1) + "/{app}/{build}.tgz?token=s3cr3t"
	src := Source{URL: secret}
	at := "http://REDACTED@" + strings.TrimPrefix(srv.URL, "http://") + "/shop/"

	tests := []struct {
		name  string
		build string
		code  errs.Code
		want  string
	}{
		{"forbidden", "1", errs.Forbidden, "the artifact server refused the download of build 1 of shop: " + at + "1.tgz?REDACTED: GET: HTTP 403 Forbidden; check the credentials of the app's artifact.url, and whether they have expired"},
		{"unauthorized", "2", errs.Forbidden, "the artifact server refused the download of build 2 of shop: " + at + "2.tgz?REDACTED: GET: HTTP 401 Unauthorized; check the credentials of the app's artifact.url, and whether they have expired"},
		{"gone since the check", "3", errs.NotFound, "build 3 of shop not found at " + at + "3.tgz?REDACTED"},
		{"server error", "4", errs.Unavailable, "cannot read build 4 of shop: " + at + "4.tgz?REDACTED: GET: HTTP 502 Bad Gateway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := src.Stat(context.Background(), "shop", tt.build); err != nil {
				t.Fatalf("Stat: %v, want the check to pass", err)
			}
			rc, err := src.Open(context.Background(), "shop", tt.build)
			if err == nil {
				rc.Close()
				t.Fatal("Open succeeded, want an error")
			}
			r := src.ReadRefusal("shop", tt.build, err)
			if r.Code != tt.code || r.Msg != tt.want {
				t.Errorf("got %s %q, want %s %q", r.Code, r.Msg, tt.code, tt.want)
			}
			if s := r.Error(); strings.Contains(s, "pa55word") || strings.Contains(s, "s3cr3t") {
				t.Errorf("got %q, want no credentials", s)
			}
		})
	}
}

// fakeS3 answers as an S3 bucket does to credentials with s3:GetObject
// but not s3:ListBucket: a missing object is 403 AccessDenied, not 404,
// in S3's XML error format (no body to a HEAD). Objects named in errors
// answer that S3 error code instead.
type fakeS3 struct {
	*httptest.Server
	mu      sync.Mutex
	objects map[string]string
	errors  map[string]string // path: S3 error code
}

func newFakeS3(t *testing.T, objects, errors map[string]string) *fakeS3 {
	t.Helper()
	s := &fakeS3{objects: objects, errors: errors}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *fakeS3) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amz-request-id", "4442587FB7D0A2F9")
	w.Header().Set("Server", "AmazonS3")
	s.mu.Lock()
	code, failed := s.errors[r.URL.Path]
	body, ok := s.objects[r.URL.Path]
	s.mu.Unlock()
	if !failed && !ok {
		code, failed = "AccessDenied", true
	}
	if !failed {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method != http.MethodHead {
			io.WriteString(w, body)
		}
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	if r.Method != http.MethodHead {
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Error><Code>`+code+`</Code><Message>Access Denied</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>vjbyPxybdZaNmGa+yT272YEAiv4=</HostId></Error>`)
	}
}

// TestRefusalOfS3: S3 answers 403, not 404, for an object that does not
// exist when the credentials lack s3:ListBucket, and AccessDenied names
// no cause: the refusal says it may be either. An S3 error code that
// does name the cause is shown, with the credentials to check.
func TestRefusalOfS3(t *testing.T) {
	srv := newFakeS3(t, map[string]string{
		"/builds/shop/1.tgz":        "artifact one",
		"/builds/shop/1.tgz.sha256": digest + "  1.tgz\n",
		"/builds/shop/3.tgz":        "artifact three",
		"/builds/shop/4.tgz":        "artifact four",
		"/builds/shop/4.tgz.sha256": digest + "  4.tgz\n",
		"/builds/shop/5.tgz":        "artifact five",
		"/builds/shop/6.tgz":        "artifact six",
	}, map[string]string{
		"/builds/shop/4.tgz.sha256": "SignatureDoesNotMatch",
		"/builds/shop/5.tgz.sha256": "Denied; $(id) &amp; more",
		"/builds/shop/6.tgz.sha256": "AllAccessDisabled",
	})
	src := Source{URL: srv.URL + "/builds/{app}/{build}.tgz?X-Amz-Signature=s3cr3t"}
	at := srv.URL + "/builds/shop/"
	const maybeMissing = "; the object may not exist (S3 answers 403 for a missing object when the credentials lack s3:ListBucket), or the credentials of the app's artifact.url lack s3:GetObject"
	const credentials = "; check the credentials of the app's artifact.url"

	tests := []struct {
		name  string
		build string
		code  errs.Code
		want  string
	}{
		{"missing artifact", "2", errs.Forbidden, "the artifact server refused access to build 2 of shop: " + at + "2.tgz?REDACTED: HEAD: HTTP 403 Forbidden (S3)" + maybeMissing},
		{"missing checksum", "3", errs.Forbidden, "the artifact server refused access to build 3 of shop: " + at + "3.tgz.sha256?REDACTED: GET: HTTP 403 Forbidden (S3 AccessDenied)" + maybeMissing},
		{"bad signature", "4", errs.Forbidden, "the artifact server refused access to build 4 of shop: " + at + "4.tgz.sha256?REDACTED: GET: HTTP 403 Forbidden (S3 SignatureDoesNotMatch)" + credentials},
		{"code not shown", "5", errs.Forbidden, "the artifact server refused access to build 5 of shop: " + at + "5.tgz.sha256?REDACTED: GET: HTTP 403 Forbidden (S3)" + credentials},
		{"all access disabled", "6", errs.Forbidden, "the artifact server refused access to build 6 of shop: " + at + "6.tgz.sha256?REDACTED: GET: HTTP 403 Forbidden (S3 AllAccessDisabled)" + credentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := src.Stat(context.Background(), "shop", tt.build)
			if err == nil {
				t.Fatal("Stat succeeded, want an error")
			}
			if !errors.Is(err, ErrDenied) {
				t.Errorf("Stat: got %v, want ErrDenied", err)
			}
			r := src.Refusal("shop", tt.build, err)
			if r.Code != tt.code || r.Msg != tt.want {
				t.Errorf("got %s %q, want %s %q", r.Code, r.Msg, tt.code, tt.want)
			}
		})
	}

	t.Run("download", func(t *testing.T) {
		if _, err := src.Stat(context.Background(), "shop", "1"); err != nil {
			t.Fatalf("Stat: %v", err)
		}
		// Gone since the check, or the credentials changed: S3 cannot
		// tell, nor can the bot.
		srv.mu.Lock()
		delete(srv.objects, "/builds/shop/1.tgz")
		srv.mu.Unlock()
		_, err := src.Open(context.Background(), "shop", "1")
		want := "the artifact server refused the download of build 1 of shop: " + at + "1.tgz?REDACTED: GET: HTTP 403 Forbidden (S3 AccessDenied)" + maybeMissing
		if r := src.ReadRefusal("shop", "1", err); r.Code != errs.Forbidden || r.Msg != want {
			t.Errorf("got %s %q, want %s %q", r.Code, r.Msg, errs.Forbidden, want)
		}
	})

	t.Run("not S3", func(t *testing.T) {
		srv := newArtifactServer(t, map[string]string{})
		srv.status["/shop/1.tgz"] = http.StatusForbidden
		src := Source{URL: srv.URL + "/{app}/{build}.tgz"}
		_, err := src.Stat(context.Background(), "shop", "1")
		want := "the artifact server refused access to build 1 of shop: " + srv.URL + "/shop/1.tgz: HEAD: HTTP 403 Forbidden" + credentials
		if r := src.Refusal("shop", "1", err); r.Msg != want {
			t.Errorf("got %q, want %q", r.Msg, want)
		}
	})
}

func TestRefusalOfPaths(t *testing.T) {
	root := t.TempDir()
	for name, content := range map[string]string{"shop/1.tgz": "one", "shop/1.tgz.sha256": "xyz\n", "shop/3.tgz": "three"} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := Source{Path: filepath.Join(root, "{app}/{build}.tgz")}
	tests := []struct {
		build string
		code  errs.Code
		want  string
	}{
		{"1", errs.Invalid, "cannot check build 1 of shop: " + filepath.Join(root, "shop/1.tgz.sha256") + ": line 1: first field is not a SHA-256 digest (64 hex digits)"},
		{"2", errs.NotFound, "build 2 of shop not found at " + filepath.Join(root, "shop/2.tgz")},
		{"3", errs.NotFound, "build 3 of shop has no published checksum (" + filepath.Join(root, "shop/3.tgz.sha256") + " not found); publish one, or set artifact.checksum: optional for this app"},
	}
	for _, tt := range tests {
		t.Run(tt.build, func(t *testing.T) {
			_, err := src.Stat(context.Background(), "shop", tt.build)
			if err == nil {
				t.Fatal("Stat succeeded, want an error")
			}
			if r := src.Refusal("shop", tt.build, err); r.Code != tt.code || r.Msg != tt.want {
				t.Errorf("got %s %q, want %s %q", r.Code, r.Msg, tt.code, tt.want)
			}
		})
	}
}

// TestUnparsableURLsKeepCredentialsOut: a URL net/url does not parse (a
// placeholder the config should have refused, a stray %) never shows its
// credentials, in errors or in Display.
func TestUnparsableURLsKeepCredentialsOut(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"placeholder in the host", "https://ci:s3cr3t@art-{env}.example.com/{app}/{build}.tgz", "https://REDACTED@art-{env}.example.com/shop/1.tgz"},
		{"token in the query", "https://art-{env}.example.com/{build}.tgz?token=s3cr3t", "https://art-{env}.example.com/1.tgz?REDACTED"},
		{"bad escape", "https://ci:s3cr3t@ci.example.com/%zz/{build}.tgz?token=s3cr3t", "https://REDACTED@ci.example.com/%zz/1.tgz?REDACTED"},
		{"unescaped ? and @ in the password", "https://ci:s3?cr@3t@art-{env}.example.com/{build}.tgz", "https://REDACTED@art-{env}.example.com/1.tgz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Source{URL: tt.url}
			if got := src.Display("shop", "1"); got != tt.want {
				t.Errorf("Display: got %q, want %q", got, tt.want)
			}
			_, serr := src.Stat(context.Background(), "shop", "1")
			_, oerr := src.Open(context.Background(), "shop", "1")
			for _, err := range []error{src.Validate(), serr, oerr, src.Refusal("shop", "1", serr)} {
				if err == nil || strings.Contains(err.Error(), "s3") || strings.Contains(err.Error(), "3t") {
					t.Errorf("got %v, want an error without credentials", err)
				}
			}
		})
	}
}

// TestMisreadURLsKeepCredentialsOut: a password holding an unescaped / ? or
// #, or a fragment, is what net/url reads as the path, query or fragment of
// a host named after the user: Display hides it all the same.
func TestMisreadURLsKeepCredentialsOut(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"unescaped / in the password", "https://ci:12/s3cr3t@builds.example.com/{app}/{build}.tgz", "https://REDACTED@builds.example.com/shop/1.tgz"},
		{"unescaped # in the password", "https://ci:12#s3cr3t@builds.example.com/{app}/{build}.tgz", "https://REDACTED@builds.example.com/shop/1.tgz"},
		{"unescaped ? in the password", "https://ci:12?s3cr3t@builds.example.com/{app}/{build}.tgz", "https://REDACTED@builds.example.com/shop/1.tgz"},
		{"a token in the fragment", "https://builds.example.com/{app}/{build}.tgz#sig=s3cr3t", "https://builds.example.com/shop/1.tgz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Source{URL: tt.url}
			if got := src.Display("shop", "1"); got != tt.want {
				t.Errorf("Display: got %q, want %q", got, tt.want)
			}
			if err := src.Validate(); err != nil && (strings.Contains(err.Error(), "s3") || strings.Contains(err.Error(), "12")) {
				t.Errorf("Validate: got %v, want an error without credentials", err)
			}
		})
	}
}

// TestSourceIdleTimeout: a body that stops sending fails the read once it
// has waited the idle timeout, with an error naming the artifact without
// its credentials; a body that is slow but keeps sending, or a reader that
// pauses between reads, is not cut off.
func TestSourceIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	body := strings.Repeat("artifact ", 10_000)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		flush := func() { http.NewResponseController(w).Flush() }
		switch path.Base(r.URL.Path) {
		case "stalls.tgz": // headers and half the body, then nothing
			io.WriteString(w, body[:len(body)/2])
			flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case "slow.tgz": // a piece every idle/2, for 4 idle timeouts
			step := len(body) / 8
			for i := 0; i < len(body); i += step {
				io.WriteString(w, body[i:min(i+step, len(body))])
				flush()
				time.Sleep(idle / 2)
			}
		default:
			io.WriteString(w, body)
		}
	}))
	// Runs before srv.Close, which waits for the handlers.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("ci", "pw-s3cr3t")
	src := Source{URL: u.String() + "/{build}.tgz?token=q-s3cr3t", IdleTimeout: idle}

	tests := []struct {
		name  string
		build string
		pause time.Duration // between the reader's reads
		stall bool
	}{
		{"stalled body", "stalls", 0, true},
		{"slow body", "slow", 0, false},
		{"reader pausing between reads", "fast", 2 * idle, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := src.Open(context.Background(), "a", tt.build)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer rc.Close()
			start := time.Now()
			var got []byte
			buf := make([]byte, len(body)/3)
			for {
				n, err := rc.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					err = nil
					break
				}
				if err != nil {
					if !tt.stall {
						t.Fatalf("read: %v after %d bytes, want the whole body", err, len(got))
					}
					took := time.Since(start)
					if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), "/stalls.tgz") || !strings.Contains(err.Error(), "no data for 200ms") || strings.Contains(err.Error(), "s3cr3t") {
						t.Errorf("got %v, want ErrStalled naming the artifact without its credentials", err)
					}
					// The body stalls until the test ends: failing at all, with
					// ErrStalled, is the idle timeout's doing.
					if took < idle {
						t.Errorf("the read failed after %s, want at least the idle timeout %s", took, idle)
					}
					return
				}
				time.Sleep(tt.pause)
			}
			if tt.stall {
				t.Fatalf("read %d bytes and the end of a body that stalls, want ErrStalled", len(got))
			}
			if string(got) != body {
				t.Errorf("got %d bytes, want the %d of the body", len(got), len(body))
			}
		})
	}
}

// TestSourceTinyIdleTimeout: an idle timeout of a few nanoseconds (the
// engine gives half of step_timeout, which the config takes down to 1ns)
// is honoured or fails a read as stalled; it panicked the watcher of every
// response, and so the bot, with a ticker of no interval.
func TestSourceTinyIdleTimeout(t *testing.T) {
	srv := newArtifactServer(t, map[string]string{
		"/shop/1.tgz":        "artifact one",
		"/shop/1.tgz.sha256": digest + "  1.tgz\n",
	})
	for _, idle := range []time.Duration{1, 3, 7} {
		t.Run(idle.String(), func(t *testing.T) {
			src := Source{URL: srv.URL + "/{app}/{build}.tgz", IdleTimeout: idle}
			if _, err := src.Stat(context.Background(), "shop", "1"); err != nil && !errors.Is(err, ErrStalled) {
				t.Errorf("Stat: got %v, want success or ErrStalled", err)
			}
			rc, err := src.Open(context.Background(), "shop", "1")
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer rc.Close()
			if _, err := io.ReadAll(rc); err != nil && !errors.Is(err, ErrStalled) {
				t.Errorf("read: got %v, want success or ErrStalled", err)
			}
		})
	}
}

// TestLocalIdleTimeout: a read of a local artifact that waits for data
// (a path on a mount that hangs; here a FIFO nobody writes to) fails once
// it has waited the idle timeout, or when its context ends, as a read from
// an artifact server does, instead of holding the deploy until its step
// times out; a file that is slow but keeps coming, or a reader that pauses
// between reads, is not cut off.
func TestLocalIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	body := strings.Repeat("artifact ", 10_000)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fast.tgz"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	// fifo returns a FIFO and its writing end, which the test keeps open:
	// a reader then waits for data rather than seeing the end.
	fifo := func(t *testing.T, name string) (string, *os.File) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Close() })
		return p, w
	}

	tests := []struct {
		name   string
		open   func(t *testing.T, ctx context.Context) (io.ReadCloser, error)
		cancel time.Duration // when to end the context, if at all
		pause  time.Duration // between the reader's reads
		stall  error         // the error the read ends with, if it should
	}{
		{name: "stalled file", stall: ErrStalled, open: func(t *testing.T, ctx context.Context) (io.ReadCloser, error) {
			p, w := fifo(t, "stalls.tgz")
			if _, err := io.WriteString(w, body[:len(body)/2]); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			return newIdleFile(ctx, f, p, idle, idleChunk), nil
		}},
		{name: "cancelled during a stall", cancel: idle / 2, stall: context.Canceled, open: func(t *testing.T, ctx context.Context) (io.ReadCloser, error) {
			p, _ := fifo(t, "cancelled.tgz")
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			return newIdleFile(ctx, f, p, 10*time.Second, idleChunk), nil
		}},
		{name: "slow file", open: func(t *testing.T, ctx context.Context) (io.ReadCloser, error) {
			p, w := fifo(t, "slow.tgz")
			f, err := os.Open(p)
			if err != nil {
				return nil, err
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				step := len(body) / 8
				for i := 0; i < len(body); i += step {
					if _, err := io.WriteString(w, body[i:min(i+step, len(body))]); err != nil {
						t.Errorf("write: %v", err)
						return
					}
					time.Sleep(idle / 2)
				}
				w.Close() // the end of the file
			}()
			t.Cleanup(func() { <-done })
			// Gaps of idle/2 between writes, against a timeout of ten
			// times that: a busy machine that oversleeps the writer by
			// more than idle/2 (seen) must not make the file stall.
			return newIdleFile(ctx, f, p, 10*idle, idleChunk), nil
		}},
		{name: "reader pausing between reads", pause: 2 * idle, open: func(t *testing.T, ctx context.Context) (io.ReadCloser, error) {
			return Source{Path: filepath.Join(dir, "{build}.tgz"), IdleTimeout: idle}.Open(ctx, "a", "fast")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rc, err := tt.open(t, ctx)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer rc.Close()
			if tt.cancel > 0 {
				time.AfterFunc(tt.cancel, cancel)
			}
			type result struct {
				got  []byte
				err  error
				took time.Duration
			}
			res := make(chan result, 1)
			go func() {
				start := time.Now()
				var got []byte
				buf := make([]byte, len(body)/3)
				for {
					n, err := rc.Read(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						res <- result{got, err, time.Since(start)}
						return
					}
					time.Sleep(tt.pause)
				}
			}()
			var r result
			select {
			case r = <-res:
			case <-time.After(10 * time.Second):
				t.Fatal("the read still waits after 10s, want it ended")
			}
			if tt.stall == nil {
				if r.err != io.EOF || string(r.got) != body {
					t.Fatalf("got %d bytes and %v, want the %d of the file and its end", len(r.got), r.err, len(body))
				}
				return
			}
			if !errors.Is(r.err, tt.stall) || !strings.Contains(r.err.Error(), dir) {
				t.Errorf("got %v, want %v naming the file", r.err, tt.stall)
			}
			if tt.stall == ErrStalled && (r.took < idle || !strings.Contains(r.err.Error(), "no data for 200ms")) {
				t.Errorf("got %v after %s, want no data for %s", r.err, r.took, idle)
			}
		})
	}
}

// TestLocalChecksumIdleTimeout: Stat of a local artifact whose checksum
// file's read waits for data (a FIFO nobody writes to) fails after the
// idle timeout rather than holding the deploy.
func TestLocalChecksumIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "1.tgz"), []byte("artifact"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := filepath.Join(dir, "1.tgz.sha256")
	if err := syscall.Mkfifo(sum, 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(sum, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := Source{Path: filepath.Join(dir, "{build}.tgz"), IdleTimeout: idle}.Stat(context.Background(), "a", "1")
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrStalled) || !strings.Contains(err.Error(), sum+": read stalled: no data for 200ms") {
			t.Errorf("Stat: got %v, want ErrStalled naming %s", err, sum)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stat still waits for the checksum file after 10s, want it failed")
	}
}

// TestLocalOpenTimeout: a stat or an open of a local artifact or its
// checksum file that does not return (a mount that hangs; here a FIFO
// nobody writes to, whose open waits for a writer) fails after the idle
// timeout, naming the file, rather than holding the deploy for ever. The
// opens given up on are closed once they return; those that return in
// time leave no goroutine behind.
func TestLocalOpenTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	dir := t.TempDir()
	publish := func(t *testing.T, name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// hang makes name a FIFO without a writer; the test's cleanup opens
	// its writing end, which lets an open given up on return.
	hang := func(t *testing.T, name string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if w, err := os.OpenFile(p, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		})
		return p
	}
	src := Source{Path: filepath.Join(dir, "{build}.tgz"), IdleTimeout: idle}

	tests := []struct {
		name  string
		setup func(t *testing.T)
		call  func() error
		hung  string // the file that does not answer
	}{
		{name: "stat, checksum file", hung: "1.tgz.sha256", setup: func(t *testing.T) {
			publish(t, "1.tgz", "artifact")
			hang(t, "1.tgz.sha256")
		}, call: func() error {
			_, err := src.Stat(context.Background(), "a", "1")
			return err
		}},
		{name: "open, artifact", hung: "2.tgz", setup: func(t *testing.T) { hang(t, "2.tgz") }, call: func() error {
			rc, err := src.Open(context.Background(), "a", "2")
			if err == nil {
				rc.Close()
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup(t)
			errc := make(chan error, 1)
			start := time.Now()
			go func() { errc <- tt.call() }()
			select {
			case err := <-errc:
				want := "artifact " + filepath.Join(dir, tt.hung) + ": no answer for 200ms"
				if !errors.Is(err, ErrStalled) || err.Error() != want {
					t.Errorf("got %v, want ErrStalled saying %q", err, want)
				}
				if took := time.Since(start); took < idle {
					t.Errorf("failed after %s, want after the idle timeout, %s", took, idle)
				}
				if r := src.Refusal("a", "1", err); r.Code != errs.Unavailable {
					t.Errorf("Refusal: got %s, want unavailable: retrying may help", r.Code)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("still waiting after 10s, want it failed after the idle timeout")
			}
		})
	}

	t.Run("no goroutine left behind", func(t *testing.T) {
		publish(t, "3.tgz", "artifact")
		publish(t, "3.tgz.sha256", digest+"  3.tgz\n")
		before := runtime.NumGoroutine()
		for range 50 {
			if _, err := src.Stat(context.Background(), "a", "3"); err != nil {
				t.Fatal(err)
			}
			rc, err := src.Open(context.Background(), "a", "3")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(rc); err != nil {
				t.Fatal(err)
			}
			rc.Close()
		}
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				t.Fatalf("%d goroutines, want at most the %d before", runtime.NumGoroutine(), before)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// TestSourceRedirects: an https artifact.url redirected to plain http is
// refused, for the artifact and for its checksum file, which anyone on the
// path could then both replace; redirects that keep TLS, or that start
// from plain http, are followed.
func TestSourceRedirects(t *testing.T) {
	plain := newArtifactServer(t, map[string]string{"/a/1.tgz": "one", "/a/1.tgz.sha256": digest})
	secure := &artifactServer{files: map[string]string{"/a/1.tgz": "one", "/a/1.tgz.sha256": digest}, status: map[string]int{}}
	secure.Server = httptest.NewTLSServer(http.HandlerFunc(secure.serve))
	t.Cleanup(secure.Close)

	redirect := func(to string) *httptest.Server {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, to+r.URL.Path, http.StatusFound)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	tests := []struct {
		name    string
		from    *httptest.Server
		wantErr bool
	}{
		{name: "https to http", from: redirect(plain.URL), wantErr: true},
		{name: "https to https", from: redirect(secure.URL)},
		{name: "http to http", from: func() *httptest.Server {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusFound)
			}))
			t.Cleanup(srv.Close)
			return srv
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The test servers share one certificate.
			src := Source{URL: tt.from.URL + "/{app}/{build}.tgz", Client: secure.Client()}
			ctx := context.Background()
			_, statErr := src.Stat(ctx, "a", "1")
			rc, openErr := src.Open(ctx, "a", "1")
			if openErr == nil {
				rc.Close()
			}
			for what, err := range map[string]error{"Stat": statErr, "Open": openErr} {
				switch {
				case !tt.wantErr && err != nil:
					t.Errorf("%s: got %v, want the redirect followed", what, err)
				case tt.wantErr && (err == nil || !strings.Contains(err.Error(), "redirected from https to plain http")):
					t.Errorf("%s: got %v, want the redirect to plain http refused", what, err)
				case tt.wantErr && !errors.Is(err, ErrInvalid):
					t.Errorf("%s: got %v, want it to wrap ErrInvalid", what, err)
				}
			}
		})
	}
	t.Run("refusal", func(t *testing.T) {
		src := Source{URL: tests[0].from.URL + "/{app}/{build}.tgz", Client: secure.Client()}
		_, err := src.Stat(context.Background(), "a", "1")
		if err == nil {
			t.Fatal("Stat followed the redirect to plain http")
		}
		if got := src.Refusal("a", "1", err); got.Code != errs.Invalid {
			t.Errorf("code %v (%s), want %v: asking again does not help", got.Code, got.Msg, errs.Invalid)
		}
	})
	t.Run("download refusal", func(t *testing.T) {
		// A server that redirects the download, not the check.
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.URL.Path == "/a/1.tgz" {
				http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusFound)
				return
			}
			secure.serve(w, r)
		}))
		t.Cleanup(srv.Close)
		src := Source{URL: srv.URL + "/{app}/{build}.tgz", Client: secure.Client()}
		if _, err := src.Stat(context.Background(), "a", "1"); err != nil {
			t.Fatalf("Stat: %v, want the check to pass", err)
		}
		rc, err := src.Open(context.Background(), "a", "1")
		if err == nil {
			rc.Close()
			t.Fatal("Open followed the redirect to plain http")
		}
		if got := src.ReadRefusal("a", "1", err); got.Code != errs.Invalid || !strings.Contains(got.Msg, "redirected from https to plain http") {
			t.Errorf("got %v %q, want %v saying the redirect to plain http was refused", got.Code, got.Msg, errs.Invalid)
		}
	})
}

// TestSourceRedirectSendsNoReferer: a redirect's target is not told the
// URL that led to it, whose query may hold a token (?token=…, a
// presigned URL's signature); Go's client would send it as the Referer.
// Nor does it get the credentials of the URL's user info.
func TestSourceRedirectSendsNoReferer(t *testing.T) {
	var mu sync.Mutex
	var referers, auths []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		referers = append(referers, r.Header.Get("Referer"))
		auths = append(auths, r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.Path {
		case "/a/1.tgz":
			io.WriteString(w, "one")
		case "/a/1.tgz.sha256":
			io.WriteString(w, digest)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(target.Close)
	from := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(from.Close)

	src := Source{URL: strings.Replace(from.URL, "://", "://ci:pw@", 1) + "/{app}/{build}.tgz?token=s3cr3t"}
	if _, err := src.Stat(context.Background(), "a", "1"); err != nil {
		t.Fatalf("Stat: %v", err)
	}
	rc, err := src.Open(context.Background(), "a", "1")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	rc.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(referers) != 3 {
		t.Fatalf("target got %d requests, want 3 (HEAD, the checksum, GET)", len(referers))
	}
	for i, ref := range referers {
		if ref != "" {
			t.Errorf("request %d: got Referer %q, want none", i, ref)
		}
		if auths[i] != "" {
			t.Errorf("request %d: got Authorization %q, want none", i, auths[i])
		}
	}
}
