package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExposedKeyFiles: an SSH key others than its owner may read is named
// with its key path and mode; one only its owner may read, and one that
// is missing, are not.
func TestExposedKeyFiles(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"open": 0o644, "group": 0o640, "private": 0o600} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("key"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	env := func(name, key string) string {
		return "      " + name + ":\n        transport: ssh\n        ssh: {user: deploy, key_file: " + key + ", known_hosts: known_hosts}\n        hosts: [" + name + "1]\n"
	}
	y := strings.Replace(minimalYAML, "      prod:\n        hosts: [web1]\n",
		env("prod", "open")+env("qa", "group")+env("staging", "private")+env("dev", "missing")+env("test", "open"), 1)
	y = strings.Replace(y, "    restart: ./restart\n", "    restart: ./restart\n    default_env: prod\n", 1)
	c := mustParse(t, filepath.Join(dir, "switchman.yaml"), y, nil)
	want := []string{
		"apps.web.environments.prod.ssh.key_file: " + filepath.Join(dir, "open") + " may be read by others than its owner (mode 0644): chmod 600 " + filepath.Join(dir, "open"),
		"apps.web.environments.qa.ssh.key_file: " + filepath.Join(dir, "group") + " may be read by others than its owner (mode 0640): chmod 600 " + filepath.Join(dir, "group"),
	}
	if got := c.ExposedKeyFiles(); !slices.Equal(got, want) {
		t.Errorf("ExposedKeyFiles: got %q, want %q", got, want)
	}
}

// TestUnreadableFilesStorePath: a missing embedded store the bot could not
// create, as a file stands where a directory on its way should be, is
// named; one it could create, and one that exists, are not.
func TestUnreadableFilesStorePath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "blocker"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want []string
	}{
		{"blocker/state.db", []string{"store.path: cannot create " + filepath.Join(dir, "blocker", "state.db") + ": " + filepath.Join(dir, "blocker") + " is not a directory"}},
		{"blocker/var/state.db", []string{"store.path: cannot create " + filepath.Join(dir, "blocker", "var", "state.db") + ": " + filepath.Join(dir, "blocker") + " is not a directory"}},
		{"var/lib/state.db", nil},
		{"state.db", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c := mustParse(t, filepath.Join(dir, "switchman.yaml"), "store:\n  path: "+tt.path+"\n"+minimalYAML, nil)
			if got := c.UnreadableFiles(); !slices.Equal(got, tt.want) {
				t.Errorf("UnreadableFiles: got %q, want %q", got, tt.want)
			}
		})
	}
}
