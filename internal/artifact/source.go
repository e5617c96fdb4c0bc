// Package artifact finds build artifacts (gzip or zstd tarballs, served
// over HTTP or from a local path) and checks them while they stream to
// hosts: checksum, compression, and every tar entry.
package artifact

import (
	"context"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/redact"
)

// ErrNotFound marks an artifact that does not exist at its location.
//
// It is this package's own sentinel: package deploy imports artifact, so
// artifact cannot wrap deploy.ErrNotFound without an import cycle.
var ErrNotFound = errors.New("not found")

// ErrNoChecksum marks an artifact published without its checksum file,
// which Stat refuses unless the Source says the checksum is optional.
var ErrNoChecksum = errors.New("no published checksum")

// ErrDenied marks an answer 401 or 403 from the artifact server: the
// credentials in the URL are missing or refused, and asking again does
// not help until someone fixes them.
var ErrDenied = errors.New("access denied")

// ErrInvalid marks what the artifact store served that cannot be used,
// such as a checksum file that does not parse: asking again does not
// help, publishing it again does.
var ErrInvalid = errors.New("invalid")

// Error is a failure to find, read or check an artifact or its checksum
// file. Its message names the location with any credentials hidden and
// says briefly why, so that people may be shown it.
type Error struct {
	// Location is the artifact's or its checksum file's, credentials
	// hidden.
	Location string
	// Reason is brief: "HTTP 403 Forbidden", "lookup ci.example.com: no
	// such host".
	Reason string
	// Err is the cause (ErrNotFound, ErrInvalid, a network error), for
	// errors.Is and errors.As; it may be nil.
	Err error
	// Hint, when set, is what to check, in place of what Refusal
	// otherwise advises: "the object may not exist (…)".
	Hint string
}

func (e *Error) Error() string { return "artifact " + e.Location + ": " + e.Reason }

func (e *Error) Unwrap() error { return e.Err }

// checksumSuffix names the checksum file next to an artifact.
const checksumSuffix = ".sha256"

// maxChecksumFile bounds how much of a checksum file is read.
const maxChecksumFile = 64 << 10

// defaultClient bounds connecting and waiting for headers, but not the
// transfer: a large artifact may take long to stream. A body that stops
// sending is caught by the idle timeout (see Source.IdleTimeout).
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

// DefaultIdleTimeout is how long a read of a response from an artifact
// server may wait for data when Source.IdleTimeout is zero.
const DefaultIdleTimeout = time.Minute

// ErrStalled marks a read that waited the idle timeout for data.
var ErrStalled = errors.New("read stalled")

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
	// ChecksumOptional lets Stat accept an artifact without a checksum
	// file; by default it is refused, as nothing says the build is the
	// one published.
	ChecksumOptional bool
	// IdleTimeout bounds how long a read of a response body (an artifact,
	// a checksum file) may wait for data before it fails with an error
	// wrapping ErrStalled; zero means DefaultIdleTimeout. A server or a
	// proxy that stalls mid-body would otherwise hold up whoever reads
	// it, a deploy and its lease, until the context ends. Only time spent
	// waiting in Read counts: a caller may pause between reads. Stats,
	// opens and reads of local files (a path on a mount that hangs) have
	// the same bound.
	IdleTimeout time.Duration
}

// Info describes an artifact that exists.
type Info struct {
	// Location is the expanded URL or path.
	Location string
	// Size is the artifact's length in bytes, or -1 if the server did not
	// say.
	Size int64
	// SHA256 is the lowercase hex checksum from the checksum file next to
	// the artifact (Location + ".sha256"), or "" if there is none and the
	// Source has ChecksumOptional.
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
		loc := s.Location("app", "build")
		u, err := url.Parse(loc)
		if err != nil {
			// Not err, which quotes the URL or a part of it: the part
			// may be a password.
			return fmt.Errorf("artifact source: url %s: not a valid URL", redact.URL(loc))
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("artifact source: url %s: want an http or https url", redact.URL(loc))
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
// reads its checksum file. A missing artifact returns an error wrapping
// ErrNotFound; a missing checksum file one wrapping ErrNoChecksum, unless
// the checksum is optional; a checksum file that cannot be used wraps
// ErrInvalid; any other failure to check is an error too. Errors name no
// credentials: Refusal turns them into what people are told.
func (s Source) Stat(ctx context.Context, app, build string) (Info, error) {
	if err := s.Validate(); err != nil {
		return Info{}, err
	}
	loc := s.Location(app, build)
	if s.URL != "" {
		return s.statURL(ctx, loc)
	}
	return s.statPath(ctx, loc)
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
		f, err := bounded(ctx, loc, s.idle(), func() (*os.File, error) {
			f, err := os.Open(loc)
			if err != nil {
				return nil, pathError(loc, err)
			}
			if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
				f.Close()
				if err != nil {
					return nil, pathError(loc, err)
				}
				return nil, &Error{Location: loc, Reason: "not a regular file"}
			}
			return f, nil
		})
		if err != nil {
			return nil, err
		}
		return newIdleFile(ctx, f, loc, s.idle(), idleChunk), nil
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
		// Some servers only answer GET; the body is not read, but for
		// an error's.
		if resp, err = s.do(ctx, http.MethodGet, loc); err != nil {
			return Info{}, err
		}
	}
	err = statusError(resp, loc)
	resp.Body.Close()
	if err != nil {
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
		return s.noChecksum(info, sumLoc)
	}
	if err := statusError(resp, sumLoc); err != nil {
		return Info{}, err
	}
	if isHTML(resp.Header.Get("Content-Type")) {
		// A server that answers every path with its home page, or a
		// login page, instead of a 404.
		return Info{}, &Error{Location: redact.URL(sumLoc), Reason: "got an HTML page, not a checksum file", Err: ErrInvalid}
	}
	sum, err := readChecksum(resp.Body, sumLoc, urlBase(loc))
	if err != nil {
		return Info{}, err
	}
	info.SHA256 = sum
	return info, nil
}

// isHTML reports whether a Content-Type header names an HTML page.
func isHTML(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "text/html" || mt == "application/xhtml+xml")
}

func (s Source) statPath(ctx context.Context, loc string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	st, err := bounded(ctx, loc, s.idle(), func() (fs.FileInfo, error) {
		st, err := os.Stat(loc)
		if err != nil {
			return nil, pathError(loc, err)
		}
		return st, nil
	})
	if err != nil {
		return Info{}, err
	}
	if !st.Mode().IsRegular() {
		return Info{}, &Error{Location: loc, Reason: "not a regular file"}
	}
	info := Info{Location: loc, Size: st.Size()}

	sumLoc := loc + checksumSuffix
	f, err := bounded(ctx, sumLoc, s.idle(), func() (*os.File, error) {
		f, err := os.Open(sumLoc)
		if err != nil {
			return nil, pathError(sumLoc, err)
		}
		return f, nil
	})
	if errors.Is(err, ErrNotFound) {
		return s.noChecksum(info, sumLoc)
	}
	if err != nil {
		return Info{}, err
	}
	sum := newIdleFile(ctx, f, sumLoc, s.idle(), checksumChunk)
	defer sum.Close()
	if info.SHA256, err = readChecksum(sum, sumLoc, filepath.Base(loc)); err != nil {
		return Info{}, err
	}
	return info, nil
}

// noChecksum is what Stat returns for the artifact info whose checksum
// file, at sumLoc, does not exist.
func (s Source) noChecksum(info Info, sumLoc string) (Info, error) {
	if s.ChecksumOptional {
		return info, nil
	}
	return Info{}, &Error{Location: redact.URL(sumLoc), Reason: "no checksum file", Err: ErrNoChecksum}
}

// do sends a request without a body. Transport errors name the location
// with any password and query removed, and so do errors reading the
// response's body, which fail once a read has waited s's idle timeout.
func (s Source) do(ctx context.Context, method, loc string) (*http.Response, error) {
	// Cancelling the request is what unblocks a read that stalls.
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, method, loc, nil)
	if err != nil {
		cancel()
		// Its error quotes a part of the URL, which may be a password.
		return nil, &Error{Location: redact.URL(loc), Reason: "not a valid URL"}
	}
	client := s.Client
	if client == nil {
		client = defaultClient
	}
	resp, err := withRedirectPolicy(client).Do(req)
	if err != nil {
		cancel()
		return nil, transportError(loc, err)
	}
	b := &idleBody{body: resp.Body, cancel: cancel, loc: redact.URL(loc), idle: s.idle()}
	go b.watch(ctx)
	resp.Body = b
	return resp, nil
}

// maxRedirects is how many redirects a request follows, as many as Go's
// own default.
const maxRedirects = 10

// downgradeError is a redirect from https to plain http. The checksum file
// is fetched the same way as the artifact, so whoever is on the path of
// the plain request could serve another build with a checksum to match:
// the TLS that an https artifact.url asks for would protect nothing.
type downgradeError struct {
	// to is the redirect's location, credentials hidden.
	to string
}

func (e *downgradeError) Error() string {
	return "redirected from https to plain http (" + e.to + "), which is refused: an https artifact.url must stay on https"
}

func (e *downgradeError) Unwrap() error { return ErrInvalid }

// withRedirectPolicy returns a copy of c whose redirects may not leave
// https for plain http once a request of the chain used https, and carry
// no Referer, then run c's own policy. Go's client sends the URL that
// redirected as the Referer, query included: the token of an artifact.url
// (?token=…, a presigned URL's signature) would reach the redirect's
// host, a CDN or another party.
func withRedirectPolicy(c *http.Client) *http.Client {
	own := c.CheckRedirect
	cc := *c
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		req.Header.Del("Referer")
		if req.URL.Scheme != "https" {
			for _, r := range via {
				if r.URL.Scheme == "https" {
					return &downgradeError{to: redact.URL(req.URL.String())}
				}
			}
		}
		if own != nil {
			return own(req, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return &cc
}

// idle is s's idle timeout.
func (s Source) idle() time.Duration {
	if s.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return s.IdleTimeout
}

// transportError says briefly why a request to loc failed. *url.Error is
// left out, even as the cause: it repeats the full URL, credentials
// included, of the request or of a redirect.
func transportError(loc string, err error) *Error {
	var uerr *url.Error
	for errors.As(err, &uerr) && uerr.Err != nil {
		err = uerr.Err
	}
	reason := err.Error()
	var dns *net.DNSError
	if why := outOfFiles(err); why != "" {
		reason = why
	} else if errors.As(err, &dns) {
		// Without the resolver's address and the dial that needed it.
		reason = "lookup " + dns.Name + ": " + dns.Err
	}
	return &Error{Location: redact.URL(loc), Reason: reason, Err: err}
}

// outOfFiles says what to raise when err is the bot's or the system's
// running out of file descriptors, and is "" for any other error. Told
// only "too many open files", people take it for the artifact store's
// trouble or the build's.
func outOfFiles(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE):
		return "too many open files: raise the bot's file limit (ulimit -n / LimitNOFILE)"
	case errors.Is(err, syscall.ENFILE):
		return "too many open files in the system: raise its limit (sysctl fs.file-max)"
	}
	return ""
}

// idleChecks is how many times per idle timeout an idleBody looks whether
// a read is still waiting; the timeout is met within a fraction this
// small of itself.
const idleChecks = 4

// idleBody is a response body whose reads fail once one has waited idle
// for data: its watcher then cancels the request, which unblocks the read.
// A read only counts itself, in an atomic, rather than arming a timer,
// so that a body streamed in many small reads costs no more to read.
type idleBody struct {
	body   io.ReadCloser
	cancel context.CancelFunc
	loc    string // redacted
	idle   time.Duration

	// reads counts the reads begun and ended: it is odd during a read.
	reads   atomic.Uint64
	stalled atomic.Bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.reads.Add(1)
	n, err := b.body.Read(p)
	b.reads.Add(1)
	if err != nil && err != io.EOF {
		if b.stalled.Load() {
			return n, fmt.Errorf("artifact %s: %w: no data for %s", b.loc, ErrStalled, b.idle)
		}
		return n, fmt.Errorf("artifact %s: %w", b.loc, err)
	}
	return n, err
}

// Close closes the body and ends its request and its watcher.
func (b *idleBody) Close() error {
	err := b.body.Close()
	b.cancel()
	return err
}

// watch cancels the request once the same read has been waiting for
// idleChecks looks in a row, b.idle apart in all. It returns when ctx,
// the request's, ends.
func (b *idleBody) watch(ctx context.Context) {
	// At least a millisecond apart: a ticker takes no interval under 1ns,
	// and an idle timeout of a few nanoseconds (half a step_timeout of a
	// few) would otherwise panic here, or spin.
	t := time.NewTicker(max(b.idle/idleChecks, time.Millisecond))
	defer t.Stop()
	var last uint64
	waiting := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := b.reads.Load()
		if n%2 == 0 || n != last {
			last, waiting = n, 0
			continue
		}
		if waiting++; waiting == idleChecks {
			b.stalled.Store(true)
			b.cancel()
			return
		}
	}
}

// bounded returns what op, a stat or an open of the local file at loc,
// returns, unless op has not returned after idle or when ctx ends: a
// mount that hangs (an NFS server gone) holds a stat or an open in the
// kernel, where nothing interrupts it, as it does a read (see idleFile).
// op then runs on, on a goroutine of its own, and a file it opens once
// it returns is closed; if it never returns, that goroutine is left to
// it. Given up on, bounded returns an error wrapping ErrStalled or ctx's.
func bounded[T any](ctx context.Context, loc string, idle time.Duration, op func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result)
	gaveUp := make(chan struct{})
	go func() {
		v, err := op()
		select {
		case done <- result{v, err}:
		case <-gaveUp:
			if c, ok := any(v).(io.Closer); ok && err == nil {
				c.Close()
			}
		}
	}()
	t := time.NewTimer(idle)
	defer t.Stop()
	var zero T
	select {
	case r := <-done:
		return r.v, r.err
	case <-t.C:
		close(gaveUp)
		return zero, &Error{Location: loc, Reason: fmt.Sprintf("no answer for %s", idle), Err: ErrStalled}
	case <-ctx.Done():
		close(gaveUp)
		return zero, fmt.Errorf("artifact %s: %w", loc, ctx.Err())
	}
}

// How much an idleFile reads at once: of an artifact, and of a checksum
// file (a line or a few).
const (
	idleChunk     = 256 << 10
	checksumChunk = 4 << 10
)

// idleFile is a local file whose reads fail once one has waited idle for
// data, or when ctx ends. A read of a file cannot be interrupted (on a
// mount that hangs it waits in the kernel), so the file is read on a
// goroutine of its own, at most one chunk ahead of the caller; after a
// stall that goroutine, and the file, are left to the read that never
// returns. Only the time a Read waits counts, as for idleBody. Close may
// be called during a Read, which it ends; Reads are not for concurrent
// use.
type idleFile struct {
	ctx  context.Context
	f    *os.File
	loc  string
	idle time.Duration

	chunks chan fileChunk // read, for the caller
	free   chan []byte    // buffers the caller is done with
	stop   chan struct{}  // closed by Close
	cur    []byte         // the unread rest of the last chunk
	buf    []byte         // the buffer cur is in
	err    error          // once set, every Read returns it
}

type fileChunk struct {
	b   []byte
	err error
}

// newIdleFile reads f, at loc, chunk bytes at a time.
func newIdleFile(ctx context.Context, f *os.File, loc string, idle time.Duration, chunk int) *idleFile {
	r := &idleFile{
		ctx: ctx, f: f, loc: loc, idle: idle,
		chunks: make(chan fileChunk, 1), free: make(chan []byte, 2), stop: make(chan struct{}),
	}
	r.free <- make([]byte, chunk)
	r.free <- make([]byte, chunk)
	go r.readAhead()
	return r
}

// readAhead reads the file chunk by chunk, each into a buffer the caller
// gave back, until an error (io.EOF included) or Close.
func (r *idleFile) readAhead() {
	for {
		var buf []byte
		select {
		case buf = <-r.free:
		case <-r.stop:
			return
		}
		n, err := r.f.Read(buf)
		select {
		case r.chunks <- fileChunk{b: buf[:n], err: err}:
		case <-r.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (r *idleFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.buf != nil {
			r.free <- r.buf[:cap(r.buf)]
			r.buf = nil
		}
		t := time.NewTimer(r.idle)
		select {
		case c := <-r.chunks:
			t.Stop()
			r.cur, r.buf = c.b, c.b
			r.err = c.err // io.EOF, or the *fs.PathError of a read
		case <-t.C:
			r.err = fmt.Errorf("artifact %s: %w: no data for %s", r.loc, ErrStalled, r.idle)
		case <-r.ctx.Done():
			t.Stop()
			r.err = fmt.Errorf("artifact %s: %w", r.loc, r.ctx.Err())
		case <-r.stop:
			t.Stop()
			r.err = fmt.Errorf("artifact %s: %w", r.loc, os.ErrClosed)
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// Close ends the reading goroutine, unless it waits in a read, and closes
// the file (for good once that read returns).
func (r *idleFile) Close() error {
	select {
	case <-r.stop:
		return nil
	default:
	}
	close(r.stop)
	return r.f.Close()
}

// statusError turns a response that is not 2xx into an error naming the
// status and the location; 404 and 410 wrap ErrNotFound, 401 and 403
// ErrDenied. It reads a little of the body of a 401 or 403, which the
// caller closes.
func statusError(resp *http.Response, loc string) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &Error{Location: redact.URL(loc), Reason: resp.Request.Method + ": HTTP " + resp.Status}
	switch resp.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		e.Err = ErrNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		e.Err = ErrDenied
		s3Denied(e, resp)
	}
	return e
}

// maxErrorBody bounds how much of an error's body is read for its code.
const maxErrorBody = 4 << 10

// s3Denied adds to e, a refusal, what S3 (or a store speaking its
// protocol) said in resp. S3 answers 403 AccessDenied, not 404, for an
// object that does not exist when the credentials lack s3:ListBucket,
// and AccessDenied says no more: the build id may be wrong as well as
// the credentials. A HEAD's answer has no body, and so no code.
func s3Denied(e *Error, resp *http.Response) {
	var body struct {
		XMLName xml.Name
		Code    string
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	parsed := xml.Unmarshal(b, &body) == nil && body.XMLName.Local == "Error" && body.Code != ""
	if !parsed && resp.Header.Get("X-Amz-Request-Id") == "" && !strings.HasPrefix(resp.Header.Get("Server"), "AmazonS3") {
		return
	}
	// The code is the server's text, shown to people: only a word.
	if parsed && s3Code(body.Code) {
		e.Reason += " (S3 " + body.Code + ")"
	} else {
		e.Reason += " (S3)"
	}
	if !parsed || body.Code == "AccessDenied" {
		e.Hint = "the object may not exist (S3 answers 403 for a missing object when the credentials lack s3:ListBucket), or the credentials of the app's artifact.url lack s3:GetObject"
	}
}

// s3Code reports whether code looks like an S3 error code
// (SignatureDoesNotMatch): letters and digits, and short.
func s3Code(code string) bool {
	if len(code) > 64 {
		return false
	}
	for _, c := range code {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.') {
			return false
		}
	}
	return true
}

// pathError names loc and the reason only: *fs.PathError would repeat
// the path and the operation.
func pathError(loc string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &Error{Location: loc, Reason: "not found", Err: ErrNotFound}
	}
	reason := err.Error()
	var perr *fs.PathError
	if why := outOfFiles(err); why != "" {
		reason = why
	} else if errors.As(err, &perr) {
		reason = perr.Err.Error()
	}
	return &Error{Location: loc, Reason: reason, Err: err}
}

// urlBase is the last element of the path of loc, unescaped: the file name
// a checksum file lists the artifact by.
func urlBase(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return path.Base(loc)
	}
	return path.Base(u.Path)
}

// checksumURL appends the checksum suffix to the path of loc, keeping any
// query (a signed URL's parameters) and fragment where they are: after a
// fragment, the suffix would not reach the server, which would answer
// with the artifact itself.
func checksumURL(loc string) string {
	u, err := url.Parse(loc)
	if err != nil || (u.RawQuery == "" && u.Fragment == "") {
		return loc + checksumSuffix
	}
	u.Path += checksumSuffix
	if u.RawPath != "" {
		u.RawPath += checksumSuffix
	}
	return u.String()
}

// readChecksum reads the checksum file at loc and returns the digest it
// gives for the artifact named name (see parseChecksum).
func readChecksum(r io.Reader, loc, name string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxChecksumFile+1))
	if err != nil {
		e := transportError(loc, err)
		e.Reason = "read: " + e.Reason
		return "", e
	}
	if len(b) > maxChecksumFile {
		return "", &Error{Location: redact.URL(loc), Reason: fmt.Sprintf("larger than %d KiB: not a checksum file", maxChecksumFile>>10), Err: ErrInvalid}
	}
	sum, err := parseChecksum(string(b), name)
	if err != nil {
		return "", &Error{Location: redact.URL(loc), Reason: err.Error(), Err: ErrInvalid}
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
	return redact.URL(s.Location(app, build))
}

// Refusal turns err, from Stat of build of app, into an error with a code
// and a message for people saying why, briefly and without credentials:
// NotFound for a missing artifact or checksum file (the message names
// the config key that makes the checksum optional), Invalid for what the
// store served but cannot be used (retrying does not help), Forbidden for
// a 401 or 403 (nor does it: the message says to check the credentials),
// Unavailable otherwise. The message ends without punctuation, so the caller may add
// to it.
func (s Source) Refusal(app, build string, err error) *errs.Error {
	var e *Error
	switch {
	case errors.Is(err, ErrNoChecksum) && errors.As(err, &e):
		return &errs.Error{Code: errs.NotFound, Err: err, Msg: fmt.Sprintf("build %s of %s has no published checksum (%s not found); publish one, or set artifact.checksum: optional for this app", build, app, e.Location)}
	case errors.Is(err, ErrNotFound):
		return &errs.Error{Code: errs.NotFound, Err: err, Msg: fmt.Sprintf("build %s of %s not found at %s", build, app, s.Display(app, build))}
	case errors.Is(err, ErrDenied):
		return &errs.Error{Code: errs.Forbidden, Err: err, Msg: fmt.Sprintf("the artifact server refused access to build %s of %s: %s; %s", build, app, reason(err), hint(err, "check the credentials of the app's artifact.url"))}
	case errors.Is(err, ErrInvalid):
		return &errs.Error{Code: errs.Invalid, Err: err, Msg: fmt.Sprintf("cannot check build %s of %s: %s", build, app, reason(err))}
	}
	return &errs.Error{Code: errs.Unavailable, Err: err, Msg: fmt.Sprintf("cannot check build %s of %s: %s", build, app, reason(err))}
}

// ReadRefusal is Refusal for err from Open of build of app, which Stat
// passed a moment before: NotFound for an artifact gone since, Forbidden
// for a 401 or 403 (a signed URL or a token that expired in between, a
// server that lets HEAD through and not GET: retrying does not help),
// Invalid for an answer that cannot be used (a GET redirected from https
// to plain http where the HEAD was not: nor does it), Unavailable
// otherwise, saying why.
func (s Source) ReadRefusal(app, build string, err error) *errs.Error {
	switch {
	case errors.Is(err, ErrNotFound):
		return &errs.Error{Code: errs.NotFound, Err: err, Msg: fmt.Sprintf("build %s of %s not found at %s", build, app, s.Display(app, build))}
	case errors.Is(err, ErrDenied):
		return &errs.Error{Code: errs.Forbidden, Err: err, Msg: fmt.Sprintf("the artifact server refused the download of build %s of %s: %s; %s", build, app, reason(err), hint(err, "check the credentials of the app's artifact.url, and whether they have expired"))}
	case errors.Is(err, ErrInvalid):
		return &errs.Error{Code: errs.Invalid, Err: err, Msg: fmt.Sprintf("cannot read build %s of %s: %s", build, app, reason(err))}
	}
	return &errs.Error{Code: errs.Unavailable, Err: err, Msg: fmt.Sprintf("cannot read build %s of %s: %s", build, app, reason(err))}
}

// hint is the Hint of this package's error in err, if it has one, else
// advice.
func hint(err error, advice string) string {
	var e *Error
	if errors.As(err, &e) && e.Hint != "" {
		return e.Hint
	}
	return advice
}

// reason is what people are told of err: the location and why, for this
// package's errors.
func reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Location + ": " + e.Reason
	}
	return err.Error()
}
