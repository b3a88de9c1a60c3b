// Command backends measures what running on PostgreSQL and S3 costs: upload
// throughput and media-job throughput of a server whose records are in
// PostgreSQL and whose blobs are in an S3 server (a throwaway PostgreSQL
// and versitygw, as the tests start), each as a ratio to the embedded mode
// (SQLite and a folder) measured in the same run. Modes alternate run by
// run and medians are compared, because the machine is shared and noisy.
//
//	go run ./bench/backends [-runs 3] [-uploads 16] [-each 32MiB] [-items 24]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/sightline/sightline/internal/blob/s3test"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/db/pgtest"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
)

func main() {
	runs := flag.Int("runs", 3, "runs of each mode, alternating")
	uploads := flag.Int("uploads", 16, "concurrent uploads in the upload test")
	each := flag.Int64("each", 32<<20, "bytes of each upload")
	items := flag.Int("items", 24, "recordings (5 s of sound each: two media jobs) in the job test")
	flag.Parse()
	ctx := context.Background()
	defer pgtest.Stop()
	scratch, err := os.MkdirTemp("", "sightline-bench-backends-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(scratch)

	var big, small []string
	for i := range *uploads {
		p := filepath.Join(scratch, fmt.Sprintf("upload-%d.wav", i))
		if err := os.WriteFile(p, mediatest.NoiseWAV(int(*each), uint64(1+i)), 0o644); err != nil {
			log.Fatal(err)
		}
		big = append(big, p)
	}
	for i := range *items {
		p := filepath.Join(scratch, fmt.Sprintf("item-%d.wav", i))
		if err := os.WriteFile(p, mediatest.NoiseWAV(480_044, uint64(1000+i)), 0o644); err != nil {
			log.Fatal(err)
		}
		small = append(small, p)
	}

	modes := []string{"embedded", "postgres+s3"}
	up, jobs := map[string][]float64{}, map[string][]float64{}
	for run := 1; run <= *runs; run++ {
		for _, mode := range modes {
			u, j, err := measure(ctx, scratch, mode, big, small)
			if err != nil {
				log.Fatalf("%s: %v", mode, err)
			}
			up[mode], jobs[mode] = append(up[mode], u), append(jobs[mode], j)
			fmt.Printf("run %d %-12s uploads %7.1f MB/s   jobs %5.2f /s\n", run, mode, u/1e6, j)
		}
	}
	e, p := median(up["embedded"]), median(up["postgres+s3"])
	fmt.Printf("\nupload throughput (%d × %d MiB at once, until each is evidence): embedded %.1f MB/s, PostgreSQL + S3 %.1f MB/s: ratio %.2f\n",
		*uploads, *each>>20, e/1e6, p/1e6, p/e)
	e, p = median(jobs["embedded"]), median(jobs["postgres+s3"])
	fmt.Printf("job throughput (%d recordings' sound and fingerprint): embedded %.2f jobs/s, PostgreSQL + S3 %.2f jobs/s: ratio %.2f\n",
		*items, e, p, p/e)
}

// measure runs a new server in mode on a new data folder: the large
// uploads at once, then the recordings, timed until every media job has
// ended. It returns bytes per second and jobs per second.
func measure(ctx context.Context, scratch, mode string, big, small []string) (float64, float64, error) {
	data, err := os.MkdirTemp(scratch, "data-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(data)
	cfg := server.Config{Data: data}
	if mode != "embedded" {
		if cfg.Database, err = pgtest.NewDatabase(ctx); err != nil {
			return 0, 0, err
		}
		where, err := s3test.NewBucket(ctx)
		if err != nil {
			return 0, 0, err
		}
		if cfg.Blobs, err = server.OpenBlobs(ctx, data, where); err != nil {
			return 0, 0, err
		}
	}
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return 0, 0, err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	base := "http://" + ln.Addr().String()

	// Uploads: the server's own throughput (no jobs run meanwhile).
	start := time.Now()
	var size int64
	if err := each(big, func(p string) error { return upload(ctx, base, p, scratch) }); err != nil {
		return 0, 0, err
	}
	for _, p := range big {
		fi, _ := os.Stat(p)
		size += fi.Size()
	}
	bps := float64(size) / time.Since(start).Seconds()

	// Jobs: the large uploads' jobs first, untimed, then the recordings'.
	jctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { srv.Run(jctx); close(done) }()
	defer func() { stop(); <-done }()
	if err := idle(ctx, srv); err != nil {
		return 0, 0, err
	}
	if err := each(small, func(p string) error { return upload(ctx, base, p, scratch) }); err != nil {
		return 0, 0, err
	}
	start = time.Now()
	if err := idle(ctx, srv); err != nil {
		return 0, 0, err
	}
	jobs := 2 * len(small) // the sound for alignment, the fingerprint
	return bps, float64(jobs) / time.Since(start).Seconds(), nil
}

func upload(ctx context.Context, base, path, scratch string) error {
	c := &client.Client{Server: base}
	j, err := os.MkdirTemp(scratch, "journal-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(j)
	_, err = c.UploadFile(ctx, path, map[string]string{"filename": filepath.Base(path), "source": "surveillance"}, &client.Journal{Dir: j}, nil)
	return err
}

// each runs f on every path at once.
func each(paths []string, f func(string) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(paths))
	for _, p := range paths {
		wg.Go(func() { errs <- f(p) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// idle waits until no job waits or runs.
func idle(ctx context.Context, srv *server.Server) error {
	deadline := time.Now().Add(30 * time.Minute)
	for {
		n, err := srv.Jobs().Outstanding(ctx)
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d jobs left after 30 minutes", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
