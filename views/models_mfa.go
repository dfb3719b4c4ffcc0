package views

// NavSettings is the admin settings section (the MFA policy).
const NavSettings = "settings"

// MFALoginForm is the second step of a console login: a code from the
// authenticator app or a recovery code.
type MFALoginForm struct {
	Next  string // a local path to go to after login
	Error string
	// Passkey offers "Use a passkey": the user has one.
	Passkey bool
}

// MFAAccountView is the two-factor page of the account.
type MFAAccountView struct {
	// Required: the policy covers the user; MustEnroll: and they have no
	// factor yet, so every other page sends them here.
	Required   bool
	MustEnroll bool
	Enrolled   bool
	CanDisable bool
	// RecoveryCodesLeft counts unused recovery codes (when Enrolled).
	RecoveryCodesLeft int
	// Pending set-up: the secret in text, its otpauth:// URL and the QR
	// code as a data: URL.
	Pending    bool
	Secret     string
	OTPAuthURL string
	QRDataURL  string
}

// SettingsView is the admin settings page.
type SettingsView struct {
	MFARequired []Option
	Error       string
}
