package evidence

import (
	"errors"
	"strings"
	"testing"
)

func TestWordsAreSealedAndKeptOutOfTheLog(t *testing.T) {
	e := Event{Type: Accessed, Actor: "user:u_1", At: "2026-01-02T03:04:05.000000Z",
		Details: map[string]string{"action": "read-item"}, Words: map[string]string{"reason": "a complaint"}}
	pub, sealed := e.withWords()
	if sealed == nil || pub.Words != nil || pub.Details[WordsKey] != sealed.SHA256 || e.Details[WordsKey] != "" {
		t.Fatalf("sealed %+v into %+v (the caller's event must not change: %+v)", sealed, pub, e)
	}
	if strings.Contains(string(pub.Canonical()), "complaint") {
		t.Errorf("the entry holds the words: %s", pub.Canonical())
	}
	words, err := OpenSealed(sealed.SHA256, sealed.Document)
	if err != nil || words["reason"] != "a complaint" {
		t.Errorf("opened %v, %v", words, err)
	}
	if _, err := OpenSealed(sealed.SHA256, append(sealed.Document, ' ')); err == nil {
		t.Error("a changed document opened")
	}
	// The same words sealed twice hash differently: the hash cannot be
	// matched against a guess.
	if again := Seal(e.Words); again.SHA256 == sealed.SHA256 {
		t.Error("two seals of the same words have one hash")
	}
	for _, bad := range []map[string]string{
		{"title": "Traffic stop"},
		{"reason": "x"},
		{"review": strings.Repeat("A", 300)},
		{"review": "line\nbreak"},
	} {
		if err := (Event{Type: Denied, Details: bad}).CheckPublic(); !errors.Is(err, ErrWords) {
			t.Errorf("%v: %v, want ErrWords", bad, err)
		}
	}
}
