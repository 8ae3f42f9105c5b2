//go:build tools

// Package tools pins the Pulumi CLI that the reaper's real-engine tests drive, in
// a module of its own so its large dependency graph never reaches the main
// go.mod. scripts/tools.sh builds it into .tools/bin. actionlint is pinned in
// ./actionlint, a separate module (see the reason there).
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
