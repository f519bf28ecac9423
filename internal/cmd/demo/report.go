package main

import (
	"encoding/json"
	"fmt"
	"io"
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

// outputs are the demo configuration's outputs.
type outputs struct {
	LastRollout    *lastRollout
	PlannedBatches [][]string
	OutOfDate      []string
}

// parseOutputs reads `terraform output -json`.
func parseOutputs(data []byte) (outputs, error) {
	var raw map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	var out outputs
	if err := json.Unmarshal(data, &raw); err != nil {
		return out, fmt.Errorf("reading terraform output -json: %w", err)
	}
	decode := func(name string, v any) error {
		o, ok := raw[name]
		if !ok || len(o.Value) == 0 || string(o.Value) == "null" {
			return nil
		}
		if err := json.Unmarshal(o.Value, v); err != nil {
			return fmt.Errorf("output %s: %w", name, err)
		}
		return nil
	}
	for name, v := range map[string]any{"last_rollout": &out.LastRollout, "planned_batches": &out.PlannedBatches, "out_of_date_instance_ids": &out.OutOfDate} {
		if err := decode(name, v); err != nil {
			return out, err
		}
	}
	return out, nil
}

// printRollout prints the rollout report of the last apply.
func printRollout(w io.Writer, o outputs) {
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
	printBatches(w, o.PlannedBatches)
}

func printBatches(w io.Writer, batches [][]string) {
	if len(batches) == 0 {
		fmt.Fprintln(w, "planned_batches: none (nothing to deploy)")
		return
	}
	fmt.Fprintln(w, "planned_batches:")
	for i, b := range batches {
		fmt.Fprintf(w, "  batch %d: %s\n", i+1, strings.Join(b, ", "))
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
	Actions        []string
	PlannedBatches [][]string
}

// parsePlan reads the deployment's planned change from `terraform show -json`.
func parsePlan(data []byte) (plannedChange, error) {
	var plan struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string `json:"actions"`
				After   struct {
					PlannedBatches [][]string `json:"planned_batches"`
				} `json:"after"`
			} `json:"change"`
		} `json:"resource_changes"`
	}
	if err := json.Unmarshal(data, &plan); err != nil {
		return plannedChange{}, fmt.Errorf("reading terraform show -json: %w", err)
	}
	for _, rc := range plan.ResourceChanges {
		if rc.Address == "rolling_deployment.web" {
			return plannedChange{Actions: rc.Change.Actions, PlannedBatches: rc.Change.After.PlannedBatches}, nil
		}
	}
	return plannedChange{}, fmt.Errorf("the plan has no change for rolling_deployment.web")
}
