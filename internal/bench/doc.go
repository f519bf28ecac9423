// Package bench measures the provider against the fleet simulator and turns
// the measurements into the figures of BENCHMARKS.md (issues 7 and 19):
// rollout time against the lower bound AWS imposes (rollout's own-pace
// model fed the simulator's true step times), window against batch mode,
// API calls per instance, the plan's expected_duration against the measured
// time, terraform plan at scale, and the provider against a bash script of
// the AWS CLI. Every fleet has AWS's call latency (fleetsim.AWSLatency) and
// settings AWS accepts (Fleet.Validate); every figure is the median of 5
// seeds or rounds, with the range.
//
// It owns the scenarios, the lower-bound arithmetic and the table. It drives
// the engine (internal/rollout) through internal/awsclient over real HTTP to
// an in-process internal/fleetsim, so every figure includes the SDK and the
// wire protocols; scenarios 4 and 5 run the real terraform and aws binaries.
// Durations are measured in simulated time (fleetsim.Sim.Now deltas), so a
// loaded machine changes the wall time printed next to them far more than
// the figures themselves.
//
// It must not be imported by the provider, the engine or awsclient: it
// sits above them, like a test.
package bench
