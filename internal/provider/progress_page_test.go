package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetview"
)

func TestProgressAddr_loopbackOnlyUnlessTheSecondOptIn(t *testing.T) {
	for _, c := range []struct {
		addr   string
		remote bool
		ok     bool
	}{
		{"127.0.0.1:8099", false, true},
		{"localhost:8099", false, true},
		{"[::1]:8099", false, true},
		{"127.0.0.2:0", false, true},
		{":8099", false, false}, // every interface
		{"0.0.0.0:8099", false, false},
		{"192.168.1.10:8099", false, false},
		{"example.com:8099", false, false},
		{"0.0.0.0:8099", true, true},
		{"8099", false, false},
	} {
		err := checkProgressAddr(c.addr, c.remote)
		if (err == nil) != c.ok {
			t.Errorf("%q (remote %v): %v, want ok=%v", c.addr, c.remote, err, c.ok)
		}
		if err != nil && !c.remote && strings.Contains(c.addr, ":8099") && !strings.Contains(err.Error(), EnvProgressAllowRemote) && c.addr != "8099" {
			t.Errorf("%q: the refusal does not say how to opt in: %v", c.addr, err)
		}
	}
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// slowFleet is n instances behind a target group whose deregistration
// delay (1000 s is 1 s of wall time) lets a watcher see each batch.
func slowFleet(t *testing.T, n int, delay time.Duration) (*testFleet, string, []string) {
	f := newTestFleet(t)
	tg := f.sim.AddTargetGroup(fleetsim.TargetGroupConfig{Name: "web", Port: 80, DeregistrationDelay: delay})
	ids := f.sim.AddInstances(fleetsim.InstanceConfig{Count: n, AppVersion: "v1", Tags: map[string]string{"rolling:version": "v1"}, TargetGroupARNs: []string{tg}})
	return f, tg, ids
}

// watchPage reads /fleet.json every 10 ms (twenty times as often as the
// page itself) until stop, and keeps every frame that differs from the one
// before; it also counts the reads.
type pageWatch struct {
	mu     sync.Mutex
	frames []fleetview.Fleet
	reads  int
}

func watchPage(addr string, stop <-chan struct{}) *pageWatch {
	w := &pageWatch{}
	go func() {
		client := &http.Client{Timeout: time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := client.Get("http://" + addr + "/fleet.json")
			if err != nil {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			var f fleetview.Fleet
			err = json.NewDecoder(resp.Body).Decode(&f)
			resp.Body.Close()
			if err != nil {
				continue
			}
			w.mu.Lock()
			w.reads++
			last := len(w.frames) - 1
			if last < 0 || fmt.Sprint(w.frames[last].Instances) != fmt.Sprint(f.Instances) {
				w.frames = append(w.frames, f)
			}
			w.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return w
}

func (f *testFleet) rollTwoVersions(t *testing.T, tg string) {
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1"}
	v2 := deployment{TargetGroups: []string{tg}, Version: "v2"}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(v1)},
			{PreConfig: func() { f.sim.Recorder().Reset() }, Config: f.config(v2)},
		},
	})
}

// Watching costs no AWS call: the same rollout, read hundreds of times
// through the page, makes the calls it makes without the page.
func TestAccProgress_pageShowsTheRolloutWithoutAnyAWSCall(t *testing.T) {
	without, tgA, _ := slowFleet(t, 4, 300*time.Second)
	without.rollTwoVersions(t, tgA)
	base := without.sim.Recorder().CallCount()

	addr := freeAddr(t)
	t.Setenv(EnvProgressAddr, addr)
	with, tgB, ids := slowFleet(t, 4, 300*time.Second)
	stop := make(chan struct{})
	watch := watchPage(addr, stop)
	with.rollTwoVersions(t, tgB)
	close(stop)
	got := with.sim.Recorder().CallCount()

	watch.mu.Lock()
	defer watch.mu.Unlock()
	if watch.reads < 50 {
		t.Fatalf("the page was read %d times during the rollout, too few to tell", watch.reads)
	}
	for action, n := range got {
		// Polls follow wall time, so two runs differ by a few reads; a page
		// making calls of its own would add one per read at least.
		if slack := base[action]/5 + 3; n > base[action]+slack {
			t.Errorf("%s: %d calls with the page read %d times, %d without it", action, n, watch.reads, base[action])
		}
	}
	// The rollout's own changes are the same to the call (the lease's
	// renewals, PutParameter, follow the wall clock instead).
	for _, action := range []string{"DeregisterTargets", "RegisterTargets", "SendCommand", "CreateTags", "DeleteTags"} {
		if got[action] != base[action] {
			t.Errorf("%s: %d calls with the page, %d without", action, got[action], base[action])
		}
	}
	// What it showed: instances leaving and coming back on v2.
	sawDraining, last := false, watch.frames[len(watch.frames)-1]
	for _, fr := range watch.frames {
		for _, inst := range fr.Instances {
			sawDraining = sawDraining || inst.Phase == fleetview.PhaseDraining
		}
	}
	if !sawDraining {
		t.Errorf("no frame showed an instance draining (%d frames)", len(watch.frames))
	}
	if len(last.Instances) != len(ids) || last.InService != len(ids) {
		t.Fatalf("last frame: %d instances, %d in service", len(last.Instances), last.InService)
	}
	for _, inst := range last.Instances {
		if inst.Version != "v2" || inst.Phase != fleetview.PhaseInService {
			t.Errorf("last frame: %s is %s on %q", inst.ID, inst.Phase, inst.Version)
		}
	}
}

const chromiumPath = "/usr/bin/chromium"

// chromium starts headless Chromium as internal/fleetview's browser tests
// do, or skips when it is absent and ROLLING_REQUIRE_CHROMIUM is not 1.
func chromium(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("ROLLING_REQUIRE_CHROMIUM") == "1" {
			t.Fatalf("ROLLING_REQUIRE_CHROMIUM=1 but %s is missing", chromiumPath)
		}
		t.Skipf("%s not found; set ROLLING_REQUIRE_CHROMIUM=1 to make this a failure", chromiumPath)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath), chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.UserDataDir(t.TempDir()))
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return ctx
}

// The page a user opens during a real apply follows it, and keeps the
// final frame once the apply is over.
func TestAccProgress_browserFollowsARealRollout(t *testing.T) {
	browser := chromium(t)
	addr := freeAddr(t)
	t.Setenv(EnvProgressAddr, addr)
	f, tg, ids := slowFleet(t, 4, 1000*time.Second)
	v1 := deployment{TargetGroups: []string{tg}, Version: "v1"}
	v2 := deployment{TargetGroups: []string{tg}, Version: "v2"}
	during := make(chan error, 1)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: f.factories(),
		Steps: []resource.TestStep{
			{Config: f.config(v1)},
			{
				PreConfig: func() { go func() { during <- watchInBrowser(browser, addr) }() },
				Config:    f.config(v2),
			},
		},
	})
	if err := <-during; err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		cell, err := chromedp.Run(browser, chromedp.Evaluate[string](fmt.Sprintf(
			`(c => c ? c.querySelector('.phase').textContent + " on " + c.querySelector('.version').textContent : "no cell")(document.querySelector('[data-id=%q]'))`, id)))
		if err != nil || cell != string(fleetview.PhaseInService)+" on v2" {
			t.Errorf("after the apply the page shows %s %q (%v), want in service on v2", id, cell, err)
		}
	}
	capacity, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.getElementById('capacity').textContent`))
	if err != nil || capacity != "4 of 4 in service (floor 3)" {
		t.Errorf("capacity line %q (%v), want %q", capacity, err, "4 of 4 in service (floor 3)")
	}
}

// watchInBrowser opens the page as soon as the provider serves it and waits
// until it shows an instance out of service for the rollout.
func watchInBrowser(browser context.Context, addr string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/fleet.json")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the page never came up at %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wait, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	moving := `[...document.querySelectorAll('#grid .phase')].some(e => ["draining", "running step", "joining", "baking"].includes(e.textContent))`
	if err := chromedp.Do(wait, chromedp.Navigate("http://"+addr+"/")); err != nil {
		return fmt.Errorf("opening the page: %v", err)
	}
	if _, err := chromedp.Run(wait, chromedp.Poll[bool](moving, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
		return fmt.Errorf("the page never showed an instance on its way: %v", err)
	}
	return nil
}
