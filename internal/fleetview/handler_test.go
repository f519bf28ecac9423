package fleetview

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

// seededFleet is a simulator with one target group of n healthy instances
// on v1, time-scaled as the browser test needs it (real time: draining lasts).
func seededFleet(t *testing.T, n int) (*fleetsim.Sim, string, []string) {
	t.Helper()
	sim := fleetsim.New(fleetsim.Options{TimeScale: 1, RandSeed: 7})
	t.Cleanup(sim.Close)
	tg := sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80})
	ids := sim.AddInstances(fleetsim.InstanceConfig{
		Count: n, AppVersion: "v1", Tags: map[string]string{"rolling:version": "v1"}, TargetGroupARNs: []string{tg},
	})
	sim.AddAlarm("web-5xx-rate", "OK")
	return sim, tg, ids
}

// serve runs h until the test ends. Client connections are cut first: an
// open event stream would otherwise keep httptest's Close waiting forever.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

func TestFleetJSON_listsEveryInstanceWithItsPhaseAndTheFloor(t *testing.T) {
	sim, _, ids := seededFleet(t, 4)
	srv := serve(t, Handler(sim, Options{Title: "demo", MinHealthyPercent: 75}))

	resp, err := http.Get(srv.URL + "/fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var f Fleet
	if err := json.NewDecoder(resp.Body).Decode(&f); err != nil {
		t.Fatalf("decoding /fleet.json: %v", err)
	}
	if f.Title != "demo" || f.Total != 4 || f.InService != 4 || f.Floor != 3 {
		t.Errorf("fleet = title %q total %d in service %d floor %d, want demo 4 4 3", f.Title, f.Total, f.InService, f.Floor)
	}
	if len(f.Instances) != len(ids) {
		t.Fatalf("%d instances, want %d", len(f.Instances), len(ids))
	}
	for i, inst := range f.Instances {
		if inst.ID != ids[i] || inst.Version != "v1" || inst.Phase != PhaseInService || !strings.HasPrefix(inst.AZ, "us-east-1") {
			t.Errorf("instance %d = %+v, want %s on v1 in service in us-east-1*", i, inst, ids[i])
		}
	}
	if len(f.Alarms) != 1 || f.Alarms[0] != (Alarm{Name: "web-5xx-rate", State: "OK"}) {
		t.Errorf("alarms = %+v, want web-5xx-rate OK", f.Alarms)
	}
}

func TestEvents_streamsAFrameAndTheNextChange(t *testing.T) {
	sim, _, ids := seededFleet(t, 2)
	srv := serve(t, Handler(sim, Options{Interval: 20 * time.Millisecond}))

	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q, want text/event-stream", ct)
	}
	frames := make(chan Fleet)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(frames)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var f Fleet
			if err := json.Unmarshal([]byte(data), &f); err != nil {
				t.Errorf("frame is not a Fleet: %v", err)
				return
			}
			select {
			case frames <- f:
			case <-done:
				return
			}
		}
	}()
	next := func(what string, ok func(Fleet) bool) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case f, open := <-frames:
				if !open {
					t.Fatalf("stream ended before %s", what)
				}
				if ok(f) {
					return
				}
			case <-deadline:
				t.Fatalf("no frame with %s within 5s", what)
			}
		}
	}
	next("both instances in service", func(f Fleet) bool { return f.InService == 2 })
	if err := sim.Faults().StopInstance(ids[1], 0); err != nil {
		t.Fatal(err)
	}
	next("the stopped instance", func(f Fleet) bool {
		return len(f.Instances) == 2 && f.Instances[1].Phase == PhaseStopped && f.InService == 1
	})
}

func TestPage_isSelfContained(t *testing.T) {
	sim, _, _ := seededFleet(t, 1)
	srv := serve(t, Handler(sim, Options{}))

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy = %q, want external fetches forbidden", csp)
	}
	// No external script, stylesheet, image or font: the demo runs offline.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=|@import|url\(`).FindString(string(body)); m != "" {
		t.Errorf("page references an external asset (%q)", m)
	}
	if !strings.Contains(string(body), `new EventSource("events")`) {
		t.Error("page does not subscribe to /events")
	}
	if resp, err := http.Get(srv.URL + "/nope"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET /nope = %d, want 404", resp.StatusCode)
		}
	}
}

func TestPage_embedsTheCurrentFleetForTheFirstPaint(t *testing.T) {
	sim, _, ids := seededFleet(t, 3)
	srv := serve(t, Handler(sim, Options{MinHealthyPercent: 50}))

	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`<script id="initial" type="application/json">(.*?)</script>`).FindSubmatch(body)
	if m == nil {
		t.Fatal("page has no initial fleet slot")
	}
	var f Fleet
	if err := json.Unmarshal(m[1], &f); err != nil {
		t.Fatalf("initial fleet is not a Fleet (%v): %s", err, m[1])
	}
	if len(f.Instances) != len(ids) || f.Floor != 2 || f.InService != 3 {
		t.Errorf("initial fleet = %d instances, floor %d, %d in service; want 3, 2, 3", len(f.Instances), f.Floor, f.InService)
	}
}

func TestWithInitialFleet_cannotCloseTheScriptElement(t *testing.T) {
	doc := withInitialFleet(page, Fleet{Title: `</script><script>alert(1)</script>`})
	if bytes.Contains(doc, []byte("</script><script>alert")) {
		t.Error("a title closed the initial fleet's script element")
	}
}
