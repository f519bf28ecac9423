data "rolling_target_group" "web" {
  name = "web"
}

output "web_versions" {
  value = { for t in data.rolling_target_group.web.instances : t.id => "${t.version} (${t.health_state})" }
}
