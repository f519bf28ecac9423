# Configured like the hashicorp/aws provider: every argument is optional and
# the usual environment variables, profiles and roles work.
provider "rolling" {
  region = "eu-west-1"

  # Deploy with a dedicated, least-privilege role (see the IAM policy in the
  # rolling_deployment documentation).
  assume_role {
    role_arn     = "arn:aws:iam::123456789012:role/rolling-deployer"
    session_name = "terraform-rollout"
  }

  # Large fleets: let the SDK rate-limit itself instead of hitting throttles.
  retry_mode  = "adaptive"
  max_retries = 25
}

# Against a local emulator (the bundled fleet simulator, moto, LocalStack):
# provider "rolling" {
#   region                      = "us-east-1"
#   access_key                  = "test"
#   secret_key                  = "test"
#   skip_credentials_validation = true
#   endpoints {
#     ec2         = "http://127.0.0.1:4599"
#     elbv2       = "http://127.0.0.1:4599"
#     ssm         = "http://127.0.0.1:4599"
#     autoscaling = "http://127.0.0.1:4599"
#     cloudwatch  = "http://127.0.0.1:4599"
#     sts         = "http://127.0.0.1:4599"
#   }
# }
