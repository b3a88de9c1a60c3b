// Command witnesses runs three witnesses on loopback for a data folder's
// custody log (two litewitness, one omniwitness, each with a fresh
// database), writes a 2-of-3 witness policy for them, and keeps them
// running until interrupted: `make witnesses`, then in another terminal
// `sightline serve --witness-policy witnesses.policy`.
//
//	go run ./internal/ledger/witnesstest/witnesses [-data ./sightline-data] [-o witnesses.policy]
package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/mod/sumdb/note"

	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/ledger/witnesstest"
	"github.com/sightline/sightline/internal/server"
)

func main() {
	data := flag.String("data", "./sightline-data", "the data folder of the server to witness (its log key is made if missing)")
	out := flag.String("o", "witnesses.policy", "where to write the policy")
	origin := flag.String("log-origin", server.DefaultLogOrigin, "the log's origin, for a key made here")
	flag.Parse()
	p := &witnesstest.Program{}
	defer p.Close()
	keyFile := server.KeyFile(*data)
	if _, err := os.Stat(keyFile); os.IsNotExist(err) {
		// The witnesses must know the log's key before it publishes its
		// first checkpoint: make it now, as serve would.
		skey, _, err := note.GenerateKey(rand.Reader, *origin)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(keyFile), 0o755)
		}
		if err == nil {
			err = os.WriteFile(keyFile, []byte(skey), 0o600)
		}
		if err != nil {
			p.Fatalf("making the log's key: %v", err)
		}
	}
	vkey, err := ledger.VerifierKeyOf(keyFile)
	if err != nil {
		p.Fatalf("%v", err)
	}
	name := strings.SplitN(vkey, "+", 2)[0]
	ws := []*witnesstest.Witness{
		witnesstest.Litewitness(p, "lite1.local", name, vkey),
		witnesstest.Litewitness(p, "lite2.local", name, vkey),
		witnesstest.Omniwitness(p, "omni.local", name, vkey),
	}
	if err := os.WriteFile(*out, witnesstest.Policy(vkey, 2, ws...), 0o644); err != nil {
		p.Fatalf("%v", err)
	}
	for _, w := range ws {
		fmt.Printf("witness %s at %s\n", w.Name, w.URL)
	}
	fmt.Printf("policy (2 of 3) in %s: run `sightline serve --data %s --witness-policy %s`; Ctrl-C stops the witnesses\n", *out, *data, *out)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
