package media

import "testing"

func TestPacketsEnd(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"", 0},
		{"0.000000,0.020000\n0.010000,0.050000\n4.950000,0.050000\n4.960000,0.020000\n", 5},
		{"N/A,N/A\n1.5,N/A\n", 1.5},
		{"garbage\n-3,1\nNaN,1\n1e12,1\n", 0}, // nothing believable
		{"2.0,0.5,extra\n", 2},                // an unreadable duration counts as none
	} {
		if got := packetsEnd([]byte(tc.in)); got != tc.want {
			t.Errorf("packetsEnd(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// ffprobe's packet list comes from an untrusted file: packetsEnd never
// panics and never returns a negative or absurd end.
func FuzzPacketsEnd(f *testing.F) {
	f.Add([]byte("0.000000,0.020000\n4.950000,0.050000\n"))
	f.Add([]byte("N/A,N/A\n1e309,1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if end := packetsEnd(b); end < 0 || end > 2e8 || end != end {
			t.Fatalf("packetsEnd = %v", end)
		}
	})
}
