//go:build unix

package main

import "syscall"

// openFileLimit returns the soft RLIMIT_NOFILE, which Go's runtime has
// raised to the hard limit at start on Linux; 0 when it cannot be read.
// Unlimited reads as the largest number, which no config reaches.
func openFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return uint64(lim.Cur)
}
