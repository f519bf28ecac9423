// Command bench prints the benchmark table of BENCHMARKS.md (issue 7):
// `make bench` runs scenarios 1-4 against the in-process fleet simulator,
// `go run ./internal/cmd/bench -cli` adds scenario 5 (a bash script of the
// AWS CLI against the provider, both in real time).
//
// It owns only flag parsing, the machine description and the order of the
// scenarios; the scenarios and the table live in internal/bench. Like every
// command here it is not imported by anything.
package main
