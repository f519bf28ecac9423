package fleetsim

func (s *Sim) cloudWatchLocked(req *apiRequest, x *xmlw) (any, *apiError) {
	return nil, clientErr("UnknownOperationException", "Unknown operation %s", req.action)
}
