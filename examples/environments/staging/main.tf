# Staging: fast, half the fleet at a time, no bake.
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
}

variable "app_version" {
  type = string
}

data "rolling_target_group" "web" {
  name = "staging-web"
}

module "web" {
  source              = "../../modules/rolling_web"
  target_group_arns   = [data.rolling_target_group.web.arn]
  app_version         = var.app_version
  batch_percent       = 50
  min_healthy_percent = 50
}
