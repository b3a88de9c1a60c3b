package align_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sightline/sightline/internal/align"
)

// scene is seconds of a made-up event at align.Rate: noise shaped by a
// syllable-rate envelope (speech-like bursts) over a low hum.
func scene(seconds float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	n := int(seconds * align.Rate)
	out := make([]float64, n)
	env, target := 0.0, 0.0
	for i := range out {
		if i%(align.Rate/8) == 0 {
			target = 0
			if rng.Float64() < 0.6 {
				target = rng.Float64()
			}
		}
		env += (target - env) * 0.002
		out[i] = env*rng.NormFloat64()*0.3 + 0.02*math.Sin(2*math.Pi*60*float64(i)/align.Rate)
	}
	return out
}

// record is what a camera at distance makes of the scene from start for
// seconds: quieter, its own noise, a clock running ppm fast.
func record(s []float64, start, seconds, gain, noise, ppm float64, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 2))
	n := int(seconds * align.Rate)
	out := make([]float32, n)
	for i := range out {
		t := start*align.Rate + float64(i)*(1+ppm*1e-6)
		j := int(t)
		v := 0.0
		if j >= 0 && j+1 < len(s) {
			f := t - float64(j)
			v = s[j]*(1-f) + s[j+1]*f
		}
		out[i] = float32(gain*v + noise*rng.NormFloat64())
	}
	return out
}

func TestPair(t *testing.T) {
	s := scene(120, 1)
	for _, tc := range []struct {
		name             string
		aStart, aLen     float64
		bStart, bLen     float64
		gain, noise, ppm float64
	}{
		{"b starts 17.25 s later", 0, 60, 17.25, 40, 1, 0.01, 0},
		{"b started first", 20, 60, 3.5, 40, 1, 0.01, 0},
		{"far and noisy", 0, 60, 30.1, 30, 0.2, 0.05, 0},
		{"5 s in common", 0, 30, 25, 30, 1, 0.02, 0},
		{"drift 150 ppm over 100 s", 0, 120, 10, 100, 1, 0.01, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := record(s, tc.aStart, tc.aLen, 1, 0.01, 0, 3)
			b := record(s, tc.bStart, tc.bLen, tc.gain, tc.noise, tc.ppm, 4)
			r, err := align.Pair(a, b)
			if err != nil {
				t.Fatalf("%v (%+v)", err, r)
			}
			want := tc.bStart - tc.aStart
			if d := math.Abs(r.Offset - want); d > 0.002 {
				t.Errorf("offset %.4f s, want %.4f (error %.1f ms); %+v", r.Offset, want, d*1000, r)
			}
			if tc.ppm != 0 && math.Abs(r.Drift-tc.ppm) > 20 {
				t.Errorf("drift %.1f ppm, want %.0f", r.Drift, tc.ppm)
			}
			if r.Confidence < 0.3 {
				t.Errorf("confidence %.2f for a clear match", r.Confidence)
			}
		})
	}
}

func TestNoSoundIsNotAGuess(t *testing.T) {
	s := scene(60, 5)
	a := record(s, 0, 60, 1, 0.01, 0, 6)
	silence := make([]float32, 30*align.Rate)
	if _, err := align.Pair(a, silence); !errors.Is(err, align.ErrNoSound) {
		t.Errorf("silence: %v", err)
	}
	other := record(scene(60, 99), 0, 30, 1, 0.01, 0, 7)
	if r, err := align.Pair(a, other); !errors.Is(err, align.ErrNoMatch) {
		t.Errorf("a clip of another event: %v, %+v", err, r)
	}
}

// BenchmarkTenMinutePair aligns two 10-minute clips, far and drifting
// (the slow case of make bench-sync, where the coarse pass looks at every
// chunk).
func BenchmarkTenMinutePair(b *testing.B) {
	s := scene(700, 8)
	x := record(s, 0, 600, 1, 0.01, 0, 3)
	y := record(s, 36.6, 600, 0.5, 0.02, -150, 4)
	for b.Loop() {
		if _, err := align.Pair(x, y); err != nil {
			b.Fatal(err)
		}
	}
}

// Within places a clip in a stretch of a recording to a fraction of a
// sample, and finds no prominent peak in a stretch it is not from.
func TestWithin(t *testing.T) {
	s := scene(30, 3)
	a := record(s, 10, 11, 1, 0.01, 0, 4)        // 10 s to 21 s of the scene
	b := record(s, 10.4321, 10, 0.5, 0.05, 0, 5) // a clip from 10.4321 s
	lag, psr := align.Within(a, b)
	if want := 0.4321 * align.Rate; math.Abs(lag-want) > 0.5 || psr < align.MinPSR {
		t.Errorf("Within: lag %.2f (psr %.1f), want %.2f", lag, psr, want)
	}
	other := record(scene(30, 9), 10, 11, 1, 0.01, 0, 6)
	if _, psr := align.Within(other, b); psr >= align.MinPSR {
		t.Errorf("a clip placed in a stretch it is not from, psr %.1f", psr)
	}
	if _, psr := align.Within(b, a); psr != 0 {
		t.Errorf("a clip longer than the stretch: psr %.1f, want 0", psr)
	}
}
