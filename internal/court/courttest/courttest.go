// Package courttest reads the documents package court makes, for tests.
package courttest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// PDFText is the text of a PDF as poppler's pdftotext reads it (laid out
// as on the page).
func PDFText(t testing.TB, pdf []byte) string {
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
