// Package redact hides faces, licence plates, screens and voices in a
// copy of an original, and proves exactly what changed.
//
// A redaction of one item goes draft → submitted → approved (by someone
// other than its author) → rendered → released, or back from submitted
// to draft with a comment. In draft, a job finds faces (package detect)
// and follows each as a track; its author keeps or drops each track,
// draws boxes by hand with keyframes, and mutes or bleeps spans of sound,
// each change with a legal basis from the server's list. Only an approved
// redaction is rendered, and only a rendered one released.
//
// The render is deterministic (Render): the same original and manifest
// give the same bytes on any machine with the same ffmpeg build. Its
// manifest (verify.Manifest) names the original, the tools, every change,
// the author and approver, the raw streams' hashes and the output's
// SHA-256; it is stored, and logged as a "redacted" event naming its
// SHA-256. The output is a new blob whose parent is the original, which
// is only read. `sightline redact` renders a manifest again offline.
//
// The package holds the rules and the records; it knows no HTTP. Who
// may redact, approve or release is decided by package access.
package redact

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sightline/sightline/verify"
)

// Status is where a redaction is in its life.
type Status string

// The statuses, in order.
const (
	Draft     Status = "draft"
	Submitted Status = "submitted"
	Approved  Status = "approved"
	Rendered  Status = "rendered"
	Released  Status = "released"
)

// Detection is the state of a redaction's automatic detection.
type Detection string

// The states of detection; "" when none was asked for.
const (
	Detecting Detection = "running"
	Detected  Detection = "done"
	NotFound  Detection = "failed"
)

// Redaction is one redaction of one item, as stored.
type Redaction struct {
	ID       string    `json:"id"`
	Evidence string    `json:"evidence"`
	Status   Status    `json:"status"`
	Author   string    `json:"author"`   // the log's actor ("user:…")
	Approver string    `json:"approver"` // set when approved
	Created  time.Time `json:"created_at"`
	Updated  time.Time `json:"updated_at"`
	// Version counts the stored changes: an update must name the
	// version it read.
	Version int `json:"version"`

	// Original is the item as the manifest describes it (read when the
	// redaction was opened).
	Original verify.ManifestOriginal `json:"original"`

	// What detection was asked for ("faces"), the effect and legal basis
	// its tracks get, and how it went.
	Auto        []string  `json:"auto"`
	Effect      string    `json:"effect"`
	Reason      string    `json:"reason"`
	Detection   Detection `json:"detection,omitempty"`
	DetectError string    `json:"detect_error,omitempty"`
	Tracks      []Track   `json:"tracks"`
	// Choices are the editor's decisions on tracks, by track id: dropped
	// (not a face) or another basis.
	Choices map[int]TrackChoice `json:"choices,omitempty"`
	// Changes are the hand-made changes.
	Changes []verify.Change `json:"changes"`
	// Comment is the last reviewer's comment when it was sent back.
	Comment string `json:"comment,omitempty"`

	// Rendering says a render job is queued or running.
	Rendering   bool   `json:"rendering,omitempty"`
	RenderError string `json:"render_error,omitempty"`
	// Set once rendered: the manifest (canonical), the output blob, and
	// where the "redacted" event is (LogFrom: the log's next index before
	// it was first appended, so a retry finds it).
	Manifest   []byte    `json:"manifest,omitempty"`
	RenderedAt time.Time `json:"rendered_at,omitzero"`
	LogFrom    uint64    `json:"log_from,omitempty"`
	Logged     bool      `json:"logged,omitempty"`
	LogIndex   uint64    `json:"log_index,omitempty"`
}

// TrackChoice is the editor's decision on one track.
type TrackChoice struct {
	Drop   bool   `json:"drop,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// All are every change the redaction makes, as the manifest lists them:
// the kept tracks, then the hand-made changes.
func (r Redaction) All() []verify.Change {
	var out []verify.Change
	for _, t := range r.Tracks {
		c := r.Choices[t.ID]
		if c.Drop {
			continue
		}
		reason := r.Reason
		if c.Reason != "" {
			reason = c.Reason
		}
		out = append(out, t.Change(r.Effect, reason))
	}
	return append(out, r.Changes...)
}

// Errors of the service, for the web layer to map.
var (
	ErrNotFound = errors.New("redact: no such redaction")
	// ErrConflict: the redaction changed since it was read.
	ErrConflict = errors.New("redact: the redaction changed meanwhile")
	// ErrInvalid wraps a request that cannot be taken as it is.
	ErrInvalid = errors.New("redact: invalid")
	// ErrStep: the step does not follow from the redaction's status.
	ErrStep = errors.New("redact: not at this step")
	// ErrOwn: its author may not approve a redaction.
	ErrOwn = errors.New("redact: its author may not approve it")
	// ErrNoDetector: the face detector is not installed.
	ErrNoDetector = errors.New("redact: the face detector is not installed (scripts/models.sh)")
)

// Store keeps redactions. Every method is durable on return.
type Store interface {
	Create(ctx context.Context, r Redaction) error
	Get(ctx context.Context, id string) (Redaction, error)
	// Update replaces r if its stored version is still version, and
	// stores it as version+1; else ErrConflict.
	Update(ctx context.Context, r Redaction, version int) error
	ForEvidence(ctx context.Context, evidenceID string) ([]Redaction, error)
	// Rendered lists every rendered (or released) redaction, for the audit.
	Rendered(ctx context.Context) ([]Redaction, error)
	PutThumbs(ctx context.Context, id string, thumbs map[int][]byte) error
	Thumb(ctx context.Context, id string, track int) ([]byte, error)
}

// NewID makes a redaction id.
func NewID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "r_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// Basis is a legal basis for a change: a code (what manifests carry) and
// what it means.
type Basis struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// DefaultBases are the bases a server offers unless configured: the
// usual grounds of public-records laws for withholding parts of a
// recording.
var DefaultBases = []Basis{
	{"privacy", "Personal privacy of a bystander, victim or witness"},
	{"minor", "A minor"},
	{"medical", "Medical or mental-health information"},
	{"victim", "The identity of a victim of a sexual or domestic offence"},
	{"informant", "A confidential informant or undercover officer"},
	{"identifiers", "Personal identifiers: licence plates, addresses, phone numbers, spoken names"},
	{"security", "Security-sensitive information: screens, codes, tactics"},
	{"investigation", "Would interfere with an open investigation"},
}

// ParseBases reads a list of bases, one a line: a code (letters, digits
// and -), a tab or spaces, and its meaning; # starts a comment.
func ParseBases(text string) ([]Basis, error) {
	var out []Basis
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		code, meaning, _ := strings.Cut(strings.ReplaceAll(line, "\t", " "), " ")
		meaning = strings.TrimSpace(meaning)
		if !validCode(code) || meaning == "" || seen[code] {
			return nil, fmt.Errorf("line %d: want a new code (a-z, 0-9, -, up to 40) and its meaning", i+1)
		}
		seen[code] = true
		out = append(out, Basis{code, meaning})
	}
	if len(out) == 0 {
		return nil, errors.New("no bases")
	}
	return out, nil
}

func validCode(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
