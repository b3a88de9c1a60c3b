package evidence_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/evidence"
)

func sampleEvent() evidence.Event {
	return evidence.Event{
		Type:     evidence.Received,
		Evidence: &evidence.EventSubject{ID: "swxm6gqhwsgt47rv", SHA256: blob.Sum([]byte("clip"))},
		Actor:    "upload:3f2a",
		At:       evidence.EventTime(time.Date(2026, 11, 21, 5, 19, 46, 355773170, time.UTC)),
		Details:  map[string]string{"size": "661638", "source": "phone", "filename": "<clip>&.mp4"},
	}
}

func TestEventCanonicalForm(t *testing.T) {
	e := sampleEvent()
	got := string(e.Canonical())
	want := `{"type":"received","evidence":{"id":"swxm6gqhwsgt47rv","sha256":"` + e.Evidence.SHA256.String() +
		`"},"actor":"upload:3f2a","at":"2026-11-21T05:19:46.355773Z","details":{"filename":"<clip>&.mp4","size":"661638","source":"phone"}}`
	if got != want {
		t.Fatalf("canonical form\n got %s\nwant %s", got, want)
	}
	back, err := evidence.ParseEvent([]byte(got))
	if err != nil || string(back.Canonical()) != got {
		t.Fatalf("round trip: %v", err)
	}
}

func TestParseEventRefusesOtherForms(t *testing.T) {
	good := string(sampleEvent().Canonical())
	for name, in := range map[string]string{
		"extra space":       strings.Replace(good, `{"type"`, `{ "type"`, 1),
		"fields reordered":  strings.Replace(good, `"type":"received","evidence"`, `"evidence"`, 1),
		"unknown field":     strings.Replace(good, `{"type"`, `{"x":"y","type"`, 1),
		"local time":        strings.Replace(good, `05:19:46.355773Z`, `05:19:46.355773+01:00`, 1),
		"trailing data":     good + `{}`,
		"not json":          "received",
		"escaped html":      strings.Replace(good, `<clip>&`, `\u003cclip\u003e\u0026`, 1),
		"no evidence id":    strings.Replace(good, `"id":"swxm6gqhwsgt47rv"`, `"id":""`, 1),
		"upper-case sha256": strings.Replace(good, sampleEvent().Evidence.SHA256.String(), strings.ToUpper(sampleEvent().Evidence.SHA256.String()), 1),
	} {
		if _, err := evidence.ParseEvent([]byte(in)); !errors.Is(err, evidence.ErrBadEvent) {
			t.Errorf("%s: ParseEvent accepted %s", name, in)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add(sampleEvent().Canonical())
	f.Add([]byte(`{"type":"viewed","evidence":{"id":"a","sha256":"00"},"actor":"","at":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := evidence.ParseEvent(b)
		if err != nil {
			return
		}
		// Whatever it accepts is canonical: it reads back to the same bytes.
		if string(e.Canonical()) != string(b) {
			t.Fatalf("accepted a non-canonical entry %q", b)
		}
	})
}
