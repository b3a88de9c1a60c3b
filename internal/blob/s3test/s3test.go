// Package s3test runs a throwaway S3-compatible server for tests:
// versitygw (scripts/deps.sh test installs it) serving a temporary folder
// on loopback, with keys of its own that it also puts in this process's
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, where blob.NewS3 and any
// sightline process the test starts find them.
//
// A test process's tests share one server, started by the first New; each
// call makes a bucket of its own. A watchdog stops the server once the
// process is gone.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	accessKey = "sightline-test"
	secretKey = "sightline-test-secret"
	region    = "us-east-1"
)

var (
	once     sync.Once
	endpoint string
	startErr error
	made     atomic.Int64
)

// New returns an s3:// URL (blob.ParseS3URL) of a new, empty bucket on the
// test process's server, started on first use. It fails the test if
// versitygw is not installed.
func New(t testing.TB) string {
	t.Helper()
	where, err := NewBucket(t.Context())
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	return where
}

// NewBucket is New for programs that are not tests (benchmarks); the
// server stops when the process is gone.
func NewBucket(ctx context.Context) (string, error) {
	once.Do(func() { endpoint, startErr = start() })
	if startErr != nil {
		return "", startErr
	}
	bucket := fmt.Sprintf("test-%d-%d", os.Getpid(), made.Add(1))
	if _, err := Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		return "", fmt.Errorf("creating bucket %s: %w", bucket, err)
	}
	return "s3://" + bucket + "?" + url.Values{"endpoint": {endpoint}, "region": {region}}.Encode(), nil
}

// Client is a client of the server, for a test to look behind a store.
func Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	})
}

// binary finds versitygw: on the PATH, else where go install puts it.
func binary() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		home, _ := os.UserHomeDir()
		gopath = filepath.Join(home, "go")
	}
	p := filepath.Join(gopath, "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		return "", errors.New("versitygw is not installed: run `make test`, which installs it (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
	}
	return p, nil
}

func start() (string, error) {
	bin, err := binary()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "s3test-")
	if err != nil {
		return "", err
	}
	// A free port: taken and let go, then given to the server.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return "", err
	}
	defer logf.Close()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "--access", accessKey, "--secret", secretKey, "--region", region,
		"--port", addr, "--keep-alive", "--quiet", "posix", root)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Should this process die, a watchdog stops the server and removes
	// its folder.
	watch := exec.Command("/bin/sh", "-c", `while [ -d /proc/$0 ]; do sleep 1; done; kill $1; rm -rf "$2"`,
		strconv.Itoa(os.Getpid()), strconv.Itoa(cmd.Process.Pid), dir)
	watch.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := watch.Start(); err != nil {
		cmd.Process.Kill()
		return "", err
	}
	go watch.Wait()
	os.Setenv("AWS_ACCESS_KEY_ID", accessKey)
	os.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	endpoint = "http://" + addr
	// Ready when it answers: a listing of its buckets.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logf.Name())
			return "", fmt.Errorf("versitygw exited: %v\n%s", err, log)
		case <-ctx.Done():
			return "", fmt.Errorf("versitygw did not answer on %s", addr)
		case <-time.After(20 * time.Millisecond):
		}
		if _, err := Client().ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
			return endpoint, nil
		}
	}
}
