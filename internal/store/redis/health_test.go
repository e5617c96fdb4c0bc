package redis

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// replyError is an error answer of Redis, as go-redis returns one.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// TestHealthCondition: what a failed check says of Redis, through the
// errors the store wraps Redis's answers in, so that a health endpoint
// does not call a Redis that answered unreachable.
func TestHealthCondition(t *testing.T) {
	s := &Store{addr: "127.0.0.1:6379"}
	for _, tc := range []struct {
		name       string
		err        error
		cond, code string
	}{
		{"no answer", errors.New("dial tcp 127.0.0.1:6379: connect: connection refused"), ConditionUnreachable, ""},
		{"timeout", context.DeadlineExceeded, ConditionUnreachable, ""},
		{"at maxmemory", replyError("OOM command not allowed when used memory > 'maxmemory'. script: abc, on @user_script:9."), ConditionRefusesWrites, "OOM"},
		{"a replica", replyError("READONLY You can't write against a read only replica."), ConditionRefusesWrites, "READONLY"},
		{"short of replicas", replyError("NOREPLICAS Not enough good replicas to write."), ConditionRefusesWrites, "NOREPLICAS"},
		{"password required", replyError("NOAUTH Authentication required."), ConditionRefused, "NOAUTH"},
		{"password wrong", replyError("WRONGPASS invalid username-password pair or user is disabled."), ConditionRefused, "WRONGPASS"},
		{"loading", replyError("LOADING Redis is loading the dataset in memory"), ConditionRefused, "LOADING"},
		{"reset", fmt.Errorf("list locks: %w", ErrStoreReset), ConditionReset, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.fail(context.Background(), "check writes", tc.err)
			if cond, code := HealthCondition(err); cond != tc.cond || code != tc.code {
				t.Errorf("HealthCondition(%v): got %q %q, want %q %q", err, cond, code, tc.cond, tc.code)
			}
		})
	}
}
