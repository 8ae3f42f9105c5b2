package infra

import (
	"strings"
	"testing"

	"github.com/deploylab/deploylab/internal/stackfile"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"
)

func TestPlaceholder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		value string
		want  string // "" = not a placeholder
	}{
		{"arn:aws:acm:eu-central-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", "example account"},
		{"arn:aws:iam::123456789012:role/x", "example account"},
		{"arn:aws:acm:eu-central-1:210987654321:certificate/0b1c2d3e", ""},
		{"jenkins.example.com", "example.com is reserved"},
		{"example.org", "example.org is reserved"},
		{"ops@example.net", "example.net is reserved"},
		{"https://git.example.com/app.git", "example.com is reserved"},
		{"https://github.com/example/app.git", ""},
		{"app.myexample.com", ""},
		{"ops@platform-team.io", ""},
		{"123456789012", ""}, // not an ARN: an account number alone names nothing
	} {
		t.Run(tc.value, func(t *testing.T) {
			t.Parallel()
			got := placeholder(tc.value)
			if tc.want == "" {
				require.Empty(t, got)
				return
			}
			require.Contains(t, got, tc.want)
		})
	}
}

// TestPlaceholdersNameTheKey walks the whole config, nested and in lists.
func TestPlaceholdersNameTheKey(t *testing.T) {
	t.Parallel()
	raw, _, err := stackfile.Read("../stacks/Pulumi.prod.yaml")
	require.NoError(t, err)
	cfg, err := Load(raw)
	require.NoError(t, err, "the prod example is valid config; its placeholders are a separate finding")
	found := Placeholders(cfg)
	require.Len(t, found, 3, "%v", found)
	for _, key := range []string{"deploylab:blueGreen.certificateArn:", "deploylab:jenkins.domain:", "deploylab:jenkins.certbotEmail:"} {
		require.Contains(t, strings.Join(found, "\n"), key)
	}
	for _, stack := range []string{"dev", "training"} {
		raw, _, err := stackfile.Read("../stacks/Pulumi." + stack + ".yaml")
		require.NoError(t, err)
		cfg, err := Load(raw)
		require.NoError(t, err)
		require.Empty(t, Placeholders(cfg), stack)
	}
}

// nothing is the mock engine of TestProgramRefusesPlaceholders: it fails the test if any resource reaches it.
type nothing struct{ t *testing.T }

func (m nothing) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.t.Errorf("resource %s %q was registered although the config has placeholders", args.TypeToken, args.Name)
	return args.Name, args.Inputs, nil
}

func (m nothing) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) { return args.Args, nil }

// TestProgramRefusesPlaceholders runs Program, the code `pulumi preview`/`up` run, on the prod example: it must
// fail naming every placeholder key before registering any resource.
func TestProgramRefusesPlaceholders(t *testing.T) {
	t.Parallel()
	raw, _, err := stackfile.Read("../stacks/Pulumi.prod.yaml")
	require.NoError(t, err)
	err = pulumi.RunErr(Program, pulumi.WithMocks("deploylab", "prod", nothing{t}), func(info *pulumi.RunInfo) { info.Config = raw })
	require.Error(t, err)
	for _, key := range []string{"deploylab:blueGreen.certificateArn:", "deploylab:jenkins.domain:", "deploylab:jenkins.certbotEmail:", "replace it with your own value"} {
		require.Contains(t, err.Error(), key)
	}
}
