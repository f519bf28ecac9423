// Package awsclient implements the rollout engine's ports (internal/rollout
// ports.go) with aws-sdk-go-v2, and discovers the fleet for plan, refresh and
// the data source.
//
// It owns: loading AWS configuration the way a hashicorp/aws user expects
// (credentials precedence, assume role, web identity, HCP Terraform dynamic
// credentials, per-service endpoints, retries, user agent); one SDK client
// per service, built once; chunking of every call that accepts many ids; and
// the translation of AWS errors into rollout.ErrNotFound / rollout.ErrThrottled
// (errors.go is the only place that looks at AWS error codes).
//
// It must not import Terraform packages nor internal/provider: the provider
// depends on this package, not the reverse. It never logs credentials.
package awsclient
