package court

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/sightline/sightline/internal/bag"
	"github.com/sightline/sightline/internal/blob"
)

// DigestStore keeps the SHA-512 of blobs, which BagIt manifests give
// beside the SHA-256 that names them.
type DigestStore interface {
	SHA512(ctx context.Context, ref blob.Ref) (string, bool, error)
	PutSHA512(ctx context.Context, ref blob.Ref, sum string) error
}

// DigestJob is the kind of job that computes an original's SHA-512 after
// intake, so that exporting it reads it once.
const DigestJob = "sha512"

// Digests gives blobs' SHA-512, computing and keeping each once.
type Digests struct {
	Store DigestStore
	Blobs blob.Store
}

// SHA512 returns ref's SHA-512, reading the blob if it was not kept. The
// bytes read must hash to ref: a blob that does not is not digested.
func (d Digests) SHA512(ctx context.Context, ref blob.Ref) (string, error) {
	if sum, ok, err := d.Store.SHA512(ctx, ref); err != nil || ok {
		return sum, err
	}
	f, err := d.Blobs.Open(ctx, ref)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h256, h512 := sha256.New(), sha512.New()
	if _, err := io.Copy(io.MultiWriter(h256, h512), f); err != nil {
		return "", fmt.Errorf("court: digest %s: %w", ref, err)
	}
	if got := hex.EncodeToString(h256.Sum(nil)); got != ref.String() {
		return "", fmt.Errorf("%w: blob %s hashes to %s", bag.ErrChanged, ref, got)
	}
	sum := hex.EncodeToString(h512.Sum(nil))
	return sum, d.Store.PutSHA512(ctx, ref, sum)
}
