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
	sounds := make([][]float32, len(recs))
	each(t, len(recs), func(i int) (err error) {
		if recs[i], err = fptest.Recording(ctx, dir, i+1, 60); err != nil {
			return err
		}
		if sounds[i], err = fingerprint.ReadSound(ctx, tool, input(recs[i]).Source, dir); err != nil {
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
	queries := make([]*fingerprint.Query, len(fptest.Degradations))
	byPictures := make([][]fingerprint.Match, len(fptest.Degradations))
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
		found[i], queries[i] = ix.Search(q, nil), q
		if fptest.Degradations[i].Speed != 1 {
			// Its pictures alone find it too (as when its sound was
			// replaced as well), at the right speed.
			in := input(clip)
			in.Sound = false
			d, err := fingerprint.Decode(ctx, tool, in, dir)
			if err != nil {
				return err
			}
			byPictures[i] = ix.Search(fingerprint.NewQuery(nil, d.Hashes, fingerprint.PictureRate), nil)
		}
		return nil
	})
	for i, d := range fptest.Degradations {
		got, want := found[i], fmt.Sprint("rec", i%len(recs)+1)
		if len(got) == 0 || got[0].ID != want || math.Abs(got[0].Offset-from(i)) > 1.0/fptest.FPS {
			t.Errorf("%s: found %+v, want %s at %.3f s", d.Name, got, want, from(i))
			continue
		}
		t.Logf("%s: %+v (error %.1f ms)", d.Name, got[0], 1000*(got[0].Offset-from(i)))
		// GCC-PHAT against the recording's sound sharpens a match by
		// sound at the recording's speed; where it finds no clear peak
		// (the music or noise over it) the landmarks' offset stands.
		m := got[0]
		moved, err := queries[i].Refine(&m, func(from, n int) ([]float32, error) {
			s := sounds[i%len(recs)]
			return s[min(from, len(s)):min(from+n, len(s))], nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: refined %v, error %.2f ms", d.Name, moved, 1000*(m.Offset-from(i)))
		if math.Abs(m.Offset-from(i)) > 1.0/fptest.FPS || d.Name == "aac-32k" && (!moved || math.Abs(m.Offset-from(i)) > 0.001) {
			t.Errorf("%s refined by GCC-PHAT: moved %v, at %.4f s, want %.4f", d.Name, moved, m.Offset, from(i))
		}
		if d.Speed != 1 {
			// By pictures alone a clip sped up is placed within 0.1 s
			// (the frames its speed change dropped or repeated blur the
			// fit by a frame or two).
			p := byPictures[i]
			if len(p) == 0 || p[0].ID != want || math.Abs(p[0].Offset-from(i)) > 0.1 || math.Abs(p[0].Speed-d.Speed) > 0.005 {
				t.Errorf("%s by its pictures alone: found %+v, want %s at %.3f s, speed %g", d.Name, p, want, from(i), d.Speed)
			}
		}
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
