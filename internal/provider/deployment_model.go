package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
)

// getter is what Config, Plan and State share.
type getter interface {
	Get(context.Context, any) diag.Diagnostics
}

// getModel reads a whole resource value and decodes its blocks. Values from
// modules are often null (a variable left unset) or unknown (an output of a
// resource not yet created): both must decode without error, at any depth.
func getModel(ctx context.Context, from getter, m *deploymentModel) diag.Diagnostics {
	diags := from.Get(ctx, m)
	if diags.HasError() {
		return diags
	}
	diags.Append(m.decodeBlocks(ctx)...)
	return diags
}

// decodeBlocks fills Steps, Strategy and Failure from the raw block values.
func (m *deploymentModel) decodeBlocks(ctx context.Context) diag.Diagnostics {
	var diags diag.Diagnostics
	m.BlocksKnown = true
	m.Steps, m.Strategy, m.Failure = nil, nil, nil
	switch {
	case m.StepBlocks.IsUnknown():
		m.BlocksKnown = false
	case !m.StepBlocks.IsNull():
		for _, e := range m.StepBlocks.Elements() {
			obj, ok := e.(types.Object)
			if !ok || obj.IsUnknown() {
				m.BlocksKnown = false
				continue
			}
			var s stepModel
			diags.Append(obj.As(ctx, &s, basetypes.ObjectAsOptions{})...)
			m.Steps = append(m.Steps, s)
		}
	}
	if m.StrategyBlock.IsUnknown() {
		m.BlocksKnown = false
	} else if !m.StrategyBlock.IsNull() {
		m.Strategy = &strategyModel{}
		diags.Append(m.StrategyBlock.As(ctx, m.Strategy, basetypes.ObjectAsOptions{})...)
	}
	if m.FailureBlock.IsUnknown() {
		m.BlocksKnown = false
	} else if !m.FailureBlock.IsNull() {
		m.Failure = &failureModel{}
		diags.Append(m.FailureBlock.As(ctx, m.Failure, basetypes.ObjectAsOptions{})...)
	}
	return diags
}

// known reports whether a value holds no unknown, at any depth.
func known(ctx context.Context, v attr.Value) bool {
	tv, err := v.ToTerraformValue(ctx)
	return err == nil && tv.IsFullyKnown()
}

// isSet is true for a value the configuration gave: not null, not unknown.
// Either/or checks use it, so that `batch_size = var.batch_size` with a null
// default counts as unset and a value known only after apply is checked when
// it is known.
func isSet(v attr.Value) bool {
	return !v.IsNull() && !v.IsUnknown()
}

// scheduleInputsKnown reports whether everything the schedule depends on is
// known: the fleet's scope, the release (version, steps, triggers) and the
// strategy. Sensitive parameters do not count: they are not in the release id.
func (m *deploymentModel) scheduleInputsKnown(ctx context.Context) bool {
	if !m.BlocksKnown || !known(ctx, m.TargetGroupARNs) || !known(ctx, m.InstanceIDs) ||
		m.Version.IsUnknown() || !known(ctx, m.Triggers) {
		return false
	}
	for _, s := range m.Steps {
		if s.Name.IsUnknown() || !known(ctx, s.Commands) || s.DocumentName.IsUnknown() ||
			s.DocumentVersion.IsUnknown() || !known(ctx, s.Parameters) || s.Timeout.IsUnknown() {
			return false
		}
	}
	return m.Strategy == nil || known(ctx, m.StrategyBlock)
}
