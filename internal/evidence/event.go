package evidence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sightline/sightline/internal/blob"
)

// EventType names what happened to evidence.
type EventType string

// The custody events recorded so far; later parts of the system add more.
const (
	Received   EventType = "received"
	Viewed     EventType = "viewed"
	Downloaded EventType = "downloaded"
	// AccountEvent records a change to staff accounts or tokens (created,
	// role changed, locked, token issued or revoked); it is about no
	// evidence, and its details say what happened.
	AccountEvent EventType = "account"
	// Accessed is an allowed look at an item other than reading the
	// original (its record, receipt or custody list); Denied is a refused
	// attempt on an item. Their details say the action, role, reason and
	// the rule that decided.
	Accessed EventType = "accessed"
	Denied   EventType = "denied"
	// Shared is a civilian sharing their item with a staff member;
	// Involved records an officer as involved in an item.
	Shared EventType = "shared"
	// Unshared is a civilian withdrawing a share.
	Unshared EventType = "unshared"
	Involved EventType = "involved"
	// Derived records a file made from an item (poster, sound for
	// alignment, review copy): its details name the new blob, its hash and
	// size; the original is untouched.
	Derived EventType = "derived"
	// IncidentEvent is a change to an incident (created, clip added or
	// removed, officer named, offset found or set); its details say which.
	IncidentEvent EventType = "incident"
	// Partial records how much of a recording streamed while it is made
	// has arrived: its details give the byte count, its subject the
	// SHA-256 of those bytes and the id the evidence will have.
	Partial EventType = "partial"
	// Reviewed is a supervisor's on-scene review of an item: its details
	// name the review and the SHA-256 of its document (package review).
	Reviewed EventType = "reviewed"
	// CaseEvent is a step of a complaint or internal review (filed,
	// status changed, allegation added, finding recorded, read); its
	// details say which, its words (narrative, reasons, bases) are sealed.
	CaseEvent EventType = "case"
	// Exported is an item leaving in an evidence package: its details name
	// the package's SHA-256 and size and the log size it is pinned to.
	// It is logged once the package is whole; the read that began it is
	// logged (accessed, action export-package) before a byte is sent.
	Exported EventType = "exported"
	// RedactionEvent is a step of a redaction (opened, edited, submitted,
	// returned, approved, render, released); its details name the
	// redaction, the step and the status it left; a comment is sealed.
	RedactionEvent EventType = "redaction"
	// Redacted is a redaction rendered: its details name the manifest's
	// SHA-256 and the output (a new blob whose parent is the item).
	Redacted EventType = "redacted"
	// ReleaseEvent is a step of an incident's release (created, edited,
	// approved, published); its details name the release, its version, the
	// step and the status it left; its title and summary are sealed.
	ReleaseEvent EventType = "release"
	// Released is a file of a published release: about its original,
	// naming the release, its version, the release manifest's SHA-256 and
	// the file's.
	Released EventType = "released"
)

// Event is one entry of the custody ledger. Its canonical form (Canonical)
// is what the log stores and what receipts prove: JSON with the fields in
// this order, details sorted by key, times in RFC 3339 UTC to the
// microsecond, no HTML escaping and no insignificant space. Details hold
// strings only, so that there is one way to write every event.
type Event struct {
	Type     EventType         `json:"type"`
	Evidence *EventSubject     `json:"evidence,omitempty"` // nil for events about accounts and tokens
	Incident string            `json:"incident,omitempty"` // the incident an event is about, if any
	Case     string            `json:"case,omitempty"`     // the case (complaint, internal review) an event is about, if any
	Actor    string            `json:"actor"`              // a pseudonymous id, never a raw token
	At       string            `json:"at"`
	Details  map[string]string `json:"details,omitempty"`
	// Words are the event's free text (a reason, a title, a badge): never
	// in the log; the Recorder seals them into the database and the entry
	// names them by hash (see words.go).
	Words map[string]string `json:"-"`
}

// EventSubject names the evidence an event is about.
type EventSubject struct {
	ID     string   `json:"id"`
	SHA256 blob.Ref `json:"sha256"`
}

// EventTime formats t as events carry it.
func EventTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// Canonical returns the bytes the ledger stores for e.
func (e Event) Canonical() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		panic(err) // strings, a map of strings and a Ref always encode
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// ErrBadEvent is wrapped by every error of ParseEvent.
var ErrBadEvent = errors.New("not a custody event")

// ParseEvent reads a ledger entry. It accepts only the canonical form, so
// that an entry has exactly one meaning and one leaf hash.
func ParseEvent(b []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, fmt.Errorf("%w: %v", ErrBadEvent, err)
	}
	if dec.More() {
		return e, fmt.Errorf("%w: data after the event", ErrBadEvent)
	}
	if e.Type == "" || e.Actor == "" {
		return e, fmt.Errorf("%w: type and actor are required", ErrBadEvent)
	}
	if e.Evidence != nil && (e.Evidence.ID == "" || e.Evidence.SHA256.IsZero()) {
		return e, fmt.Errorf("%w: evidence id and sha256 are required", ErrBadEvent)
	}
	at, err := time.Parse(time.RFC3339Nano, e.At)
	if err != nil || EventTime(at) != e.At {
		return e, fmt.Errorf("%w: time %q is not RFC 3339 UTC to the microsecond", ErrBadEvent, e.At)
	}
	if !bytes.Equal(e.Canonical(), b) {
		return e, fmt.Errorf("%w: not in canonical form", ErrBadEvent)
	}
	return e, nil
}

// LoggedEvent is an event as the custody index lists it: where it is in
// the log, what it was, who and when.
type LoggedEvent struct {
	Index    uint64    `json:"index"`
	Type     EventType `json:"type"`
	Evidence string    `json:"evidence,omitempty"` // in an incident's list
	Incident string    `json:"incident,omitempty"` // in an item's list
	Case     string    `json:"case,omitempty"`
	// SHA256 is the file the event names: the item's, or for a partial
	// event the hash of the bytes then received.
	SHA256  string            `json:"sha256,omitempty"`
	Actor   string            `json:"actor"`
	At      string            `json:"at"`
	Details map[string]string `json:"details,omitempty"`
	// Words are the event's sealed words, for those who may read the
	// list; Sealed is their document, whose SHA-256 the entry names
	// (details.words_sha256), so that anyone holding it can check them.
	Words  map[string]string `json:"words,omitempty"`
	Sealed string            `json:"sealed,omitempty"`
}

// CustodyIndex finds the logged events about an item. The log is the
// record; the index is rebuilt from it when in doubt.
//
// Add is idempotent per log index and durable on return; Events lists an
// item's events in log order.
type CustodyIndex interface {
	Add(ctx context.Context, index uint64, e Event) error
	// AddWords keeps an event's sealed words; durable on return and
	// idempotent. The Recorder calls it before the entry naming them is
	// appended, so that no entry names words the database lacks.
	AddWords(ctx context.Context, s Sealed) error
	Events(ctx context.Context, evidenceID string) ([]LoggedEvent, error)
	// IncidentEvents lists an incident's events in log order.
	IncidentEvents(ctx context.Context, incidentID string) ([]LoggedEvent, error)
	// CaseEvents lists a case's events in log order.
	CaseEvents(ctx context.Context, caseID string) ([]LoggedEvent, error)
}

// Appender appends an entry to the custody log and returns its index once
// it is durably sequenced (ledger.Log does).
type Appender interface {
	Append(ctx context.Context, entry []byte) (uint64, error)
}

// Recorder logs custody events: it appends each to the log and then, if it
// is about evidence or an incident, adds it to the index.
type Recorder struct {
	Log   Appender
	Index CustodyIndex
}

// Record logs e and returns its index in the log: its words are sealed
// into the database, and only its public part enters the log.
func (r Recorder) Record(ctx context.Context, e Event) (uint64, error) {
	e, sealed := e.withWords()
	if err := e.CheckPublic(); err != nil {
		return 0, err
	}
	// Once begun, logging an event is finished even if the caller has
	// gone (a client that hung up, a shutdown): an entry the log sequenced
	// must reach the index, and a decision is logged whoever waits for it.
	ctx = context.WithoutCancel(ctx)
	if sealed != nil {
		if err := r.Index.AddWords(ctx, *sealed); err != nil {
			return 0, err
		}
	}
	index, err := r.Log.Append(ctx, e.Canonical())
	if err != nil {
		return 0, err
	}
	if e.Indexed() {
		if err := r.Index.Add(ctx, index, e); err != nil {
			return index, err
		}
	}
	return index, nil
}

// OnceLog is a custody log that can find an entry appended before a crash
// (ledger.Log is one), so that an event is logged exactly once.
type OnceLog interface {
	Appender
	// NextIndex is the index the next entry will get.
	NextIndex(ctx context.Context) (uint64, error)
	// Find looks for entry among the entries from index from on.
	Find(ctx context.Context, entry []byte, from uint64) (uint64, bool, error)
}

// RecordOnce logs e exactly once across crashes and indexes it. from is
// the log's NextIndex taken, and saved with e, before the first attempt;
// retry says an earlier attempt may have appended it, so the log is
// searched from there first.
// Such an event carries no words: it is saved before it is logged, and
// sealing would give each attempt another hash.
func RecordOnce(ctx context.Context, log OnceLog, index CustodyIndex, e Event, from uint64, retry bool) (uint64, error) {
	if len(e.Words) > 0 {
		return 0, fmt.Errorf("%w: an event logged exactly once carries no words", ErrWords)
	}
	if err := e.CheckPublic(); err != nil {
		return 0, err
	}
	entry := e.Canonical()
	ctx = context.WithoutCancel(ctx) // as in Recorder.Record
	var at uint64
	found := false
	var err error
	if retry {
		at, found, err = log.Find(ctx, entry, from)
	}
	if err == nil && !found {
		at, err = log.Append(ctx, entry)
	}
	if err == nil {
		err = index.Add(ctx, at, e)
	}
	return at, err
}

// EntryReader reads the custody log's entries (ledger.Log does).
type EntryReader interface {
	// NextIndex is the index the next entry will get.
	NextIndex(ctx context.Context) (uint64, error)
	// Entry returns the entry at index, which must be sequenced.
	Entry(ctx context.Context, index uint64) ([]byte, error)
}

// ReconcilableIndex is a custody index that remembers how far it is known
// to hold every event of the log.
type ReconcilableIndex interface {
	CustodyIndex
	// Reconciled is the log index before which every event about evidence
	// or an incident is indexed; SetReconciled moves it. Durable on return.
	Reconciled(ctx context.Context) (uint64, error)
	SetReconciled(ctx context.Context, through uint64) error
}

// Reconcile indexes every event the log holds after the index's mark and
// moves the mark to the log's end; it returns how many entries it read.
// The Recorder appends first and indexes second, so a crash between the
// two leaves an event only the log holds: run at start-up, before anything
// is appended, Reconcile brings it back, and each start reads only what
// was appended since the one before.
func Reconcile(ctx context.Context, log EntryReader, index ReconcilableIndex) (int, error) {
	from, err := index.Reconciled(ctx)
	if err != nil {
		return 0, err
	}
	next, err := log.NextIndex(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for i := from; i < next; i++ {
		b, err := log.Entry(ctx, i)
		if err != nil {
			return n, err
		}
		n++
		e, err := ParseEvent(b)
		if err != nil {
			return n, fmt.Errorf("evidence: log entry %d: %w", i, err)
		}
		if e.Indexed() {
			if err := index.Add(ctx, i, e); err != nil {
				return n, err
			}
		}
	}
	if next > from {
		err = index.SetReconciled(ctx, next)
	}
	return n, err
}

// Indexed reports whether the custody index lists e: an event about an
// item, an incident or a case.
func (e Event) Indexed() bool { return e.Evidence != nil || e.Incident != "" || e.Case != "" }
