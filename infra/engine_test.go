package infra

// Under the real engine: the pinned Pulumi CLI (make tools) with a file:// backend runs inline programs in this
// test process, so no language or provider plugin is needed for what is checked here, which all happens before
// the first resource.

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/stretchr/testify/require"

	"github.com/deploylab/deploylab/internal/awslimits"
	"github.com/deploylab/deploylab/internal/testutil"
)

// engineStack writes settings as stacks/Pulumi.<name>.yaml would hold them and creates the stack with program
// on a fresh backend. It fails, never skips, without the CLI.
func engineStack(t *testing.T, name, settings string, program pulumi.RunFunc) auto.Stack {
	bin := filepath.Join(testutil.RepoRoot(), ".tools", "bin")
	_, err := os.Stat(filepath.Join(bin, "pulumi"))
	require.NoError(t, err, "the real-engine tests need the Pulumi CLI: make tools")
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "state"), 0o700))
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("PULUMI_BACKEND_URL", "file://"+filepath.Join(dir, "state"))
	t.Setenv("PULUMI_CONFIG_PASSPHRASE", "test-only-passphrase")
	t.Setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
	t.Setenv("PULUMI_HOME", filepath.Join(dir, "home"))
	work := filepath.Join(dir, "work")
	require.NoError(t, os.Mkdir(work, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(work, "Pulumi."+name+".yaml"), []byte(settings), 0o600))
	stack, err := auto.UpsertStackInlineSource(context.Background(), name, "deploylab", program, auto.WorkDir(work))
	require.NoError(t, err)
	return stack
}

// TestEngineRefusesPlaceholders: `pulumi preview` of the shipped prod example stops before any resource, naming
// every placeholder key.
func TestEngineRefusesPlaceholders(t *testing.T) {
	settings, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "stacks", "Pulumi.prod.yaml"))
	require.NoError(t, err)
	stack := engineStack(t, "prod", string(settings), Program)
	_, err = stack.Preview(context.Background())
	require.Error(t, err)
	for _, key := range []string{"deploylab:blueGreen.certificateArn:", "deploylab:jenkins.domain:", "deploylab:jenkins.certbotEmail:"} {
		require.Contains(t, err.Error(), key)
	}
	require.NotContains(t, err.Error(), "plugin", "the refusal must come before any provider is needed")
}

// TestEngineRosterShorthand: the roster as a teacher writes it in a stack file reaches the program through the
// engine's config encoding (objects as JSON) and decodes to students; a wrong entry is reported in YAML words.
func TestEngineRosterShorthand(t *testing.T) {
	const settings = `config:
  deploylab:env: training
  deploylab:owner: class
  deploylab:expiresAt: "2026-12-18T18:00:00+09:00"
  deploylab:adminCidrs: ["203.0.113.0/24"]
  deploylab:appHost: {passwordAuth: true}
  deploylab:classroom:
    students: [alice, {name: bob}, %s]
`
	decode := func(ctx *pulumi.Context) error {
		cfg, err := Load(rawConfig(ctx))
		if err != nil {
			return err
		}
		var names []string
		for _, s := range cfg.Classroom.Students {
			names = append(names, s.Name)
		}
		ctx.Export("students", pulumi.String(strings.Join(names, ",")))
		return nil
	}
	stack := engineStack(t, "class", strings.Replace(settings, "%s", "chulsoo", 1), decode)
	res, err := stack.Up(context.Background())
	require.NoError(t, err)
	require.Equal(t, "alice,bob,chulsoo", res.Outputs["students"].Value)

	stack = engineStack(t, "bad", strings.Replace(settings, "%s", "[carol]", 1), decode)
	_, err = stack.Preview(context.Background())
	require.Error(t, err)
	require.Contains(t, err.Error(), "got a list, want "+studentShape)
	require.NotRegexp(t, goType, err.Error())
}

// TestEngineRefusesAWSLimit: the limits transformation Deploy registers stops `pulumi preview` itself, and the
// refused resource never reaches the engine (no provider plugin is asked for it).
func TestEngineRefusesAWSLimit(t *testing.T) {
	program := func(ctx *pulumi.Context) error {
		if err := awslimits.Register(ctx); err != nil {
			return err
		}
		_, err := ec2.NewSecurityGroup(ctx, "alb-alb-sg", &ec2.SecurityGroupArgs{Description: pulumi.String("out to the app host's colour ports")})
		return err
	}
	stack := engineStack(t, "limits", "config:\n  aws:region: eu-central-1\n", program)
	_, err := stack.Preview(context.Background())
	require.Error(t, err)
	require.Contains(t, err.Error(), `aws:ec2/securityGroup:SecurityGroup "alb-alb-sg": description "out to the app host's colour ports": has "'", which EC2 refuses`)
	require.NotContains(t, err.Error(), "plugin")
}
