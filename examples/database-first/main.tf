# Database first: the schema migration runs once, on one instance, before
# any web instance gets the version that needs it. depends_on orders the two
# rollouts; the web rollout waits for the migration to succeed.
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

variable "migration_instance_id" {
  type        = string
  description = "The one instance that runs migrations (a worker behind the admin target group)."
}

data "rolling_target_group" "admin" {
  name = "admin"
}

data "rolling_target_group" "web" {
  name = "web"
}

resource "rolling_deployment" "migrate" {
  target_group_arns = [data.rolling_target_group.admin.arn]
  instance_ids      = [var.migration_instance_id]
  version           = var.app_version

  step {
    name     = "migrate"
    commands = ["/opt/web/migrate.sh ${var.app_version}"]
    timeout  = "30m"
  }

  strategy {
    batch_size          = 1
    min_healthy_percent = 0
  }
}

resource "rolling_deployment" "web" {
  target_group_arns = [data.rolling_target_group.web.arn]
  version           = var.app_version

  step {
    name     = "deploy"
    commands = ["/opt/web/install.sh ${var.app_version}"]
  }

  strategy {
    batch_percent       = 25
    min_healthy_percent = 75
  }

  depends_on = [rolling_deployment.migrate]
}
