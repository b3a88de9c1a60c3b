package fingerprint

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// postingsByID lists every posting of hashes as "id@t", sorted.
func postingsByID(ix *Index, hashes []uint32) []string {
	var out []string
	for _, h := range hashes {
		ix.audio.each(h, func(rec, t uint32) { out = append(out, fmt.Sprintf("%d:%s@%d", h, ix.id(rec), t)) })
	}
	slices.Sort(out)
	return out
}

// TestSegmentsPersist: segments sealed as recordings are added are
// written once each; an index opened on the folder holds the same
// postings and picture samples under the same recordings; a damaged
// segment is skipped and named, the others still load.
func TestSegmentsPersist(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(3, 4))
	ix := NewIndex(Options{Dir: dir, SealAfter: 500})
	var hashes []uint32
	for i := range 12 {
		fp := &Fingerprint{FPS: PictureRate}
		for k := range 130 {
			h := uint32(r.IntN(1 << hashBits))
			if k < 3 {
				hashes = append(hashes, h)
			}
			fp.Landmarks = append(fp.Landmarks, Landmark{Hash: h, T: uint32(k * 7)})
		}
		for range 90 {
			fp.Frames = append(fp.Frames, r.Uint64())
		}
		if err := ix.Add(fmt.Sprint("rec-", i), fp); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "seg-*.slix"))
	if len(files) != 3 { // 4 recordings (520 landmarks) fill each
		t.Fatalf("%d segment files, want 3", len(files))
	}
	want := postingsByID(ix, hashes)

	again := NewIndex(Options{Dir: dir, Frames: func(string) ([]uint64, error) { return nil, nil }})
	skipped, err := again.Open()
	if err != nil || len(skipped) != 0 {
		t.Fatalf("open: %v %v", skipped, err)
	}
	if again.Len() != 12 {
		t.Fatalf("%d recordings read back, want 12", again.Len())
	}
	if got := postingsByID(again, hashes); !slices.Equal(got, want) {
		t.Fatalf("postings read back differ: %d, want %d", len(got), len(want))
	}
	for i := range 12 {
		n := again.nums[fmt.Sprint("rec-", i)]
		if a, b := again.pics.sampledOf(n), ix.pics.sampledOf(ix.nums[fmt.Sprint("rec-", i)]); !slices.Equal(a, b) || len(a) != 6 {
			t.Fatalf("picture samples of rec-%d: %d read back, %d written", i, len(a), len(b))
		}
	}

	b, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(files[1], b, 0o600); err != nil {
		t.Fatal(err)
	}
	third := NewIndex(Options{Dir: dir})
	skipped, err = third.Open()
	if err != nil || len(skipped) != 1 || third.Len() != 8 {
		t.Fatalf("with a damaged segment: %d recordings, skipped %v, %v", third.Len(), skipped, err)
	}
}

func FuzzSegment(f *testing.F) {
	ix := NewIndex(Options{SealAfter: 4})
	ix.Add("a", &Fingerprint{Landmarks: []Landmark{{1, 2}, {3, 4}, {5, 1 << 21}, {6, 7}}, Frames: []uint64{1, 2}, FPS: PictureRate})
	for _, s := range ix.audio.segs {
		var b bytesBuffer
		if err := ix.encode(&b, s); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(b[:len(b)-32])) // the body, without its SHA-256
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, s, local, err := decodeSegment(b)
		if err != nil {
			return
		}
		for _, p := range s.post {
			if int(local[p>>timeBits]) >= len(recs) {
				t.Fatalf("a posting's part names no recording")
			}
		}
	})
}

type bytesBuffer []byte

func (b *bytesBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }
