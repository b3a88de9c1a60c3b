// Command package measures evidence package exports against reading the
// same files, in the same run.
//
// It starts the built server on loopback, uploads originals of the given
// total size (one of them past 4 GiB, so the zip needs its 64-bit
// forms), puts them on a case, waits for the job that keeps their
// SHA-512, and then, alternately:
//
//   - reads the originals' files from the data folder, as fast as a
//     program can (the baseline: what the disk and page cache give);
//   - exports the case's package over HTTP, the client counting the bytes.
//
// Each is done cold (the files' pages dropped from the cache first, as
// for footage nobody touched lately) and warm. It prints each throughput,
// the export's ratio to reading (target at least 0.8, cold), and the
// server's peak RSS. The first package is saved and checked with
// verify.Package, so the figures are of a package that verifies.
//
//	go run ./bench/package [-size 10GiB] [-files 5] [-runs 2]
package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	_ "modernc.org/sqlite"

	"github.com/sightline/sightline/bench/internal/served"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/verify"
)

func main() {
	size := flag.String("size", "10GiB", "total size of the originals")
	files := flag.Int("files", 5, "how many originals (the first is half the total, past 4 GiB at 10 GiB)")
	runs := flag.Int("runs", 2, "runs of each measurement; medians are compared")
	check := flag.Bool("verify", true, "save the first package and check it with verify.Package")
	flag.Parse()
	total, err := parseSize(*size)
	if err != nil {
		fatal("%v", err)
	}

	dir, err := os.MkdirTemp("", "sightline-package-")
	if err != nil {
		fatal("%v", err)
	}
	defer os.RemoveAll(dir)
	bin := served.Build(dir)
	data := filepath.Join(dir, "data")
	srv := served.Start(bin, data)
	stopServer = srv.Stop
	defer srv.Stop()
	fmt.Printf("machine: %d CPUs; server pid %d at %s\n", runtime.NumCPU(), srv.Cmd.Process.Pid, srv.URL)
	peak := srv.WatchRSS()

	run := func(args ...string) string {
		out, err := exec.Command(bin, args...).Output()
		if err != nil {
			fatal("sightline %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	run("admin", "create-user", "--data", data, "--role", "investigator", "--name", "inv.bench", "--unit", "ia")
	token := run("admin", "token", "--data", data, "--user", "inv.bench", "--expires", "24h")
	ctx := context.Background()
	cl := &client.Client{Server: srv.URL, ChunkSize: 64 << 20}

	// The originals: pictures with pseudo-random bytes after them, made as
	// they are sent.
	jpeg := smallJPEG()
	sizes := split(total, *files)
	var ids []string
	var blobs []string
	start := time.Now()
	for i, n := range sizes {
		u, err := cl.Create(ctx, n, map[string]string{"source": "phone", "filename": fmt.Sprintf("original-%d.jpg", i)})
		if err != nil {
			fatal("%v", err)
		}
		if err := cl.Send(ctx, u, photo{jpeg, uint64(i)}, 0, n, sha256.New(), nil); err != nil {
			fatal("%v", err)
		}
		r, err := cl.UploadEvidence(ctx, u)
		if err != nil {
			fatal("%v", err)
		}
		ids = append(ids, r.ID)
		h := r.SHA256.String()
		blobs = append(blobs, filepath.Join(data, "blobs", "sha256", h[:2], h))
	}
	fmt.Printf("uploaded %d originals, %s in all, in %s\n", len(sizes), human(total), time.Since(start).Round(time.Second))

	var k struct{ ID string }
	api(srv.URL+"/api/v1/cases", "POST", token, `{}`, &k)
	for _, id := range ids {
		api(srv.URL+"/api/v1/cases/"+k.ID+"/evidence", "POST", token, `{"evidence_id":"`+id+`"}`, nil)
	}
	start = time.Now()
	waitDigests(filepath.Join(data, "sightline.db"), len(ids))
	fmt.Printf("SHA-512 of every original kept by the job in %s\n", time.Since(start).Round(time.Second))

	url := srv.URL + "/api/v1/cases/" + k.ID + "/package?reason=bench"
	// The first export: saved and checked, and it pins the checkpoint the
	// measured ones use, so each gives the same bytes.
	pinned := url
	if *check {
		path := filepath.Join(dir, "package.zip")
		f, err := os.Create(path)
		if err != nil {
			fatal("%v", err)
		}
		n, hdr := export(url, token, f)
		f.Close()
		pinned = url + "&checkpoint=" + hdr.Get("Sightline-Checkpoint")
		f, err = os.Open(path)
		if err != nil {
			fatal("%v", err)
		}
		start := time.Now()
		res, err := verify.Package(f, n, keyOf(bin, data))
		f.Close()
		if err != nil || !res.OK() {
			fatal("the package does not verify: %v %+v", err, res)
		}
		fmt.Printf("package of %s saved and verified: %d items OK in %s\n", human(n), len(res.Items), time.Since(start).Round(time.Second))
		os.Remove(path)
	}

	var read, exp [2][]float64 // cold, warm: bytes per second
	var pkgSize int64
	for range *runs {
		for warm := range 2 {
			if warm == 0 {
				drop(blobs)
			}
			start := time.Now()
			var n int64
			for _, b := range blobs {
				n += readAll(b)
			}
			read[warm] = append(read[warm], float64(n)/time.Since(start).Seconds())
			if warm == 0 {
				drop(blobs)
			}
			start = time.Now()
			m, _ := export(pinned, token, discard{})
			exp[warm] = append(exp[warm], float64(m)/time.Since(start).Seconds())
			pkgSize = m
		}
	}
	fmt.Printf("\npackage: %s for %s of originals\n", human(pkgSize), human(total))
	ratio := 0.0
	for warm, name := range []string{"cold", "warm"} {
		r, e := median(read[warm]), median(exp[warm])
		fmt.Printf("%s: reading the files %.0f MB/s, exporting the package %.0f MB/s: ratio %.2f\n", name, r/1e6, e/1e6, e/r)
		if warm == 0 {
			ratio = e / r
		}
	}
	rss := peak()
	verdict := "met"
	if ratio < 0.8 {
		verdict = "NOT met"
	}
	fmt.Printf("server peak RSS: %.0f MiB\ntarget (cold ratio at least 0.8): %s\n", float64(rss)/(1<<20), verdict)
}

// export fetches a package and writes it to w, and returns its length.
func export(url, token string, w io.Writer) (int64, http.Header) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fatal("%v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		fatal("export: %d %s", resp.StatusCode, b)
	}
	n, err := io.CopyBuffer(w, resp.Body, make([]byte, 1<<20))
	if err != nil || n != resp.ContentLength {
		fatal("export: %d of %d bytes: %v", n, resp.ContentLength, err)
	}
	return n, resp.Header
}

// photo is a file the server takes as a still image: a small JPEG, then
// pseudo-random bytes (after its end-of-image marker, which readers of
// the picture ignore), each 64 KiB block made from its number, so the
// same offset gives the same bytes however it is read. A picture has no
// media jobs, so nothing but the export works while it is measured.
type photo struct {
	jpeg []byte
	seed uint64
}

func (s photo) ReadAt(p []byte, off int64) (int, error) {
	const block = 64 << 10
	n := 0
	if off < int64(len(s.jpeg)) {
		n = copy(p, s.jpeg[off:])
	}
	buf := make([]byte, block)
	for n < len(p) {
		at := off + int64(n) - int64(len(s.jpeg))
		b := at / block
		r := rand.NewChaCha8([32]byte(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(make([]byte, 16), s.seed), uint64(b))))
		r.Read(buf)
		n += copy(p[n:], buf[at%block:])
	}
	return n, nil
}

// smallJPEG is a 64×64 test picture made by ffmpeg.
func smallJPEG() []byte {
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64", "-frames:v", "1", "-f", "mjpeg", "-").Output()
	if err != nil {
		fatal("ffmpeg: %v", err)
	}
	return out
}

// split divides total into n sizes, the first half of it.
func split(total int64, n int) []int64 {
	if n == 1 {
		return []int64{total}
	}
	out := []int64{total / 2}
	rest := total - total/2
	for i := 1; i < n; i++ {
		part := rest / int64(n-i)
		out = append(out, part)
		rest -= part
	}
	return out
}

// drop asks the kernel to forget the files' cached pages.
func drop(paths []string) {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			fatal("%v", err)
		}
		unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		f.Close()
	}
}

func readAll(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		fatal("%v", err)
	}
	defer f.Close()
	n, err := io.CopyBuffer(io.Discard, f, make([]byte, 1<<20))
	if err != nil {
		fatal("%v", err)
	}
	return n
}

// waitDigests waits until the server's job has kept n SHA-512s.
func waitDigests(db string, n int) {
	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		fatal("%v", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Minute)
	for {
		var got int
		if err := conn.QueryRow(`SELECT count(*) FROM blob_digests`).Scan(&got); err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			fatal("%v", "the SHA-512 job did not finish in 30 minutes")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func keyOf(bin, data string) string {
	out, err := exec.Command(bin, "keys", "--data", data).Output()
	if err != nil {
		fatal("%v", err)
	}
	for line := range strings.Lines(string(out)) {
		if strings.Count(line, "+") >= 2 {
			return strings.TrimSpace(line)
		}
	}
	fatal("no key in %q", out)
	return ""
}

func api(url, method, token, body string, v any) {
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fatal("%v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		fatal("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			fatal("%v", err)
		}
	}
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

func parseSize(s string) (int64, error) {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f * float64(u.mult)), err
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

func human(n int64) string {
	return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
}

// stopServer stops the server, so that fatal leaves none behind.
var stopServer = func() {}

func fatal(format string, args ...any) {
	stopServer()
	log.Fatalf(format, args...)
}

// discard takes bytes as io.Discard does, without its ReadFrom (which
// reads in 8 KiB pieces).
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
