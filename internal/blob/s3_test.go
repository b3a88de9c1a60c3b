package blob_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/blob/blobtest"
	"github.com/sightline/sightline/internal/blob/s3test"
)

// openS3 is a store in a new bucket of the test server, sending blobs
// past 5 MiB (the least part S3 takes) in parts.
func openS3(t *testing.T) (*blob.S3, string) {
	t.Helper()
	c, err := blob.ParseS3URL(s3test.New(t))
	if err != nil {
		t.Fatal(err)
	}
	c.Tmp, c.PartSize = t.TempDir(), 5<<20
	s, err := blob.NewS3(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return s, c.Tmp
}

func TestS3(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		s, tmp := openS3(t)
		t.Cleanup(func() {
			// Whatever a Put spooled is gone once it returned.
			if ents, err := os.ReadDir(tmp); err != nil || len(ents) != 0 {
				t.Errorf("spool folder holds %d files (%v), want none", len(ents), err)
			}
		})
		return s
	})
}

// A blob larger than a part goes in several, and reads back whole and
// by ranges across the parts' seams.
func TestS3Multipart(t *testing.T) {
	s, _ := openS3(t)
	data := make([]byte, 11<<20+5)
	rand.Read(data)
	ref := blob.Sum(data)
	if err := s.Put(t.Context(), ref, bytes.NewReader(data[:len(data)-1])); !errors.Is(err, blob.ErrHashMismatch) {
		t.Fatalf("multipart Put of the wrong bytes: %v, want ErrHashMismatch", err)
	}
	if err := s.Put(t.Context(), ref, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), ref, bytes.NewReader(data)); err != nil {
		t.Fatalf("second Put of a stored blob: %v", err)
	}
	r, err := s.Open(t.Context(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	seam := int64(5<<20 - 100)
	if _, err := r.Seek(seam, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 200)
	if _, err := io.ReadFull(r, buf); err != nil || !bytes.Equal(buf, data[seam:seam+200]) {
		t.Fatalf("read across the first seam: %v", err)
	}
	r.Seek(0, io.SeekStart)
	all, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("whole read: %d bytes, %v", len(all), err)
	}
}

func TestMemory(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return blobtest.NewMemory() })
}

// The server must refuse to replace an object when told If-None-Match: *,
// or blobs could be overwritten; this checks the server, not the store.
func TestS3ServerHonoursConditionalWrites(t *testing.T) {
	c, err := blob.ParseS3URL(s3test.New(t))
	if err != nil {
		t.Fatal(err)
	}
	cl := s3test.Client()
	put := func(body string) error {
		_, err := cl.PutObject(t.Context(), &s3.PutObjectInput{Bucket: &c.Bucket, Key: aws.String("k"),
			Body: strings.NewReader(body), IfNoneMatch: aws.String("*")})
		return err
	}
	if err := put("first"); err != nil {
		t.Fatal(err)
	}
	err = put("second")
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusPreconditionFailed {
		t.Fatalf("second conditional write: %v, want 412 Precondition Failed", err)
	}
	out, err := cl.GetObject(t.Context(), &s3.GetObjectInput{Bucket: &c.Bucket, Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(out.Body)
	if b.String() != "first" {
		t.Fatalf("object holds %q after a refused write, want %q", b.String(), "first")
	}
}

// A blob is an object under its content address, so another tool (or the
// migration) finds it by its SHA-256.
func TestS3Keys(t *testing.T) {
	s, _ := openS3(t)
	data := []byte("evidence")
	ref := blob.Sum(data)
	if err := blob.StoreFile(t.Context(), s, ref, writeFile(t, data)); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for ref, err := range s.List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, ref.String())
	}
	if len(keys) != 1 || keys[0] != ref.String() {
		t.Fatalf("bucket lists %v, want [%s]", keys, ref)
	}
}

func writeFile(t *testing.T, data []byte) string {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseS3URL(t *testing.T) {
	c, err := blob.ParseS3URL("s3://footage/city/a?endpoint=http://127.0.0.1:9000&region=eu-west-1")
	if err != nil || c.Bucket != "footage" || c.Prefix != "city/a" || c.Endpoint != "http://127.0.0.1:9000" || c.Region != "eu-west-1" {
		t.Fatalf("ParseS3URL = %+v, %v", c, err)
	}
	for _, bad := range []string{"footage", "s3://", "s3://b?endpoint=ftp://x", "s3://b?secret=x", "http://b"} {
		if _, err := blob.ParseS3URL(bad); err == nil {
			t.Errorf("ParseS3URL(%q) succeeded", bad)
		}
	}
}
