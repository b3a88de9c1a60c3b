package fingerprint_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/fingerprint"
	"github.com/sightline/sightline/internal/fingerprint/fptest"
	"github.com/sightline/sightline/internal/media"
)

func input(path string) fingerprint.Input {
	return fingerprint.Input{Source: media.Source{Path: path, Container: "mp4"}, Width: fptest.Width, Height: fptest.Height, Sound: true}
}

// each runs fn for 0..n-1 on as many goroutines as there are cores, and
// fails t with the first error.
func each(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				errs[i] = fn(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestLookupDegraded cuts 10-second spans from indexed recordings,
// degrades each in the ten ways, and finds every one with its offset
// within a frame; clips of fifty other scenes find nothing.
func TestLookupDegraded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tool := &media.Tool{Timeout: 5 * time.Minute}
	ix := fingerprint.NewIndex(fingerprint.Options{})
	recs := make([]string, 4)
	fps := make([]*fingerprint.Fingerprint, len(recs))
	each(t, len(recs), func(i int) (err error) {
		if recs[i], err = fptest.Recording(ctx, dir, i+1, 60); err != nil {
			return err
		}
		fps[i], err = fingerprint.Make(ctx, tool, input(recs[i]), dir)
		return err
	})
	for i, fp := range fps {
		if err := ix.Add(fmt.Sprint("rec", i+1), fp); err != nil {
			t.Fatal(err)
		}
	}
	found := make([][]fingerprint.Match, len(fptest.Degradations))
	from := func(i int) float64 { return 7.3 + 3.1*float64(i) }
	each(t, len(fptest.Degradations), func(i int) error {
		clip, err := fptest.Clip(ctx, dir, recs[i%len(recs)], from(i), 10, fptest.Degradations[i], 1000+i)
		if err != nil {
			return err
		}
		q, err := fingerprint.QueryFile(ctx, tool, input(clip), dir)
		if err != nil {
			return err
		}
		found[i] = ix.Search(q, nil)
		return nil
	})
	for i, d := range fptest.Degradations {
		got, want := found[i], fmt.Sprint("rec", i%len(recs)+1)
		if len(got) == 0 || got[0].ID != want || math.Abs(got[0].Offset-from(i)) > 1.0/fptest.FPS {
			t.Errorf("%s: found %+v, want %s at %.3f s", d.Name, got, want, from(i))
			continue
		}
		t.Logf("%s: %+v (error %.1f ms)", d.Name, got[0], 1000*(got[0].Offset-from(i)))
	}
	others := make([][]fingerprint.Match, 50)
	each(t, len(others), func(i int) error {
		path, err := fptest.Recording(ctx, dir, 100+i, 10)
		if err != nil {
			return err
		}
		q, err := fingerprint.QueryFile(ctx, tool, input(path), dir)
		if err != nil {
			return err
		}
		others[i] = ix.Search(q, nil)
		return nil
	})
	for i, got := range others {
		if len(got) > 0 {
			t.Errorf("scene %d, never indexed, found at %+v", 100+i, got)
		}
	}
}
