package train_test

import (
	"testing"

	"github.com/switchman-bot/switchman/internal/store/storetest"
	"github.com/switchman-bot/switchman/internal/train"
)

// TestMemStoreContract checks that the scheduler's tests run against a
// store that keeps the same contract as the real ones.
func TestMemStoreContract(t *testing.T) {
	storetest.RunTrains(t, func(t *testing.T) train.Store { return train.NewMemStore() })
}
