package main

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/fleetview"
)

// printFleet prints the compact fleet table shown after each apply.
func printFleet(w io.Writer, f fleetview.Fleet) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tAZ\tASG\tVERSION\tSTATE")
	for _, i := range f.Instances {
		asg := i.ASG
		if asg == "" {
			asg = "-"
		}
		state := string(i.Phase)
		if i.Detail != "" {
			state += " (" + i.Detail + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.ID, i.AZ, asg, i.Version, state)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d of %d in service, floor %d\n", f.InService, f.Total, f.Floor)
}

// lastRollout is rolling_deployment.last_rollout as `terraform output -json`
// shows it.
type lastRollout struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	StartedAt  string `json:"started_at"`
	FinishedAt string `json:"finished_at"`
	Batches    int    `json:"batches"`
	Updated    int    `json:"updated"`
	Failed     int    `json:"failed"`
	RolledBack int    `json:"rolled_back"`
	Message    string `json:"message"`
}

// deployment is what the state holds of rolling_deployment.web. It is read
// with `terraform show -json` rather than from the outputs because a failed
// apply still records the resource (where every instance ended) but leaves
// the root outputs as they were.
type deployment struct {
	LastRollout *lastRollout `json:"last_rollout"`
	Summary     string       `json:"rollout_summary"`
	Batches     []string     `json:"planned_batches"`
	OutOfDate   []string     `json:"out_of_date_instance_ids"`
}

// parseState reads rolling_deployment.web from `terraform show -json`.
func parseState(data []byte) (deployment, error) {
	var state struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address string          `json:"address"`
					Values  json.RawMessage `json:"values"`
				} `json:"resources"`
			} `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal(data, &state); err != nil {
		return deployment{}, fmt.Errorf("reading terraform show -json: %w", err)
	}
	for _, r := range state.Values.RootModule.Resources {
		if r.Address == "rolling_deployment.web" {
			var d deployment
			if err := json.Unmarshal(r.Values, &d); err != nil {
				return d, fmt.Errorf("reading rolling_deployment.web from the state: %w", err)
			}
			return d, nil
		}
	}
	return deployment{}, fmt.Errorf("the state has no rolling_deployment.web")
}

// printRollout prints the rollout report of the last apply.
func printRollout(w io.Writer, o deployment) {
	if r := o.LastRollout; r != nil {
		fmt.Fprintf(w, "last_rollout: %s, %d batches, %d updated, %d failed, %d rolled back (%s .. %s)\n",
			r.Status, r.Batches, r.Updated, r.Failed, r.RolledBack, r.StartedAt, r.FinishedAt)
		if r.Message != "" {
			fmt.Fprintf(w, "  message: %s\n", r.Message)
		}
	} else {
		fmt.Fprintln(w, "last_rollout: none")
	}
	fmt.Fprintf(w, "out_of_date_instance_ids: %s\n", list(o.OutOfDate))
	printSchedule(w, o.Summary, o.Batches)
}

// printSchedule prints the planned rollout: its summary, then one line per
// batch.
func printSchedule(w io.Writer, summary string, batches []string) {
	fmt.Fprintf(w, "rollout_summary: %s\n", summary)
	if len(batches) == 0 {
		fmt.Fprintln(w, "planned_batches: none")
		return
	}
	fmt.Fprintln(w, "planned_batches:")
	for _, l := range batches {
		fmt.Fprintf(w, "  %s\n", l)
	}
}

func list(ids []string) string {
	if len(ids) == 0 {
		return "[]"
	}
	return "[" + strings.Join(ids, ", ") + "]"
}

// plannedChange is rolling_deployment.web in `terraform show -json PLAN`.
type plannedChange struct {
	Actions []string
	Summary string
	Batches []string
}

var instanceIDPattern = regexp.MustCompile(`\bi-[0-9a-f]{8,17}\b`)

// batches are the instance ids of each line of planned_batches.
func (c plannedChange) batches() [][]string {
	var out [][]string
	for _, line := range c.Batches {
		if ids := instanceIDPattern.FindAllString(line, -1); len(ids) > 0 {
			out = append(out, ids)
		}
	}
	return out
}

// parsePlan reads the deployment's planned change from `terraform show -json`.
func parsePlan(data []byte) (plannedChange, error) {
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string `json:"actions"`
				After   struct {
					Summary string   `json:"rollout_summary"`
					Batches []string `json:"planned_batches"`
				} `json:"after"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal(data, &plan); err != nil {
		return plannedChange{}, fmt.Errorf("reading terraform show -json: %w", err)
	}
	for _, rc := range plan.ResourceChanges {
		if rc.Address == "rolling_deployment.web" {
			return plannedChange{Actions: rc.Change.Actions, Summary: rc.Change.After.Summary, Batches: rc.Change.After.Batches}, nil
		}
	}
	return plannedChange{}, fmt.Errorf("the plan has no change for rolling_deployment.web")
}
