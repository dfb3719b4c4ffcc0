package views

// RevealView is a one-time reveal page: a secret a POST just made, shown
// once (the server has already erased it). Exactly one of Secret, Codes
// and Command is set.
type RevealView struct {
	Title string
	// Notice says what to do with the secret now.
	Notice  string
	Secret  string
	Codes   []string
	Command string
	// URLMissing says the enroll command has a placeholder where the agent
	// listener's public address goes.
	URLMissing bool
	Facts      []RevealFact
	Back       string
	BackLabel  string
}

// RevealFact is a labelled, non-secret line beside the secret.
type RevealFact struct {
	Label string
	Value string
}
