package cases_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sightline/sightline/internal/cases"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func TestParseComplaint(t *testing.T) {
	good := `{"narrative":"pushed","occurred_at":"2026-11-30T21:05:00-05:00","place":"5th and Main","location":{"lat":40.7,"lon":-74},
		"officers":[{"badge":"4521","name":"Kane","description":"tall"}],"evidence":[{"id":"abc","token":"t"}],"contact":{"email":"a@b.org","phone":"+1 (555) 010-0000"}}`
	c, err := cases.ParseComplaint([]byte(good), now)
	if err != nil || c.Narrative != "pushed" || c.Officers[0].Badge != "4521" || c.Contact.Phone == "" || !c.OccurredAt.Equal(time.Date(2026, 12, 1, 2, 5, 0, 0, time.UTC)) {
		t.Fatalf("a good complaint: %+v %v", c, err)
	}
	for name, tc := range map[string]struct{ in, field string }{
		"empty":              {`{}`, "narrative"},
		"blank narrative":    {`{"narrative":"  ","occurred_at":"2026-11-30T21:05:00Z"}`, "narrative"},
		"long narrative":     {`{"narrative":"` + strings.Repeat("é", cases.MaxNarrative+1) + `","occurred_at":"2026-11-30T21:05:00Z"}`, "narrative"},
		"control characters": {`{"narrative":"a\u0007b","occurred_at":"2026-11-30T21:05:00Z"}`, "narrative"},
		"bidi override":      {`{"narrative":"a\u202eb","occurred_at":"2026-11-30T21:05:00Z"}`, "narrative"},
		"future":             {`{"narrative":"x","occurred_at":"2026-12-02T12:00:00Z"}`, "occurred_at"},
		"bad time":           {`{"narrative":"x","occurred_at":"30/11/2026"}`, "occurred_at"},
		"unknown field":      {`{"narrative":"x","occurred_at":"2026-11-30T21:05:00Z","x":1}`, "unknown field"},
		"two documents":      {`{"narrative":"x","occurred_at":"2026-11-30T21:05:00Z"}{}`, "more after"},
		"wrong type":         {`{"narrative":5,"occurred_at":"2026-11-30T21:05:00Z"}`, "narrative"},
		"empty officer":      {`{"narrative":"x","occurred_at":"2026-11-30T21:05:00Z","officers":[{}]}`, "officers[0]"},
		"evidence no token":  {`{"narrative":"x","occurred_at":"2026-11-30T21:05:00Z","evidence":[{"id":"a"}]}`, "evidence[0]"},
		"phone letters":      {`{"narrative":"x","occurred_at":"2026-11-30T21:05:00Z","contact":{"phone":"call me"}}`, "contact.phone"},
	} {
		if _, err := cases.ParseComplaint([]byte(tc.in), now); !errors.Is(err, cases.ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want ErrInvalid naming %q", name, err, tc.field)
		}
	}
}

// The complaint parser takes untrusted bytes: it never panics, and what
// it accepts is within every bound and says it again the same way.
func FuzzParseComplaint(f *testing.F) {
	f.Add([]byte(`{"narrative":"pushed","occurred_at":"2026-11-30T21:05:00Z","officers":[{"badge":"4521"}],"evidence":[{"id":"a","token":"b"}]}`))
	f.Add([]byte(`{"narrative":"x","occurred_at":"2026-11-30T21:05:00+01:00","location":{"lat":1e308,"lon":0},"contact":{"email":"a@b"}}`))
	f.Add([]byte(`{"narrative":"\u202e","occurred_at":"0001-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := cases.ParseComplaint(b, now)
		if err != nil {
			if !errors.Is(err, cases.ErrInvalid) {
				t.Fatalf("an error that is not ErrInvalid: %v", err)
			}
			return
		}
		if c.Narrative == "" || utf8.RuneCountInString(c.Narrative) > cases.MaxNarrative || c.OccurredAt.After(now.Add(5*time.Minute)) {
			t.Fatalf("accepted out of bounds: %+v", c)
		}
		again, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cases.ParseComplaint(again, now); err != nil {
			t.Fatalf("what it accepted, said again, is refused: %v\n%s", err, again)
		}
	})
}
