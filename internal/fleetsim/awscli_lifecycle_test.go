package fleetsim

import (
	"strings"
	"testing"
	"time"
)

type cliState struct {
	Code int
	Name string
}

type cliStateChange struct {
	InstanceId                  string
	CurrentState, PreviousState cliState
}

func TestAWSCLI_ec2StateChangesAndInstanceStatus(t *testing.T) {
	t.Parallel()
	s, _, url := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 3, AppVersion: "v1"})

	var stop struct{ StoppingInstances []cliStateChange }
	awsCLI(t, url, &stop, "ec2", "stop-instances", "--instance-ids", ids[0])
	if c := stop.StoppingInstances; len(c) != 1 || c[0].InstanceId != ids[0] || c[0].PreviousState != (cliState{16, "running"}) || c[0].CurrentState != (cliState{64, "stopping"}) {
		t.Fatalf("stop-instances %+v", stop)
	}
	type summary struct {
		Status  string
		Details []struct{ Name, Status string }
	}
	var status struct {
		InstanceStatuses []struct {
			InstanceId                   string
			InstanceState                cliState
			InstanceStatus, SystemStatus summary
		}
	}
	awsCLI(t, url, &status, "ec2", "describe-instance-status", "--include-all-instances", "--instance-ids", ids[0], ids[1])
	if st := status.InstanceStatuses; len(st) != 2 || st[0].InstanceState.Name != "stopping" || st[0].InstanceStatus.Status != "not-applicable" ||
		st[1].SystemStatus.Status != "ok" || st[1].InstanceStatus.Details[0].Status != "passed" {
		t.Fatalf("describe-instance-status %+v", status)
	}
	if err := s.Faults().SetStatusChecks(ids[2], StatusImpaired, "", 0); err != nil {
		t.Fatal(err)
	}
	awsCLI(t, url, &status, "ec2", "describe-instance-status", "--filters", "Name=instance-status.status,Values=impaired")
	if st := status.InstanceStatuses; len(st) != 1 || st[0].InstanceId != ids[2] || st[0].InstanceStatus.Details[0].Status != "failed" {
		t.Fatalf("impaired filter %+v", status)
	}

	s.Advance(30 * time.Second)
	var start struct{ StartingInstances []cliStateChange }
	awsCLI(t, url, &start, "ec2", "start-instances", "--instance-ids", ids[0])
	if c := start.StartingInstances; len(c) != 1 || c[0].PreviousState != (cliState{80, "stopped"}) || c[0].CurrentState != (cliState{0, "pending"}) {
		t.Fatalf("start-instances %+v", start)
	}
	var term struct{ TerminatingInstances []cliStateChange }
	awsCLI(t, url, &term, "ec2", "terminate-instances", "--instance-ids", ids[1])
	if c := term.TerminatingInstances; len(c) != 1 || c[0].CurrentState != (cliState{32, "shutting-down"}) {
		t.Fatalf("terminate-instances %+v", term)
	}
	if msg := awsCLIFails(t, url, "ec2", "start-instances", "--instance-ids", ids[1]); !strings.Contains(msg, "IncorrectInstanceState") {
		t.Fatalf("starting a shutting-down instance: %s", msg)
	}
	if msg := awsCLIFails(t, url, "ec2", "stop-instances", "--instance-ids", "i-0123456789abcdef0"); !strings.Contains(msg, "InvalidInstanceID.NotFound") {
		t.Fatalf("unknown instance: %s", msg)
	}
}

func TestAWSCLI_ssmDescribeDocumentAndRefusedParameters(t *testing.T) {
	t.Parallel()
	s, _, url := newFrozenSim(t, Options{})
	seedWebDeploy(t, s)
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	var doc struct {
		Document struct {
			Name, DocumentVersion, LatestVersion, DefaultVersion, Status, DocumentType string
			Parameters                                                                 []struct {
				Name, Type   string
				DefaultValue *string
			}
		}
	}
	awsCLI(t, url, &doc, "ssm", "describe-document", "--name", "AWS-RunShellScript")
	if d := doc.Document; d.Name != "AWS-RunShellScript" || d.Status != "Active" || d.DocumentType != "Command" || len(d.Parameters) != 3 ||
		d.Parameters[0].Name != "commands" || d.Parameters[0].DefaultValue != nil || *d.Parameters[2].DefaultValue != "3600" {
		t.Fatalf("describe-document %+v", doc)
	}
	doc.Document.Parameters = nil // absent DefaultValues must not keep the previous answer's
	awsCLI(t, url, &doc, "ssm", "describe-document", "--name", "Web-Deploy", "--document-version", "$LATEST")
	if d := doc.Document; d.DocumentVersion != "3" || d.LatestVersion != "3" || d.DefaultVersion != "2" || len(d.Parameters) != 3 || d.Parameters[1].DefaultValue != nil {
		t.Fatalf("seeded document %+v", doc)
	}
	if msg := awsCLIFails(t, url, "ssm", "describe-document", "--name", "Web-Deploy", "--document-version", "9"); !strings.Contains(msg, "InvalidDocumentVersion") {
		t.Fatalf("unknown version: %s", msg)
	}
	if msg := awsCLIFails(t, url, "ssm", "send-command", "--document-name", "Web-Deploy", "--instance-ids", ids[0],
		"--parameters", `{"version":["v2"]}`); !strings.Contains(msg, "InvalidParameters") || !strings.Contains(msg, "target") {
		t.Fatalf("missing required parameter: %s", msg)
	}
	if msg := awsCLIFails(t, url, "ssm", "send-command", "--document-name", "No-Such-Doc", "--instance-ids", ids[0]); !strings.Contains(msg, "InvalidDocument") {
		t.Fatalf("unknown document: %s", msg)
	}
}

func TestAWSCLI_autoscalingCapacityCalls(t *testing.T) {
	t.Parallel()
	s, _, url := newFrozenSim(t, Options{})
	_, ids := seedGroup(s, 2)
	if msg := awsCLIFails(t, url, "autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", "web-asg", "--min-size", "5", "--max-size", "3"); !strings.Contains(msg, "Max bound, 3, must be greater than or equal to min bound, 5") {
		t.Fatalf("min above max: %s", msg)
	}
	awsCLI(t, url, nil, "autoscaling", "update-auto-scaling-group", "--auto-scaling-group-name", "web-asg", "--min-size", "2", "--max-size", "4")
	awsCLI(t, url, nil, "autoscaling", "set-desired-capacity", "--auto-scaling-group-name", "web-asg", "--desired-capacity", "3", "--honor-cooldown")
	if msg := awsCLIFails(t, url, "autoscaling", "set-desired-capacity", "--auto-scaling-group-name", "web-asg", "--desired-capacity", "5"); !strings.Contains(msg, "above max value 4") {
		t.Fatalf("above max: %s", msg)
	}
	var groups struct {
		AutoScalingGroups []struct {
			MinSize, MaxSize, DesiredCapacity int
			Instances                         []struct{ InstanceId, LifecycleState string }
		}
	}
	awsCLI(t, url, &groups, "autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", "web-asg")
	if g := groups.AutoScalingGroups; len(g) != 1 || g[0].MinSize != 2 || g[0].MaxSize != 4 || g[0].DesiredCapacity != 3 || len(g[0].Instances) != 3 || g[0].Instances[2].LifecycleState != "Pending" {
		t.Fatalf("describe-auto-scaling-groups %+v", groups)
	}
	var term struct {
		Activity struct{ Description, Cause, StatusCode string }
	}
	awsCLI(t, url, &term, "autoscaling", "terminate-instance-in-auto-scaling-group", "--instance-id", ids[0], "--should-decrement-desired-capacity")
	if a := term.Activity; a.Description != "Terminating EC2 instance: "+ids[0] || !strings.Contains(a.Cause, "from 3 to 2") || a.StatusCode != "InProgress" {
		t.Fatalf("terminate-instance-in-auto-scaling-group %+v", term)
	}
	if msg := awsCLIFails(t, url, "autoscaling", "terminate-instance-in-auto-scaling-group", "--instance-id", ids[1], "--should-decrement-desired-capacity"); !strings.Contains(msg, "desiredSize equals minSize (2)") {
		t.Fatalf("below min: %s", msg)
	}
}

func TestAWSCLI_autoscalingGroupTags(t *testing.T) {
	t.Parallel()
	s, _, url := newFrozenSim(t, Options{})
	seedGroup(s, 1)
	awsCLI(t, url, nil, "autoscaling", "create-or-update-tags", "--tags",
		"ResourceId=web-asg,ResourceType=auto-scaling-group,Key=rolling:surge,Value=desired=1,PropagateAtLaunch=false")
	var groups struct {
		AutoScalingGroups []struct {
			Tags []struct {
				Key, Value        string
				PropagateAtLaunch bool
			}
		}
	}
	awsCLI(t, url, &groups, "autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", "web-asg")
	found := false
	for _, tag := range groups.AutoScalingGroups[0].Tags {
		if tag.Key == "rolling:surge" {
			found = tag.Value == "desired=1" && !tag.PropagateAtLaunch
		}
	}
	if !found {
		t.Fatalf("create-or-update-tags: %+v", groups)
	}
	if msg := awsCLIFails(t, url, "autoscaling", "create-or-update-tags", "--tags", "ResourceId=web-asg,ResourceType=auto-scaling-group,Key=aws:x,Value=1"); !strings.Contains(msg, "reserved") {
		t.Fatalf("reserved key: %s", msg)
	}
	awsCLI(t, url, nil, "autoscaling", "delete-tags", "--tags", "ResourceId=web-asg,ResourceType=auto-scaling-group,Key=rolling:surge")
	awsCLI(t, url, &groups, "autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", "web-asg")
	for _, tag := range groups.AutoScalingGroups[0].Tags {
		if tag.Key == "rolling:surge" {
			t.Fatalf("delete-tags left %+v", tag)
		}
	}
}
