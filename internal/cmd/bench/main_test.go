package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun_rejectsAFleetSizeThatIsNotANumber(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"-sizes", "10,lots"}, &out, &errs); code != 2 {
		t.Fatalf("exit %d, want 2 (usage)", code)
	}
	if !strings.Contains(errs.String(), `bad size "lots"`) {
		t.Fatalf("stderr %q does not name the bad size", errs.String())
	}
	if out.Len() != 0 {
		t.Fatalf("printed a table for bad flags: %q", out.String())
	}
}

func TestRun_rejectsUnknownFlags(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run([]string{"-fast"}, &out, &errs); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}
