// Command fleetsim serves the fleet simulator (internal/fleetsim) on
// 127.0.0.1 for the demo, benchmarks and manual use with the AWS CLI:
//
//	fleetsim -seed fleet.json [-addr 127.0.0.1:0] [-timescale 0.01] [-policy iam.json]
//
// With -policy (or the seed's "policy") every call is held to that IAM
// policy document and refused with the service's AccessDenied error when it
// does not allow it, e.g. fleetsim -policy examples/iam/policy.json.
//
// Its first stdout line is "endpoint: http://127.0.0.1:PORT"; it serves
// until SIGINT or SIGTERM. testdata/demo-seed.json is a complete seed (two
// target groups behind one ALB, an Auto Scaling group, plain instances, an
// alarm and a custom SSM document); fleetsim.Seed documents every field.
// Point any AWS client at the endpoint, for example
//
//	aws --endpoint-url http://127.0.0.1:PORT elbv2 describe-target-groups
//
// and watch or steer the fleet through the admin API (GET /_sim/fleet,
// GET /_sim/recorder, POST /_sim/faults, POST /_sim/advance; `fleetsim -h`
// lists every route and fault kind). It owns only flag parsing, listening and
// shutdown; the simulator itself lives in internal/fleetsim. It must not
// import the provider, the rollout engine or awsclient.
package main
