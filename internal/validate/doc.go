// Package validate holds the provider's own schema validators, for what
// terraform-plugin-framework-validators does not cover: ARNs, URLs and Go
// durations. Each returns early on null and unknown values, so that values
// known only at apply time are checked then. It imports no AWS SDK.
package validate
