package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/incident"
	"github.com/sightline/sightline/internal/media"
)

// actor is the caller as the incident service logs them.
func (c caller) actor() incident.Actor {
	return incident.Actor{ID: c.Actor(), User: c.User.ID, Role: c.Role(), Unit: c.User.Unit}
}

// incidentFacts are the table's facts about inc.
func incidentFacts(inc incident.Incident) *access.Facts {
	return &access.Facts{Incident: &access.IncidentFacts{Owner: inc.CreatedBy, Unit: inc.Unit, Staff: inc.Staff, Officers: inc.Officers}}
}

// incident loads the incident named in the path and decides action on it.
// A refusal is logged and answered like a missing incident (404).
func (s *server) incident(w http.ResponseWriter, r *http.Request, action access.Action) (incident.Incident, caller, bool) {
	c := callerOf(r)
	if s.overLimit(r, c) {
		s.tooMany(w, r, failedTooOften)
		return incident.Incident{}, c, false
	}
	inc, err := s.Incidents.Get(r.Context(), r.PathValue("incident"))
	if err != nil {
		if errors.Is(err, incident.ErrNotFound) {
			s.failedAttempt(r, c)
		}
		s.failIncident(w, r, err)
		return inc, c, false
	}
	d := access.Decide(c.Principal, action, incidentFacts(inc))
	if !d.Allowed {
		s.failedAttempt(r, c)
		e := decisionEvent(c, action, d, "")
		e.Type, e.Incident, e.At = evidence.Denied, inc.ID, evidence.EventTime(time.Now())
		_, err := s.record(r.Context(), e)
		if err != nil {
			s.fail(w, r, err)
			return inc, c, false
		}
		s.failIncident(w, r, incident.ErrNotFound)
		return inc, c, false
	}
	return inc, c, true
}

func (s *server) failIncident(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, incident.ErrNotFound):
		s.problem(w, r, http.StatusNotFound, "not found")
	case errors.Is(err, incident.ErrExists):
		s.problem(w, r, http.StatusConflict, err.Error())
	case errors.Is(err, incident.ErrInvalid):
		s.problem(w, r, http.StatusBadRequest, err.Error())
	default:
		s.fail(w, r, err)
	}
}

// createIncident answers POST /api/v1/incidents {"title": …} with
// {"id": …}; who opens it is assigned to it.
func (s *server) createIncident(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title string `json:"title"`
	}
	if err := decode(r, &in); err != nil {
		s.problem(w, r, http.StatusBadRequest, "send {\"title\": \"…\"}")
		return
	}
	inc, err := s.Incidents.Create(r.Context(), callerOf(r).actor(), in.Title)
	if err != nil {
		s.failIncident(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		ID string `json:"id"`
	}{inc.ID})
}

// incidents answers GET /api/v1/incidents: those the caller may see.
func (s *server) incidents(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	all, err := s.Incidents.Mine(r.Context(), c.User.ID, c.User.Unit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []incident.Incident{}
	for _, inc := range all {
		if access.Decide(c.Principal, access.ReadIncident, incidentFacts(inc)).Allowed {
			out = append(out, inc)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// incidentRecord answers GET /api/v1/incidents/{incident}: the incident
// and every logged change to it.
func (s *server) incidentRecord(w http.ResponseWriter, r *http.Request) {
	inc, _, ok := s.incident(w, r, access.ReadIncident)
	if !ok {
		return
	}
	events, err := s.Custody.IncidentEvents(r.Context(), inc.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		incident.Incident
		Events []evidence.LoggedEvent `json:"events"`
	}{inc, events})
}

// timeline answers GET /api/v1/incidents/{incident}/timeline.
func (s *server) timeline(w http.ResponseWriter, r *http.Request) {
	inc, _, ok := s.incident(w, r, access.ReadIncident)
	if !ok {
		return
	}
	t, err := s.Incidents.Timeline(r.Context(), inc.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// incidentItem loads an item to put into or take out of an incident. A
// supervisor must be allowed to read it; an investigator may bring any
// item onto an incident they are assigned to (that is how footage comes
// to an internal review; the link is logged about the item, so its
// civilian sees it). Missing and forbidden look alike.
func (s *server) incidentItem(w http.ResponseWriter, r *http.Request, c caller, id string) (evidence.Item, bool) {
	it, err := s.Evidence.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return it, false
	}
	ok, err := s.mayBringIn(r.Context(), c, it)
	if err == nil && !ok {
		err = evidence.ErrNotFound
	}
	if err != nil {
		s.fail(w, r, err)
		return it, false
	}
	return it, true
}

// mayBringIn reports whether c may put it into an incident (or be shown
// it as a suggestion): an investigator any item, others what they may
// read.
func (s *server) mayBringIn(ctx context.Context, c caller, it evidence.Item) (bool, error) {
	if c.User.Role == account.Investigator {
		return true, nil
	}
	f, err := s.facts(ctx, it)
	if err != nil {
		return false, err
	}
	return access.Decide(c.Principal, access.ReadItem, f).Allowed, nil
}

// edit makes a handler of a change to an incident: it decides
// EditIncident, reads the JSON body into an In (answering 400 with usage
// if it cannot, or if valid says no), runs change and answers 204.
func edit[In any](s *server, usage string, valid func(*In) bool,
	change func(w http.ResponseWriter, r *http.Request, inc incident.Incident, c caller, in *In) error) http.HandlerFunc {
	return editAs(s, access.EditIncident, usage, valid, change)
}

// editAs is edit, decided as action.
func editAs[In any](s *server, action access.Action, usage string, valid func(*In) bool,
	change func(w http.ResponseWriter, r *http.Request, inc incident.Incident, c caller, in *In) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		inc, c, ok := s.incident(w, r, action)
		if !ok {
			return
		}
		var in In
		if r.Method != http.MethodDelete {
			if err := decode(r, &in); err != nil || !valid(&in) {
				s.problem(w, r, http.StatusBadRequest, usage)
				return
			}
		}
		if err := change(w, r, inc, c, &in); errors.Is(err, errAnswered) {
			return
		} else if err != nil {
			s.failIncident(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// route is a pattern and its handler.
type route struct {
	pattern string
	handler http.HandlerFunc
}

// errAnswered says a change has answered the request itself.
var errAnswered = errors.New("answered")

type (
	clipIn struct {
		Evidence string `json:"evidence_id"`
	}
	badgeIn struct {
		Badge string `json:"badge"`
	}
	userIn struct {
		User string `json:"user"`
	}
	decideIn struct {
		Accept *bool `json:"accept"`
	}
	nudgeIn struct {
		Nudge *float64 `json:"nudge_s"`
	}
	nothingIn struct{}
)

// The changes to an incident, each logged by the incident service.
func (s *server) incidentEdits() []route {
	return []route{
		// {"evidence_id": …} adds a clip.
		{"POST /api/v1/incidents/{incident}/evidence", edit(s, `send {"evidence_id": "…"}`, func(in *clipIn) bool { return in.Evidence != "" },
			func(w http.ResponseWriter, r *http.Request, inc incident.Incident, c caller, in *clipIn) error {
				it, ok := s.incidentItem(w, r, c, in.Evidence)
				if !ok {
					return errAnswered
				}
				return s.Incidents.AddClip(r.Context(), c.actor(), inc.ID, it)
			})},
		{"DELETE /api/v1/incidents/{incident}/evidence/{id}", edit(s, "", func(*nothingIn) bool { return true },
			func(w http.ResponseWriter, r *http.Request, inc incident.Incident, c caller, _ *nothingIn) error {
				it, err := s.Evidence.Get(r.Context(), r.PathValue("id"))
				if err != nil {
					return incident.ErrNotFound
				}
				return s.Incidents.RemoveClip(r.Context(), c.actor(), inc.ID, it)
			})},
		// {"badge": …}: the officer loses access to every clip of it.
		{"POST /api/v1/incidents/{incident}/officers", edit(s, `send {"badge": "<badge number>"}`, func(*badgeIn) bool { return true },
			func(w http.ResponseWriter, r *http.Request, inc incident.Incident, c caller, in *badgeIn) error {
				return s.Incidents.NameOfficer(r.Context(), c.actor(), inc.ID, in.Badge)
			})},
		// {"accept": true|false} decides on a suggested clip.
		{"POST /api/v1/incidents/{incident}/suggestions/{id}", edit(s, `send {"accept": true} or {"accept": false}`, func(in *decideIn) bool { return in.Accept != nil },
			func(w http.ResponseWriter, r *http.Request, inc incident.Incident, c caller, in *decideIn) error {
				it, ok := s.incidentItem(w, r, c, r.PathValue("id"))
				if !ok {
					return errAnswered
				}
				return s.Incidents.Decide(r.Context(), c.actor(), inc.ID, it, *in.Accept)
			})},
		// {"nudge_s": seconds} moves the clip on the incident clock (0
		// confirms its place as it is).
		{"POST /api/v1/incidents/{incident}/evidence/{id}/offset", edit(s, `send {"nudge_s": seconds} (0 confirms the offset)`,
			func(in *nudgeIn) bool { return in.Nudge != nil && !math.IsInf(*in.Nudge, 0) },
			func(w http.ResponseWriter, r *http.Request, inc incident.Incident, c caller, in *nudgeIn) error {
				it, err := s.Evidence.Get(r.Context(), r.PathValue("id"))
				if err != nil {
					return incident.ErrNotFound
				}
				return s.Incidents.Nudge(r.Context(), c.actor(), inc.ID, it, *in.Nudge)
			})},
	}
}

// assignStaff answers POST /api/v1/incidents/{incident}/staff {"user":
// name}: a supervisor or investigator is assigned to the incident and
// reads every clip of it. Only its owner, or an investigator on it, may.
func (s *server) assignStaff() http.HandlerFunc {
	return editAs(s, access.AssignStaff, `send {"user": "<staff name>"}`, func(*userIn) bool { return true },
		func(w http.ResponseWriter, r *http.Request, inc incident.Incident, c caller, in *userIn) error {
			u, err := s.Accounts.UserByName(r.Context(), in.User)
			if err != nil || (u.Role != account.Supervisor && u.Role != account.Investigator) {
				return fmt.Errorf("%w: no supervisor or investigator has that name", incident.ErrInvalid)
			}
			return s.Incidents.Assign(r.Context(), c.actor(), inc.ID, u.ID, account.Actor(u.ID))
		})
}

// suggestion is a suggested item, listed as a search lists it, and why.
type suggestion struct {
	listing
	Reason string   `json:"reason"`
	Metres *float64 `json:"distance_m,omitempty"`
}

// suggestions answers GET /api/v1/incidents/{incident}/suggestions:
// items recorded at the same time and place as its clips, that the
// caller could add. What the caller may not read yet (a civilian's note,
// place, file name) comes with opening the item, with a reason, logged.
func (s *server) suggestions(w http.ResponseWriter, r *http.Request) {
	inc, c, ok := s.incident(w, r, access.ReadIncident)
	if !ok {
		return
	}
	all, err := s.Incidents.Suggest(r.Context(), inc.ID, s.Grouping)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []suggestion{}
	for _, sg := range all {
		ok, err := s.mayBringIn(r.Context(), c, sg.Item)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if ok {
			out = append(out, suggestion{listed(sg.Item), sg.Reason, sg.Metres})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// derived serves an item's derived file of kind k, logged as an access.
func (s *server) derived(k derive.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		it, _, ok := s.item(w, r, access.ReadItem, "")
		if !ok {
			return
		}
		s.serveDerived(w, r, it, k)
	}
}

func (s *server) serveDerived(w http.ResponseWriter, r *http.Request, it evidence.Item, k derive.Kind) {
	f, err := s.Derived.Get(r.Context(), it.ID, k)
	if errors.Is(err, derive.ErrNotFound) || err == nil && !f.Logged {
		s.problem(w, r, http.StatusNotFound, "not made (yet)")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rc, err := s.Blobs.Open(r.Context(), f.SHA256)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", f.MIME)
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Set("ETag", `"sha256:`+f.SHA256.String()+`"`)
	http.ServeContent(w, r, "", f.CreatedAt, rc)
}

// review answers GET /api/v1/evidence/{id}/review: what a browser plays,
// the review copy when the original needed one, else the original; a
// read of the footage, logged like one. An original browsers play but
// cannot seek in (a recording streamed from a browser) is served as it is
// until its review copy is made.
func (s *server) review(w http.ResponseWriter, r *http.Request) {
	it, _, ok := s.item(w, r, access.ReadOriginal, evidence.Viewed)
	if !ok {
		return
	}
	if derive.Needed(it, derive.Review) {
		f, err := s.Derived.Get(r.Context(), it.ID, derive.Review)
		ready := err == nil && f.Logged
		if ready || !media.BrowserPlays(it.Info) {
			s.serveDerived(w, r, it, derive.Review)
			return
		}
	}
	s.serveOriginal(w, r, it)
}

// timelinePage is an incident's page: its clips on one clock, what is
// suggested for it, the officers named and the staff on it, and finding
// footage to add. Watching opens footage, so the player asks why first;
// the reason goes with every clip the page plays and is logged with each.
func (s *server) timelinePage(w http.ResponseWriter, r *http.Request) {
	inc, c, ok := s.incident(w, r, access.ReadIncident)
	if !ok {
		return
	}
	csrf := ""
	if c.session != nil {
		csrf = c.session.CSRF
	}
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	if rs := []rune(reason); len(rs) > maxReason {
		reason = string(rs[:maxReason])
	}
	s.render(w, http.StatusOK, "timeline.html", struct {
		Incident     incident.Incident
		Reason, CSRF string
		MayAssign    bool
		MayReleases  bool
		Sources      []evidence.Source
	}{inc, reason, csrf, access.Decide(c.Principal, access.AssignStaff, incidentFacts(inc)).Allowed,
		access.Decide(c.Principal, access.ReadRelease, incidentFacts(inc)).Allowed, evidence.Sources})
}

// staff answers GET /api/v1/staff: the supervisors and investigators, by
// name, role and unit: whom an incident's owner may assign to it.
func (s *server) staff(w http.ResponseWriter, r *http.Request) {
	out := []person{}
	for u, err := range s.Accounts.Users(r.Context()) {
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if u.Role == account.Supervisor || u.Role == account.Investigator {
			out = append(out, personOf(u))
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Staff []person `json:"staff"`
	}{out})
}
