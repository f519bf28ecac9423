package rollout

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// TagTargets records, while an instance is out of service, the registrations
// it had before it left, so that a later run (after a crash) can put it back
// even though no target group lists it any more. Tag values are limited to
// 256 characters, so each registration is written as the target group's id
// (the last segment of its ARN) and port: "0123456789abcdef:80 fedcba9876543210:8080".
const TagTargets = "rolling:targets"

// targetGroupID is the last segment of a target group ARN
// (arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID).
func targetGroupID(arn string) string {
	if i := strings.LastIndexByte(arn, '/'); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// EncodeTargets renders registrations for TagTargets, in a stable order.
func EncodeTargets(targets map[string][]Target) string {
	var parts []string
	for arn, ts := range targets {
		for _, t := range ts {
			parts = append(parts, fmt.Sprintf("%s:%d", targetGroupID(arn), t.Port))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// DecodeTargets parses a TagTargets value for one instance, resolving target
// group ids against the known ARNs. Registrations of unknown groups are
// dropped: they belong to another configuration.
func DecodeTargets(instanceID, value string, knownARNs []string) map[string][]Target {
	byID := make(map[string]string, len(knownARNs))
	for _, arn := range knownARNs {
		byID[targetGroupID(arn)] = arn
	}
	out := map[string][]Target{}
	for _, part := range strings.Fields(value) {
		id, portText, ok := strings.Cut(part, ":")
		if !ok {
			continue
		}
		port, err := strconv.ParseInt(portText, 10, 32)
		if err != nil {
			continue
		}
		if arn, known := byID[id]; known {
			out[arn] = append(out[arn], Target{InstanceID: instanceID, Port: int32(port)})
		}
	}
	return out
}
