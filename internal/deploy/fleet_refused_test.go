package deploy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/switchman-bot/switchman/internal/artifact"
	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/testenv/sshd"
)

// teeTool is a gzip or zstd that keeps a copy of the stream it is
// given, so that a test sees all that reached a host: the copy is taken
// outside the script's process group, which the bot kills when it stops
// the stream, and goes on to the end of what the host's sshd got.
const teeTool = `#!/bin/sh
setsid sh -c 'tee -p -a /srv/received; touch /srv/received.done' | /usr/bin/%s "$@"
`

// TestFleetRefusedEntryNeverReachesHosts: no byte of a refused entry, nor
// of anything after it, reaches a host over SSH, sent as it is or
// recompressed: megabytes of incompressible files before it keep the
// stream busy, zeros just before it keep the inspector unpacking while
// the bot reads on, and a megabyte after it keeps it out of the stream's
// held-back end. Here the hosts' pacing and the kill of their tar kept
// the entry off them before the inspector gated the stream too;
// TestRefusedEntryReachesNoHost shows what the fan-out handed them.
func TestFleetRefusedEntryNeverReachesHosts(t *testing.T) {
	// Incompressible and the same on every run; filled a block at a
	// time rather than a byte at a time, which under the race detector
	// took seconds.
	rng := rand.NewChaCha8([32]byte{1, 2})
	var benign []tarEntry
	random := func() string {
		b := make([]byte, 1<<20)
		rng.Read(b)
		return string(b)
	}
	for i := range 6 {
		benign = append(benign, tarEntry{name: "data/blob" + string(rune('a'+i)), body: random()})
	}
	// Zeros compress to next to nothing: the inspector takes a while to
	// unpack what the bot reads with the entry after them.
	benign = append(benign, tarEntry{name: "data/zeros", body: string(make([]byte, 32<<20))})
	after := tarEntry{name: "after", body: random()}
	cases := []struct {
		name    string
		hostile []tarEntry
	}{
		{"dotdot", []tarEntry{{name: "../escape", body: "escaped"}}},
		{"setuid", []tarEntry{{name: "bin/tool", body: "#!/bin/sh\n", mode: 0o4755}}},
		{"symlink out", []tarEntry{{name: "out", link: "/", typ: tar.TypeSymlink}, {name: "out/tmp/through", body: "written through"}}},
	}
	fleet := sshd.StartFleet(t, 2, sshd.Options{Config: []string{"SetEnv HOME=/srv/home PATH=/srv/bin:/usr/local/bin:/usr/bin:/bin"}})
	for _, h := range fleet.Hosts {
		if err := os.MkdirAll(filepath.Join(h.Root, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, tool := range []string{"gzip", "zstd"} {
			if err := os.WriteFile(filepath.Join(h.Root, "bin", tool), []byte(fmt.Sprintf(teeTool, tool)), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Each case's artifact is built once and deployed with either
	// recompress, compressed by the system's gzip: Go's deflate, race
	// instrumented, took 15 to 30 s for each of these 39 MB archives.
	type artifactOf struct {
		gz      []byte
		refused int64 // where the refused entry's header starts
	}
	artifacts := map[string]artifactOf{}
	for _, recompress := range []string{"auto", "never"} {
		for _, c := range cases {
			t.Run(c.name+"/recompress "+recompress, func(t *testing.T) {
				f := newFleetFixture(t, fleet, fleetSpec{recompress: recompress}, nil)
				art, ok := artifacts[c.name]
				if !ok {
					entries := append(slices.Clone(benign), c.hostile...)
					entries = append(entries, after)
					raw := tarOf(t, buildEntries("1", entries...)...)
					art = artifactOf{gz: gzipped(t, raw), refused: refusedAt(t, raw, c.hostile[0].name)}
					artifacts[c.name] = art
				}
				f.write("1", art.gz)
				refused := art.refused
				for _, h := range fleet.Hosts {
					os.Remove(filepath.Join(h.Root, "received"))
					os.Remove(filepath.Join(h.Root, "received.done"))
				}
				f.mustRun(deploy.KindDeploy, "1", deploy.OutcomeFailed)
				for _, h := range fleet.Hosts {
					waitFile(t, filepath.Join(h.Root, "received.done"))
					got := unpackable(t, filepath.Join(h.Root, "received"))
					if got > refused {
						t.Errorf("%s received %d bytes of the archive, %d of them from the refused entry %q on", h.Name, got, got-refused, c.hostile[0].name)
					}
				}
			})
		}
	}
}

// unpackable returns how many bytes of the archive the gzip or zstd
// stream in file, cut short or not, decompresses to.
func unpackable(t *testing.T, file string) int64 {
	t.Helper()
	data, err := os.ReadFile(file)
	if os.IsNotExist(err) || len(data) < 4 {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader
	if comp, _ := artifact.Detect(data); comp == artifact.Zstd {
		zr, err := zstd.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	} else {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return 0
		}
		r = zr
	}
	// A stream cut short ends in an error, after what it held.
	n, _ := io.Copy(io.Discard, r)
	return n
}

// refusedAt returns where the header of entry name starts in the tar
// archive raw.
func refusedAt(t *testing.T, raw []byte, name string) int64 {
	t.Helper()
	cr := &countingReader{r: bytes.NewReader(raw)}
	tr := tar.NewReader(cr)
	var start int64
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("no entry %q in the archive: %v", name, err)
		}
		if hdr.Name == name {
			return start
		}
		io.Copy(io.Discard, tr)
		// The next header starts at the end of this entry's padded data.
		start = (cr.n + 511) / 512 * 512
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
