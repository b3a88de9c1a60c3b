package web

import (
	"encoding/csv"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/sightline/sightline/internal/cases"
)

// allegationsCSV answers GET /api/v1/public/allegations.csv: one row per
// allegation of a closed case: case number, received and closed dates,
// category, final finding, unit. No names, badges or words.
func (s *server) allegationsCSV(w http.ResponseWriter, r *http.Request) {
	rows, err := s.Cases.Public(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="allegations.csv"`)
	w.Header().Set("Cache-Control", "public, max-age=300")
	out := csv.NewWriter(w)
	out.Write([]string{"case_number", "received", "closed", "category", "finding", "unit"})
	for _, p := range rows {
		out.Write([]string{p.CaseNumber, p.Received.Format("2006-01-02"), p.Closed.Format("2006-01-02"), string(p.Category), string(p.Finding), p.Unit})
	}
	out.Flush()
}

// figure is one chart of allegations per month, stacked by a dimension.
type figure struct {
	Title  string
	Months []string
	Keys   []string                  // the dimension's values, in legend order
	Count  map[string]map[string]int // month -> key -> allegations
	SVG    template.HTML
	Totals map[string]int // per month
}

// figuresPage answers GET /figures: allegations of closed cases per month
// (when closed), by category and by final finding, as charts drawn here
// in SVG and as tables with the same numbers.
func (s *server) figuresPage(w http.ResponseWriter, r *http.Request) {
	rows, err := s.Cases.Public(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var cats, finds []string
	for _, c := range cases.Categories {
		cats = append(cats, string(c))
	}
	for _, f := range cases.Findings {
		finds = append(finds, string(f))
	}
	figs := []*figure{
		tally("Allegations by category", cats, rows, func(p cases.PublicRow) string { return string(p.Category) }),
		tally("Allegations by final finding", finds, rows, func(p cases.PublicRow) string { return string(p.Finding) }),
	}
	for _, f := range figs {
		f.SVG = f.draw()
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	s.render(w, http.StatusOK, "figures.html", struct {
		Figures []*figure
		Total   int
	}{figs, len(rows)})
}

func tally(title string, keys []string, rows []cases.PublicRow, key func(cases.PublicRow) string) *figure {
	f := &figure{Title: title, Keys: keys, Count: map[string]map[string]int{}, Totals: map[string]int{}}
	for _, p := range rows {
		m := p.Closed.Format("2006-01")
		if f.Count[m] == nil {
			f.Count[m] = map[string]int{}
			f.Months = append(f.Months, m)
		}
		k := key(p)
		if !slices.Contains(f.Keys, k) {
			f.Keys = append(f.Keys, k)
		}
		f.Count[m][k]++
		f.Totals[m]++
	}
	slices.Sort(f.Months)
	return f
}

// palette colours the keys of a chart, in order.
var palette = []string{"#1d4ed8", "#b00020", "#2e7d32", "#d4a000", "#6a1b9a", "#00838f", "#5d4037", "#616161"}

// draw renders the figure as a stacked bar chart: a bar per month, a
// segment per key, each a rect naming its month, key and count.
func (f *figure) draw() template.HTML {
	const barW, gap, height, left, bottom = 36, 14, 200, 40, 40
	top := 1
	for _, n := range f.Totals {
		top = max(top, n)
	}
	width := left + len(f.Months)*(barW+gap) + 180
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="figure" role="img" viewBox="0 0 %d %d" width="100%%" aria-label="%s">`,
		width, height+bottom+10, template.HTMLEscapeString(f.Title))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, left, height, width-180, height)
	fmt.Fprintf(&b, `<text x="%d" y="12" font-size="11" text-anchor="end">%d</text>`, left-6, top)
	for i, m := range f.Months {
		x := left + i*(barW+gap)
		y := height
		for k, key := range f.Keys {
			n := f.Count[m][key]
			if n == 0 {
				continue
			}
			h := n * height / top
			y -= h
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" data-month="%s" data-key="%s" data-count="%d"><title>%s, %s: %d</title></rect>`,
				x, y, barW, h, palette[k%len(palette)], m, template.HTMLEscapeString(key), n, m, template.HTMLEscapeString(key), n)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="middle">%s</text>`, x+barW/2, height+16, m)
	}
	for k, key := range f.Keys {
		y := 14 + k*18
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" font-size="12">%s</text>`,
			width-170, y-10, palette[k%len(palette)], width-152, y, template.HTMLEscapeString(key))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
