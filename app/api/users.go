package api

import (
	"encoding/json"
	"net/http"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

type userJSON struct {
	ID       int64    `json:"id"`
	Email    string   `json:"email"`
	Role     app.Role `json:"role"`
	Disabled bool     `json:"disabled"`
	// Kind is "human" or "service" (a service account: Email is its name).
	Kind      app.UserKind `json:"kind"`
	CreatedAt string       `json:"created_at"`
	UpdatedAt string       `json:"updated_at"`
}

func toUserJSON(u *app.User) userJSON {
	return userJSON{ID: u.ID, Email: u.Email, Role: u.Role, Disabled: u.Disabled, Kind: u.Kind,
		CreatedAt: rfc3339(u.CreatedAt), UpdatedAt: rfc3339(u.UpdatedAt)}
}

func (a *api) listUsers(w http.ResponseWriter, r *http.Request) {
	users, err := a.svc.ListUsers(r.Context(), actorFrom(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]userJSON, 0, len(users))
	for i := range users {
		out = append(out, toUserJSON(&users[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"users": out})
}

func (a *api) getUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.svc.GetUser(r.Context(), actorFrom(r.Context()), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toUserJSON(u))
}

type createUserRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
	// Password is refused: users set their own through the invitation.
	Password json.RawMessage `json:"password"`
}

type createUserResponse struct {
	userJSON
	InvitationURL       string `json:"invitation_url"`
	InvitationExpiresAt string `json:"invitation_expires_at"`
}

// createUser invites a user: it returns the user and, this once, the
// invitation link where they set their own password.
func (a *api) createUser(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	// Refuse before reading the body so a non-admin learns nothing else.
	if err := a.svc.ListActions(act).Err(app.ActionManageUsers); err != nil {
		a.fail(w, r, err)
		return
	}
	var req createUserRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if len(req.Password) > 0 { // even null or "": the field itself is refused
		a.fail(w, r, app.Errorf(app.EINVALID, "passwords are set by the user through the invitation"))
		return
	}
	res, err := a.svc.InviteUser(r.Context(), act, app.InviteInput{Email: req.Email, Role: req.Role})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, createUserResponse{userJSON: toUserJSON(res.User),
		InvitationURL: httpx.BaseURL(r) + res.Path(), InvitationExpiresAt: rfc3339(res.ExpiresAt)})
}

type resetPasswordResponse struct {
	User      userJSON `json:"user"`
	ResetURL  string   `json:"reset_url"`
	ExpiresAt string   `json:"expires_at"`
}

// resetPassword makes a one-time reset link for a user (admins); the link
// replaces the user's earlier ones and is shown this once.
func (a *api) resetPassword(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	if err := a.svc.ListActions(act).Err(app.ActionManageUsers); err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req struct{}
	if err := decodeOptional(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.RequestPasswordReset(r.Context(), act, id, false)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, resetPasswordResponse{User: toUserJSON(res.User),
		ResetURL: httpx.BaseURL(r) + res.Path(), ExpiresAt: rfc3339(res.ExpiresAt)})
}

type updateUserRequest struct {
	Role     *string `json:"role"`
	Disabled *bool   `json:"disabled"`
}

func (a *api) updateUser(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	if err := a.svc.ListActions(act).Err(app.ActionManageUsers); err != nil {
		a.fail(w, r, err)
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req updateUserRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.svc.UpdateUser(r.Context(), act, id, app.UserPatch{Role: req.Role, Disabled: req.Disabled})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toUserJSON(u))
}
