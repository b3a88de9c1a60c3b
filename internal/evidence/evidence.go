// Package evidence is the domain of Sightline's evidence items: what a
// submitter declares about a file, what the file itself says, and the
// capabilities that let its submitter read it back. It holds no SQL and no
// HTTP; stores and handlers depend on it, not the reverse.
package evidence

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"iter"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/media"
)

// Item is one submission of one file. The same bytes submitted twice are two
// items sharing one blob. The JSON form is the evidence API's.
type Item struct {
	ID         string    `json:"id"`
	SHA256     blob.Ref  `json:"sha256"`
	Size       int64     `json:"size"`
	Filename   string    `json:"filename"`
	Source     Source    `json:"source"`
	Device     string    `json:"device"`
	Officer    string    `json:"officer"`
	Note       string    `json:"note"`
	ReceivedAt time.Time `json:"received_at"`
	// Partial marks a recording streamed while it was made whose sender fell
	// silent before finishing it: it holds every byte that arrived.
	Partial bool `json:"partial"`
	// Continues names the partial item whose recording this one goes on
	// with: its phone came back after the first part was kept. The two
	// files joined, in order, are every byte recorded.
	Continues string `json:"continues,omitempty"`
	media.Info

	// Uploader is who sent it, as the server established it: empty for a
	// civilian, else the device token's id and scope (unit, device, badge
	// of the officer the camera is issued to).
	Uploader Uploader `json:"uploader,omitzero"`

	// ReceivedIndex is where the custody log holds the item's "received"
	// event.
	ReceivedIndex uint64 `json:"-"`

	// Digests of the capabilities: the secrets themselves are never stored.
	UploadDigest string `json:"-"` // of the tus upload id
	TokenDigest  string `json:"-"` // of the access token
}

var (
	// ErrNotFound is returned for evidence that does not exist, and for
	// evidence the caller may not see: the two must look alike.
	ErrNotFound = errors.New("evidence: not found")
	// ErrExists is returned when an upload has already become evidence.
	ErrExists = errors.New("evidence: upload already stored")
)

// Store persists evidence items.
//
// Durability: Create returns only once the item would survive a power loss.
// Consistency: an item is visible to every reader once Create has returned,
// and never changes afterwards. Concurrency: safe for concurrent use; of two
// Creates with the same UploadDigest exactly one succeeds and the other
// returns ErrExists.
type Store interface {
	Create(ctx context.Context, it Item) error
	// Get returns the item with id, or ErrNotFound.
	Get(ctx context.Context, id string) (Item, error)
	// ByUpload returns the item made from the upload with this digest, or
	// ErrNotFound.
	ByUpload(ctx context.Context, uploadDigest string) (Item, error)
	// All lists every item, oldest first.
	All(ctx context.Context) iter.Seq2[Item, error]
}

// NewID returns a new evidence id: 80 random bits in lower-case base32. Ids
// are not secrets; access tokens are.
func NewID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b))
}

// AccessToken is the capability that lets whoever holds it read one item. It
// is derived from the upload id (itself 128 random bits, known only to the
// uploader), so that the uploader can fetch it again after a lost response
// while the server stores neither secret, only their digests.
func AccessToken(uploadID string) string {
	m := hmac.New(sha256.New, []byte(uploadID))
	m.Write([]byte("sightline evidence access token v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Digest is the form in which secrets (upload ids, tokens) are stored and
// looked up.
func Digest(secret string) string {
	d := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(d[:])
}

// Authorize reports whether token grants access to it, in constant time.
func (it Item) Authorize(token string) bool {
	return token != "" && hmac.Equal([]byte(Digest(token)), []byte(it.TokenDigest))
}
