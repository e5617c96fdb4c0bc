package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// zoneChildEnv marks the run of TestZonesWithoutSystemZoneData that sees no
// zone data on the machine.
const zoneChildEnv = "SWITCHMAN_TEST_NO_ZONEINFO"

// systemZoneDirs are the places time.LoadLocation reads zone data from on
// Linux, the Go installation's copy among them.
func systemZoneDirs() []string {
	dirs := []string{"/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo"}
	if root := runtime.GOROOT(); root != "" {
		dirs = append(dirs, filepath.Join(root, "lib", "time"))
	}
	var out []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// TestZonesWithoutSystemZoneData: a machine or container without tzdata
// (a static image, a minimal distribution) must still read a config whose
// window and trains name a real zone, rather than call Europe/Warsaw an
// unknown time zone; a zone that does not exist is still refused there.
// The test runs itself again in a mount namespace where every directory
// of zone data is hidden under an empty tmpfs.
func TestZonesWithoutSystemZoneData(t *testing.T) {
	if os.Getenv(zoneChildEnv) == "1" {
		checkZonesWithoutZoneData(t)
		return
	}
	if runtime.GOOS != "linux" {
		t.Fatalf("this test hides zone data with Linux mount namespaces; run it on Linux")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatalf("unshare not found (apt-get install -y util-linux): %v", err)
	}
	dirs := systemZoneDirs()
	if len(dirs) == 0 {
		t.Fatal("no zone data directory found on this machine to hide")
	}
	var script strings.Builder
	for _, d := range dirs {
		script.WriteString("mount -t tmpfs none '" + d + "' && ")
	}
	script.WriteString(`exec "$0" -test.run='^TestZonesWithoutSystemZoneData$' -test.count=1 -test.v`)
	cmd := exec.CommandContext(t.Context(), unshare, "-m", "--propagation", "private", "sh", "-c", script.String(), os.Args[0])
	cmd.Env = []string{zoneChildEnv + "=1", "PATH=" + os.Getenv("PATH"), "TZ=UTC"}
	if root := runtime.GOROOT(); root != "" {
		cmd.Env = append(cmd.Env, "GOROOT="+root)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run without zone data (hiding %s): %v\n%s", strings.Join(dirs, ", "), err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestZonesWithoutSystemZoneData") {
		t.Fatalf("run without zone data did not pass:\n%s", out)
	}
}

func checkZonesWithoutZoneData(t *testing.T) {
	// The mounts hid the machine's zone data, or this test proves nothing.
	for _, d := range systemZoneDirs() {
		if entries, err := os.ReadDir(d); err != nil || len(entries) > 0 {
			t.Fatalf("zone data still visible in %s (%d entries, err %v)", d, len(entries), err)
		}
	}
	y := strings.Replace(minimalYAML, "        hosts: [web1]\n", `        hosts: [web1]
        window:
          timezone: Europe/Warsaw
          weekly: ["Mon-Thu 09:00-16:00"]
`, 1)
	c, err := Parse("test.yaml", []byte(y), nil)
	if err != nil {
		t.Fatalf("Parse of a window in Europe/Warsaw: %v", err)
	}
	sched, err := c.Apps["web"].Envs["prod"].Schedule()
	if err != nil {
		t.Fatalf("Schedule: %v", err)
	}
	// Monday 2026-07-06 08:30 UTC is 10:30 CEST, inside the window; in UTC
	// (a zone quietly lost) it would be 08:30, outside it.
	if v := sched.At(time.Date(2026, 7, 6, 8, 30, 0, 0, time.UTC)); !v.Open {
		t.Errorf("Monday 10:30 CEST: got closed (%s), want open", v.Reason)
	}
	for _, tc := range []struct {
		name, zone string
		offset     int // seconds east of UTC on 2026-07-06
	}{
		{"Europe/Warsaw", "Europe/Warsaw", 2 * 3600},
		{"America/New_York", "America/New_York", -4 * 3600},
	} {
		loc, err := loadZone(tc.zone)
		if err != nil {
			t.Errorf("loadZone(%q): %v", tc.zone, err)
			continue
		}
		if _, off := time.Date(2026, 7, 6, 12, 0, 0, 0, loc).Zone(); off != tc.offset {
			t.Errorf("%s offset: got %d, want %d", tc.name, off, tc.offset)
		}
	}
	if _, err := loadZone("Mars/Olympus"); err == nil || !strings.Contains(err.Error(), `unknown time zone "Mars/Olympus"`) {
		t.Errorf("loadZone(Mars/Olympus): got %v, want unknown time zone", err)
	}
}

// TestZoneNote: a zone named Etc/GMT-N or Etc/GMT+N is the opposite of
// the offset it reads as, and EST and MST keep one offset all year where
// the regions they read as change clocks: each is said to be; no other
// zone is.
func TestZoneNote(t *testing.T) {
	tests := []struct{ zone, want string }{
		{"Etc/GMT-1", "Etc/GMT-1 is UTC+01:00 (POSIX signs are inverted): write it Etc/GMT-1 only if you mean UTC+1; for UTC-1 write Etc/GMT+1"},
		{"Etc/GMT+5", "Etc/GMT+5 is UTC-05:00 (POSIX signs are inverted): write it Etc/GMT+5 only if you mean UTC-5; for UTC+5 write Etc/GMT-5"},
		{"Etc/GMT-14", "Etc/GMT-14 is UTC+14:00 (POSIX signs are inverted): write it Etc/GMT-14 only if you mean UTC+14; for UTC-14 write Etc/GMT+14"},
		{"GMT-3", ""}, // no such zone
		{"Etc/GMT+0", ""},
		{"Etc/GMT-0", ""},
		{"Etc/GMT", ""},
		{"Etc/UTC", ""},
		{"UTC", ""},
		{"", ""},
		{"Europe/Warsaw", ""},
		{"Etc/GMT-15", ""}, // no such zone
		{"EST", "EST is UTC-05:00 all year, without daylight saving: for US Eastern time, which has it, write America/New_York; keep EST only if you mean UTC-5 all year"},
		{"MST", "MST is UTC-07:00 all year, without daylight saving: for US Mountain time, which has it, write America/Denver (America/Phoenix has none); keep MST only if you mean UTC-7 all year"},
		{"EST5EDT", ""}, // has daylight saving
		{"HST", ""},     // Hawaii has none either
		{"PST", ""},     // no such zone
		{"CET", ""},     // has daylight saving
		{"est", ""},     // no such zone
		{"America/New_York", ""},
	}
	for _, tt := range tests {
		t.Run(tt.zone, func(t *testing.T) {
			if got := ZoneNote(tt.zone); got != tt.want {
				t.Errorf("ZoneNote(%q): got %q, want %q", tt.zone, got, tt.want)
			}
		})
	}
}

// TestMisleadingZones: every timezone key of a window or a train naming
// such a zone is listed with its path; the config is not refused.
func TestMisleadingZones(t *testing.T) {
	y := strings.Replace(minimalYAML, "      prod:\n        hosts: [web1]\n",
		"      prod:\n        hosts: [web1]\n        window: {timezone: Etc/GMT-1, weekly: [\"Mon-Fri 09:00-17:00\"]}\n", 1)
	y += "trains:\n  weekly:\n    env: prod\n    channels: [\"#r\"]\n    timezone: Europe/Warsaw\n    boarding: \"0 10 * * 1\"\n    departure: \"0 14 * * 1\"\n"
	y += "  daily:\n    env: prod\n    channels: [\"#r\"]\n    timezone: Etc/GMT+2\n    boarding: \"0 10 * * *\"\n    departure: \"0 14 * * *\"\n"
	y += "  nightly:\n    env: prod\n    channels: [\"#r\"]\n    timezone: EST\n    boarding: \"0 20 * * *\"\n    departure: \"0 22 * * *\"\n"
	c := mustParse(t, filepath.Join(t.TempDir(), "switchman.yaml"), y, nil)
	want := []string{
		"apps.web.environments.prod.window.timezone: Etc/GMT-1 is UTC+01:00 (POSIX signs are inverted): write it Etc/GMT-1 only if you mean UTC+1; for UTC-1 write Etc/GMT+1",
		"trains.daily.timezone: Etc/GMT+2 is UTC-02:00 (POSIX signs are inverted): write it Etc/GMT+2 only if you mean UTC-2; for UTC+2 write Etc/GMT-2",
		"trains.nightly.timezone: EST is UTC-05:00 all year, without daylight saving: for US Eastern time, which has it, write America/New_York; keep EST only if you mean UTC-5 all year",
	}
	if got := c.MisleadingZones(); !slices.Equal(got, want) {
		t.Errorf("MisleadingZones: got %q, want %q", got, want)
	}
}
