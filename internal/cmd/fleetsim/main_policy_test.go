package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
)

func TestRun_policyFlagEnforcesTheIAMPolicy(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.json")
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:DescribeInstances","Resource":"*"}]}`
	if err := os.WriteFile(policy, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-policy", policy, "-timescale", "0.001"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	endpoint := strings.TrimPrefix(strings.TrimSpace(line), "endpoint: ")

	resp, err := http.Get(endpoint + "/_sim/policy")
	if err != nil {
		t.Fatal(err)
	}
	var shown map[string]any
	err = json.NewDecoder(resp.Body).Decode(&shown)
	resp.Body.Close()
	if err != nil || shown["Version"] != "2012-10-17" {
		t.Fatalf("GET /_sim/policy: %v %v", shown, err)
	}
	c := ec2.NewFromConfig(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDPOLICYTEST", "secret", "")})
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	if _, err := c.DescribeInstances(rctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("allowed call: %v", err)
	}
	_, err = c.DeleteTags(rctx, &ec2.DeleteTagsInput{Resources: []string{"i-0123456789abcdef0"}})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnauthorizedOperation" {
		t.Fatalf("denied call: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestRun_refusesAPolicyThatDoesNotParse(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(policy, []byte(`{"Statement":[{"Effect":"Allow","Action":"*"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-policy", policy}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "Resource or NotResource is required") {
		t.Fatalf("run: %v", err)
	}
	if err := run(context.Background(), []string{"-policy", filepath.Join(t.TempDir(), "missing.json")}, io.Discard, io.Discard); err == nil {
		t.Fatal("a missing policy file was accepted")
	}
}
