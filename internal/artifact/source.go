// Package artifact finds build artifacts (gzip or zstd tarballs, served
// over HTTP or from a local path) and checks them while they stream to
// hosts: checksum, compression, and every tar entry.
package artifact

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// ErrNotFound marks an artifact that does not exist at its location.
//
// It is this package's own sentinel: package deploy imports artifact, so
// artifact cannot wrap deploy.ErrNotFound without an import cycle.
var ErrNotFound = errors.New("not found")

// checksumSuffix names the checksum file next to an artifact.
const checksumSuffix = ".sha256"

// maxChecksumFile bounds how much of a checksum file is read.
const maxChecksumFile = 64 << 10

// defaultClient bounds connecting and waiting for headers, but not the
// transfer: a large artifact may take long to stream, and the context
// passed to Stat and Open bounds the whole exchange.
var defaultClient = &http.Client{
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   4,
		ForceAttemptHTTP2:     true,
	},
}

// Source says where the builds of one app are. Exactly one of URL and Path
// is set. A Source is a value; it is safe for concurrent use.
type Source struct {
	// URL is an http or https URL template; {app} and {build} are
	// replaced by the path-escaped app name and build id.
	URL string
	// Path is a local file path template with {app} and {build}.
	Path string
	// Client makes the HTTP requests; nil means a client that bounds
	// connecting and waiting for response headers.
	Client *http.Client
}

// Info describes an artifact that exists.
type Info struct {
	// Location is the expanded URL or path.
	Location string
	// Size is the artifact's length in bytes, or -1 if the server did not
	// say.
	Size int64
	// SHA256 is the lowercase hex checksum from the checksum file next to
	// the artifact (Location + ".sha256"), or "" if there is none.
	SHA256 string
}

// Validate reports a Source that names no location, names two, or whose
// URL is not http or https.
func (s Source) Validate() error {
	switch {
	case s.URL == "" && s.Path == "":
		return errors.New("artifact source: set a url or a path")
	case s.URL != "" && s.Path != "":
		return errors.New("artifact source: set a url or a path, not both")
	case s.URL != "":
		u, err := url.Parse(s.Location("app", "build"))
		if err != nil {
			return fmt.Errorf("artifact source: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("artifact source: url %s: want an http or https url", redact(u))
		}
	}
	return nil
}

// Location returns the URL (if the Source has one) or the path of build
// of app.
func (s Source) Location(app, build string) string {
	if s.URL != "" {
		return strings.NewReplacer("{app}", url.PathEscape(app), "{build}", url.PathEscape(build)).Replace(s.URL)
	}
	return strings.NewReplacer("{app}", app, "{build}", build).Replace(s.Path)
}

// Stat checks that build of app exists, with a HEAD request or a stat, and
// reads its checksum file if there is one. A missing artifact returns an
// error wrapping ErrNotFound; a checksum file that cannot be read or
// parsed is an error too, as is any other failure to check.
func (s Source) Stat(ctx context.Context, app, build string) (Info, error) {
	if err := s.Validate(); err != nil {
		return Info{}, err
	}
	loc := s.Location(app, build)
	if s.URL != "" {
		return s.statURL(ctx, loc)
	}
	return statPath(ctx, loc)
}

// Open streams build of app. The caller closes the reader. A missing
// artifact returns an error wrapping ErrNotFound.
func (s Source) Open(ctx context.Context, app, build string) (io.ReadCloser, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	loc := s.Location(app, build)
	if s.URL == "" {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := os.Open(loc)
		if err != nil {
			return nil, pathError(loc, err)
		}
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
			f.Close()
			if err != nil {
				return nil, pathError(loc, err)
			}
			return nil, fmt.Errorf("artifact %s: not a regular file", loc)
		}
		return f, nil
	}
	resp, err := s.do(ctx, http.MethodGet, loc)
	if err != nil {
		return nil, err
	}
	if err := statusError(resp, loc); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp.Body, nil
}

func (s Source) statURL(ctx context.Context, loc string) (Info, error) {
	resp, err := s.do(ctx, http.MethodHead, loc)
	if err != nil {
		return Info{}, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented {
		// Some servers only answer GET; the body is not read.
		if resp, err = s.do(ctx, http.MethodGet, loc); err != nil {
			return Info{}, err
		}
		resp.Body.Close()
	}
	if err := statusError(resp, loc); err != nil {
		return Info{}, err
	}
	info := Info{Location: loc, Size: resp.ContentLength}

	sumLoc := checksumURL(loc)
	resp, err = s.do(ctx, http.MethodGet, sumLoc)
	if err != nil {
		return Info{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return info, nil
	}
	if err := statusError(resp, sumLoc); err != nil {
		return Info{}, err
	}
	sum, err := readChecksum(resp.Body, sumLoc)
	if err != nil {
		return Info{}, err
	}
	info.SHA256 = sum
	return info, nil
}

func statPath(ctx context.Context, loc string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	st, err := os.Stat(loc)
	if err != nil {
		return Info{}, pathError(loc, err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("artifact %s: not a regular file", loc)
	}
	info := Info{Location: loc, Size: st.Size()}

	sumLoc := loc + checksumSuffix
	f, err := os.Open(sumLoc)
	if errors.Is(err, fs.ErrNotExist) {
		return info, nil
	}
	if err != nil {
		return Info{}, fmt.Errorf("checksum file: %w", err)
	}
	defer f.Close()
	if info.SHA256, err = readChecksum(f, sumLoc); err != nil {
		return Info{}, err
	}
	return info, nil
}

// do sends a request without a body. Transport errors name the location
// with any password and query removed.
func (s Source) do(ctx context.Context, method, loc string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, loc, nil)
	if err != nil {
		return nil, fmt.Errorf("artifact %s: %w", redactString(loc), err)
	}
	client := s.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the full URL, query included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return nil, fmt.Errorf("artifact %s: %s: %w", redactString(loc), method, err)
	}
	return resp, nil
}

// statusError turns a response that is not 2xx into an error naming the
// status and the location; 404 and 410 wrap ErrNotFound.
func statusError(resp *http.Response, loc string) error {
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return fmt.Errorf("artifact %s: %s %s: %w", redactString(loc), resp.Request.Method, resp.Status, ErrNotFound)
	default:
		return fmt.Errorf("artifact %s: %s %s", redactString(loc), resp.Request.Method, resp.Status)
	}
}

func pathError(loc string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("artifact %s: %w", loc, ErrNotFound)
	}
	return fmt.Errorf("artifact: %w", err) // *fs.PathError names the path
}

// checksumURL appends the checksum suffix to the path of loc, keeping any
// query (a signed URL's parameters) where it is.
func checksumURL(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || u.RawQuery == "" {
		return loc + checksumSuffix
	}
	u.Path += checksumSuffix
	if u.RawPath != "" {
		u.RawPath += checksumSuffix
	}
	return u.String()
}

// readChecksum parses sha256sum output: the first whitespace-separated
// field is the hex digest.
func readChecksum(r io.Reader, loc string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxChecksumFile))
	if err != nil {
		return "", fmt.Errorf("checksum file %s: %w", redactString(loc), err)
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 {
		return "", fmt.Errorf("checksum file %s is empty", redactString(loc))
	}
	sum := strings.ToLower(fields[0])
	if !isSHA256(sum) {
		return "", fmt.Errorf("checksum file %s: first field is not a sha256 digest (64 hex digits)", redactString(loc))
	}
	return sum, nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Display is Location with credentials hidden: what people may be shown.
func (s Source) Display(app, build string) string {
	return redactString(s.Location(app, build))
}

// redactString hides the password and query of a URL, which may hold
// credentials, so that errors can be logged and shown. Paths are returned
// as they are.
func redactString(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || u.Scheme == "" {
		return loc
	}
	return redact(u)
}

func redact(u *url.URL) string {
	c := *u
	if c.RawQuery != "" {
		c.RawQuery = "REDACTED"
	}
	// A token may be the user name alone (https://TOKEN@host/…), which
	// URL.Redacted keeps.
	if c.User != nil {
		c.User = url.User("REDACTED")
	}
	return c.String()
}
