package ledger

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/transparency-dev/tessera"
	tesseraaws "github.com/transparency-dev/tessera/storage/aws"
	"github.com/transparency-dev/tessera/storage/posix"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/durable"
)

// Tiles reads a log's public resources by their C2SP tlog-tiles path
// ("checkpoint", "tile/0/000", "tile/entries/001.p/5"): what /log/
// serves and what the audit checks. A resource that is not there, or a
// path that names none, is os.ErrNotExist.
type Tiles interface {
	ReadResource(ctx context.Context, path string) ([]byte, error)
}

// Storage is where a log keeps its tiles and how it sequences entries:
// a folder, for one server (Folder), or a bucket and a MySQL-compatible
// database, for several servers appending to one log (Shared).
type Storage interface {
	Tiles
	driver(ctx context.Context) (tessera.Driver, error)
	// minInterval is the least checkpoint interval the driver takes.
	minInterval() time.Duration
	// String names the storage in errors and logs.
	String() string
}

// ResourcePath reports whether p is the path of a log resource: the
// checkpoint or a tile, clean and relative. Anything else is refused
// before it reaches a folder or a bucket.
func ResourcePath(p string) bool {
	if p == "checkpoint" {
		return true
	}
	if !strings.HasPrefix(p, "tile/") || path.Clean(p) != p || strings.Contains(p, "..") {
		return false
	}
	for _, c := range p {
		if !('0' <= c && c <= '9' || c == '/' || c == '.' || c == 'x' || c == 'p' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// Folder keeps a log in a folder, with tessera's POSIX driver: one
// server appends to it.
type Folder string

func (f Folder) String() string { return string(f) }

// ReadResource implements Tiles.
func (f Folder) ReadResource(_ context.Context, p string) ([]byte, error) {
	if !ResourcePath(p) {
		return nil, os.ErrNotExist
	}
	return os.ReadFile(filepath.Join(string(f), filepath.FromSlash(p)))
}

func (Folder) minInterval() time.Duration { return 100 * time.Millisecond }

func (f Folder) driver(ctx context.Context) (tessera.Driver, error) {
	if err := durable.MkdirAll(string(f), 0o755); err != nil {
		return nil, err
	}
	return posix.New(ctx, posix.Config{Path: string(f)})
}

// Shared keeps a log's tiles and entry bundles in an S3 bucket and
// sequences its entries in a MySQL-compatible database, with tessera's
// storage/aws driver as it is upstream: any number of servers append to
// it at once, each integrating and publishing in turn under the
// database's row locks.
type Shared struct {
	bucket aws.Config
	opts   func(*s3.Options)
	client *s3.Client
	name   string // the bucket
	dsn    string
}

// NewShared names a shared log: its resources in the bucket c names, at
// the bucket's root whatever c's prefix (where the blobs are), its
// sequencing in the database dsn (go-sql-driver/mysql form,
// USER[:PASSWORD]@tcp(HOST:PORT)/DB). An empty dsn gives a log that can
// only be read (Tiles), for the audit.
//
// The root, not a prefix: tessera v1.0.4's storage/aws puts its
// BucketPrefix twice on the path it reads back when a conditional write
// finds the object there already (setObjectIfNoneMatch then getObject),
// which is what a server restarted after a crash does with the tile it
// was writing; with a prefix it never gets past that tile. One shared log
// per bucket, then; its keys ("checkpoint", "tile/…") are apart from the
// blobs' ("sha256/…", "scratch/…").
func NewShared(ctx context.Context, c blob.S3Config, dsn string) (*Shared, error) {
	client, cfg, opts, err := c.Client(ctx)
	if err != nil {
		return nil, err
	}
	return &Shared{bucket: cfg, opts: opts, client: client, name: c.Bucket, dsn: dsn}, nil
}

// OpenTiles opens, for reading only, the log where names: its folder, or
// the s3:// URL (blob.ParseS3URL) of the bucket that keeps a shared log's
// tiles.
func OpenTiles(ctx context.Context, where string) (Tiles, error) {
	if !strings.HasPrefix(where, "s3:") {
		return Folder(where), nil
	}
	c, err := blob.ParseS3URL(where)
	if err != nil {
		return nil, err
	}
	return NewShared(ctx, c, "")
}

func (s *Shared) String() string { return "s3://" + s.name }

// ReadResource implements Tiles.
func (s *Shared) ReadResource(ctx context.Context, p string) ([]byte, error) {
	if !ResourcePath(p) {
		return nil, os.ErrNotExist
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.name, Key: aws.String(p)})
	if err != nil {
		var nsk *types.NoSuchKey
		var re *awshttp.ResponseError
		if errors.As(err, &nsk) || errors.As(err, &re) && re.HTTPStatusCode() == 404 {
			return nil, os.ErrNotExist
		}
		return nil, fmt.Errorf("ledger: read %s: %w", p, err)
	}
	defer out.Body.Close()
	// Tiles are at most 8 KiB, bundles of 256 entries a few hundred.
	b, err := io.ReadAll(io.LimitReader(out.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("ledger: read %s: %w", p, err)
	}
	return b, nil
}

// minInterval: tessera's storage/aws publishes at most once a second.
func (*Shared) minInterval() time.Duration { return time.Second }

func (s *Shared) driver(ctx context.Context) (tessera.Driver, error) {
	if s.dsn == "" {
		return nil, errors.New("ledger: a shared log needs its sequencing database (--log-db) to append")
	}
	return tesseraaws.New(ctx, tesseraaws.Config{SDKConfig: &s.bucket, S3Options: s.opts, Bucket: s.name, DSN: s.dsn})
}
