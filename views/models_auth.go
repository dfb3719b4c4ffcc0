package views

// LoginForm is the login page: the entered email is kept on error, the
// password never is.
type LoginForm struct {
	Email string
	Next  string // a local path to go to after login
	Error string
	// Providers are the single sign-on buttons.
	Providers []LoginProvider
}

// SetupForm is the first-admin form behind the one-time setup link.
type SetupForm struct {
	Token string
	Email string
	Error string
}
