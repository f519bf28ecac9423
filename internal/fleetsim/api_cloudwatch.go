package fleetsim

import (
	"strconv"
	"strings"
)

// describeAlarmsInput is DescribeAlarms' input in every protocol CloudWatch
// speaks (json tags serve JSON and CBOR alike).
type describeAlarmsInput struct {
	AlarmNames      []string `json:"AlarmNames"`
	AlarmNamePrefix string   `json:"AlarmNamePrefix"`
	AlarmTypes      []string `json:"AlarmTypes"`
	StateValue      string   `json:"StateValue"`
	MaxRecords      *int     `json:"MaxRecords"`
	NextToken       string   `json:"NextToken"`
}

type setAlarmStateInput struct {
	AlarmName       string `json:"AlarmName"`
	StateValue      string `json:"StateValue"`
	StateReason     string `json:"StateReason"`
	StateReasonData string `json:"StateReasonData"`
}

type metricAlarmOut struct {
	AlarmName                          string   `json:"AlarmName"`
	AlarmArn                           string   `json:"AlarmArn"`
	AlarmDescription                   string   `json:"AlarmDescription"`
	AlarmConfigurationUpdatedTimestamp *epoch   `json:"AlarmConfigurationUpdatedTimestamp,omitempty"`
	ActionsEnabled                     bool     `json:"ActionsEnabled"`
	OKActions                          []string `json:"OKActions"`
	AlarmActions                       []string `json:"AlarmActions"`
	InsufficientDataActions            []string `json:"InsufficientDataActions"`
	StateValue                         string   `json:"StateValue"`
	StateReason                        string   `json:"StateReason"`
	StateUpdatedTimestamp              *epoch   `json:"StateUpdatedTimestamp,omitempty"`
	MetricName                         string   `json:"MetricName"`
	Namespace                          string   `json:"Namespace"`
	Statistic                          string   `json:"Statistic"`
	Period                             int      `json:"Period"`
	EvaluationPeriods                  int      `json:"EvaluationPeriods"`
	Threshold                          float64  `json:"Threshold"`
	ComparisonOperator                 string   `json:"ComparisonOperator"`
}

type describeAlarmsOut struct {
	MetricAlarms    []metricAlarmOut `json:"MetricAlarms"`
	CompositeAlarms []any            `json:"CompositeAlarms"`
	NextToken       string           `json:"NextToken,omitempty"`
}

// cloudWatchLocked serves CloudWatch in the three protocols clients use:
// rpc-v2-cbor (current Go SDK), awsJson1_0 and awsQuery (AWS CLI versions).
func (s *Sim) cloudWatchLocked(req *apiRequest, x *xmlw) (any, *apiError) {
	switch req.action {
	case "DescribeAlarms":
		var in describeAlarmsInput
		if req.proto == protoQuery {
			in.AlarmNames = req.list("AlarmNames.member")
			in.AlarmNamePrefix = req.get("AlarmNamePrefix")
			in.AlarmTypes = req.list("AlarmTypes.member")
			in.StateValue = req.get("StateValue")
			in.NextToken = req.get("NextToken")
			if v := req.get("MaxRecords"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, clientErr("InvalidParameterValue", "MaxRecords must be a number")
				}
				in.MaxRecords = &n
			}
		} else if err := decodeBody(req, &in); err != nil {
			return nil, err
		}
		out, err := s.describeAlarmsLocked(req, in)
		if err != nil || req.proto != protoQuery {
			return out, err
		}
		writeAlarmsXML(x, out)
		return nil, nil
	case "SetAlarmState":
		var in setAlarmStateInput
		if req.proto == protoQuery {
			in = setAlarmStateInput{AlarmName: req.get("AlarmName"), StateValue: req.get("StateValue"), StateReason: req.get("StateReason")}
		} else if err := decodeBody(req, &in); err != nil {
			return nil, err
		}
		req.call.Params = map[string]string{"AlarmName": in.AlarmName, "StateValue": in.StateValue}
		a := s.alarms[in.AlarmName]
		if a == nil {
			return nil, &apiError{status: 404, code: "ResourceNotFound", message: "Alarm " + in.AlarmName + " not found"}
		}
		switch in.StateValue {
		case "OK", "ALARM", "INSUFFICIENT_DATA":
		default:
			return nil, clientErr("InvalidParameterValue", "StateValue must be one of OK, ALARM, INSUFFICIENT_DATA")
		}
		if in.StateReason == "" {
			return nil, clientErr("InvalidParameterValue", "StateReason is required")
		}
		s.setAlarmStateLocked(a, in.StateValue, in.StateReason)
		return struct{}{}, nil
	}
	if req.proto == protoQuery {
		return nil, clientErr("InvalidAction", "Could not find operation %s for version 2010-08-01", req.action)
	}
	return nil, clientErr("UnknownOperationException", "Unknown operation %s", req.action)
}

func (s *Sim) describeAlarmsLocked(req *apiRequest, in describeAlarmsInput) (*describeAlarmsOut, *apiError) {
	if len(in.AlarmNames) > 0 && in.AlarmNamePrefix != "" {
		return nil, clientErr("InvalidParameterCombination", "AlarmNamePrefix and AlarmNames cannot be specified together")
	}
	if len(in.AlarmNames) > 100 {
		return nil, clientErr("InvalidParameterValue", "AlarmNames can contain at most 100 names")
	}
	switch in.StateValue {
	case "", "OK", "ALARM", "INSUFFICIENT_DATA":
	default:
		return nil, clientErr("InvalidParameterValue", "StateValue must be one of OK, ALARM, INSUFFICIENT_DATA")
	}
	size := 50
	if in.MaxRecords != nil {
		if *in.MaxRecords < 1 || *in.MaxRecords > 100 {
			return nil, clientErr("InvalidParameterValue", "MaxRecords must be between 1 and 100")
		}
		size = *in.MaxRecords
	}
	if !validToken(in.NextToken) {
		return nil, clientErr("InvalidNextToken", "The next token is not valid")
	}
	if len(in.AlarmNames) > 0 {
		req.call.Params = map[string]string{"AlarmNames": strings.Join(in.AlarmNames, ",")}
	}
	metric := len(in.AlarmTypes) == 0 || containsString(in.AlarmTypes, "MetricAlarm")
	var list []*alarm
	for _, name := range sortedKeys(s.alarms) {
		a := s.alarms[name]
		if !metric || len(in.AlarmNames) > 0 && !containsString(in.AlarmNames, name) ||
			in.AlarmNamePrefix != "" && !strings.HasPrefix(name, in.AlarmNamePrefix) ||
			in.StateValue != "" && a.state != in.StateValue {
			continue
		}
		list = append(list, a)
	}
	start, end, next, perr := paginate(len(list), in.NextToken, size)
	if perr != nil {
		return nil, perr
	}
	out := &describeAlarmsOut{MetricAlarms: []metricAlarmOut{}, CompositeAlarms: []any{}, NextToken: next}
	for _, a := range list[start:end] {
		out.MetricAlarms = append(out.MetricAlarms, metricAlarmOut{
			AlarmName: a.name, AlarmArn: a.arn, AlarmDescription: "fleetsim alarm", ActionsEnabled: true,
			AlarmConfigurationUpdatedTimestamp: epochPtr(s.simStart), OKActions: []string{}, AlarmActions: []string{},
			InsufficientDataActions: []string{}, StateValue: a.state, StateReason: a.reason, StateUpdatedTimestamp: epochPtr(a.updated),
			MetricName: "HTTPCode_Target_5XX_Count", Namespace: "AWS/ApplicationELB", Statistic: "Sum", Period: 60,
			EvaluationPeriods: 1, Threshold: 10, ComparisonOperator: "GreaterThanThreshold",
		})
	}
	s.faults.afterDescribeAlarmsLocked()
	return out, nil
}

func writeAlarmsXML(x *xmlw, out *describeAlarmsOut) {
	x.open("MetricAlarms")
	for _, a := range out.MetricAlarms {
		x.open("member")
		x.leaf("AlarmName", a.AlarmName)
		x.leaf("AlarmArn", a.AlarmArn)
		x.leaf("AlarmDescription", a.AlarmDescription)
		x.bool("ActionsEnabled", a.ActionsEnabled)
		x.b.WriteString("<OKActions/><AlarmActions/><InsufficientDataActions/>")
		x.leaf("StateValue", a.StateValue)
		x.leaf("StateReason", a.StateReason)
		if a.StateUpdatedTimestamp != nil {
			x.time("StateUpdatedTimestamp", timeOf(a.StateUpdatedTimestamp))
		}
		x.leaf("MetricName", a.MetricName)
		x.leaf("Namespace", a.Namespace)
		x.leaf("Statistic", a.Statistic)
		x.int("Period", a.Period)
		x.int("EvaluationPeriods", a.EvaluationPeriods)
		x.leaf("Threshold", strconv.FormatFloat(a.Threshold, 'f', 1, 64))
		x.leaf("ComparisonOperator", a.ComparisonOperator)
		x.close("member")
	}
	x.close("MetricAlarms")
	x.b.WriteString("<CompositeAlarms/>")
	x.leafIf("NextToken", out.NextToken)
}
