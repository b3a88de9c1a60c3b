package incident

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/sightline/sightline/internal/evidence"
)

// Grouping says which items are suggested for an incident.
type Grouping struct {
	// Tolerance is how far apart in time two recordings may be and still
	// be of one encounter (clocks of phones and cameras disagree, and
	// recording starts late). Default 2 minutes.
	Tolerance time.Duration
	// Distance is how far apart, in metres, two recordings with GPS may
	// be. Default 500 m.
	Distance float64
}

func (g Grouping) withDefaults() Grouping {
	if g.Tolerance <= 0 {
		g.Tolerance = 2 * time.Minute
	}
	if g.Distance <= 0 {
		g.Distance = 500
	}
	return g
}

// Suggestion is an item that may belong to an incident, and why.
type Suggestion struct {
	Item   evidence.Item `json:"evidence"`
	Reason string        `json:"reason"`
	// Metres is the distance to the nearest clip with GPS; nil when
	// either has none (then time alone suggested it).
	Metres *float64 `json:"distance_m,omitempty"`
}

// longest bounds how long before an incident's first clip a recording
// that overlaps it may have started.
const longest = 12 * time.Hour

// Suggest lists items not in the incident, and not decided on, recorded
// at a time overlapping one of its clips (within the tolerance) and, when
// both have a place, close to it.
func (s *Service) Suggest(ctx context.Context, id string, g Grouping) ([]Suggestion, error) {
	g = g.withDefaults()
	clips, err := s.cfg.Store.Clips(ctx, id)
	if err != nil {
		return nil, err
	}
	decided, err := s.cfg.Store.Decided(ctx, id)
	if err != nil {
		return nil, err
	}
	in := map[string]bool{}
	var spans []span
	var from, to time.Time
	for _, c := range clips {
		in[c.Evidence] = true
		it, err := s.cfg.Evidence.Get(ctx, c.Evidence)
		if err != nil {
			return nil, err
		}
		sp, ok := spanOf(it)
		if !ok {
			continue
		}
		spans = append(spans, sp)
		if from.IsZero() || sp.start.Before(from) {
			from = sp.start
		}
		if sp.end.After(to) {
			to = sp.end
		}
	}
	out := []Suggestion{}
	if len(spans) == 0 {
		return out, nil
	}
	candidates, err := s.cfg.Store.CapturedBetween(ctx, from.Add(-g.Tolerance-longest), to.Add(g.Tolerance))
	if err != nil {
		return nil, err
	}
	for _, it := range candidates {
		if in[it.ID] {
			continue
		}
		if _, ok := decided[it.ID]; ok {
			continue
		}
		if sg, ok := g.match(it, spans); ok {
			out = append(out, sg)
		}
	}
	return out, nil
}

// span is when and where a clip was recorded.
type span struct {
	id         string
	start, end time.Time
	place      *evidence.Item
}

func spanOf(it evidence.Item) (span, bool) {
	if it.CapturedAt == nil {
		return span{}, false
	}
	d := 0.0
	if it.DurationS != nil {
		d = *it.DurationS
	}
	sp := span{id: it.ID, start: *it.CapturedAt, end: it.CapturedAt.Add(time.Duration(d * float64(time.Second)))}
	if it.Location != nil {
		sp.place = &it
	}
	return sp, true
}

// match reports whether it overlaps one of spans in time (within the
// tolerance) and, where both have places, is near it.
func (g Grouping) match(it evidence.Item, spans []span) (Suggestion, bool) {
	c, ok := spanOf(it)
	if !ok {
		return Suggestion{}, false
	}
	for _, sp := range spans {
		if c.start.After(sp.end.Add(g.Tolerance)) || c.end.Before(sp.start.Add(-g.Tolerance)) {
			continue
		}
		sg := Suggestion{Item: it}
		overlap := minTime(c.end, sp.end).Sub(maxTime(c.start, sp.start))
		if overlap > 0 {
			sg.Reason = fmt.Sprintf("recorded at the same time as %s (%s overlap)", sp.id, overlap.Round(time.Second))
		} else {
			sg.Reason = fmt.Sprintf("recorded within %s of %s", (-overlap).Round(time.Second), sp.id)
		}
		if sp.place != nil && it.Location != nil {
			m := Metres(sp.place.Location.Lat, sp.place.Location.Lon, it.Location.Lat, it.Location.Lon)
			if m > g.Distance {
				continue
			}
			sg.Metres = &m
			sg.Reason += fmt.Sprintf(", %.0f m away", m)
		} else {
			sg.Reason += "; no GPS to compare"
		}
		return sg, true
	}
	return Suggestion{}, false
}

// Metres is the great-circle distance between two points (haversine, on
// a sphere of the Earth's mean radius).
func Metres(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371008.8
	rad := math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
