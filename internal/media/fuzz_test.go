package media

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/; the small real camera
// files in testdata/real-world are added as seeds too. Seeds are kept to a
// few KiB: the fuzzer slows to a crawl on large inputs.

func addRealWorld(f *testing.F) {
	paths, _ := filepath.Glob("testdata/real-world/*.*")
	for _, p := range paths {
		if filepath.Ext(p) == ".md" {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 8<<10 {
			f.Add(b)
		}
	}
}

func checkLocation(t *testing.T, l *Location) {
	if l == nil {
		return
	}
	if math.IsNaN(l.Lat) || math.IsNaN(l.Lon) || math.Abs(l.Lat) > 90 || math.Abs(l.Lon) > 180 {
		t.Fatalf("location out of range: %+v", *l)
	}
}

func checkTags(t *testing.T, tags fileTags) {
	checkLocation(t, tags.Location)
	if tags.Width < 0 || tags.Width > 1<<16 || tags.Height < 0 || tags.Height > 1<<16 {
		t.Fatalf("implausible size %dx%d", tags.Width, tags.Height)
	}
}

func FuzzSniff(f *testing.F) {
	addRealWorld(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		format, ok := Sniff(b)
		if !ok {
			return
		}
		if format.Kind != Video && format.Kind != Audio && format.Kind != Image || format.MIME == "" || format.Container == "" {
			t.Fatalf("Sniff accepted with an incomplete format %+v", format)
		}
	})
}

func FuzzISO6709(f *testing.F) {
	for _, s := range []string{"+40.7128-074.0060/", "+34.0522-118.2437+089.000/", "+4042.77-07400.36/", "+404246.1-0740021.6CRSWGS_84/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseISO6709(s)
		if err != nil {
			return
		}
		checkLocation(t, &loc)
		if loc.Alt != nil && (math.IsNaN(*loc.Alt) || math.IsInf(*loc.Alt, 0)) {
			t.Fatalf("altitude %v", *loc.Alt)
		}
	})
}

func FuzzBMFF(f *testing.F) {
	addRealWorld(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkTags(t, readBMFF(bytes.NewReader(b), int64(len(b))))
	})
}

func FuzzEXIF(f *testing.F) {
	addRealWorld(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		checkTags(t, readJPEG(bytes.NewReader(b), int64(len(b))))
		checkTags(t, readTIFF(b))
	})
}

func FuzzProbeReport(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		facts, err := parseProbe(b)
		if err != nil {
			return
		}
		checkLocation(t, facts.Location)
		if facts.Duration < 0 || math.IsNaN(facts.Duration) {
			t.Fatalf("duration %v", facts.Duration)
		}
		if v := facts.Video; v != nil && (v.Width < 0 || v.Height < 0 || v.FPS < 0 || math.IsNaN(v.FPS)) {
			t.Fatalf("implausible video %+v", *v)
		}
	})
}
