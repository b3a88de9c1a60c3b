package blob

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3 is a Store in a bucket of an S3-compatible object store (AWS S3, Ceph,
// an on-premises gateway):
//
//	PREFIX/sha256/ab/abcdef…   one object per blob, as in Local
//
// Every write is conditional (If-None-Match: *), so an object, once there,
// is never replaced; a Put whose condition fails finds the blob already
// stored. A single-request Put sends the blob's SHA-256 as its checksum,
// so the server refuses bytes that changed on the way. Content is hashed
// before anything is sent: a blob of the wrong bytes never becomes visible.
// The server must offer read-after-write consistency, as AWS S3 does.
type S3 struct {
	client   *s3.Client
	bucket   string
	prefix   string
	tmp      string
	partSize int64
}

var (
	_ Store  = (*S3)(nil)
	_ Lister = (*S3)(nil)
)

// S3Config says where an S3 store is.
type S3Config struct {
	Bucket string
	// Prefix is prepended to every key ("" for the bucket's root).
	Prefix string
	// Endpoint is the server's URL; AWS's own if empty. A store named by
	// its endpoint is addressed path-style (http://host/bucket/key).
	Endpoint string
	// Region is the bucket's region; AWS_REGION, or us-east-1, if empty.
	Region string
	// Tmp is where a Put spools a blob it must hash before sending, and
	// must exist.
	Tmp string
	// PartSize is the size of each part of a blob sent in several (64 MiB
	// if zero, at least 5 MiB, S3's least); smaller blobs go in one
	// request.
	PartSize int64
}

// ParseS3URL reads s3://BUCKET[/PREFIX][?endpoint=URL&region=R], the form
// of --blobs.
func ParseS3URL(where string) (S3Config, error) {
	u, err := url.Parse(where)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return S3Config{}, fmt.Errorf("blob: %q is not s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION]", where)
	}
	q := u.Query()
	for k := range q {
		if k != "endpoint" && k != "region" {
			return S3Config{}, fmt.Errorf("blob: %q: unknown parameter %q (endpoint, region)", where, k)
		}
	}
	c := S3Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"), Endpoint: q.Get("endpoint"), Region: q.Get("region")}
	if c.Endpoint != "" {
		if e, err := url.Parse(c.Endpoint); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return S3Config{}, fmt.Errorf("blob: %q: endpoint %q is not an http(s) URL", where, c.Endpoint)
		}
	}
	return c, nil
}

// Open opens the blob store named by where: an s3:// URL (ParseS3URL),
// whose Puts spool in the folder tmp (made if missing), or else a local
// folder (NewLocal).
func Open(ctx context.Context, where, tmp string) (Store, error) {
	if !strings.HasPrefix(where, "s3:") {
		return NewLocal(where)
	}
	c, err := ParseS3URL(where)
	if err != nil {
		return nil, err
	}
	c.Tmp = tmp
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return NewS3(ctx, c)
}

// Client is the S3 client for c's server, with credentials from the
// usual AWS sources (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a
// profile, an instance role), and the options it was made with: what
// another user of the same bucket (the custody log's tiles) needs.
func (c S3Config) Client(ctx context.Context) (*s3.Client, aws.Config, func(*s3.Options), error) {
	region := c.Region
	if region == "" {
		region = cmp.Or(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), "us-east-1")
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return nil, aws.Config{}, nil, fmt.Errorf("blob: s3 configuration: %w", err)
	}
	opts := func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
			o.UsePathStyle = true
		}
		// The SHA-256 each Put sends is the checksum; no other is added.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	return s3.NewFromConfig(cfg, opts), cfg, opts, nil
}

// NewS3 connects to the bucket c names (see Client) and checks that the
// bucket is there.
func NewS3(ctx context.Context, c S3Config) (*S3, error) {
	client, _, _, err := c.Client(ctx)
	if err != nil {
		return nil, err
	}
	s := &S3{client: client, bucket: c.Bucket, prefix: c.Prefix, tmp: c.Tmp, partSize: c.PartSize}
	if s.prefix != "" {
		s.prefix += "/"
	}
	if s.partSize <= 0 {
		s.partSize = 64 << 20
	}
	s.partSize = max(s.partSize, 5<<20)
	if _, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return nil, fmt.Errorf("blob: s3 bucket %s: %w", s.bucket, err)
	}
	return s, nil
}

// Key is the object key of ref in the bucket.
func (s *S3) Key(ref Ref) string {
	h := ref.String()
	return s.prefix + "sha256/" + h[:2] + "/" + h
}

// status is the HTTP status of an S3 error, or 0.
func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, ref Ref, r io.Reader) error {
	if _, err := s.Stat(ctx, ref); err == nil {
		return nil
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	body, size, cleanup, err := s.spool(ctx, ref, r)
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", ref, err)
	}
	defer cleanup()
	if size <= s.partSize {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:         &s.bucket,
			Key:            aws.String(s.Key(ref)),
			Body:           io.NewSectionReader(body, 0, size),
			ContentLength:  aws.Int64(size),
			ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(ref[:])),
			IfNoneMatch:    aws.String("*"),
		})
	} else {
		err = s.putParts(ctx, ref, body, size)
	}
	return s.putDone(ctx, ref, err)
}

// putDone reads the outcome of a conditional write: a failed condition
// means the blob is there already (written by another Put of the same
// bytes).
func (s *S3) putDone(ctx context.Context, ref Ref, err error) error {
	switch st := status(err); {
	case err == nil:
		return nil
	case st == http.StatusPreconditionFailed:
		return nil
	case st == http.StatusConflict: // a concurrent conditional write of the key
		if _, serr := s.Stat(ctx, ref); serr == nil {
			return nil
		}
	}
	return fmt.Errorf("blob: put %s: %w", ref, err)
}

// spool returns r's content as a file to send, after checking that it
// hashes to ref: r itself when it is a file, else a copy in s.tmp.
func (s *S3) spool(ctx context.Context, ref Ref, r io.Reader) (io.ReaderAt, int64, func(), error) {
	h := sha256.New()
	if f, ok := r.(*os.File); ok {
		start, err := f.Seek(0, io.SeekCurrent)
		if err == nil {
			fi, serr := f.Stat()
			if serr == nil && fi.Mode().IsRegular() {
				size := fi.Size() - start
				if _, err := io.Copy(h, ctxReader{ctx, io.NewSectionReader(f, start, size)}); err != nil {
					return nil, 0, nil, err
				}
				if got := Ref(h.Sum(nil)); got != ref {
					return nil, 0, nil, fmt.Errorf("content hashes to %s: %w", got, ErrHashMismatch)
				}
				return io.NewSectionReader(f, start, size), size, func() {}, nil
			}
		}
	}
	tmp, err := os.CreateTemp(s.tmp, "put-*")
	if err != nil {
		return nil, 0, nil, err
	}
	cleanup := func() { tmp.Close(); os.Remove(tmp.Name()) }
	size, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err != nil {
		cleanup()
		return nil, 0, nil, err
	}
	if got := Ref(h.Sum(nil)); got != ref {
		cleanup()
		return nil, 0, nil, fmt.Errorf("content hashes to %s: %w", got, ErrHashMismatch)
	}
	return tmp, size, cleanup, nil
}

// putParts sends a large blob as a multipart upload, completed on the
// condition that the key is free, and aborted on any error.
func (s *S3) putParts(ctx context.Context, ref Ref, body io.ReaderAt, size int64) (err error) {
	key := aws.String(s.Key(ref))
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &s.bucket, Key: key, ChecksumAlgorithm: types.ChecksumAlgorithmSha256,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// Best effort, on a context of its own: the caller's may be why.
			s.client.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: key, UploadId: up.UploadId})
		}
	}()
	var parts []types.CompletedPart
	for off, n := int64(0), int32(1); off < size; off, n = off+s.partSize, n+1 {
		part := io.NewSectionReader(body, off, min(s.partSize, size-off))
		ph := sha256.New()
		if _, err := io.Copy(ph, part); err != nil {
			return err
		}
		sum := base64.StdEncoding.EncodeToString(ph.Sum(nil))
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &s.bucket, Key: key, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			Body: io.NewSectionReader(body, off, part.Size()), ContentLength: aws.Int64(part.Size()),
			ChecksumSHA256: aws.String(sum),
		})
		if err != nil {
			return err
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n), ChecksumSHA256: aws.String(sum)})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		IfNoneMatch:     aws.String("*"),
	})
	return err
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, ref Ref) (int64, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.Key(ref))})
	if status(err) == http.StatusNotFound {
		return 0, fmt.Errorf("blob %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("blob %s: %w", ref, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// Open implements Store. Reads are ranged GETs from where the reader was
// sought to, so a player seeking in a recording fetches only what it plays.
func (s *S3) Open(ctx context.Context, ref Ref) (io.ReadSeekCloser, error) {
	size, err := s.Stat(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &s3Reader{ctx: ctx, s: s, ref: ref, size: size}, nil
}

type s3Reader struct {
	ctx       context.Context
	s         *S3
	ref       Ref
	size, off int64
	body      io.ReadCloser
}

func (r *s3Reader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	if r.body == nil {
		out, err := r.s.client.GetObject(r.ctx, &s3.GetObjectInput{
			Bucket: &r.s.bucket, Key: aws.String(r.s.Key(r.ref)),
			Range: aws.String("bytes=" + strconv.FormatInt(r.off, 10) + "-"),
		})
		if status(err) == http.StatusNotFound {
			return 0, fmt.Errorf("blob %s: %w", r.ref, ErrNotFound)
		}
		if err != nil {
			return 0, fmt.Errorf("blob %s: %w", r.ref, err)
		}
		r.body = out.Body
	}
	n, err := r.body.Read(p)
	r.off += int64(n)
	if err == io.EOF && r.off < r.size {
		err = fmt.Errorf("blob %s: object ended at %d of %d bytes: %w", r.ref, r.off, r.size, io.ErrUnexpectedEOF)
	}
	if err != nil && err != io.EOF {
		r.body.Close()
		r.body = nil
	}
	return n, err
}

func (r *s3Reader) Seek(offset int64, whence int) (int64, error) {
	var off int64
	switch whence {
	case io.SeekStart:
		off = offset
	case io.SeekCurrent:
		off = r.off + offset
	case io.SeekEnd:
		off = r.size + offset
	default:
		return 0, errors.New("blob: bad whence")
	}
	if off < 0 {
		return 0, errors.New("blob: negative position")
	}
	if off != r.off && r.body != nil {
		r.body.Close()
		r.body = nil
	}
	r.off = off
	return off, nil
}

func (r *s3Reader) Close() error {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	return nil
}

// List implements Lister.
func (s *S3) List(ctx context.Context) iter.Seq2[Ref, error] {
	return func(yield func(Ref, error) bool) {
		pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + "sha256/")})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				yield(Ref{}, fmt.Errorf("blob: listing s3 bucket %s: %w", s.bucket, err))
				return
			}
			for _, o := range page.Contents {
				name := strings.TrimPrefix(aws.ToString(o.Key), s.prefix+"sha256/")
				ref, err := ParseRef(name[strings.LastIndexByte(name, '/')+1:])
				if err == nil && name != ref.String()[:2]+"/"+ref.String() {
					err = fmt.Errorf("blob: stray object %s", aws.ToString(o.Key))
				} else if err != nil {
					err = fmt.Errorf("blob: stray object %s: %w", aws.ToString(o.Key), err)
				}
				if !yield(ref, err) {
					return
				}
			}
		}
	}
}

// Scratch objects are bytes kept in the bucket that are not blobs: the
// parts of uploads in progress that several servers continue (ingest).
// Their keys are under PREFIX/scratch/, apart from the blobs, and are
// the caller's to choose; unlike blobs they may be written over and are
// deleted.
const scratchPrefix = "scratch/"

// PutScratch writes b as the scratch object key.
func (s *S3) PutScratch(ctx context.Context, key string, b []byte) error {
	sum := sha256.Sum256(b)
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: aws.String(s.prefix + scratchPrefix + key),
		Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b))),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	if err != nil {
		return fmt.Errorf("blob: put scratch %s: %w", key, err)
	}
	return nil
}

// OpenScratch reads the scratch object key; ErrNotFound if there is none.
func (s *S3) OpenScratch(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + scratchPrefix + key)})
	if status(err) == http.StatusNotFound {
		return nil, fmt.Errorf("blob: scratch %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: scratch %s: %w", key, err)
	}
	return out.Body, nil
}

// DeleteScratch deletes every scratch object whose key starts with prefix.
func (s *S3) DeleteScratch(ctx context.Context, prefix string) error {
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + scratchPrefix + prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("blob: listing scratch %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: o.Key}); err != nil && status(err) != http.StatusNotFound {
				return fmt.Errorf("blob: delete scratch %s: %w", aws.ToString(o.Key), err)
			}
		}
	}
	return nil
}

// ListScratch lists the keys of the scratch objects under prefix.
func (s *S3) ListScratch(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + scratchPrefix + prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("blob: listing scratch %s: %w", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, strings.TrimPrefix(aws.ToString(o.Key), s.prefix+scratchPrefix))
		}
	}
	return keys, nil
}
