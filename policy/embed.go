// Package policy embeds the Rego policy pack so `deploylab plan` evaluates exactly the files that
// `pulumi preview --policy-pack policy` loads.
package policy

import "embed"

// Files holds PulumiPolicy.yaml and every *.rego file of the pack (policies and their *_test.rego unit tests).
//
//go:embed *.rego PulumiPolicy.yaml
var Files embed.FS
