// Package cases carries an encounter from "we'll be reviewing this" to a
// finding: complaints filed by anyone, without an account, and internal
// reviews opened by staff or by an on-scene referral. A case has
// allegations against named officers (or an unidentified one), each with
// a recommended and a final finding, who decided it, when and on what
// basis; its investigators, evidence and incidents; and a status that
// moves only along the transitions below, with deadlines.
//
// Every step is a "case" custody event: ids, kinds and hashes only. The
// words (a complaint's narrative, place, officers described and contact; a
// reason; a finding's basis) stay in the database and the event names
// them by hash.
package cases

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"slices"
	"strings"
	"time"
)

// Status is where a case stands.
type Status string

// The statuses.
const (
	Received            Status = "received"
	Acknowledged        Status = "acknowledged"
	Investigating       Status = "investigating"
	FindingsRecommended Status = "findings-recommended"
	Closed              Status = "closed"
	AdminClosed         Status = "administratively-closed"
	Reopened            Status = "reopened"
)

// Transitions are the moves a case's status may make. Findings
// recommended may be sent back for more investigation; a closed case
// (with findings or administratively) may be reopened, and a reopened
// one is investigated again.
var Transitions = map[Status][]Status{
	Received:            {Acknowledged, AdminClosed},
	Acknowledged:        {Investigating, AdminClosed},
	Investigating:       {FindingsRecommended, AdminClosed},
	FindingsRecommended: {Closed, Investigating, AdminClosed},
	Closed:              {Reopened},
	AdminClosed:         {Reopened},
	Reopened:            {Investigating, AdminClosed},
}

// Open reports whether a case in status s is still being worked.
func (s Status) Open() bool { return s != Closed && s != AdminClosed }

// AdminReasons are why a case may be closed without findings.
var AdminReasons = []string{"withdrawn", "no-cooperation", "mediated", "duplicate"}

// Category is what an allegation says an officer did.
type Category string

// Categories are the kinds of allegation (CCRB's FADO, with bias and
// improper search as COPA adds them).
var Categories = []Category{"force", "abuse-of-authority", "discourtesy", "offensive-language", "bias", "improper-search", "other"}

// Finding is the outcome of an allegation, on a preponderance of the
// evidence.
type Finding string

// Findings are the outcomes an allegation may have.
var Findings = []Finding{"sustained", "not-sustained", "exonerated", "unfounded", "officer-unidentified", "training-referral"}

// Stage says whether a finding is recommended (by the investigator) or
// final (by whoever decides).
type Stage string

// The stages.
const (
	Recommended Stage = "recommended"
	Final       Stage = "final"
)

// Origin says how a case began.
type Origin string

// The origins.
const (
	FromComplaint Origin = "complaint"
	FromReferral  Origin = "referral"
	FromStaff     Origin = "staff"
)

// Unidentified is the officer of an allegation against someone not yet
// identified.
const Unidentified = "unidentified"

// Case is one complaint or internal review.
type Case struct {
	ID     string `json:"id"`
	Number string `json:"case_number"`
	Origin Origin `json:"origin"`
	Status Status `json:"status"`
	// ClosedAs says why a case was administratively closed.
	ClosedAs   string    `json:"closed_as,omitempty"`
	Unit       string    `json:"unit,omitempty"`
	CreatedBy  string    `json:"created_by"` // an actor id
	ReceivedAt time.Time `json:"received_at"`
	// Deadline and Target are the limit and the goal, counted from
	// receipt, each moved on by the time the case was paused.
	Deadline time.Time `json:"deadline"`
	Target   time.Time `json:"target"`
	// PausedAt is when the deadline was paused, if it is now.
	PausedAt *time.Time `json:"paused_at,omitempty"`
	// Paused is how long the deadline was paused before, in all.
	Paused        time.Duration `json:"-"`
	History       []Change      `json:"history"`
	Investigators []string      `json:"investigators"`
	Evidence      []string      `json:"evidence"`
	Incidents     []string      `json:"incidents"`
	Allegations   []Allegation  `json:"allegations"`
	Notes         []Note        `json:"notes"`
	Documents     []Document    `json:"documents"`
	TokenDigest   string        `json:"-"`
}

// Note is something staff wrote on a case.
type Note struct {
	Text string    `json:"text"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

// Document is a file attached to a case (a statement, a report), stored
// as a blob under its SHA-256.
type Document struct {
	SHA256 string    `json:"sha256"`
	Name   string    `json:"name"`
	Size   int64     `json:"size"`
	MIME   string    `json:"mime_type"`
	By     string    `json:"by"`
	At     time.Time `json:"at"`
}

// Change is one step of a case's status.
type Change struct {
	Status Status    `json:"status"`
	At     time.Time `json:"at"`
	By     string    `json:"by"` // an actor id
}

// Allegation says an officer did something against a policy.
type Allegation struct {
	ID          string    `json:"id"`
	Officer     string    `json:"officer"` // a badge, or Unidentified
	Category    Category  `json:"category"`
	Policy      string    `json:"policy,omitempty"`
	AddedAt     time.Time `json:"added_at"`
	Recommended *Decision `json:"recommended,omitempty"`
	Final       *Decision `json:"final,omitempty"`
}

// Decision is a finding recorded: what, by whom, when, and on what basis.
type Decision struct {
	Finding Finding   `json:"finding"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Basis   string    `json:"basis"`
}

// Named reports whether the officer with badge is named in one of the
// case's allegations, compared as same(a, b) says badges compare.
func (c Case) Named(badge string, same func(a, b string) bool) bool {
	return badge != "" && slices.ContainsFunc(c.Allegations, func(a Allegation) bool { return same(a.Officer, badge) })
}

// Due is the deadline as it stands: moved on by every pause, and by the
// one going on now.
func (c Case) Due(now time.Time) (deadline, target time.Time) {
	p := c.Paused
	if c.PausedAt != nil {
		p += now.Sub(*c.PausedAt)
	}
	return c.Deadline.Add(p), c.Target.Add(p)
}

var (
	// ErrNotFound is a case, allegation or complaint that does not exist,
	// or that the caller may not see: the two look alike.
	ErrNotFound = errors.New("cases: not found")
	// ErrInvalid is a request that makes no sense; its message says why
	// and names the field.
	ErrInvalid = errors.New("cases: invalid")
	// ErrTransition is a status change the transitions do not allow, or
	// one the case is not ready for (findings missing).
	ErrTransition = errors.New("cases: not allowed from this status")
)

// NewID returns a new case or allegation id with prefix: 80 random bits
// in lower-case base32.
func NewID(prefix string) string {
	b := make([]byte, 10)
	rand.Read(b)
	return prefix + strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

// NewToken returns a complainant's capability token: 160 random bits.
func NewToken() string {
	b := make([]byte, 20)
	rand.Read(b)
	return strings.ToLower(strings.TrimRight(base32.StdEncoding.EncodeToString(b), "="))
}

// Notice is something the complainant is told: a step of their case, or
// that it is still open.
type Notice struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"` // the status it reports, or "still-open"
	Text string    `json:"text"`
}

// noticeText says each step a complainant is told of.
var noticeText = map[Status]string{
	Acknowledged:        "Your complaint was acknowledged: it will be looked into.",
	Investigating:       "An investigation has begun.",
	FindingsRecommended: "The investigator has recommended findings; a decision follows.",
	Closed:              "The case is closed, with a finding on each allegation.",
	AdminClosed:         "The case is closed without findings.",
	Reopened:            "The case was reopened.",
}

// Notices are what the complainant is told, oldest first: each step of
// the case, and every period it has been open (none when every is 0).
func (c Case) Notices(now time.Time, every time.Duration) []Notice {
	out := []Notice{}
	for _, h := range c.History {
		if t, ok := noticeText[h.Status]; ok {
			out = append(out, Notice{At: h.At, Kind: string(h.Status), Text: t})
		}
	}
	if every > 0 {
		end := now
		if !c.Status.Open() && len(c.History) > 0 {
			end = c.History[len(c.History)-1].At
		}
		for at := c.ReceivedAt.Add(every); !at.After(end); at = at.Add(every) {
			out = append(out, Notice{At: at, Kind: "still-open", Text: "Your case is still open; it has not been forgotten."})
		}
	}
	slices.SortStableFunc(out, func(a, b Notice) int { return a.At.Compare(b.At) })
	return out
}

// PublicRow is one allegation of a closed case as the public figures give
// it: no names, badges or words.
type PublicRow struct {
	CaseNumber string
	Received   time.Time
	Closed     time.Time
	Category   Category
	Finding    Finding
	Unit       string
}
