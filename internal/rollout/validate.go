package rollout

import "fmt"

// Validate reports every problem with the Spec at once, as a
// *ValidationError, including a capacity floor that lets nothing move. The
// messages use the Terraform attribute names, since that is what users fix.
func (s Spec) Validate() error {
	problems := s.shapeProblems()
	// The floor is only meaningful once the numbers it rests on are valid.
	st := s.Strategy
	if st.BatchSize >= 0 && st.BatchPercent >= 0 && st.CanarySize >= 0 &&
		st.MinHealthyPercent >= 0 && st.MinHealthyPercent <= 100 {
		if _, err := planBatches(s); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

// validateShape checks each field and the cross-field invariants, without
// looking at whether the fleet's health lets the rollout move.
func (s Spec) validateShape() error {
	if p := s.shapeProblems(); len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

func (s Spec) shapeProblems() []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if s.RolloutID == "" {
		add("rollout id must not be empty")
	}
	if s.Release.Version == "" {
		add("version must not be empty")
	}
	p = append(p, validateSteps("step", s.Release.Steps)...)
	if s.Previous != nil {
		p = append(p, validateSteps("previous step", s.Previous.Steps)...)
	}

	st := s.Strategy
	switch {
	case st.BatchSize > 0 && st.BatchPercent > 0:
		add("only one of batch_size and batch_percent may be set")
	case st.BatchSize <= 0 && st.BatchPercent <= 0:
		add("one of batch_size (at least 1) or batch_percent (1 to 100) must be set")
	}
	if st.BatchSize < 0 {
		add("batch_size must be at least 1, got %d", st.BatchSize)
	}
	if st.BatchPercent < 0 || st.BatchPercent > 100 {
		add("batch_percent must be between 1 and 100, got %d", st.BatchPercent)
	}
	if st.MinHealthyPercent < 0 || st.MinHealthyPercent > 100 {
		add("min_healthy_percent must be between 0 and 100, got %d", st.MinHealthyPercent)
	}
	switch st.Mode {
	case "", ModeBatch, ModeWindow:
	default:
		add("mode must be %q or %q, got %q", ModeBatch, ModeWindow, st.Mode)
	}
	if st.Lockstep && st.Mode == ModeWindow {
		add("lockstep applies to mode %q only: in mode %q every instance runs its steps at its own pace", ModeBatch, ModeWindow)
	}
	switch st.Order {
	case "", OrderAZBalanced, OrderSorted, OrderZoneByZone:
	default:
		add("order must be %q, %q or %q, got %q", OrderAZBalanced, OrderSorted, OrderZoneByZone, st.Order)
	}
	p = append(p, zoneProblems(s)...)
	if st.CanarySize < 0 {
		add("canary_size must not be negative, got %d", st.CanarySize)
	}
	if st.CanarySize == 0 && st.CanaryPause > 0 {
		add("canary_pause needs canary_size")
	}
	for _, d := range []struct {
		name string
		v    int64
	}{
		{"canary_pause", int64(st.CanaryPause)}, {"pause_between_batches", int64(st.PauseBetweenBatches)},
		{"bake_time", int64(st.BakeTime)}, {"health_timeout", int64(st.HealthTimeout)},
		{"drain_timeout", int64(st.DrainTimeout)}, {"cancel_grace_period", int64(st.CancelGracePeriod)},
		{"zone_bake_time", int64(st.ZoneBakeTime)},
	} {
		if d.v < 0 {
			add("%s must not be negative", d.name)
		}
	}

	f := s.Failure
	if f.MaxFailedInstances < 0 {
		add("max_failed_instances must not be negative, got %d", f.MaxFailedInstances)
	}
	if f.MaxFailedPercent < 0 || f.MaxFailedPercent > 100 {
		add("max_failed_percent must be between 0 and 100, got %d", f.MaxFailedPercent)
	}
	for i, name := range f.AlarmNames {
		if name == "" {
			add("alarm_names[%d] must not be empty", i)
		}
	}

	if st.HealthTimeout > 0 {
		// Nomad's rule of thumb, adapted: the bound on becoming healthy
		// must leave room for the checks themselves.
		for _, tg := range s.Fleet.TargetGroups {
			if need := healthExpected(tg); st.HealthTimeout <= need {
				add("health_timeout (%s) must be longer than healthy_threshold x interval of target group %s (%s)",
					st.HealthTimeout, tg.Name, need)
				break
			}
		}
	}
	p = append(p, surgeProblems(s)...)
	return append(p, validateFleet(s.Fleet)...)
}

func validateSteps(what string, steps []Step) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	seen := map[string]bool{}
	for i, st := range steps {
		label := fmt.Sprintf("%s %d", what, i+1)
		if st.Name != "" {
			label = fmt.Sprintf("%s %q", what, st.Name)
		}
		switch {
		case st.Name == "":
			add("%s: name must not be empty", label)
		case seen[st.Name]:
			add("%s: name is used by more than one step", label)
		}
		seen[st.Name] = true
		switch {
		case len(st.Commands) > 0 && st.DocumentName != "":
			add("%s: only one of commands and document_name may be set", label)
		case len(st.Commands) == 0 && st.DocumentName == "":
			add("%s: one of commands or document_name must be set", label)
		}
		if len(st.Commands) > 0 {
			for _, reserved := range []string{"commands", "executionTimeout"} {
				if _, ok := st.Parameters[reserved]; ok {
					add("%s: parameter %q is set from commands and timeout; it must not be given too", label, reserved)
				}
			}
		}
		if st.Timeout < 0 {
			add("%s: timeout must not be negative", label)
		}
	}
	return p
}

func validateFleet(f Fleet) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	tgs := map[string]bool{}
	for _, tg := range f.TargetGroups {
		if tg.ARN == "" {
			add("a target group has an empty ARN")
		}
		tgs[tg.ARN] = true
	}
	asgs := map[string]bool{}
	for _, g := range f.AutoScalingGroups {
		asgs[g.Name] = true
	}
	ids := map[string]bool{}
	for _, inst := range f.Instances {
		switch {
		case inst.ID == "":
			add("an instance has an empty id")
		case ids[inst.ID]:
			add("instance %s is listed twice", inst.ID)
		}
		ids[inst.ID] = true
		for arn := range inst.Targets {
			if !tgs[arn] {
				add("instance %s is registered in target group %s, which is not in the fleet", inst.ID, arn)
			}
		}
		if inst.AutoScalingGroup != "" && !asgs[inst.AutoScalingGroup] {
			add("instance %s is in Auto Scaling group %s, which is not in the fleet", inst.ID, inst.AutoScalingGroup)
		}
	}
	return p
}
