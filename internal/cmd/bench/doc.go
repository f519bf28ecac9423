// Command bench prints the tables of BENCHMARKS.md (issues 7 and 19):
// `make bench` runs every scenario: 1-3 against in-process fleet
// simulators in simulated time, 5 (a bash script of the AWS CLI against the
// provider, in real time) beside them, then 4 (terraform plan at scale) on
// its own; `-only 4` runs one (see -h).
//
// It owns only flag parsing, the machine description and the order of the
// scenarios; the scenarios and the table live in internal/bench. Like every
// command here it is not imported by anything.
package main
