package incident_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/align"
	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/db/dbtest"
	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/incident"
	"github.com/sightline/sightline/internal/media"
)

// env is an incident service on a real SQLite database, with a log that
// keeps events in memory and sounds set by the test (the seam the media
// jobs fill in production).
type env struct {
	svc    *incident.Service
	items  evidence.Store
	events []evidence.Event
	sounds map[string]incident.Sound
	queued int
}

func newEnv(t *testing.T) *env {
	d := dbtest.Open(t)
	e := &env{items: d.Evidence(), sounds: map[string]incident.Sound{}}
	e.svc = incident.NewService(incident.Config{Store: d.Incidents(), Evidence: d.Evidence(),
		Record: func(_ context.Context, ev evidence.Event) (uint64, error) {
			e.events = append(e.events, ev)
			return uint64(len(e.events)), nil
		},
		Sound: func(_ context.Context, id string) (incident.Sound, error) {
			if s, ok := e.sounds[id]; ok {
				return s, nil
			}
			return incident.Sound{State: incident.SoundPending}, nil
		},
		Realign: func(context.Context, string) error { e.queued++; return nil },
	})
	return e
}

var t0 = time.Date(2026, 11, 3, 22, 14, 0, 0, time.UTC)

// item stores an evidence item recorded at start for seconds, at place
// (nil for no GPS).
func (e *env) item(t *testing.T, start time.Time, seconds float64, place *media.Location) evidence.Item {
	t.Helper()
	id := evidence.NewID()
	at := start
	it := evidence.Item{ID: id, SHA256: blob.Sum([]byte(id)), Size: 1, Source: evidence.Phone, ReceivedAt: t0.Add(time.Hour),
		UploadDigest: evidence.Digest(id), TokenDigest: evidence.Digest("t" + id),
		Info: media.Info{MediaType: media.Video, MIME: "video/mp4", Container: "mp4", DurationS: &seconds, CapturedAt: &at, Location: place,
			Video: &media.VideoInfo{Codec: "h264", Width: 320, Height: 240, FPS: 30}, Audio: &media.AudioInfo{Codec: "aac", SampleRate: 48000, Channels: 1}}}
	if err := e.items.Create(t.Context(), it); err != nil {
		t.Fatal(err)
	}
	return it
}

var sup = incident.Actor{ID: "user:u_sup", User: "u_sup", Role: "supervisor", Unit: "central"}

func ids(sgs []incident.Suggestion) []string {
	var out []string
	for _, s := range sgs {
		out = append(out, s.Item.ID)
	}
	slices.Sort(out)
	return out
}

func TestSuggestionsForClipsThatOverlapAndNoneForOthers(t *testing.T) {
	e := newEnv(t)
	corner := &media.Location{Lat: 41.8781, Lon: -87.6298}
	near := &media.Location{Lat: 41.8790, Lon: -87.6298} // 100 m north
	far := &media.Location{Lat: 41.9781, Lon: -87.6298}  // 11 km north

	phone := e.item(t, t0, 300, corner)
	inc, err := e.svc.Create(t.Context(), sup, "Stop at State and Madison")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AddClip(t.Context(), sup, inc.ID, phone); err != nil {
		t.Fatal(err)
	}
	dashcam := e.item(t, t0.Add(-10*time.Minute), 900, near)         // running before, through it
	bodycam := e.item(t, t0.Add(4*time.Minute), 600, nil)            // overlaps, no GPS
	late := e.item(t, t0.Add(5*time.Minute+90*time.Second), 60, nil) // 90 s after the end: within tolerance
	e.item(t, t0.Add(2*time.Minute), 120, far)                       // same time, 11 km away
	e.item(t, t0.Add(-2*time.Hour), 600, corner)                     // same place, hours before
	e.item(t, t0.Add(30*time.Minute), 60, corner)                    // same place, long after

	sgs, err := e.svc.Suggest(t.Context(), inc.ID, incident.Grouping{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{dashcam.ID, bodycam.ID, late.ID}
	slices.Sort(want)
	if got := ids(sgs); !slices.Equal(got, want) {
		t.Fatalf("suggested %v, want the dashcam, bodycam and late clip %v; all: %+v", got, want, sgs)
	}
	for _, sg := range sgs {
		if sg.Item.ID == dashcam.ID && (sg.Metres == nil || math.Abs(*sg.Metres-100) > 5) {
			t.Errorf("dashcam distance %v, want ~100 m", sg.Metres)
		}
		if sg.Item.ID == bodycam.ID && sg.Metres != nil {
			t.Errorf("bodycam without GPS has a distance")
		}
	}

	// Accepting adds the clip; rejecting keeps it out of later lists.
	if err := e.svc.Decide(t.Context(), sup, inc.ID, dashcam, true); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Decide(t.Context(), sup, inc.ID, late, false); err != nil {
		t.Fatal(err)
	}
	sgs, _ = e.svc.Suggest(t.Context(), inc.ID, incident.Grouping{})
	if got := ids(sgs); !slices.Equal(got, []string{bodycam.ID}) {
		t.Errorf("after deciding: %v, want only the bodycam", got)
	}
	tl, err := e.svc.Timeline(t.Context(), inc.ID)
	if err != nil || len(tl.Clips) != 2 {
		t.Fatalf("timeline: %v %+v", err, tl)
	}
	var actions []string
	for _, ev := range e.events {
		actions = append(actions, ev.Details["action"])
	}
	if want := []string{"created", "clip-added", "clip-accepted", "suggestion-rejected"}; !slices.Equal(actions, want) {
		t.Errorf("logged %v, want %v", actions, want)
	}

	// An incident whose clips overlap nothing gets no suggestions.
	lone, _ := e.svc.Create(t.Context(), sup, "Elsewhere")
	e.svc.AddClip(t.Context(), sup, lone.ID, e.item(t, t0.Add(48*time.Hour), 60, corner))
	if sgs, err := e.svc.Suggest(t.Context(), lone.ID, incident.Grouping{}); err != nil || len(sgs) != 0 {
		t.Errorf("lone incident: %v %+v", err, sgs)
	}
}

// noise is deterministic white noise at align.Rate.
func noise(seed uint64, seconds float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]float32, int(seconds*align.Rate))
	for i := range out {
		out[i] = float32(r.NormFloat64() * 0.1)
	}
	return out
}

func TestAlignPlacesBySoundElseByMetadataAndKeepsNudges(t *testing.T) {
	e := newEnv(t)
	scene := noise(1, 60)
	a := e.item(t, t0, 40, nil)                    // scene 0-40 s
	b := e.item(t, t0.Add(3*time.Second), 30, nil) // scene 12.5-42.5 s; its clock says 3 s
	quiet := e.item(t, t0.Add(20*time.Second), 10, nil)
	e.sounds[a.ID] = incident.Sound{State: incident.SoundReady, Samples: scene[:40*align.Rate]}
	e.sounds[b.ID] = incident.Sound{State: incident.SoundReady, Samples: scene[int(12.5*align.Rate):int(42.5*align.Rate)]}
	e.sounds[quiet.ID] = incident.Sound{State: incident.SoundReady, Samples: make([]float32, 10*align.Rate)}

	inc, _ := e.svc.Create(t.Context(), sup, "x")
	for _, it := range []evidence.Item{a, b, quiet} {
		e.svc.AddClip(t.Context(), sup, inc.ID, it)
	}
	late := e.item(t, t0, 20, nil) // its sound job has not run
	e.svc.AddClip(t.Context(), sup, inc.ID, late)
	if err := e.svc.Align(t.Context(), inc.ID); err != nil {
		t.Fatal(err)
	}
	byID := func() map[string]incident.TimelineClip {
		tl, err := e.svc.Timeline(t.Context(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]incident.TimelineClip{}
		for _, c := range tl.Clips {
			m[c.Evidence] = c
		}
		return m
	}
	got := byID()
	if c := got[b.ID]; c.Method != incident.ByAudio || c.Status != incident.Aligned || math.Abs(c.Offset-12.5) > 0.002 || c.Confidence < 0.5 {
		t.Errorf("b: %+v, want audio at 12.5 s", c)
	}
	if c := got[quiet.ID]; c.Method != incident.ByMetadata || c.Status != incident.NoSound || math.Abs(c.Offset-20) > 0.001 || c.Confidence != 0 {
		t.Errorf("silent clip: %+v, want metadata at 20 s, no-sound, confidence 0", c)
	}
	if c := got[late.ID]; c.Status != incident.Pending {
		t.Errorf("clip without sound yet: %+v, want pending", c)
	}

	// A reviewer nudges b; a later run (the late clip's sound arrived)
	// keeps the reviewer's offset and places the late clip.
	if err := e.svc.Nudge(t.Context(), sup, inc.ID, b, 0.04); err != nil {
		t.Fatal(err)
	}
	e.sounds[late.ID] = incident.Sound{State: incident.SoundFailed, Detail: "moov atom not found"}
	n := len(e.events)
	if err := e.svc.Align(t.Context(), inc.ID); err != nil {
		t.Fatal(err)
	}
	got = byID()
	if c := got[b.ID]; c.Method != incident.ByHand || math.Abs(c.Offset-12.54) > 0.002 || c.ConfirmedBy != sup.User {
		t.Errorf("nudged clip after realignment: %+v", c)
	}
	if c := got[late.ID]; c.Status != incident.NoMedia || c.Method != incident.ByMetadata {
		t.Errorf("clip whose sound failed: %+v", c)
	}
	if len(e.events) != n+1 || e.events[n].Evidence.ID != late.ID || e.events[n].Details["action"] != "aligned" {
		t.Errorf("second run logged %d events, want one for the late clip: %+v", len(e.events)-n, e.events[n:])
	}
	// Running again changes nothing and logs nothing.
	e.svc.Align(t.Context(), inc.ID)
	if len(e.events) != n+1 {
		t.Errorf("an idle run logged %d events", len(e.events)-n-1)
	}
}
