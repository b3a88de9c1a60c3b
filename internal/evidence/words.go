package evidence

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The public log holds no words. An entry carries ids, kinds, hashes,
// numbers, times and pseudonyms; anything a person wrote or chose (a
// staff member's reason, an incident's title, a badge number, a unit, a
// device name) is an event's Words. The Recorder keeps them in the
// database as a sealed document, the words with a random nonce, and the
// entry carries that document's SHA-256 as details["words_sha256"]: the
// words can be proved later to those entitled to read them, and cannot be
// guessed from the hash (a badge number is a small space).

// WordsKey is the detail that names an event's sealed words.
const WordsKey = "words_sha256"

// publicDetails are the only details an entry may carry. Each holds a
// value the server chose (an id, a kind, a number, a time, a hash, a
// pseudonym, the rule of the permission table that decided), never text a
// caller sent. A new detail is added here only if that holds for it.
var publicDetails = map[string]bool{
	// access decisions
	"action": true, "role": true, "via": true, "rule": true, "outcome": true,
	"with": true, "with_role": true, "expires_at": true, "method": true, "span": true,
	// reviews
	"review": true, "document_sha256": true, "corrects": true,
	// incidents
	"offset_s": true, "drift_ppm": true, "confidence": true, "status": true,
	"previous_offset_s": true, "previous_method": true, "staff": true,
	// accounts and tokens
	"user": true, "second_factor": true, "failures": true, "until": true,
	"token": true, "kind": true, "expires": true,
	// cases: the kinds the server checked against its lists
	"origin": true, "previous_status": true, "closed_as": true, "allegation": true,
	"category": true, "stage": true, "finding": true, "paused_s": true, "count": true,
	// intake and files made from originals
	"size": true, "source": true, "sha256": true, "mime": true, "partial": true, "continues": true,
	// a recording's fingerprint: the Merkle root of its seconds' records and their number
	"records_root": true, "records": true,
	// an item named by a clip lookup: what found it (sound, picture)
	"lookup": true,
	// evidence packages
	"package_sha256": true, "tree_size": true,
	// redactions
	"redaction": true, "step": true, "manifest_sha256": true,
	// releases
	"release": true, "version": true,
	WordsKey: true,
}

// maxDetail bounds a public detail's value, in bytes.
const maxDetail = 200

// ErrWords is wrapped by the error of an event that would put words in the
// public log. It is a programming error: the caller's words belong in
// Event.Words.
var ErrWords = errors.New("evidence: words may not enter the public log")

// CheckPublic reports whether e may be appended to the public log: only
// known details, each short and printable.
func (e Event) CheckPublic() error {
	for k, v := range e.Details {
		if !publicDetails[k] {
			return fmt.Errorf("%w: detail %q of a %s event", ErrWords, k, e.Type)
		}
		if len(v) > maxDetail || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			return fmt.Errorf("%w: detail %q of a %s event is not a short printable value", ErrWords, k, e.Type)
		}
	}
	return nil
}

// Sealed is an event's words as the database keeps them: Document is
// canonical JSON of the words and a nonce, SHA256 its hash in hex.
type Sealed struct {
	SHA256   string
	Document []byte
}

type sealedDoc struct {
	Nonce string            `json:"nonce"`
	Words map[string]string `json:"words"`
}

// Seal makes the sealed document of words with a fresh nonce.
func Seal(words map[string]string) Sealed {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(sealedDoc{hex.EncodeToString(nonce), words}); err != nil {
		panic(err) // a map of strings always encodes
	}
	doc := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	sum := sha256.Sum256(doc)
	return Sealed{hex.EncodeToString(sum[:]), doc}
}

// OpenSealed checks a sealed document against the SHA-256 an entry names
// and returns its words.
func OpenSealed(sum string, doc []byte) (map[string]string, error) {
	got := sha256.Sum256(doc)
	if hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("evidence: sealed words do not match their hash %s", sum)
	}
	var d sealedDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("evidence: sealed words %s: %w", sum, err)
	}
	return d.Words, nil
}

// withWords returns e ready for the log: its words sealed and named by
// their hash. The sealed document is returned for the database.
func (e Event) withWords() (Event, *Sealed) {
	if len(e.Words) == 0 {
		return e, nil
	}
	s := Seal(e.Words)
	details := make(map[string]string, len(e.Details)+1)
	for k, v := range e.Details {
		details[k] = v
	}
	details[WordsKey] = s.SHA256
	e.Details, e.Words = details, nil
	return e, &s
}
