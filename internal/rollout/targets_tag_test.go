package rollout

import (
	"reflect"
	"testing"
)

func TestTargetsTag_roundTripsKnownGroupsAndDropsUnknown(t *testing.T) {
	web := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef"
	tls := "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-tls/fedcba9876543210"
	regs := map[string][]Target{
		web: {{InstanceID: "i-1", Port: 80}, {InstanceID: "i-1", Port: 8080}},
		tls: {{InstanceID: "i-1", Port: 443}},
	}
	value := EncodeTargets(regs)
	if want := "0123456789abcdef:80 0123456789abcdef:8080 fedcba9876543210:443"; value != want {
		t.Fatalf("EncodeTargets = %q, want %q", value, want)
	}
	if got := DecodeTargets("i-1", value, []string{web, tls}); !reflect.DeepEqual(got, regs) {
		t.Fatalf("DecodeTargets = %v, want %v", got, regs)
	}
	onlyWeb := DecodeTargets("i-1", value+" garbage nohex:x", []string{web})
	if len(onlyWeb) != 1 || len(onlyWeb[web]) != 2 {
		t.Fatalf("DecodeTargets with one known group = %v", onlyWeb)
	}
}
