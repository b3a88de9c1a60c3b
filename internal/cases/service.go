package cases

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/evidence"
)

// Store keeps cases.
//
// Durability: every method that changes a case returns once the change
// would survive a power loss. Consistency: a change is visible to every
// reader once it has returned. Concurrency: safe for concurrent use;
// Create gives each case a number no other case has. Get returns
// ErrNotFound for a case that does not exist.
type Store interface {
	// Create stores a new case (its first history entry, investigators,
	// evidence and incidents) and, for a complaint, its document; it
	// gives the case its number and returns it.
	Create(ctx context.Context, c Case, complaint []byte) (Case, error)
	Get(ctx context.Context, id string) (Case, error)
	// List lists the cases a staff member works on or may take: those
	// they investigate, their unit's, and (for investigators) those no
	// one investigates; open ones first, the nearest deadline first.
	List(ctx context.Context, userID, unit string, unassigned bool) ([]Case, error)
	SetStatus(ctx context.Context, id string, ch Change, closedAs string) error
	AddInvestigator(ctx context.Context, id, userID string) error
	AddAllegation(ctx context.Context, id string, a Allegation) error
	AddFinding(ctx context.Context, allegationID string, stage Stage, d Decision) error
	AddEvidence(ctx context.Context, id, evidenceID string) error
	AddIncident(ctx context.Context, id, incidentID string) error
	SetPause(ctx context.Context, id string, pausedAt *time.Time, paused time.Duration) error
	// Complaint returns the document of a complaint's case.
	Complaint(ctx context.Context, id string) ([]byte, error)
	// MailTo keeps the address a complainant is told at; Mailing lists
	// them by case; Sent lists the notices sent on a case, and MarkSent
	// records one (idempotent).
	MailTo(ctx context.Context, id, email string) error
	Mailing(ctx context.Context) (map[string]string, error)
	Sent(ctx context.Context, id string) (map[string]bool, error)
	MarkSent(ctx context.Context, id, notice string, at time.Time) error
	// Allegations counts the allegations naming officer added since.
	Allegations(ctx context.Context, officer string, since time.Time) (int, error)
	// Flag records that officer was flagged, unless they were flagged
	// since; it reports whether it did.
	Flag(ctx context.Context, officer string, at, since time.Time, count int) (bool, error)
	// Flags lists the flags raised since, newest first.
	Flags(ctx context.Context, since time.Time) ([]Flag, error)
	// Public lists the allegations of closed cases, by case number.
	Public(ctx context.Context) ([]PublicRow, error)
	AddNote(ctx context.Context, id string, n Note) error
	// AddDocument records a document whose blob is stored (idempotent).
	AddDocument(ctx context.Context, id string, d Document) error
}

// Flag is an officer flagged for early intervention: Count allegations
// in the window before At.
type Flag struct {
	Officer string    `json:"officer"`
	At      time.Time `json:"at"`
	Count   int       `json:"count"`
}

// Actor is who makes a change, as the custody log names them.
type Actor struct {
	ID   string // "user:u_…", "token:…" for a complainant
	User string // their staff id, if staff
	Role string
	Unit string
}

// Config is what a Service needs.
type Config struct {
	Store    Store
	Evidence evidence.Store
	// Blobs keeps the documents attached to cases.
	Blobs  blob.Store
	Record func(context.Context, evidence.Event) (uint64, error)
	Now    func() time.Time
	// Deadline is how long from receipt a case may stay open (default
	// 365 days); Target is the goal (default 180 days).
	Deadline, Target time.Duration
	// NoticeEvery is how often an open case's complainant is told it is
	// still open (default 180 days).
	NoticeEvery time.Duration
	// AlertAllegations flags an officer named in that many allegations
	// within AlertWindow (default 365 days); 0 flags no one.
	AlertAllegations int
	AlertWindow      time.Duration
}

// Service changes cases and logs every change.
type Service struct{ cfg Config }

// NewService returns a Service.
func NewService(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 365 * 24 * time.Hour
	}
	if cfg.Target <= 0 {
		cfg.Target = 180 * 24 * time.Hour
	}
	if cfg.NoticeEvery <= 0 {
		cfg.NoticeEvery = 180 * 24 * time.Hour
	}
	if cfg.AlertWindow <= 0 {
		cfg.AlertWindow = 365 * 24 * time.Hour
	}
	return &Service{cfg}
}

// Public lists the allegations of closed cases for the public figures.
func (s *Service) Public(ctx context.Context) ([]PublicRow, error) { return s.cfg.Store.Public(ctx) }

// Notices are what a case's complainant has been told by now.
func (s *Service) Notices(c Case) []Notice { return c.Notices(s.cfg.Now(), s.cfg.NoticeEvery) }

// Get returns a case.
func (s *Service) Get(ctx context.Context, id string) (Case, error) { return s.cfg.Store.Get(ctx, id) }

// List lists the cases a staff member works on or may take.
func (s *Service) List(ctx context.Context, userID, unit string, unassigned bool) ([]Case, error) {
	return s.cfg.Store.List(ctx, userID, unit, unassigned)
}

// Complaint returns what a complaint's case was filed with.
func (s *Service) Complaint(ctx context.Context, id string) (Complaint, error) {
	var c Complaint
	b, err := s.cfg.Store.Complaint(ctx, id)
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

// ForToken returns the case a complainant's token opens; ErrNotFound for
// a wrong token, as for a missing case.
func (s *Service) ForToken(ctx context.Context, id, token string) (Case, error) {
	c, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return c, err
	}
	if c.TokenDigest == "" || token == "" || subtle.ConstantTimeCompare([]byte(c.TokenDigest), []byte(evidence.Digest(token))) != 1 {
		return Case{}, ErrNotFound
	}
	return c, nil
}

// record logs a case event, about an item when it is not nil.
func (s *Service) record(ctx context.Context, c string, it *evidence.Item, by Actor, details, words map[string]string) error {
	if by.Role != "" {
		details["role"] = by.Role
	}
	e := evidence.Event{Type: evidence.CaseEvent, Case: c, Actor: by.ID, At: evidence.EventTime(s.cfg.Now()), Details: details, Words: words}
	if it != nil {
		e.Evidence = &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256}
	}
	_, err := s.cfg.Record(ctx, e)
	return err
}

// attachable checks footage a complainant attaches with its own token.
func (s *Service) attachable(ctx context.Context, refs []EvidenceRef) ([]evidence.Item, error) {
	var out []evidence.Item
	for i, r := range refs {
		it, err := s.cfg.Evidence.Get(ctx, r.ID)
		if err != nil || it.Uploader.Token != "" || !it.Authorize(r.Token) {
			return nil, invalid(fmt.Sprintf("evidence[%d]", i), "no footage with this id for this token")
		}
		out = append(out, it)
	}
	return out, nil
}

// File opens a case from a complaint, with the footage attached by its
// tokens, and returns it with the complainant's token (shown once). The
// log names the complainant by their token, as it names a civilian.
// Nothing is stored unless everything checks.
func (s *Service) File(ctx context.Context, in Complaint) (Case, string, error) {
	items, err := s.attachable(ctx, in.Evidence)
	if err != nil {
		return Case{}, "", err
	}
	token := NewToken()
	by := Actor{ID: ComplainantActor(token), Role: "complainant"}
	in.Evidence = nil // the tokens are the complainant's, not the case's
	doc, err := json.Marshal(in)
	if err != nil {
		return Case{}, "", err
	}
	c := s.newCase(FromComplaint, by, "")
	c.TokenDigest = evidence.Digest(token)
	for _, it := range items {
		c.Evidence = append(c.Evidence, it.ID)
	}
	c, err = s.cfg.Store.Create(ctx, c, doc)
	if err != nil {
		return c, "", err
	}
	if in.Contact != nil && in.Contact.Email != "" {
		if err := s.cfg.Store.MailTo(ctx, c.ID, in.Contact.Email); err != nil {
			return c, "", err
		}
	}
	if err := s.record(ctx, c.ID, nil, by, map[string]string{"action": "filed", "origin": string(FromComplaint), "status": string(Received)},
		map[string]string{"complaint": string(doc)}); err != nil {
		return c, "", err
	}
	for _, it := range items {
		if err := s.record(ctx, c.ID, &it, by, map[string]string{"action": "evidence-added"}, nil); err != nil {
			return c, "", err
		}
	}
	return c, token, nil
}

// ComplainantActor is how the custody log names whoever holds a
// complaint's token: as it names a civilian by theirs.
func ComplainantActor(token string) string { return "token:" + evidence.Digest(token)[:16] }

// Open opens a case from staff or from an on-scene referral, holding the
// incidents given; who opens it investigates it when they are an
// investigator.
func (s *Service) Open(ctx context.Context, by Actor, origin Origin, incidents []string) (Case, error) {
	c := s.newCase(origin, by, by.Unit)
	c.Incidents = incidents
	if by.Role == "investigator" {
		c.Investigators = []string{by.User}
	}
	c, err := s.cfg.Store.Create(ctx, c, nil)
	if err != nil {
		return c, err
	}
	return c, s.record(ctx, c.ID, nil, by, map[string]string{"action": "opened", "origin": string(origin), "status": string(Received)}, nil)
}

func (s *Service) newCase(origin Origin, by Actor, unit string) Case {
	now := s.cfg.Now().UTC()
	return Case{ID: NewID("case_"), Origin: origin, Status: Received, Unit: unit, CreatedBy: by.ID, ReceivedAt: now,
		Deadline: now.Add(s.cfg.Deadline), Target: now.Add(s.cfg.Target), History: []Change{{Status: Received, At: now, By: by.ID}}}
}

// Assign adds an investigator to a case.
func (s *Service) Assign(ctx context.Context, by Actor, id, userID string) error {
	c, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	if slices.Contains(c.Investigators, userID) {
		return nil
	}
	if err := s.cfg.Store.AddInvestigator(ctx, id, userID); err != nil {
		return err
	}
	return s.record(ctx, id, nil, by, map[string]string{"action": "assigned", "staff": "user:" + userID}, nil)
}

// SetStatus moves a case along one of its transitions. Recommending
// findings needs a recommended finding on every allegation (and at least
// one allegation); closing needs a final one on each; an administrative
// closure needs one of AdminReasons. reason is kept as the change's words.
func (s *Service) SetStatus(ctx context.Context, by Actor, id string, to Status, reason string) error {
	c, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	if !slices.Contains(Transitions[c.Status], to) {
		return fmt.Errorf("%w: %s to %s (allowed: %v)", ErrTransition, c.Status, to, Transitions[c.Status])
	}
	closedAs := ""
	switch to {
	case FindingsRecommended, Closed:
		if len(c.Allegations) == 0 {
			return fmt.Errorf("%w: %s needs at least one allegation", ErrTransition, to)
		}
		for _, a := range c.Allegations {
			if to == FindingsRecommended && a.Recommended == nil || to == Closed && a.Final == nil {
				return fmt.Errorf("%w: allegation %s has no %s finding", ErrTransition, a.ID, map[Status]Stage{FindingsRecommended: Recommended, Closed: Final}[to])
			}
		}
	case AdminClosed:
		closedAs = strings.TrimSpace(reason)
		if !slices.Contains(AdminReasons, closedAs) {
			return fmt.Errorf("%w: reason: one of %v", ErrInvalid, AdminReasons)
		}
	}
	if err := text("reason", reason, 2000, true); err != nil {
		return err
	}
	ch := Change{Status: to, At: s.cfg.Now().UTC(), By: by.ID}
	if err := s.cfg.Store.SetStatus(ctx, id, ch, closedAs); err != nil {
		return err
	}
	details := map[string]string{"action": "status", "status": string(to), "previous_status": string(c.Status)}
	if closedAs != "" {
		details["closed_as"] = closedAs
	}
	var words map[string]string
	if reason != "" && closedAs == "" {
		words = map[string]string{"reason": reason}
	}
	return s.record(ctx, id, nil, by, details, words)
}

// AddAllegation adds an allegation to an open case.
func (s *Service) AddAllegation(ctx context.Context, by Actor, id, officer string, category Category, policy string) (Allegation, error) {
	c, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return Allegation{}, err
	}
	officer = strings.TrimSpace(officer)
	if officer == "" {
		officer = Unidentified
	}
	switch {
	case !c.Status.Open():
		return Allegation{}, fmt.Errorf("%w: the case is %s", ErrTransition, c.Status)
	case !slices.Contains(Categories, category):
		return Allegation{}, invalid("category", fmt.Sprintf("one of %v", Categories))
	}
	if err := badge("officer_badge", officer); err != nil {
		return Allegation{}, err
	}
	if err := text("policy", policy, 200, false); err != nil {
		return Allegation{}, err
	}
	a := Allegation{ID: NewID("alg_"), Officer: officer, Category: category, Policy: strings.TrimSpace(policy), AddedAt: s.cfg.Now().UTC()}
	if err := s.cfg.Store.AddAllegation(ctx, id, a); err != nil {
		return a, err
	}
	if err := s.record(ctx, id, nil, by, map[string]string{"action": "allegation-added", "allegation": a.ID, "category": string(category)},
		map[string]string{"officer": officer, "policy": a.Policy}); err != nil {
		return a, err
	}
	return a, s.alert(ctx, id, officer)
}

// alert flags an officer named in AlertAllegations allegations within the
// window, once per window, and logs it.
func (s *Service) alert(ctx context.Context, id, officer string) error {
	if s.cfg.AlertAllegations <= 0 || officer == Unidentified {
		return nil
	}
	now := s.cfg.Now().UTC()
	since := now.Add(-s.cfg.AlertWindow)
	n, err := s.cfg.Store.Allegations(ctx, officer, since)
	if err != nil || n < s.cfg.AlertAllegations {
		return err
	}
	flagged, err := s.cfg.Store.Flag(ctx, officer, now, since, n)
	if err != nil || !flagged {
		return err
	}
	return s.record(ctx, id, nil, Actor{ID: "sightline"}, map[string]string{"action": "officer-flagged", "count": fmt.Sprint(n)},
		map[string]string{"officer": officer})
}

// Flags lists the officers flagged for early intervention within the
// window, newest first.
func (s *Service) Flags(ctx context.Context) ([]Flag, error) {
	return s.cfg.Store.Flags(ctx, s.cfg.Now().Add(-s.cfg.AlertWindow))
}

// RecordFinding records an allegation's recommended or final finding and
// its basis. A final finding needs a recommended one first; a closed case
// takes none (reopen it).
func (s *Service) RecordFinding(ctx context.Context, by Actor, id, allegationID string, stage Stage, f Finding, basis string) error {
	c, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(c.Allegations, func(a Allegation) bool { return a.ID == allegationID })
	switch {
	case i < 0:
		return ErrNotFound
	case !c.Status.Open():
		return fmt.Errorf("%w: the case is %s", ErrTransition, c.Status)
	case stage != Recommended && stage != Final:
		return invalid("stage", "recommended or final")
	case !slices.Contains(Findings, f):
		return invalid("finding", fmt.Sprintf("one of %v", Findings))
	case strings.TrimSpace(basis) == "":
		return invalid("basis", "what the finding rests on")
	case stage == Final && c.Allegations[i].Recommended == nil:
		return fmt.Errorf("%w: a final finding needs a recommended one first", ErrTransition)
	}
	if err := text("basis", basis, 20000, true); err != nil {
		return err
	}
	d := Decision{Finding: f, By: by.ID, At: s.cfg.Now().UTC(), Basis: strings.TrimSpace(basis)}
	if err := s.cfg.Store.AddFinding(ctx, allegationID, stage, d); err != nil {
		return err
	}
	return s.record(ctx, id, nil, by, map[string]string{"action": "finding", "allegation": allegationID, "stage": string(stage), "finding": string(f)},
		map[string]string{"basis": d.Basis})
}

// AddEvidence puts an item into a case; the event is about the item too,
// so that its civilian sees it.
func (s *Service) AddEvidence(ctx context.Context, by Actor, id string, it evidence.Item) error {
	c, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	if slices.Contains(c.Evidence, it.ID) {
		return nil
	}
	if err := s.cfg.Store.AddEvidence(ctx, id, it.ID); err != nil {
		return err
	}
	return s.record(ctx, id, &it, by, map[string]string{"action": "evidence-added"}, nil)
}

// AttachByToken is a complainant adding footage to their complaint later,
// with the footage's own token.
func (s *Service) AttachByToken(ctx context.Context, by Actor, id string, ref EvidenceRef) error {
	items, err := s.attachable(ctx, []EvidenceRef{ref})
	if err != nil {
		return err
	}
	return s.AddEvidence(ctx, by, id, items[0])
}

// Withdraw is the complainant withdrawing their complaint: the case is
// administratively closed as withdrawn, and kept.
func (s *Service) Withdraw(ctx context.Context, by Actor, id string) error {
	return s.SetStatus(ctx, by, id, AdminClosed, "withdrawn")
}

// Pause stops the case's deadline running, for a reason (a criminal case,
// a waiver, someone unavailable); Resume starts it again.
func (s *Service) Pause(ctx context.Context, by Actor, id, reason string) error {
	c, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	if strings.TrimSpace(reason) == "" {
		return invalid("reason", "why the deadline is paused")
	}
	if err := text("reason", reason, 2000, true); err != nil {
		return err
	}
	if c.PausedAt != nil {
		return fmt.Errorf("%w: the deadline is already paused", ErrTransition)
	}
	now := s.cfg.Now().UTC()
	if err := s.cfg.Store.SetPause(ctx, id, &now, c.Paused); err != nil {
		return err
	}
	return s.record(ctx, id, nil, by, map[string]string{"action": "deadline-paused"}, map[string]string{"reason": strings.TrimSpace(reason)})
}

// Resume starts a paused deadline running again, moved on by the pause.
func (s *Service) Resume(ctx context.Context, by Actor, id string) error {
	c, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	if c.PausedAt == nil {
		return fmt.Errorf("%w: the deadline is not paused", ErrTransition)
	}
	paused := c.Paused + s.cfg.Now().Sub(*c.PausedAt)
	if err := s.cfg.Store.SetPause(ctx, id, nil, paused); err != nil {
		return err
	}
	return s.record(ctx, id, nil, by, map[string]string{"action": "deadline-resumed", "paused_s": fmt.Sprint(int64(paused.Seconds()))}, nil)
}

// Mailer sends a complainant's notices (package notify's SMTP does).
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// SendNotices emails every notice not yet sent to the complainants who
// gave an address, each once (recorded, and logged as a "notice-sent"
// case event), and reports how many it sent. A failed send is tried
// again next time.
func (s *Service) SendNotices(ctx context.Context, m Mailer) (int, error) {
	mailing, err := s.cfg.Store.Mailing(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for id, to := range mailing {
		c, err := s.cfg.Store.Get(ctx, id)
		if err != nil {
			return n, err
		}
		sent, err := s.cfg.Store.Sent(ctx, id)
		if err != nil {
			return n, err
		}
		for _, nt := range s.Notices(c) {
			key := nt.Kind + "@" + nt.At.UTC().Format(time.RFC3339)
			if sent[key] {
				continue
			}
			body := nt.Text + "\n\nCase " + c.Number + ", " + nt.At.UTC().Format("2 January 2006") +
				".\n\nFollow it on the page where you follow your case, with the key you were given when you filed it.\n"
			if err := m.Send(ctx, to, "Your complaint "+c.Number+": "+nt.Kind, body); err != nil {
				return n, fmt.Errorf("cases: notice of %s: %w", c.Number, err)
			}
			if err := s.cfg.Store.MarkSent(ctx, id, key, s.cfg.Now()); err != nil {
				return n, err
			}
			if err := s.record(ctx, id, nil, Actor{ID: "sightline"}, map[string]string{"action": "notice-sent", "kind": nt.Kind}, nil); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// MaxNote bounds a note, in characters; MaxDocument a document, in bytes.
const (
	MaxNote     = 20000
	MaxDocument = 20 << 20
)

// AddNote keeps a note on a case; its words stay in the database, the
// event names them by hash.
func (s *Service) AddNote(ctx context.Context, by Actor, id, note string) error {
	if _, err := s.cfg.Store.Get(ctx, id); err != nil {
		return err
	}
	note = strings.TrimSpace(note)
	if note == "" {
		return invalid("text", "the note")
	}
	if err := text("text", note, MaxNote, true); err != nil {
		return err
	}
	n := Note{Text: note, By: by.ID, At: s.cfg.Now().UTC()}
	if err := s.cfg.Store.AddNote(ctx, id, n); err != nil {
		return err
	}
	return s.record(ctx, id, nil, by, map[string]string{"action": "note-added"}, map[string]string{"note": note})
}

// AddDocument stores a document as a blob and attaches it to a case; the
// event names its SHA-256 and size, its name is words.
func (s *Service) AddDocument(ctx context.Context, by Actor, id, name string, body []byte) (Document, error) {
	if _, err := s.cfg.Store.Get(ctx, id); err != nil {
		return Document{}, err
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "" || strings.ContainsAny(name, "/\\"):
		return Document{}, invalid("name", "a file name, without / or \\")
	case len(body) == 0 || len(body) > MaxDocument:
		return Document{}, invalid("body", fmt.Sprintf("1 byte to %d MiB", MaxDocument>>20))
	}
	if err := text("name", name, 255, false); err != nil {
		return Document{}, err
	}
	ref := blob.Ref(sha256.Sum256(body))
	if err := s.cfg.Blobs.Put(ctx, ref, bytes.NewReader(body)); err != nil {
		return Document{}, err
	}
	d := Document{SHA256: ref.String(), Name: name, Size: int64(len(body)), MIME: http.DetectContentType(body), By: by.ID, At: s.cfg.Now().UTC()}
	if err := s.cfg.Store.AddDocument(ctx, id, d); err != nil {
		return d, err
	}
	return d, s.record(ctx, id, nil, by, map[string]string{"action": "document-added", "sha256": d.SHA256, "size": fmt.Sprint(d.Size)},
		map[string]string{"name": name})
}
