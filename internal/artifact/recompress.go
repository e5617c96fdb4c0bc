package artifact

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// NewZstdWriter returns a writer that compresses a tar stream as zstd for
// hosts to unpack with `tar --zstd`. The fastest level is enough: the
// point is the hosts' decompression cost (a fraction of gzip's), not the
// last percent of size, and the bot compresses once for every host. The
// window stays within zstd's default decoder limit (128 MiB). Close
// flushes the last frame; it does not close w.
func NewZstdWriter(w io.Writer) (io.WriteCloser, error) {
	enc, err := zstd.NewWriter(w,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(4<<20))
	if err != nil {
		return nil, fmt.Errorf("zstd writer: %w", err)
	}
	return enc, nil
}
