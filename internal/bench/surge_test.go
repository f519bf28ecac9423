package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Scenario 6 at a small size: both rollouts succeed, the surge keeps the
// whole fleet in service, in place stays at its floor, and the table shows
// both rows. (No timing is asserted: figures are the benchmark's.)
func TestRunSurge_smallFleetKeepsTheFloorsAndPrintsBothRows(t *testing.T) {
	rep, err := RunSurge(context.Background(), SurgeOptions{Instances: 8, Seeds: 1, TimeScale: 0.001})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.InPlace) != 1 || len(rep.Surge) != 1 {
		t.Fatalf("runs: %+v", rep)
	}
	if in, sg := rep.InPlace[0], rep.Surge[0]; in.MinInService < 6 || sg.MinInService != 8 || sg.MaxSurge != 2 {
		t.Fatalf("least in service: in place %d (floor 6), surge %d (floor 8), max_surge %d", in.MinInService, sg.MinInService, sg.MaxSurge)
	}
	var out bytes.Buffer
	rep.Print(&out)
	for _, want := range []string{"| in place, min_healthy_percent = 75 | 2 | 6 of 8 |", "| surge, max_surge = 2, min_healthy_percent = 100 | 2 | 8 of 8 |"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
