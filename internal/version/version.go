// Package version names this build of Sightline, as evidence packages
// and redaction manifests record it.
package version

import "runtime/debug"

// String is the module version and, when built from a checkout, its
// commit.
func String() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v
}
