package fleetsim

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

func TestScale_thousandInstanceFleetKeepsHealthAndAnswersInOneCall(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	web := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	tls := s.AddTargetGroup(TargetGroupConfig{Name: "tls", Port: 443})
	s.AddInstances(InstanceConfig{Count: 1000, AppVersion: "v1", TargetGroupARNs: []string{web, tls}})
	s.Advance(time.Hour) // 2 x 1000 targets x 120 checks
	out, err := elbv2.NewFromConfig(cfg).DescribeTargetHealth(ctx(t), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(web)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TargetHealthDescriptions) != 1000 {
		t.Fatalf("%d targets", len(out.TargetHealthDescriptions))
	}
	if s.Recorder().MinInService(web) != 1000 || len(s.Recorder().InServiceTimeline(tls)) != 1 {
		t.Fatal("a steady fleet must not dip")
	}
}

func BenchmarkHealthChecks_thousandTargetsOneSimulatedHour(b *testing.B) {
	s := New(Options{TimeScale: 1e9, TickInterval: -1})
	defer s.Close()
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	s.AddInstances(InstanceConfig{Count: 1000, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Advance(time.Hour)
	}
}

func BenchmarkDescribeTargetHealth_thousandTargets(b *testing.B) {
	s := New(Options{TimeScale: 1e9, TickInterval: -1})
	defer s.Close()
	arn := s.AddTargetGroup(TargetGroupConfig{Name: "web"})
	s.AddInstances(InstanceConfig{Count: 1000, AppVersion: "v1", TargetGroupARNs: []string{arn}})
	srv := newBenchServer(b, s)
	c := elbv2.NewFromConfig(sdkConfig(srv, s.Region(), "AKIDBENCH", "x", 1))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.DescribeTargetHealth(b.Context(), &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(arn)}); err != nil {
			b.Fatal(err)
		}
	}
}
