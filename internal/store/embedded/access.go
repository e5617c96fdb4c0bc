package embedded

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/switchman-bot/switchman/internal/errs"
)

// accessError is the error of Open for err, the file system's refusal to
// open the store's file, when it is one the operator can act on, or nil:
// bbolt's "read-only file system" or "permission denied" alone says
// neither which mount nor which user, owner and mode are at fault.
func accessError(path string, readOnly bool, err error) error {
	switch {
	case errors.Is(err, syscall.EROFS):
		return readOnlyFSError(path, err)
	case errors.Is(err, syscall.EACCES):
		return permissionError(path, readOnly, err)
	}
	return nil
}

// readOnlyFSError says that the store is on a file system mounted
// read-only (a volume mounted :ro, a disk the kernel remounted read-only
// after errors), where the bot cannot write, whatever the file's mode.
func readOnlyFSError(path string, err error) error {
	return errs.Wrap(errs.Unavailable, err, "state store %s is on a file system mounted read-only: the bot writes its locks, grants and audit trail to it: remount it read-write, or name a store.path on a writable one (bot audit reads it as it is)", path)
}

// permissionError says which user may not open the store, and whose file
// it is with what mode: a store restored as root, or a bot started as
// another user than the one that made it.
func permissionError(path string, readOnly bool, err error) error {
	self := os.Geteuid()
	owner, mode, ok := ownerOf(path)
	if !ok {
		return errs.Wrap(errs.Unavailable, err, "state store %s may not be opened by this user, %s", path, userName(self))
	}
	if readOnly {
		return errs.Wrap(errs.Unavailable, err, "state store %s may not be read by this user, %s: it is owned by %s, mode %04o: run it as %s, or let this user read the file", path, userName(self), userName(owner), mode, loginOf(owner))
	}
	return errs.Wrap(errs.Unavailable, err, "state store %s may not be read and written by this user, %s, which the bot runs as: it is owned by %s, mode %04o: run the bot as %s, or give the file to this user: chown %s %s", path, userName(self), userName(owner), mode, loginOf(owner), loginOf(self), path)
}

// createError is the error of Open for err, the file system's refusal to
// create the missing store at path (make its directory, or a file in it),
// when it is one the operator can act on, or nil: which directory refused
// and why, and what to change, rather than create's "permission denied"
// about a temporary file's name.
func createError(path string, err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		return nil
	}
	return cannotCreate(path, filepath.Dir(pe.Path), err, botRunsAs) // the directory a file or directory was to be made in
}

// ErrNotCreatable is what the error of Open and Check wraps for a missing
// store this user could not create where store.path puts it: a config is
// often checked where the bot does not run, and its check may warn of
// that rather than refuse it.
var ErrNotCreatable = errors.New("state store cannot be created")

// notCreatable is the cause of an error of cannotCreate: err, which it
// reads as, and ErrNotCreatable.
type notCreatable struct{ err error }

func (e notCreatable) Error() string   { return e.err.Error() }
func (e notCreatable) Unwrap() []error { return []error{ErrNotCreatable, e.err} }

// What the errors of Open and Check say of this user, after its name:
// Open's is the bot's own; Check's is bot check-config's, which may be
// run by another user than the bot's.
const (
	botRunsAs   = ", which the bot runs as"
	checkRunsAs = ", the one running check-config"
)

// cannotCreate is the error of the missing store at path that cannot be
// created in dir for err (EROFS, EACCES), or nil for another error: the
// wording Open and Check share, runsAs (botRunsAs, checkRunsAs) saying
// who this user is.
func cannotCreate(path, dir string, err error, runsAs string) error {
	switch {
	case errors.Is(err, syscall.EROFS):
		return errs.Wrap(errs.Unavailable, notCreatable{err}, "state store %s cannot be created: the directory %s is on a file system mounted read-only: remount it read-write, or set store.path to a file on a writable one", path, dir)
	case errors.Is(err, syscall.EACCES):
		self := os.Geteuid()
		owner, mode, ok := ownerOf(dir)
		if !ok {
			return errs.Wrap(errs.Unavailable, notCreatable{err}, "state store %s cannot be created: this user, %s%s, may not write the directory %s: set store.path to a file in a directory this user may write", path, userName(self), runsAs, dir)
		}
		return errs.Wrap(errs.Unavailable, notCreatable{err}, "state store %s cannot be created: this user, %s%s, may not write the directory %s (owned by %s, mode %04o): run the bot as %s, or set store.path to a file in a directory this user may write", path, userName(self), runsAs, dir, userName(owner), mode, loginOf(owner))
	case errors.Is(err, syscall.ENOTDIR):
		return errs.Wrap(errs.Unavailable, notCreatable{err}, "state store %s cannot be created: %s, on its way, is a file, not a directory: set store.path to a file in a directory", path, dir)
	}
	return nil
}

// creatable returns the error Open would give creating the missing store
// at path, without creating anything, from the nearest directory on the
// way to file (where Open would make it, see storeDirs) that exists: one
// this user may not write, on a file system mounted read-only, or a file
// where a directory should be; nil when none is found so. runsAs is
// cannotCreate's.
func creatable(path, file, runsAs string) error {
	dir := filepath.Dir(file)
	for {
		info, err := os.Stat(dir)
		switch {
		case (errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)) && filepath.Dir(dir) != dir:
			dir = filepath.Dir(dir)
			continue
		case err != nil:
			return nil // left to Open, as Check leaves what it cannot stat
		case !info.IsDir():
			return cannotCreate(path, dir, syscall.ENOTDIR, runsAs)
		}
		if err := syscall.Access(dir, 0o2|0o1); err != nil { // W_OK|X_OK
			return cannotCreate(path, dir, &fs.PathError{Op: "access", Path: dir, Err: err}, runsAs)
		}
		return nil
	}
}

// reachError is the error of Open and Check for err, a stat of the store
// at path refused with EACCES, or nil for another error: a directory on
// the way that this user may not search, which the kernel's "permission
// denied" about the file does not name. It names the first such directory
// (of the store's path, or of where a symlink on it leads), with its owner
// and mode, when it finds one. readOnly is Open read-only's, and Check's,
// which may be run as another user than the bot's.
func reachError(path string, readOnly bool, err error) error {
	if !errors.Is(err, syscall.EACCES) {
		return nil
	}
	self := os.Geteuid()
	runs, run := botRunsAs, "run the bot as"
	if readOnly {
		runs, run = "", "run it as"
	}
	dir := unsearchable(path)
	if dir == "" {
		return errs.Wrap(errs.Unavailable, err, "state store %s cannot be reached by this user, %s%s: a directory on its way may not be searched", path, userName(self), runs)
	}
	owner, mode, ok := ownerOf(dir)
	if !ok {
		return errs.Wrap(errs.Unavailable, err, "state store %s cannot be reached by this user, %s%s: it may not search the directory %s on its way", path, userName(self), runs, dir)
	}
	return errs.Wrap(errs.Unavailable, err, "state store %s cannot be reached by this user, %s%s: it may not search the directory %s on its way (owned by %s, mode %04o): %s %s, let this user search it, or set store.path to a file this user may reach", path, userName(self), runs, dir, userName(owner), mode, run, loginOf(owner))
}

// unsearchable returns the first directory on the way to path, or to
// where a symlink on it leads, that this user may not search, as the
// kernel finds it: the one holding the first name whose lstat is refused
// with EACCES. It returns "" when none is found so.
func unsearchable(path string) string {
	for range maxLinks {
		var names []string
		for p := filepath.Clean(path); ; p = filepath.Dir(p) {
			names = append(names, p)
			if filepath.Dir(p) == p {
				break
			}
		}
		slices.Reverse(names)
		for _, name := range names {
			_, err := os.Lstat(name)
			if errors.Is(err, syscall.EACCES) {
				return filepath.Dir(name)
			}
			if err != nil {
				return ""
			}
		}
		// Every name on the way is there: the refusal is on the way
		// to where path, a symlink, leads.
		target, err := os.Readlink(path)
		if err != nil {
			return ""
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return ""
}

// warnAccess writes in log, for Check, that this user may not open the
// store at path to write, which Open would refuse: a warning, not an
// error, as the config is often checked as another user than the bot's.
// A file system mounted read-only refuses every user: that is returned.
func warnAccess(path string, log *slog.Logger) error {
	err := syscall.Access(path, 0o4|0o2) // R_OK|W_OK
	switch {
	case errors.Is(err, syscall.EROFS):
		return readOnlyFSError(path, &os.PathError{Op: "open", Path: path, Err: err})
	case !errors.Is(err, syscall.EACCES) || log == nil:
		return nil
	}
	self := os.Geteuid()
	owner, mode, ok := ownerOf(path)
	if !ok {
		return nil
	}
	log.Warn("state store may not be read and written by this user: the bot would not start as this user", "path", path, "user", loginOf(self), "uid", self, "owner", loginOf(owner), "owner_uid", owner, "mode", fmt.Sprintf("%04o", mode))
	return nil
}

// ownerOf returns the uid owning the file at path and its permission bits.
func ownerOf(path string) (uid int, mode os.FileMode, ok bool) {
	info, err := os.Stat(path)
	if err != nil {
		return 0, 0, false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), info.Mode().Perm(), true
}

// userName returns "name (uid N)", or "uid N" for a uid no user has.
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// loginOf returns the name of the user of uid, or the uid, as chown
// takes either.
func loginOf(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}
