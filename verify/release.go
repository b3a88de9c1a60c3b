package verify

import (
	"bytes"
	"errors"
	"fmt"
)

// ReleaseFormat names the release manifest's format.
const ReleaseFormat = "sightline-release-v1"

// ReleaseManifest describes one version of an incident's public release:
// what is shown (each file, the span of its original it holds, on the
// original's clock and the incident's, and what was hidden in it), what is
// withheld and why, every recording of the incident on one clock (shown or
// not), and what each file's original committed to at intake. Its
// canonical JSON is stored and its SHA-256 logged in a "released" event
// per file.
type ReleaseManifest struct {
	Format   string `json:"format"`
	Release  string `json:"release"`
	Version  int    `json:"version"`
	Incident string `json:"incident"`
	Title    string `json:"title"`
	Summary  string `json:"summary"`
	// Previous are the earlier versions of this incident's release.
	Previous   []ReleaseVersion   `json:"previous"`
	Files      []ReleaseFile      `json:"files"`
	Withheld   []ReleaseWithheld  `json:"withheld"`
	Recordings []ReleaseRecording `json:"recordings"`
	Tools      ManifestTools      `json:"tools"`
	// Author and Approver as the log names staff.
	Author   string `json:"author"`
	Approver string `json:"approver"`
}

// ReleaseVersion names an earlier version.
type ReleaseVersion struct {
	Release string `json:"release"`
	Version int    `json:"version"`
}

// ReleaseFile is one published file: a span of an original.
type ReleaseFile struct {
	// Original is the recording it comes from, as logged at intake.
	Original ManifestOriginal `json:"original"`
	// Fingerprint is the original's commitment to its seconds' records
	// (the Merkle root its fingerprint's "derived" event names).
	Fingerprint ReleaseCommitment `json:"fingerprint"`
	// The span: frames [FromFrame, ToFrame) of the original, which are
	// seconds FromS (FromFrame/FPS) to ToS on its clock and start at
	// IncidentFromS on the incident's.
	FromFrame     int     `json:"from_frame"`
	ToFrame       int     `json:"to_frame"`
	FromS         float64 `json:"from_s"`
	ToS           float64 `json:"to_s"`
	IncidentFromS float64 `json:"incident_from_s"`
	// Redaction is the approved redaction shown (its id and the SHA-256
	// of its plan), and Changes what it changes within the span; none
	// when the span is shown as recorded.
	Redaction     string   `json:"redaction,omitempty"`
	RedactionPlan string   `json:"redaction_plan_sha256,omitempty"`
	Changes       []Change `json:"changes"`
	// The file: its SHA-256, size, and the raw streams encoded.
	SHA256       string   `json:"sha256"`
	Size         int64    `json:"size"`
	StreamHashes []string `json:"stream_hashes"`
}

// ReleaseCommitment is a recording's commitment to its seconds' records.
type ReleaseCommitment struct {
	RecordsRoot string `json:"records_root"`
	Records     int    `json:"records"`
	LogIndex    uint64 `json:"log_index"`
}

// ReleaseWithheld is a span kept back, and the reason's code.
type ReleaseWithheld struct {
	Evidence      string  `json:"evidence"`
	FromS         float64 `json:"from_s"`
	ToS           float64 `json:"to_s"`
	IncidentFromS float64 `json:"incident_from_s"`
	Reason        string  `json:"reason"`
}

// ReleaseRecording is a logged recording of the incident, on its clock.
type ReleaseRecording struct {
	Evidence      string  `json:"evidence"`
	SHA256        string  `json:"sha256"`
	Source        string  `json:"source"`
	IncidentFromS float64 `json:"incident_from_s"`
	DurationS     float64 `json:"duration_s"`
	// How it was placed on the incident's clock: "audio", "metadata" or
	// "manual", and how sure (0 to 1).
	Method     string  `json:"method"`
	Confidence float64 `json:"confidence"`
	HasVideo   bool    `json:"has_video"`
}

// Canonical is the manifest's bytes as stored and logged.
func (m ReleaseManifest) Canonical() []byte { return canonical(m) }

// SHA256 is the hex SHA-256 of the canonical form.
func (m ReleaseManifest) SHA256() string { return sha256Hex(m.Canonical()) }

// ErrReleaseManifest is wrapped by the errors of ParseReleaseManifest.
var ErrReleaseManifest = errors.New("not a release manifest")

// ParseReleaseManifest reads a release manifest; only its canonical form
// is accepted, so that it has one SHA-256.
func ParseReleaseManifest(b []byte) (ReleaseManifest, error) {
	var m ReleaseManifest
	if len(b) > 64<<20 {
		return m, fmt.Errorf("%w: over 64 MiB", ErrReleaseManifest)
	}
	if err := strict(b, &m); err != nil {
		return m, fmt.Errorf("%w: %v", ErrReleaseManifest, err)
	}
	if m.Format != ReleaseFormat {
		return m, fmt.Errorf("%w: format %q", ErrReleaseManifest, m.Format)
	}
	if len(m.Files) == 0 {
		return m, fmt.Errorf("%w: it shows no file", ErrReleaseManifest)
	}
	for i, f := range m.Files {
		o := f.Original
		switch {
		case !isHex256(o.SHA256) || !isHex256(f.SHA256) || f.Size <= 0 || !isHex256(f.Fingerprint.RecordsRoot):
			return m, fmt.Errorf("%w: file %d: a SHA-256 or size is missing", ErrReleaseManifest, i+1)
		case !(o.FPS > 0 && o.FPS <= 1000) || f.FromFrame < 0 || f.ToFrame <= f.FromFrame || f.ToFrame > o.Frames:
			return m, fmt.Errorf("%w: file %d: frames %d to %d of %d", ErrReleaseManifest, i+1, f.FromFrame, f.ToFrame, o.Frames)
		case f.Fingerprint.Records < 0 || f.Fingerprint.Records > 1<<24:
			return m, fmt.Errorf("%w: file %d: %d records", ErrReleaseManifest, i+1, f.Fingerprint.Records)
		}
		for k, c := range f.Changes {
			if err := c.Validate(o); err != nil {
				return m, fmt.Errorf("%w: file %d, change %d: %v", ErrReleaseManifest, i+1, k+1, err)
			}
		}
	}
	if !bytes.Equal(m.Canonical(), b) {
		return m, fmt.Errorf("%w: not in canonical form", ErrReleaseManifest)
	}
	return m, nil
}
