package fleetsim

var asgActions = map[string]xmlHandler{}
