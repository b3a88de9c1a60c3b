package court

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/court/courttest"
)

// A document prints names as written (embedded Unicode fonts), flows onto
// new pages, and the same calls give the same bytes.
func TestDocIsReadableAndDeterministic(t *testing.T) {
	render := func() []byte {
		d, err := newDoc("Custody report", "", time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		d.heading("Case 2026-000001")
		d.field("Complainant's place", "Zoë Ñúñez, улица Ленина 5, Αθήνα", false)
		d.field("SHA-256", strings.Repeat("ab", 32), true)
		for i := range 120 {
			d.para("event " + strings.Repeat("x", i%40))
		}
		b, err := d.bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one, two := render(), render()
	if !bytes.Equal(one, two) {
		t.Error("the same document twice differs")
	}
	text := courttest.PDFText(t, one)
	for _, want := range []string{"Case 2026-000001", "Zoë Ñúñez, улица Ленина 5, Αθήνα", strings.Repeat("ab", 32), "page 2"} {
		if !strings.Contains(text, want) {
			t.Errorf("pdftotext lacks %q", want)
		}
	}
}

// The custody report shows every item's SHA-256 and every event's log
// index, and states anomalies; the certification gives both hashes and
// blanks for the custodian.
func TestReportAndCertification(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	captured := at.Add(-48 * time.Hour)
	r := Report{Subject: "Case 2026-000001", MadeAt: at, Checkpoint: Checkpoint{"log.example", 42, "AAAA"}, KeyFingerprint: "0123456789abcdef", Version: "test"}
	for i := range 3 {
		it := Item{ID: "item" + string(rune('a'+i)), Filename: "clip.mp4", MediaType: "video", Size: 1000, SHA256: strings.Repeat(string(rune('a'+i)), 64),
			SHA512: strings.Repeat("f", 128), Source: "phone", CapturedAt: &captured, ReceivedAt: at, Submitter: "token:1234", LogIndex: uint64(10 * i)}
		for j := range 5 {
			it.Events = append(it.Events, Event{Index: uint64(1000 + 10*i + j), At: at.Format(time.RFC3339), Type: "viewed", Action: "read-original", Actor: "user:u_x", Role: "investigator", Reason: "IA review"})
		}
		if i == 1 {
			it.Anomalies = []string{"partial: the recording was cut off; every byte received is here"}
		}
		r.Items = append(r.Items, it)
	}
	pdf, err := r.PDF()
	if err != nil {
		t.Fatal(err)
	}
	text := courttest.PDFText(t, pdf)
	for _, it := range r.Items {
		if !strings.Contains(text, it.SHA256) {
			t.Errorf("the report lacks %s's SHA-256", it.ID)
		}
		for _, e := range it.Events {
			if !strings.Contains(text, "#"+strconv.FormatUint(e.Index, 10)+" ") {
				t.Errorf("the report lacks event %d", e.Index)
			}
		}
	}
	if !strings.Contains(text, "partial: the recording was cut off") {
		t.Error("the report hides an anomaly")
	}
	cert, err := Certification{Subject: "Case 2026-000001", MadeAt: at, Items: []CertifiedItem{{"itema", "clip.mp4", strings.Repeat("a", 64), strings.Repeat("a", 64)}}}.PDF()
	if err != nil {
		t.Fatal(err)
	}
	text = courttest.PDFText(t, cert)
	for _, want := range []string{"902(14)", "SHA-256 logged at intake", strings.Repeat("a", 64), "The two hashes are the same", "Signature: ____"} {
		if !strings.Contains(text, want) {
			t.Errorf("the certification lacks %q", want)
		}
	}
}
