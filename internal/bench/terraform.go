package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/devprovider"
)

// workspace is a directory with a built provider, a CLI config overriding
// the provider with it, and room for Terraform configurations.
type workspace struct {
	dir     string // the configuration and state
	binDir  string // the provider binary
	cliFile string
	tfBin   string
	log     io.Writer
}

// newWorkspace builds the provider from the module root into a temporary
// directory. The caller removes dir.
func newWorkspace(ctx context.Context, log io.Writer) (*workspace, error) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		return nil, errors.New("terraform is not on PATH")
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	root, err := devprovider.ModuleRoot(wd)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rolling-bench-")
	if err != nil {
		return nil, err
	}
	w := &workspace{dir: filepath.Join(dir, "config"), binDir: filepath.Join(dir, "bin"), tfBin: tf, log: log}
	w.cliFile = filepath.Join(dir, "terraformrc")
	for _, d := range []string{w.dir, w.binDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(w.cliFile, []byte(devprovider.CLIConfig(w.binDir)), 0o644); err != nil {
		return nil, err
	}
	build := devprovider.BuildCommand(ctx, root, w.binDir)
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the provider: %v\n%s", err, out)
	}
	return w, nil
}

// fresh is the workspace with a configuration directory of its own, for
// one more independent terraform run with the same provider binary.
func (w *workspace) fresh(n int) (*workspace, error) {
	c := *w
	c.dir = fmt.Sprintf("%s-%d", w.dir, n)
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, err
	}
	return &c, nil
}

// remove deletes the workspace (configuration, state, binary).
func (w *workspace) remove() { os.RemoveAll(filepath.Dir(w.dir)) }

// terraform runs one terraform command, with the simulator in real time,
// and returns its wall time and the provider processes' peak resident set
// size during it.
func (w *workspace) terraform(ctx context.Context, args ...string) (time.Duration, int64, error) {
	args = append([]string{args[0], "-no-color"}, args[1:]...)
	cmd := exec.CommandContext(ctx, w.tfBin, args...)
	cmd.Dir = w.dir
	cmd.Env = devprovider.Env(os.Environ(), w.cliFile, 1)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	peak := newPeakRSS(filepath.Join(w.binDir, devprovider.Binary))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	stop := peak.watch()
	err := cmd.Wait()
	took := time.Since(start)
	stop()
	if err != nil {
		return took, peak.max(), fmt.Errorf("terraform %s: %v\n%s", strings.Join(args, " "), err, tail(out.String(), 3000))
	}
	return took, peak.max(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// peakRSS follows the peak resident set (VmHWM) of every process running
// one executable. The kernel keeps VmHWM as a high-water mark, so polling
// every few milliseconds loses nothing but what a process allocates in its
// last few milliseconds.
type peakRSS struct {
	exe  string
	mu   sync.Mutex
	peak int64
}

func newPeakRSS(exe string) *peakRSS { return &peakRSS{exe: exe} }

func (p *peakRSS) watch() (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			p.sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

func (p *peakRSS) sample() {
	procs, _ := os.ReadDir("/proc")
	for _, e := range procs {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		// Only our binary: other engineers' tests run providers too.
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err != nil || exe != p.exe {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				var kb int64
				if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb); err == nil {
					p.mu.Lock()
					p.peak = max(p.peak, kb<<10)
					p.mu.Unlock()
				}
			}
		}
	}
}

func (p *peakRSS) max() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}
