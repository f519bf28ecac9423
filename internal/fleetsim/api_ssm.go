package fleetsim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

type jsonHandler func(*Sim, *apiRequest) (any, *apiError)

var ssmActions = map[string]jsonHandler{
	"SendCommand":                 (*Sim).ssmSendCommand,
	"ListCommandInvocations":      (*Sim).ssmListCommandInvocations,
	"GetCommandInvocation":        (*Sim).ssmGetCommandInvocation,
	"ListCommands":                (*Sim).ssmListCommands,
	"CancelCommand":               (*Sim).ssmCancelCommand,
	"DescribeInstanceInformation": (*Sim).ssmDescribeInstanceInformation,
	"DescribeDocument":            (*Sim).ssmDescribeDocument,
}

type sendCommandInput struct {
	InstanceIds            []string            `json:"InstanceIds"`
	Targets                []keyValues         `json:"Targets"`
	DocumentName           string              `json:"DocumentName"`
	DocumentVersion        string              `json:"DocumentVersion"`
	Parameters             map[string][]string `json:"Parameters"`
	TimeoutSeconds         *int                `json:"TimeoutSeconds"`
	MaxConcurrency         string              `json:"MaxConcurrency"`
	MaxErrors              string              `json:"MaxErrors"`
	Comment                string              `json:"Comment"`
	CloudWatchOutputConfig map[string]any      `json:"CloudWatchOutputConfig"`
	ServiceRoleArn         string              `json:"ServiceRoleArn"`
	OutputS3BucketName     string              `json:"OutputS3BucketName"`
}

type commandJSON struct {
	CommandId              string              `json:"CommandId"`
	DocumentName           string              `json:"DocumentName"`
	DocumentVersion        string              `json:"DocumentVersion"`
	Comment                string              `json:"Comment"`
	ExpiresAfter           *epoch              `json:"ExpiresAfter,omitempty"`
	Parameters             map[string][]string `json:"Parameters"`
	InstanceIds            []string            `json:"InstanceIds"`
	Targets                []keyValues         `json:"Targets"`
	RequestedDateTime      *epoch              `json:"RequestedDateTime,omitempty"`
	Status                 string              `json:"Status"`
	StatusDetails          string              `json:"StatusDetails"`
	MaxConcurrency         string              `json:"MaxConcurrency"`
	MaxErrors              string              `json:"MaxErrors"`
	TargetCount            int                 `json:"TargetCount"`
	CompletedCount         int                 `json:"CompletedCount"`
	ErrorCount             int                 `json:"ErrorCount"`
	DeliveryTimedOutCount  int                 `json:"DeliveryTimedOutCount"`
	TimeoutSeconds         int                 `json:"TimeoutSeconds"`
	CloudWatchOutputConfig map[string]any      `json:"CloudWatchOutputConfig"`
	OutputS3Region         string              `json:"OutputS3Region,omitempty"`
	NotificationConfig     map[string]any      `json:"NotificationConfig"`
}

func (s *Sim) commandJSON(c *command) commandJSON {
	out := commandJSON{
		CommandId: c.id, DocumentName: c.docName, DocumentVersion: c.docVersion, Comment: c.comment,
		ExpiresAfter: epochPtr(c.expiresAfter), Parameters: c.params, InstanceIds: c.instanceIDs, Targets: c.targets,
		RequestedDateTime: epochPtr(c.requestedAt), Status: c.status, StatusDetails: c.details,
		MaxConcurrency: c.maxConcurrency, MaxErrors: c.maxErrors, TargetCount: len(c.invocations),
		TimeoutSeconds: c.timeoutSeconds, CloudWatchOutputConfig: c.cwOutput, OutputS3Region: s.opts.Region,
		NotificationConfig: map[string]any{"NotificationEvents": []string{}, "NotificationType": ""},
	}
	if out.Targets == nil {
		out.Targets = []keyValues{}
	}
	if out.CloudWatchOutputConfig == nil {
		out.CloudWatchOutputConfig = map[string]any{"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false}
	}
	for _, inv := range c.invocations {
		if inv.done() {
			out.CompletedCount++
		}
		if inv.status == InvFailed && inv.details == DetailsFailed || inv.details == DetailsExecTimedOut {
			out.ErrorCount++
		}
		if inv.details == DetailsDeliveryTimedOut {
			out.DeliveryTimedOutCount++
		}
	}
	return out
}

func (s *Sim) ssmSendCommand(req *apiRequest) (any, *apiError) {
	var in sendCommandInput
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.InstanceIDs = in.InstanceIds
	req.call.Params = map[string]string{"DocumentName": in.DocumentName}
	if in.Comment != "" {
		req.call.Params["Comment"] = in.Comment
	}
	if in.DocumentName == "" {
		return nil, clientErr("ValidationException", "1 validation error detected: Value null at 'documentName' failed to satisfy constraint: Member must not be null")
	}
	if len(in.Comment) > 100 {
		return nil, clientErr("ValidationException", "1 validation error detected: Value at 'comment' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	doc, dv, derr := s.documentRequestLocked(in.DocumentName, in.DocumentVersion)
	if derr != nil {
		return nil, derr
	}
	version := dv.number
	if err := doc.checkParameters(dv, in.Parameters); err != nil {
		return nil, err
	}
	if doc.shell {
		if len(in.Parameters["commands"]) == 0 {
			return nil, clientErr("InvalidParameters", "The parameter commands is required for document AWS-RunShellScript")
		}
		if v := in.Parameters["executionTimeout"]; len(v) > 0 {
			n, err := strconv.Atoi(strings.TrimSpace(v[0]))
			if err != nil || n < 1 || n > 172800 {
				return nil, clientErr("InvalidParameters", "executionTimeout must be a number of seconds between 1 and 172800")
			}
		}
	}
	timeout := 3600
	if in.TimeoutSeconds != nil {
		if *in.TimeoutSeconds < 30 || *in.TimeoutSeconds > 2592000 {
			return nil, clientErr("ValidationException", "1 validation error detected: Value '%d' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between 30 and 2592000", *in.TimeoutSeconds)
		}
		timeout = *in.TimeoutSeconds
	}
	for _, v := range []string{in.MaxConcurrency, in.MaxErrors} {
		if _, ok := parseLimit(v, 1, 0); !ok || len(v) > 7 {
			return nil, clientErr("ValidationException", "1 validation error detected: Value '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([1-9][0-9]*|[0]|[1-9][0-9]%%|[0-9]%%|100%%)$", v)
		}
	}
	if len(in.InstanceIds) > 50 {
		return nil, clientErr("ValidationException", "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	ids := append([]string(nil), in.InstanceIds...)
	if len(ids) == 0 && len(in.Targets) > 0 {
		var err *apiError
		if ids, err = s.resolveSSMTargetsLocked(in.Targets); err != nil {
			return nil, err
		}
	}
	if len(ids) == 0 && len(in.Targets) == 0 {
		return nil, clientErr("ValidationException", "InstanceIds or Targets must be specified")
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return nil, clientErr("DuplicateInstanceId", "Instance Id %s is duplicated", id)
		}
		seen[id] = true
		inst := s.instances[id]
		if inst == nil || inst.state == StateTerminated || inst.state == StateShuttingDown || !instanceIDPattern.MatchString(id) {
			return nil, clientErr("InvalidInstanceId", "Instances [[%s]] not in a valid state for account %s", id, s.opts.AccountID)
		}
	}
	params := map[string][]string{}
	for k, v := range in.Parameters {
		params[k] = append([]string(nil), v...)
	}
	if doc.shell {
		if _, ok := params["executionTimeout"]; !ok {
			params["executionTimeout"] = []string{"3600"}
		}
		if _, ok := params["workingDirectory"]; !ok {
			params["workingDirectory"] = []string{""}
		}
	}
	if in.MaxConcurrency == "" {
		in.MaxConcurrency = "50"
	}
	if in.MaxErrors == "" {
		in.MaxErrors = "0"
	}
	exec := 3600
	if v := params["executionTimeout"]; len(v) > 0 {
		if n, err := strconv.Atoi(strings.TrimSpace(v[0])); err == nil {
			exec = n
		}
	}
	c := &command{
		id: s.uuidLocked(), docName: in.DocumentName, docVersion: version, params: params, instanceIDs: in.InstanceIds, resolved: ids,
		targets: in.Targets, comment: in.Comment, timeoutSeconds: timeout, maxConcurrency: in.MaxConcurrency,
		maxErrors: in.MaxErrors, cwOutput: in.CloudWatchOutputConfig, requestedAt: s.now,
		expiresAfter: s.now.Add(time.Duration(timeout+exec) * time.Second), shell: doc.shell,
	}
	if in.InstanceIds == nil {
		c.instanceIDs = []string{}
	}
	req.call.CommandID = c.id
	req.call.InstanceIDs = ids
	req.call.Params["DocumentVersion"] = version
	req.call.Params["TimeoutSeconds"] = strconv.Itoa(timeout)
	req.call.Params["MaxConcurrency"] = c.maxConcurrency
	req.call.Params["MaxErrors"] = c.maxErrors
	if v := params["executionTimeout"]; len(v) > 0 {
		req.call.Params["executionTimeout"] = v[0]
	}
	if v := params["commands"]; len(v) > 0 {
		req.call.Params["commands"] = strings.Join(v, "\n")
	}
	s.sendCommandLocked(c)
	return map[string]any{"Command": s.commandJSON(c)}, nil
}

func (s *Sim) resolveSSMTargetsLocked(targets []keyValues) ([]string, *apiError) {
	var ids []string
	for _, inst := range s.sortedInstancesLocked() {
		if inst.state == StateTerminated {
			continue
		}
		match := true
		for _, t := range targets {
			switch {
			case t.Key == "InstanceIds":
				match = match && containsString(t.Values, inst.id)
			case strings.HasPrefix(t.Key, "tag:"):
				v, ok := inst.tags[strings.TrimPrefix(t.Key, "tag:")]
				match = match && ok && containsString(t.Values, v)
			case t.Key == "tag-key":
				found := false
				for _, k := range t.Values {
					if _, ok := inst.tags[k]; ok {
						found = true
					}
				}
				match = match && found
			default:
				return nil, clientErr("InvalidTarget", "Target key %s is not supported", t.Key)
			}
		}
		if match {
			ids = append(ids, inst.id)
		}
	}
	return ids, nil
}

func validCommandID(id string) bool { return len(id) == 36 }

type pluginJSON struct {
	Name                   string `json:"Name"`
	Status                 string `json:"Status"`
	StatusDetails          string `json:"StatusDetails"`
	ResponseCode           int    `json:"ResponseCode"`
	ResponseStartDateTime  *epoch `json:"ResponseStartDateTime,omitempty"`
	ResponseFinishDateTime *epoch `json:"ResponseFinishDateTime,omitempty"`
	Output                 string `json:"Output"`
	StandardOutputUrl      string `json:"StandardOutputUrl"`
	StandardErrorUrl       string `json:"StandardErrorUrl"`
	OutputS3Region         string `json:"OutputS3Region"`
}

type invocationJSON struct {
	CommandId              string         `json:"CommandId"`
	InstanceId             string         `json:"InstanceId"`
	InstanceName           string         `json:"InstanceName"`
	Comment                string         `json:"Comment"`
	DocumentName           string         `json:"DocumentName"`
	DocumentVersion        string         `json:"DocumentVersion"`
	RequestedDateTime      *epoch         `json:"RequestedDateTime,omitempty"`
	Status                 string         `json:"Status"`
	StatusDetails          string         `json:"StatusDetails"`
	StandardOutputUrl      string         `json:"StandardOutputUrl"`
	StandardErrorUrl       string         `json:"StandardErrorUrl"`
	CommandPlugins         []pluginJSON   `json:"CommandPlugins"`
	CloudWatchOutputConfig map[string]any `json:"CloudWatchOutputConfig"`
}

func pluginName(c *command) string {
	if c.shell {
		return "aws:runShellScript"
	}
	return "aws:runDocument"
}

func (inv *invocation) output() string {
	out := inv.stdout.String()
	if e := inv.stderr.String(); e != "" {
		out += "\n----------ERROR-------\n" + e
	}
	if len(out) > 2500 {
		out = out[:2500]
	}
	return out
}

func (s *Sim) invocationJSON(inv *invocation, details bool) invocationJSON {
	c := inv.cmd
	out := invocationJSON{
		CommandId: c.id, InstanceId: inv.instanceID, InstanceName: inv.instanceName, Comment: c.comment,
		DocumentName: c.docName, DocumentVersion: c.docVersion, RequestedDateTime: epochPtr(inv.requestedAt),
		Status: inv.status, StatusDetails: inv.details, CommandPlugins: []pluginJSON{},
		CloudWatchOutputConfig: c.cwOutput,
	}
	if out.CloudWatchOutputConfig == nil {
		out.CloudWatchOutputConfig = map[string]any{"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false}
	}
	if details {
		p := pluginJSON{Name: pluginName(c), Status: inv.status, StatusDetails: inv.details, ResponseCode: inv.responseCode,
			Output: inv.output(), OutputS3Region: s.opts.Region}
		if inv.status != InvPending {
			p.ResponseStartDateTime = epochPtr(inv.startedAt)
		}
		if inv.done() {
			p.ResponseFinishDateTime = epochPtr(inv.endedAt)
		}
		out.CommandPlugins = []pluginJSON{p}
	}
	return out
}

type listInvocationsInput struct {
	CommandId  string          `json:"CommandId"`
	InstanceId string          `json:"InstanceId"`
	Details    bool            `json:"Details"`
	MaxResults *int            `json:"MaxResults"`
	NextToken  string          `json:"NextToken"`
	Filters    []commandFilter `json:"Filters"`
}

// commandFilter is SSM's CommandFilter (lower-case member names on the wire).
type commandFilter struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// commandMatcher is the conjunction of CommandFilters (at most 5):
// InvokedAfter ("and later") and InvokedBefore ("before"), timestamps such
// as 2024-07-07T00:00:00Z against the command's request time; DocumentName;
// Status, one of the values CommandFilter documents for the operation (the
// invocation's or, for ListCommands, the command's), some of which are
// StatusDetails (DeliveryTimedOut is "Delivery Timed Out"). ExecutionStage
// is refused for ListCommandInvocations, as by SSM, and not modelled for
// ListCommands.
type commandMatcher struct {
	after, before time.Time
	doc, status   string
}

func parseCommandFilters(fs []commandFilter, op string) (commandMatcher, *apiError) {
	var m commandMatcher
	if len(fs) > maxCommandFilters {
		return m, clientErr("ValidationException", "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to %d", maxCommandFilters)
	}
	for _, f := range fs {
		switch f.Key {
		case "InvokedAfter", "InvokedBefore":
			t, err := time.Parse(time.RFC3339Nano, f.Value)
			if err != nil {
				return m, clientErr("InvalidFilterKey", "%s is not a valid value for the %s filter", f.Value, f.Key)
			}
			if f.Key == "InvokedAfter" {
				m.after = t
			} else {
				m.before = t
			}
		case "DocumentName":
			m.doc = f.Value
		case "Status":
			valid := invocationStatusFilters
			if op == "ListCommands" {
				valid = commandStatusFilters
			}
			if _, ok := valid[f.Value]; !ok {
				return m, clientErr("InvalidFilterKey", "%s is not a valid value for the Status filter of %s", f.Value, op)
			}
			m.status = f.Value
		case "ExecutionStage":
			if op == "ListCommandInvocations" {
				return m, clientErr("InvalidFilterKey", "The ExecutionStage filter can't be used with ListCommandInvocations")
			}
			return m, clientErr("InvalidFilterKey", "fleetsim does not model the ExecutionStage filter")
		default:
			return m, clientErr("InvalidFilterKey", "%s is not a valid filter key", f.Key)
		}
	}
	return m, nil
}

// maxCommandFilters is the most CommandFilters a listing takes.
const maxCommandFilters = 5

// invocationStatusFilters and commandStatusFilters are the Status filter
// values CommandFilter documents for ListCommandInvocations and
// ListCommands; a value maps to the StatusDetails it stands for, or to ""
// when it is a Status.
var (
	invocationStatusFilters = map[string]string{
		"Pending": "", "InProgress": "", "Delayed": "", "Success": "", "Cancelled": "", "Failed": "", "TimedOut": "",
		"AccessDenied": "Access Denied", "DeliveryTimedOut": DetailsDeliveryTimedOut, "ExecutionTimedOut": DetailsExecTimedOut,
		"Undeliverable": DetailsUndeliverable, "InvalidPlatform": "Invalid Platform", "Terminated": DetailsTerminated,
	}
	commandStatusFilters = map[string]string{
		"Pending": "", "InProgress": "", "Success": "", "Cancelled": "", "Failed": "", "TimedOut": "",
		"AccessDenied": "Access Denied", "DeliveryTimedOut": DetailsDeliveryTimedOut, "ExecutionTimedOut": DetailsExecTimedOut,
		"Incomplete": "Incomplete", "NoInstancesInTag": "No Instances In Tag", "LimitExceeded": "Rate Exceeded",
	}
)

// statusMatches says whether a status and its details pass the Status filter.
func (m commandMatcher) statusMatches(status, details string, valid map[string]string) bool {
	if m.status == "" {
		return true
	}
	if d := valid[m.status]; d != "" {
		return details == d
	}
	return status == m.status
}

// command says whether c passes the time and document filters.
func (m commandMatcher) command(c *command) bool {
	return (m.after.IsZero() || !c.requestedAt.Before(m.after)) &&
		(m.before.IsZero() || c.requestedAt.Before(m.before)) &&
		(m.doc == "" || c.docName == m.doc)
}

func (s *Sim) ssmMaxResults(p *int, def, lo, hi int) (int, *apiError) {
	if p == nil {
		return def, nil
	}
	if *p < lo || *p > hi {
		return 0, clientErr("ValidationException", "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between %d and %d", *p, lo, hi)
	}
	return *p, nil
}

func (s *Sim) ssmListCommandInvocations(req *apiRequest) (any, *apiError) {
	var in listInvocationsInput
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.CommandID = in.CommandId
	if in.InstanceId != "" {
		req.call.InstanceIDs = []string{in.InstanceId}
	}
	size, err := s.ssmMaxResults(in.MaxResults, 50, 1, 50)
	if err != nil {
		return nil, err
	}
	if in.CommandId != "" && !validCommandID(in.CommandId) {
		return nil, clientErr("InvalidCommandId", "Invalid command id %s", in.CommandId)
	}
	if in.InstanceId != "" && !instanceIDPattern.MatchString(in.InstanceId) {
		return nil, clientErr("InvalidInstanceId", "Invalid instance id %s", in.InstanceId)
	}
	if !validToken(in.NextToken) {
		return nil, clientErr("InvalidNextToken", "The specified token is not valid")
	}
	if len(in.Filters) > 0 {
		var keys []string
		for _, f := range in.Filters {
			keys = append(keys, f.Key)
		}
		req.call.Params = map[string]string{"Filters": strings.Join(keys, ",")}
	}
	match, ferr := parseCommandFilters(in.Filters, "ListCommandInvocations")
	if ferr != nil {
		return nil, ferr
	}
	var list []*invocation
	for _, c := range s.sortedCommandsNewestFirstLocked() {
		if in.CommandId != "" && c.id != in.CommandId || !s.visibleLocked(c) || !match.command(c) {
			continue
		}
		for _, inv := range c.invocations {
			if (in.InstanceId == "" || inv.instanceID == in.InstanceId) && match.statusMatches(inv.status, inv.details, invocationStatusFilters) {
				list = append(list, inv)
			}
		}
	}
	start, end, next, perr := paginate(len(list), in.NextToken, size)
	if perr != nil {
		return nil, perr
	}
	out := map[string]any{}
	items := []invocationJSON{}
	for _, inv := range list[start:end] {
		items = append(items, s.invocationJSON(inv, in.Details))
	}
	out["CommandInvocations"] = items
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Sim) ssmGetCommandInvocation(req *apiRequest) (any, *apiError) {
	var in struct {
		CommandId  string `json:"CommandId"`
		InstanceId string `json:"InstanceId"`
		PluginName string `json:"PluginName"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.CommandID = in.CommandId
	req.call.InstanceIDs = []string{in.InstanceId}
	if !validCommandID(in.CommandId) {
		return nil, clientErr("InvalidCommandId", "Invalid command id %s", in.CommandId)
	}
	if !instanceIDPattern.MatchString(in.InstanceId) {
		return nil, clientErr("InvalidInstanceId", "Invalid instance id %s", in.InstanceId)
	}
	c := s.commands[in.CommandId]
	if c == nil || !s.visibleLocked(c) || c.byInstance[in.InstanceId] == nil {
		return nil, clientErr("InvocationDoesNotExist", "An error occurred (InvocationDoesNotExist) when calling the GetCommandInvocation operation")
	}
	if in.PluginName != "" && in.PluginName != pluginName(c) {
		return nil, clientErr("InvalidPluginName", "Plugin %s is not part of the document", in.PluginName)
	}
	inv := c.byInstance[in.InstanceId]
	out := map[string]any{
		"CommandId": c.id, "InstanceId": inv.instanceID, "Comment": c.comment, "DocumentName": c.docName,
		"DocumentVersion": c.docVersion, "PluginName": pluginName(c), "ResponseCode": inv.responseCode,
		"Status": inv.status, "StatusDetails": inv.details,
		"StandardOutputContent": "", "StandardOutputUrl": "", "StandardErrorContent": "", "StandardErrorUrl": "",
		"CloudWatchOutputConfig": map[string]any{"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": false},
		"ExecutionElapsedTime":   "", "ExecutionStartDateTime": "", "ExecutionEndDateTime": "",
	}
	if c.cwOutput != nil {
		out["CloudWatchOutputConfig"] = c.cwOutput
	}
	if inv.status != InvPending && !inv.startedAt.IsZero() {
		out["ExecutionStartDateTime"] = inv.startedAt.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	if inv.done() {
		out["StandardOutputContent"] = inv.stdout.String()
		out["StandardErrorContent"] = inv.stderr.String()
		if !inv.startedAt.IsZero() && inv.details != DetailsUndeliverable && inv.details != DetailsDeliveryTimedOut {
			out["ExecutionEndDateTime"] = inv.endedAt.UTC().Format("2006-01-02T15:04:05.000Z")
			el := inv.endedAt.Sub(inv.startedAt)
			out["ExecutionElapsedTime"] = fmt.Sprintf("PT%.3fS", el.Seconds())
		}
	}
	return out, nil
}

func (s *Sim) ssmListCommands(req *apiRequest) (any, *apiError) {
	var in listInvocationsInput
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.CommandID = in.CommandId
	size, err := s.ssmMaxResults(in.MaxResults, 50, 1, 50)
	if err != nil {
		return nil, err
	}
	if in.CommandId != "" && !validCommandID(in.CommandId) {
		return nil, clientErr("InvalidCommandId", "Invalid command id %s", in.CommandId)
	}
	if !validToken(in.NextToken) {
		return nil, clientErr("InvalidNextToken", "The specified token is not valid")
	}
	match, ferr := parseCommandFilters(in.Filters, "ListCommands")
	if ferr != nil {
		return nil, ferr
	}
	var list []*command
	for _, c := range s.sortedCommandsNewestFirstLocked() {
		if in.CommandId != "" && c.id != in.CommandId || !match.command(c) {
			continue
		}
		if !match.statusMatches(c.status, c.details, commandStatusFilters) {
			continue
		}
		if in.InstanceId != "" && c.byInstance[in.InstanceId] == nil {
			continue
		}
		list = append(list, c)
	}
	start, end, next, perr := paginate(len(list), in.NextToken, size)
	if perr != nil {
		return nil, perr
	}
	items := []commandJSON{}
	for _, c := range list[start:end] {
		items = append(items, s.commandJSON(c))
	}
	out := map[string]any{"Commands": items}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Sim) ssmCancelCommand(req *apiRequest) (any, *apiError) {
	var in struct {
		CommandId   string   `json:"CommandId"`
		InstanceIds []string `json:"InstanceIds"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	req.call.CommandID = in.CommandId
	req.call.InstanceIDs = in.InstanceIds
	c := s.commands[in.CommandId]
	if c == nil {
		return nil, clientErr("InvalidCommandId", "Command %s does not exist", in.CommandId)
	}
	for _, id := range in.InstanceIds {
		if c.byInstance[id] == nil {
			return nil, clientErr("InvalidInstanceId", "Instance %s is not a target of command %s", id, in.CommandId)
		}
	}
	s.cancelCommandLocked(c, in.InstanceIds)
	return struct{}{}, nil
}

type instanceInfoFilter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

func (s *Sim) ssmDescribeInstanceInformation(req *apiRequest) (any, *apiError) {
	var in struct {
		InstanceInformationFilterList []struct {
			Key      string   `json:"key"`
			ValueSet []string `json:"valueSet"`
		} `json:"InstanceInformationFilterList"`
		Filters    []instanceInfoFilter `json:"Filters"`
		MaxResults *int                 `json:"MaxResults"`
		NextToken  string               `json:"NextToken"`
	}
	if err := decodeBody(req, &in); err != nil {
		return nil, err
	}
	// SSM's default page is 10 items (5..50 when asked).
	size, err := s.ssmMaxResults(in.MaxResults, 10, 5, 50)
	if err != nil {
		return nil, err
	}
	filters := append([]instanceInfoFilter(nil), in.Filters...)
	for _, f := range in.InstanceInformationFilterList {
		filters = append(filters, instanceInfoFilter{Key: f.Key, Values: f.ValueSet})
	}
	for _, f := range filters {
		if len(f.Values) < 1 || len(f.Values) > 100 {
			return nil, clientErr("ValidationException", "1 validation error detected: Value at 'filters.member.values' failed to satisfy constraint: Member must have length less than or equal to 100 and greater than or equal to 1")
		}
	}
	if !validToken(in.NextToken) {
		return nil, clientErr("InvalidNextToken", "The specified token is not valid")
	}
	type row struct {
		inst *instance
		ping string
	}
	var rows []row
	for _, inst := range s.sortedInstancesLocked() {
		if inst.state == StateTerminated || inst.state == StatePending && !inst.agentOnline {
			continue
		}
		ping := "Online"
		if !inst.agentOnline || inst.state != StateRunning {
			ping = "ConnectionLost"
		}
		keep := true
		for _, f := range filters {
			switch f.Key {
			case "InstanceIds":
				keep = keep && containsString(f.Values, inst.id)
			case "PingStatus":
				keep = keep && containsString(f.Values, ping)
			case "PlatformTypes":
				keep = keep && containsString(f.Values, "Linux")
			case "ResourceType":
				keep = keep && containsString(f.Values, "EC2Instance")
			default:
				if tk, ok := strings.CutPrefix(f.Key, "tag:"); ok {
					v, has := inst.tags[tk]
					keep = keep && has && containsString(f.Values, v)
				} else if f.Key == "tag-key" {
					found := false
					for _, k := range f.Values {
						if _, has := inst.tags[k]; has {
							found = true
						}
					}
					keep = keep && found
				} else {
					return nil, clientErr("InvalidInstanceInformationFilterValue", "filter key %s is not valid", f.Key)
				}
			}
		}
		if keep {
			rows = append(rows, row{inst, ping})
		}
	}
	start, end, next, perr := paginate(len(rows), in.NextToken, size)
	if perr != nil {
		return nil, perr
	}
	items := []map[string]any{}
	for _, r := range rows[start:end] {
		items = append(items, map[string]any{
			"InstanceId": r.inst.id, "PingStatus": r.ping, "LastPingDateTime": epochPtr(s.now),
			"AgentVersion": "3.3.1142.0", "IsLatestVersion": true, "PlatformType": "Linux",
			"PlatformName": "Amazon Linux", "PlatformVersion": "2023", "ResourceType": "EC2Instance",
			"IPAddress": r.inst.privateIP, "ComputerName": "ip-" + strings.ReplaceAll(r.inst.privateIP, ".", "-") + ".ec2.internal",
			"AssociationStatus": "Success",
		})
	}
	out := map[string]any{"InstanceInformationList": items}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}
