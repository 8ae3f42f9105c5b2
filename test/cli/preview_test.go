package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/deploylab/deploylab/internal/stackfile"
	"github.com/stretchr/testify/require"
)

// pluginMissing is the only error a `pulumi preview` or `pulumi up` of the project may end with here: the CLI has
// accepted Pulumi.yaml and the stack's configuration and now needs the Go language plugin, which is not obtainable
// on this machine (see doc.go). Any other error (a project or stack-config validation error above all) fails.
const pluginMissing = "error: failed to load language plugin go: no language plugin 'pulumi-language-go' found in the workspace or on your $PATH"

// requireOnlyPluginMissing fails unless the run failed, and failed only for the missing language plugin.
func requireOnlyPluginMissing(t *testing.T, what, out string, err error) {
	t.Helper()
	require.Error(t, err, "%s succeeded; want it to stop at the missing Go language plugin:\n%s", what, out)
	var errs []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "error:") {
			errs = append(errs, strings.TrimSpace(line))
		}
	}
	require.Equal(t, []string{pluginMissing}, errs, "%s: want only the missing-plugin error; output:\n%s", what, out)
}

// commandLines returns the commands of a shell block: one per line, comments and blank lines dropped.
func commandLines(block []byte) []string {
	var lines []string
	for _, line := range strings.Split(string(block), "\n") {
		line = strings.TrimSpace(regexp.MustCompile(`(^|\s)#.*$`).ReplaceAllString(line, ""))
		if line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// localLogin points `pulumi login --local` at the sandbox. --local means file://~, and the CLI takes ~ from the
// user database, not from $HOME (pkg/backend/diy/backend.go, massageBlobPath: user.Current), so as written it
// would use the real ~/.pulumi of whoever runs the tests. file://$HOME is the same backend in the sandbox's home.
var localLogin = strings.NewReplacer("pulumi login --local", `pulumi login "file://$HOME"`)

// runLines runs a block's commands one at a time in the sandbox, as a user types them: exports carry over to
// the later lines, a `pulumi preview` or `pulumi up` must stop at the missing language plugin and nothing else,
// every other command must succeed. `pulumi up` runs on a terminal: without one it would refuse to run at all
// ("--yes or --skip-preview or --preview-only must be passed in to proceed when running in non-interactive mode").
func runLines(t *testing.T, s *sandbox, lines []string) {
	t.Helper()
	var exports []string
	for _, line := range lines {
		line = localLogin.Replace(line)
		run := s.bash
		if strings.HasPrefix(line, "pulumi up") {
			run = s.terminal
		}
		out, err := run(strings.Join(append(exports, line), "\n"))
		t.Logf("$ %s\n%s", line, out)
		switch {
		case strings.HasPrefix(line, "pulumi preview"), strings.HasPrefix(line, "pulumi up"):
			requireOnlyPluginMissing(t, line, out, err)
		default:
			require.NoError(t, err, "%s:\n%s", line, out)
		}
		if strings.HasPrefix(line, "export ") {
			exports = append(exports, line)
		}
	}
}

// TestReadmeRealPath runs the README's real path as written, line by line, on a fresh machine: nobody logged in,
// no backend, the team's passphrase in the file the README names. Then it checks what the README says about
// the stack file: `stack select --create` wrote an encryption salt into it and changed nothing else, and a
// clone that has the committed salt keeps it on another backend with the same passphrase.
func TestReadmeRealPath(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, false)
	lines := commandLines(readmeBlock(t, "real-path", "sh"))
	want := []string{"pulumi login --local", "export PULUMI_CONFIG_PASSPHRASE_FILE=", "pulumi stack select --create dev", "pulumi preview", "pulumi up"}
	require.Len(t, lines, len(want), "the README's real path: %q", lines)
	for i, line := range lines {
		require.True(t, strings.HasPrefix(line, want[i]), "README real path line %d is %q, want %q", i+1, line, want[i])
	}
	// The one thing the README leaves to the user: the team's passphrase in the file it names.
	passFile, err := s.bash(lines[1] + "\nprintf %s \"$PULUMI_CONFIG_PASSPHRASE_FILE\"")
	require.NoError(t, err, passFile)
	require.NoError(t, os.MkdirAll(filepath.Dir(passFile), 0o700))
	require.NoError(t, os.WriteFile(passFile, []byte(passphrase+"\n"), 0o600))

	devFile := filepath.Join(s.project, "stacks", "Pulumi.dev.yaml")
	before, _, err := stackfile.Read(devFile)
	require.NoError(t, err)
	runLines(t, s, lines)
	require.FileExists(t, filepath.Join(s.vars["HOME"], ".pulumi", "stacks", "deploylab", "dev.json"), "the stack is not in the sandbox's backend")

	data, err := os.ReadFile(devFile)
	require.NoError(t, err)
	salt := regexp.MustCompile(`(?m)^encryptionsalt: v1:\S+$`).Find(data)
	require.NotNil(t, salt, "stack select --create did not write an encryption salt into stacks/Pulumi.dev.yaml:\n%s", data)
	after, _, err := stackfile.Read(devFile)
	require.NoError(t, err)
	require.Equal(t, before, after, "stack select --create changed the configuration of stacks/Pulumi.dev.yaml")

	t.Run("a clone with the committed salt keeps it", func(t *testing.T) {
		t.Parallel()
		clone := newSandbox(t, true)
		committed := clone.addStack("dev", data)
		out, err := clone.pulumi("stack", "select", "--create", "dev")
		require.NoError(t, err, out)
		got, err := os.ReadFile(committed)
		require.NoError(t, err)
		require.Equal(t, string(data), string(got), "stack select --create on a second backend changed the committed stack file")
		out, err = clone.pulumi("preview", "--stack", "dev")
		requireOnlyPluginMissing(t, "pulumi preview", out, err)
	})

	t.Run("another passphrase is refused", func(t *testing.T) {
		t.Parallel()
		clone := newSandbox(t, true)
		clone.env = append(clone.env, "PULUMI_CONFIG_PASSPHRASE=not-the-team-passphrase")
		clone.addStack("dev", data)
		out, err := clone.pulumi("stack", "select", "--create", "dev")
		require.Error(t, err, out)
		require.Contains(t, out, incorrectPassphrase)
	})
}

// TestReadmeMessages checks the CLI's messages the README quotes for the real path's missteps, on a fresh
// backend: selecting a stack that does not exist, creating one without a passphrase, creating one that exists,
// and a stack without a required key.
func TestReadmeMessages(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, false)
	out, err := s.bash(localLogin.Replace("pulumi login --local"))
	require.NoError(t, err, out)
	steps := []struct {
		args []string
		want string // "" for success
	}{
		{[]string{"stack", "select", "dev"}, "error: no stack named 'dev' found"},
		{[]string{"stack", "select", "--create", "dev"}, "error: could not create secrets manager for new stack: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE environment variables"},
		{[]string{"stack", "init", "dev"}, ""},
		{[]string{"stack", "init", "dev"}, "error: stack 'organization/deploylab/dev' already exists"},
		{[]string{"preview", "--stack", "no-owner"}, "error: validating stack config: Stack 'no-owner' is missing configuration value 'deploylab:owner'"},
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	noOwner := regexp.MustCompile(`(?m)^  deploylab:owner:.*\n`).ReplaceAll(readmeExample(t), nil)
	s.addStack("no-owner", noOwner)
	for i, step := range steps {
		if step.args[0] == "preview" {
			out, err := s.pulumi("stack", "init", "no-owner")
			require.NoError(t, err, out)
		}
		if i == 2 {
			s.env = append(s.env, "PULUMI_CONFIG_PASSPHRASE="+passphrase)
		}
		out, err := s.pulumi(step.args...)
		if step.want == "" {
			require.NoError(t, err, out)
			continue
		}
		require.Error(t, err, "pulumi %s: %s", strings.Join(step.args, " "), out)
		require.Equal(t, step.want, strings.TrimSpace(out), "pulumi %s", strings.Join(step.args, " "))
		// The README quotes the message without the CLI's "error: " and the stack's name.
		quoted := strings.TrimPrefix(step.want, "error: ")
		quoted = quoted[strings.LastIndex(quoted, ": ")+2:]
		quoted = strings.ReplaceAll(quoted, "'no-owner'", "'dev'")
		require.Contains(t, strings.Join(strings.Fields(string(readme)), " "), quoted, "README.md does not quote the CLI's message")
	}
}

// incorrectPassphrase is how the CLI refuses a passphrase that does not match a stack file's salt.
const incorrectPassphrase = "error: could not create secrets manager for new stack: incorrect passphrase"

// TestPreviewEveryStack previews every stack file, the README's example configuration and every valid fixture
// on a fresh backend: the CLI must accept Pulumi.yaml and the configuration and stop only at the language plugin.
func TestPreviewEveryStack(t *testing.T) {
	t.Parallel()
	for _, c := range acceptedConfigs(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newSandbox(t, true)
			s.addStack(c.name, c.data)
			out, err := s.pulumi("stack", "init", c.name)
			require.NoError(t, err, out)
			out, err = s.pulumi("preview", "--stack", c.name)
			requireOnlyPluginMissing(t, "pulumi preview --stack "+c.name, out, err)
		})
	}
}

// TestPreviewFailsWithoutDefaults shows that the preview check can fail: with the `default`s removed from
// Pulumi.yaml, as before issue 14, the CLI refuses the dev stack before the program could run, naming every
// optional key the stack leaves out.
func TestPreviewFailsWithoutDefaults(t *testing.T) {
	t.Parallel()
	s := newSandbox(t, true)
	project := loadProject(t)
	data, err := os.ReadFile(filepath.Join(s.project, "Pulumi.yaml"))
	require.NoError(t, err)
	stripped := regexp.MustCompile(`(?m)^    default: .*\n`).ReplaceAll(data, nil)
	require.NoError(t, os.WriteFile(filepath.Join(s.project, "Pulumi.yaml"), stripped, 0o600))
	dev, _, err := stackfile.Read(filepath.Join(s.project, "stacks", "Pulumi.dev.yaml"))
	require.NoError(t, err)
	var missing []string
	for key, decl := range project.Config {
		if _, set := dev[key]; decl.Default != nil && !set {
			missing = append(missing, key)
		}
	}
	require.NotEmpty(t, missing, "Pulumi.yaml has no default the dev stack relies on")

	out, err := s.pulumi("stack", "init", "dev")
	require.NoError(t, err, out)
	out, err = s.pulumi("preview", "--stack", "dev")
	require.Error(t, err)
	require.Contains(t, out, "error: validating stack config: Stack 'dev' is missing configuration value")
	for _, key := range missing {
		require.Contains(t, out, "'"+key+"'")
	}
}
