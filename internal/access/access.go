// Package access decides who may do what: one permission table, in code,
// for every action the server offers, for every kind of caller. It denies
// by default. Its decisions are logged by the caller (see Decision.Event),
// allowed or not, so that the person who filmed sees every attempt on
// their footage.
//
// The same table is in docs/access.md; TestTableMatchesDocs keeps them
// equal.
package access

import (
	"context"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/sightline/sightline/internal/account"
	"github.com/sightline/sightline/internal/evidence"
)

// Kind is how a caller proved who they are.
type Kind string

// The kinds of caller.
const (
	Anonymous Kind = "anonymous" // nothing: the public
	Civilian  Kind = "civilian"  // a capability token of one evidence item
	Staff     Kind = "staff"     // a session or a personal API token
	Device    Kind = "device"    // a device token (camera dock, exporter)
)

// Principal is who is asking.
type Principal struct {
	Kind Kind
	// User is the staff member (Staff).
	User account.User
	// Token is the device token (Device) or personal API token (Staff via
	// a script); zero for sessions.
	Token account.Token
	// Capability is the civilian's token (Civilian), checked against the
	// item it is used on.
	Capability string
}

// Role is the caller's role as the table and the log name it: a staff
// role, or the kind of caller.
func (p Principal) Role() string {
	if p.Kind == Staff {
		return string(p.User.Role)
	}
	return string(p.Kind)
}

// Actor names the caller in the custody log: a staff id, a device token
// id, or a pseudonym of a civilian's token, never a secret.
func (p Principal) Actor() string {
	switch p.Kind {
	case Staff:
		return account.Actor(p.User.ID)
	case Device:
		return "device:" + p.Token.ID
	case Civilian:
		return "token:" + evidence.Digest(p.Capability)[:16]
	}
	return "anonymous"
}

// Via says how a staff member acted: "session" or "api-token".
func (p Principal) Via() string {
	if p.Kind == Staff && p.Token.ID != "" {
		return "api-token:" + p.Token.ID
	}
	if p.Kind == Staff {
		return "session"
	}
	return string(p.Kind)
}

// Action is something a caller may ask to do.
type Action string

// The actions. Every route of the server is one of these (web checks).
const (
	Public         Action = "public"          // pages, assets, the log's tiles, receipt refresh, health
	SignIn         Action = "sign-in"         // sign-in and account setup forms
	Upload         Action = "upload"          // create and send uploads
	UploadReadBack Action = "upload-readback" // the evidence an upload became; the upload id is the capability
	StaffHome      Action = "staff-home"      // a staff member's own pages
	ReadItem       Action = "read-item"       // an item's record (metadata)
	ReadOriginal   Action = "read-original"   // the footage itself
	ReadReceipt    Action = "read-receipt"
	ReadCustody    Action = "read-custody" // every event about an item
	ShareItem      Action = "share-item"   // a civilian shares their item with a staff member
	RecordInvolved Action = "record-involved"
	ManageAccounts Action = "manage-accounts"
	CreateIncident Action = "create-incident"
	ReadIncident   Action = "read-incident"    // an incident, its timeline and suggestions
	EditIncident   Action = "edit-incident"    // add and remove clips, name officers, decide suggestions, nudge offsets
	AssignStaff    Action = "assign-staff"     // assign a supervisor or investigator to an incident
	ClaimCode      Action = "claim-share-code" // open an item with the short code its civilian read out
	ReviewItem     Action = "review-item"      // write an on-scene review of an item
	EditReview     Action = "edit-review"      // change a submitted review: nobody may
	FileComplaint  Action = "file-complaint"   // file a complaint: anyone, no account
	Complainant    Action = "complainant"      // a complaint's own page and API: its token is the capability
	CreateCase     Action = "create-case"      // open an internal review
	ListCases      Action = "list-cases"       // the cases one works on or may take
	ReadCase       Action = "read-case"        // a case, its complaint, allegations and findings
	EditCase       Action = "edit-case"        // status, allegations, findings, evidence, deadline pauses
	TakeCase       Action = "take-case"        // an investigator takes a case no one investigates
	AssignCase     Action = "assign-case"      // assign an investigator to a case
	ReadAlerts     Action = "read-alerts"      // officers flagged for early intervention
	ExportPackage  Action = "export-package"   // an incident's or a case's evidence package, for court or disclosure
	// Redact opens, edits, submits, sends back and renders redactions of
	// an item; ApproveRedaction approves one (not its author's own);
	// ReleaseRedaction releases a rendered one to the public.
	Redact           Action = "redact"
	ApproveRedaction Action = "approve-redaction"
	ReleaseRedaction Action = "release-redaction"
	// MakeRelease makes and edits an incident's public release;
	// ApproveRelease approves one (not its author's own); PublishRelease
	// publishes an approved one; ReadRelease reads releases in the making.
	MakeRelease    Action = "make-release"
	ApproveRelease Action = "approve-release"
	PublishRelease Action = "publish-release"
	ReadRelease    Action = "read-release"
)

// Facts are what the table needs to know about one evidence item.
type Facts struct {
	Item evidence.Item
	// Involved are the badges of officers recorded as involved.
	Involved []string
	// SharedWith are the staff ids the item's civilian shared it with.
	SharedWith []string
	// OnCase reports whether a staff member is assigned to an incident
	// the item is in.
	OnCase func(userID string) bool
	// Incident is the incident an incident action is on.
	Incident *IncidentFacts
	// Case is the case a case action is on.
	Case *CaseFacts
}

// CaseFacts are what the table needs to know about a case.
type CaseFacts struct {
	Unit          string   // of who opened it (none for a complaint)
	Investigators []string // ids of its investigators
	Named         []string // badges of officers named in its allegations
}

// IncidentFacts are what the table needs to know about an incident.
type IncidentFacts struct {
	Owner    string   // the staff id of who opened it
	Unit     string   // of who opened it
	Staff    []string // ids of staff assigned to it
	Officers []string // badges of officers involved in it
}

// Civilian reports whether the item came from a civilian (no device
// token): staff must give a reason to open it.
func (f *Facts) Civilian() bool { return f.Item.Uploader.Token == "" }

// involved reports whether badge is recorded as involved in the item. An
// officer a civilian names in a submission is involved.
func (f *Facts) involved(badge string) bool {
	if badgeKey(badge) == "" {
		return false
	}
	return slices.ContainsFunc(f.Involved, func(b string) bool { return SameBadge(b, badge) }) ||
		(f.Civilian() && SameBadge(f.Item.Officer, badge))
}

// SameBadge reports whether two badge numbers name one officer, as people
// write them: "s-1", "S-1" and "S 1" are one badge. Badges are typed by
// civilians, supervisors and admins; an exact match would let an
// involved officer keep access through a difference in case.
func SameBadge(a, b string) bool {
	ka := badgeKey(a)
	return ka != "" && ka == badgeKey(b)
}

// badgeKey is a badge's letters and digits, upper-cased.
func badgeKey(b string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			return unicode.ToUpper(r)
		}
		return -1
	}, b)
}

// Decision is the table's answer, with the rule that gave it.
type Decision struct {
	Allowed bool
	Rule    string
}

func allow(rule string) Decision { return Decision{true, rule} }
func deny(rule string) Decision  { return Decision{false, rule} }

// Store keeps the facts about items that are not in their records.
type Store interface {
	Involved(ctx context.Context, evidenceID string) ([]string, error)
	SharedWith(ctx context.Context, evidenceID string) ([]string, error)
	AddInvolved(ctx context.Context, evidenceID, badge string) error
	AddShare(ctx context.Context, evidenceID, userID string, at time.Time) error
	// OnCase reports whether a staff member is assigned to an incident
	// the item is in.
	OnCase(ctx context.Context, evidenceID, userID string) (bool, error)
	// RemoveShare withdraws a share, reporting whether there was one.
	RemoveShare(ctx context.Context, evidenceID, userID string) (bool, error)
	// Visible lists items a staff member may be able to see, newest first.
	Visible(ctx context.Context, unit, badge, userID string, limit int) ([]string, error)
	// Recorded lists up to limit items recorded between from and to (by
	// their own clock, else on arrival), of source if not empty, newest
	// first: a search's candidates.
	Recorded(ctx context.Context, from, to time.Time, source string, limit int) ([]string, error)
}
