package infra

import (
	"bufio"
	"github.com/deploylab/deploylab/internal/stackfile"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func loadFile(t *testing.T, path string) (*Config, error) {
	t.Helper()
	raw, _, err := stackfile.Read(path)
	require.NoError(t, err)
	return Load(raw)
}

// TestValidFixtures loads every valid fixture and every stack file of the project.
func TestValidFixtures(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/valid-*.yaml")
	stacks, _ := filepath.Glob("../stacks/Pulumi.*.yaml")
	files = append(files, stacks...)
	require.GreaterOrEqual(t, len(stacks), 3)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			_, err := loadFile(t, file)
			require.NoError(t, err)
		})
	}
}

// TestInvalidFixtures requires each invalid fixture to fail with the line its `# want:` comment names.
func TestInvalidFixtures(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			wants := wantLines(t, file)
			require.NotEmpty(t, wants, "fixture has no # want: line")
			_, err := loadFile(t, file)
			require.Error(t, err)
			for _, want := range wants {
				require.Contains(t, err.Error(), want)
			}
			require.NotRegexp(t, goType, err.Error(), "a config error names a Go type instead of the YAML expected")
		})
	}
}

// goType matches what encoding/json would say of a Go type: a package-qualified name, a slice or map type, or a
// bare Go kind.
var goType = regexp.MustCompile(`\binfra\.|\[\]\w|map\[|\b(int|int64|float64|bool|struct|interface)\b`)

// TestRosterShorthandAsTheEngineSendsIt: the engine hands object config to the program as JSON text; bare names
// and mappings may be mixed.
func TestRosterShorthandAsTheEngineSendsIt(t *testing.T) {
	t.Parallel()
	cfg, err := Load(map[string]string{
		"deploylab:env":        "training",
		"deploylab:owner":      "class",
		"deploylab:expiresAt":  "2026-12-18T18:00:00+09:00",
		"deploylab:adminCidrs": `["203.0.113.0/24"]`,
		"deploylab:appHost":    `{"passwordAuth": true}`,
		"deploylab:classroom":  `{"students": ["alice", {"name": "bob", "sshPublicKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv0X1ElBvbRzH0XbcNpVkWlQ0eI5X9T2Qyq4K8btest b@x"]}]}`,
	})
	require.NoError(t, err)
	require.Equal(t, []Student{{Name: "alice"}, {Name: "bob", SSHPublicKeys: []string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBv0X1ElBvbRzH0XbcNpVkWlQ0eI5X9T2Qyq4K8btest b@x"}}}, cfg.Classroom.Students)
}

func wantLines(t *testing.T, path string) []string {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var wants []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if want, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			wants = append(wants, want)
		}
	}
	return wants
}

// TestAllProblemsAtOnce checks that validation gathers every problem instead of stopping at the first.
func TestAllProblemsAtOnce(t *testing.T) {
	t.Parallel()
	_, err := Load(map[string]string{
		"deploylab:env":        "qa",
		"deploylab:adminCidrs": `["nope"]`,
		"deploylab:appHost":    `{"bluePort": 70000, "healthPath": "x"}`,
	})
	require.Error(t, err)
	var cerr *ConfigError
	require.ErrorAs(t, err, &cerr)
	require.GreaterOrEqual(t, len(cerr.Problems), 5, err.Error())
	for _, key := range []string{"deploylab:env:", "deploylab:owner:", "deploylab:adminCidrs[0]:", "deploylab:appHost.bluePort:", "deploylab:appHost.healthPath:"} {
		require.Contains(t, err.Error(), key)
	}
}

// TestDefaults checks the environment-dependent defaults.
func TestDefaults(t *testing.T) {
	t.Parallel()
	for _, env := range Envs {
		c := &Config{Env: env}
		SetDefaults(c)
		require.Equal(t, env == "prod", *c.AppHost.ElasticIP, env)
		require.Equal(t, env == "training", *c.GKE.Spot, env)
		require.True(t, *c.AppHost.Enabled)
		require.Equal(t, "/actuator/health/readiness", c.AppHost.HealthPath)
		require.Equal(t, 8081, c.AppHost.BluePort)
		require.Equal(t, 8082, c.AppHost.GreenPort)
	}
}

// TestReadmeExample loads the configuration example the README shows, so the README cannot drift from the
// code.
func TestReadmeExample(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)<!-- example-config -->\\s*```yaml\\n(.*?)```").FindSubmatch(readme)
	require.NotNil(t, block, "README.md has no <!-- example-config --> yaml block")
	path := filepath.Join(t.TempDir(), "Pulumi.readme.yaml")
	require.NoError(t, os.WriteFile(path, block[1], 0o600))
	_, err = loadFile(t, path)
	require.NoError(t, err)
}

// TestScalarStringKeys checks that a string key keeps a value that reads as JSON: the engine (and the offline
// plan) hand scalars over as bare text, so owner "2026" is the string 2026, not a number; an object where a string
// belongs is still refused.
func TestScalarStringKeys(t *testing.T) {
	t.Parallel()
	base := map[string]string{"deploylab:env": "dev", "deploylab:adminCidrs": `["198.51.100.0/24"]`, "deploylab:appHost": `{"passwordAuth": true}`}
	// A quoted owner is a string that reads as JSON too, but AWS tags refuse the quote character: validation
	// names that (TestValidate), so only the tag-safe values are loaded here.
	for _, owner := range []string{"2026", "true", "null"} {
		t.Run(owner, func(t *testing.T) {
			t.Parallel()
			raw := maps.Clone(base)
			raw["deploylab:owner"] = owner
			cfg, err := Load(raw)
			require.NoError(t, err)
			require.Equal(t, owner, cfg.Owner)
		})
	}
	raw := maps.Clone(base)
	raw["deploylab:owner"] = `{"team": "a"}`
	_, err := Load(raw)
	require.ErrorContains(t, err, "deploylab:owner: value: got a mapping, want a string")
}
