package ops

// SSHKeyAdd appends one public key to a user's ~/.ssh/authorized_keys.
// The line carries no options: restrictions belong in sshd_config, and
// options like command="..." are exactly what a reviewer might miss.
type SSHKeyAdd struct {
	User      string `json:"user"`
	PublicKey string `json:"public_key"`
}

func (SSHKeyAdd) Type() string { return TypeSSHKeyAdd }

func (o SSHKeyAdd) Validate() error {
	if err := validateNameField("user", o.User); err != nil {
		return err
	}
	if _, err := ParsePublicKey(o.PublicKey); err != nil {
		return fieldErr("public_key", "%v", err)
	}
	return nil
}

func (o SSHKeyAdd) Summary() string {
	k, err := ParsePublicKey(o.PublicKey)
	if err != nil {
		return "add an SSH key (invalid) for local user " + o.User
	}
	s := "add SSH key " + k.Fingerprint + " (" + k.Type
	if k.Comment != "" {
		s += ", " + quoteShort(k.Comment)
	}
	return s + ") for local user " + o.User
}

// SSHKeyRemove removes every authorized_keys line of a user whose key has
// the given fingerprint, including lines that carry options.
type SSHKeyRemove struct {
	User        string `json:"user"`
	Fingerprint string `json:"fingerprint"`
}

func (SSHKeyRemove) Type() string { return TypeSSHKeyRemove }

func (o SSHKeyRemove) Validate() error {
	if err := validateNameField("user", o.User); err != nil {
		return err
	}
	if err := ValidateFingerprint(o.Fingerprint); err != nil {
		return fieldErr("fingerprint", "%v", err)
	}
	return nil
}

func (o SSHKeyRemove) Summary() string {
	return "remove SSH key " + o.Fingerprint + " from local user " + o.User
}

// FactsRefresh asks the agent to report its facts and inventory now.
type FactsRefresh struct{}

func (FactsRefresh) Type() string    { return TypeFactsRefresh }
func (FactsRefresh) Validate() error { return nil }
func (FactsRefresh) Summary() string { return "refresh host facts and inventory" }
