# Zone by zone: one Availability Zone at a time, smallest first, with a bake
# between zones in which the alarms are watched. A bad version fails in the
# first zone and never reaches the others; the plan lists the batches zone
# by zone ("#4 eu-west-1c batch 1/6 (canary): ...").
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
  name = "web"
}

resource "rolling_deployment" "web" {
  target_group_arns = [data.rolling_target_group.web.arn]
  version           = var.app_version

  step {
    name     = "deploy"
    commands = ["/opt/web/install.sh ${var.app_version}"]
    timeout  = "5m"
  }
  step {
    name     = "verify"
    commands = ["curl -fsS localhost:8080/healthz"]
  }

  strategy {
    order               = "zone_by_zone"
    batch_percent       = 10 # of the whole fleet; a batch never spans two zones
    min_healthy_percent = 80 # counted over the whole fleet
    canary_size         = 1  # the first zone's first instance
    canary_pause        = "2m"
    bake_time           = "30s"
    zone_bake_time      = "10m" # after each zone but the last; defaults to 5m
  }

  failure {
    max_failed_instances = 0
    rollback             = true
    alarm_names          = ["web-5xx-rate", "web-p99-latency"]
  }
}

output "rollout_summary" {
  value = rolling_deployment.web.rollout_summary
}
