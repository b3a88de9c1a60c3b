package fingerprint

import (
	"bytes"
	"testing"

	"github.com/sightline/sightline/verify"
)

func TestFileRoundTrip(t *testing.T) {
	fp := &Fingerprint{Landmarks: []Landmark{{1, 2}, {1<<hashBits - 1, 1 << 30}}, Frames: []uint64{3, 1 << 63}, FPS: 30,
		Records: []verify.Record{{Second: 0, HasSound: true, Sound: [32]uint8{1, 2}}, {Second: 1, HasPicture: true, Picture: [64]uint8{9}}}}
	b := fp.Marshal()
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), b) {
		t.Fatalf("read back differently: %+v", got)
	}
	for _, cut := range []int{0, 4, 5, 9, len(b) - 1} {
		if _, err := Unmarshal(b[:cut]); err == nil {
			t.Errorf("a file cut to %d bytes was read", cut)
		}
	}
}

func FuzzFingerprintFile(f *testing.F) {
	f.Add((&Fingerprint{Landmarks: []Landmark{{1, 2}}, Frames: []uint64{3}, FPS: 30, Records: []verify.Record{{HasSound: true}}}).Marshal())
	f.Add([]byte("SLFP\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fp, err := Unmarshal(b)
		if err != nil {
			return
		}
		if !bytes.Equal(fp.Marshal(), b) {
			t.Fatalf("a file read does not write back the same")
		}
	})
}
