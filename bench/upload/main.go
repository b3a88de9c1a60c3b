// Command upload measures upload throughput over loopback against the
// machine's raw limit, measured in the same run.
//
// The raw limit is what storing the bytes costs without any protocol:
// read the file, hash it with SHA-256, write it to the data disk, fsync,
// done as fast as this program knows how (see rawLimit).
// Two clients upload to a real server on 127.0.0.1, each timed until the
// evidence record is committed:
//
//   - a plain tus client, which like tus-js-client or TUSKit sends 32 MiB
//     PATCHes and hashes nothing: the server's own throughput;
//   - the CLI's client, which also hashes the file on the way for its
//     end-to-end check (Repr-Digest): what a person running
//     `sightline upload` gets, client and server sharing the same cores.
//
// Raw and upload runs alternate and medians are compared, because the
// machine is shared and noisy.
//
//	go run ./bench/upload [-size 1GiB] [-runs 3] [-concurrent 32] [-each 64MiB]
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
)

var (
	chunkChecksumsFlag *bool
	chunkFlag          *int64
)

func main() {
	size := flag.Int64("size", 1<<30, "bytes of the single large upload")
	runs := flag.Int("runs", 3, "alternating raw and upload runs")
	concurrent := flag.Int("concurrent", 32, "concurrent uploads in the second test")
	each := flag.Int64("each", 64<<20, "bytes of each concurrent upload")
	dir := flag.String("dir", "", "scratch folder on the disk to measure (default: a temporary folder)")
	chunkChecksums := flag.Bool("chunk-checksums", false, "send each chunk's Upload-Checksum as well")
	chunk := flag.Int64("chunk", 32<<20, "bytes per PATCH")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	chunkChecksumsFlag, chunkFlag = chunkChecksums, chunk
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "sightline-bench-")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	ctx := context.Background()
	fmt.Printf("machine: %d CPUs, %s/%s, scratch %s\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, *dir)

	src := filepath.Join(*dir, "source.wav")
	if err := os.WriteFile(src, mediatest.NoiseWAV(int(*size), 1), 0o644); err != nil {
		log.Fatal(err)
	}
	var raws, simples, plains, clis []float64
	for i := range *runs {
		prime(*dir, 2**size)
		simple := rawSimple(src, filepath.Join(*dir, "raw.copy"))
		prime(*dir, 2**size)
		raw := rawLimit(src, filepath.Join(*dir, "raw.copy"))
		prime(*dir, 2**size)
		plain, err := uploadOnce(ctx, filepath.Join(*dir, fmt.Sprintf("plain-%d", i)), []string{src}, plainUpload)
		if err != nil {
			log.Fatal(err)
		}
		prime(*dir, 2**size)
		cli, err := uploadOnce(ctx, filepath.Join(*dir, fmt.Sprintf("cli-%d", i)), []string{src}, cliUpload)
		if err != nil {
			log.Fatal(err)
		}
		raws, simples, plains, clis = append(raws, raw), append(simples, simple), append(plains, plain.mbps), append(clis, cli.mbps)
		fmt.Printf("run %d: raw limit %.1f MB/s (simple loop %.1f); plain tus client %.1f MB/s; CLI client %.1f MB/s\n",
			i+1, raw, simple, plain.mbps, cli.mbps)
	}
	raw, simple := median(raws), median(simples)
	fmt.Printf("\nraw limit, tuned (read + SHA-256 beside write + early writeback + fsync): %.1f MB/s\n", raw)
	fmt.Printf("raw, simple loop (read, SHA-256, write, one after the other; fsync):  %.1f MB/s\n", simple)
	for _, u := range []struct {
		name string
		v    []float64
	}{{"plain tus client", plains}, {"CLI client, hashing too", clis}} {
		m := median(u.v)
		fmt.Printf("1 upload of %s, %s: %.1f MB/s; ratio %.2f to the tuned limit, %.2f to the simple loop (medians of %d)\n",
			human(*size), u.name, m, m/raw, m/simple, *runs)
	}
	os.Remove(src)

	if *concurrent == 0 {
		return
	}
	// Many uploads at once.
	var files []string
	for i := range *concurrent {
		p := filepath.Join(*dir, fmt.Sprintf("cam-%02d.wav", i))
		if err := os.WriteFile(p, mediatest.NoiseWAV(int(*each), uint64(100+i)), 0o644); err != nil {
			log.Fatal(err)
		}
		files = append(files, p)
	}
	prime(*dir, 2**size)
	raw = rawLimit(files[0], filepath.Join(*dir, "raw.copy"))
	prime(*dir, 2*int64(*concurrent)**each)
	res, err := uploadOnce(ctx, filepath.Join(*dir, "data-many"), files, cliUpload)
	if err != nil {
		log.Fatal(err)
	}
	prime(*dir, 2**size)
	raw2 := rawLimit(files[1], filepath.Join(*dir, "raw.copy"))
	raw = (raw + raw2) / 2
	fmt.Printf("%d concurrent uploads of %s (CLI client): %.1f MB/s in all; raw limit %.1f MB/s; ratio %.2f; failures %d; time to evidence p50 %.2fs, max %.2fs\n",
		*concurrent, human(*each), res.mbps, raw, res.mbps/raw, res.failures, res.p50, res.max)
	if res.failures > 0 {
		os.Exit(1)
	}
}

// rawSimple stores src as dst in the obvious way: read a buffer, hash it,
// write it, repeat; fsync at the end. It returns MB/s.
func rawSimple(src, dst string) float64 {
	return timedCopy(src, dst, func(in, out *os.File, h hash.Hash) (int64, error) {
		return io.CopyBuffer(io.MultiWriter(h, out), in, make([]byte, 1<<20))
	})
}

// timedCopy times storing src as dst with copy, which must hash every byte
// into h, followed by an fsync, and returns MB/s. The source is read once
// first so it comes from the page cache, as it does for the upload client.
func timedCopy(src, dst string, copy func(in, out *os.File, h hash.Hash) (int64, error)) float64 {
	warm(src)
	start := time.Now()
	in, err := os.Open(src)
	if err != nil {
		log.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		log.Fatal(err)
	}
	h := sha256.New()
	n, err := copy(in, out, h)
	if err != nil {
		log.Fatal(err)
	}
	if err := out.Sync(); err != nil {
		log.Fatal(err)
	}
	out.Close()
	h.Sum(nil)
	d := time.Since(start)
	os.Remove(dst)
	return float64(n) / d.Seconds() / 1e6
}

// prime writes and deletes n bytes, so that the page cache the next
// measurement fills comes from memory this virtual machine has touched
// before. Memory the guest has never touched costs several times more to
// fill (measured here: 1 GiB into fresh pages 1.7-3.3 s, into reused pages
// 0.3 s), which would otherwise decide the result by which phase ran first.
func prime(dir string, n int64) {
	p := filepath.Join(dir, "prime")
	f, err := os.Create(p)
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < n; off += int64(len(buf)) {
		f.Write(buf)
	}
	f.Close()
	os.Remove(p)
}

// rawLimit stores src as dst the fastest way this program knows, and
// returns MB/s: read in 1 MiB buffers, SHA-256 on a second goroutine while
// the next buffer is written, writeback started every 8 MiB
// (sync_file_range), one fsync at the end. It is the ceiling for storing
// bytes on this machine, with no protocol in the way.
func rawLimit(src, dst string) float64 {
	return timedCopy(src, dst, func(in, out *os.File, h hash.Hash) (int64, error) {
		jobs, free := make(chan []byte, 4), make(chan []byte, 4)
		for range 4 {
			free <- make([]byte, 1<<20)
		}
		hashed := make(chan struct{})
		go func() {
			for b := range jobs {
				h.Write(b)
				free <- b[:cap(b)]
			}
			close(hashed)
		}()
		defer func() { close(jobs); <-hashed }()
		var off, from int64
		for {
			buf := <-free
			n, err := io.ReadFull(in, buf)
			if n > 0 {
				jobs <- buf[:n]
				if _, err := out.WriteAt(buf[:n], off); err != nil {
					return off, err
				}
				off += int64(n)
				if off-from >= 8<<20 {
					unix.SyncFileRange(int(out.Fd()), from, off-from, unix.SYNC_FILE_RANGE_WRITE)
					from = off
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return off, nil
			}
			if err != nil {
				return off, err
			}
		}
	})
}

func warm(path string) {
	f, err := os.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, f)
	f.Close()
}

type result struct {
	mbps     float64
	failures int
	p50, max float64
}

// uploader uploads one file to the server at base and returns once its
// evidence is committed.
type uploader func(ctx context.Context, base, path, journal string) error

// cliUpload is `sightline upload`'s client: pipelined, hashing the file for
// its end-to-end check.
func cliUpload(ctx context.Context, base, path, journal string) error {
	c := &client.Client{Server: base, ChunkChecksums: *chunkChecksumsFlag, ChunkSize: *chunkFlag}
	_, err := c.UploadFile(ctx, path, map[string]string{"filename": filepath.Base(path), "source": "surveillance"}, &client.Journal{Dir: journal}, nil)
	return err
}

// plainUpload is what tus-js-client or TUSKit do: read a chunk, PATCH it,
// repeat; no hashing, no pipelining.
func plainUpload(ctx context.Context, base, path, _ string) error {
	c := &client.Client{Server: base}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	url, err := c.Create(ctx, fi.Size(), map[string]string{"filename": filepath.Base(path), "source": "surveillance"})
	if err != nil {
		return err
	}
	buf := make([]byte, *chunkFlag)
	for off := int64(0); off < fi.Size(); {
		n, err := f.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			return err
		}
		if off, err = c.Patch(ctx, url, off, buf[:n]); err != nil {
			return err
		}
	}
	_, err = c.UploadEvidence(ctx, url)
	return err
}

// uploadOnce serves a fresh data folder on loopback and uploads the files
// concurrently, each until its evidence is committed.
func uploadOnce(ctx context.Context, data string, files []string, up uploader) (result, error) {
	var r result
	srv, err := server.Open(ctx, server.Config{Data: data, MaxSize: 64 << 30})
	if err != nil {
		return r, err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	defer hs.Close()
	defer os.RemoveAll(data)

	var total int64
	for _, f := range files {
		warm(f)
		fi, _ := os.Stat(f)
		total += fi.Size()
	}
	journal := data + "-journal"
	defer os.RemoveAll(journal)
	base := "http://" + ln.Addr().String()
	var (
		mu    sync.Mutex
		times []float64
		wg    sync.WaitGroup
		errs  []error
	)
	start := time.Now()
	for _, f := range files {
		wg.Go(func() {
			t0 := time.Now()
			err := up(ctx, base, f, journal)
			mu.Lock()
			defer mu.Unlock()
			times = append(times, time.Since(t0).Seconds())
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f, err))
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, "FAILED", err)
	}
	r.failures = len(errs)
	r.mbps = float64(total) / d.Seconds() / 1e6
	slices.Sort(times)
	r.p50, r.max = times[len(times)/2], times[len(times)-1]
	if r.failures == len(files) {
		return r, errors.Join(errs...)
	}
	return r, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
