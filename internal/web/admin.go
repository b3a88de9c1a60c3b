package web

import (
	"encoding/json"
	"errors"
	"iter"
	"log/slog"
	"net/http"
	"time"

	"github.com/sightline/sightline/internal/account"
)

// Operator is the actor of changes made through the admin socket: whoever
// has the server's data folder.
const Operator = "operator"

// NewAdmin returns the operator's account administration API, served on
// the admin socket (never on the network listener): it trusts its caller
// completely, because reaching the socket takes access to the data
// folder. `sightline admin` is its client.
//
//	GET  /admin/users                  every account
//	POST /admin/users                  {"name","role","unit","badge"} -> {"user","setup_secret"}
//	POST /admin/users/{name}/setup     a new one-time setup link -> {"setup_secret"}
//	POST /admin/users/{name}/role      {"role","unit","badge"}
//	GET  /admin/tokens                 every device and API token
//	POST /admin/tokens                 {"kind","user","unit","device","badge","name","expires_in"} -> {"token","secret"}
//	POST /admin/tokens/{id}/revoke
func NewAdmin(accounts *account.Service, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &admin{accounts: accounts, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/users", a.users)
	mux.HandleFunc("POST /admin/users", a.createUser)
	mux.HandleFunc("POST /admin/users/{name}/setup", a.resetSetup)
	mux.HandleFunc("POST /admin/users/{name}/role", a.changeRole)
	mux.HandleFunc("GET /admin/tokens", a.tokens)
	mux.HandleFunc("POST /admin/tokens", a.issueToken)
	mux.HandleFunc("POST /admin/tokens/{id}/revoke", a.revokeToken)
	return mux
}

type admin struct {
	accounts *account.Service
	logger   *slog.Logger
}

func (a *admin) fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, account.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
	case errors.Is(err, account.ErrExists):
		writeJSON(w, http.StatusConflict, apiError{err.Error()})
	case errors.Is(err, account.ErrNotFound):
		writeJSON(w, http.StatusNotFound, apiError{"no such user or token"})
	default:
		a.logger.Error("admin request failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{"internal error"})
	}
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.Join(account.ErrInvalid, err)
	}
	return nil
}

// list answers with every item of seq as a JSON array.
func list[T any](a *admin, w http.ResponseWriter, seq iter.Seq2[T, error]) {
	out := []T{}
	for v, err := range seq {
		if err != nil {
			a.fail(w, err)
			return
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *admin) users(w http.ResponseWriter, r *http.Request) {
	list(a, w, a.accounts.Users(r.Context()))
}

func (a *admin) createUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name  string       `json:"name"`
		Role  account.Role `json:"role"`
		Unit  string       `json:"unit"`
		Badge string       `json:"badge"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	u, secret, err := a.accounts.CreateUser(r.Context(), Operator, account.User{Name: in.Name, Role: in.Role, Unit: in.Unit, Badge: in.Badge})
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		User        account.User `json:"user"`
		SetupSecret string       `json:"setup_secret"`
	}{u, secret})
}

func (a *admin) resetSetup(w http.ResponseWriter, r *http.Request) {
	u, err := a.accounts.UserByName(r.Context(), r.PathValue("name"))
	if err != nil {
		a.fail(w, err)
		return
	}
	secret, err := a.accounts.ResetSetup(r.Context(), Operator, u.ID)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		SetupSecret string `json:"setup_secret"`
	}{secret})
}

func (a *admin) changeRole(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Role  account.Role `json:"role"`
		Unit  string       `json:"unit"`
		Badge string       `json:"badge"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	u, err := a.accounts.UserByName(r.Context(), r.PathValue("name"))
	if err == nil {
		err = a.accounts.ChangeRole(r.Context(), Operator, u.ID, in.Role, in.Unit, in.Badge)
	}
	if err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *admin) tokens(w http.ResponseWriter, r *http.Request) {
	list(a, w, a.accounts.Tokens(r.Context()))
}

func (a *admin) issueToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Kind      account.TokenKind `json:"kind"`
		User      string            `json:"user"`
		Unit      string            `json:"unit"`
		Device    string            `json:"device"`
		Badge     string            `json:"badge"`
		Name      string            `json:"name"`
		ExpiresIn string            `json:"expires_in"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, err)
		return
	}
	t := account.Token{Kind: in.Kind, Unit: in.Unit, Device: in.Device, Badge: in.Badge, Name: in.Name}
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d <= 0 {
			a.fail(w, errors.Join(account.ErrInvalid, errors.New("expires_in: a duration such as 24h")))
			return
		}
		t.ExpiresAt = time.Now().Add(d)
	}
	if in.User != "" {
		u, err := a.accounts.UserByName(r.Context(), in.User)
		if err != nil {
			a.fail(w, err)
			return
		}
		t.UserID = u.ID
	}
	t, secret, err := a.accounts.IssueToken(r.Context(), Operator, t)
	if err != nil {
		a.fail(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		Token  account.Token `json:"token"`
		Secret string        `json:"secret"`
	}{t, secret})
}

func (a *admin) revokeToken(w http.ResponseWriter, r *http.Request) {
	if err := a.accounts.RevokeToken(r.Context(), Operator, r.PathValue("id")); err != nil {
		a.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
