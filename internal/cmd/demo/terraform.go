package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/devprovider"
)

// terraform runs the real terraform CLI in the demo's work directory.
type terraform struct {
	bin   string
	dir   string
	env   []string
	out   io.Writer // what the user sees
	color bool
}

// run streams terraform's output to the user and returns its exit code. An
// error means it could not run or was interrupted, not a non-zero exit.
func (tf *terraform) run(ctx context.Context, args ...string) (int, error) {
	return tf.exec(ctx, tf.out, args...)
}

// capture returns terraform's standard output (for -json commands); its
// standard error still goes to the user.
func (tf *terraform) capture(ctx context.Context, args ...string) ([]byte, error) {
	var stdout bytes.Buffer
	code, err := tf.exec(ctx, &stdout, args...)
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("terraform %s exited %d", strings.Join(args, " "), code)
	}
	return stdout.Bytes(), nil
}

func (tf *terraform) exec(ctx context.Context, stdout io.Writer, args ...string) (int, error) {
	if !tf.color && len(args) > 0 && args[0] != "version" {
		args = append([]string{args[0], "-no-color"}, args[1:]...)
	}
	cmd := exec.CommandContext(ctx, tf.bin, args...)
	cmd.Dir = tf.dir
	cmd.Env = tf.env
	cmd.Stdout = stdout
	cmd.Stderr = tf.out
	return runGroup(ctx, cmd)
}

// interruptGrace is how long an interrupted terraform may take to stop the
// provider (which cancels the rollout and puts instances back) before the
// group is killed.
var interruptGrace = 30 * time.Second

// runGroup runs cmd in its own process group. When ctx ends it interrupts
// the group (terraform then stops the provider, which cancels the rollout),
// gives it a moment, and kills whatever is left of the group.
func runGroup(ctx context.Context, cmd *exec.Cmd) (int, error) {
	ownProcessGroup(cmd)
	cmd.Cancel = func() error { return interruptGroup(cmd.Process.Pid) }
	cmd.WaitDelay = interruptGrace
	if err := cmd.Start(); err != nil {
		return -1, err
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		killGroup(cmd.Process.Pid)
		return -1, fmt.Errorf("%s interrupted: %w", filepath.Base(cmd.Path), ctx.Err())
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// buildProvider compiles the provider from the repository root into dir, as
// the dev override expects it.
func buildProvider(ctx context.Context, root, dir string, out io.Writer) error {
	cmd := devprovider.BuildCommand(ctx, root, dir)
	cmd.Stdout, cmd.Stderr = out, out
	code, err := runGroup(ctx, cmd)
	if err != nil {
		return fmt.Errorf("building the provider: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("building the provider: go build exited %d", code)
	}
	return nil
}

// copyConfig copies the demo's Terraform files (not state or plans) to dst.
func copyConfig(src, dst string) error {
	files, err := filepath.Glob(filepath.Join(src, "*.tf"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no .tf files in %s", src)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
