package web

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/sightline/sightline/internal/evidence"
	"github.com/sightline/sightline/internal/media"
)

// pageFuncs are what templates use to say numbers, times and lengths the
// way a person would.
var pageFuncs = template.FuncMap{
	"plural":   plural,
	"seconds":  seconds,
	"lasting":  lasting,
	"recorded": recorded,
	"mapLink":  mapLink,
}

// plural says n of a thing: "1 clip", "2 clips".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// seconds says a media length: "12.4 s", "3 min 05 s"; "" for none.
func seconds(p *float64) string {
	if p == nil || *p < 0 {
		return ""
	}
	s := *p
	if s < 60 {
		return fmt.Sprintf("%.1f s", s)
	}
	m := int(s) / 60
	if m < 60 {
		return fmt.Sprintf("%d min %02d s", m, int(s)%60)
	}
	return fmt.Sprintf("%d h %02d min %02d s", m/60, m%60, int(s)%60)
}

// lasting says a duration in the largest whole units: "15 minutes",
// "1 hour 30 minutes", "45 seconds".
func lasting(d time.Duration) string {
	var parts []string
	for _, u := range []struct {
		d         time.Duration
		one, many string
	}{{time.Hour, "hour", "hours"}, {time.Minute, "minute", "minutes"}, {time.Second, "second", "seconds"}} {
		if n := int(d / u.d); n > 0 {
			parts = append(parts, plural(n, u.one, u.many))
			d -= time.Duration(n) * u.d
		}
	}
	if len(parts) == 0 {
		return "under a second"
	}
	return strings.Join(parts, " ")
}

// qrImage is a QR code of text as a data: URL of a PNG, for an <img> (the
// pages' policy allows data: images and nothing from elsewhere).
func qrImage(text string) (template.URL, error) {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", err
	}
	code.Scale = 6
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG())), nil
}

// recorded is when an item was recorded, as well as it is known: the time
// its file gives, else when it arrived.
func recorded(it evidence.Item) time.Time {
	from, _ := span(it)
	return from
}

// mapLink is a link to a place on OpenStreetMap.
func mapLink(l media.Location) template.URL {
	return template.URL(fmt.Sprintf("https://www.openstreetmap.org/?mlat=%.6f&mlon=%.6f#map=18/%.6f/%.6f", l.Lat, l.Lon, l.Lat, l.Lon))
}
