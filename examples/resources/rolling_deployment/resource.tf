variable "app_version" {
  type = string
}

variable "deploy_token" {
  type      = string
  sensitive = true
  ephemeral = true
}

resource "rolling_deployment" "web" {
  target_group_arns = [aws_lb_target_group.web.arn, aws_lb_target_group.web_tls.arn]
  version           = var.app_version

  step {
    name     = "stop"
    commands = ["systemctl stop web"]
  }
  step {
    name     = "deploy"
    commands = ["/opt/web/install.sh ${var.app_version}"]
    timeout  = "10m"
    # Never stored in plan or state; exported as DEPLOY_TOKEN for the commands.
    sensitive_parameters = {
      DEPLOY_TOKEN = var.deploy_token
    }
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
    batch_size          = 2
    min_healthy_percent = 75
    bake_time           = "60s"
  }

  failure {
    max_failed_instances = 0
    rollback             = true
    alarm_names          = ["web-5xx-rate"]
  }

  timeouts {
    create = "60m"
    update = "60m"
  }
}
