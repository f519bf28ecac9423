// Package snippets holds only tests: every HCL snippet a user may copy —
// the fenced terraform/hcl/tf blocks of README.md, templates/ and the
// Markdown under examples/, and every directory of .tf files under
// examples/ — must pass `terraform fmt -check` and `terraform validate`
// against the provider built from this tree (dev_overrides, no init, no
// registry), so that none can be invalid again.
//
// A snippet that is a fragment (a lone resource block) is wrapped before it
// is validated: a required_providers header for rolling when it has none,
// an untyped variable for each var.NAME it uses but does not declare, and
// an untyped variable in place of each reference to another provider's
// resource (aws_lb_target_group.web becomes var.aws_lb_target_group_web),
// since no other provider can be installed here.
//
// A Markdown snippet opts out with an HTML comment on the line before its
// fence, which renders as nothing:
//
//	<!-- snippet: fmt-only (why) -->   checked by terraform fmt, not validated
//	<!-- snippet: skip (why) -->       not checked at all (not HCL, e.g. "...")
//
// It must not import the provider: the provider is what it runs.
package snippets
