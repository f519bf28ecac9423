//go:build !unix

package provider

// processAlive cannot tell on this platform: a lease left by an earlier run
// on this machine is then judged by its TTL like any other.
func processAlive(int) bool { return true }
