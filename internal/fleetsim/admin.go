package fleetsim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// FaultRequest is the body of POST /_sim/faults: one fault per request,
// named by Kind, mirroring the Faults methods.
//
//	throttling          on
//	rate_limit          action, burst, per_second
//	server_errors       action, rate
//	slow                action, rate, delay (simulated)
//	fail_deploy         version, instances
//	never_healthy       version, instances
//	hang                match, instances
//	agent               instance, online, after
//	status_checks       instance, instance_status, system_status, after
//	stop | start | terminate | replace   instance, after
//	alarm               alarm, after | after_calls
//	delete_target_group target_group (ARN or name), after
//	clear
type FaultRequest struct {
	Kind        string   `json:"kind"`
	On          bool     `json:"on,omitempty"`
	Action      string   `json:"action,omitempty"`
	Burst       int      `json:"burst,omitempty"`
	PerSecond   float64  `json:"per_second,omitempty"`
	Rate        float64  `json:"rate,omitempty"`
	Delay       Duration `json:"delay,omitempty"`
	Version     string   `json:"version,omitempty"`
	Instances   []string `json:"instances,omitempty"`
	Match       string   `json:"match,omitempty"`
	Instance    string   `json:"instance,omitempty"`
	Online      bool     `json:"online,omitempty"`
	After       Duration `json:"after,omitempty"`
	AfterCalls  int      `json:"after_calls,omitempty"`
	Alarm       string   `json:"alarm,omitempty"`
	TargetGroup string   `json:"target_group,omitempty"`
	// InstanceStatus and SystemStatus are the forced EC2 status check
	// results of status_checks: ok, impaired, initializing,
	// insufficient-data, or "" for the modelled one.
	InstanceStatus string `json:"instance_status,omitempty"`
	SystemStatus   string `json:"system_status,omitempty"`
}

// Apply performs the fault on s.
func (fr FaultRequest) Apply(s *Sim) error {
	f := s.Faults()
	after := time.Duration(fr.After)
	switch fr.Kind {
	case "throttling":
		f.SetThrottling(fr.On)
	case "rate_limit":
		if fr.Action == "" || fr.Burst < 0 || fr.PerSecond < 0 {
			return fmt.Errorf("rate_limit needs action, burst >= 0, per_second >= 0")
		}
		f.SetRateLimit(fr.Action, fr.Burst, fr.PerSecond)
	case "server_errors":
		f.ServerErrors(fr.Action, fr.Rate)
	case "slow":
		f.SlowResponses(fr.Action, fr.Rate, time.Duration(fr.Delay))
	case "fail_deploy":
		f.FailDeploy(fr.Version, fr.Instances...)
	case "never_healthy":
		f.NeverHealthy(fr.Version, fr.Instances...)
	case "hang":
		f.HangCommands(fr.Match, fr.Instances...)
	case "agent":
		return f.SetAgentOnlineAfter(fr.Instance, fr.Online, after)
	case "status_checks":
		return f.SetStatusChecks(fr.Instance, fr.InstanceStatus, fr.SystemStatus, after)
	case "stop":
		return f.StopInstance(fr.Instance, after)
	case "start":
		return f.StartInstance(fr.Instance, after)
	case "terminate":
		return f.TerminateInstance(fr.Instance, after)
	case "replace":
		return f.ReplaceInstance(fr.Instance, after)
	case "alarm":
		if fr.AfterCalls > 0 {
			return f.AlarmAfterCalls(fr.Alarm, fr.AfterCalls)
		}
		return f.AlarmAt(fr.Alarm, after)
	case "delete_target_group":
		arn := fr.TargetGroup
		s.mu.Lock()
		if tg := s.targetGroupByNameLocked(arn); tg != nil {
			arn = tg.arn
		}
		s.mu.Unlock()
		return f.DeleteTargetGroup(arn, after)
	case "clear":
		f.Clear()
	default:
		return fmt.Errorf("unknown fault kind %q", fr.Kind)
	}
	return nil
}

// serveAdmin is the admin API: plain JSON, no signature, never recorded.
//
//	GET  /_sim/fleet            FleetSnapshot
//	GET  /_sim/recorder         RecorderReport (?calls=1, ?timelines=1)
//	POST /_sim/recorder/reset
//	GET  /_sim/now              simulated time and scale
//	POST /_sim/advance          {"duration": "5m"}
//	POST /_sim/faults           FaultRequest
//	POST /_sim/seed             Seed (fleet part)
//	GET  /_sim/parameters       []ParameterSummary (Parameter Store, never values)
//	GET  /_sim/policy           the IAM policy in force (null when none)
//	PUT  /_sim/policy           replace it (an empty body or null turns enforcement off)
//	GET  /_sim/events           []PublishedEvent: what EventBridge PutEvents accepted (?bus=NAME)
func (s *Sim) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_sim/fleet":
		writeJSON(w, http.StatusOK, s.Snapshot())
	case "GET /_sim/recorder":
		q := r.URL.Query()
		writeJSON(w, http.StatusOK, s.recorder.Report(q.Get("calls") != "", q.Get("timelines") != ""))
	case "POST /_sim/recorder/reset":
		s.recorder.Reset()
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case "GET /_sim/now":
		writeJSON(w, http.StatusOK, map[string]any{"sim_time": s.Now(), "time_scale": s.scale})
	case "POST /_sim/advance":
		var body struct {
			Duration Duration `json:"duration"`
		}
		if err := readJSON(r, &body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.Advance(time.Duration(body.Duration))
		writeJSON(w, http.StatusOK, map[string]any{"sim_time": s.Now()})
	case "POST /_sim/faults":
		var fr FaultRequest
		if err := readJSON(r, &fr); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := fr.Apply(s); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	case "GET /_sim/events":
		s.serveAdminEvents(w, r)
	case "GET /_sim/parameters", "GET /_sim/policy", "PUT /_sim/policy":
		s.serveAdminIAM(w, r, route)
	case "POST /_sim/seed":
		data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		sd, err := ParseSeed(data)
		if err == nil {
			err = s.ApplySeed(sd)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown admin route " + route})
	}
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	// The demo's live page may be served from another local origin.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}
