//go:build tools

// Package actionlint pins the GitHub Actions linter. It is a module of its own
// because actionlint v1.7.12 builds only against go.yaml.in/yaml/v4 v4.0.0-rc.3,
// while the Pulumi CLI in ../go.mod needs rc.4, whose API differs: in one module,
// version selection would pick rc.4 and actionlint would not compile.
package actionlint

import _ "github.com/rhysd/actionlint/cmd/actionlint"
