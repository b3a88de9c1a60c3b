package court

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/sightline/sightline/internal/bag"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/version"
	"github.com/sightline/sightline/verify"
)

// Source is what an evidence package is made of: the items of a case or
// an incident, each with its logged events and the files made from it,
// and the log pinned at one checkpoint, so that the same source gives the
// same bytes every time.
type Source struct {
	Kind  string // "case" or "incident"
	ID    string
	Label string // "Case 2026-000123", as the documents name it
	// Organization is the bag's Source-Organization.
	Organization string
	Pin          *ledger.Pin
	Items        []Original
	// Open reads a blob (an original, a derived file).
	Open func(blob.Ref) (io.ReadCloser, error)
	// SHA512 gives a blob's SHA-512 (Digests.SHA512).
	SHA512 func(blob.Ref) (string, error)
}

// Original is one item of a package.
type Original struct {
	Item evidence.Item
	// Events are the logged events about it, in log order; those the
	// pinned checkpoint does not cover are left out.
	Events  []evidence.LoggedEvent
	Derived []derive.File
	// Anomalies are stated openly in the report: partial footage,
	// damaged media, a failed job.
	Anomalies []string
}

// Package is a planned evidence package: its length and validator are
// known before it is written.
type Package struct {
	Bag    bag.Bag
	Length int64
	// ETag names the package's bytes: a digest of its plan (every small
	// file's bytes, every blob's SHA-256 and size, every name).
	ETag string
	// Filename is the zip's name to save it as.
	Filename string
	// Items are the ids of the items in it, in order.
	Items []string
}

// WriteTo writes the package's zip to w.
func (p *Package) WriteTo(w io.Writer) (int64, error) { return p.Bag.WriteTo(w) }

// Write writes the package's zip to w and returns its SHA-256 too.
func (p *Package) Write(w io.Writer) (int64, [sha256.Size]byte, error) { return p.Bag.Write(w) }

// Build plans the package of src: it makes the documents, receipts and
// proofs (small, in memory) and plans the originals and derived files to
// be streamed when it is written.
func Build(ctx context.Context, src Source) (*Package, error) {
	pin := src.Pin
	items := slices.Clone(src.Items)
	slices.SortFunc(items, func(a, b Original) int { return strings.Compare(a.Item.ID, b.Item.ID) })
	var (
		entries  bytes.Buffer
		rows     = [][]string{verify.EventsHeader}
		listed   []verify.PackageItem
		receipts []bag.File
		report   = Report{Subject: src.Label, MadeAt: pin.At, Version: version.String(), KeyFingerprint: verify.Fingerprint(pin.VerifierKey()),
			Checkpoint: Checkpoint{Origin: pin.Origin, Size: pin.Size, Root: pin.Root.String()}}
		cert    = Certification{Subject: src.Label, MadeAt: pin.At}
		streams []bag.File
		indexes []uint64
		logged  []loggedEntry
	)
	var err error
	for _, o := range items {
		it := o.Item
		if it.ReceivedIndex >= pin.Size {
			return nil, fmt.Errorf("court: item %s was received after the pinned checkpoint", it.ID)
		}
		original := verify.PackageOriginals + it.ID + extension(it.Filename, it.MIME)
		row := verify.PackageItem{ID: it.ID, Original: original, SHA256: it.SHA256.String(), Size: it.Size, ReceivedIndex: it.ReceivedIndex}
		ri := Item{ID: it.ID, Filename: it.Filename, MediaType: it.MIME, Size: it.Size, SHA256: it.SHA256.String(),
			Source: string(it.Source), Device: device(it), CapturedAt: it.CapturedAt, Place: place(it),
			ReceivedAt: it.ReceivedAt, LogIndex: it.ReceivedIndex, Anomalies: o.Anomalies}
		shared := map[string]bool{}
		for _, e := range o.Events {
			if e.Index >= pin.Size {
				continue
			}
			entry, err := pin.Entry(ctx, e.Index)
			if err != nil {
				return nil, err
			}
			ev, err := verify.ParseEntry(string(entry))
			if err != nil || ev.Evidence.ID != it.ID {
				return nil, fmt.Errorf("court: entry %d is not about item %s: %v", e.Index, it.ID, err)
			}
			reason := e.Words["reason"]
			logged = append(logged, loggedEntry{e.Index, entry, verify.EventRow(e.Index, ev, reason)})
			ri.Events = append(ri.Events, Event{Index: e.Index, At: e.At, Type: string(e.Type), Action: e.Details["action"],
				Actor: e.Actor, Role: e.Details["role"], Outcome: e.Details["outcome"], Reason: reason})
			rc, err := pin.Receipt(ctx, e.Index, ev.Evidence.SHA256, -1)
			if err != nil {
				return nil, err
			}
			proof := verify.FormatProof(rc)
			receipts = append(receipts, bag.Bytes(verify.PackageReceipts+"events/"+strconv.FormatUint(e.Index, 10)+".tlog-proof", proof))
			if e.Index == it.ReceivedIndex {
				receipts = append(receipts, bag.Bytes(verify.PackageReceipts+it.ID+".tlog-proof", proof))
				ri.Submitter = e.Actor
			}
			indexes = append(indexes, e.Index)
			switch e.Type {
			case evidence.Shared:
				shared[e.Details["with"]] = true
			case evidence.Unshared:
				delete(shared, e.Details["with"])
			}
		}
		if ri.Submitter == "" {
			return nil, fmt.Errorf("court: item %s has no received event in its custody list", it.ID)
		}
		ri.Shares = slices.Sorted(func(yield func(string) bool) {
			for w := range shared {
				if !yield(w) {
					return
				}
			}
		})
		if ri.SHA512, err = src.SHA512(it.SHA256); err != nil {
			return nil, err
		}
		streams = append(streams, bag.File{Name: original, Size: it.Size, SHA256: it.SHA256.String(), SHA512: ri.SHA512, Open: opener(src.Open, it.SHA256)})
		for _, d := range o.Derived {
			if !d.Logged || d.LogIndex >= pin.Size {
				continue
			}
			p := verify.PackageCopies + it.ID + "/" + string(d.Kind) + extension("", d.MIME)
			row.Derived = append(row.Derived, verify.PackageDerived{Kind: string(d.Kind), Path: p, SHA256: d.SHA256.String(), Size: d.Size, Index: d.LogIndex})
			ri.Derived = append(ri.Derived, Derived{Kind: string(d.Kind), SHA256: d.SHA256.String(), Size: d.Size})
			s512, err := src.SHA512(d.SHA256)
			if err != nil {
				return nil, err
			}
			streams = append(streams, bag.File{Name: p, Size: d.Size, SHA256: d.SHA256.String(), SHA512: s512, Open: opener(src.Open, d.SHA256)})
		}
		listed = append(listed, row)
		report.Items = append(report.Items, ri)
		cert.Items = append(cert.Items, CertifiedItem{ID: it.ID, Filename: it.Filename, Logged: it.SHA256.String(),
			// The write fails if the bytes read do not hash to this
			// (bag.File.SHA256): a package is never made that would
			// certify a different file.
			Recomputed: it.SHA256.String()})
	}
	// Entries and rows in log order, whichever item they are about.
	slices.SortFunc(logged, func(a, b loggedEntry) int { return cmp.Compare(a.index, b.index) })
	for _, l := range logged {
		// The entry as logged, byte for byte (json.Marshal would escape
		// HTML characters in it).
		fmt.Fprintf(&entries, "{\"index\":%d,\"entry\":%s}\n", l.index, l.entry)
		rows = append(rows, l.row)
	}
	var csvBuf bytes.Buffer
	cw := csv.NewWriter(&csvBuf)
	cw.WriteAll(rows) // a bytes.Buffer does not fail
	report.Binds = verify.ReportSubject(sha(entries.Bytes()), sha(csvBuf.Bytes()))
	reportPDF, err := report.PDF()
	if err != nil {
		return nil, err
	}
	certPDF, err := cert.PDF()
	if err != nil {
		return nil, err
	}
	itemsJSON, _ := json.MarshalIndent(listed, "", "  ")
	logFiles, err := earlier(ctx, pin, indexes)
	if err != nil {
		return nil, err
	}
	top := fmt.Sprintf("sightline-%s-%s-%d", src.Kind, src.ID, pin.Size)
	files := []bag.File{
		bag.Bytes(verify.PackageReadme, []byte(readme(src.Label, top))),
		bag.Bytes(verify.PackageCertification, certPDF),
		bag.Bytes(verify.PackageReport, reportPDF),
		bag.Bytes(verify.PackageEvents, csvBuf.Bytes()),
		bag.Bytes(verify.PackageEntries, entries.Bytes()),
		bag.Bytes(verify.PackageItems, append(itemsJSON, '\n')),
		bag.Bytes(verify.PackageCheckpoint, pin.Note),
		bag.Bytes(verify.PackageKey, []byte(pin.VerifierKey()+"\n")),
	}
	files = append(files, logFiles...)
	files = append(files, receipts...)
	files = append(files, streams...)
	b := bag.Bag{Top: top, Date: pin.At, Files: files, Info: [][2]string{
		{"Source-Organization", src.Organization},
		{"External-Identifier", src.Label},
		{"External-Description", fmt.Sprintf("Evidence package of %s: %d items, custody log %s at size %d", src.Label, len(items), pin.Origin, pin.Size)},
		{"Bag-Software-Agent", "Sightline " + version.String()},
	}}
	length, err := b.Length()
	if err != nil {
		return nil, err
	}
	p := &Package{Bag: b, Length: length, Filename: top + ".zip", ETag: planDigest(b)}
	for _, it := range items {
		p.Items = append(p.Items, it.Item.ID)
	}
	return p, nil
}

// loggedEntry is an entry of the package, with its row of events.csv.
type loggedEntry struct {
	index uint64
	entry []byte
	row   []string
}

// earlier are the log/ files proving the pinned checkpoint extends each
// earlier one the log kept that first covered one of the entries: the
// checkpoints receipts were handed out with.
func earlier(ctx context.Context, pin *ledger.Pin, indexes []uint64) ([]bag.File, error) {
	kept, err := pin.Earlier(ctx)
	if err != nil {
		return nil, err
	}
	want := map[uint64]ledger.Kept{}
	for _, i := range indexes {
		for _, k := range kept { // sizes grow
			if k.Size > i {
				want[k.Size] = k
				break
			}
		}
	}
	var files []bag.File
	for _, size := range slices.Sorted(func(yield func(uint64) bool) {
		for s := range want {
			if !yield(s) {
				return
			}
		}
	}) {
		proof, err := pin.Consistency(ctx, size)
		if err != nil {
			return nil, err
		}
		name := strconv.FormatUint(size, 10)
		files = append(files,
			bag.Bytes(verify.PackageEarlier+name, want[size].Note),
			bag.Bytes(verify.PackageConsistency+name, []byte(strings.Join(proof, "\n")+"\n")))
	}
	return files, nil
}

func opener(open func(blob.Ref) (io.ReadCloser, error), ref blob.Ref) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return open(ref) }
}

// planDigest names a plan's bytes: the same digest, the same zip.
func planDigest(b bag.Bag) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %s\n", b.Top, b.Info, b.Date.UTC().Format("2006-01-02"))
	for _, f := range b.Files {
		fmt.Fprintf(h, "%q %d ", f.Name, f.Size)
		if f.SHA256 != "" {
			fmt.Fprintf(h, "%s\n", f.SHA256)
			continue
		}
		rc, err := f.Open()
		if err == nil {
			io.Copy(h, rc)
			rc.Close()
		}
		h.Write([]byte("\n"))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// extensions are the file extensions of the media types Sightline keeps
// (fixed here: the system's table differs between machines, and the
// package's bytes must not).
var extensions = map[string]string{
	"video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov", "video/x-matroska": ".mkv",
	"video/mp2t": ".ts", "video/x-msvideo": ".avi", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/ogg": ".ogg",
	"audio/wav": ".wav", "audio/webm": ".weba", "image/jpeg": ".jpg", "image/png": ".png",
	"application/octet-stream": ".bin",
}

// extension is a file's extension for its path in the package: the one
// its name gives if short and plain, else its media type's.
func extension(filename, mediaType string) string {
	if e := strings.ToLower(path.Ext(filename)); len(e) > 1 && len(e) <= 6 && strings.Trim(e[1:], "abcdefghijklmnopqrstuvwxyz0123456789") == "" {
		return e
	}
	return extensions[mediaType]
}

func device(it evidence.Item) string {
	parts := []string{it.Device}
	if c := it.Camera; c != nil {
		parts = append(parts, strings.TrimSpace(c.Make+" "+c.Model+" "+c.Software))
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}

func place(it evidence.Item) string {
	if it.Location == nil {
		return ""
	}
	return fmt.Sprintf("%.6f, %.6f", it.Location.Lat, it.Location.Lon)
}
