package views

// SessionRow is one console session on the account and user pages.
type SessionRow struct {
	Created    string
	LastSeen   string
	ClientAddr string
	UserAgent  string
	// Current marks the session of the page's own request (no "end": log
	// out instead).
	Current bool
	// EndURL is where the "end" form posts.
	EndURL string
}

// AccountView is /account: who you are, your password, your sessions.
type AccountView struct {
	Email    string
	Role     string
	Sessions []SessionRow
}

// UserDetailView is an admin's page of one user.
type UserDetailView struct {
	ID       string
	Email    string
	Role     string
	Disabled bool
	// Pending: invited, the invitation not accepted yet (no password).
	Pending  bool
	Created  string
	IsSelf   bool
	Sessions []SessionRow
	Error    string
	SignIn   UserSignInView
}

// LinkRevealView shows a fresh invitation or reset link once.
type LinkRevealView struct {
	UserID  string
	Email   string
	Invite  bool
	URL     string
	Expires string
}

// SetPasswordForm is the page behind an invitation or reset link.
type SetPasswordForm struct {
	Email  string
	Invite bool
	Action string // the link's own path
	Error  string
}
