package provider

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

// scheduleOf checks planned_batches: one line per batch of rollout number,
// naming exactly those instances, in that order.
func scheduleOf(number int, batches ...[]string) knownvalue.Check {
	checks := []knownvalue.Check{}
	for i, b := range batches {
		checks = append(checks, knownvalue.StringRegexp(regexp.MustCompile(fmt.Sprintf(`^#%d batch %d/%d( \(canary\))?: %s$`,
			number, i+1, len(batches), regexp.QuoteMeta(strings.Join(b, ", "))))))
	}
	return knownvalue.ListExact(checks)
}

// stateBatches reads the batches of the schedule in the state.
func stateBatches(s *terraform.State) [][]string {
	attrs := s.RootModule().Resources[resourceName].Primary.Attributes
	var lines []string
	for i := 0; ; i++ {
		line, ok := attrs[fmt.Sprintf("planned_batches.%d", i)]
		if !ok {
			break
		}
		lines = append(lines, line)
	}
	return scheduleBatches(lines)
}

// scheduleBatches reads the instance ids of each batch line.
func scheduleBatches(lines []string) [][]string {
	var out [][]string
	for _, line := range lines {
		out = append(out, plannedInstances(context.Background(), stringList([]string{line})))
	}
	return out
}
