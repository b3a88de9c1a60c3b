package verify_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/sightline/sightline/verify"
)

// witnessKey makes a cosignature/v1 key: its vkey and its private half.
func witnessKey(t testing.TB, name string) (string, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := verify.CosignatureKeyID(name, pub)
	return fmt.Sprintf("%s+%08x+%s", name, id, base64.StdEncoding.EncodeToString(append([]byte{0x04}, pub...))), priv
}

// cosign adds a witness's cosignature line to a signed note, as the
// C2SP tlog-cosignature spec writes one.
func cosign(cp []byte, name string, priv ed25519.PrivateKey, at uint64) []byte {
	i := bytes.LastIndex(cp, []byte("\n\n"))
	id := verify.CosignatureKeyID(name, priv.Public().(ed25519.PublicKey))
	sig := binary.BigEndian.AppendUint64(id[:], at)
	sig = append(sig, ed25519.Sign(priv, verify.CosignedMessage(cp[:i+1], at))...)
	return append(bytes.Clone(cp), []byte("— "+name+" "+base64.StdEncoding.EncodeToString(sig)+"\n")...)
}

func signedCheckpoint(t testing.TB) ([]byte, string) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "log.example/test")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	cp, err := note.Sign(&note.Note{Text: "log.example/test\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	return cp, vkey
}

// A 2-of-3 policy: two cosignatures meet it, one does not and the error
// says who signed; a changed cosignature fails; one by a key the policy
// does not know does not count.
func TestPolicyQuorum(t *testing.T) {
	cp, logKey := signedCheckpoint(t)
	var keys [3]string
	var privs [3]ed25519.PrivateKey
	names := []string{"w1.example", "w2.example", "w3.example"}
	for i, n := range names {
		keys[i], privs[i] = witnessKey(t, n)
	}
	p, err := verify.ParsePolicy([]byte(fmt.Sprintf("# a test\nlog %s\nwitness a %s http://127.0.0.1:1\nwitness b %s\nwitness c %s\ngroup main 2 a b c\nquorum main\n", logKey, keys[0], keys[1], keys[2])))
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := p.Log("log.example/test"); !ok || k != logKey {
		t.Errorf("the log's key: %q %v", k, ok)
	}
	one := cosign(cp, names[0], privs[0], 1700000000)
	two := cosign(one, names[2], privs[2], 1700000001)
	if w, err := p.Check(two); err != nil || strings.Join(w.Signed, ",") != "a,c" || w.At["c"].Unix() != 1700000001 {
		t.Errorf("two of three: %v %+v", err, w)
	}
	if _, err := p.Check(one); !errors.Is(err, verify.ErrQuorum) || !strings.Contains(err.Error(), "group main has 1 of the 2 it needs from a, b, c (signed: a)") {
		t.Errorf("one of three: %v", err)
	}
	if _, err := p.Check(cp); !errors.Is(err, verify.ErrQuorum) || !strings.Contains(err.Error(), "(signed: none)") {
		t.Errorf("none: %v", err)
	}
	// A flipped bit in the last cosignature.
	bad := bytes.Clone(two)
	j := bytes.LastIndex(bad, []byte(" ")) + 20
	bad[j] ^= 0x01
	if _, err := p.Check(bad); !errors.Is(err, verify.ErrSignature) && !errors.Is(err, verify.ErrMalformed) {
		t.Errorf("a changed cosignature: %v", err)
	}
	// A key the policy does not know, under a known name.
	_, stranger := witnessKey(t, names[1])
	if _, err := p.Check(cosign(one, names[1], stranger, 1700000002)); !errors.Is(err, verify.ErrQuorum) {
		t.Errorf("a stranger's cosignature counted: %v", err)
	}
}

func TestParsePolicyRefusesMalformed(t *testing.T) {
	k, _ := witnessKey(t, "w.example")
	for name, text := range map[string]string{
		"no quorum":        "witness a " + k + "\n",
		"unknown keyword":  "witness a " + k + "\nwitnes b " + k + "\nquorum a\n",
		"undefined member": "witness a " + k + "\ngroup g 1 a b\nquorum g\n",
		"threshold over":   "witness a " + k + "\ngroup g 2 a\nquorum g\n",
		"a note key":       "witness a log.example+00000000+AAAA\nquorum a\n",
		"a wrong key id":   "witness a " + strings.Replace(k, "+", "+0", 1)[:len(k)] + "\nquorum a\n",
		"two quorums":      "witness a " + k + "\nquorum a\nquorum none\n",
	} {
		if _, err := verify.ParsePolicy([]byte(text)); !errors.Is(err, verify.ErrPolicy) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// ParsePolicy and Check never panic, and a checkpoint a fuzzer made
// never meets a quorum of keys it does not hold.
func FuzzPolicy(f *testing.F) {
	cp, logKey := signedCheckpoint(f)
	k, priv := witnessKey(f, "w.example")
	f.Add([]byte("log "+logKey+"\nwitness a "+k+"\ngroup g any a\nquorum g\n"), cosign(cp, "w.example", priv, 1))
	f.Fuzz(func(t *testing.T, policy, checkpoint []byte) {
		p, err := verify.ParsePolicy(policy)
		if err != nil {
			return
		}
		p.Check(checkpoint)
	})
}

// A receipt checks with a policy alone: the log's key from it, and the
// quorum of cosignatures on the receipt's checkpoint.
func TestCheckWitnessed(t *testing.T) {
	r, _, logKey := receipt(t)
	k, priv := witnessKey(t, "w.example")
	p, err := verify.ParsePolicy([]byte("log " + logKey + "\nwitness w " + k + "\nquorum w\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := verify.CheckWitnessed(r, p); !errors.Is(err, verify.ErrQuorum) || !strings.Contains(err.Error(), "witness w did not cosign") {
		t.Errorf("an unwitnessed receipt: %v", err)
	}
	r.Checkpoint = string(cosign([]byte(r.Checkpoint), "w.example", priv, 1700000000))
	if _, w, err := verify.CheckWitnessed(r, p); err != nil || len(w.Signed) != 1 {
		t.Errorf("a witnessed receipt: %v %+v", err, w)
	}
	other, _ := verify.ParsePolicy([]byte("witness w " + k + "\nquorum w\n"))
	if _, _, err := verify.CheckWitnessed(r, other); !errors.Is(err, verify.ErrSignature) {
		t.Errorf("a policy without the log: %v", err)
	}
}
