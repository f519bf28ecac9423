# The configuration `make demo` applies against the bundled fleet simulator.
# The same file works against real AWS: leave `endpoint` unset, use your usual
# AWS credentials, name your own target groups, and replace the `app ...`
# commands (the simulator's command convention) with your own.

terraform {
  # sensitive_parameters in step blocks are write-only attributes.
  required_version = ">= 1.11"

  required_providers {
    rolling = {
      source = "rollingdeploy/rolling"
    }
  }
}

variable "endpoint" {
  description = "One URL for every AWS service (the fleet simulator). Null for real AWS."
  type        = string
  default     = null
}

variable "region" {
  type    = string
  default = "us-east-1"
}

variable "app_version" {
  description = "The version to deploy. Changing it is a rollout."
  type        = string
}

variable "target_group_names" {
  type    = list(string)
  default = ["web", "web-tls"]
}

variable "batch_size" {
  type    = number
  default = 3
}

variable "min_healthy_percent" {
  type    = number
  default = 75
}

variable "alarm_names" {
  type    = list(string)
  default = ["web-5xx-rate"]
}

provider "rolling" {
  region = var.region

  # Against the simulator only: static demo keys and no STS check. Against
  # AWS these are null and the usual credential chain applies.
  access_key                  = var.endpoint == null ? null : "demo"
  secret_key                  = var.endpoint == null ? null : "demo"
  skip_credentials_validation = var.endpoint != null

  dynamic "endpoints" {
    for_each = var.endpoint == null ? [] : [var.endpoint]
    content {
      ec2         = endpoints.value
      elbv2       = endpoints.value
      ssm         = endpoints.value
      autoscaling = endpoints.value
      cloudwatch  = endpoints.value
      sts         = endpoints.value
    }
  }
}

# The fleet is whatever is registered in these target groups, read by name.
data "rolling_target_group" "web" {
  for_each = toset(var.target_group_names)
  name     = each.value
}

resource "rolling_deployment" "web" {
  target_group_arns = [for tg in data.rolling_target_group.web : tg.arn]
  version           = var.app_version

  step {
    name     = "stop"
    commands = ["app stop"]
  }
  step {
    name     = "deploy"
    commands = ["app deploy ${var.app_version}"]
    timeout  = "10m"
  }
  step {
    name     = "start"
    commands = ["app start"]
  }
  step {
    name     = "verify"
    commands = ["app check"]
  }

  strategy {
    batch_size          = var.batch_size
    min_healthy_percent = var.min_healthy_percent
    bake_time           = "30s"
    # Generous bounds: a rollout that waits this long has a problem worth a
    # failure, not a slow health check (5 x 30 s) or a 300 s drain.
    health_timeout = "30m"
    drain_timeout  = "15m"
  }

  failure {
    max_failed_instances = 0
    rollback             = true
    alarm_names          = var.alarm_names
  }
}
