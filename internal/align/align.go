// Package align finds where one recording of an event starts relative to
// another from their sound: the offset that puts both on one clock, how
// sure that is, and how fast one clock runs against the other (drift).
//
// It works on mono PCM at a common rate (Rate, 8 kHz; media extracts it
// with ffmpeg). The method is GCC-PHAT, the generalized cross-correlation
// with phase transform: the cross-spectrum of the two signals is whitened
// so that the correlation peak is sharp whatever the microphones, rooms
// and codecs coloured, then band-limited to where speech and street sound
// carry. A coarse pass over the whole of both at a quarter of the rate
// finds the lag; a fine pass correlates windows along the shorter clip at
// the full rate around that lag, and a weighted line through the window
// lags gives the offset at the clip's start and the drift.
//
// Confidence comes from the peak's prominence over the rest of the
// correlation (peak-to-sidelobe ratio). Clips without common sound give no
// prominent peak: Pair reports them as not aligned rather than guessing.
package align

import (
	"encoding/binary"
	"errors"
	"math"
	"math/cmplx"
	"slices"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Rate is the sample rate Pair expects, in Hz.
const Rate = 8000

// coarse is the decimation factor of the coarse pass.
const coarse = 4

// Result is where clip b sits on clip a's clock.
type Result struct {
	// Offset is the time on a's clock, in seconds, at which b's first
	// sample was recorded (negative if b started first).
	Offset float64
	// Drift is how much faster b's clock runs than a's, in parts per
	// million: b's sample at time t (its clock) was recorded at Offset +
	// t·(1 + Drift·1e-6) on a's.
	Drift float64
	// Confidence is from 0 (no evidence) to 1 (an unmistakable match).
	Confidence float64
	// PSR is the coarse peak-to-sidelobe ratio the confidence is made of.
	PSR float64
	// Windows is how many fine windows agreed on the line.
	Windows int
}

// ErrNoSound says one of the clips has no sound to align by.
var ErrNoSound = errors.New("align: no usable sound")

// ErrNoMatch says the clips share no sound that could be found.
var ErrNoMatch = errors.New("align: no common sound found")

// MinPSR is the least peak-to-sidelobe ratio taken as a match.
const MinPSR = 9

// Silent reports whether x is too quiet to align by (under -60 dBFS RMS).
func Silent(x []float32) bool {
	var sum float64
	for _, v := range x {
		sum += float64(v) * float64(v)
	}
	return len(x) == 0 || math.Sqrt(sum/float64(len(x))) < 1e-3
}

// Pair finds where b sits on a's clock. Both are mono PCM at Rate.
func Pair(a, b []float32) (Result, error) {
	if Silent(a) || Silent(b) {
		return Result{}, ErrNoSound
	}
	ca, cb := decimate(a, coarse), decimate(b, coarse)
	chunk := min(len(cb), coarseChunk)
	c := newCorrelator(ca, len(ca)+chunk, Rate/coarse, 100, 1000)
	var best Result
	tried := map[int]bool{}
	for _, start := range []int{0, (len(cb) - chunk) / 2, len(cb) - chunk} {
		if tried[start] {
			continue
		}
		tried[start] = true
		r := c.chunk(ca, cb, start, chunk)
		if r.PSR > best.PSR {
			best = r
		}
		if r.PSR < MinPSR {
			continue
		}
		// A prominent peak, or one that windows all along b confirm at
		// the full rate, ends the search; a weak lone peak does not.
		refined := r
		refine(a, b, &refined)
		if r.PSR >= 2*MinPSR || refined.Windows >= confirmWindows {
			return refined, nil
		}
	}
	if best.PSR < MinPSR {
		return best, ErrNoMatch
	}
	refine(a, b, &best)
	return best, nil
}

// confirmWindows is how many fine windows on one line confirm a coarse
// peak that is not prominent on its own (a far camera, a drifting clock).
const confirmWindows = 3

// coarseChunk bounds the part of b the coarse pass correlates at once:
// short enough that a clock drift of a few hundred ppm does not smear the
// peak (60 s at 300 ppm is 18 ms), long enough to be unmistakable.
const coarseChunk = 60 * Rate / coarse

// chunk correlates the chunk of b's coarse signal cb from start with the
// whole of a's (ca) and returns the offset it gives and its prominence.
func (c *correlator) chunk(ca, cb []float64, start, n int) Result {
	lag, psr := c.lag(cb[start:start+n], -(n - 1), len(ca)+n-1)
	return Result{Offset: (lag - float64(start)) / (Rate / coarse), PSR: psr, Confidence: confidence(psr)}
}

func confidence(psr float64) float64 {
	return math.Max(0, math.Min(1, (psr-MinPSR/2)/(3*MinPSR)))
}

// refine correlates windows of b at the full rate against a around the
// coarse offset and fits a line through the window lags: the offset at
// b's start and the drift. Without enough agreeing windows it keeps the
// coarse offset.
func refine(a, b []float32, r *Result) {
	const win = 8 * Rate        // window length
	const slack = Rate / 4      // search ±0.25 s around the coarse lag
	step := max(win, len(b)/12) // at most about 12 windows
	type point struct{ t, lag, w float64 }
	var pts []point
	for start := 0; start+win <= len(b); start += step {
		// Where this window of b should be in a.
		at := int(math.Round(r.Offset*Rate)) + start
		lo, hi := at-slack, at+win+slack
		if lo < 0 || hi > len(a) {
			continue
		}
		w := make([]float64, win)
		for i, v := range b[start : start+win] {
			w[i] = float64(v)
		}
		lag, psr := newCorrelator(a[lo:hi], hi-lo+win, Rate, 150, 3800).lag(w, 0, 2*slack+1)
		if psr < MinPSR {
			continue
		}
		// How far the window's start on a's clock is from its start on
		// b's, in samples: the offset at b-time start.
		pts = append(pts, point{float64(start), float64(lo) + lag - float64(start), psr})
	}
	if len(pts) == 0 {
		return
	}
	// Weighted least squares, dropping points far from the line until
	// the rest agree within 2 ms.
	for {
		var sw, st, sl, stt, stl float64
		for _, p := range pts {
			sw += p.w
			st += p.w * p.t
			sl += p.w * p.lag
			stt += p.w * p.t * p.t
			stl += p.w * p.t * p.lag
		}
		slope, icept := 0.0, sl/sw
		if den := sw*stt - st*st; len(pts) >= 3 && den > 0 {
			slope = (sw*stl - st*sl) / den
			icept = (sl - slope*st) / sw
		}
		worst, wi := 0.0, -1
		for i, p := range pts {
			if d := math.Abs(p.lag - (icept + slope*p.t)); d > worst {
				worst, wi = d, i
			}
		}
		if worst <= 0.002*Rate || len(pts) <= 2 {
			r.Offset = icept / Rate
			r.Drift = slope * 1e6
			r.Windows = len(pts)
			// The windows, each sharp where a drift smears the whole,
			// say how sure the line is.
			ws := make([]float64, len(pts))
			for i, p := range pts {
				ws[i] = p.w
			}
			slices.Sort(ws)
			r.Confidence = max(r.Confidence, confidence(ws[len(ws)/2]))
			return
		}
		pts = slices.Delete(pts, wi, wi+1)
	}
}

// decimate averages every n samples: a crude low-pass and downsample,
// enough for the coarse pass.
func decimate(x []float32, n int) []float64 {
	out := make([]float64, len(x)/n)
	for i := range out {
		var s float32
		for _, v := range x[i*n : i*n+n] {
			s += v
		}
		out[i] = float64(s) / float64(n)
	}
	return out
}

// correlator cross-correlates signals against one reference with the
// phase transform (GCC-PHAT), weighting only lo-hi Hz. The reference's
// spectrum is computed once.
type correlator struct {
	fft     *fourier.FFT
	n, rate int
	lo, hi  float64
	ref     []complex128
	seq     []float64
	spec    []complex128
}

// newCorrelator prepares ref for correlation with signals up to
// span-len(ref) samples long.
func newCorrelator[T float32 | float64](ref []T, span, rate int, lo, hi float64) *correlator {
	n := nextSize(span)
	c := &correlator{fft: fourier.NewFFT(n), n: n, rate: rate, lo: lo, hi: hi, seq: make([]float64, n)}
	for i, v := range ref {
		c.seq[i] = float64(v)
	}
	c.ref = c.fft.Coefficients(nil, c.seq)
	return c
}

// lag returns the lag of b in the reference in samples (sub-sample, by
// parabolic interpolation), searched from first over count lags, and the
// peak's prominence (peak-to-sidelobe ratio).
func (c *correlator) lag(b []float64, first, count int) (float64, float64) {
	clear(c.seq)
	copy(c.seq, b)
	c.spec = c.fft.Coefficients(c.spec, c.seq)
	for k, a := range c.ref {
		f := c.fft.Freq(k) * float64(c.rate)
		if f < c.lo || f > c.hi {
			c.spec[k] = 0
			continue
		}
		g := a * cmplx.Conj(c.spec[k])
		if m := cmplx.Abs(g); m > 1e-12 {
			c.spec[k] = g / complex(m, 0)
		} else {
			c.spec[k] = 0
		}
	}
	r := c.fft.Sequence(c.seq, c.spec)
	// r[k] is the correlation at lag k (k > n/2: k-n).
	n := c.n
	at := func(lag int) float64 { return r[((lag%n)+n)%n] }
	best, bi := math.Inf(-1), first
	for l := first; l < first+count; l++ {
		if v := at(l); v > best {
			best, bi = v, l
		}
	}
	y0, y1, y2 := at(bi-1), best, at(bi+1)
	frac := 0.0
	if d := y0 - 2*y1 + y2; d < 0 {
		frac = 0.5 * (y0 - y2) / d
	}
	// Prominence: the peak against the correlation away from it.
	var m, v float64
	guard := max(3, c.rate/200)
	k := 0
	for l := first; l < first+count; l++ {
		if l < bi-guard || l > bi+guard {
			x := at(l)
			m += x
			v += x * x
			k++
		}
	}
	if k < 2 {
		return float64(bi) + frac, 0
	}
	m /= float64(k)
	sd := math.Sqrt(math.Max(0, v/float64(k)-m*m))
	if sd == 0 {
		return float64(bi) + frac, 0
	}
	return float64(bi) + frac, (best - m) / sd
}

// nextSize is the smallest size ≥ n whose only prime factors are 2, 3
// and 5, which the FFT handles fast.
func nextSize(n int) int {
	best := math.MaxInt
	for p2 := 1; p2 < 2*n; p2 *= 2 {
		for p3 := p2; p3 < 2*n; p3 *= 3 {
			for p5 := p3; p5 < 2*n; p5 *= 5 {
				if p5 >= n && p5 < best {
					best = p5
				}
			}
		}
	}
	return best
}

// FromF32LE reads raw little-endian 32-bit float samples (a trailing
// partial sample is ignored).
func FromF32LE(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// Within finds where b lies in a, a little longer than b: the lag of b's
// first sample in a's samples (sub-sample), searched over every place b
// fits whole, and the peak's prominence (compare with MinPSR). It
// sharpens a place already known to within (len(a)-len(b))/2 samples,
// such as a clip found by its fingerprint. Both are mono PCM at Rate.
func Within(a, b []float32) (lag, psr float64) {
	if len(b) == 0 || len(a) < len(b) {
		return 0, 0
	}
	w := make([]float64, len(b))
	for i, v := range b {
		w[i] = float64(v)
	}
	return newCorrelator(a, len(a)+len(b), Rate, 150, 3800).lag(w, 0, len(a)-len(b)+1)
}
