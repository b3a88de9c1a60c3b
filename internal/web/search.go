package web

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sightline/sightline/internal/access"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/incident"
)

// search answers GET /api/v1/evidence: footage the caller may see (an
// investigator: may bring onto an incident) recorded in a time range,
// newest first, as a list shows it (listing). Filters:
//
//	from, to     recording time, RFC 3339 (default: the last 30 days)
//	source       phone, dashcam, bodycam, surveillance, other
//	device       a device's name, as its token or file gives it
//	badge        an officer's badge, as the camera's token or file gives it
//	near         "lat,lon", within (metres, default 500) of where it was recorded
//
// What a file says (device, officer, place) is matched only on footage
// the caller may read without giving a reason; a civilian's footage is
// found by time and source, and its file's words come with opening it.
func (s *server) search(w http.ResponseWriter, r *http.Request) {
	q, err := parseSearch(r, s.Now())
	if err != nil {
		s.problem(w, r, http.StatusBadRequest, err.Error())
		return
	}
	found, err := s.find(r.Context(), callerOf(r), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Evidence []listing `json:"evidence"`
	}{found})
}

// searchQuery is a parsed search.
type searchQuery struct {
	from, to              time.Time
	source, device, badge string
	near                  *[2]float64
	within                float64
}

// maxFound bounds the answer to a search.
const maxFound = 100

func parseSearch(r *http.Request, now time.Time) (searchQuery, error) {
	v := r.URL.Query()
	q := searchQuery{to: now, from: now.Add(-30 * 24 * time.Hour), source: v.Get("source"),
		device: strings.TrimSpace(v.Get("device")), badge: strings.TrimSpace(v.Get("badge")), within: 500}
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"from", &q.from}, {"to", &q.to}} {
		if s := v.Get(t.name); s != "" {
			at, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, fmt.Errorf("%s: give a time such as 2026-11-30T21:05:00Z", t.name)
			}
			*t.to = at
		}
	}
	if !q.from.Before(q.to) {
		return q, fmt.Errorf("from must be before to")
	}
	if s := v.Get("near"); s != "" {
		lat, lon, ok := strings.Cut(s, ",")
		a, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
		b, err2 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
		if !ok || err1 != nil || err2 != nil || math.Abs(a) > 90 || math.Abs(b) > 180 {
			return q, fmt.Errorf("near: give a place as latitude,longitude, such as 40.7128,-74.0060")
		}
		q.near = &[2]float64{a, b}
	}
	if s := v.Get("within"); s != "" {
		m, err := strconv.ParseFloat(s, 64)
		if err != nil || !(m > 0 && m <= 100_000) {
			return q, fmt.Errorf("within: metres, up to 100000")
		}
		q.within = m
	}
	return q, nil
}

// find runs a search for c.
func (s *server) find(ctx context.Context, c caller, q searchQuery) ([]listing, error) {
	ids, err := s.Facts.Recorded(ctx, q.from, q.to, q.source, 5*maxFound)
	if err != nil {
		return nil, err
	}
	out := []listing{}
	for _, id := range ids {
		if len(out) == maxFound {
			break
		}
		it, err := s.Evidence.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok, err := s.mayBringIn(ctx, c, it); err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		f, err := s.facts(ctx, it)
		if err != nil {
			return nil, err
		}
		// What its file says may be matched if c reads it without a reason.
		readable := !f.Civilian() && access.Decide(c.Principal, access.ReadItem, f).Allowed
		if q.matches(it, readable) {
			out = append(out, listed(it))
		}
	}
	return out, nil
}

// matches applies the filters on what an item or its file says.
func (q searchQuery) matches(it evidence.Item, readable bool) bool {
	said := func(server, file, want string) bool {
		return want == "" || strings.EqualFold(server, want) || readable && strings.EqualFold(file, want)
	}
	if !said(it.Uploader.Device, it.Device, q.device) || !said(it.Uploader.Badge, it.Officer, q.badge) {
		return false
	}
	if q.near != nil {
		return readable && it.Location != nil && incident.Metres(q.near[0], q.near[1], it.Location.Lat, it.Location.Lon) <= q.within
	}
	return true
}
