package verify

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// PackageResult is what checking an evidence package found: a line per
// item, and the problems that are about no one item.
type PackageResult struct {
	Top        string
	Checkpoint Checkpoint
	Items      []ItemResult
	// Problems are about the package as a whole: its bag, its log files,
	// an entry about no item it lists.
	Problems []string
}

// ItemResult is one item's verdict: OK when Problems is empty.
type ItemResult struct {
	ID       string
	Original string // its file, under data/
	Events   int    // entries about it, each proved
	Problems []string
}

// OK reports whether every check held.
func (r PackageResult) OK() bool {
	if len(r.Problems) > 0 || len(r.Items) == 0 {
		return false
	}
	for _, it := range r.Items {
		if len(it.Problems) > 0 {
			return false
		}
	}
	return true
}

// ErrNotPackage says the file is not an evidence package at all (not a
// zip, no top folder, no items list); a package that is one but fails
// its checks is reported in its PackageResult instead.
var ErrNotPackage = errors.New("not an evidence package")

// maxSmall bounds each file Package reads whole (the lists, the proofs,
// the report); originals and copies are streamed.
const maxSmall = 256 << 20

// Package checks an evidence package, offline, against the log's verifier
// key: that the bag is complete and valid (every manifest line holds,
// nothing in data/ is unlisted, the tag manifest holds, the Payload-Oxum
// counts the payload); that each original is the file its "received"
// entry names and each copy the file its "derived" entry names; that
// every receipt verifies against key and the package's checkpoint; that
// the earlier checkpoints are consistent with it; and that events.csv and
// the report agree with entries.jsonl.
func Package(r io.ReaderAt, size int64, key string) (PackageResult, error) {
	var res PackageResult
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrNotPackage, err)
	}
	c := &pkgCheck{res: &res, key: key, files: map[string]*zip.File{}, owner: map[string]int{}, sums: map[string][2]string{}}
	for _, f := range zr.File {
		top, rest, ok := strings.Cut(f.Name, "/")
		if !ok || rest == "" || strings.HasSuffix(rest, "/") {
			c.fail(-1, "%s: not a file inside the bag's folder", f.Name)
			continue
		}
		if res.Top == "" {
			res.Top = top
		} else if top != res.Top {
			c.fail(-1, "%s: outside the bag's folder %s", f.Name, res.Top)
			continue
		}
		if c.files[rest] != nil {
			c.fail(-1, "%s: twice in the zip", rest)
		}
		// Sightline stores files as they are; a file that inflates a
		// thousandfold is not one it wrote, and is not read (a zip bomb).
		if f.UncompressedSize64 > 1000*f.CompressedSize64+1<<20 {
			c.fail(-1, "%s: inflates %d bytes to %d: not read", rest, f.CompressedSize64, f.UncompressedSize64)
			continue
		}
		c.files[rest] = f
	}
	itemsJSON, err := c.read("data/" + PackageItems)
	if err != nil {
		return res, fmt.Errorf("%w: %v", ErrNotPackage, err)
	}
	var items []PackageItem
	if err := strict(itemsJSON, &items); err != nil {
		return res, fmt.Errorf("%w: %s: %v", ErrNotPackage, PackageItems, err)
	}
	for i, it := range items {
		res.Items = append(res.Items, ItemResult{ID: it.ID, Original: it.Original})
		for _, p := range []string{it.Original, PackageReceipts + it.ID + ".tlog-proof"} {
			c.owner["data/"+p] = i
		}
		for _, d := range it.Derived {
			c.owner["data/"+d.Path] = i
		}
	}
	c.bag()
	v := c.checkpoint(key)
	entries := c.entries(items, v)
	c.items(items, entries, v)
	c.events(entries)
	if v != nil {
		c.earlier(v)
	}
	return res, nil
}

type pkgCheck struct {
	res   *PackageResult
	files map[string]*zip.File // by path under the top folder
	owner map[string]int       // payload path → item
	sums  map[string][2]string // payload path → SHA-256, SHA-512 of its bytes
	cp    []byte               // log/checkpoint as the package has it
	key   string
	keyOK bool // key is a verifier key: receipts are checked with it
}

// fail notes a problem of item i (-1: of the package).
func (c *pkgCheck) fail(i int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if i < 0 {
		c.res.Problems = append(c.res.Problems, msg)
		return
	}
	c.res.Items[i].Problems = append(c.res.Items[i].Problems, msg)
}

// failFile notes a problem with a file, on its item if it has one.
func (c *pkgCheck) failFile(name string, format string, args ...any) {
	i, ok := c.owner[name]
	if !ok {
		i = -1
	}
	c.fail(i, format, args...)
}

// read reads a small file whole.
func (c *pkgCheck) read(name string) ([]byte, error) {
	f := c.files[name]
	if f == nil {
		return nil, fmt.Errorf("%s is missing", name)
	}
	if f.UncompressedSize64 > maxSmall {
		return nil, fmt.Errorf("%s is over %d MiB", name, maxSmall>>20)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxSmall))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return b, nil
}

// bag checks the bag by RFC 8493: bagit.txt, both manifests against the
// payload's bytes (each file hashed once), no unlisted payload, the tag
// manifest, the Payload-Oxum.
func (c *pkgCheck) bag() {
	if b, err := c.read("bagit.txt"); err != nil || !strings.HasPrefix(string(b), "BagIt-Version: 1.0\n") {
		c.fail(-1, "bagit.txt is missing or not BagIt 1.0")
	}
	var octets, count int64
	for name, f := range c.files {
		if !strings.HasPrefix(name, "data/") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			c.failFile(name, "%s: %v", name, err)
			continue
		}
		h256, h512 := sha256.New(), sha512.New()
		n, err := io.Copy(io.MultiWriter(h256, h512), rc)
		rc.Close()
		if errors.Is(err, zip.ErrChecksum) {
			c.failFile(name, "%s: its bytes changed after it was zipped (CRC-32 fails)", name)
		} else if err != nil {
			c.failFile(name, "%s: %v", name, err)
		}
		c.sums[name] = [2]string{hex.EncodeToString(h256.Sum(nil)), hex.EncodeToString(h512.Sum(nil))}
		octets += n
		count++
	}
	for k, m := range []string{"manifest-sha256.txt", "manifest-sha512.txt"} {
		listed := c.manifest(m, func(name string) (string, bool) { s, ok := c.sums[name]; return s[k], ok })
		for name := range c.sums {
			if !listed[name] {
				c.failFile(name, "%s is in data/ but not in %s (a file added?)", name, m)
			}
		}
	}
	c.manifest("tagmanifest-sha256.txt", func(name string) (string, bool) {
		if strings.HasPrefix(name, "data/") || strings.HasPrefix(name, "tagmanifest-") {
			return "", false
		}
		b, err := c.read(name)
		if err != nil {
			return "", false
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:]), true
	})
	info, err := c.read("bag-info.txt")
	if want := fmt.Sprintf("Payload-Oxum: %d.%d\n", octets, count); err != nil || !bytes.Contains(info, []byte(want)) {
		c.fail(-1, "bag-info.txt: its Payload-Oxum does not count the payload (%d bytes in %d files)", octets, count)
	}
}

// manifest checks each line of a manifest against sum and returns the
// paths it lists.
func (c *pkgCheck) manifest(name string, sum func(path string) (string, bool)) map[string]bool {
	listed := map[string]bool{}
	b, err := c.read(name)
	if err != nil {
		c.fail(-1, "%v", err)
		return listed
	}
	for n, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		want, p, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
		p = strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(p)
		if !ok || !strings.HasSuffix(line, "\n") || path.Clean(p) != p {
			c.fail(-1, "%s line %d is malformed", name, n+1)
			continue
		}
		listed[p] = true
		got, ok := sum(p)
		switch {
		case !ok:
			c.failFile(p, "%s line %d lists %s, which is not in the bag", name, n+1, p)
		case got != want:
			c.failFile(p, "%s line %d: %s does not hash to %s…", name, n+1, p, want[:min(16, len(want))])
		}
	}
	return listed
}

// checkpoint opens log/checkpoint with key, and notes a key in the
// package that is not the one given.
func (c *pkgCheck) checkpoint(key string) note.Verifier {
	if k, err := c.read("data/" + PackageKey); err == nil && strings.TrimSpace(string(k)) != key {
		c.fail(-1, "%s is not the key given: the package's own key proves nothing; check with its operator's", PackageKey)
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		c.fail(-1, "the key given is not a note verifier key: %v", err)
		return nil
	}
	c.keyOK = true
	c.cp, err = c.read("data/" + PackageCheckpoint)
	if err != nil {
		c.fail(-1, "%v", err)
		return nil
	}
	cp, err := OpenCheckpoint(c.cp, v)
	if err != nil {
		c.fail(-1, "%s: %v", PackageCheckpoint, err)
		return nil
	}
	c.res.Checkpoint = cp
	return v
}

// pkgEntry is a line of entries.jsonl, read.
type pkgEntry struct {
	PackageEntry
	Event
	item int // -1: about no item of the package
}

// entries reads entries.jsonl and proves each entry with its receipt.
func (c *pkgCheck) entries(items []PackageItem, v note.Verifier) []pkgEntry {
	byID := map[string]int{}
	for i, it := range items {
		byID[it.ID] = i
	}
	b, err := c.read("data/" + PackageEntries)
	if err != nil {
		c.fail(-1, "%v", err)
		return nil
	}
	var out []pkgEntry
	proved := map[string]bool{}
	for n, line := range bytes.SplitAfter(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e pkgEntry
		if err := strict(line, &e.PackageEntry); err != nil {
			c.fail(-1, "%s line %d: %v", PackageEntries, n+1, err)
			continue
		}
		if len(out) > 0 && e.Index <= out[len(out)-1].Index {
			c.fail(-1, "%s line %d: index %d is not after the line before's (log order)", PackageEntries, n+1, e.Index)
		}
		ev, err := ParseEntry(string(e.Entry))
		if err != nil {
			c.fail(-1, "%s line %d: %v", PackageEntries, n+1, err)
			continue
		}
		e.Event = ev
		i, ok := byID[ev.Evidence.ID]
		if !ok {
			c.fail(-1, "%s line %d: entry %d is about %s, which the package does not list", PackageEntries, n+1, e.Index, ev.Evidence.ID)
			i = -1
		}
		e.item = i
		out = append(out, e)
		name := PackageReceipts + "events/" + strconv.FormatUint(e.Index, 10) + ".tlog-proof"
		proved["data/"+name] = true
		if i >= 0 {
			c.owner["data/"+name] = i
			c.res.Items[i].Events++
		}
		c.proof(i, name, string(e.Entry), e.Index, v)
	}
	for name := range c.files {
		if strings.HasPrefix(name, "data/"+PackageReceipts+"events/") && !proved[name] {
			c.failFile(name, "%s proves an entry that %s lacks (an entry dropped?)", strings.TrimPrefix(name, "data/"), PackageEntries)
		}
	}
	return out
}

// proof checks the receipt at name (under data/) for the entry at index.
func (c *pkgCheck) proof(i int, name, entry string, index uint64, v note.Verifier) {
	b, err := c.read("data/" + name)
	if err != nil {
		c.fail(i, "entry %d has no receipt: %v", index, err)
		return
	}
	r, err := Parse(b)
	if err != nil {
		c.fail(i, "%s: %v", name, err)
		return
	}
	switch {
	case r.Entry != entry || r.Index != index:
		c.fail(i, "%s proves another entry than %s's at index %d", name, PackageEntries, index)
		return
	case v != nil && !bytes.Equal([]byte(r.Checkpoint), c.cp):
		// (When log/checkpoint itself fails, that is reported once, and
		// each receipt is checked against the key on its own.)
		c.fail(i, "%s is against another checkpoint than %s", name, PackageCheckpoint)
		return
	}
	if !c.keyOK {
		return
	}
	if _, err := Check(r, c.key); err != nil {
		c.fail(i, "%s: %v", name, err)
	}
}

// items checks each item's original and copies against the entries that
// name them.
func (c *pkgCheck) items(items []PackageItem, entries []pkgEntry, v note.Verifier) {
	at := map[uint64]pkgEntry{}
	for _, e := range entries {
		at[e.Index] = e
	}
	for i, it := range items {
		orig := "data/" + it.Original
		if !strings.HasPrefix(it.Original, PackageOriginals) || path.Clean(it.Original) != it.Original {
			c.fail(i, "its original's path %q is not under %s", it.Original, PackageOriginals)
		}
		got, ok := c.sums[orig]
		if !ok {
			c.fail(i, "its original %s is missing", it.Original)
		}
		rec, ok2 := at[it.ReceivedIndex]
		switch {
		case !ok2:
			c.fail(i, "its received entry %d is not in %s", it.ReceivedIndex, PackageEntries)
		case rec.Type != "received" || rec.Evidence.ID != it.ID:
			c.fail(i, "entry %d is not its received entry", it.ReceivedIndex)
		case rec.Evidence.SHA256 != it.SHA256 || rec.Details["size"] != strconv.FormatInt(it.Size, 10):
			c.fail(i, "%s gives another SHA-256 or size than its received entry %d", PackageItems, it.ReceivedIndex)
		case ok && got[0] != rec.Evidence.SHA256:
			c.fail(i, "its original's SHA-256 is %s, its received entry %d names %s", got[0], it.ReceivedIndex, rec.Evidence.SHA256)
		}
		if ok2 {
			c.proof(i, PackageReceipts+it.ID+".tlog-proof", string(rec.Entry), it.ReceivedIndex, v)
		}
		for _, d := range it.Derived {
			e, ok := at[d.Index]
			got, have := c.sums["data/"+d.Path]
			switch {
			case !strings.HasPrefix(d.Path, PackageCopies) || path.Clean(d.Path) != d.Path:
				c.fail(i, "its %s copy's path %q is not under %s", d.Kind, d.Path, PackageCopies)
			case !have:
				c.fail(i, "its %s copy %s is missing", d.Kind, d.Path)
			case !ok || e.Type != "derived" || e.Evidence.ID != it.ID || e.Details["kind"] != d.Kind:
				c.fail(i, "its %s copy's entry %d is not a derived entry about it in %s", d.Kind, d.Index, PackageEntries)
			case e.Details["sha256"] != got[0] || d.SHA256 != got[0]:
				c.fail(i, "its %s copy %s is not the file its derived entry %d names", d.Kind, d.Path, d.Index)
			}
		}
	}
}

// events checks events.csv and the report against entries.jsonl.
func (c *pkgCheck) events(entries []pkgEntry) {
	b, err := c.read("data/" + PackageEvents)
	if err != nil {
		c.fail(-1, "%v", err)
		return
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) == 0 || !slices.Equal(rows[0], EventsHeader) {
		c.fail(-1, "%s is not the events table (%v)", PackageEvents, err)
		return
	}
	byIndex := map[string]pkgEntry{}
	for _, e := range entries {
		byIndex[strconv.FormatUint(e.Index, 10)] = e
	}
	seen := map[string]bool{}
	for n, row := range rows[1:] {
		e, ok := byIndex[row[0]]
		if !ok {
			c.fail(-1, "%s row %d is entry %s, which %s lacks (an entry dropped?)", PackageEvents, n+2, row[0], PackageEntries)
			continue
		}
		seen[row[0]] = true
		want := EventRow(e.Index, e.Event, row[len(row)-1])
		for k := range want {
			if row[k] != want[k] {
				c.fail(e.item, "%s row %d (entry %d): its %s is %q, the entry's %q", PackageEvents, n+2, e.Index, EventsHeader[k], row[k], want[k])
				break
			}
		}
	}
	for _, e := range entries {
		if !seen[strconv.FormatUint(e.Index, 10)] {
			c.fail(e.item, "%s has no row for entry %d (an event dropped?)", PackageEvents, e.Index)
		}
	}
	// The two files' SHA-256, as bag hashed them.
	subject := pdfSubject(ReportSubject(c.sums["data/"+PackageEntries][0], c.sums["data/"+PackageEvents][0]))
	report, err := c.read("data/" + PackageReport)
	if err != nil || !bytes.Contains(report, []byte(subject)) {
		c.fail(-1, "%s was not made from this %s and %s", PackageReport, PackageEntries, PackageEvents)
	}
}

// earlier checks each earlier checkpoint in log/ and its consistency
// proof to the package's checkpoint.
func (c *pkgCheck) earlier(v note.Verifier) {
	for name := range c.files {
		size, ok := strings.CutPrefix(name, "data/"+PackageEarlier)
		if !ok {
			continue
		}
		b, err := c.read(name)
		if err != nil {
			c.fail(-1, "%v", err)
			continue
		}
		old, err := OpenCheckpoint(b, v)
		if err != nil || strconv.FormatUint(old.Size, 10) != size {
			c.fail(-1, "%s: not a checkpoint of size %s signed by the key (%v)", strings.TrimPrefix(name, "data/"), size, err)
			continue
		}
		p, err := c.read("data/" + PackageConsistency + size)
		if err != nil {
			c.fail(-1, "the checkpoint of size %s has no consistency proof: %v", size, err)
			continue
		}
		hashes, err := decodeHashes(strings.Fields(string(p)), "consistency proof")
		if err == nil {
			err = tlog.CheckTree(tlog.TreeProof(hashes), int64(c.res.Checkpoint.Size), c.res.Checkpoint.Root, int64(old.Size), old.Root)
		}
		if err != nil {
			c.fail(-1, "%s%s: the log's checkpoint of size %d is not proved consistent with it: %v", PackageConsistency, size, c.res.Checkpoint.Size, err)
		}
	}
}
