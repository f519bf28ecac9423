// Package provider is the Terraform side of the rolling provider: the provider
// configuration, the rolling_deployment resource and the rolling_target_group
// data source, their schemas, validators, plan modification and import, and the
// mapping between Terraform values and rollout.Spec.
//
// It makes no AWS call of its own: everything goes through internal/awsclient
// (discovery, adapters) and internal/rollout (the engine).
package provider
