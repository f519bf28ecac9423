output "planned_batches" {
  description = "The next rollout's schedule: instance ids per batch."
  value       = rolling_deployment.web.planned_batches
}

output "last_rollout" {
  description = "What the last apply did."
  value       = rolling_deployment.web.last_rollout
}

output "out_of_date_instance_ids" {
  description = "Instances not on app_version."
  value       = rolling_deployment.web.out_of_date_instance_ids
}
