// Package court makes what footage needs in court and in disclosure: an
// evidence package a prosecutor, a defence lawyer or a judge can check
// offline, with a custody report and a certification form.
package court

import (
	"bytes"
	"fmt"
	"time"

	"github.com/signintech/gopdf"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"
)

// doc lays out a plain A4 document: headings, wrapped paragraphs, labelled
// fields, new pages as needed. Its fonts (the Go fonts, embedded and
// subset) cover Latin, Greek and Cyrillic, so names and places print as
// written. The same calls give the same bytes.
type doc struct {
	pdf  *gopdf.GoPdf
	y    float64
	page int
}

const (
	margin   = 56.0 // points
	pageW    = 595.28
	pageH    = 841.89
	bodySize = 9.5
	lineGap  = 3.0
)

// newDoc starts a document; its properties give title and subject.
func newDoc(title, subject string, at time.Time) (*doc, error) {
	d := &doc{pdf: &gopdf.GoPdf{}}
	d.pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4})
	d.pdf.SetInfo(gopdf.PdfInfo{Title: title, Subject: subject, Producer: "Sightline", Creator: "Sightline", CreationDate: at.UTC()})
	for _, f := range []struct {
		name string
		ttf  []byte
	}{{"regular", goregular.TTF}, {"bold", gobold.TTF}, {"mono", gomono.TTF}} { // in order: the bytes depend on it
		if err := d.pdf.AddTTFFontData(f.name, f.ttf); err != nil {
			return nil, fmt.Errorf("court: font %s: %w", f.name, err)
		}
	}
	d.newPage()
	return d, nil
}

func (d *doc) newPage() {
	d.pdf.AddPage()
	d.page++
	d.y = margin
	d.pdf.SetFont("regular", "", 8)
	d.pdf.SetXY(margin, pageH-margin/2)
	d.pdf.Cell(nil, fmt.Sprintf("page %d", d.page))
}

// text writes s in font at size, wrapped to the text width, moving down.
func (d *doc) text(font string, size float64, s string) {
	d.pdf.SetFont(font, "", size)
	lines, err := d.pdf.SplitTextWithWordWrap(s, pageW-2*margin)
	if err != nil || len(lines) == 0 {
		lines = []string{s}
	}
	for _, l := range lines {
		if d.y+size > pageH-margin {
			d.newPage()
			d.pdf.SetFont(font, "", size)
		}
		d.pdf.SetXY(margin, d.y)
		d.pdf.Cell(nil, l)
		d.y += size + lineGap
	}
}

func (d *doc) heading(s string) {
	d.y += 6
	d.text("bold", 13, s)
	d.y += 2
}

func (d *doc) subheading(s string) {
	d.y += 4
	d.text("bold", 10.5, s)
}

func (d *doc) para(s string) { d.text("regular", bodySize, s) }

// field writes "label: value", the value in a fixed-width font when mono
// (hashes, ids).
func (d *doc) field(label, value string, mono bool) {
	font := "regular"
	if mono {
		font = "mono"
	}
	d.text("bold", 8.5, label)
	d.text(font, bodySize, value)
}

func (d *doc) space(points float64) { d.y += points }

// bytes is the finished PDF.
func (d *doc) bytes() ([]byte, error) {
	var b bytes.Buffer
	if _, err := d.pdf.WriteTo(&b); err != nil {
		return nil, fmt.Errorf("court: %w", err)
	}
	return b.Bytes(), nil
}
