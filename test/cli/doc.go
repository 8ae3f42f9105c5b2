// Package cli holds the tests that run the real Pulumi CLI on this project: the one `make tools` builds into
// .tools/bin, against a fresh temporary file:// backend, on a temporary copy of Pulumi.yaml and the stack files (so
// nothing in the repository changes). They check what the mock-engine tests cannot: that the CLI accepts
// Pulumi.yaml and every stack's configuration, that the commands the README and docs/operations.md give work as
// written, and that the configuration the real engine hands the program is what infra.Load parses.
//
// The Go language plugin (pulumi-language-go) is not obtainable here (the module proxy refuses its module), so a
// `pulumi preview` of the project stops when it needs the plugin, after the CLI has validated the project and the
// stack's configuration. The tests assert that this is the only error left. The program's configuration loading
// runs under the real engine anyway, as an Automation API inline program, where this test process is the
// language host.
package cli
