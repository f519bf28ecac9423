package fleetsim

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

func runShell(t *testing.T, c *ssm.Client, ids []string, lines ...string) string {
	t.Helper()
	out, err := c.SendCommand(ctx(t), &ssm.SendCommandInput{
		DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids,
		Parameters: map[string][]string{"commands": lines}, Comment: aws.String("test"),
	})
	if err != nil {
		t.Fatalf("SendCommand: %v", err)
	}
	if len(*out.Command.CommandId) != 36 || out.Command.Status != ssmtypes.CommandStatusPending || out.Command.RequestedDateTime == nil {
		t.Fatalf("command %+v", out.Command)
	}
	return *out.Command.CommandId
}

func getInvocation(t *testing.T, c *ssm.Client, cmd, id string) *ssm.GetCommandInvocationOutput {
	t.Helper()
	out, err := c.GetCommandInvocation(ctx(t), &ssm.GetCommandInvocationInput{CommandId: aws.String(cmd), InstanceId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetCommandInvocation: %v", err)
	}
	return out
}

func TestSSM_deployLinesChangeTheInstanceAndReportSuccess(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)
	cmd := runShell(t, c, ids, "app stop", "app deploy v2", "app start", "app check", "echo done")
	inv := getInvocation(t, c, cmd, ids[0])
	if inv.Status != ssmtypes.CommandInvocationStatusPending || inv.ResponseCode != -1 {
		t.Fatalf("right after send: %s %d", inv.Status, inv.ResponseCode)
	}
	s.Advance(time.Second) // delivered, first line running (2s per line)
	if inv = getInvocation(t, c, cmd, ids[0]); inv.Status != ssmtypes.CommandInvocationStatusInProgress || *inv.StatusDetails != "In Progress" {
		t.Fatalf("after delivery: %s", inv.Status)
	}
	s.Advance(10 * time.Second)
	inv = getInvocation(t, c, cmd, ids[0])
	if inv.Status != ssmtypes.CommandInvocationStatusSuccess || inv.ResponseCode != 0 || !strings.Contains(*inv.StandardOutputContent, "done") {
		t.Fatalf("finished: %s %d %q", inv.Status, inv.ResponseCode, *inv.StandardOutputContent)
	}
	if *inv.ExecutionStartDateTime == "" || *inv.ExecutionEndDateTime == "" {
		t.Fatalf("times %q %q", *inv.ExecutionStartDateTime, *inv.ExecutionEndDateTime)
	}
	snap, _ := s.Instance(ids[1])
	if snap.AppVersion != "v2" || !snap.AppRunning {
		t.Fatalf("instance after deploy %+v", snap)
	}
	cmds, err := c.ListCommands(ctx(t), &ssm.ListCommandsInput{CommandId: aws.String(cmd)})
	if err != nil || len(cmds.Commands) != 1 || cmds.Commands[0].Status != ssmtypes.CommandStatusSuccess || cmds.Commands[0].CompletedCount != 2 {
		t.Fatalf("ListCommands %v %+v", err, cmds)
	}
}

func TestSSM_failingDeployStopsAtTheFailingLineWithItsExitCode(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1"})
	s.Faults().FailDeploy("v2", ids[1])
	c := ssm.NewFromConfig(cfg)
	cmd := runShell(t, c, ids, "app deploy v2", "echo never")
	s.Advance(time.Minute)
	ok := getInvocation(t, c, cmd, ids[0])
	bad := getInvocation(t, c, cmd, ids[1])
	if ok.Status != ssmtypes.CommandInvocationStatusSuccess {
		t.Fatalf("healthy instance: %s", ok.Status)
	}
	if bad.Status != ssmtypes.CommandInvocationStatusFailed || bad.ResponseCode != 1 || *bad.StatusDetails != "Failed" ||
		!strings.Contains(*bad.StandardErrorContent, "v2") || strings.Contains(*bad.StandardOutputContent, "never") {
		t.Fatalf("failing instance: %s %d %q %q", bad.Status, bad.ResponseCode, *bad.StandardErrorContent, *bad.StandardOutputContent)
	}
	if snap, _ := s.Instance(ids[1]); snap.AppVersion != "v1" {
		t.Fatalf("failed deploy must keep v1, got %s", snap.AppVersion)
	}
	cmds, _ := c.ListCommands(ctx(t), &ssm.ListCommandsInput{CommandId: aws.String(cmd)})
	if cmds.Commands[0].Status != ssmtypes.CommandStatusFailed || cmds.Commands[0].ErrorCount != 1 {
		t.Fatalf("command %+v", cmds.Commands[0])
	}
}

func TestSSM_exitSleepAndFailLines(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)
	exit := runShell(t, c, ids, "exit 3")
	sleep := runShell(t, c, ids, "sleep 100")
	fail := runShell(t, c, ids, "fail boom")
	s.Advance(50 * time.Second)
	if inv := getInvocation(t, c, exit, ids[0]); inv.Status != ssmtypes.CommandInvocationStatusFailed || inv.ResponseCode != 3 {
		t.Fatalf("exit 3: %s %d", inv.Status, inv.ResponseCode)
	}
	if inv := getInvocation(t, c, fail, ids[0]); inv.ResponseCode != 1 || *inv.StandardErrorContent != "boom\n" {
		t.Fatalf("fail: %d %q", inv.ResponseCode, *inv.StandardErrorContent)
	}
	if inv := getInvocation(t, c, sleep, ids[0]); inv.Status != ssmtypes.CommandInvocationStatusInProgress {
		t.Fatalf("sleep 100 at 50s: %s", inv.Status)
	}
	s.Advance(51 * time.Second)
	if inv := getInvocation(t, c, sleep, ids[0]); inv.Status != ssmtypes.CommandInvocationStatusSuccess {
		t.Fatalf("sleep 100 at 101s: %s", inv.Status)
	}
}

func TestSSM_listCommandInvocationsPaginatesWithDetails(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 7, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)
	cmd := runShell(t, c, ids, "echo hi")
	s.Advance(time.Minute)
	p := ssm.NewListCommandInvocationsPaginator(c, &ssm.ListCommandInvocationsInput{CommandId: aws.String(cmd), Details: true, MaxResults: aws.Int32(3)})
	n, pages := 0, 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, inv := range out.CommandInvocations {
			n++
			if len(inv.CommandPlugins) != 1 || *inv.CommandPlugins[0].Output != "hi\n" || inv.CommandPlugins[0].ResponseCode != 0 || inv.Status != ssmtypes.CommandInvocationStatusSuccess {
				t.Fatalf("invocation %+v", inv)
			}
		}
	}
	if n != 7 || pages != 3 {
		t.Fatalf("%d invocations over %d pages", n, pages)
	}
}

func TestSSM_errorsAreTyped(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)
	_, err := c.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("No-Such-Doc"), InstanceIds: ids})
	var invDoc *ssmtypes.InvalidDocument
	if !errors.As(err, &invDoc) {
		t.Fatalf("want InvalidDocument, got %T %v", err, err)
	}
	_, err = c.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: []string{"i-0123456789abcdef0"},
		Parameters: map[string][]string{"commands": {"true"}}})
	var invID *ssmtypes.InvalidInstanceId
	if !errors.As(err, &invID) {
		t.Fatalf("want InvalidInstanceId, got %T %v", err, err)
	}
	_, err = c.GetCommandInvocation(ctx(t), &ssm.GetCommandInvocationInput{CommandId: aws.String("00000000-0000-4000-a000-000000000000"), InstanceId: aws.String(ids[0])})
	var dne *ssmtypes.InvocationDoesNotExist
	if !errors.As(err, &dne) {
		t.Fatalf("want InvocationDoesNotExist, got %T %v", err, err)
	}
	_, err = c.CancelCommand(ctx(t), &ssm.CancelCommandInput{CommandId: aws.String("00000000-0000-4000-a000-000000000000")})
	var badCmd *ssmtypes.InvalidCommandId
	if !errors.As(err, &badCmd) {
		t.Fatalf("want InvalidCommandId, got %T %v", err, err)
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidCommandId" {
		t.Fatalf("code %v", err)
	}
}

func TestSSM_describeInstanceInformationAndDocument(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	online := s.AddInstances(InstanceConfig{Count: 6, AppVersion: "v1"})
	offline := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1", AgentOffline: true})
	c := ssm.NewFromConfig(cfg)
	p := ssm.NewDescribeInstanceInformationPaginator(c, &ssm.DescribeInstanceInformationInput{MaxResults: aws.Int32(5)})
	pings := map[string]ssmtypes.PingStatus{}
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, i := range out.InstanceInformationList {
			pings[*i.InstanceId] = i.PingStatus
		}
	}
	if pages != 2 || len(pings) != 7 || pings[online[0]] != ssmtypes.PingStatusOnline || pings[offline[0]] != ssmtypes.PingStatusConnectionLost {
		t.Fatalf("pages=%d pings=%v", pages, pings)
	}
	out, err := c.DescribeInstanceInformation(ctx(t), &ssm.DescribeInstanceInformationInput{Filters: []ssmtypes.InstanceInformationStringFilter{
		{Key: aws.String("InstanceIds"), Values: []string{online[2]}}}})
	if err != nil || len(out.InstanceInformationList) != 1 {
		t.Fatalf("filtered: %v %+v", err, out)
	}
	doc, err := c.DescribeDocument(ctx(t), &ssm.DescribeDocumentInput{Name: aws.String("AWS-RunShellScript")})
	if err != nil || doc.Document.Status != ssmtypes.DocumentStatusActive || len(doc.Document.Parameters) != 3 {
		t.Fatalf("document %v %+v", err, doc)
	}
}

func TestSSM_seededDocumentRunsForTheModelledTimeAndRecordsParameters(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	s.AddDocument(DocumentConfig{Name: "Web-Deploy", Versions: 2, Parameters: []string{"version"}})
	s.SetTiming(Timing{StepMean: 10 * time.Second})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)
	out, err := c.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("Web-Deploy"), DocumentVersion: aws.String("1"),
		InstanceIds: ids, Parameters: map[string][]string{"version": {"v7"}}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := *out.Command.CommandId
	s.Advance(5 * time.Second)
	if inv := getInvocation(t, c, cmd, ids[0]); inv.Status != ssmtypes.CommandInvocationStatusInProgress {
		t.Fatalf("at 5s: %s", inv.Status)
	}
	s.Advance(6 * time.Second)
	inv := getInvocation(t, c, cmd, ids[0])
	if inv.Status != ssmtypes.CommandInvocationStatusSuccess || !strings.Contains(*inv.StandardOutputContent, `"version":["v7"]`) || *inv.DocumentVersion != "1" {
		t.Fatalf("%s %q", inv.Status, *inv.StandardOutputContent)
	}
	_, err = c.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("Web-Deploy"), DocumentVersion: aws.String("3"), InstanceIds: ids})
	var bad *ssmtypes.InvalidDocumentVersion
	if !errors.As(err, &bad) {
		t.Fatalf("want InvalidDocumentVersion, got %v", err)
	}
	_, err = c.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("Web-Deploy"), InstanceIds: ids, Parameters: map[string][]string{"nope": {"x"}}})
	var badParams *ssmtypes.InvalidParameters
	if !errors.As(err, &badParams) {
		t.Fatalf("want InvalidParameters, got %v", err)
	}
}

func TestSSM_outputIsCappedLikeAWS(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 1, AppVersion: "v1"})
	long := strings.Repeat("x", 999)
	var lines []string
	for i := 0; i < 30; i++ {
		lines = append(lines, "echo "+long)
	}
	for i := 0; i < 10; i++ {
		lines = append(lines, "fail "+long)
	}
	c := ssm.NewFromConfig(cfg)
	cmd := runShell(t, c, ids, lines...)
	s.Advance(2 * time.Minute)
	inv := getInvocation(t, c, cmd, ids[0])
	if len(*inv.StandardOutputContent) != 24000 || *inv.StandardErrorContent != long+"\n" {
		t.Fatalf("stdout %d bytes, stderr %d bytes", len(*inv.StandardOutputContent), len(*inv.StandardErrorContent))
	}
	list, err := c.ListCommandInvocations(ctx(t), &ssm.ListCommandInvocationsInput{CommandId: aws.String(cmd), Details: true})
	if err != nil || len(*list.CommandInvocations[0].CommandPlugins[0].Output) != 2500 {
		t.Fatalf("plugin output: %v", err)
	}
}

func TestTiming_lognormalStepsVaryAroundTheMean(t *testing.T) {
	s := New(Options{RandSeed: 7, TickInterval: -1})
	defer s.Close()
	s.SetTiming(Timing{StepMean: 10 * time.Second, StepSigma: 0.5})
	var sum time.Duration
	distinct := map[time.Duration]bool{}
	const n = 4000
	s.mu.Lock()
	for i := 0; i < n; i++ {
		d := s.stepDurationLocked()
		sum += d
		distinct[d] = true
	}
	s.mu.Unlock()
	mean := sum / n
	if mean < 9*time.Second || mean > 11*time.Second || len(distinct) < n/2 {
		t.Fatalf("mean %v, %d distinct", mean, len(distinct))
	}
	s.SetTiming(Timing{StepMean: 3 * time.Second})
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.stepDurationLocked(); d != 3*time.Second {
		t.Fatalf("constant step %v", d)
	}
}

func TestSSM_sendCommandByTagTargetsAndListCommandsPaginates(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	web := s.AddInstances(InstanceConfig{Count: 3, AppVersion: "v1", Tags: map[string]string{"Name": "web"}})
	s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1", Tags: map[string]string{"Name": "db"}})
	c := ssm.NewFromConfig(cfg)
	out, err := c.SendCommand(ctx(t), &ssm.SendCommandInput{DocumentName: aws.String("AWS-RunShellScript"),
		Targets: []ssmtypes.Target{{Key: aws.String("tag:Name"), Values: []string{"web"}}}, Parameters: map[string][]string{"commands": {"echo hi"}}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Command.TargetCount != 3 {
		t.Fatalf("targets resolved to %d instances", out.Command.TargetCount)
	}
	s.Advance(time.Minute)
	if inv := getInvocation(t, c, *out.Command.CommandId, web[2]); inv.Status != ssmtypes.CommandInvocationStatusSuccess {
		t.Fatalf("%s", inv.Status)
	}
	for i := 0; i < 4; i++ {
		runShell(t, c, web[:1], "echo again")
	}
	p := ssm.NewListCommandsPaginator(c, &ssm.ListCommandsInput{InstanceId: aws.String(web[0]), MaxResults: aws.Int32(2)})
	n, pages := 0, 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		n += len(page.Commands)
	}
	if n != 5 || pages != 3 {
		t.Fatalf("%d commands over %d pages", n, pages)
	}
}

// CommandFilters narrow both listings: InvokedAfter / InvokedBefore against
// the command's request time, DocumentName, Status; a bad key or time is a
// typed error, and ExecutionStage is refused for ListCommandInvocations.
func TestSSM_commandFiltersNarrowTheListings(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 3, AppVersion: "v1"})
	c := ssm.NewFromConfig(cfg)
	first := runShell(t, c, ids, "echo one")
	s.Advance(time.Minute)
	cut := s.Now()
	second := runShell(t, c, ids[:2], "echo two")
	s.Advance(time.Minute)
	f := func(k, v string) []ssmtypes.CommandFilter {
		return []ssmtypes.CommandFilter{{Key: ssmtypes.CommandFilterKey(k), Value: aws.String(v)}}
	}
	count := func(filters []ssmtypes.CommandFilter) map[string]int {
		t.Helper()
		out, err := c.ListCommandInvocations(ctx(t), &ssm.ListCommandInvocationsInput{Filters: filters})
		if err != nil {
			t.Fatal(err)
		}
		n := map[string]int{}
		for _, inv := range out.CommandInvocations {
			n[aws.ToString(inv.CommandId)]++
		}
		return n
	}
	if n := count(f("InvokedAfter", cut.UTC().Format(time.RFC3339))); n[second] != 2 || n[first] != 0 {
		t.Errorf("InvokedAfter %s: %v", cut, n)
	}
	if n := count(f("InvokedBefore", cut.UTC().Format(time.RFC3339))); n[first] != 3 || n[second] != 0 {
		t.Errorf("InvokedBefore %s: %v", cut, n)
	}
	if n := count(f("DocumentName", "AWS-RunPowerShellScript")); len(n) != 0 {
		t.Errorf("DocumentName of another document: %v", n)
	}
	if n := count(f("Status", "Success")); n[first] != 3 || n[second] != 2 {
		t.Errorf("Status Success: %v", n)
	}
	cmds, err := c.ListCommands(ctx(t), &ssm.ListCommandsInput{Filters: f("InvokedAfter", cut.UTC().Format(time.RFC3339))})
	if err != nil || len(cmds.Commands) != 1 || aws.ToString(cmds.Commands[0].CommandId) != second {
		t.Errorf("ListCommands InvokedAfter: %v %v", cmds, err)
	}
	for _, bad := range [][]ssmtypes.CommandFilter{f("InvokedAfter", "yesterday"), f("ExecutionStage", "Executing"), f("Colour", "red")} {
		_, err := c.ListCommandInvocations(ctx(t), &ssm.ListCommandInvocationsInput{Filters: bad})
		var apiErr interface{ ErrorCode() string }
		if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidFilterKey" {
			t.Errorf("filter %s=%s: %v, want InvalidFilterKey", bad[0].Key, aws.ToString(bad[0].Value), err)
		}
	}
}

// The Status filter takes the values CommandFilter documents for each
// listing, some of them StatusDetails: an invocation whose delivery timed
// out is listed under DeliveryTimedOut and under TimedOut, not under
// ExecutionTimedOut. An undocumented value and more than 5 filters are
// refused.
func TestSSM_statusFilterTakesTheDocumentedValues(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	ids := s.AddInstances(InstanceConfig{Count: 2, AppVersion: "v1"})
	if err := s.Faults().SetAgentOnline(ids[1], false); err != nil {
		t.Fatal(err)
	}
	c := ssm.NewFromConfig(cfg)
	out, err := c.SendCommand(ctx(t), &ssm.SendCommandInput{
		DocumentName: aws.String("AWS-RunShellScript"), InstanceIds: ids, TimeoutSeconds: aws.Int32(30),
		Parameters: map[string][]string{"commands": {"echo ok"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := aws.ToString(out.Command.CommandId)
	s.Advance(2 * time.Minute)
	listed := func(status string) []string {
		t.Helper()
		res, err := c.ListCommandInvocations(ctx(t), &ssm.ListCommandInvocationsInput{CommandId: aws.String(cmd),
			Filters: []ssmtypes.CommandFilter{{Key: ssmtypes.CommandFilterKeyStatus, Value: aws.String(status)}}})
		if err != nil {
			t.Fatalf("Status %s: %v", status, err)
		}
		var got []string
		for _, inv := range res.CommandInvocations {
			got = append(got, aws.ToString(inv.InstanceId))
		}
		return got
	}
	for status, want := range map[string][]string{
		"Success": {ids[0]}, "TimedOut": {ids[1]}, "DeliveryTimedOut": {ids[1]}, "ExecutionTimedOut": nil, "InProgress": nil,
	} {
		if got := listed(status); !slices.Equal(got, want) {
			t.Errorf("Status %s: %v, want %v", status, got, want)
		}
	}
	f := ssmtypes.CommandFilter{Key: ssmtypes.CommandFilterKeyDocumentName, Value: aws.String("AWS-RunShellScript")}
	for _, bad := range [][]ssmtypes.CommandFilter{
		{{Key: ssmtypes.CommandFilterKeyStatus, Value: aws.String("Done")}},
		{f, f, f, f, f, f},
	} {
		if _, err := c.ListCommandInvocations(ctx(t), &ssm.ListCommandInvocationsInput{Filters: bad}); err == nil {
			t.Errorf("filters %v accepted", bad)
		}
	}
}
