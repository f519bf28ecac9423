package awsclient

import (
	"context"
	"os"
	"testing"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/motoserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.Stop()
	os.Exit(code)
}

func motoURL(t *testing.T) string { return motoserver.URL(t) }

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
