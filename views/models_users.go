package views

// UsersView is the user-management page.
type UsersView struct {
	Rows   []UserRow
	Roles  []string
	Create CreateUserForm
}

// UserRow is one user in the table.
type UserRow struct {
	ID       string
	Email    string
	Role     string
	Disabled bool
	Created  string
	IsSelf   bool
	// Pending: invited, the invitation not accepted yet.
	Pending bool
}

// CreateUserForm keeps what was entered when an invitation is refused.
type CreateUserForm struct {
	Email string
	Role  string
	Error string
}
