package artifact

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// TestTarToRecompresses checks the path push delivery takes with
// recompress: auto — the archive the Inspector decompresses, recompressed
// with NewZstdWriter, is byte for byte the original tar, end padding
// included, the inspection is unchanged, and the window is ZstdWindow.
func TestTarToRecompresses(t *testing.T) {
	raw := makeTar(t, dir("app/"), file("app/BUILD", "7\n"), file("app/big.bin", string(randomBytes(300_000))), symlink("app/link", "BUILD"))
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"gzip", gz(t, raw)},
		{"zstd", zst(t, raw)},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			zw, err := NewZstdWriter(&out)
			if err != nil {
				t.Fatal(err)
			}
			insp := NewInspector(sum(c.data))
			insp.TarTo(zw)
			if _, err := io.Copy(insp, bytes.NewReader(c.data)); err != nil {
				t.Fatal(err)
			}
			if err := insp.Close(); err != nil {
				t.Fatalf("inspection: got %v, want nil", err)
			}
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
			// Hosts decompress it within ZstdWindow: a larger window
			// fails the decoder.
			zr, err := zstd.NewReader(&out, zstd.WithDecoderMaxWindow(ZstdWindow))
			if err != nil {
				t.Fatal(err)
			}
			defer zr.Close()
			got, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("decode the recompressed stream: %v", err)
			}
			if !bytes.Equal(got, raw) {
				t.Errorf("recompressed archive: got %d bytes, want the %d bytes of the original tar", len(got), len(raw))
			}
		})
	}
}

type failingWriter struct{ n int }

func (f *failingWriter) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("every host stopped reading")
}

// TestTarToFailingWriter checks that a writer that fails (every host gone)
// is dropped without cutting the inspection short.
func TestTarToFailingWriter(t *testing.T) {
	raw := makeTar(t, file("a", string(randomBytes(200_000))), file("b", "x"))
	data := gz(t, raw)
	w := &failingWriter{}
	insp := NewInspector(sum(data))
	insp.TarTo(w)
	if _, err := io.Copy(insp, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := insp.Close(); err != nil {
		t.Fatalf("inspection: got %v, want nil", err)
	}
	rep, _ := insp.Result()
	if rep.Entries != 2 || rep.UnpackedBytes != 200_001 {
		t.Errorf("report: got %d entries, %d bytes; want 2, 200001", rep.Entries, rep.UnpackedBytes)
	}
	if w.n != 1 {
		t.Errorf("failing writer: written %d times, want once (then dropped)", w.n)
	}
}
