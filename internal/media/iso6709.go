package media

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseISO6709 parses a point in the ISO 6709 string form that cameras write
// into QuickTime and MP4 files: "+40.7128-074.0060/",
// "+34.0522-118.2437+089.000/" (with altitude), or the degree-minute and
// degree-minute-second forms "+4042.77-07400.36/" and "+404246.1-0740021.6/".
// A trailing coordinate reference ("CRSWGS_84/") is accepted and ignored.
func ParseISO6709(s string) (Location, error) {
	orig := s
	if i := strings.Index(s, "CRS"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(strings.TrimSpace(s), "/")
	parts := splitSigned(s)
	if len(parts) < 2 || len(parts) > 3 {
		return Location{}, fmt.Errorf("iso 6709 %q: want latitude, longitude and an optional altitude", orig)
	}
	lat, err := parseAngle(parts[0], 2)
	if err != nil || math.Abs(lat) > 90 {
		return Location{}, fmt.Errorf("iso 6709 %q: bad latitude %q", orig, parts[0])
	}
	lon, err := parseAngle(parts[1], 3)
	if err != nil || math.Abs(lon) > 180 {
		return Location{}, fmt.Errorf("iso 6709 %q: bad longitude %q", orig, parts[1])
	}
	loc := Location{Lat: lat, Lon: lon}
	if len(parts) == 3 {
		alt, err := strconv.ParseFloat(parts[2], 64)
		if err != nil || math.IsInf(alt, 0) || math.IsNaN(alt) || math.Abs(alt) > 1e7 {
			return Location{}, fmt.Errorf("iso 6709 %q: bad altitude %q", orig, parts[2])
		}
		loc.Alt = &alt
	}
	return loc, nil
}

// splitSigned splits "+1.5-2+3" into ["+1.5", "-2", "+3"]; every part must
// start with a sign.
func splitSigned(s string) []string {
	var parts []string
	start := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '+' || s[i] == '-' {
			if start >= 0 {
				parts = append(parts, s[start:i])
			} else if i != 0 {
				return nil
			}
			start = i
		}
	}
	if start < 0 {
		return nil
	}
	return append(parts, s[start:])
}

// parseAngle parses a signed angle whose integer part has degDigits digits
// for degrees, two more for minutes and two more for seconds.
func parseAngle(s string, degDigits int) (float64, error) {
	sign := 1.0
	if s[0] == '-' {
		sign = -1
	}
	s = s[1:]
	intPart, frac, _ := strings.Cut(s, ".")
	for _, c := range intPart + frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not a number")
		}
	}
	if len(frac) > 12 {
		return 0, fmt.Errorf("too many decimals")
	}
	fracVal := 0.0
	if frac != "" {
		f, err := strconv.ParseFloat("0."+frac, 64)
		if err != nil {
			return 0, err
		}
		fracVal = f
	}
	num := func(s string) float64 { v, _ := strconv.Atoi(s); return float64(v) }
	var v float64
	switch len(intPart) {
	case degDigits:
		v = num(intPart) + fracVal
	case degDigits + 2:
		m := num(intPart[degDigits:]) + fracVal
		if m >= 60 {
			return 0, fmt.Errorf("minutes out of range")
		}
		v = num(intPart[:degDigits]) + m/60
	case degDigits + 4:
		m := num(intPart[degDigits : degDigits+2])
		sec := num(intPart[degDigits+2:]) + fracVal
		if m >= 60 || sec >= 60 {
			return 0, fmt.Errorf("minutes or seconds out of range")
		}
		v = num(intPart[:degDigits]) + m/60 + sec/3600
	default:
		return 0, fmt.Errorf("%d integer digits", len(intPart))
	}
	return sign * v, nil
}
