package artifact

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// benchTarball is a gzip tarball of about 50 MB, shaped like a release:
// thousands of small text files and a few large binaries. It is built once
// per process.
var benchTarball = sync.OnceValues(func() ([]byte, int64) {
	r := rand.New(rand.NewChaCha8([32]byte{'b', 'e', 'n', 'c', 'h'}))
	words := []string{"func", "return", "deploy", "release", "current", "host", "if", "err", "nil", "{", "}", "(", ")", "\n", "\t", "const", "var", "switchman"}
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	var unpacked int64
	add := func(name string, body []byte) {
		hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1700000000, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			panic(err)
		}
		if _, err := tw.Write(body); err != nil {
			panic(err)
		}
		unpacked += int64(len(body))
	}
	for d := range 50 {
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("app/pkg%02d/", d), Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			panic(err)
		}
		for f := range 100 {
			var src bytes.Buffer
			for src.Len() < 500+r.IntN(8000) {
				src.WriteString(words[r.IntN(len(words))])
				src.WriteByte(' ')
			}
			add(fmt.Sprintf("app/pkg%02d/file%03d.go", d, f), src.Bytes())
		}
	}
	for i := range 4 {
		bin := make([]byte, 11<<20)
		cc := rand.NewChaCha8([32]byte{byte(i)})
		cc.Read(bin)
		add(fmt.Sprintf("app/bin/tool%d", i), bin)
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	var gzBuf bytes.Buffer
	zw := gzip.NewWriter(&gzBuf)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return gzBuf.Bytes(), unpacked
})

// BenchmarkInspect measures the Inspector on the compressed stream, in the
// 32 KiB writes io.Copy makes. MB/s is of compressed input.
func BenchmarkInspect(b *testing.B) {
	data, unpacked := benchTarball()
	want := sum(data)
	b.SetBytes(int64(len(data)))
	cpu0 := cpuTime(b, syscall.RUSAGE_SELF)
	for b.Loop() {
		insp := NewInspector(want)
		if _, err := io.CopyBuffer(insp, bytes.NewReader(data), make([]byte, 32<<10)); err != nil {
			b.Fatal(err)
		}
		if err := insp.Close(); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu0, cpuTime(b, syscall.RUSAGE_SELF), len(data), unpacked)
}

// BenchmarkTarXzf extracts the same tarball with the system's tar, for the
// ratio to BenchmarkInspect. It includes writing the files to disk, which
// is what a host does with the stream.
func BenchmarkTarXzf(b *testing.B) {
	benchTar(b, true, "-xzf")
}

// BenchmarkTarTzf lists the same tarball with the system's tar: the same
// decompression and header walk as the Inspector, without disk writes and
// without a checksum.
func BenchmarkTarTzf(b *testing.B) {
	benchTar(b, false, "-tzf")
}

func benchTar(b *testing.B, extract bool, mode string) {
	if _, err := exec.LookPath("tar"); err != nil {
		b.Fatal("tar not found; install it with: apt-get install tar gzip")
	}
	data, unpacked := benchTarball()
	tmp := b.TempDir()
	file := filepath.Join(tmp, "bench.tar.gz")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	cpu0 := cpuTime(b, syscall.RUSAGE_CHILDREN)
	for i := 0; b.Loop(); i++ {
		args := []string{mode, file}
		dir := filepath.Join(tmp, fmt.Sprint("x", i))
		if extract {
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			args = append(args, "-C", dir)
		}
		cmd := exec.Command("tar", args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("tar %s: %v", mode, err)
		}
		if extract {
			b.StopTimer()
			if err := os.RemoveAll(dir); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	reportCPU(b, cpu0, cpuTime(b, syscall.RUSAGE_CHILDREN), len(data), unpacked)
}

// cpuTime is the user+system CPU time of this process (RUSAGE_SELF) or of
// its waited-for children and their descendants (RUSAGE_CHILDREN).
func cpuTime(b *testing.B, who int) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds figures that do not depend on how busy the machine is:
// CPU time per run, and compressed MB per CPU second. Wall-clock MB/s
// (from SetBytes) drops when other processes compete for the CPUs.
func reportCPU(b *testing.B, before, after time.Duration, compressed int, unpacked int64) {
	cpu := (after - before).Seconds() / float64(b.N)
	b.ReportMetric(cpu*1000, "cpu-ms/op")
	b.ReportMetric(float64(compressed)/1e6/cpu, "MB/cpu-s")
	b.ReportMetric(float64(compressed)/1e6, "MB-in")
	b.ReportMetric(float64(unpacked)/1e6, "MB-out")
}
