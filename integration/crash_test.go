package integration

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/client"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/server"
)

// The server is killed with SIGKILL again and again while eight uploads
// run. Every offset it acknowledged must still be there after the restart,
// every acknowledged completion must be evidence, and once all uploads are
// done the data folder must hold exactly the evidence, the blobs and
// nothing half made.
func TestSIGKILLLosesNoAcknowledgedByte(t *testing.T) {
	data := t.TempDir()
	port := freePort(t)
	var mu sync.Mutex
	srv := startServer(t, data, port)
	base := srv.URL

	const uploads = 8
	files := make([][]byte, uploads)
	for i := range files {
		files[i] = mediatest.NoiseWAV(6<<20+i*77777, uint64(i+1))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	var (
		wg       sync.WaitGroup
		problems = make(chan string, uploads)
		results  = make([]client.Receipt, uploads)
	)
	for i := range uploads {
		wg.Go(func() {
			r, err := uploadThroughCrashes(ctx, base, files[i], i)
			if err != nil {
				problems <- fmt.Sprintf("upload %d: %v", i, err)
			}
			results[i] = r
		})
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()

	kills := 0
	rng := rand.New(rand.NewPCG(1, 2))
crashes:
	for kills < 10 {
		select {
		case <-allDone:
			break crashes
		case <-time.After(time.Duration(100+rng.IntN(200)) * time.Millisecond):
		}
		mu.Lock()
		srv.kill()
		kills++
		time.Sleep(time.Duration(rng.IntN(100)) * time.Millisecond)
		srv = startServer(t, data, port)
		mu.Unlock()
	}
	<-allDone
	close(problems)
	for p := range problems {
		t.Error(p)
	}
	if kills < 3 {
		t.Errorf("the uploads finished after only %d kills; the test did not exercise recovery", kills)
	}
	t.Logf("server killed %d times during the uploads", kills)
	for i, r := range results {
		if want := blob.Sum(files[i]); r.SHA256 != want {
			t.Errorf("upload %d: evidence sha256 %s, want %s", i, r.SHA256, want)
		}
	}

	// One last kill, then check the data folder as a restarted server sees it,
	// and audit it.
	srv.kill()
	checkDataFolder(t, data, files)
	if out, _, err := sightline(t, "audit", "--data", data); err != nil || !strings.HasSuffix(out, "; 0 problems\n") {
		t.Errorf("audit after the crashes: %v\n%s", err, out)
	}
}

// uploadThroughCrashes uploads b with raw tus requests, retrying whatever
// fails while the server is down. It fails if the server forgets an
// acknowledged byte.
func uploadThroughCrashes(ctx context.Context, base string, b []byte, n int) (client.Receipt, error) {
	c := &client.Client{Server: base, HTTP: &http.Client{Timeout: 10 * time.Second}}
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	size := int64(len(b))
	meta := map[string]string{"filename": fmt.Sprintf("cctv-%d.wav", n), "source": "surveillance"}
	retry := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
			return nil
		}
	}
	var url string
	for url == "" {
		u, err := c.Create(ctx, size, meta)
		if err == nil {
			url = u
		} else if err := retry(); err != nil {
			return client.Receipt{}, err
		}
	}
	acked := int64(0)
	for {
		off, _, err := c.Offset(ctx, url)
		if errors.Is(err, client.ErrUploadGone) {
			return client.Receipt{}, fmt.Errorf("the server forgot an upload it had created")
		}
		if err != nil {
			if err := retry(); err != nil {
				return client.Receipt{}, err
			}
			continue
		}
		if off < acked {
			return client.Receipt{}, fmt.Errorf("server acknowledged %d bytes, then had only %d", acked, off)
		}
		if off == size {
			break
		}
		end := min(size, off+int64(8<<10+rng.IntN(128<<10)))
		c.ChunkChecksums = rng.IntN(2) == 0
		next, err := c.Patch(ctx, url, off, b[off:end])
		if err != nil {
			if err := retry(); err != nil {
				return client.Receipt{}, err
			}
			continue
		}
		acked = max(acked, next)
		if next == size {
			break
		}
	}
	// Complete was acknowledged: the evidence must exist (never a 404),
	// though the server may be down for a moment.
	for {
		r, err := c.UploadEvidence(ctx, url)
		var se *client.StatusError
		switch {
		case err == nil:
			return r, nil
		case errors.As(err, &se) && se.Status == http.StatusNotFound:
			return r, fmt.Errorf("upload %d: completion acknowledged but no evidence", n)
		}
		if err := retry(); err != nil {
			return r, err
		}
	}
}

// checkDataFolder opens the data folder as a restarted server would and
// checks that it holds exactly one evidence record per file, each blob
// intact, and nothing half made.
func checkDataFolder(t *testing.T, data string, files [][]byte) {
	t.Helper()
	s, err := server.Open(t.Context(), server.Config{Data: data})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[blob.Ref]bool{}
	for _, f := range files {
		want[blob.Sum(f)] = true
	}
	n, events := 0, 0
	for it, err := range s.Evidence().All(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if !want[it.SHA256] {
			t.Errorf("evidence %s has sha256 %s, of no uploaded file", it.ID, it.SHA256)
		}
		if it.MediaType != "audio" || it.Audio == nil || it.Audio.SampleRate != 48000 {
			t.Errorf("evidence %s: metadata %+v", it.ID, it.Info)
		}
		entry, err := s.Log().Entry(t.Context(), it.ReceivedIndex)
		if err != nil {
			t.Errorf("evidence %s: no received event: %v", it.ID, err)
			continue
		}
		if ev, err := evidence.ParseEvent(entry); err != nil || ev.Type != evidence.Received || ev.Evidence.ID != it.ID || ev.Evidence.SHA256 != it.SHA256 {
			t.Errorf("evidence %s: log entry %d is %s (%v)", it.ID, it.ReceivedIndex, entry, err)
		}
		events++
	}
	if n != len(files) || events != n {
		t.Errorf("%d evidence records with %d received events, want %d", n, events, len(files))
	}
	// Exactly once: the log holds no other received events than these.
	size, err := s.Log().NextIndex(t.Context())
	if err != nil || size != uint64(len(files)) {
		t.Errorf("the log holds %d entries (%v); want %d, one per upload", size, err, len(files))
	}
	blobs := 0
	for ref, err := range s.Blobs().List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		blobs++
		f, err := os.Open(s.Blobs().Path(ref))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		io.Copy(h, f)
		f.Close()
		if blob.Ref(h.Sum(nil)) != ref || !want[ref] {
			t.Errorf("blob %s is damaged or belongs to no upload", ref)
		}
	}
	if blobs != len(files) {
		t.Errorf("%d blobs, want %d", blobs, len(files))
	}
	ents, _ := os.ReadDir(filepath.Join(data, "uploads"))
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".json") || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left in uploads/: %s", e.Name())
		}
	}
	if tmp, _ := os.ReadDir(filepath.Join(data, "blobs", "tmp")); len(tmp) != 0 {
		t.Errorf("left in blobs/tmp: %d files", len(tmp))
	}
}
