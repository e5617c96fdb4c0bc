package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSpace(t *testing.T) {
	for _, c := range []struct {
		name   string
		out    string // what df printed
		status string
		free   int64
		err    string // "" when Free is read
	}{
		{
			name:   "gnu",
			out:    "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda         263174212 16318372 246855840       7% /\n",
			status: "0", free: 246855840 << 10,
		},
		{
			name:   "busybox",
			out:    "Filesystem           1024-blocks    Used Available Capacity Mounted on\noverlay                 61255492  4567  58530292   8% /\n",
			status: "0", free: 58530292 << 10,
		},
		{
			name:   "name with spaces, mount point with spaces",
			out:    "Filesystem 1024-blocks Used Available Capacity Mounted on\nmy fs 12 34 1000 1000 4% /srv/my app\n",
			status: "0", free: 1000 << 10,
		},
		{
			name:   "512-byte blocks",
			out:    "Filesystem 512-blocks Used Available Capacity Mounted on\ntmpfs 8192 0 8192 0% /srv/web\n",
			status: "0", free: 8192 * 512,
		},
		{
			name:   "full",
			out:    "Filesystem 1024-blocks Used Available Capacity Mounted on\ntmpfs 400 400 0 100% /srv/web\n",
			status: "0", free: 0,
		},
		{name: "missing", out: "sh: 1: df: not found\n", status: "127", err: "df is not installed there"},
		{name: "fails", out: "df: /srv/web: Permission denied\n", status: "1", err: "df failed (status 1): df: /srv/web: Permission denied"},
		{name: "garbage", out: "hello\n", status: "0", err: `cannot read what df printed: "hello"`},
		{name: "no header", out: "tmpfs 400 0 400 0% /srv/web\n", status: "0", err: "cannot read what df printed"},
		{name: "other header", out: "Filesystem Size Used Avail Use% Mounted on\ntmpfs 400K 0 400K 0% /srv/web\n", status: "0", err: "cannot read what df printed"},
		{name: "no data line", out: "Filesystem 1024-blocks Used Available Capacity Mounted on\n", status: "0", err: "cannot read what df printed"},
		{name: "negative", out: "Filesystem 1024-blocks Used Available Capacity Mounted on\nfs 10 20 -10 200% /\n", status: "0", err: "cannot read what df printed"},
		{name: "nothing", out: "", status: "0", err: "cannot read what df printed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := parseSpace(strings.Split(c.out, "\n"), c.status)
			if !got.Checked {
				t.Errorf("Checked: got false, want true")
			}
			if c.err == "" {
				if got.Err != "" || got.Free != c.free {
					t.Errorf("got free %d, error %q; want free %d", got.Free, got.Err, c.free)
				}
				return
			}
			if !strings.HasPrefix(got.Err, c.err) {
				t.Errorf("got error %q (free %d), want one starting %q", got.Err, got.Free, c.err)
			}
		})
	}
}

// TestInspectReadsFreeSpace runs the inspection on this machine: with
// disk it reads df of the deploy directory, or of the nearest directory
// above it that exists (a first deploy); without, it runs no df; and a
// df that is missing, or whose output stops short, refuses.
func TestInspectReadsFreeSpace(t *testing.T) {
	base := t.TempDir()
	bin := t.TempDir()
	for _, c := range []struct {
		name  string
		dir   string
		disk  bool
		path  string // PATH of the shell; "" for this process's
		check func(d diskSpace) string
	}{
		{name: "deploy dir", dir: base, disk: true, check: readFree},
		{name: "first deploy", dir: filepath.Join(base, "no", "such", "app"), disk: true, check: readFree},
		{name: "relative", dir: "no/such/app", disk: true, check: readFree},
		{name: "off", dir: base, check: func(d diskSpace) string {
			if d.Checked {
				return "checked without disk"
			}
			return ""
		}},
		{name: "no df", dir: base, disk: true, path: bin, check: func(d diskSpace) string {
			if d.Err != "df is not installed there" {
				return "error " + d.Err
			}
			return ""
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("/bin/sh", "-c", inspectScript(c.dir, false, c.disk))
			cmd.Dir = base
			if c.path != "" {
				cmd.Env = append(os.Environ(), "PATH="+c.path)
			}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			if msg := c.check(parseInspect(out).Disk); msg != "" {
				t.Errorf("%s; the script printed %q", msg, out)
			}
		})
	}
	t.Run("cut short", func(t *testing.T) {
		out := []byte("zstd=yes\ndf<\nFilesystem 1024-blocks Used Available Capacity Mounted on\n")
		if d := parseInspect(out).Disk; !d.Checked || d.Err == "" {
			t.Errorf("got %+v, want an error", d)
		}
	})
}

// TestInspectStartsOneDF: with GNU df the free space and the free inodes
// come from one process, as every host of every deploy starts it; a df
// without --output (BusyBox) is asked twice, -Pk and -Pi, and still
// gives both. Each df started is logged by a wrapper in PATH.
func TestInspectStartsOneDF(t *testing.T) {
	real, err := exec.LookPath("df")
	if err != nil {
		t.Fatalf("df: %v (apt-get install -y coreutils)", err)
	}
	for _, c := range []struct {
		name     string
		noOutput bool // the wrapper refuses --output, as BusyBox's df does
		starts   int
	}{
		{name: "GNU df", starts: 1},
		{name: "BusyBox-like df", noOutput: true, starts: 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			bin, base := t.TempDir(), t.TempDir()
			log := filepath.Join(bin, "starts")
			refuse := ""
			if c.noOutput {
				refuse = `case "$*" in *--output*) echo "df: unrecognized option: output" >&2; exit 1 ;; esac` + "\n"
			}
			wrapper := "#!/bin/sh\necho started >>" + log + "\n" + refuse + "exec " + real + ` "$@"` + "\n"
			if err := os.WriteFile(filepath.Join(bin, "df"), []byte(wrapper), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("/bin/sh", "-c", inspectScript(base, false, true))
			cmd.Dir = base
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("inspect: %v", err)
			}
			d := parseInspect(out).Disk
			if msg := readFree(d); msg != "" {
				t.Errorf("%s; the script printed %q", msg, out)
			}
			if !d.Inodes || d.FreeInodes <= 0 {
				t.Errorf("free inodes not read (%+v); the script printed %q", d, out)
			}
			b, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(string(b), "started"); got != c.starts {
				t.Errorf("df started %d times, want %d", got, c.starts)
			}
		})
	}
}

func TestParseOutput(t *testing.T) {
	for _, c := range []struct {
		name, out, status string
		ran               bool
		free, inodes      int64
		counted           bool
		err               string
	}{
		{name: "GNU df", out: "  Avail  Inodes   IFree\n 400 1000 990\n", status: "0", ran: true, free: 400 * 1024, inodes: 990, counted: true},
		{name: "btrfs", out: "Avail Inodes IFree\n400 0 0\n", status: "0", ran: true, free: 400 * 1024},
		{name: "inodes unknown", out: "Avail Inodes IFree\n400 - -\n", status: "0", ran: true, free: 400 * 1024},
		{name: "no --output", out: "", status: "1"},
		{name: "garbage", out: "hello\n", status: "0", ran: true, err: `cannot read what df printed: "hello"`},
		{name: "cut short", out: "Avail Inodes IFree\n", status: "0", ran: true, err: "cannot read what df printed"},
		{name: "negative", out: "Avail Inodes IFree\n-4 10 10\n", status: "0", ran: true, err: "cannot read what df printed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, ran := parseOutput(strings.Split(c.out, "\n"), c.status)
			if ran != c.ran {
				t.Fatalf("ran: got %v, want %v", ran, c.ran)
			}
			if !ran {
				return
			}
			if c.err != "" {
				if !strings.HasPrefix(d.Err, c.err) {
					t.Errorf("got error %q, want one starting %q", d.Err, c.err)
				}
				return
			}
			if d.Err != "" || d.Free != c.free || d.Inodes != c.counted || d.FreeInodes != c.inodes {
				t.Errorf("got %+v, want free %d, inodes %d (counted %v)", d, c.free, c.inodes, c.counted)
			}
		})
	}
}

func readFree(d diskSpace) string {
	if !d.Checked || d.Err != "" || d.Free <= 0 {
		return "got " + d.Err + ", want the free space"
	}
	return ""
}

func TestParseInodes(t *testing.T) {
	for _, c := range []struct {
		name   string
		out    string // what df -Pi printed
		status string
		free   int64
		ok     bool // the free inodes were read
	}{
		{
			name:   "gnu",
			out:    "Filesystem       Inodes  IUsed    IFree IUse% Mounted on\n/dev/vda1      16384000 812345 15571655    5% /\n",
			status: "0", free: 15571655, ok: true,
		},
		{
			name:   "none free",
			out:    "Filesystem Inodes IUsed IFree IUse% Mounted on\ntmpfs 200 200 0 100% /srv/web\n",
			status: "0", free: 0, ok: true,
		},
		{
			name:   "name with spaces",
			out:    "Filesystem Inodes IUsed IFree IUse% Mounted on\nmy fs 1000 10 990 1% /srv/my app\n",
			status: "0", free: 990, ok: true,
		},
		// btrfs allocates inodes as it goes and reports none.
		{name: "btrfs", out: "Filesystem Inodes IUsed IFree IUse% Mounted on\n/dev/sdb1 0 0 0 - /srv\n", status: "0"},
		{name: "fails", out: "df: invalid option -- 'i'\n", status: "1"},
		{name: "missing", out: "sh: 1: df: not found\n", status: "127"},
		{name: "garbage", out: "hello\n", status: "0"},
		{name: "block header", out: "Filesystem 1024-blocks Used Available Capacity Mounted on\ntmpfs 400 0 400 0% /srv/web\n", status: "0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			free, ok := parseInodes(strings.Split(c.out, "\n"), c.status)
			if ok != c.ok || free != c.free {
				t.Errorf("got %d free, read %v; want %d, %v", free, ok, c.free, c.ok)
			}
		})
	}
}
