// Package fleetview is the live page of `make demo`: the simulated fleet as a
// grid (instance, Availability Zone, version, phase) and a chart of in-service
// capacity over time against the capacity floor, pushed to the browser with
// server-sent events. The page arrives with the fleet already in it (no wait
// for the stream), and its chart shrinks the stretches where nothing moves,
// the time spent at the demo's prompts, to narrow labelled bands.
//
// It owns the reading of a fleet from the outside, as an operator would read
// it in the AWS console: target health, the instance's rolling:* tags and the
// installed application version. Phases that AWS does not show directly
// (failed, rolled back) are inferred by following each instance across
// snapshots. The page is one HTML document with inline CSS and JavaScript,
// because nothing may be fetched from the internet.
//
// The provider serves the same page during a real apply (ROLLING_PROGRESS_ADDR,
// internal/provider/progress_page.go), from snapshots it builds out of the
// rollout's own calls and hands to NewTrackerFunc.
//
// It imports fleetsim's exported API only. It must not import the provider,
// the rollout engine or awsclient: the page shows what AWS would show, not
// what the engine believes, so a disagreement between the two stays visible.
package fleetview
