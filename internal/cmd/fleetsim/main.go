package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fleetsim:", err)
		os.Exit(1)
	}
}

// run is main without the process: it returns when ctx is cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleetsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (host:port); loopback only")
	seedPath := fs.String("seed", "", "JSON seed file (fleet, timing, time scale)")
	timeScale := fs.Float64("timescale", 0, "wall seconds per simulated second; overrides the seed (0 = seed or 1)")
	throttling := fs.Bool("throttling", false, "AWS-like API rate limits on (also settable in the seed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr must be a loopback address, got %q", host)
	}
	var seed fleetsim.Seed
	if *seedPath != "" {
		if seed, err = fleetsim.LoadSeed(*seedPath); err != nil {
			return err
		}
	}
	opts := seed.Options()
	if *timeScale > 0 {
		opts.TimeScale = *timeScale
	}
	opts.Throttling = opts.Throttling || *throttling
	sim := fleetsim.New(opts)
	defer sim.Close()
	if err := sim.ApplySeed(seed); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "endpoint: http://%s\n", ln.Addr())
	if f, ok := stdout.(*os.File); ok {
		_ = f.Sync()
	}
	snap := sim.Snapshot()
	fmt.Fprintf(stderr, "fleetsim: region %s, %d instances, %d target groups, time scale %g\n",
		sim.Region(), len(snap.Instances), len(snap.TargetGroups), sim.TimeScale())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
