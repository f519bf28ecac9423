package fleetsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that JSON spells as a Go duration string
// ("30s", "5m") or a number of seconds.
type Duration time.Duration

// UnmarshalJSON accepts "1m30s" or 90.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		v, err := time.ParseDuration(str)
		if err != nil {
			return fmt.Errorf("duration %q: %w", str, err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"30s\" or a number of seconds")
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Seed is the JSON seed file of the fleetsim command (and POST /_sim/seed):
// simulator options plus the fleet to create. Target groups and Auto Scaling
// groups are referenced by name.
type Seed struct {
	Region      string            `json:"region,omitempty"`
	AccountID   string            `json:"account_id,omitempty"`
	TimeScale   float64           `json:"time_scale,omitempty"`
	RandSeed    int64             `json:"rand_seed,omitempty"`
	Throttling  bool              `json:"throttling,omitempty"`
	Credentials map[string]string `json:"credentials,omitempty"`
	// Policy is an IAM policy document every caller is held to (Options.Policy).
	Policy json.RawMessage `json:"policy,omitempty"`

	Timing            *SeedTiming            `json:"timing,omitempty"`
	TargetGroups      []SeedTargetGroup      `json:"target_groups,omitempty"`
	AutoScalingGroups []SeedAutoScalingGroup `json:"auto_scaling_groups,omitempty"`
	Instances         []SeedInstances        `json:"instances,omitempty"`
	Alarms            []SeedAlarm            `json:"alarms,omitempty"`
	Documents         []SeedDocument         `json:"documents,omitempty"`
}

// SeedTiming is Timing in the seed file.
type SeedTiming struct {
	StepMean      Duration `json:"step_mean,omitempty"`
	StepSigma     float64  `json:"step_sigma,omitempty"`
	Delivery      Duration `json:"delivery,omitempty"`
	InvocationLag Duration `json:"invocation_lag,omitempty"`
	Launch        Duration `json:"launch,omitempty"`
	Undeliverable Duration `json:"undeliverable,omitempty"`
	Stop          Duration `json:"stop,omitempty"`
	Shutdown      Duration `json:"shutdown,omitempty"`
	StatusChecks  Duration `json:"status_checks,omitempty"`
}

// SeedTargetGroup is TargetGroupConfig in the seed file.
type SeedTargetGroup struct {
	Name                string    `json:"name"`
	Port                int32     `json:"port,omitempty"`
	Protocol            string    `json:"protocol,omitempty"`
	HealthCheckInterval Duration  `json:"health_check_interval,omitempty"`
	HealthyThreshold    int       `json:"healthy_threshold,omitempty"`
	UnhealthyThreshold  int       `json:"unhealthy_threshold,omitempty"`
	DeregistrationDelay *Duration `json:"deregistration_delay,omitempty"`
	LoadBalancer        string    `json:"load_balancer,omitempty"`
}

// SeedAutoScalingGroup is AutoScalingGroupConfig with target group names.
type SeedAutoScalingGroup struct {
	Name                        string            `json:"name"`
	TargetGroups                []string          `json:"target_groups,omitempty"`
	Min                         int               `json:"min,omitempty"`
	Max                         int               `json:"max,omitempty"`
	LaunchVersion               string            `json:"launch_version,omitempty"`
	AZs                         []string          `json:"azs,omitempty"`
	Tags                        map[string]string `json:"tags,omitempty"`
	ReplaceAfterUnhealthyChecks int               `json:"replace_after_unhealthy_checks,omitempty"`
}

// SeedInstances is InstanceConfig with target group names.
type SeedInstances struct {
	Count            int               `json:"count"`
	AZs              []string          `json:"azs,omitempty"`
	AppVersion       string            `json:"app_version,omitempty"`
	Tags             map[string]string `json:"tags,omitempty"`
	TargetGroups     []string          `json:"target_groups,omitempty"`
	AutoScalingGroup string            `json:"auto_scaling_group,omitempty"`
	AgentOffline     bool              `json:"agent_offline,omitempty"`
}

// SeedAlarm is one CloudWatch alarm.
type SeedAlarm struct {
	Name  string `json:"name"`
	State string `json:"state,omitempty"`
}

// SeedDocument is DocumentConfig in the seed file, an SSM Command document
// other than the built-in AWS-RunShellScript:
//
//	name                the document name
//	versions            how many versions it has, numbered from 1 (default 1)
//	default_version     the version $DEFAULT (and no version) means; default
//	                    the latest
//	parameters          the parameters every version declares (see
//	                    SeedDocumentParameter); none at all, here and in
//	                    version_parameters, accepts any parameter
//	version_parameters  {"2": [...]}: the parameters of one version instead
//
// For example {"name": "Web-Deploy", "versions": 2, "parameters":
// ["version", {"name": "restart", "default_value": "true"}],
// "version_parameters": {"1": ["version"]}}.
type SeedDocument struct {
	Name              string                             `json:"name"`
	Versions          int                                `json:"versions,omitempty"`
	DefaultVersion    int                                `json:"default_version,omitempty"`
	Parameters        []SeedDocumentParameter            `json:"parameters,omitempty"`
	VersionParameters map[string][]SeedDocumentParameter `json:"version_parameters,omitempty"`
}

// SeedDocumentParameter declares one document parameter: either a bare name
// ("version": an optional String whose default is "") or an object
//
//	name           the parameter name (required)
//	type           String (default) or StringList
//	description    free text, reported by DescribeDocument
//	default_value  makes the parameter optional; without it SendCommand
//	               must give the parameter (InvalidParameters otherwise)
type SeedDocumentParameter struct {
	Name         string  `json:"name"`
	Type         string  `json:"type,omitempty"`
	Description  string  `json:"description,omitempty"`
	DefaultValue *string `json:"default_value,omitempty"`
}

// UnmarshalJSON accepts a bare name or the object form, refusing unknown
// fields like the rest of the seed.
func (p *SeedDocumentParameter) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err == nil {
		*p = SeedDocumentParameter{Name: name, Type: "String", DefaultValue: new(string)}
		return nil
	}
	type plain SeedDocumentParameter
	var v plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("document parameter: %w", err)
	}
	*p = SeedDocumentParameter(v)
	return nil
}

func (d SeedDocument) config() DocumentConfig {
	conv := func(ps []SeedDocumentParameter) []DocumentParameter {
		out := make([]DocumentParameter, 0, len(ps))
		for _, p := range ps {
			out = append(out, DocumentParameter(p))
		}
		return out
	}
	c := DocumentConfig{Name: d.Name, Versions: d.Versions, DefaultVersion: d.DefaultVersion}
	if d.Parameters != nil {
		c.Declared = conv(d.Parameters)
	}
	for k, ps := range d.VersionParameters {
		n, _ := strconv.Atoi(k) // Validate checked it
		if c.VersionParameters == nil {
			c.VersionParameters = map[int][]DocumentParameter{}
		}
		c.VersionParameters[n] = conv(ps)
	}
	return c
}

func (d SeedDocument) problems(i int) []string {
	var errs []string
	at := fmt.Sprintf("documents[%d]", i)
	if d.Name == "" || d.Name == "AWS-RunShellScript" {
		errs = append(errs, at+": name is required and must not be AWS-RunShellScript")
	}
	versions := d.Versions
	if versions == 0 {
		versions = 1
	}
	if d.Versions < 0 || d.DefaultVersion < 0 || d.DefaultVersion > versions {
		errs = append(errs, fmt.Sprintf("%s: versions must be positive and default_version within 1..%d", at, versions))
	}
	check := func(where string, ps []SeedDocumentParameter) {
		seen := map[string]bool{}
		for j, p := range ps {
			switch {
			case p.Name == "":
				errs = append(errs, fmt.Sprintf("%s[%d]: name is required", where, j))
			case seen[p.Name]:
				errs = append(errs, fmt.Sprintf("%s[%d]: duplicate parameter %q", where, j, p.Name))
			}
			seen[p.Name] = true
			if p.Type != "" && p.Type != "String" && p.Type != "StringList" {
				errs = append(errs, fmt.Sprintf("%s[%d]: type must be String or StringList", where, j))
			}
		}
	}
	check(at+".parameters", d.Parameters)
	for _, k := range sortedKeys(d.VersionParameters) {
		if n, err := strconv.Atoi(k); err != nil || n < 1 || n > versions {
			errs = append(errs, fmt.Sprintf("%s.version_parameters: %q is not a version (1..%d)", at, k, versions))
		}
		check(fmt.Sprintf("%s.version_parameters[%s]", at, k), d.VersionParameters[k])
	}
	return errs
}

// Options are the simulator options the seed asks for.
func (sd Seed) Options() Options {
	return Options{Region: sd.Region, AccountID: sd.AccountID, TimeScale: sd.TimeScale, RandSeed: sd.RandSeed,
		Throttling: sd.Throttling, Credentials: sd.Credentials, Policy: sd.Policy}
}

// ParseSeed decodes a seed, refusing unknown fields so typos surface.
func ParseSeed(data []byte) (Seed, error) {
	var sd Seed
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sd); err != nil {
		return Seed{}, fmt.Errorf("fleetsim seed: %w", err)
	}
	if err := sd.Validate(); err != nil {
		return Seed{}, err
	}
	return sd, nil
}

// LoadSeed reads and validates a seed file.
func LoadSeed(path string) (Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, fmt.Errorf("fleetsim seed: %w", err)
	}
	return ParseSeed(data)
}

// Validate reports every problem at once.
func (sd Seed) Validate() error {
	var errs []string
	tgs := map[string]bool{}
	for i, tg := range sd.TargetGroups {
		if tg.Name == "" {
			errs = append(errs, fmt.Sprintf("target_groups[%d]: name is required", i))
		}
		if tgs[tg.Name] {
			errs = append(errs, fmt.Sprintf("target_groups[%d]: duplicate name %q", i, tg.Name))
		}
		tgs[tg.Name] = true
		if tg.Port < 0 || tg.HealthyThreshold < 0 || tg.UnhealthyThreshold < 0 || tg.HealthCheckInterval < 0 {
			errs = append(errs, fmt.Sprintf("target_groups[%d]: negative setting", i))
		}
	}
	asgs := map[string]bool{}
	for i, g := range sd.AutoScalingGroups {
		if g.Name == "" {
			errs = append(errs, fmt.Sprintf("auto_scaling_groups[%d]: name is required", i))
		}
		asgs[g.Name] = true
		for _, n := range g.TargetGroups {
			if !tgs[n] {
				errs = append(errs, fmt.Sprintf("auto_scaling_groups[%d]: unknown target group %q", i, n))
			}
		}
	}
	for i, in := range sd.Instances {
		if in.Count < 1 || in.Count > 100000 {
			errs = append(errs, fmt.Sprintf("instances[%d]: count must be 1..100000", i))
		}
		for _, n := range in.TargetGroups {
			if !tgs[n] {
				errs = append(errs, fmt.Sprintf("instances[%d]: unknown target group %q", i, n))
			}
		}
		if in.AutoScalingGroup != "" && !asgs[in.AutoScalingGroup] {
			errs = append(errs, fmt.Sprintf("instances[%d]: unknown auto scaling group %q", i, in.AutoScalingGroup))
		}
	}
	for i, a := range sd.Alarms {
		switch a.State {
		case "", "OK", "ALARM", "INSUFFICIENT_DATA":
		default:
			errs = append(errs, fmt.Sprintf("alarms[%d]: state must be OK, ALARM or INSUFFICIENT_DATA", i))
		}
		if a.Name == "" {
			errs = append(errs, fmt.Sprintf("alarms[%d]: name is required", i))
		}
	}
	for i, d := range sd.Documents {
		errs = append(errs, d.problems(i)...)
	}
	if sd.TimeScale < 0 {
		errs = append(errs, "time_scale must not be negative")
	}
	if st := loadPolicy(sd.Policy); st.err != nil {
		errs = append(errs, "policy: "+st.err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("fleetsim seed: %s", strings.Join(errs, "; "))
	}
	return nil
}

// ApplySeed creates the seed's fleet. Options in the seed (region, time
// scale, ...) are not changed on a running Sim: use Seed.Options with New.
func (s *Sim) ApplySeed(sd Seed) error {
	if err := sd.Validate(); err != nil {
		return err
	}
	if sd.Timing != nil {
		s.SetTiming(Timing{StepMean: time.Duration(sd.Timing.StepMean), StepSigma: sd.Timing.StepSigma,
			Delivery: time.Duration(sd.Timing.Delivery), InvocationLag: time.Duration(sd.Timing.InvocationLag), Launch: time.Duration(sd.Timing.Launch),
			Undeliverable: time.Duration(sd.Timing.Undeliverable), Stop: time.Duration(sd.Timing.Stop), Shutdown: time.Duration(sd.Timing.Shutdown),
			StatusChecks: time.Duration(sd.Timing.StatusChecks)})
	}
	arns := map[string]string{}
	for _, tg := range sd.TargetGroups {
		c := TargetGroupConfig{Name: tg.Name, Port: tg.Port, Protocol: tg.Protocol, HealthCheckInterval: time.Duration(tg.HealthCheckInterval),
			HealthyThreshold: tg.HealthyThreshold, UnhealthyThreshold: tg.UnhealthyThreshold, LoadBalancer: tg.LoadBalancer}
		if tg.DeregistrationDelay != nil {
			c.DeregistrationDelay = time.Duration(*tg.DeregistrationDelay)
			if c.DeregistrationDelay == 0 {
				c.DeregistrationDelay = -1 // explicit zero
			}
		}
		arns[tg.Name] = s.AddTargetGroup(c)
	}
	names := func(list []string) []string {
		out := make([]string, 0, len(list))
		for _, n := range list {
			out = append(out, arns[n])
		}
		return out
	}
	for _, g := range sd.AutoScalingGroups {
		s.AddAutoScalingGroup(AutoScalingGroupConfig{Name: g.Name, TargetGroupARNs: names(g.TargetGroups), Min: g.Min, Max: g.Max,
			LaunchVersion: g.LaunchVersion, AZs: g.AZs, Tags: g.Tags, ReplaceAfterUnhealthyChecks: g.ReplaceAfterUnhealthyChecks})
	}
	for _, in := range sd.Instances {
		s.AddInstances(InstanceConfig{Count: in.Count, AZs: in.AZs, AppVersion: in.AppVersion, Tags: in.Tags,
			TargetGroupARNs: names(in.TargetGroups), AutoScalingGroup: in.AutoScalingGroup, AgentOffline: in.AgentOffline})
	}
	for _, a := range sd.Alarms {
		s.AddAlarm(a.Name, a.State)
	}
	for _, d := range sd.Documents {
		s.AddDocument(d.config())
	}
	return nil
}
