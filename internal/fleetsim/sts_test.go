package fleetsim

import (
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func TestSTS_getCallerIdentityNamesTheAccount(t *testing.T) {
	_, cfg, _ := newFrozenSim(t, Options{AccountID: "210987654321"})
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *out.Account != "210987654321" || *out.Arn == "" || *out.UserId == "" {
		t.Fatalf("%+v", out)
	}
}

func TestSTS_assumeRoleCredentialsAreAcceptedAndIdentifyTheRole(t *testing.T) {
	_, cfg, _ := newFrozenSim(t, Options{})
	role := "arn:aws:iam::123456789012:role/deployer"
	assumed := cfg.Copy()
	assumed.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), role, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "rolling"
	}))
	out, err := sts.NewFromConfig(assumed).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *out.Arn != "arn:aws:sts::123456789012:assumed-role/deployer/rolling" {
		t.Fatalf("arn %s", *out.Arn)
	}
	// The temporary keys work for other services too (signature verified).
	if _, err := ec2.NewFromConfig(assumed).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
}

func TestSTS_assumeRoleWithWebIdentityNeedsNoSignature(t *testing.T) {
	_, cfg, _ := newFrozenSim(t, Options{})
	anon := cfg.Copy()
	anon.Credentials = aws.AnonymousCredentials{}
	out, err := sts.NewFromConfig(anon).AssumeRoleWithWebIdentity(ctx(t), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::123456789012:role/tfc"), RoleSessionName: aws.String("run-1"), WebIdentityToken: aws.String("eyJhbGciOi.jwt.sig")})
	if err != nil {
		t.Fatal(err)
	}
	if out.Credentials == nil || *out.Credentials.AccessKeyId == "" || out.Credentials.Expiration == nil {
		t.Fatalf("%+v", out)
	}
	_, err = sts.NewFromConfig(cfg).AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("not-an-arn"), RoleSessionName: aws.String("x1")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationError" {
		t.Fatalf("want ValidationError, got %v", err)
	}
}

func TestAuth_unknownAccessKeyIsRefusedWithEachProtocolsCode(t *testing.T) {
	s, _, url := newFrozenSim(t, Options{})
	bad := sdkConfig(url, s.Region(), "AKIDUNKNOWN", "whatever", 1)
	var ae smithy.APIError
	_, err := sts.NewFromConfig(bad).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidClientTokenId" {
		t.Fatalf("sts: %v", err)
	}
	_, err = ec2.NewFromConfig(bad).DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{})
	if !errors.As(err, &ae) || ae.ErrorCode() != "AuthFailure" {
		t.Fatalf("ec2: %v", err)
	}
	wrongSecret := sdkConfig(url, s.Region(), testAccessKey, "not-the-secret", 1)
	_, err = sts.NewFromConfig(wrongSecret).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if !errors.As(err, &ae) || ae.ErrorCode() != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
	if calls := s.Recorder().Calls("GetCallerIdentity"); len(calls) != 2 || calls[0].ErrorCode != "InvalidClientTokenId" {
		t.Fatalf("recorded %+v", calls)
	}
}

func TestSTS_assumedRoleSessionsExpireOnTheSimulatedClockAndTheSDKRefreshes(t *testing.T) {
	// 900 s sessions last 0.18 s of wall time at this scale.
	s, cfg, url := newFrozenSim(t, Options{TimeScale: 0.0002, TickInterval: time.Millisecond})
	role := "arn:aws:iam::123456789012:role/deployer"
	provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), role, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "rolling"
		o.Duration = 900 * time.Second
	})
	first, err := provider.Retrieve(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if wall := time.Until(first.Expires); wall <= 0 || wall > time.Second {
		t.Fatalf("a 900 s session at scale 0.0002 expires in %s of wall time, want about 180ms", wall)
	}
	cached := cfg.Copy()
	cached.Credentials = aws.NewCredentialsCache(provider)
	client := ec2.NewFromConfig(cached)
	if _, err := client.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(first.Expires) + 20*time.Millisecond)

	// The expired session is refused with AWS's code...
	stale := sdkConfig(url, s.Region(), first.AccessKeyID, first.SecretAccessKey, 1)
	stale.Credentials = credentials.NewStaticCredentialsProvider(first.AccessKeyID, first.SecretAccessKey, first.SessionToken)
	_, err = sts.NewFromConfig(stale).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ExpiredToken" {
		t.Fatalf("expired session: %v, want ExpiredToken", err)
	}
	// ...and the SDK's cache refreshes it on its own.
	if _, err := client.DescribeInstances(ctx(t), &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("after expiry the cached provider did not refresh: %v", err)
	}
	if n := len(s.Recorder().Calls("AssumeRole")); n < 2 {
		t.Fatalf("%d AssumeRole calls, want a refresh", n)
	}
}
