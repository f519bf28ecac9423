// Package motoserver starts moto_server, an AWS emulator written by others,
// on a free 127.0.0.1 port for conformance tests: requests our own fleet
// simulator accepts are proven valid against a second implementation.
//
// One server per test binary: it takes about a second to start. Tests keep
// apart by using their own resource names. It is test support only and must
// not be imported by the provider itself.
package motoserver

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// EnvRequire, set to 1 (CI does), turns a missing moto_server into a test
// failure instead of a skip, so conformance cannot silently vanish.
const EnvRequire = "ROLLING_REQUIRE_MOTO"

var server struct {
	once sync.Once
	url  string
	cmd  *exec.Cmd
	err  error
}

// URL returns the endpoint of the shared moto_server, starting it on first
// use. Without moto_server on PATH the test is skipped with a clear message,
// or fails when ROLLING_REQUIRE_MOTO=1.
func URL(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("moto_server is not on PATH and %s=1", EnvRequire)
		}
		t.Skipf("moto_server is not on PATH (pip install 'moto[server]'); set %s=1 to fail instead", EnvRequire)
	}
	server.once.Do(start)
	if server.err != nil {
		t.Fatalf("starting moto_server: %v", server.err)
	}
	return server.url
}

func start() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		server.err = err
		return
	}
	addr, _ := l.Addr().(*net.TCPAddr)
	_ = l.Close()
	if addr == nil {
		server.err = fmt.Errorf("no TCP address from %v", l.Addr())
		return
	}
	port := addr.Port
	cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	if os.Getenv("ROLLING_MOTO_LOG") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		server.err = err
		return
	}
	server.cmd = cmd
	server.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(server.url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	server.err = fmt.Errorf("moto_server did not answer on %s within 30s", server.url)
}

// Stop ends the shared server; call it from TestMain after m.Run.
func Stop() {
	if server.cmd != nil && server.cmd.Process != nil {
		_ = server.cmd.Process.Kill()
		_ = server.cmd.Wait()
	}
}
