# A module that rolls the web application out to one environment's target
# groups. Staging and production call it with their own sizes and safety.
terraform {
  required_providers {
    rolling = {
      source = "rollingdeploy/rolling"
    }
  }
}

variable "target_group_arns" {
  type        = list(string)
  description = "Target groups of the environment's load balancer."
}

variable "app_version" {
  type        = string
  description = "Version to deploy."
}

variable "batch_percent" {
  type        = number
  default     = 25
  description = "Share of the fleet updated at once."
}

variable "min_healthy_percent" {
  type    = number
  default = 75
}

variable "bake_time" {
  type    = string
  default = "0s"
}

variable "alarm_names" {
  type    = list(string)
  default = []
}

resource "rolling_deployment" "web" {
  target_group_arns = var.target_group_arns
  version           = var.app_version

  step {
    name     = "stop"
    commands = ["systemctl stop web"]
  }
  step {
    name     = "deploy"
    commands = ["/opt/web/install.sh ${var.app_version}"]
    timeout  = "10m"
  }
  step {
    name     = "start"
    commands = ["systemctl start web"]
  }
  step {
    name     = "verify"
    commands = ["curl -fsS localhost:8080/healthz"]
  }

  strategy {
    batch_percent       = var.batch_percent
    min_healthy_percent = var.min_healthy_percent
    bake_time           = var.bake_time
  }

  failure {
    rollback    = true
    alarm_names = var.alarm_names
  }
}

output "planned_batches" {
  value = rolling_deployment.web.planned_batches
}

output "rollout_summary" {
  value = rolling_deployment.web.rollout_summary
}

output "last_rollout" {
  value = rolling_deployment.web.last_rollout
}
