package awsclient

// chunks splits ids into consecutive slices of at most size elements; AWS
// caps how many ids one call accepts. An empty input gives no chunk.
func chunks[T any](ids []T, size int) [][]T {
	var out [][]T
	for len(ids) > size {
		out = append(out, ids[:size:size])
		ids = ids[size:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// Per-call limits. Where AWS documents none we use what large users chose
// (see AWS-FACTS.md).
const (
	maxTargetsPerCall          = 200  // RegisterTargets/DeregisterTargets: AWS LB Controller's figure
	maxInstancesPerSendCommand = 50   // SendCommand InstanceIds: 0..50
	maxTagResourcesPerCall     = 1000 // CreateTags/DeleteTags Resources
	maxStandbyInstances        = 20   // EnterStandby/ExitStandby InstanceIds
	maxASGInstancesPerCall     = 50   // DescribeAutoScalingInstances InstanceIds and MaxRecords
	maxASGNamesPerCall         = 100  // DescribeAutoScalingGroups MaxRecords
	maxAlarmNamesPerCall       = 100  // DescribeAlarms AlarmNames
	maxFilterValues            = 200  // EC2 filter values per filter
	maxTargetGroupARNsPerCall  = 20   // DescribeTargetGroups; keeps each request small
	maxStatusInstanceIDs       = 100  // DescribeInstanceStatus InstanceIds
	// DescribeInstanceInformation: the InstanceIds filter takes 100 values,
	// but a page holds at most 50 rows, so 50 ids are one call.
	maxInstanceInformationIDs = 50
)
