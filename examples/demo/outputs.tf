output "rollout_summary" {
  description = "The planned rollout in one line."
  value       = rolling_deployment.web.rollout_summary
}

output "planned_batches" {
  description = "The planned rollout's batches, one line each."
  value       = rolling_deployment.web.planned_batches
}

output "versions" {
  description = "Instances per deployed version."
  value       = rolling_deployment.web.versions
}

output "last_rollout" {
  description = "What the last apply did."
  value       = rolling_deployment.web.last_rollout
}

output "out_of_date_instance_ids" {
  description = "Instances not on app_version."
  value       = rolling_deployment.web.out_of_date_instance_ids
}
