package config

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// readmeEnv holds the variables the README's examples refer to, with
// values of the shape the loader checks.
var readmeEnv = map[string]string{
	"SSH_KEY_FILE":         "/etc/switchman/id_ed25519",
	"SSH_KEY_PASSPHRASE":   "",
	"SENTRY_AUTH_TOKEN":    "sntrys_example",
	"SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
	"SLACK_BOT_TOKEN":      "xoxb-example",
	"SLACK_APP_TOKEN":      "xapp-example",
	"DISCORD_PUBLIC_KEY":   strings.Repeat("ab", 32),
	"DISCORD_BOT_TOKEN":    "example",
	"REDIS_URL":            "redis://127.0.0.1:6379/0",
}

// readmeNotConfig names, by their first key, the README's YAML blocks that
// are not Switchman configuration.
var readmeNotConfig = map[string]string{
	"display_information": "the Slack app manifest",
}

// yamlBlock is a ```yaml block of a Markdown file.
type yamlBlock struct {
	line int // of its first line
	text string
}

func yamlBlocks(t *testing.T, md []byte) []yamlBlock {
	t.Helper()
	var (
		blocks []yamlBlock
		cur    *yamlBlock
		n      int
	)
	sc := bufio.NewScanner(bytes.NewReader(md))
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```yaml":
			cur = &yamlBlock{line: n + 1}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("README.md:%d: a yaml block is not closed", cur.line)
	}
	return blocks
}

// mergeYAML merges the mapping src into the mapping dst: keys of both are
// merged when both values are mappings, otherwise src's value replaces
// dst's; keys only src has are added.
func mergeYAML(dst, src *yaml.Node) {
	for i := 0; i+1 < len(src.Content); i += 2 {
		k, v := src.Content[i], src.Content[i+1]
		found := false
		for j := 0; j+1 < len(dst.Content); j += 2 {
			if dst.Content[j].Value != k.Value {
				continue
			}
			found = true
			if dv := dst.Content[j+1]; dv.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode {
				mergeYAML(dv, v)
			} else {
				dst.Content[j+1] = v
			}
		}
		if !found {
			dst.Content = append(dst.Content, k, v)
		}
	}
}

// TestReadmeExamples loads README.md's configuration examples, so that one
// copied from it works. They build on one another, as the README does:
// the first is a whole configuration, and each later one is merged into
// what came before it (an SSH environment, then its window, its Sentry
// watch, the trains that ship to it…), the result loaded after each.
func TestReadmeExamples(t *testing.T) {
	blocks := yamlBlocks(t, mustRead(t, "../../README.md"))
	if len(blocks) == 0 {
		t.Fatal("README.md: got no yaml block, want the configuration examples")
	}
	var merged *yaml.Node
	loaded := 0
	for _, b := range blocks {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(b.text), &doc); err != nil {
			t.Errorf("README.md:%d: got %v, want YAML", b.line, err)
			continue
		}
		if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode || len(doc.Content[0].Content) == 0 || doc.Content[0].Content[0].Column != 1 {
			t.Errorf("README.md:%d: got a block that is not a mapping of top-level keys, want one (an indented fragment cannot be checked or copied as is)", b.line)
			continue
		}
		top := doc.Content[0]
		if what, ok := readmeNotConfig[top.Content[0].Value]; ok {
			t.Logf("README.md:%d: %s, not loaded", b.line, what)
			continue
		}
		if merged == nil {
			merged = top
		} else {
			mergeYAML(merged, top)
		}
		out, err := yaml.Marshal(merged)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse("merged.yaml", out, mapEnv(readmeEnv)); err != nil {
			t.Errorf("README.md:%d: the example, on top of those before it, got\n%v\nwant it to load; merged.yaml:\n%s", b.line, err, numbered(out))
			continue
		}
		loaded++
	}
	if loaded == 0 {
		t.Errorf("README.md: got no example loaded, want every configuration example")
	}
}

// numbered prefixes every line of text with its number, for the messages
// that point into it.
func numbered(text []byte) string {
	var b strings.Builder
	for i, line := range strings.Split(strings.TrimSuffix(string(text), "\n"), "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, line)
	}
	return b.String()
}
