package verify

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// ReleaseProofFormat names the proof a release's page offers beside each
// file ("download with proof").
const ReleaseProofFormat = "sightline-release-proof-v1"

// ReleaseProof is what proves a released file offline: the release
// manifest (its exact bytes), and for each file the receipt of its
// "released" event (which names the manifest's and the file's SHA-256),
// the receipt of its original's fingerprint event (which names the
// Merkle root of the original's seconds' records), and the records of
// the seconds the file shows, each with its inclusion proof.
type ReleaseProof struct {
	Format   string             `json:"format"`
	Manifest string             `json:"manifest"`
	Files    []ReleaseFileProof `json:"files"`
}

// ReleaseFileProof proves one file of a release.
type ReleaseFileProof struct {
	Released    Receipt `json:"released"`
	Fingerprint Receipt `json:"fingerprint"`
	// Records are the hex bytes of the records of the seconds wholly
	// inside the file's span, in order; Proofs their inclusion proofs
	// (base64 hashes) in the tree of all the original's records.
	Records []string   `json:"records"`
	Proofs  [][]string `json:"proofs"`
}

// Errors of ReleaseCheck, besides those of receipts.
var (
	ErrNotReleased      = errors.New("the file is not one the release shows")
	ErrRecordsDiffer    = errors.New("the file does not match the recording's logged records")
	ErrReleaseProof     = errors.New("not a release proof")
	ErrReleaseNotLogged = errors.New("the log does not hold this release as the proof says")
)

// ReleaseResult is what ReleaseCheck established.
type ReleaseResult struct {
	Manifest ReleaseManifest
	File     int // the file's index in the manifest
	// Seconds is how many of the file's seconds were compared with the
	// original's records, and Hidden how many of them had parts not
	// compared (inside a redaction's box, or muted).
	Seconds, Hidden int
	Released        Result // the "released" event's receipt
	Fingerprint     Result // the fingerprint event's receipt
}

// String is what `sightline verify-release` prints.
func (r ReleaseResult) String() string {
	f := r.Manifest.Files[r.File]
	return fmt.Sprintf("OK: file %d of release %s (version %d) is %s, seconds %.3f to %.3f of the recording %s logged at index %d; "+
		"%d seconds match its logged records (%d with parts hidden by redaction, not compared); the release is logged at index %d",
		r.File+1, r.Manifest.Release, r.Manifest.Version, f.SHA256, f.FromS, f.ToS, f.Original.SHA256, f.Original.LogIndex,
		r.Seconds, r.Hidden, r.Released.Index)
}

// ParseReleaseProof reads a release proof.
func ParseReleaseProof(b []byte) (ReleaseProof, error) {
	var p ReleaseProof
	if len(b) > 256<<20 {
		return p, fmt.Errorf("%w: over 256 MiB", ErrReleaseProof)
	}
	if err := strict(b, &p); err != nil {
		return p, fmt.Errorf("%w: %v", ErrReleaseProof, err)
	}
	if p.Format != ReleaseProofFormat {
		return p, fmt.Errorf("%w: format %q", ErrReleaseProof, p.Format)
	}
	return p, nil
}

// ReleaseCheck checks a released file (read from file) against its
// proof with the log's verifier key: the file is one the manifest lists;
// the log holds the manifest for this file (its "released" event) and
// the original's commitment to its seconds' records (its fingerprint's
// event); each record the proof discloses is in that commitment; and the
// records computed again from the file (again, given the time of the
// file's start on its original's clock, by the caller, who decodes it:
// fingerprint.Decoded.Records) match them, outside what the release's
// redactions hid. It proves that what the file shows is the logged
// recording at those seconds; it says nothing of what a redaction's box
// hides.
func ReleaseCheck(proof []byte, file io.Reader, key string, again func(fromS float64) ([]Record, error)) (ReleaseResult, error) {
	var res ReleaseResult
	p, err := ParseReleaseProof(proof)
	if err != nil {
		return res, err
	}
	m, err := ParseReleaseManifest([]byte(p.Manifest))
	if err != nil {
		return res, err
	}
	res.Manifest = m
	if len(p.Files) != len(m.Files) {
		return res, fmt.Errorf("%w: %d file proofs for %d files", ErrReleaseProof, len(p.Files), len(m.Files))
	}
	h := sha256.New()
	n, err := io.Copy(h, file)
	if err != nil {
		return res, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	res.File = -1
	for i, f := range m.Files {
		if f.SHA256 == sum && f.Size == n {
			res.File = i
		}
	}
	if res.File < 0 {
		return res, fmt.Errorf("%w: its SHA-256 is %s (%d bytes)", ErrNotReleased, sum, n)
	}
	f, fp := m.Files[res.File], p.Files[res.File]

	// The log holds this manifest for this file.
	if res.Released, err = Check(fp.Released, key); err != nil {
		return res, fmt.Errorf("the released event: %w", err)
	}
	ev, err := ParseEntry(fp.Released.Entry)
	if err != nil {
		return res, err
	}
	switch {
	case ev.Type != "released" || ev.Evidence.SHA256 != f.Original.SHA256 || ev.Evidence.ID != f.Original.Evidence:
		return res, fmt.Errorf("%w: the receipt is of a %q event about %s", ErrReleaseNotLogged, ev.Type, ev.Evidence.SHA256)
	case ev.Details["manifest_sha256"] != m.SHA256() || ev.Details["sha256"] != sum || ev.Details["release"] != m.Release:
		return res, fmt.Errorf("%w: the event names manifest %s and file %s", ErrReleaseNotLogged, ev.Details["manifest_sha256"], ev.Details["sha256"])
	}

	// The original committed to its records at intake.
	if res.Fingerprint, err = Check(fp.Fingerprint, key); err != nil {
		return res, fmt.Errorf("the fingerprint event: %w", err)
	}
	fev, err := ParseEntry(fp.Fingerprint.Entry)
	if err != nil {
		return res, err
	}
	if fev.Type != "derived" || fev.Details["kind"] != "fingerprint" || fev.Evidence.SHA256 != f.Original.SHA256 ||
		fev.Details["records_root"] != f.Fingerprint.RecordsRoot || fev.Details["records"] != strconv.Itoa(f.Fingerprint.Records) ||
		fp.Fingerprint.Index != f.Fingerprint.LogIndex {
		return res, fmt.Errorf("%w: the fingerprint event does not name the manifest's commitment", ErrReleaseNotLogged)
	}
	root, err := hex.DecodeString(f.Fingerprint.RecordsRoot)
	if err != nil || len(root) != tlog.HashSize {
		return res, fmt.Errorf("%w: records root", ErrReleaseProof)
	}

	// The disclosed records: the seconds wholly inside the span, each in
	// the commitment.
	first, last := int(math.Ceil(f.FromS-1e-6)), int(math.Floor(f.ToS+1e-6)) // seconds [first, last)
	if last > f.Fingerprint.Records {
		last = f.Fingerprint.Records
	}
	if want := max(0, last-first); len(fp.Records) != want || len(fp.Proofs) != want {
		return res, fmt.Errorf("%w: %d records for the %d seconds the span holds", ErrReleaseProof, len(fp.Records), want)
	}
	logged := make([]Record, len(fp.Records))
	for i, hexRec := range fp.Records {
		b, err := hex.DecodeString(hexRec)
		if err != nil {
			return res, fmt.Errorf("%w: record %d", ErrReleaseProof, i)
		}
		r, err := ParseRecord(b)
		if err != nil {
			return res, err
		}
		if int(r.Second) != first+i {
			return res, fmt.Errorf("%w: record %d is of second %d", ErrReleaseProof, i, r.Second)
		}
		hashes, err := decodeHashes(fp.Proofs[i], "record proof")
		if err != nil {
			return res, err
		}
		if err := CheckRecord(r, tlog.RecordProof(hashes), int64(f.Fingerprint.Records), tlog.Hash(root)); err != nil {
			return res, err
		}
		logged[i] = r
	}

	// The file's own records, against them.
	computed, err := again(f.FromS)
	if err != nil {
		return res, err
	}
	bySecond := map[uint32]Record{}
	for _, r := range computed {
		bySecond[r.Second] = r
	}
	var differ []string
	for _, lr := range logged {
		r, ok := bySecond[lr.Second]
		if !ok {
			differ = append(differ, fmt.Sprintf("second %d: not in the file", lr.Second))
			continue
		}
		mask, mute := hidden(f, int(lr.Second))
		if mute || mask != ([GridSide * GridSide]bool{}) {
			res.Hidden++
		}
		if why := RecordsMatch(lr, r, mask, mute); why != "" {
			differ = append(differ, fmt.Sprintf("second %d: %s", lr.Second, why))
		}
		res.Seconds++
	}
	if len(differ) > 0 {
		return res, fmt.Errorf("%w: %s", ErrRecordsDiffer, strings.Join(differ, "; "))
	}
	return res, nil
}

// hidden says which cells of second s's grid a box of the file's changes
// covers (at any frame within the second around its middle frame), and
// whether its sound was muted or bleeped in it.
func hidden(f ReleaseFile, s int) (mask [GridSide * GridSide]bool, mute bool) {
	o := f.Original
	mid := int(math.Round((float64(s) + 0.5) * o.FPS))
	span := int(math.Ceil(o.FPS))
	for _, c := range f.Changes {
		switch c.Kind {
		case ChangeBox:
			for n := mid - span; n <= mid+span; n++ {
				k, ok := c.BoxAt(n)
				if !ok {
					continue
				}
				for gy := range GridSide {
					for gx := range GridSide {
						x0, x1 := gx*o.Width/GridSide, (gx+1)*o.Width/GridSide
						y0, y1 := gy*o.Height/GridSide, (gy+1)*o.Height/GridSide
						if k.X < x1+1 && k.X+k.W > x0-1 && k.Y < y1+1 && k.Y+k.H > y0-1 {
							mask[gy*GridSide+gx] = true
						}
					}
				}
			}
		case ChangeMute, ChangeBleep:
			if c.FromS < float64(s+1) && c.ToS > float64(s) {
				mute = true
			}
		}
	}
	return mask, mute
}

// EncodeProofHashes writes an inclusion proof as a release proof holds it.
func EncodeProofHashes(p tlog.RecordProof) []string {
	out := make([]string, len(p))
	for i, h := range p {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}
