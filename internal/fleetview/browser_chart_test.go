package fleetview

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// stage is a stretch of a scripted fleet's history: for d of simulated
// time, out of its six instances are draining (0: the fleet is idle).
type stage struct {
	d   time.Duration
	out int
}

// scriptedPage serves the page of a tracker that has seen the stages, and
// is now at their end; the floor is 50% of six instances, 3.
func scriptedPage(t *testing.T, stages ...stage) string {
	t.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var cur fleetsim.FleetSnapshot
	tr := newTracker(func() fleetsim.FleetSnapshot { return cur }, Options{Title: "chart", MinHealthyPercent: 50, Interval: 50 * time.Millisecond})
	frame := func(at time.Duration, out int) {
		cur = fleetsim.FleetSnapshot{SimTime: start.Add(at)}
		for i := range 6 {
			is := instance("v1", "", "healthy", "")
			is.ID = fmt.Sprintf("i-%017d", i)
			if i < out {
				is = instance("v1", "draining", "draining", "")
				is.ID = fmt.Sprintf("i-%017d", i)
			}
			cur.Instances = append(cur.Instances, is)
		}
		tr.View()
	}
	var at time.Duration
	for _, s := range stages {
		frame(at, s.out)
		at += s.d
	}
	frame(at, stages[len(stages)-1].out)
	return serve(t, tr.Handler()).URL
}

// chartLayout is what the page drew, in viewBox units.
type chartLayout struct {
	Gaps      []box `json:"gaps"`
	Times     []box `json:"times"`
	Now       box   `json:"now"`
	Floor     box   `json:"floor"`
	Width     float64
	Text      []string `json:"text"`
	FloorLast bool     `json:"floorLast"`
}

type box struct{ X, Y, W, H float64 }

func (a box) overlaps(b box) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

const layoutJS = `(() => {
  const bb = (e) => { const b = e.getBBox(); return {X: b.x, Y: b.y, W: b.width, H: b.height}; };
  const times = [...document.querySelectorAll('#axes text')].filter((e) => +e.getAttribute('y') > 200);
  const order = [...document.querySelectorAll('#chart polyline')].map((e) => e.id);
  return JSON.stringify({
    gaps: [...document.querySelectorAll('#gaps rect')].map(bb),
    times: times.map(bb), text: times.map((e) => e.textContent),
    now: bb(document.querySelector('#axes text.now')), floor: bb(document.querySelector('#axes text.floor')),
    Width: document.getElementById('chart').viewBox.baseVal.width,
    floorLast: order.indexOf('floor') > order.indexOf('line'),
  });
})()`

// layoutOf loads url in a window width pixels wide. With
// FLEETVIEW_SCREENSHOTS=DIR it also saves a screenshot there, to look at.
func layoutOf(t *testing.T, url string, width int64) chartLayout {
	t.Helper()
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("FLEETVIEW_SCREENSHOTS"); dir != "" {
		defer func() {
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+".png"), png, 0o644)
			}
			if err != nil {
				t.Logf("screenshot: %v", err)
			}
		}()
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelectorAll('#axes text').length > 0`, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the chart never drew its axes: %v", err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](layoutJS))
	if err != nil {
		t.Fatal(err)
	}
	var l chartLayout
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return l
}

// checkLabels fails when two time labels overlap or one leaves the chart.
func checkLabels(t *testing.T, l chartLayout) {
	t.Helper()
	if len(l.Times) < 2 {
		t.Errorf("only %d time labels (%q)", len(l.Times), l.Text)
	}
	for i, a := range l.Times {
		if a.X < 0 || a.X+a.W > l.Width {
			t.Errorf("time label %q at %.0f..%.0f leaves the chart (0..%.0f)", l.Text[i], a.X, a.X+a.W, l.Width)
		}
		for j := i + 1; j < len(l.Times); j++ {
			if a.overlaps(l.Times[j]) {
				t.Errorf("time labels %q and %q overlap", l.Text[i], l.Text[j])
			}
		}
	}
}

func TestChart_compressesIdleStretchesSoTheRolloutsGetTheWidth(t *testing.T) {
	url := scriptedPage(t,
		stage{44 * time.Minute, 0}, stage{10 * time.Minute, 1}, stage{15 * time.Minute, 3}, stage{5 * time.Minute, 1},
		stage{44 * time.Minute, 0}, stage{20 * time.Minute, 2},
		stage{90 * time.Minute, 0}, stage{2 * time.Minute, 1}, stage{44 * time.Minute, 0})
	l := layoutOf(t, url, 1280)
	// Before act 1, between the acts and now (at a prompt): four stretches.
	if len(l.Gaps) != 4 {
		t.Fatalf("%d idle bands, want 4", len(l.Gaps))
	}
	idle := 0.0
	for _, g := range l.Gaps {
		idle += g.W
	}
	if idle > 0.2*l.Width {
		t.Errorf("idle bands take %.0f of %.0f units: the rollouts are still squeezed", idle, l.Width)
	}
	checkLabels(t, l)
	if l.Now.overlaps(l.Floor) || l.Now.X+l.Now.W > l.Width || l.Floor.X+l.Floor.W > l.Width {
		t.Errorf("the in-service label %+v and the floor label %+v overlap or are cut off (width %.0f)", l.Now, l.Floor, l.Width)
	}
	if !l.FloorLast {
		t.Error("the floor is drawn under the in-service line, which hides it at the floor")
	}
}

func TestChart_timeLabelsStayReadableAtAnyLength(t *testing.T) {
	for _, c := range []struct {
		d     time.Duration
		width int64
	}{{90 * time.Second, 1280}, {17 * time.Minute, 1280}, {3 * time.Hour, 1280}, {30 * time.Hour, 1280}, {3 * time.Hour, 420}} {
		t.Run(fmt.Sprintf("%s_%dpx", c.d, c.width), func(t *testing.T) {
			// Busy throughout: nothing to compress, every second is drawn.
			l := layoutOf(t, scriptedPage(t, stage{c.d / 2, 1}, stage{c.d / 2, 2}), c.width)
			if len(l.Gaps) != 0 {
				t.Errorf("%d idle bands in a busy fleet", len(l.Gaps))
			}
			checkLabels(t, l)
			// The floor label stays clear of the in-service label even when
			// capacity is one above the floor.
			if l.Now.overlaps(l.Floor) {
				t.Errorf("the in-service label %+v hides the floor label %+v", l.Now, l.Floor)
			}
		})
	}
}

func TestPage_givesEveryPhaseAColourOfItsOwnAndVersionsOthers(t *testing.T) {
	ctx := browser(t)
	// Three versions on the grid, as after a v3 rollout over v2 over v1.
	var snap fleetsim.FleetSnapshot
	for i, v := range []string{"v1", "v2", "v3"} {
		is := instance(v, "", "healthy", "")
		is.ID = fmt.Sprintf("i-%017d", i)
		snap.Instances = append(snap.Instances, is)
	}
	tr := newTracker(func() fleetsim.FleetSnapshot { return snap }, Options{})
	if err := chromedp.Do(ctx, chromedp.Navigate(serve(t, tr.Handler()).URL)); err != nil {
		t.Fatal(err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({
	  phases: [...document.querySelectorAll('#legend span')].map((e) => [e.dataset.phase, getComputedStyle(e).getPropertyValue('--c').trim()]),
	  versions: [...document.querySelectorAll('#grid .version')].map((e) => [e.textContent, getComputedStyle(e).backgroundColor]),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Phases, Versions [][2]string }
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Phases) != 12 {
		t.Fatalf("legend has %d phases, want 12: %v", len(got.Phases), got.Phases)
	}
	all := append(append([][2]string{}, got.Phases...), got.Versions...)
	for i, a := range all {
		for _, b := range all[i+1:] {
			if a[0] == b[0] {
				continue // the same version on two cells
			}
			// 50 of the RGB cube's 441: rolling back and rolled back were 45 apart.
			if d := rgbDistance(t, a[1], b[1]); d < 50 {
				t.Errorf("%q (%s) and %q (%s) are only %.0f apart", a[0], a[1], b[0], b[1], d)
			}
		}
	}
}

// rgbDistance parses "#rrggbb" or "rgb(r, g, b)" colours.
func rgbDistance(t *testing.T, a, b string) float64 {
	t.Helper()
	pa, pb := parseColour(t, a), parseColour(t, b)
	var sum float64
	for i := range pa {
		sum += (pa[i] - pb[i]) * (pa[i] - pb[i])
	}
	return math.Sqrt(sum)
}

func parseColour(t *testing.T, c string) [3]float64 {
	t.Helper()
	var rgb [3]float64
	if hex, ok := strings.CutPrefix(c, "#"); ok && len(hex) == 6 {
		for i := range rgb {
			v, err := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
			if err != nil {
				t.Fatalf("colour %q: %v", c, err)
			}
			rgb[i] = float64(v)
		}
		return rgb
	}
	if _, err := fmt.Sscanf(c, "rgb(%f, %f, %f)", &rgb[0], &rgb[1], &rgb[2]); err != nil {
		t.Fatalf("colour %q: %v", c, err)
	}
	return rgb
}

// The page must not depend on the stream for its first paint: with an event
// stream that never answers, the fleet is on the page all the same.
func TestPage_showsTheFleetBeforeTheStreamAnswers(t *testing.T) {
	ctx := browser(t)
	sim, _, ids := seededFleet(t, 3)
	tr := NewTracker(sim, Options{})
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", tr.Handler())
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := serve(t, mux)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#grid .cell').length`))
	if err != nil {
		t.Fatal(err)
	}
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('status').textContent`))
	if cells != len(ids) {
		t.Errorf("%d cells before the stream answered, want %d (status %q)", cells, len(ids), status)
	}
}
