# Production: a quarter at a time, a bake period, and alarms that stop the rollout.
# With a locally built provider (dev_overrides) run `terraform get`, not `terraform init`: see ../README.md.
terraform {
  required_providers {
    rolling = {
      source = "rollingdeploy/rolling"
    }
  }
}

provider "rolling" {
  region = "eu-west-1"
  assume_role {
    role_arn = "arn:aws:iam::123456789012:role/rolling-deployer"
  }
}

variable "app_version" {
  type = string
}

data "rolling_target_group" "web" {
  name = "production-web"
}

data "rolling_target_group" "web_tls" {
  name = "production-web-tls"
}

module "web" {
  source              = "../../modules/rolling_web"
  target_group_arns   = [data.rolling_target_group.web.arn, data.rolling_target_group.web_tls.arn]
  app_version         = var.app_version
  batch_percent       = 25
  min_healthy_percent = 75
  bake_time           = "2m"
  alarm_names         = ["production-web-5xx", "production-web-latency"]
}
