package main

import (
	"flag"
	"fmt"

	"github.com/sightline/sightline/internal/ledger"
	"github.com/sightline/sightline/internal/server"
)

// keys prints the custody log's verifier key: what a verifier needs to
// check receipts and checkpoints offline.
func (m *Main) keys(args []string) error {
	fs := flag.NewFlagSet("sightline keys", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	data := fs.String("data", defaultData, "the server's data folder")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := openData(*data); err != nil {
		return err
	}
	vkey, err := ledger.VerifierKeyOf(server.KeyFile(*data))
	if err != nil {
		return fmt.Errorf("%w (the key is created when `sightline serve` first starts)", err)
	}
	fmt.Fprintln(m.Stdout, vkey)
	return nil
}
