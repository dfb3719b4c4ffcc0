package app

import "strconv"

// ActorType says what kind of principal acted.
type ActorType string

const (
	ActorUser   ActorType = "user"
	ActorAgent  ActorType = "agent"
	ActorSystem ActorType = "system"
)

// Actor is who performs a use case; it is recorded on every audit event.
type Actor struct {
	Type  ActorType
	ID    string
	Email string
	Role  Role // empty for system and agent actors
	// SessionVersion is the version the caller's token or session was issued
	// under; 0 for system actors.
	SessionVersion int64
	// TokenID and TokenName name the API token (personal access token or
	// service account token) the request came with; 0 and "" otherwise.
	// Role is then the token's role. Audit records name the token.
	TokenID   int64
	TokenName string
}

// SystemActor is used by the CLI and by the server itself.
func SystemActor(name string) Actor { return Actor{Type: ActorSystem, ID: name} }

// UserActor is the actor for a logged-in user.
func UserActor(u *User) Actor {
	return Actor{Type: ActorUser, ID: strconv.FormatInt(u.ID, 10), Email: u.Email, Role: u.Role, SessionVersion: u.SessionVersion}
}

// can reports whether the actor may perform act. System actors (CLI, server
// start-up) run with full rights: they need shell access to the host already.
func (a Actor) can(act Action) bool {
	switch a.Type {
	case ActorSystem:
		return true
	case ActorUser:
		return Can(a.Role, act)
	default:
		return false
	}
}

func (a Actor) require(act Action) error {
	if a.can(act) {
		return nil
	}
	return &Error{Code: EFORBIDDEN, Message: RoleRefusal(a.Role, act)}
}
