package web

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// A holdback passes on everything but its last bytes until released,
// whatever the sizes of the writes.
func TestHoldback(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		var want, got bytes.Buffer
		h := &holdback{w: &got, keep: 1 + r.IntN(100)}
		for range r.IntN(20) {
			p := make([]byte, r.IntN(300))
			for i := range p {
				p[i] = byte(r.Uint32())
			}
			want.Write(p)
			h.Write(p)
			if held := want.Len() - got.Len(); held != min(h.keep, want.Len()) || !bytes.HasPrefix(want.Bytes(), got.Bytes()) {
				t.Fatalf("holding %d bytes of %d (keep %d)", held, want.Len(), h.keep)
			}
		}
		h.release()
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatal("released bytes differ")
		}
	}
}
