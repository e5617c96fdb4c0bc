package bench

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// app is the name of the benchmarked app: artifacts are named
// app-BUILD.tar.gz and every tool deploys into /srv/app on the hosts.
const app = "app"

// appDir is the deploy directory on every host, as the hosts see it.
const appDir = "/srv/" + app

// builds are the two builds of every size: 1 is deployed first, unmeasured;
// 2 is the measured deploy, and rollbacks go from 2 back to 1.
var builds = []string{"1", "2"}

// Compressions of the tarballs.
const (
	gz  = "gzip"
	zst = "zstd"
)

func ext(comp string) string {
	if comp == zst {
		return ".tar.zst"
	}
	return ".tar.gz"
}

// tarFlag is tar's decompression flag for comp.
func tarFlag(comp string) string {
	if comp == zst {
		return "--zstd"
	}
	return "-z"
}

// artifact is one build of one size in one compression, on disk and
// served over HTTP.
type artifact struct {
	Build  string
	Comp   string
	SizeMB int
	// Path is the tarball on this machine; Path + ".sha256" is its checksum.
	Path string
	// URL is where the HTTP server serves it.
	URL   string
	Bytes int64
}

// expect is what a host must hold once a build is deployed: checked after
// every tool run, so that no row of a table is a silent failure.
type expect struct {
	// CheckFile is a file of the release whose SHA-256 must be CheckSum;
	// its content differs between builds.
	CheckFile string
	CheckSum  string
	// LastFile is the last entry of the tarball, which must have
	// LastSize bytes: a cut-short unpack misses it or truncates it.
	LastFile string
	LastSize int64
	// Files counts the regular files in the tarball.
	Files int
	// Footprint is what the unpacked release takes in a filesystem that
	// allocates whole 4 KiB pages (tmpfs).
	Footprint int64
}

// artifactSet holds both builds of one size in the requested compressions.
type artifactSet struct {
	SizeMB int
	// Dir is the directory of the tarballs; Sub is its name under the
	// HTTP server's root.
	Dir, Sub string
	Art      map[string]artifact // by build + "/" + compression
	Expect   map[string]expect   // by build
}

func (s *artifactSet) get(build, comp string) artifact { return s.Art[build+"/"+comp] }

// pathTemplate and urlTemplate are the Switchman artifact templates of comp.
func (s *artifactSet) pathTemplate(comp string) string {
	return filepath.Join(s.Dir, "{app}-{build}"+ext(comp))
}

func (s *artifactSet) urlTemplate(base, comp string) string {
	return base + "/" + s.Sub + "/{app}-{build}" + ext(comp)
}

// makeArtifacts writes builds 1 and 2 of sizeMB in every compression under
// root/<size>mb, with their .sha256 files. The tree is shaped like a real
// release: many small text files (a source tree, templates) and a few large,
// poorly compressible files (assets, binaries), so that the compressed
// tarball is about sizeMB.
func makeArtifacts(root, baseURL string, sizeMB int, comps []string) (*artifactSet, error) {
	sub := strconv.Itoa(sizeMB) + "mb"
	s := &artifactSet{SizeMB: sizeMB, Dir: filepath.Join(root, sub), Sub: sub, Art: map[string]artifact{}, Expect: map[string]expect{}}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(builds)*len(comps))
	for bi, build := range builds {
		raw, exp := releaseTar(sizeMB, bi, build)
		s.Expect[build] = exp
		for _, comp := range comps {
			wg.Go(func() {
				a, err := writeArtifact(s.Dir, build, comp, raw)
				if err != nil {
					errs <- err
					return
				}
				a.SizeMB = sizeMB
				a.URL = baseURL + "/" + sub + "/" + filepath.Base(a.Path)
				mu.Lock()
				s.Art[build+"/"+comp] = a
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return s, nil
}

func writeArtifact(dir, build, comp string, raw []byte) (artifact, error) {
	var out bytes.Buffer
	out.Grow(len(raw))
	switch comp {
	case gz:
		w := gzip.NewWriter(&out)
		if _, err := w.Write(raw); err != nil {
			return artifact{}, err
		}
		if err := w.Close(); err != nil {
			return artifact{}, err
		}
	case zst:
		w, err := zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return artifact{}, err
		}
		if _, err := w.Write(raw); err != nil {
			return artifact{}, err
		}
		if err := w.Close(); err != nil {
			return artifact{}, err
		}
	default:
		return artifact{}, fmt.Errorf("unknown compression %q", comp)
	}
	name := app + "-" + build + ext(comp)
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return artifact{}, err
	}
	sum := sha256.Sum256(out.Bytes())
	if err := os.WriteFile(path+".sha256", []byte(hex.EncodeToString(sum[:])+"  "+name+"\n"), 0o644); err != nil {
		return artifact{}, err
	}
	return artifact{Build: build, Comp: comp, Path: path, Bytes: int64(out.Len())}, nil
}

// words make the text files: compressible like source code, not like a run
// of one repeated line.
var words = []string{
	"func", "return", "if", "err", "nil", "context", "deploy", "release", "host", "build",
	"package", "import", "string", "int", "for", "range", "switch", "case", "default", "struct",
	"type", "var", "const", "go", "defer", "select", "chan", "map", "slice", "append",
	"len", "make", "new", "true", "false", "error", "fmt", "Errorf", "ctx", "cancel",
	"config", "store", "lease", "lock", "current", "previous", "shared", "restart", "health", "check",
	"{", "}", "(", ")", ":=", "=", "==", "!=", "//", "\n\t", "\n", "\n\t\t", ",", ".",
}

// releaseTar builds the uncompressed tarball of one build. Builds differ
// in every large file and in BUILD and public/check.bin.
func releaseTar(sizeMB, buildIndex int, build string) ([]byte, expect) {
	size := sizeMB << 20
	rng := rand.New(rand.NewPCG(uint64(sizeMB), uint64(buildIndex+1)))
	var raw bytes.Buffer
	raw.Grow(size + size/4)
	tw := tar.NewWriter(&raw)
	mtime := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	dirs := map[string]bool{}
	var exp expect
	add := func(name string, body []byte) {
		// Directory entries first, parents before children, once each.
		var parents []string
		for d := filepath.Dir(name); d != "." && !dirs[d]; d = filepath.Dir(d) {
			parents = append([]string{d}, parents...)
			dirs[d] = true
		}
		for _, d := range parents {
			must(tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: mtime}))
			exp.Footprint += 4096
		}
		must(tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: mtime}))
		_, err := tw.Write(body)
		must(err)
		exp.Files++
		exp.Footprint += (int64(len(body)) + 4095) / 4096 * 4096
		exp.LastFile, exp.LastSize = name, int64(len(body))
	}

	add("BUILD", []byte(build+"\n"))
	check := make([]byte, 64<<10)
	fill(rng, check)
	add("public/check.bin", check)
	sum := sha256.Sum256(check)
	exp.CheckFile, exp.CheckSum = "public/check.bin", hex.EncodeToString(sum[:])

	// Text: about a fifth of the size, in files of 200 B to 4 KB: 100
	// files per MB (10,000 for 100 MB), like a source tree or a
	// node_modules.
	textFiles := max(50, sizeMB*100)
	var text bytes.Buffer
	textBytes := 0
	for i := range textFiles {
		text.Reset()
		n := 200 + rng.IntN(3800)
		for text.Len() < n {
			text.WriteString(words[rng.IntN(len(words))])
			text.WriteByte(' ')
		}
		textBytes += text.Len()
		add(fmt.Sprintf("app/src/mod%02d/pkg%03d/file%05d.go", i%40, i%400, i), text.Bytes())
	}
	// The rest: a few large files, 7/8 random and 1/8 runs of one byte in
	// every 64 KB, so they compress by about a tenth, like images and
	// binaries. Text compresses to about a quarter.
	rest := max(1<<20, int(float64(size-textBytes/4)/0.9))
	blobs := 2 + sizeMB/25
	for i := range blobs {
		blob := make([]byte, rest/blobs)
		for off := 0; off < len(blob); off += 64 << 10 {
			end := min(off+64<<10, len(blob))
			fill(rng, blob[off:end])
			for j := off + (end-off)*7/8; j < end; j++ {
				blob[j] = byte(i)
			}
		}
		add(fmt.Sprintf("app/assets/blob%02d.bin", i), blob)
	}
	must(tw.Close())
	return raw.Bytes(), exp
}

func fill(rng *rand.Rand, b []byte) {
	var w [8]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(w[:], rng.Uint64())
		copy(b[i:], w[:])
	}
}

// must panics on errors that cannot happen: tar writes to a bytes.Buffer.
func must(err error) {
	if err != nil {
		panic(err)
	}
}
