package artifact

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/switchman-bot/switchman/internal/errs"
	"github.com/switchman-bot/switchman/internal/testenv/ownprocess"
)

// childEnv marks the process TestTooManyOpenFiles runs itself in, with a
// low open-file limit it then uses up.
const childEnv = "SWITCHMAN_TEST_NOFILE_CHILD"

// TestTooManyOpenFiles: a bot out of file descriptors cannot open a local
// artifact, its checksum file, or a connection to the artifact server;
// the refusal says so and how to mend it, rather than that the build
// cannot be read. The limit is the process's, so the test runs in a
// process of its own.
func TestTooManyOpenFiles(t *testing.T) {
	if !ownprocess.Child(childEnv) {
		ownprocess.Run(t, childEnv)
		return
	}

	dir := t.TempDir()
	for name, body := range map[string]string{"shop/1.tgz": "artifact one", "shop/1.tgz.sha256": digest + "  1.tgz\n"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := newArtifactServer(t, map[string]string{"/shop/1.tgz": "artifact one", "/shop/1.tgz.sha256": digest + "  1.tgz\n"})
	local := Source{Path: filepath.Join(dir, "{app}/{build}.tgz")}
	remote := Source{URL: srv.URL + "/{app}/{build}.tgz", Client: &http.Client{Transport: &http.Transport{}}}

	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	low := lim
	low.Cur = min(lim.Cur, 256)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	// Use up every descriptor left, then give them back before the test
	// framework needs one.
	var held []*os.File
	release := func() {
		for _, f := range held {
			f.Close()
		}
		held = nil
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	defer release()
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			release()
			t.Fatal(err)
		}
		held = append(held, f)
	}

	const why = ": too many open files: raise the bot's file limit (ulimit -n / LimitNOFILE)"
	type result struct {
		name string
		msg  string
		want string
	}
	var got []result
	_, err := local.Stat(context.Background(), "shop", "1")
	got = append(got, result{"local, check", local.Refusal("shop", "1", err).Msg, "cannot check build 1 of shop: " + filepath.Join(dir, "shop/1.tgz.sha256") + why})
	_, err = local.Open(context.Background(), "shop", "1")
	got = append(got, result{"local, read", local.ReadRefusal("shop", "1", err).Msg, "cannot read build 1 of shop: " + filepath.Join(dir, "shop/1.tgz") + why})
	_, err = remote.Stat(context.Background(), "shop", "1")
	got = append(got, result{"url, check", remote.Refusal("shop", "1", err).Msg, "cannot check build 1 of shop: " + srv.URL + "/shop/1.tgz" + why})
	_, err = remote.Open(context.Background(), "shop", "1")
	got = append(got, result{"url, read", remote.ReadRefusal("shop", "1", err).Msg, "cannot read build 1 of shop: " + srv.URL + "/shop/1.tgz" + why})
	release()

	for _, r := range got {
		if r.msg != r.want {
			t.Errorf("%s: got %q, want %q", r.name, r.msg, r.want)
		}
	}
}

// TestOutOfFilesErrors: running out of file descriptors, the bot's
// (EMFILE) or the system's (ENFILE), is told apart from other failures
// to open or connect, with what to raise; the cause stays for the log.
func TestOutOfFilesErrors(t *testing.T) {
	const loc = "/srv/builds/shop/1.tgz"
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"open, bot's limit", pathError(loc, &fs.PathError{Op: "open", Path: loc, Err: syscall.EMFILE}).(*Error),
			"too many open files: raise the bot's file limit (ulimit -n / LimitNOFILE)"},
		{"open, system's limit", pathError(loc, &fs.PathError{Op: "open", Path: loc, Err: syscall.ENFILE}).(*Error),
			"too many open files in the system: raise its limit (sysctl fs.file-max)"},
		{"dial, bot's limit", transportError("http://127.0.0.1:1/1.tgz", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", syscall.EMFILE)}),
			"too many open files: raise the bot's file limit (ulimit -n / LimitNOFILE)"},
		{"other", pathError(loc, &fs.PathError{Op: "open", Path: loc, Err: syscall.EACCES}).(*Error), "permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err.Reason != tt.want {
				t.Errorf("got %q, want %q", tt.err.Reason, tt.want)
			}
			if tt.err.Err == nil {
				t.Error("got no cause, want the errno for the log")
			}
			if r := (Source{Path: loc}).ReadRefusal("shop", "1", tt.err); r.Code != errs.Unavailable {
				t.Errorf("got %s, want unavailable: it may pass once files are closed", r.Code)
			}
		})
	}
}
