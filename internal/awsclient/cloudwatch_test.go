package awsclient

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// cborAlarms answers DescribeAlarms in the rpc-v2-cbor protocol the Go SDK
// uses for CloudWatch, with both metric and composite alarms, and records
// the requested alarm types. Neither moto nor fleetsim has composite alarms.
type cborAlarms struct {
	metric, composite map[string]string // name -> state

	mu    sync.Mutex
	types [][]string
}

func (s *cborAlarms) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, "/operation/DescribeAlarms") {
		http.Error(w, "unexpected "+r.URL.Path, http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var in struct {
		AlarmNames []string
		AlarmTypes []string
	}
	if err := cbor.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.types = append(s.types, in.AlarmTypes)
	s.mu.Unlock()
	metric, composite := []map[string]any{}, []map[string]any{}
	for _, name := range in.AlarmNames {
		if st, ok := s.metric[name]; ok {
			metric = append(metric, map[string]any{"AlarmName": name, "StateValue": st})
		}
		if st, ok := s.composite[name]; ok {
			composite = append(composite, map[string]any{"AlarmName": name, "StateValue": st})
		}
	}
	out, _ := cbor.Marshal(map[string]any{"MetricAlarms": metric, "CompositeAlarms": composite})
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	_, _ = w.Write(out)
}

func TestAlarms_compositeAlarmsCountAsFiring(t *testing.T) {
	cleanAWSEnv(t)
	stub := &cborAlarms{
		metric:    map[string]string{"cpu": "OK", "5xx": "ALARM"},
		composite: map[string]string{"service-health": "ALARM", "quiet-composite": "OK"},
	}
	srv := httptest.NewServer(stub)
	t.Cleanup(srv.Close)
	c, err := New(testContext(t), Config{Region: "us-east-1", AccessKey: "AKIA", SecretKey: "s",
		Endpoints: map[string]string{"cloudwatch": srv.URL}, SkipCredentialsValidation: true})
	if err != nil {
		t.Fatal(err)
	}
	firing, err := c.Ports(nil, nil).Alarms.Firing(testContext(t), []string{"cpu", "5xx", "service-health", "quiet-composite"})
	if err != nil {
		t.Fatalf("Firing: %v", err)
	}
	sort.Strings(firing)
	if strings.Join(firing, ",") != "5xx,service-health" {
		t.Fatalf("Firing = %v, want the metric and the composite alarm in ALARM", firing)
	}
	if len(stub.types) != 1 || strings.Join(stub.types[0], ",") != "MetricAlarm,CompositeAlarm" {
		t.Fatalf("AlarmTypes sent = %v, want both kinds (the default is metric alarms only)", stub.types)
	}
}
