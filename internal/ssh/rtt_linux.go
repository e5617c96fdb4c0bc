package ssh

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// minRTT returns the shortest round trip the kernel measured on c, a TCP
// connection (min_rtt of TCP_INFO, or its smoothed estimate on a kernel
// without it), or 0. The kernel times ACKs, not this process, so a
// busy machine does not inflate it as a timed request would.
func minRTT(c net.Conn) time.Duration {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return 0
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return 0
	}
	var info *unix.TCPInfo
	var infoErr error
	if err := raw.Control(func(fd uintptr) {
		info, infoErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil || infoErr != nil {
		return 0
	}
	us := info.Min_rtt
	if us == 0 {
		us = info.Rtt
	}
	return time.Duration(us) * time.Microsecond
}
