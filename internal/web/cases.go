package web

import (
	"errors"
	"io"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/cases"
	"github.com/sightline/sightline/internal/evidence"
)

// Complaints and cases:
//
//	POST /api/v1/complaints                       file one (no account); 201 {"id", "case_number", "token"}
//	GET  /api/v1/complaints/{case}                the complainant's view (Bearer: its token)
//	POST /api/v1/complaints/{case}/evidence       {"id", "token"}: attach footage later
//	POST /api/v1/complaints/{case}/withdraw       withdraw it (the case is kept)
//	GET  /api/v1/cases                            the cases a staff member works on or may take
//	POST /api/v1/cases                            open an internal review
//	GET  /api/v1/cases/{case}?reason=             a case, its complaint and its events (logged)
//	POST /api/v1/cases/{case}/assign              {"user"}
//	POST /api/v1/cases/{case}/status              {"status", "reason"}
//	POST /api/v1/cases/{case}/allegations         {"officer_badge", "category", "policy"}
//	POST /api/v1/cases/{case}/allegations/{allegation}/findings   {"stage", "finding", "basis"}
//	POST /api/v1/cases/{case}/evidence            {"evidence_id"}
//	POST /api/v1/cases/{case}/pause               {"reason"}; /resume

// caseActor is the caller as the case service logs them.
func (c caller) caseActor() cases.Actor {
	return cases.Actor{ID: c.Actor(), User: c.User.ID, Role: c.Role(), Unit: c.User.Unit}
}

// caseFacts are the table's facts about a case.
func caseFacts(k cases.Case) *access.Facts {
	f := &access.CaseFacts{Unit: k.Unit, Investigators: k.Investigators}
	for _, a := range k.Allegations {
		f.Named = append(f.Named, a.Officer)
	}
	return &access.Facts{Case: f}
}

// failCase maps the case service's errors to statuses.
func (s *server) failCase(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, cases.ErrNotFound), errors.Is(err, evidence.ErrNotFound):
		s.problem(w, r, http.StatusNotFound, "not found")
	case errors.Is(err, cases.ErrInvalid):
		s.problem(w, r, http.StatusBadRequest, strings.TrimPrefix(err.Error(), cases.ErrInvalid.Error()+": "))
	case errors.Is(err, cases.ErrTransition):
		s.problem(w, r, http.StatusConflict, strings.TrimPrefix(err.Error(), cases.ErrTransition.Error()+": "))
	default:
		s.fail(w, r, err)
	}
}

// fileComplaint answers POST /api/v1/complaints.
func (s *server) fileComplaint(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if !s.mayWrite(w, r, c) {
		return
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		s.problem(w, r, http.StatusRequestEntityTooLarge, "a complaint must be under 1 MiB")
		return
	}
	in, err := cases.ParseComplaint(b, s.Now())
	if err != nil {
		s.failCase(w, r, err)
		return
	}
	k, token, err := s.Cases.File(r.Context(), in)
	if err != nil {
		if errors.Is(err, cases.ErrInvalid) {
			s.failedAttempt(r, c) // a wrong footage token is a guess
		}
		s.failCase(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		ID         string `json:"id"`
		CaseNumber string `json:"case_number"`
		Token      string `json:"token"`
	}{k.ID, k.Number, token})
}

// complaint loads the case named in the path for the complainant whose
// token the request carries; a wrong token is a 404 that counts as a
// failed attempt, as for evidence.
func (s *server) complaint(w http.ResponseWriter, r *http.Request) (cases.Case, caller, bool) {
	c := callerOf(r)
	if s.overLimit(r, c) {
		s.tooMany(w, r, failedTooOften)
		return cases.Case{}, c, false
	}
	k, err := s.Cases.ForToken(r.Context(), r.PathValue("case"), c.Capability)
	if err != nil {
		if errors.Is(err, cases.ErrNotFound) {
			s.failedAttempt(r, c)
		}
		s.failCase(w, r, err)
		return k, c, false
	}
	return k, c, true
}

// complainantView answers GET /api/v1/complaints/{case}: what the
// complainant follows: the status and its history, the next deadline,
// each allegation's category and (once final) its finding, and every
// access to the case and to the footage attached to it.
func (s *server) complainantView(w http.ResponseWriter, r *http.Request) {
	k, _, ok := s.complaint(w, r)
	if !ok {
		return
	}
	type allegation struct {
		Category cases.Category `json:"category"`
		Finding  cases.Finding  `json:"finding,omitempty"`
	}
	out := struct {
		CaseNumber  string            `json:"case_number"`
		Status      cases.Status      `json:"status"`
		ClosedAs    string            `json:"closed_as,omitempty"`
		History     []cases.Change    `json:"history"`
		Deadline    *string           `json:"deadline"`
		Allegations []allegation      `json:"allegations"`
		Evidence    []string          `json:"evidence"`
		Notices     []cases.Notice    `json:"notices"`
		Access      []caseAccess      `json:"access"`
		People      map[string]person `json:"people"`
	}{CaseNumber: k.Number, Status: k.Status, ClosedAs: k.ClosedAs, History: k.History, Allegations: []allegation{}, Evidence: k.Evidence, Notices: s.Cases.Notices(k)}
	if k.Status.Open() {
		d, _ := k.Due(s.Now())
		at := d.UTC().Format("2006-01-02")
		out.Deadline = &at
	}
	for _, a := range k.Allegations {
		al := allegation{Category: a.Category}
		if a.Final != nil && !k.Status.Open() {
			al.Finding = a.Final.Finding
		}
		out.Allegations = append(out.Allegations, al)
	}
	var err error
	out.Access, out.People, err = s.caseAccesses(r, k)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// caseAccess is an access to a case or its footage, as its complainant
// sees it.
type caseAccess struct {
	At       string `json:"at"`
	Type     string `json:"type"`
	Action   string `json:"action"`
	Actor    string `json:"actor"`
	Role     string `json:"role,omitempty"`
	Outcome  string `json:"outcome,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Evidence string `json:"evidence,omitempty"`
}

// caseAccesses lists the reads of a case and of the footage in it, oldest
// first, with the staff they name.
func (s *server) caseAccesses(r *http.Request, k cases.Case) ([]caseAccess, map[string]person, error) {
	events, err := s.Custody.CaseEvents(r.Context(), k.ID)
	if err != nil {
		return nil, nil, err
	}
	for _, id := range k.Evidence {
		more, err := s.Custody.Events(r.Context(), id)
		if err != nil {
			return nil, nil, err
		}
		events = append(events, more...)
	}
	slices.SortFunc(events, func(a, b evidence.LoggedEvent) int { return int(a.Index) - int(b.Index) })
	out := []caseAccess{}
	var actors []string
	seen := map[uint64]bool{}
	for _, e := range events {
		reading := e.Type == evidence.Viewed || e.Type == evidence.Downloaded || e.Type == evidence.Accessed || e.Type == evidence.Denied ||
			e.Type == evidence.CaseEvent && strings.HasPrefix(e.Details["action"], "read")
		if !reading || seen[e.Index] {
			continue
		}
		seen[e.Index] = true
		out = append(out, caseAccess{At: e.At, Type: string(e.Type), Action: e.Details["action"], Actor: e.Actor, Role: e.Details["role"],
			Outcome: e.Details["outcome"], Reason: e.Words["reason"], Evidence: e.Evidence})
		actors = append(actors, e.Actor)
	}
	people, err := s.people(r.Context(), actors)
	return out, people, err
}

// complainantAttach answers POST /api/v1/complaints/{case}/evidence
// {"id", "token"}: footage added later, with its own token.
func (s *server) complainantAttach(w http.ResponseWriter, r *http.Request) {
	k, c, ok := s.complaint(w, r)
	if !ok || !s.mayWrite(w, r, c) {
		return
	}
	var in cases.EvidenceRef
	if err := decode(r, &in); err != nil || in.ID == "" || in.Token == "" {
		s.problem(w, r, http.StatusBadRequest, `send {"id": "<evidence id>", "token": "<its access token>"}`)
		return
	}
	if err := s.Cases.AttachByToken(r.Context(), cases.Actor{ID: c.Actor(), Role: "complainant"}, k.ID, in); err != nil {
		if errors.Is(err, cases.ErrInvalid) {
			s.failedAttempt(r, c)
		}
		s.failCase(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// withdraw answers POST /api/v1/complaints/{case}/withdraw.
func (s *server) withdraw(w http.ResponseWriter, r *http.Request) {
	k, c, ok := s.complaint(w, r)
	if !ok || !s.mayWrite(w, r, c) {
		return
	}
	if err := s.Cases.Withdraw(r.Context(), cases.Actor{ID: c.Actor(), Role: "complainant"}, k.ID); err != nil {
		s.failCase(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// kase loads the case named in the path and decides action on it. A
// refusal is logged and answered like a missing case (404).
func (s *server) kase(w http.ResponseWriter, r *http.Request, action access.Action) (cases.Case, caller, bool) {
	c := callerOf(r)
	if s.overLimit(r, c) {
		s.tooMany(w, r, failedTooOften)
		return cases.Case{}, c, false
	}
	k, err := s.Cases.Get(r.Context(), r.PathValue("case"))
	if err != nil {
		if errors.Is(err, cases.ErrNotFound) {
			s.failedAttempt(r, c)
		}
		s.failCase(w, r, err)
		return k, c, false
	}
	if d := access.Decide(c.Principal, action, caseFacts(k)); !d.Allowed {
		s.failedAttempt(r, c)
		e := decisionEvent(c, action, d, "")
		e.Type, e.Case, e.At = evidence.Denied, k.ID, evidence.EventTime(s.Now())
		if _, err := s.record(r.Context(), e); err != nil {
			s.fail(w, r, err)
			return k, c, false
		}
		s.failCase(w, r, cases.ErrNotFound)
		return k, c, false
	}
	return k, c, true
}

// listed is a case as the lists show it, for one caller.
type listedCase struct {
	cases.Case
	Due      time.Time // the deadline as it stands, pauses counted
	Takeable bool      // the caller may take it
}

// casesFor lists the cases c works on or may take (the admin: all, to
// assign them), open ones first, the nearest deadline first.
func (s *server) casesFor(r *http.Request, c caller) ([]listedCase, error) {
	all, err := s.Cases.List(r.Context(), c.User.ID, c.User.Unit, c.User.Role == account.Investigator || c.User.Role == account.Admin)
	if err != nil {
		return nil, err
	}
	var out []listedCase
	for _, k := range all {
		f := caseFacts(k)
		takes := access.Decide(c.Principal, access.TakeCase, f).Allowed
		if !access.Decide(c.Principal, access.ReadCase, f).Allowed && !takes && c.User.Role != account.Admin {
			continue
		}
		d, _ := k.Due(s.Now())
		out = append(out, listedCase{k, d, takes})
	}
	return out, nil
}

// listCases answers GET /api/v1/cases: open cases first, the nearest
// deadline first; investigators also see the cases no one has taken.
func (s *server) listCases(w http.ResponseWriter, r *http.Request) {
	all, err := s.casesFor(r, callerOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type row struct {
		ID          string       `json:"id"`
		CaseNumber  string       `json:"case_number"`
		Origin      cases.Origin `json:"origin"`
		Status      cases.Status `json:"status"`
		ReceivedAt  string       `json:"received_at"`
		Deadline    string       `json:"deadline"`
		Unassigned  bool         `json:"unassigned,omitempty"`
		Allegations int          `json:"allegations"`
	}
	out := []row{}
	for _, k := range all {
		out = append(out, row{k.ID, k.Number, k.Origin, k.Status, k.ReceivedAt.Format("2006-01-02T15:04:05Z"), k.Due.Format("2006-01-02"),
			len(k.Investigators) == 0, len(k.Allegations)})
	}
	writeJSON(w, http.StatusOK, struct {
		Cases any `json:"cases"`
	}{out})
}

// createCase answers POST /api/v1/cases {"incidents": [...]}: an internal
// review opened by staff.
func (s *server) createCase(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Incidents []string `json:"incidents"`
	}
	if err := decode(r, &in); err != nil {
		s.problem(w, r, http.StatusBadRequest, `send {} or {"incidents": ["inc_…"]}`)
		return
	}
	c := callerOf(r)
	for _, id := range in.Incidents {
		inc, err := s.Incidents.Get(r.Context(), id)
		if err != nil || !access.Decide(c.Principal, access.ReadIncident, incidentFacts(inc)).Allowed {
			s.problem(w, r, http.StatusNotFound, "no such incident: "+id)
			return
		}
	}
	k, err := s.Cases.Open(r.Context(), c.caseActor(), cases.FromStaff, in.Incidents)
	if err != nil {
		s.failCase(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		ID         string `json:"id"`
		CaseNumber string `json:"case_number"`
	}{k.ID, k.Number})
}

// readCase answers GET /api/v1/cases/{case}?reason=…: the case, its
// complaint and every event about it. Reading it is logged with the
// reason, which it needs.
func (s *server) readCase(w http.ResponseWriter, r *http.Request) {
	k, ok := s.readingCase(w, r, "read-case", nil, nil)
	if !ok {
		return
	}
	complaint, err := s.Cases.Complaint(r.Context(), k.ID)
	if err != nil && !errors.Is(err, cases.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	events, err := s.Custody.CaseEvents(r.Context(), k.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	deadline, target := k.Due(s.Now())
	var filed *cases.Complaint
	if err == nil && k.Origin == cases.FromComplaint {
		filed = &complaint
	}
	next := cases.Transitions[k.Status]
	writeJSON(w, http.StatusOK, struct {
		cases.Case
		DueBy     string                 `json:"due_by"`
		TargetBy  string                 `json:"target_by"`
		Next      []cases.Status         `json:"next"` // the statuses it may move to
		Complaint *cases.Complaint       `json:"complaint,omitempty"`
		Events    []evidence.LoggedEvent `json:"events"`
	}{k, deadline.Format("2006-01-02"), target.Format("2006-01-02"), next, filed, events})
}

// caseEdits are the changes to a case, each logged by the case service.
func (s *server) caseEdits() []route {
	type statusIn struct {
		Status cases.Status `json:"status"`
		Reason string       `json:"reason"`
	}
	type allegationIn struct {
		Officer  string         `json:"officer_badge"`
		Category cases.Category `json:"category"`
		Policy   string         `json:"policy"`
	}
	type findingIn struct {
		Stage   cases.Stage   `json:"stage"`
		Finding cases.Finding `json:"finding"`
		Basis   string        `json:"basis"`
	}
	type reasonIn struct {
		Reason string `json:"reason"`
	}
	type noteIn struct {
		Text string `json:"text"`
	}
	return []route{
		{"POST /api/v1/cases/{case}/status", caseEdit(s, `send {"status": "…", "reason": "…"}`, func(w http.ResponseWriter, r *http.Request, k cases.Case, c caller, in *statusIn) error {
			return s.Cases.SetStatus(r.Context(), c.caseActor(), k.ID, in.Status, in.Reason)
		})},
		{"POST /api/v1/cases/{case}/allegations", caseEdit(s, `send {"officer_badge": "…", "category": "…", "policy": "…"}`,
			func(w http.ResponseWriter, r *http.Request, k cases.Case, c caller, in *allegationIn) error {
				a, err := s.Cases.AddAllegation(r.Context(), c.caseActor(), k.ID, in.Officer, in.Category, in.Policy)
				if err != nil {
					return err
				}
				writeJSON(w, http.StatusCreated, struct {
					ID string `json:"id"`
				}{a.ID})
				return errAnswered
			})},
		{"POST /api/v1/cases/{case}/allegations/{allegation}/findings", caseEdit(s, `send {"stage": "recommended"|"final", "finding": "…", "basis": "…"}`,
			func(w http.ResponseWriter, r *http.Request, k cases.Case, c caller, in *findingIn) error {
				return s.Cases.RecordFinding(r.Context(), c.caseActor(), k.ID, r.PathValue("allegation"), in.Stage, in.Finding, in.Basis)
			})},
		{"POST /api/v1/cases/{case}/evidence", caseEdit(s, `send {"evidence_id": "…"}`, func(w http.ResponseWriter, r *http.Request, k cases.Case, c caller, in *clipIn) error {
			it, ok := s.incidentItem(w, r, c, in.Evidence)
			if !ok {
				return errAnswered
			}
			return s.Cases.AddEvidence(r.Context(), c.caseActor(), k.ID, it)
		})},
		{"POST /api/v1/cases/{case}/pause", caseEdit(s, `send {"reason": "…"}`, func(w http.ResponseWriter, r *http.Request, k cases.Case, c caller, in *reasonIn) error {
			return s.Cases.Pause(r.Context(), c.caseActor(), k.ID, in.Reason)
		})},
		{"POST /api/v1/cases/{case}/resume", caseEdit(s, `send {}`, func(w http.ResponseWriter, r *http.Request, k cases.Case, c caller, in *nothingIn) error {
			return s.Cases.Resume(r.Context(), c.caseActor(), k.ID)
		})},
		{"POST /api/v1/cases/{case}/notes", caseEdit(s, `send {"text": "…"}`, func(w http.ResponseWriter, r *http.Request, k cases.Case, c caller, in *noteIn) error {
			return s.Cases.AddNote(r.Context(), c.caseActor(), k.ID, in.Text)
		})},
	}
}

// caseEdit makes a handler of a change to a case: it decides EditCase,
// reads the JSON body into an In (400 with usage if it cannot), runs
// change and answers 204.
func caseEdit[In any](s *server, usage string, change func(w http.ResponseWriter, r *http.Request, k cases.Case, c caller, in *In) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k, c, ok := s.kase(w, r, access.EditCase)
		if !ok {
			return
		}
		var in In
		if err := decode(r, &in); err != nil {
			s.problem(w, r, http.StatusBadRequest, usage)
			return
		}
		if err := change(w, r, k, c, &in); errors.Is(err, errAnswered) {
			return
		} else if err != nil {
			s.failCase(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// assignCase answers POST /api/v1/cases/{case}/assign {"user": "<name>"}:
// an investigator takes a case no one investigates (naming themselves),
// or the admin assigns one.
func (s *server) assignCase(w http.ResponseWriter, r *http.Request) {
	var in struct {
		User string `json:"user"`
	}
	if err := decode(r, &in); err != nil {
		s.problem(w, r, http.StatusBadRequest, `send {"user": "<investigator's name>"}`)
		return
	}
	c := callerOf(r)
	action := access.AssignCase
	if in.User == c.User.Name && c.User.Role == account.Investigator {
		action = access.TakeCase
	}
	k, c, ok := s.kase(w, r, action)
	if !ok {
		return
	}
	u, err := s.Accounts.UserByName(r.Context(), in.User)
	if err != nil || u.Role != account.Investigator {
		s.problem(w, r, http.StatusBadRequest, "no investigator has that name")
		return
	}
	if err := s.Cases.Assign(r.Context(), c.caseActor(), k.ID, u.ID); err != nil {
		s.failCase(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// complainPage answers GET /complain: the complaint form. Its script
// attaches the footage the link names (?evidence=id) with the tokens this
// browser keeps.
func (s *server) complainPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "complain.html", nil)
}

// complaintPage answers GET /complaint/{case}: the complainant's page, a
// shell whose script reads the key from the link's fragment or this
// browser's storage.
func (s *server) complaintPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "complaint.html", struct{ ID string }{r.PathValue("case")})
}

// casesPage answers GET /staff/cases: the cases a staff member works on
// or may take, open ones first, the nearest deadline first.
func (s *server) casesPage(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if c.session == nil {
		s.listCases(w, r)
		return
	}
	all, err := s.casesFor(r, c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	type row struct {
		ID, CaseNumber       string
		Status               cases.Status
		Origin               cases.Origin
		ReceivedAt, Deadline time.Time
		Allegations          int
		Late, Soon, Takeable bool
	}
	now := s.Now()
	var rows []row
	for _, k := range all {
		open := k.Status.Open()
		rows = append(rows, row{k.ID, k.Number, k.Status, k.Origin, k.ReceivedAt, k.Due, len(k.Allegations),
			open && k.Due.Before(now), open && !k.Due.Before(now) && k.Due.Before(now.Add(30*24*time.Hour)), k.Takeable})
	}
	var flags []cases.Flag
	if access.Decide(c.Principal, access.ReadAlerts, nil).Allowed {
		if flags, err = s.Cases.Flags(r.Context()); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.render(w, http.StatusOK, "cases.html", struct {
		User      account.User
		Cases     []row
		CSRF      string
		CanCreate bool
		CanAssign bool
		Flags     []cases.Flag
	}{c.User, rows, c.session.CSRF, access.Decide(c.Principal, access.CreateCase, nil).Allowed,
		access.Decide(c.Principal, access.AssignCase, &access.Facts{Case: &access.CaseFacts{}}).Allowed, flags})
}

// casePage answers GET /staff/cases/{case}: the case for those who work
// it, once they say why they open it; its script reads the case with that
// reason, which logs the read.
func (s *server) casePage(w http.ResponseWriter, r *http.Request) {
	k, c, ok := s.kase(w, r, access.ReadCase)
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
	s.render(w, http.StatusOK, "case.html", struct {
		Case       cases.Case
		Reason     string
		CSRF       string
		Categories []cases.Category
		Findings   []cases.Finding
	}{k, reason, csrf, cases.Categories, cases.Findings})
}

// alerts answers GET /api/v1/alerts: the officers flagged for early
// intervention (--alert-allegations within --alert-window), newest first.
func (s *server) alerts(w http.ResponseWriter, r *http.Request) {
	flags, err := s.Cases.Flags(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Flags []cases.Flag `json:"flags"`
	}{flags})
}

// addDocument answers POST /api/v1/cases/{case}/documents?name=…: the
// body, up to 20 MiB, is stored as a blob and attached to the case.
func (s *server) addDocument(w http.ResponseWriter, r *http.Request) {
	k, c, ok := s.kase(w, r, access.EditCase)
	if !ok {
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.problem(w, r, http.StatusRequestEntityTooLarge, "a document must be under 20 MiB")
		return
	}
	d, err := s.Cases.AddDocument(r.Context(), c.caseActor(), k.ID, r.URL.Query().Get("name"), body)
	if err != nil {
		s.failCase(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

// document answers GET /api/v1/cases/{case}/documents/{sha256}?reason=…:
// a case's document, to save, its read logged with the reason.
func (s *server) document(w http.ResponseWriter, r *http.Request) {
	has := func(k cases.Case) bool {
		return slices.ContainsFunc(k.Documents, func(d cases.Document) bool { return d.SHA256 == r.PathValue("sha256") })
	}
	k, ok := s.readingCase(w, r, "read-document", map[string]string{"sha256": r.PathValue("sha256")}, has)
	if !ok {
		return
	}
	d := k.Documents[slices.IndexFunc(k.Documents, func(d cases.Document) bool { return d.SHA256 == r.PathValue("sha256") })]
	s.serveBlob(w, r, d.SHA256, d.At, func(h http.Header) {
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.Name}))
		h.Set("Cache-Control", "private, no-store")
	})
}

// readingCase decides a read of the case named in the path (action says
// which: read-case, read-document, with details), which needs a reason
// (400 without), and logs it with the reason before anything is sent.
// exists, if not nil, says whether what is read is in the case (404, not
// logged, if not).
func (s *server) readingCase(w http.ResponseWriter, r *http.Request, action string, details map[string]string, exists func(cases.Case) bool) (cases.Case, bool) {
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	if reason == "" {
		s.problem(w, r, http.StatusBadRequest, "reading a case needs a reason: add ?reason=...")
		return cases.Case{}, false
	}
	if rs := []rune(reason); len(rs) > maxReason {
		reason = string(rs[:maxReason])
	}
	k, c, ok := s.kase(w, r, access.ReadCase)
	if !ok {
		return k, false
	}
	if exists != nil && !exists(k) {
		s.problem(w, r, http.StatusNotFound, "not found")
		return k, false
	}
	e := evidence.Event{Type: evidence.CaseEvent, Case: k.ID, Actor: c.Actor(), At: evidence.EventTime(s.Now()),
		Details: map[string]string{"action": action, "role": c.Role(), "via": c.Via()}, Words: map[string]string{"reason": reason}}
	maps.Copy(e.Details, details)
	if _, err := s.record(r.Context(), e); err != nil {
		s.fail(w, r, err)
		return k, false
	}
	return k, true
}
