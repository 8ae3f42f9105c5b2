package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/deploylab/deploylab/internal/stackfile"
	"github.com/deploylab/deploylab/internal/testutil"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// passphrase encrypts the secrets of every stack the tests create; it protects nothing real.
const passphrase = "test-only-passphrase"

// root is the repository, whose Pulumi.yaml, stack files, fixtures and README the tests read (never write).
var root = testutil.RepoRoot()

// sandbox is a fresh HOME, PULUMI_HOME and file:// backend, and a project directory holding copies of the
// repository's Pulumi.yaml and stack files: `stack init` writes into stack files, and only the copies change.
type sandbox struct {
	t       *testing.T
	bin     string
	project string
	// env is the environment of every CLI run: the parent's, without any PULUMI_* variable, plus the sandbox's.
	env []string
	// vars are the sandbox's own variables (also handed to Automation API workspaces).
	vars map[string]string
}

// cliRoot returns the directory `make tools` installs the CLI under (bin/pulumi below it). A missing CLI fails
// the test: it never skips.
func cliRoot(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(root, ".tools")
	if _, err := os.Stat(filepath.Join(dir, "bin", "pulumi")); err != nil {
		t.Fatalf("the real-CLI tests need the Pulumi CLI at %s/bin/pulumi: run make tools (scripts/tools.sh): %v", dir, err)
	}
	return dir
}

// newSandbox prepares a sandbox. With backend, PULUMI_BACKEND_URL points at an empty file:// backend and
// PULUMI_CONFIG_PASSPHRASE is set; without, the commands under test log in and give the passphrase themselves.
func newSandbox(t *testing.T, backend bool) *sandbox {
	t.Helper()
	bin := filepath.Join(cliRoot(t), "bin")
	dir := t.TempDir()
	s := &sandbox{t: t, bin: bin, project: filepath.Join(dir, "project"), vars: map[string]string{
		"HOME":                     filepath.Join(dir, "home"),
		"PULUMI_HOME":              filepath.Join(dir, "pulumi-home"),
		"PULUMI_SKIP_UPDATE_CHECK": "true",
	}}
	for _, d := range []string{s.project + "/stacks", s.vars["HOME"]} {
		require.NoError(t, os.MkdirAll(d, 0o700))
	}
	copyFile(t, filepath.Join(root, "Pulumi.yaml"), filepath.Join(s.project, "Pulumi.yaml"))
	for _, file := range stackFiles(t) {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		s.addStack(stackfile.StackName(file), portable(t, data))
	}
	if backend {
		state := filepath.Join(dir, "state")
		require.NoError(t, os.Mkdir(state, 0o700))
		s.vars["PULUMI_BACKEND_URL"] = "file://" + state
		s.vars["PULUMI_CONFIG_PASSPHRASE"] = passphrase
	}
	// Nothing of the caller's environment but PATH: no PULUMI_* variable, no CI marker (the CLI turns
	// non-interactive in CI), no other HOME.
	s.env = []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "TERM=xterm"}
	for name, value := range s.vars {
		s.env = append(s.env, name+"="+value)
	}
	return s
}

// pulumi runs the CLI in the project directory and returns its combined output.
func (s *sandbox) pulumi(args ...string) (string, error) {
	return s.runCmd(exec.Command(filepath.Join(s.bin, "pulumi"), args...))
}

// bash runs shell command lines in the project directory, as a user would type them.
func (s *sandbox) bash(lines string) (string, error) {
	return s.runCmd(exec.Command("bash", "-o", "errexit", "-o", "nounset", "-o", "pipefail", "-c", lines))
}

// ansi matches the terminal escapes the CLI writes to a terminal.
var ansi = regexp.MustCompile(`\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07\x1b]*(\x07|\x1b\\))`)

// terminal runs shell command lines like bash, but on a terminal (script(1), Debian package bsdutils): the CLI is then
// interactive, as for a user typing the README's commands, and `pulumi up` previews before it asks. The output
// comes back without escapes and carriage returns.
func (s *sandbox) terminal(lines string) (string, error) {
	out, err := s.runCmd(exec.Command("script", "--quiet", "--return", "--flush", "--command",
		"stty cols 160 rows 50\n"+lines, "/dev/null"))
	return strings.ReplaceAll(ansi.ReplaceAllString(out, ""), "\r", ""), err
}

func (s *sandbox) runCmd(cmd *exec.Cmd) (string, error) {
	cmd.Dir = s.project
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// addStack puts a stack file into the sandbox's stack directory under the given stack name.
func (s *sandbox) addStack(name string, data []byte) string {
	path := filepath.Join(s.project, "stacks", "Pulumi."+name+".yaml")
	require.NoError(s.t, os.WriteFile(path, data, 0o600))
	return path
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, data, 0o600))
}

// stackFiles are the project's stack files; at least dev, prod and training.
func stackFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "stacks", "Pulumi.*.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3, "stacks/ has fewer than the three shipped stack files")
	return files
}

// config is a stack configuration to run: its stack name and the stack file's content.
type config struct {
	name string
	data []byte
}

// acceptedConfigs are every configuration the project says is valid: each stack file, the README's example
// configuration (as stack `readme`) and each infra/testdata/valid-* fixture. Found by glob, so stacks and fixtures
// added later are covered.
func acceptedConfigs(t *testing.T) []config {
	t.Helper()
	var configs []config
	for _, file := range stackFiles(t) {
		configs = append(configs, readConfig(t, stackfile.StackName(file), file))
	}
	configs = append(configs, config{name: "readme", data: readmeExample(t)})
	valid, err := filepath.Glob(filepath.Join(root, "infra", "testdata", "valid-*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, valid)
	for _, file := range valid {
		configs = append(configs, readConfig(t, strings.TrimSuffix(filepath.Base(file), ".yaml"), file))
	}
	return configs
}

// refusedConfigs are the infra/testdata/invalid-* fixtures.
func refusedConfigs(t *testing.T) []config {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "infra", "testdata", "invalid-*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var configs []config
	for _, file := range files {
		configs = append(configs, readConfig(t, strings.TrimSuffix(filepath.Base(file), ".yaml"), file))
	}
	return configs
}

func readConfig(t *testing.T, name, path string) config {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return config{name: name, data: portable(t, data)}
}

// portable makes a committed stack file usable with the tests' passphrase. A stack file whose stack was created
// (README: commit the salt) has the team's encryptionsalt, which the tests' passphrase does not match, and its
// `secure:` values need the team's passphrase. So the copy loses the salt (the test backend mints its own) and
// each secure value becomes the offline plan's placeholder, in plain text; the rest is unchanged. A file with
// neither is returned as it is.
func portable(t *testing.T, data []byte) []byte {
	t.Helper()
	if !regexp.MustCompile(`(?m)^(encryptionsalt|secretsprovider|encryptedkey):|\bsecure:`).Match(data) {
		return data
	}
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &doc))
	require.NotEmpty(t, doc.Content)
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		switch top.Content[i].Value {
		case "encryptionsalt", "secretsprovider", "encryptedkey":
			top.Content = append(top.Content[:i], top.Content[i+2:]...)
			i -= 2
		}
	}
	var placeholders func(n *yaml.Node)
	placeholders = func(n *yaml.Node) {
		for _, child := range n.Content {
			if child.Kind == yaml.MappingNode && len(child.Content) == 2 && child.Content[0].Value == "secure" {
				*child = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: stackfile.SecretPlaceholder}
				continue
			}
			placeholders(child)
		}
	}
	placeholders(top)
	out, err := yaml.Marshal(&doc)
	require.NoError(t, err)
	return out
}

// readmeBlock returns the fenced block that follows an HTML comment marker in README.md.
func readmeBlock(t *testing.T, marker, lang string) []byte {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)<!-- " + regexp.QuoteMeta(marker) + " -->\\s*```" + lang + "\\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, block, "README.md has no <!-- %s --> %s block", marker, lang)
	return block[1]
}

// readmeExample is the README's example configuration, the block infra's TestReadmeExample loads.
func readmeExample(t *testing.T) []byte {
	return readmeBlock(t, "example-config", "yaml")
}

// TestPortable checks that a committed stack file made portable reads, offline, exactly as before, without the
// salt and with no encrypted value left.
func TestPortable(t *testing.T) {
	t.Parallel()
	committed := []byte(`# a stack someone created and committed
config:
  aws:region: eu-central-1
  deploylab:env: dev
  deploylab:jenkins:
    enabled: true
    token:
      secure: v1:AAAABBBBCCCC
  other:password:
    secure: v1:DDDDEEEEFFFF
encryptionsalt: v1:IjNnq82c6y4=:v1:Nfm5h+mZXRDxE6ys:FOAZNCqiY+q4IeYmIEu+R3k7l3Kp/g==
`)
	got := portable(t, committed)
	require.NotContains(t, string(got), "encryptionsalt")
	require.NotContains(t, string(got), "secure")
	read := func(data []byte) map[string]string {
		path := filepath.Join(t.TempDir(), "Pulumi.x.yaml")
		require.NoError(t, os.WriteFile(path, data, 0o600))
		raw, _, err := stackfile.Read(path)
		require.NoError(t, err)
		return raw
	}
	require.Equal(t, read(committed), read(got))
	plain := []byte("config:\n  deploylab:env: dev\n")
	require.Equal(t, plain, portable(t, plain))
}
