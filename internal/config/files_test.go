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
