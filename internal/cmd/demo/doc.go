// Command demo is `make demo`, a newcomer's first command: it builds the
// provider, starts the fleet simulator in-process on 127.0.0.1 with a live
// page of the fleet, and runs the real terraform CLI against it through a
// throwaway dev_overrides CLI configuration (no init, no registry, no
// network): adopt v1, roll out v2 in planned batches, fail v3 on one instance
// and roll back, then show a new Auto Scaling instance as drift.
//
// DEMO_NONINTERACTIVE=1 runs a smaller fleet without pauses and exits
// non-zero when any expected outcome did not happen; CI runs it that way.
// DEMO_TIME_SCALE overrides the time scale (wall seconds per simulated
// second).
//
// It owns the story and the cleanup (terraform's process group, the
// simulator, temporary directories, also on Ctrl-C). It drives the provider
// only through terraform and must not import the provider, the rollout engine
// or awsclient; it uses fleetsim and fleetview through their exported API.
package main
