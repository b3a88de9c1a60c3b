package web

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/cases"
	"github.com/sightline/sightline/internal/court"
	"github.com/sightline/sightline/internal/derive"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/jobs"
	"github.com/sightline/sightline/internal/ledger"
)

// incidentPackage answers GET /api/v1/incidents/{incident}/package
// ?reason=…: the incident's evidence package (see exportPackage).
func (s *server) incidentPackage(w http.ResponseWriter, r *http.Request) {
	inc, c, ok := s.incident(w, r, access.ExportPackage)
	if !ok {
		return
	}
	ids, err := s.Incidents.Items(r.Context(), inc.ID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.exportPackage(w, r, c, packageOf{kind: "incident", id: inc.ID, label: "Incident " + inc.ID, items: ids,
		subject: func(e *evidence.Event) { e.Incident = inc.ID }})
}

// casePackage answers GET /api/v1/cases/{case}/package?reason=…: the
// case's evidence package, its items those attached to it and those of
// its incidents.
func (s *server) casePackage(w http.ResponseWriter, r *http.Request) {
	k, c, ok := s.kase(w, r, access.ExportPackage)
	if !ok {
		return
	}
	ids := append([]string(nil), k.Evidence...)
	for _, inc := range k.Incidents {
		more, err := s.Incidents.Items(r.Context(), inc)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		ids = append(ids, more...)
	}
	s.exportPackage(w, r, c, packageOf{kind: "case", id: k.ID, label: "Case " + caseLabel(k), items: ids,
		subject: func(e *evidence.Event) { e.Case = k.ID }})
}

func caseLabel(k cases.Case) string {
	if k.Number != "" {
		return k.Number
	}
	return k.ID
}

// packageOf is what a package request is about.
type packageOf struct {
	kind, id, label string
	items           []string
	// subject makes an event about the incident or case itself.
	subject func(*evidence.Event)
}

// exportPackage streams the evidence package of p (court.Build), for a
// caller the table allows to export it. It needs a reason, and the caller
// must be allowed to read every item in it: otherwise the whole request
// is refused, saying how many items, and the refusal is logged. Each read
// is logged about every item before a byte is sent; once the whole
// package has been written, an "exported" event about every item names
// its SHA-256, and only then are its last bytes sent, so a complete
// package never leaves unlogged.
//
// The package is pinned to one checkpoint (the newest, or ?checkpoint=N
// as the Sightline-Checkpoint header of an earlier answer gave it): the
// same request gives the same bytes, so a cut download resumes with Range
// and If-Range.
func (s *server) exportPackage(w http.ResponseWriter, r *http.Request, c caller, p packageOf) {
	items, reason, ok := s.exportable(w, r, c, p)
	if !ok {
		return
	}
	pkg, pin, ok := s.planPackage(w, r, p, items)
	if !ok {
		return
	}
	s.sendPackage(w, r, c, p, items, reason, pkg, pin)
}

// exportable decides an export: the reason it needs, and every item,
// before anything is read or logged as read. A refusal is logged and
// answered.
func (s *server) exportable(w http.ResponseWriter, r *http.Request, c caller, p packageOf) ([]evidence.Item, string, bool) {
	ctx := r.Context()
	reason := strings.TrimSpace(strings.ToValidUTF8(r.URL.Query().Get("reason"), "\uFFFD"))
	if rs := []rune(reason); len(rs) > maxReason {
		reason = string(rs[:maxReason])
	}
	if reason == "" {
		e := decisionEvent(c, access.ExportPackage, access.Decision{Rule: "no reason given"}, "")
		e.Type, e.At = evidence.Denied, evidence.EventTime(s.Now())
		p.subject(&e)
		if _, err := s.record(ctx, e); err != nil {
			s.fail(w, r, err)
			return nil, "", false
		}
		s.problem(w, r, http.StatusBadRequest, "an export needs a reason: add ?reason=…")
		return nil, "", false
	}
	var items []evidence.Item
	var refused []evidence.Event
	seen := map[string]bool{}
	for _, id := range p.items {
		if seen[id] {
			continue
		}
		seen[id] = true
		it, err := s.Evidence.Get(ctx, id)
		if err != nil {
			s.fail(w, r, err)
			return nil, "", false
		}
		f, err := s.facts(ctx, it)
		if err != nil {
			s.fail(w, r, err)
			return nil, "", false
		}
		if d := access.Decide(c.Principal, access.ReadOriginal, f); !d.Allowed {
			e := decisionEvent(c, access.ExportPackage, d, reason)
			e.Type, e.At = evidence.Denied, evidence.EventTime(s.Now())
			e.Evidence = &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256}
			refused = append(refused, e)
			continue
		}
		items = append(items, it)
	}
	for _, e := range refused {
		if _, err := s.record(ctx, e); err != nil {
			s.fail(w, r, err)
			return nil, "", false
		}
	}
	switch {
	case len(refused) > 0:
		s.problem(w, r, http.StatusForbidden, fmt.Sprintf("you may not read %d of the %d items in this %s: nothing was exported", len(refused), len(seen), p.kind))
		return nil, "", false
	case len(items) == 0:
		s.problem(w, r, http.StatusConflict, fmt.Sprintf("this %s holds no items to export", p.kind))
		return nil, "", false
	}
	return items, reason, true
}

// planPackage pins the log and plans the package of items.
func (s *server) planPackage(w http.ResponseWriter, r *http.Request, p packageOf, items []evidence.Item) (*court.Package, *ledger.Pin, bool) {
	ctx := r.Context()
	pin, err := s.pin(ctx, r.URL.Query().Get("checkpoint"))
	switch {
	case errors.Is(err, ledger.ErrNotKept) || errors.Is(err, strconv.ErrSyntax) || errors.Is(err, strconv.ErrRange):
		s.problem(w, r, http.StatusBadRequest, "checkpoint: "+err.Error())
		return nil, nil, false
	case err != nil:
		s.fail(w, r, err)
		return nil, nil, false
	}
	digests := court.Digests{Store: s.Digests, Blobs: s.Blobs}
	src := court.Source{Kind: p.kind, ID: p.id, Label: p.label, Organization: s.Organization, Pin: pin,
		Open:   func(ref blob.Ref) (io.ReadCloser, error) { return s.Blobs.Open(ctx, ref) },
		SHA512: func(ref blob.Ref) (string, error) { return digests.SHA512(ctx, ref) }}
	for _, it := range items {
		if it.ReceivedIndex >= pin.Size {
			s.problem(w, r, http.StatusConflict, "an item arrived after that checkpoint: export without ?checkpoint")
			return nil, nil, false
		}
		o, err := s.packageItem(ctx, it)
		if err != nil {
			s.fail(w, r, err)
			return nil, nil, false
		}
		src.Items = append(src.Items, o)
	}
	pkg, err := court.Build(ctx, src)
	if err != nil {
		s.fail(w, r, err)
		return nil, nil, false
	}
	return pkg, pin, true
}

// sendPackage answers with the package, or the range asked for, logging
// the read before a byte and the whole package before its last bytes.
func (s *server) sendPackage(w http.ResponseWriter, r *http.Request, c caller, p packageOf, items []evidence.Item, reason string, pkg *court.Package, pin *ledger.Pin) {
	ctx := r.Context()
	etag := `"` + pkg.ETag + `"`
	from, to, partial := int64(0), pkg.Length-1, false
	if rg := r.Header.Get("Range"); rg != "" && (r.Header.Get("If-Range") == "" || r.Header.Get("If-Range") == etag) {
		var ok bool
		if from, to, ok = parseRange(rg, pkg.Length); !ok {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", pkg.Length))
			s.problem(w, r, http.StatusRequestedRangeNotSatisfiable, "the package is "+strconv.FormatInt(pkg.Length, 10)+" bytes: ask for one range within it")
			return
		}
		partial = true
	}
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": pkg.Filename}))
	h.Set("Cache-Control", "private, no-store")
	h.Set("Sightline-Checkpoint", strconv.FormatUint(pin.Size, 10))
	h.Set("Content-Length", strconv.FormatInt(to-from+1, 10))
	if r.Method == http.MethodHead {
		return
	}
	treeSize := strconv.FormatUint(pin.Size, 10)
	for _, it := range items {
		e := decisionEvent(c, access.ExportPackage, access.Decision{Allowed: true, Rule: "may read every item"}, reason)
		e.Type, e.At = evidence.Accessed, evidence.EventTime(s.Now())
		e.Evidence = &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256}
		e.Details["tree_size"] = treeSize
		if partial {
			e.Details["span"] = fmt.Sprintf("%d-%d", from, to)
		}
		if _, err := s.record(ctx, e); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, to, pkg.Length))
		w.WriteHeader(http.StatusPartialContent)
	}
	// A package can take long to send: the write deadline of ordinary
	// answers does not apply, the client's pace does.
	http.NewResponseController(w).SetWriteDeadline(time.Time{})
	tail := &holdback{w: w, keep: 64 << 10}
	_, sum, err := pkg.Write(&window{w: tail, skip: from, left: to - from + 1})
	switch {
	case errors.Is(err, errWindowDone):
		tail.release() // a range short of the end: not a whole package
		return
	case err != nil && ctx.Err() != nil:
		return // the client went away: it resumes with Range
	case err != nil:
		// Headers are sent: cut the answer short, so the client sees a
		// broken download rather than a package that is not whole.
		s.Logger.Error("writing an evidence package", "kind", p.kind, "id", p.id, "err", err)
		panic(http.ErrAbortHandler)
	}
	digest := hex.EncodeToString(sum[:])
	for _, it := range items {
		e := evidence.Event{Type: evidence.Exported, Evidence: &evidence.EventSubject{ID: it.ID, SHA256: it.SHA256}, Actor: c.Actor(),
			At: evidence.EventTime(s.Now()), Details: map[string]string{"action": string(access.ExportPackage), "role": c.Role(), "via": c.Via(),
				"package_sha256": digest, "size": strconv.FormatInt(pkg.Length, 10), "tree_size": treeSize}}
		if _, err := s.record(context.WithoutCancel(ctx), e); err != nil {
			s.Logger.Error("logging an export", "kind", p.kind, "id", p.id, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
	tail.release()
}

// pin holds the log at the checkpoint a request names, or the newest.
func (s *server) pin(ctx context.Context, at string) (*ledger.Pin, error) {
	if at == "" {
		return s.Log.Pin(ctx)
	}
	size, err := strconv.ParseUint(at, 10, 64)
	if err != nil {
		return nil, err
	}
	return s.Log.PinAt(ctx, size)
}

// packageItem gathers what a package says of an item: its events, the files
// made from it, and what went wrong with it.
func (s *server) packageItem(ctx context.Context, it evidence.Item) (court.Original, error) {
	o := court.Original{Item: it}
	var err error
	if o.Events, err = s.Custody.Events(ctx, it.ID); err != nil {
		return o, err
	}
	if it.Partial {
		o.Anomalies = append(o.Anomalies, "Partial: the recording was streamed while it was made and its sender fell silent before finishing it; the file holds every byte that arrived.")
	}
	if it.Continues != "" {
		o.Anomalies = append(o.Anomalies, "It continues the partial recording "+it.Continues+": the two files joined, in order, are every byte recorded.")
	}
	if it.Error != "" {
		o.Anomalies = append(o.Anomalies, "Damaged or unreadable media: "+it.Error)
	}
	for _, k := range derive.Kinds {
		if k == derive.Audio || !derive.Needed(it, k) {
			continue // the sound kept for alignment is a working file, not a copy
		}
		f, err := s.Derived.Get(ctx, it.ID, k)
		switch {
		case err == nil:
			o.Derived = append(o.Derived, f)
		case !errors.Is(err, derive.ErrNotFound):
			return o, err
		}
		j, ok, err := s.Jobs.Latest(ctx, string(k), it.ID)
		if err != nil {
			return o, err
		}
		if ok && j.State == jobs.Failed {
			o.Anomalies = append(o.Anomalies, fmt.Sprintf("Making its %s failed: %s", k, j.LastError))
		}
	}
	return o, nil
}

// parseRange reads a Range header of one range of bytes within length.
func parseRange(h string, length int64) (from, to int64, ok bool) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	var err error
	switch {
	case a == "": // the last b bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return 0, 0, false
		}
		return max(0, length-n), length - 1, true
	default:
		if from, err = strconv.ParseInt(a, 10, 64); err != nil || from < 0 || from >= length {
			return 0, 0, false
		}
		to = length - 1
		if b != "" {
			if to, err = strconv.ParseInt(b, 10, 64); err != nil || to < from {
				return 0, 0, false
			}
			to = min(to, length-1)
		}
		return from, to, true
	}
}

// errWindowDone stops writing once a range has been sent.
var errWindowDone = errors.New("range sent")

// window passes on the bytes of a range of what is written to it.
type window struct {
	w          io.Writer
	skip, left int64
}

func (v *window) Write(p []byte) (int, error) {
	n := len(p)
	if v.skip > 0 {
		k := min(v.skip, int64(len(p)))
		v.skip -= k
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if v.left <= 0 {
		return 0, errWindowDone
	}
	k := min(v.left, int64(len(p)))
	if _, err := v.w.Write(p[:k]); err != nil {
		return 0, err
	}
	v.left -= k
	if v.left == 0 && int(k) < len(p) {
		return 0, errWindowDone
	}
	return n, nil
}

// holdback passes on what is written to it but its last keep bytes, until
// release.
type holdback struct {
	w    io.Writer
	keep int
	tail []byte
}

func (h *holdback) Write(p []byte) (int, error) {
	n := len(p)
	over := len(h.tail) + len(p) - h.keep // bytes that may go now
	if over <= 0 {
		h.tail = append(h.tail, p...)
		return n, nil
	}
	if over < len(h.tail) {
		if _, err := h.w.Write(h.tail[:over]); err != nil {
			return 0, err
		}
		h.tail = append(h.tail[:copy(h.tail, h.tail[over:])], p...)
		return n, nil
	}
	// The tail and the start of p go; the last keep bytes of p stay (the
	// bulk of p is written without a copy).
	if _, err := h.w.Write(h.tail); err != nil {
		return 0, err
	}
	cut := over - len(h.tail)
	if _, err := h.w.Write(p[:cut]); err != nil {
		return 0, err
	}
	h.tail = append(h.tail[:0], p[cut:]...)
	return n, nil
}

func (h *holdback) release() {
	h.w.Write(h.tail)
	h.tail = nil
}
