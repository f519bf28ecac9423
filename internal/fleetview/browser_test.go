package fleetview

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium with a fresh profile, or skips the test
// when Chromium is absent and ROLLING_REQUIRE_CHROMIUM is not 1.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("ROLLING_REQUIRE_CHROMIUM") == "1" {
			t.Fatalf("ROLLING_REQUIRE_CHROMIUM=1 but %s is missing: apt-get install -y chromium", chromiumPath)
		}
		t.Skipf("%s not found (apt-get install -y chromium); set ROLLING_REQUIRE_CHROMIUM=1 to make this a failure", chromiumPath)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// Start the browser on a context without a deadline: a deadline on the
	// first Run would bound the browser's whole life.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	return ctx
}

// waitPhase waits until the grid cell of id shows phase.
func waitPhase(t *testing.T, ctx context.Context, id string, phase Phase) {
	t.Helper()
	expr := fmt.Sprintf(`(document.querySelector('[data-id=%q] .phase') || {}).textContent === %q`, id, string(phase))
	wait, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(wait, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector('[data-id=%q] .phase') || {}).textContent || "no cell"`, id)))
		t.Fatalf("cell %s never showed %q (shows %q): %v", id, phase, got, err)
	}
}

func TestPage_gridShowsInstancesAndFollowsPhaseChanges(t *testing.T) {
	ctx := browser(t)
	sim, tg, ids := seededFleet(t, 3)
	api := serve(t, sim)
	page := serve(t, Handler(sim, Options{Title: "browser test", MinHealthyPercent: 50, Interval: 50 * time.Millisecond}))

	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		waitPhase(t, ctx, id, PhaseInService)
	}
	cells, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#grid .cell').length`))
	if err != nil || cells != 3 {
		t.Fatalf("grid has %d cells (%v), want 3", cells, err)
	}
	version, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('[data-id=%q] .version').textContent`, ids[0])))
	if err != nil || version != "v1" {
		t.Errorf("version cell = %q (%v), want v1", version, err)
	}

	// Take one instance out of its target group the way a user would, with
	// the AWS SDK: it drains for the 300 s deregistration delay.
	client := elbv2.New(elbv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(api.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDFLEETVIEW", "secret", ""),
	})
	_, err = client.DeregisterTargets(context.Background(), &elbv2.DeregisterTargetsInput{
		TargetGroupArn: aws.String(tg),
		Targets:        []elbv2types.TargetDescription{{Id: aws.String(ids[1])}},
	})
	if err != nil {
		t.Fatalf("DeregisterTargets: %v", err)
	}
	waitPhase(t, ctx, ids[1], PhaseDraining)

	// And stop another one through the fault injector.
	if err := sim.Faults().StopInstance(ids[2], 0); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ctx, ids[2], PhaseStopped)
	waitPhase(t, ctx, ids[0], PhaseInService)

	capacity, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('capacity').textContent`))
	if err != nil || capacity != "1 of 3 in service (floor 2)" {
		t.Errorf("capacity line = %q (%v), want %q", capacity, err, "1 of 3 in service (floor 2)")
	}
	points, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('line').getAttribute('points')`))
	if err != nil || points == "" {
		t.Errorf("capacity chart has no line (%q, %v)", points, err)
	}
}
