package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/devprovider"
)

// syncBuffer collects output written by the demo and by terraform's pipes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestDemo_nonInteractiveRunMeetsEveryExpectation is `DEMO_NONINTERACTIVE=1
// make demo` as CI runs it: the real terraform, the provider built from this
// tree, the simulator in-process. run fails unless v1 is adopted, v2 reaches
// every instance in planned batches, v3 fails on one instance and everything
// is back on v2, and the plan after a scale-out shows the new instance.
func TestDemo_nonInteractiveRunMeetsEveryExpectation(t *testing.T) {
	if os.Getenv("TF_ACC") != "1" {
		t.Skip("end-to-end demo with the real terraform: set TF_ACC=1 (make test does)")
	}
	tf, err := devprovider.Terraform()
	if err != nil {
		t.Fatalf("TF_ACC=1 but %v", err)
	}
	cfg := defaultConfig(false)
	cfg.Terraform = tf
	out := &syncBuffer{}
	cfg.Out = out
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	err = run(ctx, cfg)
	t.Logf("demo took %s", time.Since(start).Round(time.Second))
	if err != nil {
		t.Fatalf("demo failed: %v\n--- demo output ---\n%s", err, out)
	}
	for _, want := range []string{
		"planned_batches:",            // the v2 schedule, read from the saved plan
		"Error:",                      // v3's failure as terraform prints it
		"rolled_back",                 // the rollout report after v3
		"Plan: 0 to add, 1 to change", // the drift plan
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q\n--- demo output ---\n%s", want, out)
		}
	}
}

// A cancelled run (Ctrl-C) must not leave terraform's children behind: the
// provider plugin is a child of terraform, not of the demo.
func TestRunGroup_cancelStopsTheWholeProcessGroup(t *testing.T) {
	defer func(d time.Duration) { interruptGrace = d }(interruptGrace)
	interruptGrace = 500 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The shell's background child ignores SIGINT (as background jobs of a
	// non-interactive shell do) and stands in for a plugin that does not stop
	// when asked: only the group kill ends it.
	cmd := exec.CommandContext(ctx, "sh", "-c", `sleep 60 & echo $! ; wait`)
	var out syncBuffer
	cmd.Stdout = &out
	done := make(chan error, 1)
	go func() {
		_, err := runGroup(ctx, cmd)
		done <- err
	}()
	var child string
	for deadline := time.Now().Add(5 * time.Second); child == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		child = strings.TrimSpace(out.String())
	}
	if child == "" {
		t.Fatal("the shell never reported its child")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("runGroup returned no error for a cancelled command")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("runGroup did not return after cancel")
	}
	// The child (not the shell we started) must be gone too.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := exec.Command("kill", "-0", child).Run(); err != nil {
			return
		}
	}
	t.Errorf("child process %s of the cancelled command is still running", child)
}
