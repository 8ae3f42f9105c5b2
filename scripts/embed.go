// Package scripts carries the host-side scripts that other packages install on machines.
package scripts

import _ "embed" // for go:embed

// DeployScript is scripts/deploy.sh, the host-side blue/green deploy, which the app host installs via cloud-init.
//
//go:embed deploy.sh
var DeployScript string
