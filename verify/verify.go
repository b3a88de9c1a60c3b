// Package verify checks Sightline receipts offline: that a file is the one
// the custody log recorded, that the record is included in the log, and
// that the log's key signed the checkpoint that includes it. It needs no
// server and no network, only the receipt and (to trust nothing in the
// receipt itself) the log's public verifier key.
//
// It depends on golang.org/x/mod alone (the signed-note and transparency-log
// code of the Go checksum database), so that anyone (a defence lawyer's
// tool, a newsroom's script) can import it without the server.
package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Format names this receipt format.
const Format = "sightline-receipt-v1"

// Receipt proves that a custody-log entry about one file is in the log.
type Receipt struct {
	Format string `json:"format"`
	// SHA256 and Size describe the file.
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Entry is the exact log entry (a custody event in canonical JSON),
	// Index its position in the log.
	Entry string `json:"entry"`
	Index uint64 `json:"index"`
	// InclusionProof is the RFC 6962 audit path from the entry to the
	// checkpoint's root, base64 hashes.
	InclusionProof []string `json:"inclusion_proof"`
	// Checkpoint is a C2SP signed note of the log's size and root.
	Checkpoint string `json:"checkpoint"`
	// Origin and VerifierKey name the log and its public key, as the
	// server states them. A careful verifier checks the key against one
	// obtained elsewhere.
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifier_key"`
	// Earlier are checkpoints this receipt was issued with before it was
	// refreshed, each with the proof that Checkpoint extends it: the log
	// held the entry since the first of them and rewrote none of its
	// history since. Ordered by size.
	Earlier []Earlier `json:"earlier,omitempty"`

	// Document is the text the entry commits to by SHA-256 (a review's), when
	// the receipt came with it (ReviewFormat): Check proves it is the one
	// logged.
	Document string `json:"-"`
}

// Earlier is a checkpoint a receipt was refreshed from.
type Earlier struct {
	// Checkpoint is the earlier signed note; it must cover the entry.
	Checkpoint string `json:"checkpoint"`
	// ConsistencyProof is the RFC 6962 consistency proof from it to the
	// receipt's checkpoint, base64 hashes.
	ConsistencyProof []string `json:"consistency_proof"`
}

// Errors, one per kind of failure, for callers to tell them apart.
var (
	ErrMalformed   = errors.New("receipt malformed")
	ErrFileDiffers = errors.New("file differs from the one logged")
	ErrSignature   = errors.New("checkpoint signature or key does not verify")
	ErrProof       = errors.New("proof fails")
	ErrDocument    = errors.New("document differs from the one logged")
)

// Result is what a verified receipt establishes.
type Result struct {
	SHA256   string
	Index    uint64
	TreeSize uint64
	Origin   string
	// At is when the log entry says the event happened.
	At time.Time
	// Event is the entry's event type, such as "received".
	Event string
	// Earlier are the sizes of the earlier checkpoints the receipt's
	// checkpoint was proved consistent with, smallest first.
	Earlier []uint64
	// Document says the receipt came with a document (a review) and it is
	// the one the entry names.
	Document bool
}

// String is the one line `sightline verify` prints.
func (r Result) String() string {
	s := fmt.Sprintf("OK: %s logged at index %d in a checkpoint of size %d signed by %s at %s",
		r.SHA256, r.Index, r.TreeSize, r.Origin, r.At.UTC().Format(time.RFC3339))
	if r.Document {
		s += ", with the " + r.Event + " document it names"
	}
	return s
}

// The files Sightline's pages offer to save. Each holds a receipt, and
// Parse reads any of them: whatever a page saves, `sightline verify`
// checks.
const (
	// CaptureFormat is the record the capture page saves: the receipt,
	// with the access token and the evidence page's link for its holder
	// (which a verifier does not read).
	CaptureFormat = "sightline-capture-v1"
	// ReviewFormat is a review's receipt: the document the supervisor
	// wrote and the receipt of its "reviewed" event, which names the
	// document's SHA-256.
	ReviewFormat = "sightline-review-receipt-v1"
)

// Parse reads a receipt, bare, in a file a page saved (CaptureFormat,
// ReviewFormat), or as a C2SP tlog-proof@v1 (FormatProof).
func Parse(b []byte) (Receipt, error) {
	if bytes.HasPrefix(b, []byte(ProofHeader+"\n")) {
		return parseProof(b)
	}
	var head struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return Receipt{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch head.Format {
	case CaptureFormat:
		// Only the receipt is read: the rest is the holder's.
		var saved struct {
			Receipt json.RawMessage `json:"receipt"`
		}
		if err := json.Unmarshal(b, &saved); err != nil {
			return Receipt{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if len(saved.Receipt) == 0 || string(saved.Receipt) == "null" {
			return Receipt{}, fmt.Errorf("%w: this record was saved before its receipt was ready; save it again from the evidence page", ErrMalformed)
		}
		return parseBare(saved.Receipt)
	case ReviewFormat:
		var saved struct {
			Format   string          `json:"format"`
			Document string          `json:"document"`
			Receipt  json.RawMessage `json:"receipt"`
		}
		if err := strict(b, &saved); err != nil {
			return Receipt{}, err
		}
		if saved.Document == "" {
			return Receipt{}, fmt.Errorf("%w: a review receipt without its document", ErrMalformed)
		}
		r, err := parseBare(saved.Receipt)
		r.Document = saved.Document
		return r, err
	}
	return parseBare(b)
}

// parseBare reads a receipt in Format, refusing any field it does not know.
func parseBare(b []byte) (Receipt, error) {
	var r Receipt
	if err := strict(b, &r); err != nil {
		return r, err
	}
	if r.Format != Format {
		return r, fmt.Errorf("%w: format %q, want %q", ErrMalformed, r.Format, Format)
	}
	return r, nil
}

func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: more after the value", ErrMalformed)
	}
	return nil
}

// File checks the file at path against r: its SHA-256, then everything
// Receipt checks.
func File(path string, r Receipt, key string) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Result{}, err
	}
	// A tlog-proof of an event that gives no size (Size -1) is held to the
	// SHA-256 alone.
	if got := hex.EncodeToString(h.Sum(nil)); got != r.SHA256 || r.Size >= 0 && n != r.Size {
		return Result{}, fmt.Errorf("%w: the file's SHA-256 is %s (%d bytes), the receipt's %s (%d bytes)", ErrFileDiffers, got, n, r.SHA256, r.Size)
	}
	return Check(r, key)
}

// Check verifies a receipt with the log's verifier key; an empty key means
// the key in the receipt, which proves only that the receipt is
// self-consistent.
func Check(r Receipt, key string) (Result, error) {
	var res Result
	if key == "" {
		key = r.VerifierKey
	}
	if key == "" {
		return res, fmt.Errorf("%w: a tlog-proof carries no key: give the log's verifier key", ErrSignature)
	}
	ev, err := ParseEntry(r.Entry)
	if err != nil {
		return res, err
	}
	if ev.Evidence.SHA256 != r.SHA256 {
		return res, fmt.Errorf("%w: the entry is about %s, the receipt about %s", ErrMalformed, ev.Evidence.SHA256, r.SHA256)
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return res, fmt.Errorf("%w: verifier key: %v", ErrSignature, err)
	}
	cp, err := OpenCheckpoint([]byte(r.Checkpoint), v)
	if err != nil {
		return res, err
	}
	if r.Origin != "" && cp.Origin != r.Origin {
		return res, fmt.Errorf("%w: checkpoint of %q, receipt names %q", ErrMalformed, cp.Origin, r.Origin)
	}
	proof, err := decodeHashes(r.InclusionProof, "inclusion proof")
	if err != nil {
		return res, err
	}
	if r.Index >= cp.Size {
		return res, fmt.Errorf("%w: index %d is outside a tree of size %d", ErrProof, r.Index, cp.Size)
	}
	if err := tlog.CheckRecord(proof, int64(cp.Size), cp.Root, int64(r.Index), tlog.RecordHash([]byte(r.Entry))); err != nil {
		return res, fmt.Errorf("%w: inclusion proof: %v", ErrProof, err)
	}
	res = Result{SHA256: r.SHA256, Index: r.Index, TreeSize: cp.Size, Origin: cp.Origin, At: must(time.Parse(time.RFC3339Nano, ev.At)), Event: ev.Type}
	if r.Document != "" {
		sum := sha256.Sum256([]byte(r.Document))
		if want := ev.Details["document_sha256"]; want != hex.EncodeToString(sum[:]) {
			return Result{}, fmt.Errorf("%w: its SHA-256 is %x, the entry names %q", ErrDocument, sum, want)
		}
		res.Document = true
	}
	for i, e := range r.Earlier {
		old, err := OpenCheckpoint([]byte(e.Checkpoint), v)
		if err != nil {
			return Result{}, fmt.Errorf("earlier checkpoint %d: %w", i, err)
		}
		switch {
		case old.Size <= r.Index:
			return Result{}, fmt.Errorf("%w: earlier checkpoint of size %d does not cover index %d", ErrMalformed, old.Size, r.Index)
		case old.Size > cp.Size:
			return Result{}, fmt.Errorf("%w: earlier checkpoint of size %d is larger than the receipt's, %d", ErrMalformed, old.Size, cp.Size)
		case i > 0 && old.Size <= res.Earlier[i-1]:
			return Result{}, fmt.Errorf("%w: earlier checkpoints out of order", ErrMalformed)
		}
		p, err := decodeHashes(e.ConsistencyProof, "consistency proof")
		if err != nil {
			return Result{}, err
		}
		if err := tlog.CheckTree(tlog.TreeProof(p), int64(cp.Size), cp.Root, int64(old.Size), old.Root); err != nil {
			return Result{}, fmt.Errorf("%w: consistency proof from the checkpoint of size %d to size %d: %v", ErrProof, old.Size, cp.Size, err)
		}
		res.Earlier = append(res.Earlier, old.Size)
	}
	return res, nil
}

// ErrDropped says a refreshed receipt does not carry on the receipt it
// replaces: another entry or file, or an earlier checkpoint left out.
var ErrDropped = errors.New("refreshed receipt does not carry on the old one")

// Extends checks that next, a refresh of prev, proves at least what prev
// did: it checks (Check, with key), it is about the same entry, index and
// file, and every checkpoint prev was issued with is either next's own or
// among its earlier ones, proved consistent with it. A holder runs it
// before replacing a receipt with its refresh, so that a log cannot make
// an inconvenient checkpoint disappear.
func Extends(prev, next Receipt, key string) (Result, error) {
	res, err := Check(next, key)
	if err != nil {
		return res, err
	}
	if next.Entry != prev.Entry || next.Index != prev.Index || next.SHA256 != prev.SHA256 || next.Size != prev.Size {
		return res, fmt.Errorf("%w: it is about another entry or file", ErrDropped)
	}
	kept := map[string]bool{next.Checkpoint: true}
	for _, e := range next.Earlier {
		kept[e.Checkpoint] = true
	}
	if !kept[prev.Checkpoint] {
		return res, fmt.Errorf("%w: its checkpoint is missing", ErrDropped)
	}
	for _, e := range prev.Earlier {
		if !kept[e.Checkpoint] {
			return res, fmt.Errorf("%w: an earlier checkpoint is missing", ErrDropped)
		}
	}
	return res, nil
}

// decodeHashes decodes a proof's base64 hashes.
func decodeHashes(in []string, what string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(in))
	for i, s := range in {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("%w: %s hash %d", ErrMalformed, what, i)
		}
		copy(out[i][:], b)
	}
	return out, nil
}

// Checkpoint is a C2SP tlog-checkpoint: the log's name, size and root.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   tlog.Hash
}

// OpenCheckpoint checks the signature on a checkpoint note and parses it.
func OpenCheckpoint(b []byte, v note.Verifier) (Checkpoint, error) {
	var cp Checkpoint
	n, err := note.Open(b, note.VerifierList(v))
	if err != nil {
		return cp, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 {
		return cp, fmt.Errorf("%w: checkpoint has fewer than three lines", ErrMalformed)
	}
	cp.Origin = lines[0]
	if cp.Origin != v.Name() {
		return cp, fmt.Errorf("%w: checkpoint of %q signed with the key of %q", ErrSignature, cp.Origin, v.Name())
	}
	if cp.Size, err = strconv.ParseUint(lines[1], 10, 64); err != nil || strconv.FormatUint(cp.Size, 10) != lines[1] {
		return cp, fmt.Errorf("%w: checkpoint size %q", ErrMalformed, lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return cp, fmt.Errorf("%w: checkpoint root %q", ErrMalformed, lines[2])
	}
	copy(cp.Root[:], root)
	return cp, nil
}

// Event is a custody log entry about a file, as a verifier reads it.
type Event struct {
	Type     string `json:"type"`
	Evidence struct {
		ID     string `json:"id"`
		SHA256 string `json:"sha256"`
	} `json:"evidence"`
	Incident string            `json:"incident"`
	Case     string            `json:"case"`
	Actor    string            `json:"actor"`
	At       string            `json:"at"` // RFC 3339, UTC
	Details  map[string]string `json:"details"`
}

// ParseEntry reads a custody log entry about a file.
func ParseEntry(s string) (Event, error) {
	var e Event
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		return e, fmt.Errorf("%w: entry: %v", ErrMalformed, err)
	}
	if e.Type == "" || e.Evidence.ID == "" || len(e.Evidence.SHA256) != 64 {
		return e, fmt.Errorf("%w: the entry is not a custody event about a file", ErrMalformed)
	}
	if _, err := time.Parse(time.RFC3339Nano, e.At); err != nil {
		return e, fmt.Errorf("%w: the entry's time %q", ErrMalformed, e.At)
	}
	return e, nil
}

// Fingerprint is a short, stable name for a verifier key, for people to
// compare by eye: the first 16 hex digits of its SHA-256.
func Fingerprint(key string) string {
	s := sha256.Sum256([]byte(key))
	return hex.EncodeToString(s[:8])
}

// must is for values ParseEntry has checked.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
