package api

import (
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
	Email    string `json:"email"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

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
	u, err := a.svc.CreateUser(r.Context(), act, app.NewUser{Email: req.Email, Password: req.Password, Role: req.Role})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, toUserJSON(u))
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
