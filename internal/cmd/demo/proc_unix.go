//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup puts the command in a process group of its own, so that
// the terminal's Ctrl-C reaches only the demo, which then stops terraform and
// the provider plugin it started as one group.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// interruptGroup asks the group to stop as Ctrl-C would: terraform then tells
// the provider to cancel the rollout and waits for it.
func interruptGroup(pid int) error { return syscall.Kill(-pid, syscall.SIGINT) }

// killGroup ends whatever is left of the group.
func killGroup(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
