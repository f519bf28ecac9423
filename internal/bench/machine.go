package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine describes where the figures were measured: BENCHMARKS.md records
// it next to them because scenarios 4 and 5 are wall-time figures.
func Machine() string {
	mem := "unknown"
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
				var kb int64
				if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d", &kb); err == nil {
					mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
		_ = f.Close()
	}
	return fmt.Sprintf("machine: %s/%s, nproc %d, memory %s, %s, %s", runtime.GOOS, runtime.GOARCH,
		runtime.NumCPU(), mem, runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
}
