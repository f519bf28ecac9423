package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/devprovider"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cfg := defaultConfig(os.Getenv("DEMO_NONINTERACTIVE") != "1")
	cfg.Out, cfg.In = os.Stdout, os.Stdin
	cfg.Color = cfg.Interactive && isTerminal(os.Stdout)
	// TERRAFORM (or TF_ACC_TERRAFORM_PATH) may name another CLI, e.g. tofu;
	// when it is not found, run reports the name.
	if tf, err := devprovider.Terraform(); err == nil {
		cfg.Terraform = tf
	} else if v := os.Getenv(devprovider.EnvTerraform); v != "" {
		cfg.Terraform = v
	}
	if v := os.Getenv("DEMO_TIME_SCALE"); v != "" {
		scale, err := strconv.ParseFloat(v, 64)
		if err != nil || scale <= 0 {
			fmt.Fprintf(os.Stderr, "DEMO_TIME_SCALE=%q: want a positive number (wall seconds per simulated second)\n", v)
			os.Exit(2)
		}
		cfg.TimeScale = scale
	}
	err := run(ctx, cfg)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "\ndemo interrupted; terraform stopped, simulator and temporary files removed")
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
		os.Exit(1)
	}
}

// isTerminal reports whether f is a character device, so colours are only
// asked of terraform when a person is reading.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
