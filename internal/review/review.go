// Package review is the on-scene review. A civilian shows their footage
// to a supervisor without handing over the phone: they read out a short
// code (or show its QR link) that lets one signed-in supervisor see that
// item, for a limited time to claim it. The supervisor watches it,
// streamed from the server, beside the body camera footage of the
// officers present, and writes a review: what was seen, the outcome and
// notes. A submitted review is never changed: it is logged ("reviewed",
// with the SHA-256 of its document) at once, both sides get a receipt of
// it, and a correction is a new review that names the one it corrects. A
// referral for internal review opens an incident with the clips.
//
// The package holds the rules and the records; it knows no HTTP. Who may
// claim a code or review an item is decided by package access.
package review

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"
)

// Outcome is what the supervisor decided on the scene.
type Outcome string

// The outcomes.
const (
	NoAction Outcome = "no action"
	Released Outcome = "released"
	Detained Outcome = "detained"
	Referred Outcome = "referred for internal review"
)

// Outcomes lists every valid Outcome.
var Outcomes = []Outcome{NoAction, Released, Detained, Referred}

// Review is one supervisor's review of one item, as signed off. Its
// canonical JSON (Document) is what the log's "reviewed" event hashes and
// what both sides keep with their receipt.
type Review struct {
	ID string `json:"id"`
	// Evidence and EvidenceSHA256 name the footage reviewed.
	Evidence       string `json:"evidence"`
	EvidenceSHA256 string `json:"evidence_sha256"`
	// Author is the supervisor, as the log names staff ("user:u_…"), with
	// their name, badge and unit as their account said when they signed.
	Author      string  `json:"author"`
	AuthorName  string  `json:"author_name"`
	AuthorBadge string  `json:"author_badge"`
	AuthorUnit  string  `json:"author_unit"`
	At          string  `json:"at"` // RFC 3339 UTC to the microsecond
	Seen        string  `json:"seen"`
	Outcome     Outcome `json:"outcome"`
	Notes       string  `json:"notes"`
	// Attached are the items (body camera footage of the officers
	// present) watched with it.
	Attached []string `json:"attached"`
	// Corrects names the review this one corrects, if any.
	Corrects string `json:"corrects,omitempty"`
}

// AuthorUserID is the staff id of the author.
func (r Review) AuthorUserID() string { return strings.TrimPrefix(r.Author, "user:") }

// Document returns the review's canonical form: JSON with the fields in
// this order, no HTML escaping, no insignificant space.
func (r Review) Document() []byte {
	if r.Attached == nil {
		r.Attached = []string{}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		panic(err) // strings and a slice of strings always encode
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// DocumentSHA256 is the hex SHA-256 of a document, as the log's event
// carries it.
func DocumentSHA256(doc []byte) string {
	s := sha256.Sum256(doc)
	return hex.EncodeToString(s[:])
}

// Record is a review as stored: its document, where the log holds its
// event (nil until logged) and the incident a referral opened.
type Record struct {
	Review
	Document string  `json:"document"`
	LogIndex *uint64 `json:"log_index"`
	Incident string  `json:"incident,omitempty"`
	// LogFrom is the log's next index taken before the event was first
	// appended: a retry after a crash looks for it from there.
	LogFrom uint64 `json:"-"`
}

// Code is a share code as stored (by its digest, never the code itself).
type Code struct {
	Evidence  string
	CreatedAt time.Time
	ExpiresAt time.Time
	ClaimedBy string // staff id; "" while unclaimed
	ClaimedAt time.Time
}

// Errors.
var (
	ErrNotFound = errors.New("review: not found")
	ErrInvalid  = errors.New("review: invalid")
	// ErrExists is a code digest already stored.
	ErrExists = errors.New("review: code exists")
	// ErrNoCode is a code that was never issued (or mistyped).
	ErrNoCode = errors.New("no such code")
	// ErrExpired is a code whose time to be claimed has passed.
	ErrExpired = errors.New("the code has expired")
	// ErrClaimed is a code another supervisor has claimed already.
	ErrClaimed = errors.New("the code was used by another supervisor")
	// ErrImmutable is any attempt to change a submitted review.
	ErrImmutable = errors.New("a submitted review cannot be changed; submit a correction that refers to it")
)

// Store keeps codes and reviews.
//
// ClaimCode is atomic: of two supervisors claiming one code at once,
// exactly one gets it. Reviews are never updated except to set, once
// each, their log index and the incident a referral opened; the store
// refuses anything else (the SQLite schema enforces it with triggers).
type Store interface {
	AddCode(ctx context.Context, digest string, c Code) error
	// ClaimCode gives the code to userID unless someone else has it, and
	// returns the code as it then stands; ErrNotFound if there is none.
	ClaimCode(ctx context.Context, digest, userID string, at time.Time) (Code, error)
	AddReview(ctx context.Context, r Record) error
	SetLogged(ctx context.Context, id string, index uint64) error
	SetIncident(ctx context.Context, id, incident string) error
	Get(ctx context.Context, id string) (Record, error)
	// ForEvidence lists an item's reviews, oldest first.
	ForEvidence(ctx context.Context, evidenceID string) ([]Record, error)
	// Unlogged lists the reviews stored but not yet logged.
	Unlogged(ctx context.Context) ([]Record, error)
}

// CodeDigits is how long a share code is: nine digits, read aloud in
// three groups. With one try per second from each address allowed at
// most, and codes valid for half an hour, guessing one is hopeless.
const CodeDigits = 9

// NewCode returns a fresh random code, formatted "123 456 789".
func NewCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000))
	if err != nil {
		panic(err)
	}
	s := fmt.Sprintf("%09d", n.Int64())
	return s[0:3] + " " + s[3:6] + " " + s[6:9]
}

// NormalizeCode reads a code as a person typed or said it: digits, with
// any spaces, dashes or dots between. It returns the nine digits, or
// false.
func NormalizeCode(s string) (string, bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '\u00a0':
		default:
			return "", false
		}
		if b.Len() > CodeDigits {
			return "", false
		}
	}
	if b.Len() != CodeDigits {
		return "", false
	}
	return b.String(), true
}

// CodeDigest is how a code is stored and looked up.
func CodeDigest(digits string) string {
	s := sha256.Sum256([]byte("sightline share code v1:" + digits))
	return hex.EncodeToString(s[:])
}

// NewID returns a new review id.
func NewID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "rev_" + strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

// Limits of what a supervisor writes.
const (
	MaxSeen     = 4000
	MaxNotes    = 4000
	MaxAttached = 20
)

// Input is what a supervisor submits.
type Input struct {
	Seen     string   `json:"seen"`
	Outcome  Outcome  `json:"outcome"`
	Notes    string   `json:"notes"`
	Attached []string `json:"attached"`
	Corrects string   `json:"corrects"`
}

// Check validates an input: an outcome among Outcomes, what was seen,
// texts within their limits, without control characters other than line
// breaks and tabs.
func (in Input) Check() error {
	ok := false
	for _, o := range Outcomes {
		ok = ok || in.Outcome == o
	}
	switch {
	case !ok:
		return fmt.Errorf("%w: outcome must be one of %q", ErrInvalid, Outcomes)
	case strings.TrimSpace(in.Seen) == "":
		return fmt.Errorf("%w: say what was seen", ErrInvalid)
	case !text(in.Seen, MaxSeen):
		return fmt.Errorf("%w: what was seen: at most %d characters of text", ErrInvalid, MaxSeen)
	case !text(in.Notes, MaxNotes):
		return fmt.Errorf("%w: notes: at most %d characters of text", ErrInvalid, MaxNotes)
	case len(in.Attached) > MaxAttached:
		return fmt.Errorf("%w: at most %d attached items", ErrInvalid, MaxAttached)
	}
	return nil
}

func text(s string, max int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' && r != '\r' || r == 0x7f })
}
