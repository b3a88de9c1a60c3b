// Package audit checks a Sightline data folder against itself, offline:
// that every original still has the hash it is stored under, that every
// evidence record matches its original and its "received" event, that the
// custody log's tiles and entries hash to the checkpoint its key signed,
// and that nothing is stored that no record accounts for.
package audit

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/transparency-dev/tessera/api"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/cases"
	"github.com/sightline/sightline/internal/db"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/release"
	"github.com/sightline/sightline/verify"
)

// Problem is one discrepancy: what it concerns and what is wrong.
type Problem struct {
	Concerns string
	Detail   string
}

func (p Problem) String() string { return p.Concerns + ": " + p.Detail }

// Report is what an audit found.
type Report struct {
	Blobs, Evidence, Entries int
	// Derived is how many derived files (posters, review copies, …) were checked.
	Derived int
	// Checkpoints is how many kept checkpoints were checked.
	Checkpoints int
	// Indexed is how many custody index rows were checked against the log.
	Indexed int
	// Cases is how many cases were held against the log.
	Cases int
	// Redactions is how many rendered redactions were checked.
	Redactions int
	// Releases is how many releases were checked, Released how many
	// files of published ones.
	Releases, Released int
	Problems           []Problem
}

func (r *Report) add(concerns, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{concerns, fmt.Sprintf(format, args...)})
}

// Paths name the parts of a data folder, as the server lays it out.
type Paths struct {
	// DB is the database: a SQLite file's path or a postgres:// URL
	// (db.Open). Blobs is the blob store: a folder or an s3:// URL
	// (blob.Open).
	DB, Blobs string
	// Log is the custody log's folder or, for a log several servers
	// share, the s3:// URL of the bucket that keeps its tiles: see
	// ledger.OpenTiles.
	Log string
	// KeyFile holds the log's signing key; Key is the key itself, when
	// it comes from the environment instead.
	KeyFile, Key string
	// History is the file of the log's checkpoint history; if empty, the
	// database keeps it (a log several servers share).
	History string
}

// Run audits the data folder described by p. Its error is for failures to
// audit at all; what it finds wrong is in the report.
func Run(ctx context.Context, p Paths) (*Report, error) {
	r := &Report{}
	d, err := db.Open(ctx, p.DB)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	blobs, err := blob.Open(ctx, p.Blobs, os.TempDir())
	if err != nil {
		return nil, err
	}
	lister, ok := blobs.(blob.Lister)
	if !ok {
		return nil, fmt.Errorf("audit: the blob store %s cannot list its blobs", p.Blobs)
	}

	// Originals: each must hash to its name, and to the SHA-512 kept for
	// evidence packages, if one was.
	hashes := map[blob.Ref]bool{} // ref -> intact
	digests := d.Digests()
	for ref, err := range lister.List(ctx) {
		if err != nil {
			r.add("blob store", "%v", err)
			continue
		}
		r.Blobs++
		got, got512, err := hashBlob(ctx, blobs, ref)
		hashes[ref] = err == nil && got == ref
		if err != nil {
			r.add("blob "+ref.String(), "cannot be read: %v", err)
			continue
		} else if got != ref {
			r.add("blob "+ref.String(), "content hashes to %s: the stored file has changed", got)
			continue
		}
		kept, ok, err := digests.SHA512(ctx, ref)
		if err != nil {
			return nil, err
		}
		if ok && kept != got512 {
			r.add("blob "+ref.String(), "its kept SHA-512 %s… is not the file's %s…: evidence packages would list a wrong one", kept[:16], got512[:16])
		}
	}

	history := d.Checkpoints()
	if p.History != "" {
		history = ledger.NewHistoryFile(p.History)
	}
	entries, err := checkLog(ctx, p, history, r)
	if err != nil {
		return nil, err
	}

	// Records: each must name an intact original and match its event.
	used := map[blob.Ref]bool{}
	for it, err := range d.Evidence().All(ctx) {
		if err != nil {
			return nil, err
		}
		r.Evidence++
		what := "evidence " + it.ID
		used[it.SHA256] = true
		r.checkBlob(hashes, what, "original", it.SHA256)
		if size, err := blobs.Stat(ctx, it.SHA256); err == nil && size != it.Size {
			r.add(what, "record says %d bytes, the original has %d", it.Size, size)
		}
		e, ok := entries[it.ReceivedIndex]
		switch {
		case !ok:
			r.add(what, "no received event at log index %d", it.ReceivedIndex)
		case e.Type != evidence.Received || e.Evidence == nil || e.Evidence.ID != it.ID:
			r.add(what, "log entry %d is not its received event", it.ReceivedIndex)
		case e.Evidence.SHA256 != it.SHA256:
			r.add(what, "record says sha256 %s, its received event (log index %d) says %s", it.SHA256, it.ReceivedIndex, e.Evidence.SHA256)
		case e.Details["size"] != strconv.FormatInt(it.Size, 10):
			r.add(what, "record says %d bytes, its received event says %s", it.Size, e.Details["size"])
		}
	}
	// Derived files: each an intact blob made by its logged event.
	for f, err := range d.Derived().All(ctx) {
		if err != nil {
			return nil, err
		}
		r.Derived++
		what := fmt.Sprintf("%s of evidence %s", f.Kind, f.Parent)
		used[f.SHA256] = true
		if !f.Logged {
			// Recorded before a crash, before or after its blob was
			// stored: its job finishes (or makes it again) at the next
			// start. Only a blob it has must be intact.
			if _, ok := hashes[f.SHA256]; ok {
				r.checkBlob(hashes, what, string(f.Kind)+" file", f.SHA256)
			}
			continue
		}
		r.checkBlob(hashes, what, string(f.Kind)+" file", f.SHA256)
		e, ok := entries[f.LogIndex]
		switch {
		case !ok || e.Type != evidence.Derived || e.Evidence == nil || e.Evidence.ID != f.Parent:
			r.add(what, "log entry %d is not the event that made it", f.LogIndex)
		case e.Details["sha256"] != f.SHA256.String() || e.Details["kind"] != string(f.Kind):
			r.add(what, "record says %s, the event that made it (log index %d) says %s", f.SHA256, f.LogIndex, e.Details["sha256"])
		case f.Kind == derive.Fingerprint && hashes[f.SHA256]:
			// The commitment a release's proofs rest on: the records in
			// the file are those the event names.
			fp, err := derive.ReadFingerprint(ctx, blobs, f)
			if err != nil {
				r.add(what, "cannot be read: %v", err)
				break
			}
			c, err := derive.CommitmentOf(fp)
			if err != nil {
				return nil, err
			}
			if c.Root != e.Details["records_root"] || strconv.Itoa(c.Records) != e.Details["records"] {
				r.add(what, "its %d seconds' records hash to %s, its event (log index %d) names %s of %s",
					c.Records, c.Root, f.LogIndex, e.Details["records_root"], e.Details["records"])
			}
		}
	}
	if err := checkRedactions(ctx, d, entries, hashes, used, r); err != nil {
		return nil, err
	}
	if err := checkReleases(ctx, d, entries, hashes, used, r); err != nil {
		return nil, err
	}
	// Documents attached to cases: each an intact blob.
	docs, err := d.CaseDocuments(ctx)
	if err != nil {
		return nil, err
	}
	for _, sum := range docs {
		ref, err := blob.ParseRef(sum)
		if err != nil {
			r.add("case document "+sum, "not a SHA-256")
			continue
		}
		used[ref] = true
		r.checkBlob(hashes, "case document "+sum, "blob", ref)
	}
	for ref := range hashes {
		if !used[ref] {
			r.add("blob "+ref.String(), "belongs to no evidence record or case")
		}
	}
	if err := checkIndex(ctx, d, entries, r); err != nil {
		return nil, err
	}
	if err := checkCases(ctx, d, entries, r); err != nil {
		return nil, err
	}
	return r, nil
}

// checkReleases holds every release's files against its manifest and
// their "released" events: each rendered file is an intact blob (of a
// release still being published, too); a published release's manifest
// reads, lists exactly its files, and each file's event names that
// manifest and that file.
func checkReleases(ctx context.Context, d *db.DB, entries map[uint64]evidence.Event, hashes, used map[blob.Ref]bool, r *Report) error {
	all, err := d.Releases().All(ctx)
	if err != nil {
		return err
	}
	for _, rel := range all {
		r.Releases++
		what := "release " + rel.ID
		for _, f := range rel.Files {
			ref, err := blob.ParseRef(f.SHA256)
			if err != nil {
				r.add(what, "a file is not a SHA-256")
				continue
			}
			used[ref] = true
			r.checkBlob(hashes, what, "released file", ref)
		}
		if rel.Status != release.Published {
			continue
		}
		m, err := verify.ParseReleaseManifest(rel.Manifest)
		if err != nil || len(m.Files) != len(rel.Files) {
			r.add(what, "its manifest does not read or lists other files: %v", err)
			continue
		}
		sum := sha256.Sum256(rel.Manifest)
		for i, f := range rel.Files {
			r.Released++
			e, ok := entries[f.LogIndex]
			switch {
			case m.Files[i].SHA256 != f.SHA256:
				r.add(what, "file %d is %s, its manifest names %s", i+1, f.SHA256, m.Files[i].SHA256)
			case !f.Logged || !ok || e.Type != evidence.Released || e.Evidence == nil || e.Evidence.ID != f.Evidence:
				r.add(what, "log entry %d is not file %d's released event", f.LogIndex, i+1)
			case e.Details["manifest_sha256"] != hex.EncodeToString(sum[:]) || e.Details["sha256"] != f.SHA256 || e.Details["release"] != rel.ID:
				r.add(what, "file %d's released event (log index %d) names manifest %s and file %s", i+1, f.LogIndex, e.Details["manifest_sha256"], e.Details["sha256"])
			}
		}
	}
	return nil
}

// checkRedactions holds every rendered redaction against its manifest
// and its "redacted" event: the manifest is canonical, names the item's
// original and an intact output blob, and the event logged names that
// manifest and that output.
func checkRedactions(ctx context.Context, d *db.DB, entries map[uint64]evidence.Event, hashes, used map[blob.Ref]bool, r *Report) error {
	all, err := d.Redactions().Rendered(ctx)
	if err != nil {
		return err
	}
	for _, rd := range all {
		r.Redactions++
		what := "redaction " + rd.ID
		m, err := verify.ParseManifest(rd.Manifest)
		if err != nil || m.Output == nil {
			r.add(what, "its manifest does not read: %v", err)
			continue
		}
		it, err := d.Evidence().Get(ctx, rd.Evidence)
		if err != nil {
			r.add(what, "its evidence %s: %v", rd.Evidence, err)
			continue
		}
		if m.Original.SHA256 != it.SHA256.String() || m.Original.Size != it.Size || m.Original.Evidence != it.ID {
			r.add(what, "its manifest names original %s (%d bytes), evidence %s is %s (%d bytes)", m.Original.SHA256, m.Original.Size, it.ID, it.SHA256, it.Size)
		}
		ref, err := blob.ParseRef(m.Output.SHA256)
		if err != nil {
			r.add(what, "its output is not a SHA-256")
			continue
		}
		used[ref] = true
		r.checkBlob(hashes, what, "redacted video", ref)
		sum := sha256.Sum256(rd.Manifest)
		e, ok := entries[rd.LogIndex]
		switch {
		case !rd.Logged:
			r.add(what, "rendered but not logged")
		case !ok || e.Type != evidence.Redacted || e.Evidence == nil || e.Evidence.ID != it.ID:
			r.add(what, "log entry %d is not its redacted event", rd.LogIndex)
		case e.Details["manifest_sha256"] != hex.EncodeToString(sum[:]) || e.Details["sha256"] != m.Output.SHA256:
			r.add(what, "its redacted event (log index %d) names manifest %s and output %s; it has %x and %s",
				rd.LogIndex, e.Details["manifest_sha256"], e.Details["sha256"], sum, m.Output.SHA256)
		}
	}
	return nil
}

// checkCases holds every case against the log: it was filed or opened by
// a logged event, each change of its status is a logged "status" event in
// the same order, and each allegation and each finding it holds now was
// logged as such.
func checkCases(ctx context.Context, d *db.DB, entries map[uint64]evidence.Event, r *Report) error {
	byCase := map[string][]evidence.Event{}
	for _, idx := range slices.Sorted(maps.Keys(entries)) {
		if e := entries[idx]; e.Type == evidence.CaseEvent && e.Case != "" {
			byCase[e.Case] = append(byCase[e.Case], e)
		}
	}
	ids, err := d.CaseIDs(ctx)
	if err != nil {
		return err
	}
	store := d.Cases()
	for _, id := range ids {
		r.Cases++
		k, err := store.Get(ctx, id)
		if err != nil {
			return err
		}
		what := "case " + k.Number
		var statuses []string
		logged := map[string]bool{}
		opened := false
		for _, e := range byCase[id] {
			switch a := e.Details["action"]; a {
			case "filed", "opened":
				opened = true
			case "status":
				statuses = append(statuses, e.Details["status"])
			case "allegation-added":
				logged["allegation "+e.Details["allegation"]+" "+e.Details["category"]] = true
			case "finding":
				logged["finding "+e.Details["allegation"]+" "+e.Details["stage"]+" "+e.Details["finding"]] = true
			}
		}
		if !opened {
			r.add(what, "no logged event filed or opened it")
		}
		var held []string
		for _, h := range k.History[min(1, len(k.History)):] {
			held = append(held, string(h.Status))
		}
		if !slices.Equal(held, statuses) {
			r.add(what, "its history says %v, the log %v", held, statuses)
		}
		for _, a := range k.Allegations {
			if !logged["allegation "+a.ID+" "+string(a.Category)] {
				r.add(what, "allegation %s (%s) was not logged", a.ID, a.Category)
			}
			for stage, f := range map[string]*cases.Decision{"recommended": a.Recommended, "final": a.Final} {
				if f != nil && !logged["finding "+a.ID+" "+stage+" "+string(f.Finding)] {
					r.add(what, "the %s finding %s of allegation %s was not logged", stage, f.Finding, a.ID)
				}
			}
		}
	}
	return nil
}

// checkIndex checks that the custody index (what the civilian's and the
// incident's custody lists show) is the log: every event about evidence
// or an incident has its row, with the same content, every row is such an
// event, and the words a row shows are the sealed document its entry names.
// Rows past the signed checkpoint are not judged: the log does not prove
// them yet.
func checkIndex(ctx context.Context, d *db.DB, entries map[uint64]evidence.Event, r *Report) error {
	rows, err := d.CustodyRows(ctx)
	if err != nil {
		return err
	}
	var size uint64
	for idx := range entries {
		size = max(size, idx+1)
	}
	indexed := map[uint64]evidence.LoggedEvent{}
	for _, row := range rows {
		if row.Index >= size {
			continue
		}
		indexed[row.Index] = row
		r.Indexed++
		e, ok := entries[row.Index]
		what := fmt.Sprintf("custody index row %d", row.Index)
		switch {
		case !ok:
			r.add(what, "its log entry cannot be read")
			continue
		case !sameEvent(row, e):
			r.add(what, "differs from log entry %d", row.Index)
			continue
		}
		if sum := e.Details[evidence.WordsKey]; sum != "" {
			if _, err := evidence.OpenSealed(sum, []byte(row.Sealed)); err != nil {
				r.add(what, "the words it shows are not those its log entry names: %v", err)
			}
		}
	}
	for idx, e := range entries {
		if (e.Indexed()) && indexed[idx].Type == "" {
			r.add(fmt.Sprintf("log entry %d", idx), "a %s event missing from the custody index", e.Type)
		}
	}
	return nil
}

// sameEvent reports whether an index row says what its log entry says.
func sameEvent(row evidence.LoggedEvent, e evidence.Event) bool {
	id, sha := "", ""
	if e.Evidence != nil {
		id, sha = e.Evidence.ID, e.Evidence.SHA256.String()
	}
	return row.Type == e.Type && row.Evidence == id && row.SHA256 == sha && row.Incident == e.Incident && row.Case == e.Case &&
		row.Actor == e.Actor && row.At == e.At && maps.Equal(row.Details, e.Details)
}

// checkBlob reports a record whose blob (named by noun: "original", "poster
// file") is missing or no longer hashes to its name.
func (r *Report) checkBlob(hashes map[blob.Ref]bool, what, noun string, ref blob.Ref) {
	intact, stored := hashes[ref]
	switch {
	case !stored:
		r.add(what, "its %s %s is missing from the blob store", noun, ref)
	case !intact:
		r.add(what, "its %s %s has changed", noun, ref)
	}
}

// checkLog verifies the checkpoint's signature with the log's own key,
// re-derives the tree from the tiles and from the entries, and returns the
// parsed entries by index.
func checkLog(ctx context.Context, p Paths, history ledger.HistoryStore, r *Report) (map[uint64]evidence.Event, error) {
	entries := map[uint64]evidence.Event{}
	vkey, err := ledger.VerifierKeyOf(p.KeyFile)
	if p.Key != "" {
		vkey, err = ledger.VerifierKeyFor(p.Key)
	}
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	log, err := ledger.OpenTiles(ctx, p.Log)
	if err != nil {
		return nil, err
	}
	raw, err := log.ReadResource(ctx, "checkpoint")
	if errors.Is(err, os.ErrNotExist) {
		r.add("log checkpoint", "missing")
		return entries, nil
	}
	if err != nil {
		return nil, err
	}
	cp, err := verify.OpenCheckpoint(raw, v)
	if err != nil {
		r.add("log checkpoint", "%v", err)
		return entries, nil
	}
	size, root := int64(cp.Size), cp.Root

	// The tiles must hash to the signed root.
	thr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, tileReader{ctx, log})
	if h, err := tlog.TreeHash(size, thr); err != nil || h != root {
		r.add("log tiles", "do not hash to the signed checkpoint root (size %d): %v", size, err)
	} else {
		checkHistory(ctx, history, v, cp, thr, r)
	}

	// The entries must hash to it too.
	var leaves []tlog.Hash
	for b := int64(0); b*256 < size; b++ {
		w := min(size-b*256, 256)
		data, err := log.ReadResource(ctx, "tile/entries/"+strings.TrimPrefix(tlog.Tile{H: 8, L: 0, N: b, W: int(w)}.Path(), "tile/8/0/"))
		if err != nil {
			r.add(fmt.Sprintf("log entries %d-%d", b*256, b*256+w-1), "bundle cannot be read: %v", err)
			return entries, nil
		}
		var bundle api.EntryBundle
		if err := bundle.UnmarshalText(data); err != nil || int64(len(bundle.Entries)) < w {
			r.add(fmt.Sprintf("log entries %d-%d", b*256, b*256+w-1), "bundle is malformed or short")
			return entries, nil
		}
		for i, e := range bundle.Entries[:w] {
			idx := uint64(b*256) + uint64(i)
			leaves = append(leaves, tlog.RecordHash(e))
			r.Entries++
			ev, err := evidence.ParseEvent(e)
			if err != nil {
				r.add(fmt.Sprintf("log entry %d", idx), "%v", err)
				continue
			}
			entries[idx] = ev
		}
	}
	if h, err := rootOf(leaves); err != nil || h != root {
		r.add("log entries", "do not hash to the signed checkpoint root (size %d)", size)
	}
	return entries, nil
}

// checkHistory checks that each checkpoint kept in the log's history is
// consistent with the next, and the last with the current one, using
// proofs made from the tiles (already checked against the current
// checkpoint). A log whose history was rewritten fails here even if its
// tiles and its current checkpoint agree.
func checkHistory(ctx context.Context, history ledger.HistoryStore, v note.Verifier, current verify.Checkpoint, thr tlog.HashReader, r *Report) {
	var prev *verify.Checkpoint
	consistent := func(a, b verify.Checkpoint) {
		what := fmt.Sprintf("checkpoint history, size %d", a.Size)
		if a.Size > b.Size {
			r.add(what, "is followed by a smaller checkpoint (size %d)", b.Size)
			return
		}
		proof, err := tlog.ProveTree(int64(b.Size), int64(a.Size), thr)
		if err == nil {
			err = tlog.CheckTree(proof, int64(b.Size), b.Root, int64(a.Size), a.Root)
		}
		if err != nil {
			r.add(what, "is not consistent with the checkpoint of size %d: %v", b.Size, err)
		}
	}
	for k, err := range ledger.History(ctx, history, v) {
		if err != nil {
			r.add("checkpoint history", "%v", err)
			continue
		}
		r.Checkpoints++
		if prev != nil {
			consistent(*prev, k.Checkpoint)
		}
		prev = &k.Checkpoint
	}
	if prev != nil {
		consistent(*prev, current)
	}
}

// rootOf computes the RFC 6962 root of leaf hashes.
func rootOf(leaves []tlog.Hash) (tlog.Hash, error) {
	stored := make([]tlog.Hash, 0, 2*len(leaves))
	for i, l := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), l, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(idx))
			for j, k := range idx {
				out[j] = stored[k]
			}
			return out, nil
		}))
		if err != nil {
			return tlog.Hash{}, err
		}
		stored = append(stored, hs...)
	}
	return tlog.TreeHash(int64(len(leaves)), tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for j, k := range idx {
			out[j] = stored[k]
		}
		return out, nil
	}))
}

// tileReader reads the log's C2SP tiles for the tlog package.
type tileReader struct {
	ctx   context.Context
	tiles ledger.Tiles
}

func (tileReader) Height() int { return 8 }

func (t tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tile := range tiles {
		b, err := t.tiles.ReadResource(t.ctx, "tile/"+strings.TrimPrefix(tile.Path(), "tile/8/"))
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// hashBlob reads a blob once for its SHA-256 and SHA-512, each hashed on
// a core of its own.
func hashBlob(ctx context.Context, s blob.Store, ref blob.Ref) (blob.Ref, string, error) {
	f, err := s.Open(ctx, ref)
	if err != nil {
		return blob.Ref{}, "", err
	}
	defer f.Close()
	h256, h512 := sha256.New(), sha512.New()
	buf := make([]byte, 1<<20)
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			var wg sync.WaitGroup
			wg.Go(func() { h512.Write(buf[:n]) })
			h256.Write(buf[:n])
			wg.Wait()
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return blob.Ref{}, "", err
		}
	}
	return blob.Ref(h256.Sum(nil)), hex.EncodeToString(h512.Sum(nil)), nil
}
