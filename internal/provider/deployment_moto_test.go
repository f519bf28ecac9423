package provider

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbv2types "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/clock"
	"github.com/rollingdeploy/terraform-provider-rolling/internal/motoserver"
)

// The happy path against moto_server, an AWS emulator written by others:
// create, version bump, destroy. moto answers instantly (targets healthy at
// once, commands always succeed), so the provider's clock runs fast to skip
// the waits it derives from the target group's settings.
func TestAccRollingDeployment_motoConformanceHappyPath(t *testing.T) {
	url := motoserver.URL(t)
	ctx := context.Background()
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""),
	}
	ec2c := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(url) })
	elbc := elbv2.NewFromConfig(cfg, func(o *elbv2.Options) { o.BaseEndpoint = aws.String(url) })

	vpcs, err := ec2c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if err != nil || len(vpcs.Vpcs) == 0 {
		t.Fatalf("DescribeVpcs: %v", err)
	}
	images, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{})
	if err != nil || len(images.Images) == 0 {
		t.Fatalf("DescribeImages: %v", err)
	}
	run, err := ec2c.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: images.Images[0].ImageId, MinCount: aws.Int32(3), MaxCount: aws.Int32(3),
		InstanceType: ec2types.InstanceTypeT3Micro,
	})
	if err != nil {
		t.Fatalf("RunInstances: %v", err)
	}
	var ids []string
	var targets []elbv2types.TargetDescription
	for _, inst := range run.Instances {
		ids = append(ids, aws.ToString(inst.InstanceId))
		targets = append(targets, elbv2types.TargetDescription{Id: inst.InstanceId, Port: aws.Int32(80)})
	}
	name := fmt.Sprintf("conf-%d", os.Getpid()%100000)
	tg, err := elbc.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{
		Name: aws.String(name), Protocol: elbv2types.ProtocolEnumHttp, Port: aws.Int32(80), VpcId: vpcs.Vpcs[0].VpcId,
		HealthCheckIntervalSeconds: aws.Int32(5), HealthyThresholdCount: aws.Int32(2),
	})
	if err != nil {
		t.Fatalf("CreateTargetGroup: %v", err)
	}
	arn := aws.ToString(tg.TargetGroups[0].TargetGroupArn)
	if _, err := elbc.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(arn), Targets: targets}); err != nil {
		t.Fatalf("RegisterTargets: %v", err)
	}

	providerCfg := endpointsProvider(url, "testing", "testing")
	config := func(version string) string {
		return providerCfg + fmt.Sprintf(`
resource "rolling_deployment" "web" {
  target_group_arns = [%q]
  version           = %q
  step {
    name     = "deploy"
    commands = ["/opt/web/install.sh %s"]
  }
  strategy {
    batch_size          = 1
    min_healthy_percent = 50
  }
}
`, arn, version, version)
	}
	versionTags := func(want string) resource.TestCheckFunc {
		return func(*terraform.State) error {
			out, err := ec2c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: ids})
			if err != nil {
				return err
			}
			for _, r := range out.Reservations {
				for _, inst := range r.Instances {
					got := ""
					for _, tag := range inst.Tags {
						if aws.ToString(tag.Key) == "rolling:version" {
							got = aws.ToString(tag.Value)
						}
					}
					if got != want {
						return fmt.Errorf("%s has rolling:version %q, want %q", aws.ToString(inst.InstanceId), got, want)
					}
				}
			}
			return nil
		}
	}
	factories := map[string]func() (tfprotov6.ProviderServer, error){
		"rolling": providerserver.NewProtocol6WithError(NewWithOptions("test", Options{Clock: clock.Scaled(0.01)})()),
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{
			{
				Config: config("v1"),
				Check:  versionTags("v1"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("last_rollout").AtMapKey("updated"), knownvalue.Int64Exact(3)),
				},
			},
			{
				Config: config("v2"),
				Check:  versionTags("v2"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("last_rollout").AtMapKey("status"), knownvalue.StringExact("succeeded")),
					statecheck.ExpectKnownValue(resourceName, tfjsonpath.New("last_rollout").AtMapKey("batches"), knownvalue.Int64Exact(3)),
				},
			},
		},
		CheckDestroy: versionTags(""),
	})
}
