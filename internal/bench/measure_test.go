package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/devprovider"
)

func TestPeakRSS_readsTheHighWaterMarkOfProcessesRunningTheExecutable(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	self, _ = filepath.EvalSymlinks(self)
	p := newPeakRSS(self)
	p.sample()
	// This test binary itself is such a process, and a Go test binary
	// resides in well over 1 MB.
	if got := p.max(); got < 1<<20 {
		t.Fatalf("peak RSS of %s: %d bytes", self, got)
	}
	other := newPeakRSS(filepath.Join(t.TempDir(), devprovider.Binary))
	other.sample()
	if got := other.max(); got != 0 {
		t.Fatalf("peak RSS %d for an executable nothing runs", got)
	}
}

func TestRolloutScript_isValidBashThatUsesTheCLIWaiters(t *testing.T) {
	f := filepath.Join(t.TempDir(), "rollout.sh")
	if err := os.WriteFile(f, []byte(rolloutScript), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("bash", "-n", f).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	for _, w := range []string{"wait target-deregistered", "wait command-executed", "wait target-in-service"} {
		if !strings.Contains(rolloutScript, w) {
			t.Fatalf("the script does not use %q", w)
		}
	}
	// One command a batch with the steps' lines, as users write it.
	if n := strings.Count(rolloutScript, "send-command"); n != 1 || !strings.Contains(rolloutScript, `\"app stop\",\"app deploy $VERSION\",\"app start\",\"app check\"`) {
		t.Fatalf("the script should send one command with the four lines a batch:\n%s", rolloutScript)
	}
	if err := cliSettings(6, 2).Validate(); err != nil {
		t.Fatalf("scenario 5's settings: %v", err)
	}
}
