package verify

import (
	"encoding/json"
	"strconv"
	"strings"
)

// The layout of an evidence package: a BagIt bag (RFC 8493) in a zip,
// one top folder, its payload under data/ at these paths. Sightline writes
// it (package court); Package checks it.
const (
	PackageReadme        = "README.txt"
	PackageCertification = "certification.pdf"
	PackageReport        = "custody/report.pdf"
	PackageEvents        = "custody/events.csv"
	// PackageEntries holds the exact log entries about the package's
	// items, in log order, one PackageEntry per line.
	PackageEntries = "custody/entries.jsonl"
	// PackageItems lists the items (PackageItem), as JSON.
	PackageItems      = "custody/items.json"
	PackageCheckpoint = "log/checkpoint"
	PackageKey        = "log/key.vkey"
	// PackageEarlier holds earlier checkpoints the log kept that cover
	// the package's entries, log/checkpoints/<size>, each with its
	// consistency proof to the package's checkpoint in
	// log/consistency/<size> (base64 hashes, one per line).
	PackageEarlier     = "log/checkpoints/"
	PackageConsistency = "log/consistency/"
	// PackageReceipts holds receipts/<item>.tlog-proof for each item's
	// "received" event and receipts/events/<index>.tlog-proof for every
	// entry.
	PackageReceipts  = "receipts/"
	PackageOriginals = "originals/"
	PackageCopies    = "derived/"
)

// PackageEntry is a line of entries.jsonl: where the entry is in the log
// and its bytes, exactly as logged (a canonical JSON object).
type PackageEntry struct {
	Index uint64          `json:"index"`
	Entry json.RawMessage `json:"entry"`
}

// PackageItem is an item of a package as items.json lists it.
type PackageItem struct {
	ID string `json:"id"`
	// Original is its file's path under data/.
	Original      string           `json:"original"`
	SHA256        string           `json:"sha256"`
	Size          int64            `json:"size"`
	ReceivedIndex uint64           `json:"received_index"`
	Derived       []PackageDerived `json:"derived"`
}

// PackageDerived is a file made from an item, as its "derived" entry
// names it.
type PackageDerived struct {
	Kind   string `json:"kind"`
	Path   string `json:"path"` // under data/
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Index  uint64 `json:"index"` // of its "derived" entry
}

// EventsHeader is the first row of events.csv.
var EventsHeader = []string{"index", "at", "item", "type", "action", "actor", "role", "via", "rule", "outcome", "incident", "case", "reason"}

// EventRow is the row of events.csv for the entry at index: its columns
// as the entry gives them, and the reason given, which the log holds only
// by hash (details.words_sha256).
func EventRow(index uint64, e Event, reason string) []string {
	d := e.Details
	return []string{strconv.FormatUint(index, 10), e.At, e.Evidence.ID, e.Type, d["action"], e.Actor, d["role"], d["via"], d["rule"], d["outcome"], e.Incident, e.Case, reason}
}

// ReportSubject is what the custody report's PDF properties give as its
// subject: the SHA-256 of the files it renders.
func ReportSubject(entriesSHA256, eventsSHA256 string) string {
	return "Sightline custody report of entries.jsonl sha256:" + entriesSHA256 + " events.csv sha256:" + eventsSHA256
}

// pdfSubject is how a PDF's properties hold subject (as gopdf writes
// them: UTF-16 code units in hex).
func pdfSubject(subject string) string {
	var b strings.Builder
	b.WriteString("/Subject <FEFF")
	for _, r := range subject {
		b.WriteString(strings.ToUpper(strconv.FormatInt(int64(r)+0x10000, 16)[1:]))
	}
	return b.String() + ">"
}
