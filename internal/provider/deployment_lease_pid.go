//go:build unix

package provider

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// processAlive reports whether a process of this host is still running: a
// lease whose holder's process is gone was left by a run that is over. A
// zombie (killed, never reaped: orphans in containers whose init does not
// reap) is gone. Where it cannot tell, it says alive, and the lease is then
// judged by its TTL.
func processAlive(pid int) bool {
	if pid <= 0 {
		return true
	}
	if raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		// pid (comm) state ...: comm may hold spaces and parentheses.
		s := string(raw)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 0 && (f[0] == "Z" || f[0] == "X") {
				return false
			}
		}
		return true
	} else if _, statErr := os.Stat("/proc/self"); statErr == nil {
		return false // /proc works and has no such process
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
