package deploy_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// bigArtifact is a ~50 MB gzip tarball shaped like a real release: 4,000
// small text files and a few large, poorly compressible ones.
func bigArtifact(b *testing.B) []byte {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	add := func(name string, body []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	add("BUILD", []byte("x"))
	line := bytes.Repeat([]byte("switchman deploys releases atomically; "), 40)
	for i := range 4000 {
		add(fmt.Sprintf("app/src/pkg%02d/file%04d.txt", i%50, i), line[:200+rng.IntN(1200)])
	}
	for i := range 4 {
		blob := make([]byte, 11<<20)
		for j := range blob {
			blob[j] = byte(rng.Uint32())
		}
		add(fmt.Sprintf("app/assets/blob%d.bin", i), blob)
	}
	tw.Close()
	var out bytes.Buffer
	gw := gzip.NewWriter(&out)
	gw.Write(raw.Bytes())
	gw.Close()
	return out.Bytes()
}

// BenchmarkLocalDeploy50MB deploys a new ~50 MB build per iteration through
// the local transport: verify, unpack, install, switch, restart (a no-op),
// prune. Compare with BenchmarkTarXzf50MB, the floor.
func BenchmarkLocalDeploy50MB(b *testing.B) {
	data := bigArtifact(b)
	f := newFixture(b, "")
	f.cfg.Apps["web"].Health.Command = ""
	f.cfg.Apps["web"].Migrations.List = ""
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		build := fmt.Sprintf("b%d", i)
		f.write(build, data, "")
		b.StartTimer()
		rec, err := f.run(deploy.KindDeploy, build)
		if err != nil || rec.Outcome != deploy.OutcomeSucceeded {
			b.Fatalf("deploy %s: %v %+v", build, err, rec)
		}
	}
}

// BenchmarkTarXzf50MB is the floor: a plain tar -xzf of the same artifact.
func BenchmarkTarXzf50MB(b *testing.B) {
	data := bigArtifact(b)
	dir := b.TempDir()
	art := filepath.Join(dir, "a.tar.gz")
	os.WriteFile(art, data, 0o644)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := range b.N {
		out := filepath.Join(dir, fmt.Sprint(i))
		os.Mkdir(out, 0o755)
		if msg, err := exec.CommandContext(context.Background(), "tar", "-xzf", art, "-C", out).CombinedOutput(); err != nil {
			b.Fatalf("tar: %v %s", err, msg)
		}
		b.StopTimer()
		os.RemoveAll(out)
		b.StartTimer()
	}
}
