package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media"
)

// Errors sent to tus clients, in tusd's form so that its handler writes them.
var (
	errUnsupportedMedia = tusd.NewError("ERR_UNSUPPORTED_MEDIA_TYPE",
		"this file is not video, audio or a still image; nothing was stored", http.StatusUnsupportedMediaType)
	errChecksumMismatch = tusd.NewError("ERR_CHECKSUM_MISMATCH",
		"the chunk does not match its Upload-Checksum; it was discarded, resend it", 460)
	errDigestMismatch = tusd.NewError("ERR_DIGEST_MISMATCH",
		"the upload's SHA-256 differs from its Repr-Digest; nothing was stored, upload the file again", 460)
	errExpired = tusd.NewError("ERR_UPLOAD_EXPIRED",
		"this upload expired after a long silence; start a new one", http.StatusGone)
	// errKeptPartial answers bytes for a stream that fell silent and was
	// kept as partial evidence: they are not thrown away in silence; the
	// client sends the rest as a new upload that continues it.
	errKeptPartial = tusd.NewError("ERR_KEPT_AS_PARTIAL",
		"this recording fell silent and was kept as partial evidence with what had arrived; send the rest as a new upload with the header Upload-Continues: <this upload's id>", http.StatusGone)
)

// uploads is the tusd data store: it keeps each upload in progress in its
// spool, as a state (uploadState) and the bytes received so far.
//
// The state records the acknowledged offset and the SHA-256 of the bytes
// before it, as the hash's own serialized state, so hashing resumes where
// it stopped without re-reading the bytes. The state is written after the
// bytes are durable; bytes past the recorded offset (never acknowledged)
// are dropped before the upload is next written. A crash therefore leaves
// every upload at an offset whose bytes are kept and hashed.
type uploads struct {
	spool spool
	// checkpointEvery is how many bytes a long PATCH without a checksum may
	// receive between durable checkpoints.
	checkpointEvery int64
	// maxSize bounds every upload, streams (whose length is not known
	// until they end) included; 0 means no bound.
	maxSize int64
	// expireAfter is how long an unfinished upload may stay silent; also how
	// long a finished upload answers HEAD before it is forgotten.
	expireAfter time.Duration
	// clipExpireAfter is how long a clip to look up is kept after its
	// last byte; maxClip the largest (0: none taken).
	clipExpireAfter time.Duration
	maxClip         int64
	// finish turns a complete upload into evidence and returns its id. It
	// must be idempotent: it runs again after a crash.
	finish func(ctx context.Context, u *upload) (string, error)
	now    func() time.Time
	// streams are the streamed uploads not yet evidence.
	streams streamSet
	// writing counts the requests writing now; received the bytes
	// acknowledged.
	writing  prometheus.Gauge
	received prometheus.Counter
}

var (
	_ tusd.DataStore               = (*uploads)(nil)
	_ tusd.TerminaterDataStore     = (*uploads)(nil)
	_ tusd.LengthDeferrerDataStore = (*uploads)(nil)
)

// uploadState is the durable record of one upload.
type uploadState struct {
	Info   tusd.FileInfo `json:"info"`
	Hash   []byte        `json:"hash"`             // sha256 state after Info.Offset bytes
	Format *media.Format `json:"format,omitempty"` // once the first bytes were recognised
	// Received is the custody event recording that this upload became
	// evidence, prepared and saved before it is appended, so that after a
	// crash the same bytes are looked for (from LogFrom on) or appended,
	// never logged twice.
	Received []byte `json:"received,omitempty"`
	LogFrom  uint64 `json:"log_from,omitempty"`
	// Expect is the SHA-256 the client declared for the whole file
	// (Repr-Digest), if it did.
	Expect  []byte    `json:"expect,omitempty"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// EvidenceID is the id the evidence will have, fixed at creation so that
	// the partial events of a stream name it before it exists.
	EvidenceID string `json:"evidence_id,omitempty"`
	// Stream marks an upload created without a length (a recording sent
	// while it is made): it is logged as it grows, and finalized as partial
	// evidence if its sender falls silent (see stream.go).
	Stream bool `json:"stream,omitempty"`
	// Partial marks a stream finalized after a silence: its length is what
	// arrived.
	Partial bool `json:"partial,omitempty"`
	// Continues is the partial evidence whose recording this upload goes
	// on with (Upload-Continues at creation); its format is that one's,
	// for its first bytes are the middle of a recording.
	Continues string `json:"continues,omitempty"`
	// Evidence is set once the upload is evidence. The state then stays as
	// a tombstone, so that a client asking again learns it is complete.
	Evidence string `json:"evidence,omitempty"`
	// Clip marks a clip to look up (clips.go): never evidence. Ready is
	// set once it is complete and checked, waiting for its lookup.
	Clip  bool `json:"clip,omitempty"`
	Ready bool `json:"ready,omitempty"`
	// Parts and Tail say where a shared spool keeps the bytes in its
	// bucket (sharedSpool): whole parts in order, then the rest.
	Parts []string `json:"parts,omitempty"`
	Tail  string   `json:"tail,omitempty"`
	// staleTail is the tail a sync replaced, removed once the state that
	// no longer names it is saved.
	staleTail string
}

// newUploadID returns 128 random bits in hex: the upload id is the
// uploader's capability, so it must not be guessable.
func newUploadID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

func (s *uploads) NewUpload(ctx context.Context, info tusd.FileInfo) (tusd.Upload, error) {
	info.ID = newUploadID()
	info.Offset = 0
	info.Storage = nil
	h, err := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &upload{s: s, st: uploadState{Info: info, Hash: h, Created: now, Updated: now, Stream: info.SizeIsDeferred}}
	if u.st.Clip = info.MetaData[MetaPurpose] == PurposeLookup; !u.st.Clip {
		u.st.EvidenceID = evidence.NewID()
	}
	u.st.Expect, _ = ctx.Value(reprDigestKey{}).([]byte)
	if c, ok := ctx.Value(continuesKey{}).(uploadState); ok {
		u.st.Continues, u.st.Format = c.Evidence, c.Format
	}
	if err := s.spool.create(ctx, &u.st); err != nil {
		return nil, err
	}
	if u.st.Stream {
		s.streams.saw(u.id(), 0, u.st.Updated)
	}
	return u, nil
}

func (s *uploads) GetUpload(ctx context.Context, id string) (tusd.Upload, error) {
	u, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if u.st.Evidence == "" && !u.st.Ready && u.complete() {
		// A crash or a failure came between the last byte and the evidence
		// record. Finish now, so that no client hears "complete" before the
		// evidence exists.
		if err := u.FinishUpload(ctx); err != nil {
			return nil, err
		}
	}
	if u.st.Evidence == "" && s.now().After(s.expiresAt(u.st)) {
		return nil, errExpired
	}
	return u, nil
}

// readState reads an upload's saved state, changing nothing.
func (s *uploads) readState(ctx context.Context, id string) (uploadState, error) {
	if !validID(id) {
		return uploadState{}, tusd.ErrNotFound
	}
	return s.spool.read(ctx, id)
}

// load reads an upload's state and drops any bytes received after it was
// last saved. The caller must hold the upload's lock.
func (s *uploads) load(ctx context.Context, id string) (*upload, error) {
	st, err := s.readState(ctx, id)
	if err != nil {
		return nil, err
	}
	u := &upload{s: s, st: st}
	if u.st.Evidence == "" {
		if err := s.spool.prepare(ctx, &u.st); err != nil {
			return nil, err
		}
		if u.st.Stream {
			s.streams.saw(id, u.st.Info.Offset, u.st.Updated)
		}
	}
	return u, nil
}

func (s *uploads) AsTerminatableUpload(up tusd.Upload) tusd.TerminatableUpload { return up.(*upload) }
func (s *uploads) AsLengthDeclarableUpload(up tusd.Upload) tusd.LengthDeclarableUpload {
	return up.(*upload)
}

// upload is one upload in progress, as loaded for one request.
type upload struct {
	s  *uploads
	st uploadState
}

func (u *upload) id() string { return u.st.Info.ID }

func (u *upload) complete() bool {
	return !u.st.Info.SizeIsDeferred && u.st.Info.Offset == u.st.Info.Size
}

func (u *upload) save(ctx context.Context) error {
	if err := u.s.spool.save(ctx, &u.st); err != nil {
		return err
	}
	if u.st.Stream && u.st.Evidence == "" {
		u.s.streams.saw(u.id(), u.st.Info.Offset, u.st.Updated)
	}
	return nil
}

func (u *upload) GetInfo(ctx context.Context) (tusd.FileInfo, error) { return u.st.Info, nil }

func (u *upload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	return nil, tusd.ErrNotImplemented
}

// hasher returns the running SHA-256 of the acknowledged bytes.
func (u *upload) hasher() (hash.Hash, error) {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.st.Hash); err != nil {
		return nil, fmt.Errorf("ingest: upload %s: hash state: %w", u.id(), err)
	}
	return h, nil
}

// sum returns the SHA-256 of the bytes received so far.
func (u *upload) sum() (blob.Ref, error) {
	h, err := u.hasher()
	if err != nil {
		return blob.Ref{}, err
	}
	return blob.Ref(h.Sum(nil)), nil
}

// WriteChunk appends src at offset. The bytes are hashed as they are
// written; the new offset is durable (data fsynced, then state saved)
// before it returns. A chunk sent with Upload-Checksum is all or nothing.
func (u *upload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	if offset != u.st.Info.Offset {
		return 0, tusd.ErrMismatchOffset
	}
	sum, _ := ctx.Value(checksumKey{}).(*checksum)
	// tusd bounds a stream's PATCH by its Content-Length, not by the
	// largest upload: a stream is cut off here at maxSize.
	over := false
	if u.s.maxSize > 0 && u.st.Info.SizeIsDeferred {
		src = &capReader{r: src, left: u.s.maxSize - offset, over: &over}
	}
	if d, ok := ctx.Value(reprDigestKey{}).([]byte); ok {
		u.st.Expect = d // saved with the chunk's commit
	}

	// Recognise the file by its first bytes before any of them are kept.
	if u.st.Format == nil {
		head, err := u.sniffHead(ctx, &src)
		if err != nil {
			return 0, err
		}
		if head != nil {
			format, ok := media.Sniff(head)
			if !ok || !u.acceptable(format) {
				if err := u.Terminate(ctx); err != nil {
					return 0, err
				}
				return 0, u.refused()
			}
			u.st.Format = &format
		}
	}

	h, err := u.hasher()
	if err != nil {
		return 0, err
	}
	var chunkHash hash.Hash
	if sum != nil {
		chunkHash = sum.newHash()
	}
	u.s.writing.Inc()
	defer u.s.writing.Dec()
	if err := acquireWriter(ctx); err != nil {
		return 0, err
	}
	sk, err := u.s.spool.sink(ctx, &u.st)
	if err != nil {
		<-writeSlots
		return 0, err
	}
	defer sk.close()
	w := newChunkWriter(sk, h, chunkHash)
	defer w.close()
	var written int64
	for {
		buf, rerr := w.fill(src)
		if len(buf) > 0 {
			if err := w.write(buf); err != nil {
				return u.abandon(ctx, w, offset, err)
			}
			written += int64(len(buf))
			// Long PATCHes save their progress now and then, unless the
			// chunk must be verified as a whole.
			if sum == nil && w.sinceCheckpoint >= u.s.checkpointEvery {
				if err := u.commit(ctx, offset+written, w); err != nil {
					return u.abandon(ctx, w, offset, err)
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			// tusd's body reader reports client errors itself; keep what
			// arrived unless it cannot be verified.
			if sum != nil {
				return u.abandon(ctx, w, offset, rerr)
			}
			break
		}
	}
	w.flush()
	if over {
		return u.abandon(ctx, w, offset, tusd.ErrMaxSizeExceeded)
	}
	if sum != nil && !bytes.Equal(w.chunk.Sum(nil), sum.want) {
		return u.abandon(ctx, w, offset, errChecksumMismatch)
	}
	if err := u.commit(ctx, offset+written, w); err != nil {
		return u.abandon(ctx, w, offset, err)
	}
	return written, nil
}

// capReader yields at most left bytes of r, and notes when r had more.
type capReader struct {
	r    io.Reader
	left int64
	over *bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One byte more than allowed means the stream is too long.
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			*c.over = true
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// sniffHead makes sure the first media.SniffLen bytes of the upload (or
// all of it, if shorter) can be looked at. It reads what it needs from
// *src, then replaces *src with a reader that yields those bytes again. It
// returns nil if the upload has not got far enough to decide.
func (u *upload) sniffHead(ctx context.Context, src *io.Reader) ([]byte, error) {
	off := u.st.Info.Offset
	prefix := []byte{}
	if off > 0 {
		var err error
		if prefix, err = u.s.spool.head(ctx, &u.st, off); err != nil {
			return nil, err
		}
	}
	want := int64(media.SniffLen) - off
	if !u.st.Info.SizeIsDeferred {
		want = min(want, u.st.Info.Size-off)
	}
	more := make([]byte, max(want, 0))
	n, err := io.ReadFull(*src, more)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	more = more[:n]
	*src = io.MultiReader(bytes.NewReader(more), *src)
	head := append(prefix, more...)
	if len(head) >= media.SniffLen || !u.st.Info.SizeIsDeferred && int64(len(head)) == u.st.Info.Size {
		return head, nil
	}
	return nil, nil
}

// commit makes the first end bytes durable and records them as received.
func (u *upload) commit(ctx context.Context, end int64, w *chunkWriter) error {
	w.flush()
	h, err := w.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return err
	}
	prev := u.st
	if err := w.sink.sync(ctx, &u.st); err != nil {
		u.st = prev
		return err
	}
	u.st.Info.Offset, u.st.Hash, u.st.Updated = end, h, u.s.now()
	if err := u.save(ctx); err != nil {
		u.st = prev
		return err
	}
	u.s.received.Add(float64(end - prev.Info.Offset))
	w.sinceCheckpoint = 0
	return nil
}

// abandon drops the bytes written since the last saved offset, so the
// bytes of a failed chunk are neither kept nor acknowledged. It reports
// as written the bytes of this request already committed by checkpoints.
func (u *upload) abandon(ctx context.Context, w *chunkWriter, start int64, err error) (int64, error) {
	w.flush()
	if derr := w.sink.discard(context.WithoutCancel(ctx), &u.st); derr != nil {
		err = errors.Join(err, derr)
	}
	return u.st.Info.Offset - start, err
}

func (u *upload) DeclareLength(ctx context.Context, length int64) error {
	if u.s.maxSize > 0 && length > u.s.maxSize {
		return tusd.ErrMaxSizeExceeded
	}
	u.st.Info.Size, u.st.Info.SizeIsDeferred = length, false
	u.st.Updated = u.s.now()
	return u.save(ctx)
}

// FinishUpload hands the complete upload over to become evidence, or
// marks a clip to look up ready. tusd answers the final PATCH only after
// this returns.
func (u *upload) FinishUpload(ctx context.Context) error {
	if u.st.Evidence != "" || u.st.Ready {
		return nil
	}
	if u.st.Format == nil {
		// Shorter than a sniff and sent in pieces, or empty.
		head, err := u.s.spool.head(ctx, &u.st, u.st.Info.Offset)
		if err != nil {
			return err
		}
		format, ok := media.Sniff(head)
		if !ok || !u.acceptable(format) {
			if err := u.Terminate(ctx); err != nil {
				return err
			}
			return u.refused()
		}
		u.st.Format = &format
	}
	if u.st.Expect != nil {
		sum, err := u.sum()
		if err != nil {
			return err
		}
		if !bytes.Equal(sum[:], u.st.Expect) {
			if err := u.Terminate(ctx); err != nil {
				return err
			}
			return errDigestMismatch
		}
	}
	if u.st.Clip {
		return u.readyClip(ctx)
	}
	id, err := u.s.finish(ctx, u)
	if err != nil {
		return err
	}
	// The evidence is durable: keep only a tombstone of the upload.
	u.st.Evidence, u.st.Updated = id, u.s.now()
	u.st.Parts, u.st.Tail = nil, ""
	if err := u.save(ctx); err != nil {
		return err
	}
	u.s.streams.remove(u.id())
	return u.s.spool.drop(ctx, u.id())
}

// Terminate forgets the upload and its bytes. Evidence made from it stays.
func (u *upload) Terminate(ctx context.Context) error {
	u.s.streams.remove(u.id())
	return u.s.spool.remove(ctx, u.id())
}
