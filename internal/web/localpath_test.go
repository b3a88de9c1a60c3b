package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/staff":                  "/staff",
		"/c/123456789?x=1":        "/c/123456789?x=1",
		"/%09/evil.example":       "",
		"/\t/evil.example":        "",
		"//evil.example":          "",
		"/\\evil.example":         "",
		"/%2F/evil.example":       "",
		"/%5C/evil.example":       "",
		"https://evil.example/":   "",
		"javascript:alert(1)":     "",
		"staff":                   "",
		"/ /evil.example":         "",
		"/\n/evil.example":        "",
		"/\u00a0/x":               "/%C2%A0/x",
		"":                        "",
		"/a/../..//evil.example/": "/a/../..//evil.example/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// Whatever localPath lets through, a browser resolving it against the
// site stays on the site.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/staff", "/%09/evil.example", "//x", "/\\x", "/a?b#c", "/%2f%2fx"} {
		f.Add(s)
	}
	site, _ := url.Parse("https://sightline.example/signin")
	f.Fuzz(func(t *testing.T, p string) {
		got := localPath(p)
		if got == "" {
			return
		}
		if strings.ContainsFunc(got, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) {
			t.Fatalf("localPath(%q) = %q holds a character browsers rewrite", p, got)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("localPath(%q) = %q does not parse: %v", p, got, err)
		}
		if r := site.ResolveReference(u); r.Host != site.Host || r.Scheme != site.Scheme {
			t.Fatalf("localPath(%q) = %q leads to %s", p, got, r)
		}
		if strings.HasPrefix(got, "//") {
			t.Fatalf("localPath(%q) = %q is protocol-relative", p, got)
		}
	})
}

// rangeSpan reads a caller's Range header: whatever it holds, what may
// enter the log is a span rebuilt from numbers, or nothing.
func FuzzRangeSpan(f *testing.F) {
	for _, s := range []string{"bytes=0-", "bytes=0-99", "bytes=-500", "bytes=1-2,3-4", "items=1-2", "bytes=x-<script>"} {
		f.Add(s)
	}
	span := regexp.MustCompile(`^(all|several|[0-9]*-[0-9]*)?$`)
	f.Fuzz(func(t *testing.T, h string) {
		r := &http.Request{Header: http.Header{"Range": {h}}}
		got := rangeSpan(r)
		if !span.MatchString(got) || len(got) > 40 || got == "-" {
			t.Fatalf("rangeSpan(%q) = %q", h, got)
		}
	})
}
