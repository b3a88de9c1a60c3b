// Package incident puts every clip of one encounter (phones, dashcams,
// body cameras, CCTV) on one clock. An incident holds clips, the staff
// assigned to it and the officers involved in it; each clip has an offset
// on the incident clock, found from its sound (package align), from its
// file's capture time when it has no usable sound, or set by a reviewer,
// and says which and how sure. Sightline suggests clips that belong to an
// incident (recorded at overlapping times, close by when both have GPS);
// a person accepts or rejects each.
//
// Every change (created, clip added or removed, officer named, staff
// assigned, suggestion decided, offset found, nudged or confirmed) is an
// "incident" custody event; those about a clip also name the clip's
// evidence, so its civilian sees them in their custody list.
package incident

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/evidence"
)

// Incident is one encounter under review.
type Incident struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Unit      string    `json:"unit"` // the unit of who opened it
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	// Anchor is the clip whose clock is the incident's (offset 0 before
	// the timeline is shifted to start at its earliest clip).
	Anchor string `json:"-"`
	// Staff are the ids of staff assigned to it (who opened it, and whom
	// they added); investigators see its clips through it.
	Staff []string `json:"staff"`
	// Officers are the badges of officers involved: they lose access to
	// every clip of it.
	Officers []string `json:"officers"`
}

// Method says how a clip's offset was found.
type Method string

// The methods.
const (
	ByAudio    Method = "audio"
	ByMetadata Method = "metadata"
	ByHand     Method = "manual"
)

// Status says where a clip's alignment stands.
type Status string

// The statuses.
const (
	Pending   Status = "pending"   // the alignment job has not run on it
	Aligned   Status = "aligned"   // placed by its sound
	NoSound   Status = "no-sound"  // no usable sound: placed by its capture time
	NoMatch   Status = "no-match"  // no sound in common found: placed by its capture time
	NoMedia   Status = "failed"    // its sound could not be extracted: placed by its capture time
	Confirmed Status = "confirmed" // set or confirmed by a reviewer
)

// Clip is one evidence item in an incident, with its place on the
// incident clock.
type Clip struct {
	Incident string
	Evidence string
	AddedBy  string
	AddedAt  time.Time
	// Offset is the incident-clock time of the clip's first moment, in
	// seconds, before the timeline is shifted to start at 0.
	Offset float64
	// Drift is how much faster the clip's clock runs than the incident's,
	// in parts per million.
	Drift       float64
	Method      Method
	Confidence  float64
	Status      Status
	Detail      string // what the aligner found, for the reviewer
	ConfirmedBy string
	ConfirmedAt time.Time
}

// Placed reports whether the clip has an offset to play at.
func (c Clip) Placed() bool { return c.Status != Pending }

var (
	// ErrNotFound is an incident or clip that does not exist.
	ErrNotFound = errors.New("incident: not found")
	// ErrExists is a clip already in the incident.
	ErrExists = errors.New("incident: the clip is already in it")
	// ErrInvalid is a request that makes no sense (an empty title, a huge
	// nudge); its message says why.
	ErrInvalid = errors.New("incident: invalid")
)

// Store keeps incidents. Every method is durable on return.
type Store interface {
	Create(ctx context.Context, inc Incident) error
	// Get returns the incident with its staff and officers.
	Get(ctx context.Context, id string) (Incident, error)
	// Mine lists incidents a staff member is assigned to or, for unit
	// not empty, opened in their unit; newest first.
	Mine(ctx context.Context, userID, unit string) ([]Incident, error)
	AddStaff(ctx context.Context, id, userID string) error
	AddOfficer(ctx context.Context, id, badge string) error
	SetAnchor(ctx context.Context, id, evidenceID string) error
	// AddClip adds c, or returns ErrExists.
	AddClip(ctx context.Context, c Clip) error
	// RemoveClip removes a clip, or returns ErrNotFound.
	RemoveClip(ctx context.Context, id, evidenceID string) error
	// Clips lists an incident's clips in the order they were added.
	Clips(ctx context.Context, id string) ([]Clip, error)
	// SetPlace updates a clip's offset, drift, method, confidence,
	// status, detail and confirmation.
	SetPlace(ctx context.Context, c Clip) error
	// Decide records a decision on a suggested clip.
	Decide(ctx context.Context, id, evidenceID string, accepted bool, by string, at time.Time) error
	// Decided lists the clips suggested for an incident and decided.
	Decided(ctx context.Context, id string) (map[string]bool, error)
	// CapturedBetween lists items whose capture time is in [from, to].
	CapturedBetween(ctx context.Context, from, to time.Time) ([]evidence.Item, error)
	// Containing lists the incidents an item is in.
	Containing(ctx context.Context, evidenceID string) ([]string, error)
}

// NewID returns a new incident id: "inc_" and 80 random bits.
func NewID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "inc_" + strings.ToLower(base32.StdEncoding.EncodeToString(b))
}
