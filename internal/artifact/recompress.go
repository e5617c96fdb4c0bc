package artifact

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// ZstdWindow is the window NewZstdWriter compresses with.
const ZstdWindow = 256 << 10

// zstdMaxBlock is the largest block of the zstd format. The encoder
// compresses its input a block at a time and writes each block out as
// soon as it is full, so it holds back less than one block of what it
// was given.
const zstdMaxBlock = 128 << 10

// ZstdWriter compresses a tar stream as zstd for hosts to unpack with
// `tar --zstd`, and tells how much of its input its output holds.
type ZstdWriter struct {
	enc *zstd.Encoder
	// in is what completed Writes handed the encoder.
	in atomic.Int64
}

// NewZstdWriter returns a writer that compresses a tar stream as zstd.
// The fastest level is enough: the point is the hosts' decompression cost
// (a fraction of gzip's), not the last percent of size, and the bot
// compresses once for every host. The window is small, ZstdWindow: the
// zstd CLI allocates and faults in a buffer of the window's size to
// decompress, and on a small VM a 4 MiB window cost a host 15 ms more CPU
// per 5 MB artifact than 256 KiB did, for 0.4 % less size on a source
// tree. The encoder runs in the caller's goroutine (concurrency 1), so
// that it writes to w from Write and Close only. Close flushes the last
// frame; it does not close w.
func NewZstdWriter(w io.Writer) (*ZstdWriter, error) {
	enc, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(ZstdWindow))
	if err != nil {
		return nil, fmt.Errorf("zstd writer: %w", err)
	}
	return &ZstdWriter{enc: enc}, nil
}

func (z *ZstdWriter) Write(p []byte) (int, error) {
	n, err := z.enc.Write(p)
	z.in.Add(int64(n))
	return n, err
}

// Close writes the rest of the stream and its end.
func (z *ZstdWriter) Close() error { return z.enc.Close() }

// Encoded returns how many bytes of its input the output written so far
// decompresses to, at least. It is safe to call from any goroutine, and
// from the output's Write: there it counts the input of the Writes before
// the one that is writing a block, minus the block the encoder may have
// been filling. A caller pacing hosts by how far they unpacked needs a
// lower bound: the input the inspection has read runs ahead of the
// output by what the encoder holds, and taking one for the other made
// hosts' windows a block short.
func (z *ZstdWriter) Encoded() int64 { return max(0, z.in.Load()-zstdMaxBlock) }
