package awsclient

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// Staging writes SecureStrings under the configured key, lists them by path
// without their values and deletes them in calls of ten; no recorded
// request carries a value.
func TestSecrets_putListDeleteKeepValuesOutOfEveryRequest(t *testing.T) {
	const key = "alias/fleet-secrets"
	sim, c, _ := newSim(t, func(cfg *Config) { cfg.SecretsKMSKeyID = key })
	ctx := testContext(t)
	var names []string
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("/rolling/secrets/web/0a1b2c3d/r-1/deploy/T%02d", i)
		names = append(names, name)
		if err := c.PutSecret(ctx, name, fmt.Sprintf("value-%02d-secret", i), "test"); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.PutSecret(ctx, names[0], "again", "test"); err == nil || !strings.Contains(err.Error(), "ParameterAlreadyExists") {
		t.Fatalf("a second put of one name must fail, got %v", err)
	}
	for _, p := range sim.Parameters() {
		if p.Type != "SecureString" || p.KeyID != key {
			t.Errorf("%s stored as %s under %q", p.Name, p.Type, p.KeyID)
		}
	}
	sim.Advance(time.Minute)
	listed, err := c.ListSecrets(ctx, "/rolling/secrets/web")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range listed {
		got = append(got, p.Name)
		if p.LastModified.IsZero() {
			t.Errorf("%s has no modification time", p.Name)
		}
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("listed %v, want %v", got, names)
	}
	if err := c.DeleteSecrets(ctx, append(names, "/rolling/secrets/web/0a1b2c3d/r-1/deploy/GONE")); err != nil {
		t.Fatal(err)
	}
	if left := sim.Parameters(); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	if n := sim.Recorder().CallCount()["DeleteParameters"]; n != 2 {
		t.Errorf("%d DeleteParameters calls for 13 names, want 2", n)
	}
	for _, call := range sim.Recorder().Calls("") {
		raw, _ := json.Marshal(call)
		if strings.Contains(string(raw), "-secret") {
			t.Errorf("recorded %s carries a value: %s", call.Action, raw)
		}
	}
}

func TestSecrets_defaultKeyAndSizeLimit(t *testing.T) {
	sim, c, _ := newSim(t, nil)
	if c.SecretsKMSKeyID() != DefaultSecretsKMSKeyID {
		t.Fatalf("default key %q", c.SecretsKMSKeyID())
	}
	err := c.PutSecret(testContext(t), "/rolling/secrets/x", strings.Repeat("v", 4097), "")
	if err == nil || strings.Contains(err.Error(), "vvvv") || !strings.Contains(err.Error(), "4097 bytes") {
		t.Fatalf("an oversized value must fail here, without echoing it: %v", err)
	}
	if n := sim.Recorder().CallCount()["PutParameter"]; n != 0 {
		t.Fatalf("an oversized value was sent (%d calls)", n)
	}
}
