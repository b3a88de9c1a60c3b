package web

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/sightline/sightline/internal/release"
	"github.com/sightline/sightline/verify"
)

// The public page of a published release, /r/{id}: no account, nothing
// logged per viewer, everything in the HTML (the list, the bars and the
// links work without JavaScript; release.js plays the angles in step).

type releasePageView struct {
	Release        release.Release
	M              verify.ReleaseManifest
	ManifestSHA256 string
	Versions       []releaseVersionView
	Angles         []releaseAngle
	Lanes          []releaseLane
	Gaps           []releaseSegment // where no camera recorded
	Edits          []releaseEdit
	Withheld       []releaseWithheld
	Total          float64
	Latest         bool // no later version is published
}

type releaseWithheld struct {
	Label, Reason string
	From, To      float64
}

type releaseVersionView struct {
	ID        string
	Number    int
	Published time.Time
	Current   bool
}

type releaseAngle struct {
	N            int
	Label        string
	URL          string
	IncidentFrom float64
	Duration     float64
}

// releaseLane is a recording's bar on the incident's clock, in percent of
// its length.
type releaseLane struct {
	Label, How  string
	Left, Width float64
	Segments    []releaseSegment
}

type releaseSegment struct {
	Left, Width float64
	Kind        string // shown, withheld
	Reason      string
	From, To    float64 // seconds on the incident's clock
}

type releaseEdit struct {
	Label string
	From  float64 // seconds of the recording shown
	To    float64
	Of    float64 // the recording's length
	Boxes []string
	Mutes []string
}

// releasePage answers GET /r/{release}.
func (s *server) releasePage(w http.ResponseWriter, r *http.Request) {
	rel, ok := s.published(w, r)
	if !ok {
		return
	}
	m, err := verify.ParseReleaseManifest(rel.Manifest)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	versions, err := s.Releases.Versions(r.Context(), rel.Incident)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := releasePageView{Release: rel, M: m, ManifestSHA256: m.SHA256()}
	v.Latest = true
	for _, o := range versions {
		if o.Status == release.Published {
			v.Versions = append(v.Versions, releaseVersionView{o.ID, o.Number, o.Published, o.ID == rel.ID})
			v.Latest = v.Latest && o.Number <= rel.Number
		}
	}
	reasons := map[string]string{}
	for _, b := range s.Redactions.Bases() {
		reasons[b.Code] = b.Text
	}
	reason := func(code string) string {
		if t := reasons[code]; t != "" {
			return t
		}
		return code
	}
	labels := map[string]string{}
	for i, rec := range m.Recordings {
		labels[rec.Evidence] = fmt.Sprintf("Camera %d (%s)", i+1, rec.Source)
		v.Total = max(v.Total, rec.IncidentFromS+rec.DurationS)
	}
	v.Total = max(v.Total, 1)
	pct := func(t float64) float64 { return math.Round(10000*t/v.Total) / 100 }
	for _, rec := range m.Recordings {
		lane := releaseLane{Label: labels[rec.Evidence], How: placedBy(rec), Left: pct(rec.IncidentFromS), Width: pct(rec.DurationS)}
		for _, f := range m.Files {
			if f.Original.Evidence == rec.Evidence {
				lane.Segments = append(lane.Segments, releaseSegment{Left: pct(f.IncidentFromS), Width: pct(f.ToS - f.FromS), Kind: "shown",
					From: f.IncidentFromS, To: f.IncidentFromS + f.ToS - f.FromS})
			}
		}
		for _, wh := range m.Withheld {
			if wh.Evidence == rec.Evidence {
				lane.Segments = append(lane.Segments, releaseSegment{Left: pct(wh.IncidentFromS), Width: pct(wh.ToS - wh.FromS), Kind: "withheld",
					Reason: reason(wh.Reason), From: wh.IncidentFromS, To: wh.IncidentFromS + wh.ToS - wh.FromS})
			}
		}
		v.Lanes = append(v.Lanes, lane)
	}
	v.Gaps = gaps(m.Recordings, v.Total, pct)
	for n, f := range m.Files {
		label := labels[f.Original.Evidence]
		v.Angles = append(v.Angles, releaseAngle{N: n, Label: label, URL: fmt.Sprintf("/r/%s/files/%d", rel.ID, n),
			IncidentFrom: f.IncidentFromS, Duration: f.ToS - f.FromS})
		e := releaseEdit{Label: label, From: f.FromS, To: f.ToS, Of: float64(f.Original.Frames) / f.Original.FPS}
		boxes, mutes := map[string]int{}, map[string]int{}
		for _, c := range f.Changes {
			if c.Kind == verify.ChangeBox {
				boxes[reason(c.Reason)]++
			} else {
				mutes[reason(c.Reason)]++
			}
		}
		e.Boxes, e.Mutes = counted(boxes, "area hidden", "areas hidden"), counted(mutes, "stretch of sound muted", "stretches of sound muted")
		v.Edits = append(v.Edits, e)
	}
	for _, wh := range m.Withheld {
		v.Withheld = append(v.Withheld, releaseWithheld{Label: labels[wh.Evidence], Reason: reason(wh.Reason), From: wh.FromS, To: wh.ToS})
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	s.render(w, http.StatusOK, "release.html", v)
}

// placedBy says how a recording was put on the incident's clock.
func placedBy(rec verify.ReleaseRecording) string {
	switch rec.Method {
	case "audio":
		return fmt.Sprintf("placed by its sound, %.0f %% sure", 100*rec.Confidence)
	case "manual":
		return "placed by a reviewer"
	case "metadata":
		return "placed by its own clock (not checked by sound)"
	}
	return "placed by " + rec.Method
}

// counted says "2 areas hidden: reason" for each reason, in order.
func counted(by map[string]int, one, many string) []string {
	var out []string
	for reason, n := range by {
		word := many
		if n == 1 {
			word = one
		}
		out = append(out, fmt.Sprintf("%d %s: %s", n, word, reason))
	}
	slices.Sort(out)
	return out
}

// gaps are the stretches of the incident's clock no recording covers.
func gaps(recs []verify.ReleaseRecording, total float64, pct func(float64) float64) []releaseSegment {
	type span struct{ from, to float64 }
	var spans []span
	for _, r := range recs {
		spans = append(spans, span{r.IncidentFromS, r.IncidentFromS + r.DurationS})
	}
	slices.SortFunc(spans, func(a, b span) int {
		switch {
		case a.from < b.from:
			return -1
		case a.from > b.from:
			return 1
		}
		return 0
	})
	var out []releaseSegment
	at := 0.0
	for _, s := range spans {
		if s.from > at+0.5 {
			out = append(out, releaseSegment{Left: pct(at), Width: pct(s.from - at), Kind: "gap", From: at, To: s.from})
		}
		at = max(at, s.to)
	}
	if total > at+0.5 {
		out = append(out, releaseSegment{Left: pct(at), Width: pct(total - at), Kind: "gap", From: at, To: total})
	}
	return out
}
