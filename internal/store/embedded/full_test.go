package embedded

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/switchman-bot/switchman/internal/deploy"
)

// TestFullRefusals: a write the disk, quota or file-size limit refused is
// told as such however bbolt reports it: with the errno (a page's write)
// or in text alone (the file's resize or sync as it grows, which bbolt
// formats with %s). The kernel's EFBIG is tested for real in cmd/bot's
// /healthz test; tmpfs, the file system a test can mount, grows a file
// without allocating it, so its ENOSPC comes from a page's write, and the
// text of a resize's ENOSPC or EDQUOT (ext4 without extents, vfat, a
// quota) is that of bbolt's grow here. bbolt's refusal once it lost its
// mapping of the file is no full disk (cmd/bot's /healthz test makes the
// mapping fail for real).
func TestFullRefusals(t *testing.T) {
	pathErr := func(op string, errno syscall.Errno) error {
		return &os.PathError{Op: op, Path: "/srv/switchman/state.db", Err: errno}
	}
	tests := []struct {
		name      string
		err       error
		condition string
		code      string
	}{
		{"a page's write, ENOSPC", fmt.Errorf("append audit: %w", pathErr("write", syscall.ENOSPC)), ConditionRefusesWrites, "ENOSPC"},
		{"a page's write, EFBIG", pathErr("write", syscall.EFBIG), ConditionRefusesWrites, "EFBIG"},
		{"a resize, ENOSPC", fmt.Errorf("file resize error: %s", pathErr("truncate", syscall.ENOSPC)), ConditionRefusesWrites, "ENOSPC"},
		{"a resize, EDQUOT", fmt.Errorf("file resize error: %s", pathErr("truncate", syscall.EDQUOT)), ConditionRefusesWrites, "EDQUOT"},
		{"a resize, EFBIG, wrapped", fmt.Errorf("append audit: %w", fmt.Errorf("file resize error: %s", pathErr("truncate", syscall.EFBIG))), ConditionRefusesWrites, "EFBIG"},
		{"a sync, ENOSPC", fmt.Errorf("file sync error: %s", pathErr("sync", syscall.ENOSPC)), ConditionRefusesWrites, "ENOSPC"},
		{"a resize, EIO", fmt.Errorf("file resize error: %s", pathErr("truncate", syscall.EIO)), ConditionIOError, "EIO"},
		{"another error naming a full disk", errors.New("hook said: no space left on device"), ConditionFailed, ""},
		{"a page's write, EIO", pathErr("write", syscall.EIO), ConditionIOError, "EIO"},
		{"a page's write, EROFS", fmt.Errorf("append audit: %w", pathErr("write", syscall.EROFS)), ConditionIOError, "EROFS"},
		{"a page's write, another errno", pathErr("write", syscall.EBADF), ConditionIOError, ""},
		{"the store closed", fmt.Errorf("state store /srv/switchman/state.db: %w", deploy.ErrStoreClosed), ConditionClosed, ""},
		{"the file no longer mapped", fmt.Errorf("list locks: %w", bolterrors.ErrInvalidMapping), ConditionUnmapped, ""},
	}
	if condition, code := HealthCondition(nil); condition != "" || code != "" {
		t.Errorf("HealthCondition(nil): got %q %q, want none", condition, code)
	}
	s := &Store{path: "/srv/switchman/state.db"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.full(tt.err)
			condition, code := HealthCondition(err)
			if condition != tt.condition || code != tt.code {
				t.Errorf("HealthCondition(full(%v)): got %q %q, want %q %q", tt.err, condition, code, tt.condition, tt.code)
			}
			if full := errors.Is(err, deploy.ErrStoreFull); full != (tt.condition == ConditionRefusesWrites) {
				t.Errorf("full(%v) is deploy.ErrStoreFull: got %v, want %v", tt.err, full, tt.condition == ConditionRefusesWrites)
			}
			if !errors.Is(err, tt.err) {
				t.Errorf("full(%v): got %v, which does not wrap it", tt.err, err)
			}
		})
	}
}
