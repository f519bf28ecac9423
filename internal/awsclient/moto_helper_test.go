package awsclient

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// One moto_server serves every moto test of the package: it takes about a
// second to start. Tests keep apart by using their own resource names.
var moto struct {
	once sync.Once
	url  string
	cmd  *exec.Cmd
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if moto.cmd != nil && moto.cmd.Process != nil {
		_ = moto.cmd.Process.Kill()
		_ = moto.cmd.Wait()
	}
	os.Exit(code)
}

// motoURL starts moto_server on a free 127.0.0.1 port on first use. Without
// moto_server on PATH the test is skipped, unless ROLLING_REQUIRE_MOTO=1
// makes that a failure (CI sets it so conformance cannot silently vanish).
func motoURL(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		if os.Getenv("ROLLING_REQUIRE_MOTO") == "1" {
			t.Fatalf("moto_server is not on PATH and ROLLING_REQUIRE_MOTO=1")
		}
		t.Skip("moto_server is not on PATH (pip install 'moto[server]'); set ROLLING_REQUIRE_MOTO=1 to fail instead")
	}
	moto.once.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			moto.err = err
			return
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		cmd := exec.Command("moto_server", "-H", "127.0.0.1", "-p", fmt.Sprint(port))
		if os.Getenv("ROLLING_MOTO_LOG") == "" {
			cmd.Stdout, cmd.Stderr = nil, nil
		} else {
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		}
		if err := cmd.Start(); err != nil {
			moto.err = err
			return
		}
		moto.cmd = cmd
		moto.url = fmt.Sprintf("http://127.0.0.1:%d", port)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			resp, err := http.Get(moto.url + "/moto-api/")
			if err == nil {
				resp.Body.Close()
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		moto.err = fmt.Errorf("moto_server did not answer on %s within 30s", moto.url)
	})
	if moto.err != nil {
		t.Fatalf("starting moto_server: %v", moto.err)
	}
	return moto.url
}

// motoClient is a Client whose every service points at moto.
func motoClient(t *testing.T) *Client {
	t.Helper()
	url := motoURL(t)
	endpoints := map[string]string{}
	for key := range endpointKeys {
		endpoints[key] = url
	}
	c, err := New(context.Background(), Config{
		Region:     "us-east-1",
		AccessKey:  "testing",
		SecretKey:  "testing",
		Endpoints:  endpoints,
		MaxRetries: 2,
	})
	if err != nil {
		t.Fatalf("New against moto: %v", err)
	}
	return c
}
