package court

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pdftotext is the text of a PDF as poppler's pdftotext reads it.
func pdftotext(t *testing.T, pdf []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "d.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-layout", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext (poppler-utils, installed by make test): %v", err)
	}
	return string(out)
}

// A document prints names as written (embedded Unicode fonts), flows onto
// new pages, and the same calls give the same bytes.
func TestDocIsReadableAndDeterministic(t *testing.T) {
	render := func() []byte {
		d, err := newDoc("Custody report", time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
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
	text := pdftotext(t, one)
	for _, want := range []string{"Case 2026-000001", "Zoë Ñúñez, улица Ленина 5, Αθήνα", strings.Repeat("ab", 32), "page 2"} {
		if !strings.Contains(text, want) {
			t.Errorf("pdftotext lacks %q", want)
		}
	}
}
