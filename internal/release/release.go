// Package release publishes an incident's footage with its context: which
// spans of which recordings are shown (each as an approved redaction, or
// as it was recorded when nothing needs hiding), which spans are withheld
// and why, a title and a plain summary, every recording of the incident
// on one clock, and the proof that what is shown came from what was
// logged.
//
// A release goes draft → approved (by someone other than its author) →
// published. Publishing renders each span (redact.RenderSpan: the same
// bytes from the same original and plan on any machine with the same
// ffmpeg build), writes the release manifest (verify.ReleaseManifest),
// and logs a "released" event per file naming the manifest's SHA-256 and
// the file's. A later release of the same incident is a new version;
// none is ever rewritten.
//
// The package holds the rules and the records; it knows no HTTP. Who may
// make, approve and publish a release is decided by package access.
package release

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is where a release is in its life.
type Status string

// The statuses, in order.
const (
	Draft     Status = "draft"
	Approved  Status = "approved"
	Published Status = "published"
)

// Span is a stretch of one recording to publish: seconds on the
// recording's own clock, shown through an approved redaction of it or,
// without one, as recorded.
type Span struct {
	Evidence  string  `json:"evidence_id"`
	FromS     float64 `json:"from_s"`
	ToS       float64 `json:"to_s"`
	Redaction string  `json:"redaction_id,omitempty"`
}

// Withheld is a stretch of one recording kept back, and why (a code of
// the server's list of legal bases).
type Withheld struct {
	Evidence string  `json:"evidence_id"`
	FromS    float64 `json:"from_s"`
	ToS      float64 `json:"to_s"`
	Reason   string  `json:"reason"`
}

// File is a published span as rendered: its blob, and the frames of the
// original it holds.
type File struct {
	Span
	FromFrame int    `json:"from_frame"`
	ToFrame   int    `json:"to_frame"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	// Streams are the raw streams' hashes (ffmpeg streamhash).
	Streams []string `json:"stream_hashes"`
	// LogFrom is the log's next index before its "released" event was
	// first appended (so a retry finds it); LogIndex where it is.
	LogFrom  uint64 `json:"log_from,omitempty"`
	Logged   bool   `json:"logged,omitempty"`
	LogIndex uint64 `json:"log_index,omitempty"`
}

// Release is one version of an incident's release, as stored.
type Release struct {
	ID       string `json:"id"`
	Incident string `json:"incident_id"`
	// Number is the version among the incident's releases, from 1.
	Number   int        `json:"version"`
	Title    string     `json:"title"`
	Summary  string     `json:"summary"`
	Spans    []Span     `json:"spans"`
	Withheld []Withheld `json:"withheld"`
	Status   Status     `json:"status"`
	Author   string     `json:"author"`   // the log's actor ("user:…")
	Approver string     `json:"approver"` // set when approved
	Created  time.Time  `json:"created_at"`
	Updated  time.Time  `json:"updated_at"`
	// Version counts the stored changes: an update names the one it read.
	Version int `json:"-"`

	// Publishing says the render job is queued or running; PublishError
	// why the last one failed.
	Publishing   bool   `json:"publishing,omitempty"`
	PublishError string `json:"publish_error,omitempty"`
	// Set once published: the files, the manifest (canonical JSON), when.
	Files     []File    `json:"files,omitempty"`
	Manifest  []byte    `json:"manifest,omitempty"`
	Published time.Time `json:"published_at,omitzero"`
}

// Errors, for callers to tell apart.
var (
	ErrNotFound = errors.New("release: not found")
	// ErrInvalid is a release that makes no sense; its message says why.
	ErrInvalid = errors.New("release: invalid")
	// ErrStep is a step its status does not allow.
	ErrStep = errors.New("release: not now")
	// ErrOwn is its author approving it.
	ErrOwn = errors.New("release: its author cannot approve it")
	// ErrConflict is an update of a version someone else changed.
	ErrConflict = errors.New("release: changed meanwhile")
)

// Limits of what a release says.
const (
	MaxTitle   = 200
	MaxSummary = 10000
	MaxSpans   = 100
)

// Input is what a caller asks for: a new release, or a draft's new
// content.
type Input struct {
	Title    string     `json:"title"`
	Summary  string     `json:"summary"`
	Incident string     `json:"incident_id"`
	Spans    []Span     `json:"spans"`
	Withheld []Withheld `json:"withheld"`
}

// Clip is what checking a span needs to know of a recording: that it is
// in the incident, how long it is.
type Clip struct {
	Duration float64
	HasVideo bool
}

// check checks in against the incident's clips (by evidence id) and the
// legal bases, and returns it tidied.
func (in Input) check(clips map[string]Clip, bases map[string]bool) (Input, error) {
	in.Title, in.Summary = strings.TrimSpace(in.Title), strings.TrimSpace(in.Summary)
	bad := func(format string, args ...any) (Input, error) {
		return in, fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case in.Title == "" || utf8.RuneCountInString(in.Title) > MaxTitle || strings.ContainsFunc(in.Title, isControl):
		return bad("a title of 1 to %d characters, on one line", MaxTitle)
	case utf8.RuneCountInString(in.Summary) > MaxSummary || !utf8.ValidString(in.Summary):
		return bad("a summary of at most %d characters", MaxSummary)
	case len(in.Spans) == 0:
		return bad("a release shows at least one span")
	case len(in.Spans) > MaxSpans || len(in.Withheld) > MaxSpans:
		return bad("at most %d spans and %d withheld", MaxSpans, MaxSpans)
	}
	within := func(what string, i int, id string, from, to float64) error {
		c, ok := clips[id]
		switch {
		case !ok:
			return fmt.Errorf("%w: %s %d: %q is not a recording of the incident", ErrInvalid, what, i+1, id)
		case math.IsNaN(from) || math.IsNaN(to) || from < 0 || to <= from || to > c.Duration+0.001:
			return fmt.Errorf("%w: %s %d: %g s to %g s is not a span of a recording of %.3f s", ErrInvalid, what, i+1, from, to, c.Duration)
		}
		return nil
	}
	for i, s := range in.Spans {
		if err := within("span", i, s.Evidence, s.FromS, s.ToS); err != nil {
			return in, err
		}
		if !clips[s.Evidence].HasVideo {
			return bad("span %d: the recording has no pictures to release", i+1)
		}
		for j, o := range in.Spans[:i] {
			if o.Evidence == s.Evidence && o.FromS < s.ToS && s.FromS < o.ToS {
				return bad("spans %d and %d overlap", j+1, i+1)
			}
		}
	}
	for i, w := range in.Withheld {
		if err := within("withheld span", i, w.Evidence, w.FromS, w.ToS); err != nil {
			return in, err
		}
		if !bases[w.Reason] {
			return bad("withheld span %d: %q is not a reason on the server's list", i+1, w.Reason)
		}
		for j, s := range in.Spans {
			if s.Evidence == w.Evidence && s.FromS < w.ToS && w.FromS < s.ToS {
				return bad("withheld span %d overlaps span %d", i+1, j+1)
			}
		}
	}
	return in, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// NewID returns a release id: 80 random bits, lower-case base32, short
// enough for a link (/r/{id}).
func NewID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
