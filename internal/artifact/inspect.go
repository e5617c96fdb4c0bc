package artifact

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/switchman-bot/switchman/internal/suggest"
)

// Errors from Inspector.Result wrap one of these, so callers can tell a
// tampered or misnamed download (ErrChecksum) from a broken one
// (ErrCorrupt) from a hostile one (ErrUnsafe).
var (
	ErrChecksum = errors.New("checksum mismatch")
	ErrCorrupt  = errors.New("corrupt artifact")
	ErrUnsafe   = errors.New("unsafe tar entry")
)

// ChecksumError is a sha256 that differs from the expected one.
type ChecksumError struct {
	Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("checksum mismatch: expected sha256 %s, got %s", e.Want, e.Got)
}

func (e *ChecksumError) Unwrap() error { return ErrChecksum }

// UnsafeEntryError is a tar entry that could write outside the release
// directory or create something other than files, directories and links.
type UnsafeEntryError struct {
	// Entry is the entry's name as it appears in the archive.
	Entry  string
	Reason string
}

// Error quotes the entry; its reason may name entries and link targets
// as they are, which the build chose, so the marks of the bot's suggested
// commands are taken out of it (see suggest): the error is quoted in the
// deploy's reply.
func (e *UnsafeEntryError) Error() string {
	return fmt.Sprintf("unsafe tar entry %q: %s", e.Entry, suggest.Strip(e.Reason))
}

func (e *UnsafeEntryError) Unwrap() error { return ErrUnsafe }

// ErrTooLarge is an archive whose files hold more than the limit set
// with LimitUnpacked, or with more entries than LimitEntries allows.
var ErrTooLarge = errors.New("archive too large once unpacked")

// TooLargeError is an archive whose regular files hold more than Limit
// bytes: a build of a few hundred KB of compressed zeros can unpack to
// terabytes, and would fill every host's disk.
type TooLargeError struct {
	Limit int64
	// Entry is the entry that went past the limit, with Size its bytes.
	Entry string
	Size  int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("its files come to more than %s once unpacked, the limit (artifact.max_unpacked), by entry %q of %s", Bytes(e.Limit), e.Entry, Bytes(e.Size))
}

func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// TooManyEntriesError is an archive with more than Limit entries: each
// one a file, directory or link on every host, a build of a few hundred
// MB of compressed empty files would take every inode of their disks,
// while its files hold nothing for LimitUnpacked to count.
type TooManyEntriesError struct {
	Limit int
	// Entry is the entry that went past the limit.
	Entry string
}

func (e *TooManyEntriesError) Error() string {
	return fmt.Sprintf("it has more than %d entries (files, directories and links), the limit (artifact.max_entries), at entry %q", e.Limit, e.Entry)
}

func (e *TooManyEntriesError) Unwrap() error { return ErrTooLarge }

// Bytes says n bytes the way people read sizes: "20 GiB", "512 KiB", "17
// bytes".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f, i := float64(n)/unit, 0
	for f >= unit && i < len(units)-1 {
		f /= unit
		i++
	}
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d %s", int64(f), units[i])
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}

// Compression is how a tarball is compressed; its value is the name that
// tar and people use.
type Compression string

const (
	Gzip Compression = "gzip"
	Zstd Compression = "zstd"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Detect tells the compression of an artifact from its first bytes (four
// are enough). Anything else is an error wrapping ErrCorrupt.
func Detect(head []byte) (Compression, error) {
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return Gzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		return Zstd, nil
	}
	return "", fmt.Errorf("%w: not a gzip or zstd tarball", ErrCorrupt)
}

// zstdMaxWindow bounds the memory a zstd stream may make the decoder use.
// It allows streams made with zstd --long (a 128 MiB window).
const zstdMaxWindow = 128 << 20

// maxSymlinkHops bounds symlink resolution, as the kernel's ELOOP does.
const maxSymlinkHops = 40

// maxLinkBytes bounds the memory the inspector keeps for an archive's
// symlinks (their paths and targets, plus linkOverhead each), which it
// holds until the archive ends: a few MB of compressed symlinks with long
// names would otherwise take the bot gigabytes. A release's symlinks take
// a few hundred KB at most.
const (
	maxLinkBytes = 32 << 20
	linkOverhead = 64
)

// Report is what an Inspector found.
type Report struct {
	Compression Compression
	// SHA256 is the lowercase hex digest of the bytes written.
	SHA256 string
	// Bytes is how many bytes were written (the compressed size).
	Bytes int64
	// Entries counts the tar entries, Files the regular files among them.
	Entries int
	Files   int
	// UnpackedBytes is the total size of the regular files.
	UnpackedBytes int64
}

// Inspector checks an artifact while it streams to hosts: it is written
// the compressed bytes, hashes them, decompresses them and checks every tar
// entry. Writes never fail and never block on a broken artifact, so an
// Inspector can sit beside the hosts in a fan-out; once the archive is
// known to be bad it only keeps hashing.
//
// An Inspector is used by one goroutine, except Err, which is safe to call
// from any. It must be closed: Close releases the goroutine that reads the
// archive.
type Inspector struct {
	want   string
	hash   hash.Hash
	bytes  int64
	in     *handoff
	piping bool // the reader goroutine is still taking bytes
	closed bool

	done chan struct{} // closed when the reader goroutine has ended
	// Set by the reader goroutine before done is closed.
	report Report
	err    error

	result error // set by Close

	// pos is how far into the decompressed archive the reader goroutine
	// has read; see Position.
	pos atomic.Int64

	// tar, when set by TarTo, receives the decompressed archive.
	tar io.Writer
	// maxUnpacked, when set by LimitUnpacked, bounds what the archive's
	// files hold.
	maxUnpacked int64
	// maxEntries, when set by LimitEntries, bounds the archive's entries.
	maxEntries int
}

// NewInspector returns an Inspector that expects the artifact's sha256 to
// be wantSHA256 (hex, any case); "" checks no checksum.
func NewInspector(wantSHA256 string) *Inspector {
	i := &Inspector{
		want:   strings.ToLower(strings.TrimSpace(wantSHA256)),
		hash:   sha256.New(),
		piping: true,
		done:   make(chan struct{}),
	}
	i.in = &handoff{data: make(chan []byte), taken: make(chan struct{})}
	go i.read(i.in)
	return i
}

// TarTo makes the Inspector copy the decompressed archive to w as it reads
// it, so that a caller can recompress what it streams without decompressing
// it a second time. It must be called before the first Write. A w that
// fails is dropped and the inspection goes on; w only ever sees a prefix of
// the archive when the archive proves bad, which Result reports.
func (i *Inspector) TarTo(w io.Writer) { i.tar = w }

// LimitUnpacked makes the Inspector refuse an archive whose regular files
// hold more than n bytes in all (0: no limit), as soon as the header of
// the entry that goes past it is read, before its data: a TooLargeError.
// It must be called before the first Write.
func (i *Inspector) LimitUnpacked(n int64) { i.maxUnpacked = n }

// LimitEntries makes the Inspector refuse an archive of more than n
// entries (0: no limit), as soon as the header of the entry past it is
// read: a TooManyEntriesError. It must be called before the first Write.
func (i *Inspector) LimitEntries(n int) { i.maxEntries = n }

// Write hashes p and hands it to the archive reader. It always returns
// len(p), nil, except after Close.
//
// It returns once the archive reader has checked all it can of p: its
// decompressor and tar reader have taken every byte and wait for more,
// or the reader has stopped, and then Err tells whether the archive is
// bad. What the reader cannot check yet is what its decompressor holds
// of a block not complete in what was written, and what it holds
// decoded for the tar reader: under HoldBack bytes at the end of what
// was written (see HoldBack).
func (i *Inspector) Write(p []byte) (int, error) {
	if i.closed {
		return 0, errors.New("inspector: write after close")
	}
	i.hash.Write(p)
	i.bytes += int64(len(p))
	if i.piping && len(p) > 0 {
		select {
		case i.in.data <- p:
			select {
			case <-i.in.taken:
			case <-i.done:
				i.piping = false
			}
		case <-i.done:
			i.piping = false
		}
	}
	return len(p), nil
}

// HoldBack is how much of the end of what was written to an Inspector may
// hold tar headers it has not checked yet, once Write has returned: a
// host's decompressor given the stream without its last HoldBack bytes
// unpacks no byte the Inspector has not checked. A zstd block (128 KiB at
// most) is decoded once whole, while a host's zstd unpacks an
// uncompressed block as it comes; gzip's decoder hands out what it
// decoded a window (32 KiB) at a time, from at most twice that much of
// the stream.
const HoldBack = 256 << 10

// handoff passes the bytes of Write to the archive reader, and tells
// Write when the reader has taken them all and asks for more.
type handoff struct {
	data  chan []byte
	taken chan struct{}
	buf   []byte
	// owed says that the reader got bytes from Write and has not yet
	// said it took them all.
	owed bool
}

func (h *handoff) Read(p []byte) (int, error) {
	if len(h.buf) == 0 {
		if h.owed {
			// Everything decodable of what was handed over has gone
			// through the checks: the decompressor and the tar reader
			// ask for more only once they have used what they hold.
			h.owed = false
			h.taken <- struct{}{}
		}
		b, ok := <-h.data
		if !ok {
			return 0, io.EOF
		}
		h.buf, h.owed = b, true
	}
	n := copy(p, h.buf)
	h.buf = h.buf[n:]
	return n, nil
}

// Close ends the stream, waits for the archive reader and returns the same
// error as Result. Closing twice is harmless.
func (i *Inspector) Close() error {
	if i.closed {
		return i.result
	}
	i.closed = true
	close(i.in.data)
	<-i.done
	i.report.SHA256 = hex.EncodeToString(i.hash.Sum(nil))
	i.report.Bytes = i.bytes

	var errs []error
	switch {
	case i.want == "":
	case !isSHA256(i.want):
		errs = append(errs, fmt.Errorf("%w: expected checksum %q is not a sha256 digest", ErrChecksum, i.want))
	case i.want != i.report.SHA256:
		errs = append(errs, &ChecksumError{Want: i.want, Got: i.report.SHA256})
	}
	if i.err != nil {
		errs = append(errs, i.err)
	}
	i.result = errors.Join(errs...)
	return i.result
}

// Result returns what the Inspector found. The error, if any, wraps
// ErrChecksum, ErrCorrupt or ErrUnsafe (a checksum mismatch may come with
// one of the others); the Report is filled in as far as the inspection got.
// Result must be called after Close.
func (i *Inspector) Result() (Report, error) {
	if !i.closed {
		return Report{}, errors.New("inspector: Result called before Close")
	}
	return i.report, i.result
}

// Position returns how many bytes of the decompressed archive the
// inspection has read so far; safe to call from any goroutine. Every byte
// it counts was decompressed from what had been written by then, so it is
// a lower bound of how far those bytes unpack: a caller pacing hosts by
// how far their tar has read relates the two with it.
func (i *Inspector) Position() int64 { return i.pos.Load() }

// Err returns the error that stopped the archive reader early, or nil
// while the archive still looks good. It lets a caller abort a delivery
// before the stream ends; it does not check the checksum, which is only
// known after Close.
func (i *Inspector) Err() error {
	select {
	case <-i.done:
		return i.err
	default:
		return nil
	}
}

// read is the reader goroutine: it consumes pr until the archive ends or
// proves bad.
func (i *Inspector) read(pr io.Reader) {
	defer close(i.done)
	err := i.inspect(pr)
	if err != nil {
		// Write waits for done, which must come after err is set.
		i.err = err
		return
	}
	// Data after the compressed stream has been read by the decompressor;
	// make sure nothing is left so the writer never blocks.
	if _, err := io.Copy(io.Discard, pr); err != nil {
		i.err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
}

func (i *Inspector) inspect(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(len(zstdMagic)) // a short stream fails Detect
	comp, err := Detect(head)
	if err != nil {
		return err
	}
	i.report.Compression = comp

	var dec io.Reader
	switch comp {
	case Gzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%w: gzip: %w", ErrCorrupt, err)
		}
		defer zr.Close()
		dec = zr
	case Zstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)
		}
		defer zr.Close()
		dec = zr
	}

	if i.tar != nil {
		// Below the tar reader and the final drain, so that w gets every
		// byte, end-of-archive padding included.
		dec = io.TeeReader(dec, &dropOnError{w: i.tar})
	}
	t := newTree()
	tail := &zeroTail{r: dec, pos: &i.pos}
	tr := tar.NewReader(tail)
	// dataEnd is where the last entry's data and padding end: archive/tar
	// reads exactly the blocks it needs, so after Next the stream position
	// is the start of the entry's data.
	var dataEnd int64
	// next is where the next header starts, or the first of the meta
	// headers before it (GNU long names and links, pax headers).
	var next int64
	for {
		tail.capture(next)
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, comp, err)
		}
		if err := checkPAX(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			// pax metadata for the whole archive (git archive writes
			// one). archive/tar drops a GNU long name or link, or a
			// pax header, read before it; GNU tar keeps it for the
			// entry after, which it then names or links otherwise.
			if typ := tail.first[156]; typ != tar.TypeXGlobalHeader {
				return &UnsafeEntryError{Entry: hdr.Name, Reason: fmt.Sprintf("a %s before a global pax header: GNU tar applies it to the entry after, archive/tar drops it", metaName(typ))}
			}
			next = (tail.n + blockSize - 1) / blockSize * blockSize // its records end unpadded
			continue
		}
		if err := checkHeader(hdr, tail.last[:]); err != nil {
			return err
		}
		dataEnd = tail.n + (hdr.Size+blockSize-1)/blockSize*blockSize
		next = dataEnd
		i.report.Entries++
		if i.maxEntries > 0 && i.report.Entries > i.maxEntries {
			return &TooManyEntriesError{Limit: i.maxEntries, Entry: hdr.Name}
		}
		if err := t.add(hdr); err != nil {
			return err
		}
		if isRegular(hdr.Typeflag) {
			i.report.Files++
			i.report.UnpackedBytes += hdr.Size
			if i.maxUnpacked > 0 && i.report.UnpackedBytes > i.maxUnpacked {
				return &TooLargeError{Limit: i.maxUnpacked, Entry: hdr.Name, Size: hdr.Size}
			}
		}
	}
	// archive/tar also ends quietly when the stream stops between two
	// entries or inside padding; only the end marker shows that nothing
	// was cut off.
	// The two zero blocks of the marker must follow the last entry's data:
	// zeros read within that data (a file ending in zeros) do not count.
	if tail.n%blockSize != 0 || tail.zeros < blockSize || tail.n-dataEnd < 2*blockSize {
		return fmt.Errorf("%w: tar archive is truncated (no end-of-archive marker)", ErrCorrupt)
	}
	if err := t.recheck(); err != nil {
		return err
	}
	if i.report.Entries == 0 {
		return fmt.Errorf("%w: the archive has no entries", ErrCorrupt)
	}
	// The tar end marker may come before the end of the compressed stream;
	// reading to the end checks the stream's own checksum and length. What
	// follows the marker must be zeros, the padding of a tar record: GNU
	// tar stops at the marker, but unpacks what follows it, unchecked,
	// when told to read past it (--ignore-zeros in the TAR_OPTIONS of a
	// host, which the delivery keeps), as it does the second of two
	// tarballs concatenated.
	n, err := io.Copy(zerosOnly{}, io.LimitReader(dec, maxPadding+1))
	switch {
	case errors.Is(err, errNotZero):
		return fmt.Errorf("%w: data after the end-of-archive marker (a second archive?), which a tar reading past the marker (--ignore-zeros) would unpack unchecked", ErrCorrupt)
	case err != nil:
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, comp, err)
	case n > maxPadding:
		return fmt.Errorf("%w: more than %s of zeros after the end-of-archive marker, where a tar pads to its record size (10 KiB by default)", ErrCorrupt, Bytes(maxPadding))
	}
	return nil
}

// maxPadding bounds the zeros read after the end-of-archive marker: tar
// pads an archive to its record size, 10 KiB by default, 1 MiB at a
// blocking factor of 2048. Past the marker no entry
// counts towards LimitUnpacked, and a few MB of compressed zeros there
// would otherwise take the bot minutes of CPU per terabyte to read, on
// every deploy of the build.
const maxPadding = 16 << 20

var errNotZero = errors.New("not zero")

// zerosOnly takes zero bytes, and fails a write of anything else.
type zerosOnly struct{}

func (zerosOnly) Write(p []byte) (int, error) {
	for i, c := range p {
		if c != 0 {
			return i, errNotZero
		}
	}
	return len(p), nil
}

const blockSize = 512

// dropOnError writes to w until w fails, then discards: a reader that
// stopped (every host gone) must not stop the inspection.
type dropOnError struct {
	w   io.Writer
	err error
}

func (d *dropOnError) Write(p []byte) (int, error) {
	if d.err == nil {
		_, d.err = d.w.Write(p)
	}
	return len(p), nil
}

// zeroTail counts the bytes read through it and how many of the last ones
// were zero, which is how a tar archive ends. pos, when set, gets the
// count once each read has returned.
type zeroTail struct {
	r     io.Reader
	n     int64
	zeros int64
	pos   *atomic.Int64
	// last holds the last block read: after archive/tar's Next, the
	// entry's own header (archive/tar reads headers a block at a time and
	// data only when asked), which checkHeader reads as GNU tar does.
	last [blockSize]byte
	// first holds the block at offset at (see capture), once read.
	at    int64
	first [blockSize]byte
}

// capture makes z keep the block at offset off, in first, when it is read.
func (z *zeroTail) capture(off int64) {
	z.at, z.first = off, [blockSize]byte{}
}

func (z *zeroTail) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if lo, hi := max(z.at, z.n), min(z.at+blockSize, z.n+int64(n)); lo < hi {
		copy(z.first[lo-z.at:hi-z.at], p[lo-z.n:hi-z.n])
	}
	if n >= blockSize {
		copy(z.last[:], p[n-blockSize:n])
	} else if n > 0 {
		copy(z.last[:], z.last[n:])
		copy(z.last[blockSize-n:], p[:n])
	}
	z.n += int64(n)
	if z.pos != nil {
		z.pos.Store(z.n)
	}
	i := n - 1
	for i >= 0 && p[i] == 0 {
		i--
	}
	if i < 0 {
		z.zeros += int64(n)
	} else {
		z.zeros = int64(n - 1 - i)
	}
	return n, err
}

func isRegular(typ byte) bool {
	switch typ {
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont, tar.TypeGNUSparse:
		return true
	}
	return false
}

// maxName bounds entry names and link targets, as PATH_MAX does on the
// host; it also bounds the work of resolving them.
const maxName = 4096

// checkPAX refuses pax records on which archive/tar and GNU tar, which
// unpacks on the hosts, would disagree about an entry's name, link or
// size: GNU tar applies a global header's path, linkpath and size to
// every later entry (archive/tar ignores them; with a size, the data of
// an entry archive/tar skips are headers to GNU tar), prefers a pax path
// or linkpath to a GNU long name or long link (archive/tar the other way
// round), and takes GNU.sparse.name as the name. A release needs none of
// them.
func checkPAX(hdr *tar.Header) error {
	unsafe := func(format string, args ...any) error {
		return &UnsafeEntryError{Entry: hdr.Name, Reason: fmt.Sprintf(format, args...)}
	}
	for k, v := range hdr.PAXRecords {
		switch {
		case strings.HasPrefix(k, "GNU.sparse."):
			return unsafe("pax record %s: sparse files are not supported", k)
		case hdr.Typeflag == tar.TypeXGlobalHeader && (k == "path" || k == "linkpath" || k == "size"):
			return unsafe("a global pax header sets %s for every entry", k)
		case k == "path" && v != hdr.Name:
			return unsafe("pax path %q differs from the entry's name", v)
		case k == "linkpath" && v != hdr.Linkname:
			return unsafe("pax linkpath %q differs from the entry's link", v)
		}
	}
	return nil
}

// checkHeader refuses an entry whose raw header block, raw, GNU tar on
// the hosts would read differently from archive/tar, and entries that
// would give the release privileges or carry data where one of the two
// readers skips none.
//
// The name: archive/tar joins a ustar prefix to the name under rules of
// its own. It takes the prefix of an old-GNU header ("ustar  ") whose
// access and change times do not parse (the layout of pre-Go 1.8
// writers), and only 131 bytes of it in a header with a star trailer;
// GNU tar joins the whole 155-byte prefix of a POSIX header ("ustar\0")
// and never another's. Where they differ, the inspector would check a
// name, and the links around it, that is not the one written on the
// host: a symlink it places deep enough in the tree to look harmless
// lands at the top and leads out. Such a header is refused whatever
// name the entry ends up with (a GNU long name or a pax path, which both
// read alike, would make the header's own fields moot; a real archive's
// fields agree anyway).
//
// A link or directory with a size, or a file whose name ends in a slash
// (a directory to GNU tar) with one: one of the two readers reads no data
// after it and takes the next block for a header, the other skips the
// data; the host's tar would unpack entries the inspector never saw, or
// the inspector check entries the host never writes.
//
// Setuid and setgid bits: tar keeps them when the deploy user is root,
// and a release owned by root with such a file gives whoever can publish
// an artifact root on every host. World-writable files and directories,
// for the same reason: any local user could rewrite the release (a file
// opened for writing stays writable after a chmod, so clearing the bit
// on the host after the unpack would come too late).
func checkHeader(hdr *tar.Header, raw []byte) error {
	unsafe := func(format string, args ...any) error {
		return &UnsafeEntryError{Entry: hdr.Name, Reason: fmt.Sprintf(format, args...)}
	}
	if hdr.Typeflag != tar.TypeGNUSparse { // refused by tree.add; its header is not the last block
		own, err := tar.NewReader(io.MultiReader(bytes.NewReader(raw), bytes.NewReader(make([]byte, 2*blockSize)))).Next()
		if err != nil {
			return fmt.Errorf("%w: tar header of %q: %w", ErrCorrupt, hdr.Name, err)
		}
		if gnu := gnuTarName(raw); own.Name != gnu {
			return unsafe("header read as %q by GNU tar and as %q by archive/tar (a non-standard name prefix)", gnu, own.Name)
		}
	}
	switch hdr.Typeflag {
	case tar.TypeLink, tar.TypeSymlink, tar.TypeDir:
		if hdr.Size != 0 {
			return unsafe("a %s entry carrying %d bytes of data", typeName(hdr.Typeflag), hdr.Size)
		}
	case tar.TypeReg, tar.TypeCont:
		// GNU tar makes a directory of a file whose name ends in a slash
		// (the old BSD convention), and reads no data after it either.
		if strings.HasSuffix(hdr.Name, "/") && hdr.Size != 0 {
			return unsafe("a file named as a directory (%s) carrying %d bytes of data", hdr.Name, hdr.Size)
		}
	}
	if hdr.Mode&(04000|02000) != 0 && hdr.Typeflag != tar.TypeSymlink {
		return unsafe("setuid or setgid bit (mode %04o): a release gets no privileged files; clear the bits when building it (tar --mode=u-s,g-s)", hdr.Mode&07777)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeCont, tar.TypeDir:
		// A symlink's mode means nothing, and a hard link takes its
		// target's, checked at the target's own entry.
		if hdr.Mode&0o002 != 0 {
			return unsafe("world-writable (mode %04o): any user of a host could rewrite the release, and tar keeps the mode when the deploy user is root; clear the bit when building it (chmod -R o-w, or tar --mode=o-w)", hdr.Mode&07777)
		}
	}
	return nil
}

// gnuTarName is an entry's name as GNU tar reads it from the header block
// raw (without a long name or pax path): the name, after the prefix and a
// slash when the header is a POSIX one ("ustar\0") with a prefix.
func gnuTarName(raw []byte) string {
	name := cString(raw[0:100])
	if string(raw[257:263]) == "ustar\x00" {
		if prefix := cString(raw[345:500]); prefix != "" {
			return prefix + "/" + name
		}
	}
	return name
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// metaName names a header that applies to the entry after it.
func metaName(t byte) string {
	switch t {
	case tar.TypeGNULongName:
		return "GNU long name"
	case tar.TypeGNULongLink:
		return "GNU long link"
	case tar.TypeXHeader:
		return "pax header"
	}
	return fmt.Sprintf("header of type %q", t)
}

func typeName(t byte) string {
	switch t {
	case tar.TypeLink:
		return "hard link"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeDir:
		return "directory"
	}
	return fmt.Sprintf("type %q", t)
}

// tree follows what extracting the archive in order creates, as far as
// symlinks go, so that every entry and link target is resolved the way the
// kernel on the host would resolve it: a lexical check alone misses "t ->
// s/.." when s is a symlink to ".".
//
// It holds the symlinks and the directories above them, one node per path
// component: resolving a name then costs in proportion to its length. With
// the resolved paths as strings, each component cost a copy of the path so
// far: 20000 names 2000 components deep, a 290 KB gzip, took the bot 41 s
// of CPU.
type tree struct {
	root *node
	// links are the symlinks' nodes, in the order they were made.
	links []*node
	// linkBytes is what the symlinks take, counted as maxLinkBytes says.
	linkBytes int
}

// node is a symlink, or a directory with symlinks below it.
type node struct {
	parent *node // nil for the release directory
	name   string
	kids   map[string]*node
	isLink bool
	target string // the symlink's
}

// place is a resolved path: a node, and the components below it, where
// there are no symlinks.
type place struct {
	n    *node
	rest []string
}

func newTree() *tree { return &tree{root: &node{}} }

// top is the release directory.
func (t *tree) top() place { return place{n: t.root} }

func (p place) isTop() bool { return p.n.parent == nil && len(p.rest) == 0 }

func (p place) isLink() bool { return len(p.rest) == 0 && p.n.isLink }

// parent is the directory p is in; that of the release directory is
// itself.
func (p place) parent() place {
	if len(p.rest) > 0 {
		return place{n: p.n, rest: p.rest[:len(p.rest)-1]}
	}
	if p.n.parent == nil {
		return p
	}
	return place{n: p.n.parent}
}

// String is p's path, slash-separated, from the release directory, ""
// being the directory itself.
func (p place) String() string {
	var parts []string
	for n := p.n; n.parent != nil; n = n.parent {
		parts = append(parts, n.name)
	}
	slices.Reverse(parts)
	return strings.Join(append(parts, p.rest...), "/")
}

// link records a symlink at p to target.
func (t *tree) link(p place, target string) {
	n := p.n
	for _, part := range p.rest {
		kid := n.kids[part]
		if kid == nil {
			kid = &node{parent: n, name: part}
			if n.kids == nil {
				n.kids = map[string]*node{}
			}
			n.kids[part] = kid
		}
		n = kid
	}
	n.isLink, n.target = true, target
	t.links = append(t.links, n)
}

// add checks one entry and records it.
func (t *tree) add(hdr *tar.Header) error {
	name := hdr.Name
	unsafe := func(format string, args ...any) error {
		return &UnsafeEntryError{Entry: name, Reason: fmt.Sprintf(format, args...)}
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
	case tar.TypeGNUSparse:
		return unsafe("sparse file")
	case tar.TypeChar:
		return unsafe("character device")
	case tar.TypeBlock:
		return unsafe("block device")
	case tar.TypeFifo:
		return unsafe("fifo")
	default:
		return unsafe("unsupported entry type %q", hdr.Typeflag)
	}
	if why := checkName(name); why != "" {
		return unsafe("name %s", why)
	}
	if strings.HasPrefix(name, "/") {
		return unsafe("absolute path")
	}
	if escapes(path.Clean(name)) {
		return unsafe("path escapes the release directory")
	}
	if hasDotDot(name) {
		// GNU tar on the hosts refuses these too; say so before delivery.
		return unsafe("path has a .. component")
	}
	// Where the entry lands: its parent is resolved through the symlinks
	// made so far, and the entry takes the place of its last component.
	at, err := t.resolve(t.top(), strings.TrimRight(name, "/"), false)
	if err != nil {
		return unsafe("path %s", err)
	}
	if at.isLink() {
		// Whether an extractor replaces a symlink or writes through it
		// differs between tools; refuse rather than guess.
		return unsafe("replaces the symlink at %s", at)
	}

	switch hdr.Typeflag {
	case tar.TypeSymlink:
		target := hdr.Linkname
		if why := checkName(target); why != "" {
			return unsafe("symlink target %s", why)
		}
		if strings.HasPrefix(target, "/") {
			return unsafe("symlink to absolute path %q", target)
		}
		if at.isTop() {
			return unsafe("symlink replaces the release directory")
		}
		if _, err := t.resolve(at.parent(), target, true); err != nil {
			return unsafe("symlink to %q %s", target, err)
		}
		if t.linkBytes += len(at.String()) + len(target) + linkOverhead; t.linkBytes > maxLinkBytes {
			return unsafe("the archive's symlinks take more than %d MiB of names and targets", maxLinkBytes>>20)
		}
		t.link(at, target)
	case tar.TypeLink:
		target := hdr.Linkname
		if why := checkName(target); why != "" {
			return unsafe("hard link target %s", why)
		}
		if strings.HasPrefix(target, "/") || escapes(path.Clean(target)) {
			return unsafe("hard link to %q outside the release directory", target)
		}
		if hasDotDot(target) {
			return unsafe("hard link target %q has a .. component", target)
		}
		// Hard link targets are archive paths, from the release directory;
		// link(2) does not follow a symlink in the last component, so a
		// hard link to a symlink is a copy of it elsewhere, where its
		// target may lead out.
		to, err := t.resolve(t.top(), target, false)
		if err != nil {
			return unsafe("hard link to %q %s", target, err)
		}
		if to.isLink() {
			return unsafe("hard link to the symlink %q", target)
		}
	}
	return nil
}

// recheck resolves every symlink again once the archive is complete: a
// link that pointed at a path that did not exist yet (t -> s/..) may point
// outside once a later entry makes s a symlink.
func (t *tree) recheck() error {
	type link struct {
		at string
		n  *node
	}
	links := make([]link, len(t.links))
	for i, n := range t.links {
		links[i] = link{place{n: n}.String(), n}
	}
	slices.SortFunc(links, func(a, b link) int { return strings.Compare(a.at, b.at) })
	for _, l := range links {
		if _, err := t.resolve(place{n: l.n}.parent(), l.n.target, true); err != nil {
			return &UnsafeEntryError{Entry: l.at, Reason: fmt.Sprintf("symlink to %q %s", l.n.target, err)}
		}
	}
	return nil
}

// resolve walks p from dir through the symlinks recorded so far and
// returns where it leads. followLast says whether a symlink in the last
// component is followed. It fails if the walk leaves the release
// directory or loops.
func (t *tree) resolve(dir place, p string, followLast bool) (place, error) {
	hops := 0
	return t.walk(dir, p, followLast, &hops)
}

func (t *tree) walk(cur place, p string, followLast bool, hops *int) (place, error) {
	// Its own copy: the caller's place may share the array.
	cur.rest = slices.Clone(cur.rest)
	for p != "" {
		var part string
		part, p, _ = strings.Cut(p, "/")
		switch part {
		case "", ".":
			continue
		case "..":
			if cur.isTop() {
				return place{}, errors.New("escapes the release directory")
			}
			cur = cur.parent()
			continue
		}
		if len(cur.rest) > 0 {
			// No symlink lies below a path without a node.
			cur.rest = append(cur.rest, part)
			continue
		}
		next := cur.n.kids[part]
		switch {
		case next == nil:
			cur.rest = append(cur.rest, part)
			continue
		case !next.isLink || !followLast && strings.Trim(p, "/") == "":
			cur.n = next
			continue
		}
		if *hops++; *hops > maxSymlinkHops {
			return place{}, errors.New("goes through too many symlinks")
		}
		resolved, err := t.walk(cur, next.target, true, hops)
		if err != nil {
			return place{}, err
		}
		cur = resolved
		cur.rest = slices.Clone(cur.rest)
	}
	return cur, nil
}

// escapes reports whether a cleaned relative path leaves its root.
func escapes(clean string) bool {
	return clean == ".." || strings.HasPrefix(clean, "../")
}

// hasDotDot reports whether p has a ".." component.
func hasDotDot(p string) bool {
	for part := range strings.SplitSeq(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// checkName returns why s cannot be a path in a release, or "".
func checkName(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > maxName:
		return fmt.Sprintf("is longer than %d bytes", maxName)
	}
	for _, c := range []byte(s) {
		if c == 0 {
			return "contains a NUL byte"
		}
		if c < 0x20 || c == 0x7f {
			return "contains a control character"
		}
	}
	return ""
}
