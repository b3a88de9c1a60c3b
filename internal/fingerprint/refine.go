package fingerprint

import (
	"math"

	"github.com/sightline/sightline/internal/align"
)

// A landmark match places a clip to within a frame of the spectrogram
// (16 ms) or so. Refine then finds the exact offset by GCC-PHAT (package
// align): the clip's own sound correlated with the recording's around
// that place, as the incident timeline aligns recordings.

// Refinement bounds: the clip's first refineSeconds are correlated, over
// refineSlack samples either side of the landmark offset.
const (
	refineSeconds = 20
	refineSlack   = Rate / 16 // 62.5 ms, four hops
)

// SoundReader reads n samples of a recording's sound (mono PCM at Rate)
// from sample from on: fewer at its end, none past it.
type SoundReader func(from, n int) ([]float32, error)

// Refine sharpens the offset of m, a match of q by its sound at the
// recording's own speed, with the recording's sound read by sound. It
// reports whether it moved the offset: not for a match by pictures or at
// another speed (the correlation would smear), nor when the correlation
// has no prominent peak (music or noise over the clip), when the
// landmarks' offset stands.
func (q *Query) Refine(m *Match, sound SoundReader) (bool, error) {
	if m.By != "sound" || m.Speed != 1 || len(q.sound) < Rate {
		return false, nil
	}
	at := int(math.Round(m.Offset * Rate))
	from := max(0, at-refineSlack)
	a, err := sound(from, at+len(q.sound)+refineSlack-from)
	if err != nil {
		return false, err
	}
	lag, psr := align.Within(a, q.sound)
	if psr < align.MinPSR {
		return false, nil
	}
	m.Offset = (float64(from) + lag) / Rate
	return true, nil
}
