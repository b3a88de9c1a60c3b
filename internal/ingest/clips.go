package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"

	"github.com/sightline/sightline/internal/media"
)

// A clip to look up ("where is this clip from?", package lookup) may be
// too large for one request; it is then sent as a tus upload created
// with Upload-Metadata "purpose lookup" and named to the lookup by its id.
// Such an upload is never evidence: nothing of it is logged, its declared
// metadata is dropped, it must be video or sound no larger than the
// lookup reads, and its length must be declared (no streams). Once
// complete it waits, unchanged, until a lookup takes it (Service.Clip),
// which removes it; one not taken is removed ClipExpireAfter after its
// last byte, as is one left unfinished that long.

// Upload-Metadata naming what an upload is for.
const (
	MetaPurpose   = "purpose"
	PurposeLookup = "lookup"
)

// DefaultClipExpireAfter is how long a clip to look up is kept, finished
// or not, after its last byte, unless configured otherwise.
const DefaultClipExpireAfter = time.Hour

// Errors of Service.Clip.
var (
	// ErrNoClip says no clip to look up has the id: never made, taken
	// already, expired, or an upload of evidence.
	ErrNoClip = errors.New("ingest: no clip to look up has this upload id")
	// ErrClipUnfinished says the clip's upload has not received all its
	// bytes.
	ErrClipUnfinished = errors.New("ingest: the clip's upload is not complete")
)

var errNotClip = tusd.NewError("ERR_UNSUPPORTED_MEDIA_TYPE",
	"a clip to look up must be video or sound; nothing was stored", http.StatusUnsupportedMediaType)

// validateClip checks the creation of an upload with a purpose, and
// returns the metadata to keep (nothing but the purpose).
func (s *Service) validateClip(ev tusd.HookEvent) (map[string]string, error) {
	bad := func(msg string) error { return tusd.NewError("ERR_INVALID_METADATA", msg, http.StatusBadRequest) }
	switch {
	case ev.Upload.MetaData[MetaPurpose] != PurposeLookup:
		return nil, bad("Upload-Metadata: purpose: the only purpose is lookup (a clip to look up); leave it out for evidence")
	case s.uploads.maxClip <= 0:
		return nil, bad("Upload-Metadata: purpose: this server takes no clips to look up by upload")
	case ev.Upload.SizeIsDeferred:
		return nil, bad("a clip to look up needs its Upload-Length")
	case ev.HTTPRequest.Header.Get("Upload-Continues") != "":
		return nil, bad("a clip to look up continues no recording")
	case ev.Upload.Size > s.uploads.maxClip:
		return nil, tusd.NewError("ERR_MAX_SIZE_EXCEEDED", fmt.Sprintf("a clip to look up is at most %d MB", s.uploads.maxClip>>20), http.StatusRequestEntityTooLarge)
	}
	return map[string]string{MetaPurpose: PurposeLookup}, nil
}

// acceptable says whether an upload may hold a file of this format.
func (u *upload) acceptable(f media.Format) bool {
	return !u.st.Clip || f.Kind == media.Video || f.Kind == media.Audio
}

// refused is the error answering a file the upload may not hold.
func (u *upload) refused() error {
	if u.st.Clip {
		return errNotClip
	}
	return errUnsupportedMedia
}

// expiresAt is when an upload in state st is removed if nothing more
// arrives: a clip to look up soon, anything else after the expiry.
func (s *uploads) expiresAt(st uploadState) time.Time {
	if st.Clip {
		return st.Updated.Add(s.clipExpireAfter)
	}
	return st.Updated.Add(s.expireAfter)
}

// Clip is a complete clip to look up, held for its lookup: no one else
// may take it until Close, which removes it.
type Clip struct {
	// Path is the file; Format what its first bytes say it is.
	Path   string
	Format media.Format
	Size   int64
	close  func() error
}

// Close removes the clip and lets go of it.
func (c *Clip) Close() error { return c.close() }

// Clip takes the complete clip to look up uploaded as id. The caller
// must Close it.
func (s *Service) Clip(ctx context.Context, id string) (*Clip, error) {
	if !validID(id) {
		return nil, ErrNoClip
	}
	lock, err := s.locker.NewLock(id)
	if err != nil {
		return nil, err
	}
	if err := lock.Lock(ctx, func() {}); err != nil {
		return nil, err
	}
	up, err := s.uploads.GetUpload(ctx, id)
	if err != nil {
		lock.Unlock()
		if errors.Is(err, tusd.ErrNotFound) || errors.Is(err, errExpired) {
			return nil, ErrNoClip
		}
		return nil, err
	}
	u := up.(*upload)
	switch {
	case !u.st.Clip:
		lock.Unlock()
		return nil, ErrNoClip
	case !u.st.Ready:
		lock.Unlock()
		return nil, ErrClipUnfinished
	}
	path, done, err := s.uploads.spool.file(ctx, &u.st)
	if err != nil {
		lock.Unlock()
		return nil, err
	}
	return &Clip{Path: path, Format: *u.st.Format, Size: u.st.Info.Size, close: func() error {
		defer lock.Unlock()
		done()
		return u.Terminate(context.WithoutCancel(ctx))
	}}, nil
}

// readyClip marks a complete clip as waiting for its lookup.
func (u *upload) readyClip(ctx context.Context) error {
	u.st.Ready, u.st.Updated = true, u.s.now()
	return u.save(ctx)
}
