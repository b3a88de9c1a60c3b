package fingerprint

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Rate is the sample rate of the sound fingerprinted (align.Rate: the
// derived "audio" file is read as it is).
const Rate = 8000

// The spectrogram: 64 ms frames every 16 ms, so a landmark's time is in
// units of 16 ms (Hop samples).
const (
	frameLen = 512
	Hop      = 128
	// FramesPerSecond is how many landmark time units make a second.
	FramesPerSecond = float64(Rate) / Hop
)

// The band searched for peaks, in bins of Rate/frameLen (15.6 Hz):
// 250 Hz to 3.75 kHz, where speech, sirens and engines carry and which a
// phone's speaker and AAC at a low rate keep.
const (
	loBin = 16
	hiBin = 240
)

// Peak picking: a peak is the loudest point within ±peakBins and
// ±peakFrames of itself; of a recording, at most peaksPerSecond of the
// most prominent are kept per second. A query keeps more (queryPeaks), so
// that a recording's peaks are among them even when sound mixed on top
// (music, noise) has peaks of its own.
const (
	peakBins       = 9
	peakFrames     = 6
	peaksPerSecond = 15
	queryPeaks     = 30
)

// Pairing: each peak of a recording is paired with the next fanOut peaks
// that follow it by 1 to maxDT frames and lie within ±maxDF bins; a
// query's with the next queryFanOut (peaks of its own may come between).
const (
	fanOut      = 3
	queryFanOut = 8
	maxDT       = 63
	maxDF       = 63
)

// Landmark is one hashed pair of spectrogram peaks: Hash is (f1, f2-f1,
// t2-t1) in 21 bits and T the first peak's time in Hop units.
type Landmark struct {
	Hash uint32
	T    uint32
}

// peak is a spectrogram peak in (possibly scaled) coordinates.
type peak struct {
	t, f float64
	s    float32 // prominence, for ranking
}

// Landmarks fingerprints mono PCM at Rate: its spectrogram's peaks,
// paired and hashed, in time order.
func Landmarks(pcm []float32) []Landmark {
	return pairs(peaks(pcm, peaksPerSecond), 1, 1, fanOut)
}

// spectrogram returns the log power of pcm's frames over [loBin, hiBin)
// (frame-major) and the number of frames.
func spectrogram(pcm []float32) ([]float32, int) {
	if len(pcm) < frameLen {
		return nil, 0
	}
	n := (len(pcm)-frameLen)/Hop + 1
	width := hiBin - loBin
	out := make([]float32, n*width)
	fft := fourier.NewFFT(frameLen)
	win := make([]float64, frameLen)
	for i := range win {
		win[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/frameLen)
	}
	seq := make([]float64, frameLen)
	var coef []complex128
	for k := range n {
		x := pcm[k*Hop : k*Hop+frameLen]
		for i, v := range x {
			seq[i] = float64(v) * win[i]
		}
		coef = fft.Coefficients(coef, seq)
		row := out[k*width : (k+1)*width]
		for b := range row {
			c := coef[loBin+b]
			row[b] = float32(math.Log(real(c)*real(c) + imag(c)*imag(c) + 1e-10))
		}
	}
	return out, n
}

// peaks finds pcm's spectrogram peaks: local maxima over a neighbourhood
// (so level and colouring do not matter, only what stands out where it
// is), above the near-silence floor, at most perSecond per second by
// how far each stands above its neighbourhood's mean.
func peaks(pcm []float32, perSecond int) []peak {
	spec, n := spectrogram(pcm)
	if n == 0 {
		return nil
	}
	width := hiBin - loBin
	// Separable maximum: over frequency, then over time.
	fmax := make([]float32, len(spec))
	for k := range n {
		row := spec[k*width : (k+1)*width]
		out := fmax[k*width : (k+1)*width]
		for b := range row {
			m := row[b]
			for j := max(0, b-peakBins); j <= min(width-1, b+peakBins); j++ {
				m = max(m, row[j])
			}
			out[b] = m
		}
	}
	// Mean of each frame (for prominence), and the silence floor: -70 dB
	// below full scale in a bin (log power of a full-scale sine's bin is
	// about log((frameLen/4)²)).
	floor := float32(math.Log(math.Pow(frameLen/4, 2)) - 70*math.Ln10/10)
	mean := make([]float32, n)
	for k := range n {
		var s float32
		for _, v := range spec[k*width : (k+1)*width] {
			s += v
		}
		mean[k] = s / float32(width)
	}
	var all []peak
	for k := range n {
		for b := range width {
			v := spec[k*width+b]
			if v < floor || v != fmax[k*width+b] {
				continue
			}
			isMax := true
			for j := max(0, k-peakFrames); j <= min(n-1, k+peakFrames) && isMax; j++ {
				if fmax[j*width+b] > v || (j < k && fmax[j*width+b] == v && spec[j*width+b] == v) {
					isMax = false
				}
			}
			if isMax {
				all = append(all, peak{t: float64(k), f: float64(b + loBin), s: v - mean[k]})
			}
		}
	}
	// Keep the most prominent per second.
	second := func(p peak) int { return int(p.t / FramesPerSecond) }
	var kept []peak
	for from := 0; from < len(all); {
		sec := second(all[from])
		to := from
		for to < len(all) && second(all[to]) == sec {
			to++
		}
		group := all[from:to]
		if len(group) > perSecond {
			slices.SortFunc(group, func(a, b peak) int {
				switch {
				case a.s > b.s:
					return -1
				case a.s < b.s:
					return 1
				}
				return 0
			})
			group = group[:perSecond]
			slices.SortFunc(group, byTime)
		}
		kept = append(kept, group...)
		from = to
	}
	return kept
}

func byTime(a, b peak) int {
	switch {
	case a.t < b.t:
		return -1
	case a.t > b.t:
		return 1
	case a.f < b.f:
		return -1
	case a.f > b.f:
		return 1
	}
	return 0
}

// pairs hashes pairs of peaks after scaling their times by tScale and
// frequencies by fScale (a query's hypothesis of how it was sped up).
// A landmark's T is its first peak's scaled time, rounded.
func pairs(ps []peak, tScale, fScale float64, fan int) []Landmark {
	var out []Landmark
	for i, a := range ps {
		n := 0
		for _, b := range ps[i+1:] {
			dt := math.Round((b.t - a.t) * tScale)
			if dt > maxDT {
				break
			}
			df := math.Round((b.f - a.f) * fScale)
			if dt < 1 || df < -maxDF || df > maxDF {
				continue
			}
			f1 := math.Round(a.f * fScale)
			if f1 < 0 || f1 > 255 {
				continue
			}
			out = append(out, Landmark{Hash: uint32(f1)<<13 | uint32(df+64)<<6 | uint32(dt), T: uint32(math.Round(a.t * tScale))})
			if n++; n == fan {
				break
			}
		}
	}
	return out
}

// Hypothesis is one way a query may have been sped up: its time runs
// Speed times as fast as the original's, its pitch (if Pitch) with it.
type Hypothesis struct {
	Speed float64
	Pitch bool
}

// Hypotheses are the speed changes a query is searched under: none, and
// 1 to 3 % faster or slower, as a tempo change (pitch kept) or a speed
// change (pitch with it).
var Hypotheses = func() []Hypothesis {
	hs := []Hypothesis{{Speed: 1}}
	for _, d := range []float64{0.01, -0.01, 0.02, -0.02, 0.03, -0.03} {
		hs = append(hs, Hypothesis{Speed: 1 + d}, Hypothesis{Speed: 1 + d, Pitch: true})
	}
	return hs
}()

// QueryLandmarks hashes a query's peaks under hypothesis h, in the
// original's time and frequency.
func queryLandmarks(ps []peak, h Hypothesis) []Landmark {
	fs := 1.0
	if h.Pitch {
		fs = 1 / h.Speed
	}
	return pairs(ps, h.Speed, fs, queryFanOut)
}
