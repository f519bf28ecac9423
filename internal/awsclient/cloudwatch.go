package awsclient

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// alarms implements rollout.Alarms with CloudWatch DescribeAlarms.
type alarms struct{ c *Client }

// Firing returns the names whose state is ALARM, metric and composite
// alarms alike. A name that does not exist is an error wrapping
// rollout.ErrNotFound: a misspelt alarm would otherwise silently never stop
// a rollout.
func (a *alarms) Firing(ctx context.Context, names []string) ([]string, error) {
	names = dedupe(names)
	states := map[string]cwtypes.StateValue{}
	for _, part := range chunks(names, maxAlarmNamesPerCall) {
		p := cloudwatch.NewDescribeAlarmsPaginator(a.c.cloudwatch, &cloudwatch.DescribeAlarmsInput{
			AlarmNames: part,
			// Without AlarmTypes only metric alarms are returned.
			AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm},
			MaxRecords: aws.Int32(maxAlarmNamesPerCall),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, translate("cloudwatch", "DescribeAlarms", err)
			}
			for _, m := range page.MetricAlarms {
				states[aws.ToString(m.AlarmName)] = m.StateValue
			}
			for _, m := range page.CompositeAlarms {
				states[aws.ToString(m.AlarmName)] = m.StateValue
			}
		}
	}
	var firing, missing []string
	for _, n := range names {
		st, ok := states[n]
		switch {
		case !ok:
			missing = append(missing, n)
		case st == cwtypes.StateValueAlarm:
			firing = append(firing, n)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return firing, fmt.Errorf("cloudwatch DescribeAlarms: alarm(s) %s: %w", strings.Join(missing, ", "), rollout.ErrNotFound)
	}
	return firing, nil
}

func dedupe(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
