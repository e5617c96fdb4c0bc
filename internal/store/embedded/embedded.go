// Package embedded is the state store that lives in one file on disk
// (go.etcd.io/bbolt): deploy records, locks, the audit trail, fencing
// counters and dedupe keys survive restarts without any server to run.
//
// The file is locked by the process that opened it, so one store serves one
// Switchman process. That is why leases are kept in memory: nobody else can
// hold them. Their fencing counters are persisted, so tokens keep growing
// across restarts.
package embedded

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

var (
	_ deploy.Store  = (*Store)(nil)
	_ deploy.Leaser = (*Store)(nil)
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Now is the clock for lock, lease and key expiry and for audit entries
	// without a time; default time.Now.
	Now func() time.Time
	// ReadOnly opens an existing file to read it (bot audit): a missing
	// file is an error rather than a new empty store, writes fail, and
	// readers share the file, though not with a process that writes.
	ReadOnly bool
	// Log is told of a file opened to write that others may read, and of
	// expired locks and grants a listing could not delete; default:
	// nobody.
	Log *slog.Logger
}

// schemaVersion is written to the meta bucket of a new file. A file with
// another version is refused rather than misread.
const schemaVersion = "1"

// openTimeout bounds the wait for the file lock held by another process.
const openTimeout = time.Second

// opened, if set, is called with the file bbolt opened, before Open's
// first transaction (tests).
var opened func(db *bolt.DB)

// opening, if set, is called with the path as openBolt starts (tests).
var opening func(path string)

var (
	bucketMeta    = []byte("meta")
	bucketRecords = []byte("records")
	// bucketRecordIndex maps timeKey(Started)+ID to the record's app, env
	// and outcome, so listing walks it newest first and filters without
	// decoding records that do not match.
	bucketRecordIndex = []byte("records_by_started")
	bucketLocks       = []byte("locks")
	// bucketAudit maps timeKey(Time)+Seq to the entry.
	bucketAudit = []byte("audit")
	// bucketFences maps a lease key to the last fencing token handed out.
	bucketFences = []byte("fences")
	// bucketOnce maps a SetOnce key to its expiry (timeKey, or forever)
	// and the token of SetOnceToken (see onceValue); bucketOnceExpiry maps
	// timeKey(expiry)+key to nothing, so expired keys are swept oldest
	// first.
	bucketOnce       = []byte("once")
	bucketOnceExpiry = []byte("once_by_expiry")
	// bucketSignals maps a run's id, NUL and a kind to the signal's
	// expiry (8 bytes of Unix nanoseconds) and value.
	bucketSignals = []byte("signals")

	keySchema = []byte("schema")
)

// Store is the embedded state store: deploy records, locks, the audit
// trail, leases and SetOnce keys. It is safe for concurrent use; writes are
// serialized and each waits for the disk (fsync) before returning, or for
// its context to end.
type Store struct {
	db   *bolt.DB
	path string
	now  func() time.Time
	log  *slog.Logger

	mu sync.Mutex
	// leases is guarded by mu; nil once the store is closed.
	leases map[string]leaseEntry
	// ended holds, by key, when each run's lease (see runFence) released
	// since the file was opened ended, until its fencing counter is
	// dropped (see nextFence); guarded by mu.
	ended map[string]time.Time
	// acquiring serializes Acquire, the write of its token included: a
	// place in it is a value sent, waited for no longer than the
	// caller's context, as a write behind a stalled disk is.
	acquiring chan struct{}

	// damage is set once a transaction found the file damaged, to a
	// *damagedError as people are told it; every call after it fails
	// with it.
	damage atomic.Pointer[errs.Error]
	// unmapped is set once bbolt lost its mapping of the file, which
	// only opening the file again, a restart of the bot, gives back (see
	// unmappedError); every call after it fails with it.
	unmapped atomic.Pointer[errs.Error]
	// refusing holds the error of the last write transaction when its
	// disk, quota or file-size limit refused it (deploy.ErrStoreFull),
	// until one that takes as many pages succeeds:
	// reads go on answering then, and a check that only reads would call
	// the store healthy while every command that records fails.
	refusing atomic.Pointer[error]
	// writing is held by a write transaction from its start until
	// what the file shows of it is known (see shows).
	writing sync.Mutex
	// tried is when (s.now, Unix nanoseconds) a write was last refused or
	// Writable last tried its own, which it waits ProbeEvery after;
	// refusedSize is how many bytes of pages the last write refused,
	// Writable's own aside, had taken (see probe).
	tried       atomic.Int64
	refusedSize atomic.Int64

	// trimBatch is how many index entries a trim handles per write
	// transaction: maxTrimBatch, fewer in tests. trimmed, if set, is
	// called after each batch is committed (tests).
	trimBatch int
	trimmed   func()

	// closed is set by Close, which every call after it is refused
	// for; closeOnce starts closing the file, and closeDone is closed
	// once it is, closeErr set. closeWait is how long Close waits for
	// that: the constant closeWait, less in tests.
	closed    atomic.Bool
	closeOnce sync.Once
	closeDone chan struct{}
	closeErr  error
	closeWait time.Duration
}

// damagedError says that the file holds pages bbolt cannot make sense of:
// a copy taken while the bot wrote, a disk error. bbolt panics on those;
// the store turns the panic into this error. Its advice is the other
// refusals', with the bot stopped first, as damage found while it runs
// is refused too, and with the file moved aside rather than removed: what
// can still be read of it may be wanted.
type damagedError struct {
	path  string
	cause string
}

func (e *damagedError) Error() string {
	return fmt.Sprintf("state store %s is damaged: %s: stop the bot, then restore it from a backup, or move it aside (mv %s %s.damaged) to start a new, empty store, without its locks, grants and deploy history", e.path, e.cause, e.path, e.path)
}

func (e *damagedError) Unwrap() error { return deploy.ErrStoreUnusable }

// unmappedError says that bbolt lost its mapping of the file: a write
// that grew the file needed a larger one, and mapping it failed (for want
// of memory: a limit on the process's address space, such as systemd's
// LimitAS or ulimit -v, or vm.max_map_count) once the old one was
// unmapped. bbolt refuses every transaction after that ("database isn't
// correctly mapped") until the file is opened again, and the store opens
// it only at start: the file itself is sound, and the write that failed
// was rolled back. Its message is for people: the file is local, and
// calling it unreachable would send them to the network.
type unmappedError struct {
	path string
	// cause is what bbolt said of the mapping that failed, or
	// bolterrors.ErrInvalidMapping when that was not seen.
	cause error
}

func (e *unmappedError) Error() string {
	why := "mapping it anew failed as it grew"
	if _, detail, ok := strings.Cut(e.cause.Error(), mmapFailed); ok {
		why += " (" + detail + ")"
	}
	return fmt.Sprintf("state store %s is no longer mapped in memory: %s: restart the bot, which maps it again", e.path, why)
}

func (e *unmappedError) Unwrap() []error {
	return []error{deploy.ErrStoreUnusable, bolterrors.ErrInvalidMapping, e.cause}
}

// mmapFailed is what bbolt's error says before why a larger mapping of the
// file failed, which it gives in text alone.
const mmapFailed = "mmap allocate error: "

// Health conditions of the store, as HealthCondition names them.
const (
	ConditionDamaged       = "damaged"
	ConditionUnmapped      = "unmapped"
	ConditionRefusesWrites = "refuses_writes"
	ConditionStalled       = "stalled"
	ConditionClosed        = "closed"
	ConditionIOError       = "io_error"
	ConditionFailed        = "failed"
)

// HealthCondition names what err, of a check of the store (Locks, then
// Writable), says of the file, for a health endpoint, and the error code
// of the refusal, if any: ConditionDamaged when a transaction found it
// damaged, which every later call is refused for; ConditionUnmapped,
// with "ENOMEM" when it failed for want of memory, once bbolt lost its
// mapping of the file, which every later call is refused for too until
// the bot is restarted (see unmappedError); ConditionRefusesWrites,
// with "ENOSPC", "EDQUOT" or "EFBIG", when the last write found its disk
// or quota full, or its file at the size limit set on the process, as
// Redis's condition at maxmemory is named; ConditionClosed once the store
// is closed, as the bot stops; ConditionStalled when the check's context
// ended before the file answered (its disk did not answer in time, as a
// stalled one does not); ConditionIOError when the file system failed a
// read or write of the file (a dying disk, a network volume gone), with
// its errno's name ("EIO", "EROFS", ...) when it is one of ioErrnos; else
// ConditionFailed. None is "unreachable", Redis's word, which would send
// people to the network: the file is local, and nothing was tried to
// reach. A nil err, a check that passed, has no condition: "".
func HealthCondition(err error) (condition, reply string) {
	if err == nil {
		return "", ""
	}
	var damaged *damagedError
	if errors.As(err, &damaged) {
		return ConditionDamaged, ""
	}
	var unmapped *unmappedError
	if errors.As(err, &unmapped) && strings.HasSuffix(unmapped.cause.Error(), mmapFailed+syscall.ENOMEM.Error()) {
		return ConditionUnmapped, "ENOMEM"
	}
	if errors.Is(err, bolterrors.ErrInvalidMapping) {
		return ConditionUnmapped, ""
	}
	if errors.Is(err, deploy.ErrStoreFull) {
		switch {
		case errors.Is(err, syscall.EDQUOT):
			return ConditionRefusesWrites, "EDQUOT"
		case errors.Is(err, syscall.EFBIG):
			return ConditionRefusesWrites, "EFBIG"
		}
		return ConditionRefusesWrites, "ENOSPC"
	}
	if errors.Is(err, deploy.ErrStoreClosed) || errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return ConditionClosed, ""
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return ConditionStalled, ""
	}
	if name, ok := ioErrno(err); ok {
		return ConditionIOError, name
	}
	return ConditionFailed, ""
}

// ioErrnos are the errnos of a failed read or write of the file that
// HealthCondition names, by the names of C's errno.h.
var ioErrnos = []struct {
	errno syscall.Errno
	name  string
}{
	{syscall.EIO, "EIO"},
	{syscall.EROFS, "EROFS"},
	{syscall.ESTALE, "ESTALE"},
	{syscall.ENXIO, "ENXIO"},
	{syscall.ENODEV, "ENODEV"},
	{syscall.EACCES, "EACCES"},
	{syscall.EPERM, "EPERM"},
}

// ioErrno reports whether err is the file system's failure of a read or
// write of the file, an errno, and names it when it is one of ioErrnos.
// bbolt reports a failed resize or sync of the file in text alone (see
// refusal): that text, ending with one of ioErrnos', is read as it.
func ioErrno(err error) (name string, ok bool) {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		for _, e := range ioErrnos {
			if e.errno == errno {
				return e.name, true
			}
		}
		return "", true
	}
	msg := err.Error()
	if !strings.Contains(msg, "file resize error: ") && !strings.Contains(msg, "file sync error: ") {
		return "", false
	}
	for _, e := range ioErrnos {
		if strings.HasSuffix(msg, ": "+e.errno.Error()) {
			return e.name, true
		}
	}
	return "", false
}

// Writable returns the error of the last write when its disk, quota or
// file-size limit refused it (wrapping deploy.ErrStoreFull), until a
// write as large succeeds (see run); nil otherwise. While writes are refused it tries one of
// its own (see probe), at most once every ProbeEvery, and returns that
// write's error: a bot nobody commands writes nothing else, and would be
// called refusing long after space was freed. A store that takes writes
// is not written to.
func (s *Store) Writable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("check state store: %w", err)
	}
	p := s.refusing.Load()
	if p == nil {
		return nil
	}
	last, now := s.tried.Load(), s.now().UnixNano()
	if now-last < int64(ProbeEvery) || !s.tried.CompareAndSwap(last, now) {
		return *p
	}
	return s.probe(ctx)
}

// ProbeEvery is how often, at most, Writable tries a write of its own
// while the store refuses writes.
const ProbeEvery = 5 * time.Second

// bucketProbe holds Writable's write alone, and only until the next
// transaction removes it.
var bucketProbe = []byte("probe")

// maxProbeSize bounds Writable's write, which a refused write of more
// (a record with a long output) is tried with.
const maxProbeSize = 4 << 20

// probe writes, in a bucket of its own, one value the size of the pages
// the refused write had taken, then removes the bucket: no data of the
// store's is touched, and the file keeps nothing of it but free pages.
// The value is that large because pages bbolt freed within the file are
// written again without the disk giving more room, or the file growing:
// a write of a few bytes fits there on a full disk, and would call the
// store writable while every command that records fails; one value
// takes pages in a single run, which, when the refused write's did not
// fit in those, must be new ones. Either transaction refused is the
// store refusing writes again.
func (s *Store) probe(ctx context.Context) error {
	size := min(s.refusedSize.Load(), maxProbeSize)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketProbe)
		if err != nil {
			return err
		}
		return b.Put(bucketProbe, make([]byte, size))
	})
	if err == nil {
		err = s.update(ctx, func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketProbe) })
	}
	if errors.Is(err, deploy.ErrStoreFull) {
		// The next try asks for what the command needed, not for
		// what this one did.
		s.refusedSize.Store(size)
	}
	return err
}

// refusedError says that the file holds no store Switchman can use: it is
// empty, or something else. why says which; advice what to do, when not
// the default: restore it, or remove it.
type refusedError struct {
	path   string
	why    string
	advice string
}

func (e *refusedError) Error() string {
	advice := e.advice
	if advice == "" {
		advice = "restore it from a backup, or remove it to start a new, empty store"
	}
	return fmt.Sprintf("state store %s %s: %s", e.path, e.why, advice)
}

// Open opens the store in the file at path, creating the file (0600) and
// its directory (0700) if needed, unless opt.ReadOnly: then a missing file
// is an error of code NotFound. An empty file is refused, not made a new
// store (see create), and so is one anyone may write (see checkMode) or
// one in a directory anyone may write (see checkDirs). If
// another process has the file open (to write, or this one does), it
// gives up after about a second with an error (code Unavailable) saying
// so. It reads every page of the file, and refuses a damaged one. Opened
// to write, it removes what an interrupted creation of the store left
// next to it (see sweepTemps). It is OpenContext without an end: on a
// stalled disk it waits as long as the disk does.
func Open(path string, opt Options) (*Store, error) {
	return OpenContext(context.Background(), path, opt)
}

// OpenContext is Open that waits for the disk no longer than ctx: a bot
// started on a stalled disk (a hung network volume) then stops when told
// to, rather than hang until it is killed. Its error then wraps the
// context's. Creating the file and bbolt's opening of it (see openFile),
// its first write (the schema, and the fencing counters no lease holds)
// and its read of every page are all bounded so. A context that has
// ended already creates nothing.
func OpenContext(ctx context.Context, path string, opt Options) (*Store, error) {
	if ctx.Err() != nil {
		return nil, fmt.Errorf("open state store %s: %w", path, context.Cause(ctx))
	}
	var newFile string // where create makes the store, if it is missing
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && opt.ReadOnly:
		return nil, errs.Wrap(errs.NotFound, err, "state store %s does not exist", path)
	case errors.Is(err, fs.ErrNotExist):
		dirs, err := checkDirs(path)
		if err != nil {
			return nil, err
		}
		warnDirs(path, dirs, opt)
		// Through a dangling symlink, the store is made where it leads
		// (a link into a volume mounted empty): linked into place under
		// the link's own name, it would replace the link.
		_, newFile, err = storeDirs(path)
		if err != nil {
			return nil, err
		}
	case errors.Is(err, syscall.ENOTDIR) && !opt.ReadOnly:
		// A file where a directory on the way should be.
		if cerr := creatable(path, path, botRunsAs); cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("open state store: %w", err)
	case err != nil:
		if rerr := reachError(path, opt.ReadOnly, err); rerr != nil {
			return nil, rerr
		}
		return nil, fmt.Errorf("open state store: %w", err)
	default:
		if err := checkFile(path, info, opt); err != nil {
			return nil, err
		}
	}
	db, err := openFile(ctx, path, newFile, opt.ReadOnly)
	if err != nil {
		return nil, err
	}
	var (
		damaged *damagedError
		refused *refusedError
	)
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{db: db, path: path, now: now, log: log, leases: make(map[string]leaseEntry), ended: make(map[string]time.Time), acquiring: make(chan struct{}, 1), trimBatch: maxTrimBatch, closeDone: make(chan struct{}), closeWait: closeWait}
	if opened != nil {
		opened(db)
	}
	if opt.ReadOnly {
		err = s.view(ctx, checkSchema)
	} else {
		// No lease is held yet: every run's fencing counter goes.
		err = s.update(ctx, func(tx *bolt.Tx) error {
			if err := initSchema(tx); err != nil {
				return err
			}
			_, err := pruneRunFences(tx, nil)
			return err
		})
	}
	if err == nil {
		err = s.view(ctx, checkPages)
	}
	if err != nil {
		if !errors.As(err, &damaged) && !errors.As(err, &refused) {
			err = fmt.Errorf("open state store %s: %w", path, err)
		}
		// Close, not the file's: a write given up on a stalled disk
		// holds bbolt's writer, which closing the file waits for.
		return nil, errors.Join(err, s.Close())
	}
	if !opt.ReadOnly {
		// Next to the file itself, where create wrote them, when path
		// is a symlink.
		file := path
		if real, err := filepath.EvalSymlinks(path); err == nil {
			file = real
		}
		sweepTemps(file, opt.Log)
	}
	return s, nil
}

// openFile creates the store at newFile, unless it is "", then opens the
// file at path with bbolt (see openBolt), and returns once ctx ends if
// they have not: neither makes a call a context can end, and on a stalled
// disk either waits as long as the disk does. What they do after that is
// left to finish: a store created is complete, as create makes it, and a
// file opened is closed at once.
func openFile(ctx context.Context, path, newFile string, readOnly bool) (*bolt.DB, error) {
	type result struct {
		db  *bolt.DB
		err error
	}
	done := make(chan result, 1)
	go func() {
		if newFile != "" {
			if err := create(newFile); err != nil {
				if cerr := createError(path, err); cerr != nil {
					err = cerr
				} else {
					err = fmt.Errorf("create state store %s: %w", path, err)
				}
				done <- result{err: err}
				return
			}
		}
		db, err := openBolt(path, readOnly)
		done <- result{db, openError(path, readOnly, err)}
	}()
	select {
	case r := <-done:
		return r.db, r.err
	case <-ctx.Done():
	}
	go func() {
		if r := <-done; r.db != nil {
			// Nobody uses it, and its lock would keep the
			// next start out.
			r.db.Close()
		}
	}()
	if errors.Is(ctx.Err(), context.Canceled) {
		// Told to stop (SIGTERM): nothing says the disk was slow.
		return nil, fmt.Errorf("state store %s had not opened when the call was cancelled: %w", path, ctxErr(ctx))
	}
	return nil, fmt.Errorf("state store %s did not open in time: %w", path, ctxErr(ctx))
}

// openError is the error of Open for err, openBolt's, with readOnly
// Open's.
func openError(path string, readOnly bool, err error) error {
	var (
		damaged *damagedError
		refused *refusedError
		notFile *notFileError
	)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bolterrors.ErrTimeout):
		return inUseError(path)
	case errors.As(err, &damaged), errors.As(err, &refused), errors.As(err, &notFile):
		return err
	}
	if err := accessError(path, readOnly, err); err != nil {
		return err
	}
	return fmt.Errorf("open state store %s: %w", path, err)
}

// Check returns the error Open would give for the file at path from its
// size and mode and its directories' modes alone: an empty file, one
// anyone may write, or one in a directory anyone may write (see
// checkDirs). A missing file is no error (Open creates it) unless its
// directory is refused, or this user could not create it there, nor a
// file where a directory on its way should be, which Open refuses with
// the same error (wrapping ErrNotCreatable: a config is often checked
// where the bot does not run, and its check may only warn of it). Besides metadata it reads the file's bbolt meta
// pages, and refuses a file without a valid one (garbage) or shorter
// than they say, as Open does (see checkLength), and the root of its
// tree, and refuses another program's bbolt file or a store of another
// schema version, as Open does (see checkRoot); a file it may not read
// (the config checked as another user) is left to Open. It neither opens the store, takes its lock, changes nor creates
// anything, so that the config can be checked while the bot runs. It
// writes in log (nil: nowhere) the warnings Open would write on opening
// the store to write.
func Check(path string, log *slog.Logger) error {
	opt := Options{Log: log}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		dirs, err := checkDirs(path)
		if err != nil {
			return err
		}
		warnDirs(path, dirs, opt)
		_, file, err := storeDirs(path)
		if err != nil {
			return err
		}
		return creatable(path, file, checkRunsAs)
	case errors.Is(err, syscall.ENOTDIR):
		// A file where a directory on the way should be: no store is
		// there to judge, and none could be made.
		return creatable(path, path, checkRunsAs)
	case err != nil:
		if rerr := reachError(path, true, err); rerr != nil {
			return rerr
		}
		return fmt.Errorf("check state store: %w", err)
	}
	if err := checkFile(path, info, opt); err != nil {
		return err
	}
	if err := warnAccess(path, log); err != nil {
		return err
	}
	return checkHeader(path)
}

// checkFile refuses what the file's metadata, and its directories', tell
// is no usable store, and warns as checkMode and warnDirs do.
func checkFile(path string, info fs.FileInfo, opt Options) error {
	if info.IsDir() {
		// The state directory named instead of the file in it: bbolt
		// would call it damaged, and the advice to remove it would
		// send the operator to delete the directory.
		return fmt.Errorf("state store %s is a directory: name the database file in it, such as %s", path, filepath.Join(path, "switchman.db"))
	}
	if !info.Mode().IsRegular() {
		return &notFileError{path: path, mode: info.Mode()}
	}
	dirs, err := checkDirs(path)
	if err != nil {
		return err
	}
	if info.Size() == 0 {
		// What a full disk, a restore cut short or `> file` leaves;
		// bbolt would make it a new store, every lock lifted.
		return &refusedError{path: path, why: "is empty (0 bytes), its locks and history gone"}
	}
	if err := checkMode(path, info.Mode().Perm(), opt); err != nil {
		return err
	}
	warnDirs(path, dirs, opt)
	return nil
}

// notFileError says that the store's path names something other than a
// file: a named pipe, a socket, a device, which the file system gives no
// size (0), and which is no empty store to restore or remove, as
// refusedError would advise. Opening a pipe to read waits for a writer,
// and reads whatever one writes.
type notFileError struct {
	path string
	mode fs.FileMode
}

func (e *notFileError) Error() string {
	kind := "of another kind"
	switch {
	case e.mode&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case e.mode&fs.ModeSocket != 0:
		kind = "a socket"
	case e.mode&fs.ModeCharDevice != 0:
		kind = "a character device"
	case e.mode&fs.ModeDevice != 0:
		kind = "a block device"
	}
	return fmt.Sprintf("state store %s is %s, not a regular file: name the bot's database file, or a path where there is none yet to start a new, empty store", e.path, kind)
}

// checkHeader refuses what checkLength and checkRoot refuse, for Check: a
// file it may not read is left to Open. It is a plain read: bbolt's lock is an
// flock, which this neither takes nor waits for. A running bot's file
// passes: bbolt grows the file before a meta page counts the new pages,
// and writes one meta page at a time, so one of the two is whole.
func checkHeader(path string) error {
	err := checkLength(path)
	if err == nil {
		err = checkRoot(path)
	}
	if err != nil && !errors.Is(err, fs.ErrPermission) {
		return err
	}
	return nil
}

// checkMode refuses a file anyone may write, as the bot creates none:
// whoever can write it can lift deploy locks, grant themselves any
// permission and rewrite the audit trail, and a copy restored with a loose
// mode keeps it. A file its group may write is used, and said in opt.Log:
// Kubernetes' fsGroup makes every file of a volume so at each mount, for
// the pod's group alone, and refusing it would stop the bot at every
// start there. Reading it is refused nobody, as `bot audit` may be run by
// another user; opened to write, a file others may read is said in
// opt.Log too: its audit trail and history are not secrets, and the bot
// does not change a mode someone chose.
//
// Opened to write, a file nobody may write (0444, 0400) is refused: it was
// made so (a copy from read-only media, or on purpose), not by the bot,
// which a bot running as root would write all the same, and which one
// running as the file's owner could not open, told no more than
// "permission denied".
func checkMode(path string, perm fs.FileMode, opt Options) error {
	if perm&0o002 != 0 {
		return fmt.Errorf("state store %s is writable by anyone (mode %04o): whoever can write it can lift deploy locks and rewrite the audit trail: chmod 600 %s", path, perm, path)
	}
	if !opt.ReadOnly && perm&0o222 == 0 {
		return fmt.Errorf("state store %s is read-only (mode %04o): the bot writes its locks, grants and audit trail to it: chmod 600 %s (bot audit reads it as it is)", path, perm, path)
	}
	if opt.ReadOnly || opt.Log == nil {
		return nil
	}
	mode := fmt.Sprintf("%04o", perm)
	if perm&0o020 != 0 {
		opt.Log.Warn("state store writable by its group: its members can lift deploy locks and rewrite the audit trail (chmod 600 keeps it to the bot)", "path", path, "mode", mode)
	}
	if perm&0o044 != 0 {
		opt.Log.Warn("state store readable by group or others: its audit trail and deploy history are theirs to read (chmod 600 keeps them to the bot)", "path", path, "mode", mode)
	}
	return nil
}

// storeDir is a directory whose writers can put another file in the
// store's place, and its mode.
type storeDir struct {
	dir  string
	mode fs.FileMode
}

// checkDirs refuses a store whose directory anyone may write without the
// sticky bit: whoever can write it can rename the store file away and put
// their own in its place, whatever the file's mode, lifting deploy locks
// and rewriting the audit trail, or remove it for the bot to start a new,
// empty store. With the sticky bit (1777, a shared temporary
// directory's) only the file's owner may rename or remove it. It returns
// the directories it checked, for warnDirs.
//
// When path is a symlink, the directory of each link it leads through
// and of the file it leads to count as well (see storeDirs): the file is
// replaced there. The directories above them do not, though one anyone
// may write without the sticky bit lets them rename the store's
// directory away and put their own there: refusing it would stop, at
// their first start after an upgrade, bots that keep their store in a
// directory of their own on a volume made 0777, which is where the admin
// chose to put it. A directory not there yet is no error: create makes
// it 0700.
func checkDirs(path string) ([]storeDir, error) {
	names, _, err := storeDirs(path)
	if err != nil {
		return nil, err
	}
	var (
		dirs  []storeDir
		infos []fs.FileInfo
	)
	for _, dir := range names {
		info, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return nil, fmt.Errorf("check state store directory: %w", err)
		}
		if slices.ContainsFunc(infos, func(i fs.FileInfo) bool { return os.SameFile(i, info) }) {
			continue // the same directory, named otherwise
		}
		infos = append(infos, info)
		mode := info.Mode()
		if mode.Perm()&0o002 != 0 && mode&fs.ModeSticky == 0 {
			where := ""
			if dir != filepath.Dir(path) {
				where = ", where the symlink " + path + " leads,"
			}
			return nil, fmt.Errorf("state store directory %s%s is writable by anyone (mode %04o, no sticky bit): whoever can write it can replace the store file with their own, lifting deploy locks and rewriting the audit trail: chmod o-w %s", dir, where, mode.Perm(), dir)
		}
		dirs = append(dirs, storeDir{dir: dir, mode: mode})
	}
	return dirs, nil
}

// warnDirs says in opt.Log, when the store is opened to write, which of
// dirs its group may write without the sticky bit: its members can put
// their own file in the store's place. Not refused, as Kubernetes'
// fsGroup makes a volume's directories so at each mount (2775), for the
// pod's group alone, and refusing it would stop the bot at every start
// there; said, as checkMode says a file its group may write.
func warnDirs(path string, dirs []storeDir, opt Options) {
	if opt.ReadOnly || opt.Log == nil {
		return
	}
	for _, d := range dirs {
		if d.mode.Perm()&0o020 != 0 && d.mode&fs.ModeSticky == 0 {
			opt.Log.Warn("state store directory writable by its group: its members can replace the store file with their own, lifting deploy locks and rewriting the audit trail (chmod g-w DIR keeps it to the bot)",
				"dir", d.dir, "path", path, "mode", fmt.Sprintf("%04o", d.mode.Perm()))
		}
	}
}

// maxLinks bounds the symlinks storeDirs follows, as the kernel bounds
// them (ELOOP).
const maxLinks = 40

// storeDirs returns the directories whose writers decide which file the
// store at path is: the one holding path and, when path is a symlink, the
// one holding each further link and the file the last leads to (missing
// yet, maybe: Open creates it there). file is that last name: path itself
// unless path is a symlink.
func storeDirs(path string) (dirs []string, file string, err error) {
	dirs = []string{filepath.Dir(path)}
	name := path
	for range maxLinks {
		info, err := os.Lstat(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return dirs, name, nil
		case err != nil:
			return nil, "", fmt.Errorf("check state store directory: %w", err)
		case info.Mode()&fs.ModeSymlink == 0:
			return dirs, name, nil
		}
		target, err := os.Readlink(name)
		if err != nil {
			return nil, "", fmt.Errorf("check state store directory: %w", err)
		}
		if !filepath.IsAbs(target) {
			// Relative to the directory holding the link, as the
			// kernel finds it: a ".." leaves the directory a
			// symlinked one leads to, not the one the path names.
			dir, err := filepath.EvalSymlinks(filepath.Dir(name))
			if err != nil {
				return nil, "", fmt.Errorf("check state store directory: %w", err)
			}
			target = filepath.Join(dir, target)
		}
		name = target
		dirs = append(dirs, filepath.Dir(name))
	}
	return nil, "", fmt.Errorf("check state store %s: too many levels of symbolic links", path)
}

// create writes a new store at path that did not exist. It is written
// under a temporary name in the same directory and linked into place once
// complete, so a start that stops while creating it (a crash, a full
// disk) leaves no file at path, never an empty or half-made one: an empty
// file at path is never the bot's own, and Open refuses it. A temporary
// file may be left behind then, named after path (.NAME.new-…), which a
// later Open removes (see sweepTemps). If
// another process created the store meanwhile, that one is kept.
func create(path string) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*") // 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if rmErr := os.Remove(tmp); !errors.Is(rmErr, fs.ErrNotExist) {
			err = errors.Join(err, rmErr) // gone if renamed into place
		}
	}()
	if err := f.Close(); err != nil {
		return err
	}
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: openTimeout})
	if err != nil {
		return err
	}
	if err := errors.Join(db.Update(initSchema), db.Close()); err != nil {
		return err
	}
	err = linkStore(tmp, path)
	switch {
	case errors.Is(err, fs.ErrExist):
		return nil
	case errors.Is(err, errors.ErrUnsupported) || errors.Is(err, fs.ErrPermission):
		// A file system without hard links (vfat, some network
		// ones): rename, which would replace a store another
		// process created in the same instant.
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	return syncDir(dir)
}

// tempMaxAge is how long since its last change a temporary file of
// create's must be left before sweepTemps removes it.
const tempMaxAge = time.Minute

// sweepTemps removes the temporary files create leaves next to path when
// a start stops while creating the store (.NAME.new-DIGITS, os.CreateTemp's
// names), those not changed for tempMaxAge, and says so in log. It is run
// once the store is open to write, holding the file's lock, and removes
// rather than only reports, as nothing else would and each crash while
// creating leaves one more. It is safe because:
//   - create writes its file within moments (open, one commit, close,
//     link): one a minute old is no other start's still being created.
//     Were it, removing it would fail that start (its link finds no file),
//     not lose data: it is a new, empty store, nobody's yet. A younger one
//     is left, and logged, for the next start to remove.
//   - a leftover may be a second name of the store itself (a crash after
//     the link, before the temporary name is removed): removing a name
//     leaves the store at path as it is. Such a one is removed whatever
//     its age, which is the store's last write's.
//   - only regular files of this store's own name are touched, never a
//     symlink, a directory, or another store's leftovers in the same
//     directory.
//
// The ages are the system clock's, as the files' times are, not the
// store's clock (Options.Now). A leftover that cannot be removed is
// logged and left: it does not stop the bot.
func sweepTemps(path string, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, prefix := filepath.Dir(path), "."+filepath.Base(path)+".new-"
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Warn("state store: cannot list its directory for temporary files left by an interrupted creation", "dir", dir, "err", err)
		return
	}
	store, err := os.Stat(path)
	if err != nil {
		log.Warn("state store: cannot read it to tell its temporary files from it", "path", path, "err", err)
		return
	}
	now := time.Now()
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || suffix == "" || strings.Trim(suffix, "0123456789") != "" || !e.Type().IsRegular() {
			continue
		}
		tmp := filepath.Join(dir, e.Name())
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile: its creation ended
		}
		if err != nil {
			log.Warn("state store: cannot read a temporary file left by an interrupted creation", "path", tmp, "err", err)
			continue
		}
		age := now.Sub(info.ModTime()).Truncate(time.Second)
		if age < tempMaxAge && !os.SameFile(info, store) {
			log.Info("state store: temporary file of a store being created, left as another process may be creating it", "path", tmp, "age", age)
			continue
		}
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("state store: cannot remove a temporary file left by an interrupted creation", "path", tmp, "err", err)
			continue
		}
		log.Warn("state store: removed a temporary file left by an interrupted creation", "path", tmp, "age", age)
	}
}

// linkStore is os.Link; tests make it fail.
var linkStore = os.Link

// syncDir makes the entries of dir durable: the bot writes locks to the
// store once Open returns, and a crash that undid its name would take them
// with it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// openBolt opens the bbolt file at path. bbolt panics on a file whose
// pages it cannot read (it reads the free page list here); that is
// returned as a *damagedError. The file is closed then, but bbolt's
// mapping of it, out of reach, keeps it locked until the process exits,
// which is what a bot that cannot open its store does.
func openBolt(path string, readOnly bool) (db *bolt.DB, err error) {
	if opening != nil {
		opening(path)
	}
	if err := checkLength(path); err != nil {
		return nil, err
	}
	var file *os.File
	opt := &bolt.Options{Timeout: openTimeout, ReadOnly: readOnly, OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
		// Only create makes a store: a file gone since Open saw it
		// is an error, not a new empty store. A named pipe put in
		// its place since is refused, not waited on (see
		// checkLength).
		f, err := os.OpenFile(name, flag&^os.O_CREATE|syscall.O_NONBLOCK, perm)
		if err != nil {
			return nil, err
		}
		if err := checkRegular(f, path); err != nil {
			return nil, errors.Join(err, f.Close())
		}
		file = f
		return f, nil
	}}
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				file.Close()
			}
			db, err = nil, &damagedError{path: path, cause: fmt.Sprint(r)}
		}
	}()
	return bolt.Open(path, 0o600, opt)
}

// checkLength refuses a file shorter than the pages its meta page counts:
// a copy taken while the bot was writing it, or one cut short by a full
// disk. bbolt maps the file and reads those pages through the mapping;
// past the end of the file the read is a SIGBUS, which no recover stops,
// and the process would die with a stack trace instead of saying the file
// is damaged. It refuses a file without a valid meta page too, which bbolt
// would refuse with "invalid database" or "file size too small", naming
// neither the file nor what to do.
//
// It opens the file without waiting (O_NONBLOCK, which a regular file
// ignores): a named pipe put in place of the file since Open looked at
// it would wait for a writer for ever; it is refused, as is a device.
func checkLength(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // bbolt creates it, or says it is missing
	}
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return &notFileError{path: path, mode: info.Mode()}
	}
	m, ok := boltMeta(f)
	if !ok {
		return &refusedError{path: path, why: "is not a Switchman state store, or is damaged (no valid bbolt meta page)"}
	}
	// Compared without multiplying: a count whose size in bytes
	// overflows would pass, and bbolt walk page numbers up to it.
	if m.pages < 0 || m.pages > math.MaxInt64/m.pageSize {
		return &damagedError{path: path, cause: fmt.Sprintf("its meta page counts %d pages of %d bytes, more than a file can hold", uint64(m.pages), m.pageSize)}
	}
	if m.pages > info.Size()/m.pageSize {
		return &damagedError{path: path, cause: fmt.Sprintf("it is %d bytes long, and its pages take %d: it was cut short (copied while the bot was writing it?)", info.Size(), m.pageSize*m.pages)}
	}
	return nil
}

// checkRegular refuses f, opened at path, unless it is a regular file:
// what was opened is judged, not what a look at path saw before.
func checkRegular(f *os.File, path string) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return &notFileError{path: path, mode: info.Mode()}
	}
	return nil
}

// metaPage is what boltMeta reads of a meta page.
type metaPage struct {
	pageSize int64
	pages    int64 // the high-water mark: the number of pages in use
	root     uint64
	txid     uint64
}

// boltMeta reads bbolt's two meta pages as bbolt does (internal/common's
// Meta, in the machine's byte order, after a 16-byte page header) and
// returns the newer valid one; ok is false when neither is valid.
func boltMeta(f *os.File) (m metaPage, ok bool) {
	const (
		header  = 16
		magic   = 0xED0CDAED
		version = 2
		sumEnd  = 56 // the checksum covers the fields before it
		metaLen = 64
	)
	read := func(off int64) (m metaPage, valid bool) {
		b := make([]byte, metaLen)
		if _, err := f.ReadAt(b, off+header); err != nil {
			return m, false
		}
		e := binary.NativeEndian
		h := fnv.New64a()
		h.Write(b[:sumEnd])
		if e.Uint32(b[0:]) != magic || e.Uint32(b[4:]) != version || e.Uint64(b[sumEnd:]) != h.Sum64() {
			return m, false
		}
		// The root bucket's page id follows the flags; the
		// high-water mark and the transaction id follow the free
		// list's page id.
		return metaPage{pageSize: int64(e.Uint32(b[8:])), root: e.Uint64(b[16:]), pages: int64(e.Uint64(b[40:])), txid: e.Uint64(b[48:])}, true
	}
	offsets := []int64{0}
	if first, valid := read(0); valid {
		offsets = append(offsets, first.pageSize)
	} else {
		// Where bbolt looks for the second when the first is not
		// valid: at every page size from 1 KiB to 16 MiB.
		for i := range 15 {
			offsets = append(offsets, 1024<<i)
		}
	}
	for _, off := range offsets {
		got, valid := read(off)
		if valid && got.pageSize > 0 && (!ok || got.txid > m.txid) {
			m, ok = got, true
		}
	}
	return m, ok
}

// storeRoot is what the root of a bbolt file holds that tells a
// Switchman store from another program's file: read by bbolt when Open
// opens it (rootOf), from its pages by Check (readRoot).
type storeRoot struct {
	first  []byte // the name of its first bucket; nil: it has none
	meta   bool   // it has a bucket named meta
	schema []byte // the schema version in it; nil: none
}

func rootOf(tx *bolt.Tx) storeRoot {
	var r storeRoot
	r.first, _ = tx.Cursor().First()
	if meta := tx.Bucket(bucketMeta); meta != nil {
		r.meta, r.schema = true, meta.Get(keySchema)
	}
	return r
}

// foreignAdvice ends the refusal of another program's bbolt file: it is
// that program's data, which neither a restore from the bot's backups nor
// its removal is for.
const foreignAdvice = "it is left as it is: name the bot's own state store file, or a path where there is none yet to start a new, empty store"

// refusal returns the error Open gives for a file whose root holds r, or
// nil for a store of this schema version and, unless readOnly, for a
// bbolt file with nothing in it, all a store's creation by an earlier
// version could leave before its first write, which Open makes a store.
// A file with buckets and no schema version is another program's, and
// refused, a bucket "meta" of its own included: the store would write in
// it, mixing its data with that program's.
func (r storeRoot) refusal(path string, readOnly bool) error {
	switch {
	case r.meta && r.schema == nil:
		return &refusedError{path: path, why: fmt.Sprintf("is not a Switchman state store: it is a bbolt database with a bucket %q without a schema version in it", bucketMeta), advice: foreignAdvice}
	case r.meta && string(r.schema) != schemaVersion:
		return &refusedError{path: path, why: fmt.Sprintf("has schema version %q, this Switchman understands %q", r.schema, schemaVersion), advice: "run the version of Switchman that wrote it, or a later one"}
	case r.meta:
		return nil
	case r.first != nil:
		return &refusedError{path: path, why: fmt.Sprintf("is not a Switchman state store: it is a bbolt database with a bucket %q, and no schema version", r.first), advice: foreignAdvice}
	case readOnly:
		return &refusedError{path: path, why: "is not a Switchman state store (no schema version)"}
	}
	return nil
}

// initSchema makes a new store of a bbolt file with nothing in it, and
// creates in a store of this version the buckets an earlier one did not
// have; it refuses any other file (see storeRoot.refusal).
func initSchema(tx *bolt.Tx) error {
	if err := rootOf(tx).refusal(tx.DB().Path(), false); err != nil {
		return err
	}
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	if meta.Get(keySchema) == nil {
		if err := meta.Put(keySchema, []byte(schemaVersion)); err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketRecords, bucketRecordIndex, bucketLocks, bucketAudit, bucketFences, bucketOnce, bucketOnceExpiry, bucketGrants, bucketPresence, bucketSignals} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// checkSchema refuses, to read, a file of another schema version, or
// none (see storeRoot.refusal).
func checkSchema(tx *bolt.Tx) error {
	return rootOf(tx).refusal(tx.DB().Path(), true)
}

// checkPages walks every page of the file, so that a damaged one stops the
// bot at start rather than a deploy midway, when something first reads
// it. It reads the whole file: about 0.35 s for 300 MB in the page cache.
func checkPages(tx *bolt.Tx) error {
	var problems []string
	for err := range tx.Check() { // drained: Check's goroutine sends them all
		if len(problems) < 3 {
			problems = append(problems, err.Error())
		} else if len(problems) == 3 {
			problems = append(problems, "…")
		}
	}
	if len(problems) > 0 {
		return &damagedError{path: tx.DB().Path(), cause: strings.Join(problems, "; ")}
	}
	return nil
}

// update runs fn in a read-write transaction, view in a read-only one.
// A panic of bbolt's on a damaged page becomes a *damagedError, in an
// *errs.Error that people are shown, which every later call returns too:
// what a damaged file says is not trusted, a lock missing from it least
// of all. The transaction is rolled back, as for an error.
//
// They return when ctx ends, even if the transaction has not: a stalled
// disk holds bbolt's one writer in fdatasync, and every write queued
// behind it, for as long as it stalls. A write that has not begun then
// never will, and its error wraps deploy.ErrStoreNotRun; one begun goes
// on without its caller, and may still be made, as with a Redis that
// does not answer in time; fn must leave nothing its caller reads after
// an error.
func (s *Store) update(ctx context.Context, fn func(*bolt.Tx) error) error {
	return s.tx(ctx, true, fn)
}

func (s *Store) view(ctx context.Context, fn func(*bolt.Tx) error) error {
	return s.tx(ctx, false, fn)
}

func (s *Store) tx(ctx context.Context, write bool, fn func(*bolt.Tx) error) error {
	if d := s.damage.Load(); d != nil {
		return d
	}
	if u := s.unmapped.Load(); u != nil {
		return u
	}
	if s.closed.Load() {
		// Not queued behind a write on a stalled disk, which Close
		// gave up waiting for.
		return fmt.Errorf("state store %s: %w", s.path, deploy.ErrStoreClosed)
	}
	if ctx.Done() == nil {
		return s.run(write, fn)
	}
	// A write given up while it waits its turn behind one on a stalled
	// disk is never made, and its caller is told that nothing changed:
	// made once the disk answers, it would undo what was done since
	// on the strength of its failure. The gate looks at ctx itself: the
	// disk may answer, and the write get its turn, before this
	// goroutine has seen ctx end, and a write begun after its context
	// ended would be made with its caller told it may not be.
	var began atomic.Int32 // gate: waiting, begun or given up
	gated := func(tx *bolt.Tx) error {
		if write && ctx.Err() != nil {
			began.CompareAndSwap(waiting, givenUp)
		}
		if !began.CompareAndSwap(waiting, begun) {
			return errGivenUp
		}
		return fn(tx)
	}
	done := make(chan error, 1)
	go func() { done <- s.run(write, gated) }()
	select {
	case err := <-done:
		return s.givenUp(ctx, err)
	case <-ctx.Done():
	}
	select {
	case err := <-done: // finished as ctx ended
		return s.givenUp(ctx, err)
	default:
	}
	if write && (began.CompareAndSwap(waiting, givenUp) || began.Load() == givenUp) {
		return s.notRun(ctx)
	}
	return s.noAnswer(ctx, write)
}

// noAnswer is the error of a transaction begun whose ctx ended before it
// did: the disk holding the file did not answer in time, as a stalled
// one does not, or the call was cancelled first (see unanswered), and a
// write may still be made once it answers. It wraps ctx's error and its
// cause, and its message, for people, says so: not
// deploy.StoreUnreachable's "state store unreachable", Redis's words,
// which deploy.StoreReason gives an error without a message of its own:
// the file is local, and nothing was tried to reach.
func (s *Store) noAnswer(ctx context.Context, write bool) error {
	if write {
		return errs.Wrap(errs.Unavailable, ctxErr(ctx), "state store %s %s, the change may still be made", s.path, unanswered(ctx))
	}
	return errs.Wrap(errs.Unavailable, ctxErr(ctx), "state store %s %s", s.path, unanswered(ctx))
}

// unanswered says why the file had not answered when ctx ended: its time
// ran out, its disk perhaps stalled; or it was cancelled (a command
// abandoned, the bot stopping), with its cause when another, which says
// nothing of the disk, as notBegun tells the two apart.
func unanswered(ctx context.Context) string {
	err := ctx.Err()
	if !errors.Is(err, context.Canceled) {
		return "did not answer in time (" + mayBeStalled + ")"
	}
	said := "had not answered when the call was cancelled"
	if cause := context.Cause(ctx); cause != nil && cause != err {
		said += " (" + cause.Error() + ")"
	}
	return said
}

// mayBeStalled is what a store that did not answer in time says of its
// file's disk.
const mayBeStalled = "its disk may be stalled"

// notRun is the error of a write given up, as ctx ended, while it waited
// its turn behind another on the disk: it was never begun, and never will
// be. It wraps deploy.ErrStoreNotRun and ctx's error (and its cause, when
// another), as notBegun does, and says which ended it: its time running
// out, or a cancel (see unanswered), which says nothing of the disk.
func (s *Store) notRun(ctx context.Context) error {
	said := "did not answer in time"
	if errors.Is(ctx.Err(), context.Canceled) {
		said = unanswered(ctx)
	}
	return errs.Wrap(errs.Unavailable, fmt.Errorf("%w: %w", deploy.ErrStoreNotRun, ctxErr(ctx)),
		"state store %s %s: the write waited behind another on its disk, and is dropped", s.path, said)
}

// ctxErr is ctx's error, wrapping its cause too when that is another.
func ctxErr(ctx context.Context) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("%w: %w", err, cause)
	}
	return err
}

// notBegun is the error of a write called with ctx ended already, refused
// before anything of it is begun: it wraps deploy.ErrStoreNotRun and
// ctx's error (and its cause, when another), as deploy.StoreNotRun does.
// Its message says what is wrong with the file when something is (found
// damaged, no longer mapped, closed as the bot stops), as a write in time
// would be told, or else that the write was not begun, and why; not
// deploy.StoreNotRun's "state store unreachable", Redis's words: the file
// is local, and nothing was tried to reach.
func (s *Store) notBegun(ctx context.Context) error {
	err := ctx.Err()
	why := "its time ran out"
	if errors.Is(err, context.Canceled) {
		why = "it was cancelled"
	}
	if cause := context.Cause(ctx); cause != nil && cause != err {
		why += " (" + cause.Error() + ")"
	}
	err = fmt.Errorf("%w: %w", deploy.ErrStoreNotRun, ctxErr(ctx))
	if d := s.damage.Load(); d != nil {
		return fmt.Errorf("%w: %w", d, err)
	}
	if u := s.unmapped.Load(); u != nil {
		return fmt.Errorf("%w: %w", u, err)
	}
	if s.closed.Load() {
		return fmt.Errorf("state store %s: %w: %w", s.path, deploy.ErrStoreClosed, err)
	}
	return errs.Wrap(errs.Unavailable, err, "state store %s was not written: %s before the write began", s.path, why)
}

// givenUp returns err, the error of a transaction, or notRun's error
// when its gate gave it up as ctx ended before it began.
func (s *Store) givenUp(ctx context.Context, err error) error {
	if errors.Is(err, errGivenUp) {
		return s.notRun(ctx)
	}
	return err
}

// States of a transaction's gate in tx.
const (
	waiting int32 = iota
	begun
	givenUp
)

// errGivenUp is what a transaction given up before it began returns,
// which bbolt rolls back.
var errGivenUp = errors.New("given up before it began")

// run is tx without the wait on a context.
func (s *Store) run(write bool, fn func(*bolt.Tx) error) (err error) {
	var wtx *bolt.Tx
	defer func() {
		if r := recover(); r != nil {
			if wtx != nil && wtx.DB() != nil {
				release(wtx)
			}
			err = s.damaged(r)
		}
	}()
	// A panic within fn is returned as an error: bbolt undoes a write that
	// panicked by reading its free page list again from the file, and
	// when that page is damaged too, that panics in turn and leaves its
	// writer lock held, which Close and every write wait on for ever. An
	// error is undone in memory alone.
	var panicked any
	caught := func(tx *bolt.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				panicked, err = r, errPanicked
			}
		}()
		return fn(tx)
	}
	if write {
		var shown bool
		func() {
			// No other write commits between this one's failure
			// and the look at what the file shows: one would show
			// the same transaction id.
			s.writing.Lock()
			defer s.writing.Unlock()
			var id int
			committing := false
			err = s.db.Update(func(tx *bolt.Tx) error {
				wtx, id = tx, tx.ID()
				err := caught(tx)
				committing = err == nil
				return err
			})
			shown = committing && panicked == nil && s.shows(err, id)
		}()
		if shown {
			if full := s.full(err); errors.Is(full, deploy.ErrStoreFull) {
				// Writes that need new room are refused still, and
				// the health check says so.
				stats := wtx.Stats()
				s.refusedSize.Store(stats.GetPageAlloc())
				s.refusing.Store(&full)
				s.tried.Store(s.now().UnixNano())
			}
			return s.unsynced(err)
		}
		err = s.full(err)
		switch {
		case panicked != nil:
			return s.damaged(panicked)
		case err == nil && s.refusing.Load() != nil:
			// A write that took fewer pages than the refused one may have
			// found them all among those bbolt freed within the file,
			// which a full disk or a size limit does not refuse (a lock
			// while deploy records are refused): it says nothing of the
			// writes still refused. Writable's own write is as large.
			stats := wtx.Stats()
			if stats.GetPageAlloc() >= min(s.refusedSize.Load(), maxProbeSize) {
				s.refusing.Store(nil)
			}
		case errors.Is(err, deploy.ErrStoreFull):
			if wtx != nil {
				// The transaction's statistics outlive its rollback.
				stats := wtx.Stats()
				s.refusedSize.Store(stats.GetPageAlloc())
			}
			s.refusing.Store(&err)
			s.tried.Store(s.now().UnixNano())
		}
	} else {
		err = s.db.View(caught)
		if panicked != nil {
			return s.damaged(panicked)
		}
	}
	if s.lostMapping(err) {
		u := &unmappedError{path: s.path, cause: err}
		s.unmapped.CompareAndSwap(nil, &errs.Error{Code: errs.Unavailable, Msg: u.Error(), Err: u})
		return s.unmapped.Load()
	}
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		// Closed as the bot stops: not a file that cannot be read.
		return fmt.Errorf("state store %s: %w", s.path, deploy.ErrStoreClosed)
	}
	return err
}

// shows reports whether the file shows the write transaction id, whose
// commit failed with err, as made: bbolt writes the transaction's meta
// page, then waits for the disk to confirm it (fdatasync), and when the
// disk then fails (ENOSPC on a thin or network volume, EIO), it returns
// the error and undoes the transaction in memory, but not the meta page,
// which is in the page cache and in its mapping of the file: the next
// transaction reads it, and builds on the write said to have failed.
func (s *Store) shows(err error, id int) bool {
	if err == nil {
		return false
	}
	var last int
	if s.db.View(func(tx *bolt.Tx) error { last = tx.ID(); return nil }) != nil {
		return false
	}
	return last >= id
}

// unsynced is the error of a write the file shows as made although the
// disk failed to confirm it, err (see shows): whoever reads the store now
// sees it, yet it may be lost with the page cache (a crash, a restart of
// the machine) or already be, as the disk failed to keep it. Its outcome
// is not known, not "nothing was stored", which a caller would trust
// while the change is in force. It wraps neither deploy.ErrStoreFull nor
// any other refusal that says nothing was stored.
func (s *Store) unsynced(err error) error {
	return errs.Wrap(errs.Unavailable, unsyncedError{err},
		"state store %s shows the write, but its disk failed to confirm it was kept (%v): it may be lost at the next restart of the machine", s.path, err)
}

// unsyncedError is the cause of unsynced's error: the disk's, which it
// unwraps to, and no sentinel of a refusal.
type unsyncedError struct{ err error }

func (e unsyncedError) Error() string { return "write not confirmed by the disk: " + e.err.Error() }
func (e unsyncedError) Unwrap() error { return e.err }

// errPanicked stands for a panic within a transaction's fn, which run
// returns as the file's damage.
var errPanicked = errors.New("transaction panicked")

// damaged records that a transaction found the file damaged, as bbolt's
// panic r says, and returns the error every call returns from then on.
func (s *Store) damaged(r any) error {
	d := &damagedError{path: s.path, cause: fmt.Sprint(r)}
	s.damage.CompareAndSwap(nil, &errs.Error{Code: errs.Unavailable, Msg: d.Error(), Err: d})
	return s.damage.Load()
}

// release rolls back, in memory alone, a write transaction whose commit
// panicked on a damaged page and whose rollback by bbolt panicked too,
// as it read the damaged file again: it still holds bbolt's writer lock
// then. Nothing is written to the file.
func release(tx *bolt.Tx) {
	defer func() { _ = recover() }()
	_ = tx.Rollback()
}

// lostMapping reports whether err, of a transaction, says that bbolt lost
// its mapping of the file: it refuses the transaction for that, or the
// transaction's write needed a larger mapping and that failed, which
// leaves the file unmapped when it failed after the old mapping was
// undone (a transaction begun now is refused for it then).
func (s *Store) lostMapping(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, bolterrors.ErrInvalidMapping) {
		return true
	}
	if !strings.Contains(err.Error(), mmapFailed) {
		return false
	}
	return errors.Is(s.db.View(func(*bolt.Tx) error { return nil }), bolterrors.ErrInvalidMapping)
}

// full returns err as deploy.ErrStoreFull when the file's disk or quota,
// or the limit on the size of the process's files (EFBIG: systemd's
// LimitFSIZE, ulimit -f), refused the write: bbolt rolls such a
// transaction back, so nothing of it was stored, and people are told the
// cause rather than that the store could not be reached.
func (s *Store) full(err error) error {
	why, ok := refusal(err)
	if !ok {
		return err
	}
	if !errors.Is(err, why) {
		err = &errnoText{err: err, errno: why}
	}
	what := "its disk is full"
	if why == syscall.EFBIG {
		what = "its file reached the size limit set on the process"
	}
	return errs.Wrap(errs.Unavailable, fmt.Errorf("%w: %w", deploy.ErrStoreFull, err),
		"state store %s%s%s (%v)", s.path, deploy.StoreFullSays, what, why)
}

// refusals are the errors of a write that the file's disk, quota or size
// limit refused, which a write may succeed after once space is freed or
// the limit raised.
var refusals = []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG}

// refusal returns which of refusals err is. bbolt reports a failed resize
// or sync of the file, as the file grows, in text alone ("file resize
// error: truncate state.db: file too large"), which the errno is lost
// from: that text, ending with the errno's, is read as the errno.
func refusal(err error) (syscall.Errno, bool) {
	if err == nil {
		return 0, false
	}
	for _, errno := range refusals {
		if errors.Is(err, errno) {
			return errno, true
		}
	}
	msg := err.Error()
	if !strings.Contains(msg, "file resize error: ") && !strings.Contains(msg, "file sync error: ") {
		return 0, false
	}
	for _, errno := range refusals {
		if strings.HasSuffix(msg, ": "+errno.Error()) {
			return errno, true
		}
	}
	return 0, false
}

// errnoText is an error whose text alone names errno (see refusal); it
// is errno too, for errors.Is.
type errnoText struct {
	err   error
	errno syscall.Errno
}

func (e *errnoText) Error() string   { return e.err.Error() }
func (e *errnoText) Unwrap() []error { return []error{e.err, e.errno} }

// Close releases the file; calling it again does nothing more. Leases
// still held are lost: their Check, Renew and Release return errors
// wrapping deploy.ErrLeaseLost. Other methods fail after Close, with
// deploy.ErrStoreClosed.
//
// A write still waiting on a stalled disk (fdatasync that does not
// return) holds bbolt's writer lock, which closing the file waits for: a
// stopping bot would wait as long as the disk stalls. Close waits
// closeWait at most, then returns an error saying so, the file left to be
// closed when the write ends, or when the process exits. That weakens no
// write: bbolt makes a write current by its meta page, written once its
// other pages are on the disk, so a process gone before or during that
// leaves the file as before the write, or with it. Whoever made that
// write and gave up waiting was told its outcome is not known.
func (s *Store) Close() error {
	s.mu.Lock()
	s.leases = nil
	s.mu.Unlock()
	s.closed.Store(true)
	s.closeOnce.Do(func() {
		go func() {
			s.closeErr = s.db.Close()
			close(s.closeDone)
		}()
	})
	t := time.NewTimer(s.closeWait)
	defer t.Stop()
	select {
	case <-s.closeDone:
	case <-t.C:
		return fmt.Errorf("close state store %s: a write has waited on its disk for more than %v; whether it is stored is not known, and the file is closed when it ends or the process exits", s.path, s.closeWait)
	}
	if s.closeErr != nil {
		return fmt.Errorf("close state store %s: %w", s.path, s.closeErr)
	}
	return nil
}

// closeWait is how long Close waits for a write on a stalled disk.
const closeWait = 10 * time.Second

// timeKeyLen is the width of timeKey's result.
const timeKeyLen = 12

// timeKey encodes t so that byte order is time order over the whole range
// of time.Time (the zero time included, which UnixNano cannot represent):
// Unix seconds big-endian with the sign bit flipped, then nanoseconds.
func timeKey(t time.Time, extra int) []byte {
	k := make([]byte, timeKeyLen, timeKeyLen+extra)
	binary.BigEndian.PutUint64(k, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(k[8:], uint32(t.Nanosecond()))
	return k
}

// parseTimeKey is the inverse of timeKey; k must be at least timeKeyLen long.
func parseTimeKey(k []byte) time.Time {
	sec := int64(binary.BigEndian.Uint64(k) ^ (1 << 63))
	nsec := int64(binary.BigEndian.Uint32(k[8:]))
	return time.Unix(sec, nsec)
}

func u64(v uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, v)
}

// ctxEvery is how many items a long scan handles between context checks.
const ctxEvery = 256
