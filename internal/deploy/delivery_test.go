package deploy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/transport/local"
)

// hostHooks is a local fleet (see hostDirs) whose push deliveries a test
// can tamper with: before may change a host's delivery command, and after
// runs once it has ended. refuse, when set, may refuse a host's login
// with an error of its own.
type hostHooks struct {
	hostDirs
	before func(host string, cmd *deploy.Command)
	after  func(host string)
	refuse func(host string) error
}

func (m *hostHooks) Open(ctx context.Context, h deploy.Host) (deploy.Session, error) {
	if m.refuse != nil {
		if err := m.refuse(h.Name); err != nil {
			return nil, err
		}
	}
	s, err := m.hostDirs.Open(ctx, h)
	if err != nil {
		return nil, err
	}
	return &hookedSession{Session: s, host: h.Name, m: m}, nil
}

type hookedSession struct {
	deploy.Session
	host string
	m    *hostHooks
}

func (s *hookedSession) Run(ctx context.Context, cmd deploy.Command) ([]byte, error) {
	if cmd.Stdin == nil {
		return s.Session.Run(ctx, cmd)
	}
	if s.m.before != nil {
		s.m.before(s.host, &cmd)
	}
	out, err := s.Session.Run(ctx, cmd)
	if s.m.after != nil {
		s.m.after(s.host)
	}
	return out, err
}

// localFleet is a fixture whose hosts each live in a directory of
// their own, reached through tr; env holds more lines of the env's
// config ("parallel: 1"), artifact replaces the app's artifact line
// when set.
func localFleet(t *testing.T, tr *hostHooks, artifact string, env []string, hosts ...string) *fixture {
	t.Helper()
	root := filepath.Join(t.TempDir(), "web")
	var b strings.Builder
	b.WriteString("        transport: ssh\n        ssh: {user: u, key_file: /dev/null, insecure_ignore_host_key: true}\n")
	for _, l := range env {
		b.WriteString("        " + l + "\n")
	}
	b.WriteString("        hosts:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "          - {name: %s, address: '%s:22'}\n", h, h)
	}
	yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "        hosts: [localhost]\n", b.String(), 1)
	yaml = strings.Replace(yaml, "path: srv/web", "path: "+root, 1)
	if artifact != "" {
		yaml = strings.Replace(yaml, "      path: artifacts/{app}-{build}.tar.gz\n", "      "+artifact+"\n", 1)
	}
	tr.configured = root
	f := newFixtureWith(t, yaml, func(o *deploy.Options) { o.Transports["ssh"] = tr })
	tr.app = f.app
	return f
}

// hostPath is rel in host's directory of a fleet fixture.
func (f *fixture) hostPath(host, rel string) string {
	return filepath.Join(f.app+"-"+host, rel)
}

// TestRepublishedArtifactFailsLaterWaves: without a published checksum,
// the hosts of later push waves must get the bytes the first wave
// verified. An artifact republished after the first wave fails the
// deploy, and no host keeps either version under the build's id.
func TestRepublishedArtifactFailsLaterWaves(t *testing.T) {
	tr := &hostHooks{}
	f := localFleet(t, tr, "path: artifacts/{app}-{build}.tar.gz\n      checksum: optional", []string{"parallel: 1", "max_failures: 0"}, "a", "b")
	art := filepath.Join(f.arts, "web-1.tar.gz")
	f.build("1")
	if err := os.Remove(art + ".sha256"); err != nil {
		t.Fatal(err)
	}
	other := tarball(t, false, tarEntry{name: "BUILD", body: "1"}, tarEntry{name: "REBUILT", body: "yes"})
	var once sync.Once
	tr.after = func(host string) {
		once.Do(func() {
			if err := os.WriteFile(art, other, 0o644); err != nil {
				t.Errorf("republish: %v", err)
			}
		})
	}

	rec, err := f.run(deploy.KindDeploy, "1")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Outcome != deploy.OutcomeFailed || !strings.Contains(rec.Error, "the artifact of build 1 changed during the deploy: checksum mismatch") {
		t.Errorf("got outcome %s, error %q; want failed, the artifact changed during the deploy", rec.Outcome, rec.Error)
	}
	for _, h := range []string{"a", "b"} {
		if _, err := os.Stat(f.hostPath(h, "releases/1")); err == nil {
			t.Errorf("%s keeps releases/1 after the artifact changed", h)
		}
		if _, err := os.Lstat(f.hostPath(h, "current")); err == nil {
			t.Errorf("%s switched", h)
		}
	}

	// Deployed again, every host gets the artifact as it is now.
	f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeSucceeded)
	for _, h := range []string{"a", "b"} {
		if _, err := os.Stat(f.hostPath(h, "releases/1/REBUILT")); err != nil {
			t.Errorf("%s: %v; want the release of the rebuilt artifact", h, err)
		}
	}
}

// artifactStore serves a fixture's artifacts over HTTP on 127.0.0.1, as a
// CI server does. With cut set, a GET of an artifact (not of its
// checksum) sends the headers and the first half of the body, and then
// leaves the rest of the exchange to cut.
type artifactStore struct {
	*httptest.Server

	mu     sync.Mutex
	dir    string
	cut    func(w http.ResponseWriter, r *http.Request)
	refuse int // the status of every GET of an artifact, if set
}

func newArtifactStore(t *testing.T) *artifactStore {
	t.Helper()
	s := &artifactStore{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// url is the artifact line of the app's config for s.
func (s *artifactStore) url() string { return "url: " + s.URL + "/{app}-{build}.tar.gz" }

// serveFrom sets the directory of the artifacts and what happens after
// the first half of an artifact.
func (s *artifactStore) serveFrom(dir string, cut func(w http.ResponseWriter, r *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dir, s.cut = dir, cut
}

// refuseGET has s answer every GET of an artifact (not of its checksum)
// with status, and HEAD as before: the download is refused after the
// check passed.
func (s *artifactStore) refuseGET(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = status
}

func (s *artifactStore) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	dir, cut, refuse := s.dir, s.cut, s.refuse
	s.mu.Unlock()
	file := filepath.Join(dir, path.Base(r.URL.Path))
	if refuse != 0 && r.Method == http.MethodGet && strings.HasSuffix(file, ".tar.gz") {
		http.Error(w, http.StatusText(refuse), refuse)
		return
	}
	if cut == nil || r.Method != http.MethodGet || !strings.HasSuffix(file, ".tar.gz") {
		http.ServeFile(w, r, file)
		return
	}
	data, err := os.ReadFile(file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data[:len(data)/2])
	http.NewResponseController(w).Flush()
	cut(w, r)
}

// resetConn breaks the connection of a response with a TCP reset, as a
// proxy or load balancer in trouble does.
func resetConn(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	conn.(*net.TCPConn).SetLinger(0)
	conn.Close()
}

// bigBuild writes build, with a file of size random bytes, stored
// uncompressed (quick to make) in an artifact about that long.
func (f *fixture) bigBuild(build string, size int) {
	f.t.Helper()
	body := make([]byte, size)
	rand.NewChaCha8([32]byte{'b'}).Read(body)
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range []struct{ name, body string }{{"BUILD", build}, {"big.bin", string(body)}} {
		tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg})
		io.WriteString(tw, e.body)
	}
	tw.Close()
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.NoCompression)
	zw.Write(raw.Bytes())
	zw.Close()
	f.write(build, gz.Bytes(), "")
}

// TestArtifactReadFailureIsNotABadBuild: a connection to the artifact
// store that breaks mid-read cuts the stream short, which the inspector
// takes for a checksum mismatch or a corrupt archive. The deploy must say
// that reading failed, which retrying may mend, not that the build was
// refused.
func TestArtifactReadFailureIsNotABadBuild(t *testing.T) {
	for _, delivery := range []string{"push", "pull"} {
		t.Run(delivery, func(t *testing.T) {
			srv := newArtifactStore(t)
			yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "      path: artifacts/{app}-{build}.tar.gz\n", "      "+srv.url()+"\n", 1)
			yaml = strings.Replace(yaml, "    path: srv/web\n", "    path: srv/web\n    delivery: "+delivery+"\n", 1)
			f := newFixtureFrom(t, yaml, &local.Transport{})
			srv.serveFrom(f.arts, resetConn)
			f.bigBuild("1", 2<<20)

			rec, err := f.run(deploy.KindDeploy, "1")
			if err != nil {
				t.Fatal(err)
			}
			if rec.Outcome != deploy.OutcomeFailed || !strings.Contains(rec.Error, "reading build 1 of web failed") || !strings.Contains(rec.Error, "retrying may help") || strings.Contains(rec.Error, "refused") {
				t.Errorf("got outcome %s, error %q; want failed, reading the build failed", rec.Outcome, rec.Error)
			}
			if got := f.releases(); len(got) != 0 {
				t.Errorf("releases left on disk: %v", got)
			}
		})
	}
}

// stall returns a cut for an artifactStore that holds the rest of the
// body back until the client gives up or the test ends, and a channel
// closed once it holds it back.
func stall(t *testing.T) (cut func(w http.ResponseWriter, r *http.Request), stalled <-chan struct{}) {
	t.Helper()
	release, held := make(chan struct{}), make(chan struct{})
	var once sync.Once
	// Cleanups run last first: this one before the engine is waited for,
	// which a deploy stuck reading would hold up for ever.
	t.Cleanup(func() { close(release) })
	return func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(held) })
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}, held
}

// runWithin is f.run of a deploy with a shorter wait: it fails the test
// if the deploy does not end within d.
func (f *fixture) runWithin(build string, d time.Duration) *deploy.Record {
	f.t.Helper()
	rec, err := f.runFor(deploy.KindDeploy, build, d)
	if err != nil {
		f.t.Fatal(err)
	}
	return rec
}

// TestStalledArtifactServer: an artifact server that sends half a body
// and then nothing fails the deploy once the bot has waited half the
// step_timeout for data, with an error naming the artifact; push or pull.
func TestStalledArtifactServer(t *testing.T) {
	for _, delivery := range []string{"push", "pull"} {
		t.Run(delivery, func(t *testing.T) {
			srv := newArtifactStore(t)
			yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "      path: artifacts/{app}-{build}.tar.gz\n", "      "+srv.url()+"?token=s3cr3t\n", 1)
			yaml = strings.Replace(yaml, "    path: srv/web\n", "    path: srv/web\n    delivery: "+delivery+"\n", 1)
			yaml = strings.Replace(yaml, "        hosts: [localhost]\n", "        hosts: [localhost]\n        step_timeout: 2s\n", 1)
			f := newFixtureFrom(t, yaml, &local.Transport{})
			cut, _ := stall(t)
			srv.serveFrom(f.arts, cut)
			f.bigBuild("1", 2<<20)

			rec := f.runWithin("1", 15*time.Second)
			if rec.Outcome != deploy.OutcomeFailed || !strings.Contains(rec.Error, "reading build 1 of web failed: artifact "+srv.URL+"/web-1.tar.gz?REDACTED: read stalled: no data for 1s") {
				t.Errorf("got outcome %s, error %q; want failed, the artifact stalled", rec.Outcome, rec.Error)
			}
			if got := f.releases(); len(got) != 0 {
				t.Errorf("releases left on disk: %v", got)
			}
		})
	}
}

// TestHostsGoneStopTheRead: when every host of a push wave has failed, the
// bot stops reading the artifact, even from a server that stalls: the
// deploy ends with the hosts' errors, not at the read's idle timeout.
func TestHostsGoneStopTheRead(t *testing.T) {
	srv := newArtifactStore(t)
	tr := &hostHooks{}
	// An idle timeout of 30 s, far beyond what the deploy may take.
	f := localFleet(t, tr, srv.url(), []string{"step_timeout: 1m", "max_failures: 1"}, "a", "b")
	cut, stalled := stall(t)
	srv.serveFrom(f.arts, cut)
	f.bigBuild("1", 2<<20)
	tr.before = func(host string, cmd *deploy.Command) {
		// Both hosts fail once the bot waits for the rest of the body
		// (the grace lets it read what it was sent).
		<-stalled
		cmd.Script = "sleep 0.3; echo 'mkdir: No space left on device' >&2; exit 1\n"
	}

	rec := f.runWithin("1", 15*time.Second)
	if rec.Outcome != deploy.OutcomeFailed || !strings.Contains(rec.Error, "delivery failed on 2 of 2 hosts") || !strings.Contains(rec.Error, "No space left on device") {
		t.Errorf("got outcome %s, error %q; want failed with the hosts' errors", rec.Outcome, rec.Error)
	}
}

// TestStuckHostFailsAlone: a host whose tar stops reading (a hung disk, a
// stopped process) while its connection stays alive holds back the other
// hosts of its push wave once the fan-out's window is full. It is dropped
// when it has made no progress for half the step_timeout and fails on its
// own; max_failures decides the rest, and the others go on.
func TestStuckHostFailsAlone(t *testing.T) {
	tr := &hostHooks{}
	// step_timeout bounds a's delivery too, held back until b is dropped
	// at half of it: the other half is a's to finish in, which a loaded
	// machine took past 4s.
	f := localFleet(t, tr, "", []string{"step_timeout: 20s", "max_failures: 1"}, "a", "b")
	tr.before = func(host string, cmd *deploy.Command) {
		if host == "b" {
			// Its tar starts, and then reads nothing more.
			cmd.Script = "echo +; exec sleep 600\n"
		}
	}
	f.bigBuild("1", 12<<20) // more than the fan-out's window

	rec := f.runWithin("1", time.Minute)
	if rec.Outcome != deploy.OutcomePartial {
		t.Errorf("got outcome %s (%s), want partial", rec.Outcome, rec.Error)
	}
	if hr := rec.Host("a"); hr == nil || hr.State != deploy.HostActive {
		t.Errorf("a: %+v, want active", hr)
	}
	if hr := rec.Host("b"); hr == nil || hr.State != deploy.HostFailed || !strings.Contains(hr.Error, "deliver on b: stopped reading the stream for 10s") {
		t.Errorf("b: %+v, want failed, having stopped reading", hr)
	}
	if !f.sawNote("b stopped reading the stream for 10s") {
		t.Error("no note that b was dropped from the stream")
	}
	// Its own step, as the progress shows it, says why too.
	var stepErr string
	for _, ev := range f.eventsNow() {
		if ev.Kind == deploy.EventStep && ev.Done && ev.Host == "b" && ev.Step == deploy.StepDeliver {
			stepErr = ev.Err
		}
	}
	if stepErr != "deliver on b: stopped reading the stream for 10s" {
		t.Errorf("b's delivery step ended with %q, want it to say b stopped reading", stepErr)
	}
}

// TestArtifactDownloadRefused: an artifact server that passes the check
// (HEAD, the checksum) and then refuses the download with 401 or 403, as
// a signed URL that expired in between does, fails the deploy saying the
// server refused it and what to check, not that reading failed and
// retrying may help; push or pull.
func TestArtifactDownloadRefused(t *testing.T) {
	for _, delivery := range []string{"push", "pull"} {
		for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
			t.Run(delivery+"/"+strconv.Itoa(status), func(t *testing.T) {
				srv := newArtifactStore(t)
				yaml := strings.Replace(fmt.Sprintf(fixtureYAML, "true"), "      path: artifacts/{app}-{build}.tar.gz\n", "      "+srv.url()+"?token=s3cr3t\n", 1)
				yaml = strings.Replace(yaml, "    path: srv/web\n", "    path: srv/web\n    delivery: "+delivery+"\n", 1)
				f := newFixtureFrom(t, yaml, &local.Transport{})
				srv.serveFrom(f.arts, nil)
				srv.refuseGET(status)
				f.build("1")

				rec, err := f.run(deploy.KindDeploy, "1")
				if err != nil {
					t.Fatal(err)
				}
				want := fmt.Sprintf("the artifact server refused the download of build 1 of web: %s/web-1.tar.gz?REDACTED: GET: HTTP %d %s; check the credentials of the app's artifact.url, and whether they have expired", srv.URL, status, http.StatusText(status))
				if rec.Outcome != deploy.OutcomeFailed || !strings.Contains(rec.Error, want) || strings.Contains(rec.Error, "retrying may help") || strings.Contains(rec.Error, "s3cr3t") {
					t.Errorf("got outcome %s, error %q; want failed, saying %q", rec.Outcome, rec.Error, want)
				}
				if got := f.releases(); len(got) != 0 {
					t.Errorf("releases left on disk: %v", got)
				}
			})
		}
	}
}
