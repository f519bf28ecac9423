package awsclient

import (
	"context"
	"fmt"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/rollout"
)

// UnreadyReason says why AWS's report makes an instance undeployable now,
// "" when nothing does: not running, a status check impaired, or an SSM
// agent that is not Online (Run Command could not reach it).
func UnreadyReason(r InstanceReadiness) string {
	switch {
	case !r.Exists:
		return "unknown to EC2"
	case r.State != "" && r.State != "running":
		return r.State
	case r.InstanceStatus == "impaired" || r.SystemStatus == "impaired":
		return fmt.Sprintf("status checks impaired (instance %s, system %s)", r.InstanceStatus, r.SystemStatus)
	case r.AgentChecked && r.PingStatus == "":
		return "no SSM agent registered"
	case r.AgentChecked && r.PingStatus != "Online":
		return "SSM agent " + r.PingStatus
	}
	return ""
}

// readiness is the engine's Readiness port: the preflight's reads again,
// for the instances about to leave.
type readiness struct{ c *Client }

func (r *readiness) Unready(ctx context.Context, ids []string) (map[string]string, error) {
	report, err := r.c.CheckInstances(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for id, rd := range report {
		if reason := UnreadyReason(rd); reason != "" {
			out[id] = reason
		}
	}
	return out, nil
}

var _ rollout.Readiness = (*readiness)(nil)
