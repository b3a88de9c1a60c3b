package court

import "strings"

// readme is the package's README.txt: what it holds and how to check it
// by hand.
func readme(label, top string) string {
	return strings.NewReplacer("{label}", label, "{top}", top).Replace(`Evidence package: {label}
Made by Sightline. This folder is a BagIt bag (RFC 8493).

WHAT IT HOLDS (under data/)
  originals/        every original, byte for byte as received
  derived/ITEM/     copies made from an original (review copy, poster,
                    thumbnails), each named by its "derived" log entry
  custody/report.pdf     the custody report: each item, its hashes, and
                         every logged event about it
  custody/events.csv     the same events, one row each
  custody/entries.jsonl  the exact custody log entries, in log order
  custody/items.json     the items, their files and their log indexes
  receipts/ITEM.tlog-proof         proof that the item's "received" entry
                                   is in the custody log (C2SP tlog-proof)
  receipts/events/INDEX.tlog-proof the same for every entry listed
  log/checkpoint     the signed log checkpoint every proof is against
  log/key.vkey       the log's public key (a note verifier key)
  log/checkpoints/, log/consistency/
                     earlier checkpoints the log handed out, each with a
                     proof that the checkpoint above extends it
  certification.pdf  a declaration for a qualified person to sign
                     (Federal Rule of Evidence 902(14)); Sightline does
                     not certify itself

CHECKING IT
1. Get the log's public key from its operator by a channel you trust (not
   from this package alone: a forger would put their own key here).
2. Check every file against the manifests, from the folder {top}:
       sha256sum -c manifest-sha256.txt
       sha512sum -c manifest-sha512.txt
       sha256sum -c tagmanifest-sha256.txt
3. Check everything else, offline, with Sightline's command:
       sightline verify-package {top}.zip --key 'KEY'
   It checks the bag, that each original is the file its "received" entry
   names, every proof against the key, the earlier checkpoints, and that
   events.csv and the report agree with entries.jsonl. It prints one line
   per item and exits 1 on any failure.
4. One original with its receipt:
       sightline verify data/originals/ITEM.mp4 data/receipts/ITEM.tlog-proof --key 'KEY'

WHAT IT PROVES AND WHAT IT DOES NOT
Each entry listed is in the log the key signs, at its index, and each
original is the file its entry names. Whether an entry about these items
was left out can only be checked against the log itself, which is public:
its tiles hold every entry.
`)
}
