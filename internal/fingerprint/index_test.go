package fingerprint

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSealKeepsEveryPosting seals landmarks of more recordings than a
// segment numbers, some longer than a part, and finds each one again.
func TestSealKeepsEveryPosting(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := newAudioIndex(1 << 30)
	want := map[uint32][][2]uint32{}
	for rec := range uint32(maxParts + 300) {
		n := 3
		if rec%1000 == 0 {
			n = 40 // a long recording: times past several parts
		}
		var lms []Landmark
		for range n {
			l := Landmark{Hash: uint32(r.IntN(1 << 10)), T: uint32(r.IntN(1 << 20))}
			if n > 3 {
				l.T = uint32(r.IntN(5 << timeBits))
			}
			lms = append(lms, l)
			want[l.Hash] = append(want[l.Hash], [2]uint32{rec, l.T})
		}
		x.add(rec, lms)
	}
	x.segs, x.tail, x.tailMap = seal(x.tail), nil, map[uint32][]entry{}
	if len(x.segs) < 2 {
		t.Fatalf("%d segments, want at least 2 (more parts than %d)", len(x.segs), maxParts)
	}
	for h, w := range want {
		var got [][2]uint32
		x.each(h, func(rec, t uint32) { got = append(got, [2]uint32{rec, t}) })
		cmp := func(a, b [2]uint32) int {
			if a[0] != b[0] {
				return int(a[0]) - int(b[0])
			}
			return int(a[1]) - int(b[1])
		}
		slices.SortFunc(got, cmp)
		slices.SortFunc(w, cmp)
		if !slices.Equal(got, w) {
			t.Fatalf("hash %d: got %v, want %v", h, got, w)
		}
	}
}
