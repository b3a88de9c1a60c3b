// Command cluster measures Sightline as replicas behind HAProxy on this
// machine (internal/cluster: PostgreSQL, MariaDB, versitygw, HAProxy):
// upload throughput and custody events per second for 1, 2 and 3
// replicas, each as a ratio to one embedded server (SQLite and a folder)
// measured in the same run. Modes alternate run by run and medians are
// compared, because the machine is shared and noisy.
//
// Uploads: -uploads files of -each bytes at once, until each is evidence.
// Custody events: -clients callers asking for an original with a wrong
// token for -duration; each refusal is a "denied" event appended to the
// log before it is answered (the callers name many addresses, through a
// trusted proxy, so that no per-address limit cuts them off). Events are
// counted from the growth of the published checkpoint, once the uploads'
// media jobs are done.
//
//	go run ./bench/cluster [-runs 3] [-uploads 8] [-each 16MiB] [-clients 16] [-duration 10s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/cluster"
	"github.com/sightline/sightline/internal/db/pgtest"
	"github.com/sightline/sightline/internal/media/mediatest"
)

func main() {
	runs := flag.Int("runs", 3, "runs of each mode, alternating")
	uploads := flag.Int("uploads", 8, "concurrent uploads")
	each := flag.Int("each", 16<<20, "bytes of each upload")
	clients := flag.Int("clients", 16, "concurrent callers in the custody-event test")
	duration := flag.Duration("duration", 10*time.Second, "length of the custody-event test")
	flag.Parse()
	ctx := context.Background()
	defer pgtest.Stop()
	scratch, err := os.MkdirTemp("", "sightline-bench-cluster-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(scratch)
	bin := filepath.Join(scratch, "sightline")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/sightline").CombinedOutput(); err != nil {
		log.Fatalf("building sightline: %v\n%s", err, out)
	}
	var files []string
	for i := range *uploads {
		p := filepath.Join(scratch, fmt.Sprintf("upload-%d.wav", i))
		if err := os.WriteFile(p, mediatest.NoiseWAV(*each, uint64(1+i)), 0o644); err != nil {
			log.Fatal(err)
		}
		files = append(files, p)
	}

	modes := []string{"embedded", "1 replica", "2 replicas", "3 replicas"}
	bps := map[string][]float64{}
	eps := map[string][]float64{}
	for run := range *runs {
		for _, mode := range modes {
			b, e, err := measure(ctx, scratch, bin, mode, files, *clients, *duration)
			if err != nil {
				log.Fatalf("%s: %v", mode, err)
			}
			bps[mode], eps[mode] = append(bps[mode], b), append(eps[mode], e)
			fmt.Printf("run %d, %-10s  uploads %6.1f MB/s   custody events %6.1f /s\n", run+1, mode, b/1e6, e)
		}
	}
	base, baseE := median(bps["embedded"]), median(eps["embedded"])
	fmt.Printf("\nupload throughput (%d × %d MiB at once) and custody events per second (%d callers, %s), medians of %d runs:\n",
		*uploads, *each>>20, *clients, *duration, *runs)
	for _, mode := range modes {
		fmt.Printf("  %-10s  %6.1f MB/s  ratio %.2f    %6.1f events/s  ratio %.2f\n", mode,
			median(bps[mode])/1e6, median(bps[mode])/base, median(eps[mode]), median(eps[mode])/baseE)
	}
}

// measure starts mode (an embedded server, or replicas behind HAProxy),
// runs both tests through its address, and stops it.
func measure(ctx context.Context, scratch, bin, mode string, files []string, clients int, d time.Duration) (float64, float64, error) {
	dir, err := os.MkdirTemp(scratch, "mode-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	var base string
	if mode == "embedded" {
		stop, url, err := embedded(bin, dir)
		if err != nil {
			return 0, 0, err
		}
		defer stop()
		base = url
	} else {
		n, _ := strconv.Atoi(strings.Fields(mode)[0])
		c, err := cluster.Start(ctx, cluster.Config{Binary: bin, Dir: dir, Replicas: n})
		if err != nil {
			return 0, 0, err
		}
		defer c.Stop()
		base = c.URL
	}

	start := time.Now()
	var size int64
	var wg sync.WaitGroup
	errs := make(chan error, len(files))
	for _, p := range files {
		wg.Go(func() { errs <- upload(ctx, base, p, dir) })
		fi, _ := os.Stat(p)
		size += fi.Size()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return 0, 0, err
		}
	}
	bps := float64(size) / time.Since(start).Seconds()

	// One item to be refused about.
	first := &client.Client{Server: base}
	res, err := first.UploadFile(ctx, files[0], map[string]string{"source": "phone"}, &client.Journal{Dir: dir}, nil)
	if err != nil {
		return 0, 0, err
	}
	before, err := settled(ctx, base)
	if err != nil {
		return 0, 0, err
	}
	var addr atomic.Int64
	hc := &http.Client{Timeout: time.Minute}
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start = time.Now()
	for range clients {
		wg.Go(func() {
			for tctx.Err() == nil {
				n := addr.Add(1) // a new address every 15 refusals: under the limit of 20
				req, _ := http.NewRequestWithContext(tctx, "GET", base+"/api/v1/evidence/"+res.ID+"/original", nil)
				req.Header.Set("Authorization", "Bearer slc_wrong")
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", n/15>>16&255, n/15>>8&255, n/15&255))
				if resp, err := hc.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	after, err := settled(ctx, base)
	if err != nil {
		return 0, 0, err
	}
	return bps, float64(after-before) / elapsed.Seconds(), nil
}

// embedded runs one `sightline serve` on a data folder of its own.
func embedded(bin, dir string) (func(), string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "serve", "--data", filepath.Join(dir, "data"), "--listen", addr, "--trusted-proxy", "127.0.0.1")
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	stop := func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	base := "http://" + addr
	for deadline := time.Now().Add(time.Minute); ; {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return stop, base, nil
			}
		}
		if time.Now().After(deadline) {
			stop()
			return nil, "", fmt.Errorf("the embedded server is not ready after a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func upload(ctx context.Context, base, path, scratch string) error {
	c := &client.Client{Server: base}
	j, err := os.MkdirTemp(scratch, "journal-")
	if err != nil {
		return err
	}
	_, err = c.UploadFile(ctx, path, map[string]string{"filename": filepath.Base(path), "source": "surveillance"}, &client.Journal{Dir: j}, nil)
	return err
}

// settled waits until no job waits or runs (the uploads' media jobs log
// events too) and the published checkpoint stops growing, and returns its
// size.
func settled(ctx context.Context, base string) (int64, error) {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		jobs, err := metric(base, `sightline_jobs{state="queued"}`, `sightline_jobs{state="running"}`)
		if err != nil {
			return 0, err
		}
		if jobs == 0 {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%v jobs left after 10 minutes", jobs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	prev := int64(-1)
	for {
		n, err := metric(base, "sightline_log_checkpoint_size")
		if err != nil {
			return 0, err
		}
		if int64(n) == prev {
			return prev, nil
		}
		prev = int64(n)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(3 * time.Second): // past two checkpoint intervals
		}
	}
}

// metric sums the values of the named series in base's /metrics.
func metric(base string, names ...string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	sum := 0.0
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 2 && slices.Contains(names, f[0]) {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return 0, err
			}
			sum += v
		}
	}
	return sum, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
