package fingerprint_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/fingerprint"
	"github.com/sightline/sightline/internal/fingerprint/fptest"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/verify"
)

// TestRecordsOfARelease computes the seconds' records of a span cut from
// a recording and encoded again (as a release is): each matches the
// recording's record of that second and is proved in its tree; a span
// from elsewhere in the recording, claimed to be this one, does not
// match.
func TestRecordsOfARelease(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	tool := &media.Tool{Timeout: 5 * time.Minute}
	rec, err := fptest.Recording(ctx, dir, 7, 30)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := fingerprint.Make(ctx, tool, input(rec), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(fp.Records) != 30 {
		t.Fatalf("%d records of a 30 s recording", len(fp.Records))
	}
	root, err := verify.RecordsRoot(fp.Records)
	if err != nil {
		t.Fatal(err)
	}
	span := func(from float64) []verify.Record {
		out := filepath.Join(dir, fmt.Sprintf("span-%g.mp4", from))
		cmd := exec.Command("ffmpeg", "-v", "error", "-y", "-ss", fmt.Sprint(from), "-i", rec, "-t", "10",
			"-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "aac", "-b:a", "128k", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		d, err := fingerprint.Decode(ctx, tool, input(out), dir)
		if err != nil {
			t.Fatal(err)
		}
		return d.Records(7.4)
	}
	again := span(7.4)
	if len(again) < 9 || again[0].Second != 8 {
		t.Fatalf("a span of 10 s from 7.4 s holds %d seconds from %v", len(again), again)
	}
	proofs, err := verify.ProveRecords(fp.Records, 8, 8+len(again))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again {
		logged := fp.Records[r.Second]
		if err := verify.CheckRecord(logged, proofs[i], int64(len(fp.Records)), root); err != nil {
			t.Error(err)
		}
		if why := verify.RecordsMatch(logged, r, [64]bool{}, false); why != "" {
			t.Errorf("second %d of the release: %s", r.Second, why)
		}
	}
	wrong := 0
	for _, r := range span(13.1) {
		if verify.RecordsMatch(fp.Records[r.Second], r, [64]bool{}, false) != "" {
			wrong++
		}
	}
	if wrong < 8 {
		t.Errorf("a span from 13.1 s claimed to be from 7.4 s: only %d seconds differ", wrong)
	}
}
