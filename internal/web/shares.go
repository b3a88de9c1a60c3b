package web

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/evidence"
)

// A civilian shares their item with a staff member by the name that
// person gave them, sees whom it is shared with, and withdraws a share:
//
//	POST   /api/v1/evidence/{id}/shares          {"user": "<staff name>"}
//	GET    /api/v1/evidence/{id}/shares          who it is shared with
//	DELETE /api/v1/evidence/{id}/shares/{user}   withdraw one (logged)

// person is a staff member as a civilian's pages show them.
type person struct {
	ID    string       `json:"id"`
	Name  string       `json:"name"`
	Role  account.Role `json:"role"`
	Unit  string       `json:"unit,omitempty"`
	Badge string       `json:"badge,omitempty"`
}

func personOf(u account.User) person {
	return person{ID: u.ID, Name: u.Name, Role: u.Role, Unit: u.Unit, Badge: u.Badge}
}

// share answers POST /api/v1/evidence/{id}/shares: the civilian who holds
// the item's token lets one staff member see it. A share the table would
// not let that person use (their role reads no shared footage, or they
// are involved in it) is refused with why, not granted to no effect.
func (s *server) share(w http.ResponseWriter, r *http.Request) {
	it, c, ev, ok := s.decideItem(w, r, access.ShareItem, evidence.Shared)
	if !ok || !s.mayWrite(w, r, c) {
		return
	}
	var in struct {
		User string `json:"user"`
	}
	if err := decode(r, &in); err != nil {
		s.problem(w, r, http.StatusBadRequest, `send {"user": "<staff name>"}`)
		return
	}
	// A wrong name counts as a failed attempt: the answer tells a name
	// that exists from one that does not, so guessing names is limited
	// like guessing tokens.
	if s.overLimit(r, c) {
		s.tooMany(w, r, failedTooOften)
		return
	}
	u, err := s.Accounts.UserByName(r.Context(), in.User)
	if err != nil || u.Role == account.Admin {
		s.failedAttempt(r, c)
		s.problem(w, r, http.StatusBadRequest, "no staff member may be shared with under that name")
		return
	}
	f, err := s.facts(r.Context(), it)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.SharedWith = append(f.SharedWith, u.ID)
	if d := access.Decide(access.Principal{Kind: access.Staff, User: u}, access.ReadItem, f); !d.Allowed {
		msg := u.Name + " is " + article(string(u.Role)) + ": a share lets a supervisor watch your footage, and no other role can use one"
		if d.Rule == "involved officer" {
			msg = u.Name + " is recorded as involved in this footage, so it cannot be shared with them"
		}
		s.problem(w, r, http.StatusUnprocessableEntity, msg)
		return
	}
	if err := s.Facts.AddShare(r.Context(), it.ID, u.ID, time.Now()); err != nil {
		s.fail(w, r, err)
		return
	}
	ev.Type = evidence.Shared
	ev.Details["with"], ev.Details["with_role"] = account.Actor(u.ID), string(u.Role)
	if err := s.recordAbout(r.Context(), it, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// article puts "a" or "an" before a word.
func article(word string) string {
	if word != "" && slices.Contains([]byte("aeiou"), word[0]) {
		return "an " + word
	}
	return "a " + word
}

// shares answers GET /api/v1/evidence/{id}/shares: the staff the item is
// shared with, by name, role, unit and badge, for its holder.
func (s *server) shares(w http.ResponseWriter, r *http.Request) {
	it, _, ok := s.item(w, r, access.ShareItem, "")
	if !ok {
		return
	}
	ids, err := s.Facts.SharedWith(r.Context(), it.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []person{}
	for _, id := range ids {
		u, err := s.Accounts.UserByID(r.Context(), id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out = append(out, personOf(u))
	}
	writeJSON(w, http.StatusOK, struct {
		Shares []person `json:"shares"`
	}{out})
}

// unshare answers DELETE /api/v1/evidence/{id}/shares/{user}: the holder
// withdraws a share (user is the id the list gives); logged.
func (s *server) unshare(w http.ResponseWriter, r *http.Request) {
	it, c, ev, ok := s.decideItem(w, r, access.ShareItem, evidence.Unshared)
	if !ok || !s.mayWrite(w, r, c) {
		return
	}
	u, err := s.Accounts.UserByID(r.Context(), r.PathValue("user"))
	if errors.Is(err, account.ErrNotFound) {
		s.problem(w, r, http.StatusNotFound, "not shared with that person")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	removed, err := s.Facts.RemoveShare(r.Context(), it.ID, u.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !removed {
		s.problem(w, r, http.StatusNotFound, "not shared with that person")
		return
	}
	ev.Type = evidence.Unshared
	ev.Details["with"], ev.Details["with_role"] = account.Actor(u.ID), string(u.Role)
	if err := s.recordAbout(r.Context(), it, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// people names the staff among actors (as the log writes them,
// "user:<id>"), for a civilian's list of accesses: who watched is told
// by name, role, unit and badge.
func (s *server) people(ctx context.Context, actors []string) (map[string]person, error) {
	out := map[string]person{}
	for _, a := range actors {
		id, ok := cutActor(a)
		if !ok || out[a].ID != "" {
			continue
		}
		u, err := s.Accounts.UserByID(ctx, id)
		if errors.Is(err, account.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[a] = personOf(u)
	}
	return out, nil
}

// cutActor returns the user id of a staff actor.
func cutActor(actor string) (string, bool) {
	id, ok := strings.CutPrefix(actor, account.Actor(""))
	return id, ok && id != ""
}
