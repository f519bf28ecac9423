// Command fleetsim serves the fleet simulator (internal/fleetsim) on
// 127.0.0.1 for the demo, benchmarks and manual use with the AWS CLI:
//
//	fleetsim -seed fleet.json [-addr 127.0.0.1:0] [-timescale 0.01]
//
// Its first stdout line is "endpoint: http://127.0.0.1:PORT"; it serves
// until SIGINT or SIGTERM. It owns only flag parsing, listening and
// shutdown; the simulator itself lives in internal/fleetsim. It must not
// import the provider, the rollout engine or awsclient.
package main
