package review_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/review"
)

func TestCodesAreNineDigitsReadInThrees(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := review.NewCode()
		if !regexp.MustCompile(`^\d{3} \d{3} \d{3}$`).MatchString(c) {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 999 {
		t.Errorf("%d distinct codes in 1000", len(seen))
	}
	for in, want := range map[string]string{
		"123 456 789": "123456789", "123-456-789": "123456789", "123456789": "123456789", " 123.456.789 ": "123456789",
		"12345678": "", "1234567890": "", "12345678a": "", "١٢٣٤٥٦٧٨٩": "", "": "",
	} {
		got, ok := review.NormalizeCode(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	if review.CodeDigest("123456789") == review.CodeDigest("123456788") {
		t.Error("digests collide")
	}
}

func TestInputCheck(t *testing.T) {
	ok := review.Input{Seen: "The driver filmed.\nNo threat.", Outcome: review.Released, Notes: "tab\there"}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]review.Input{
		"unknown outcome":  {Seen: "x", Outcome: "arrested"},
		"nothing seen":     {Seen: "  \n", Outcome: review.Released},
		"control in notes": {Seen: "x", Outcome: review.Released, Notes: "a\x1b[31m"},
		"seen too long":    {Seen: strings.Repeat("é", review.MaxSeen+1), Outcome: review.Detained},
		"invalid UTF-8":    {Seen: "\xff", Outcome: review.NoAction},
		"too many items":   {Seen: "x", Outcome: review.NoAction, Attached: make([]string, review.MaxAttached+1)},
	} {
		if err := in.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A review's document is one fixed string: the same review always gives
// the same bytes, so its SHA-256 in the log identifies it.
func TestDocumentIsCanonical(t *testing.T) {
	r := review.Review{ID: "rev_1", Evidence: "e1", Author: "user:u_1", At: "2026-11-21T09:00:00.000000Z", Seen: "<b>&</b>", Outcome: review.Referred}
	doc := string(r.Document())
	want := `{"id":"rev_1","evidence":"e1","evidence_sha256":"","author":"user:u_1","author_name":"","author_badge":"","author_unit":"",` +
		`"at":"2026-11-21T09:00:00.000000Z","seen":"<b>&</b>","outcome":"referred for internal review","notes":"","attached":[]}`
	if doc != want {
		t.Errorf("document\n%s\nwant\n%s", doc, want)
	}
	var back review.Review
	if err := json.Unmarshal([]byte(doc), &back); err != nil || string(back.Document()) != doc {
		t.Errorf("round trip: %v %s", err, back.Document())
	}
}

// Codes come from people and links: NormalizeCode never panics and
// accepts only nine digits.
func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"123 456 789", "123-456-789", "", "1234567890", "\xff", "12 34 56 78 9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := review.NormalizeCode(s)
		if ok && !regexp.MustCompile(`^\d{9}$`).MatchString(got) {
			t.Fatalf("NormalizeCode(%q) = %q", s, got)
		}
		if !ok && got != "" {
			t.Fatalf("refused but returned %q", got)
		}
	})
}
