// Package plan runs the deploylab program against an in-process mock engine, so a stack can be planned with no
// cloud account: the resources it would create, the policy pack's findings, the rendered user data and an
// estimated monthly cost.
package plan

import (
	"github.com/deploylab/deploylab/internal/stackfile"
	"time"

	"context"
	"errors"
	"fmt"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/deploylab/deploylab/infra"
	"github.com/deploylab/deploylab/internal/awslimits"
	"github.com/deploylab/deploylab/internal/policy"
)

// Result is one planned stack.
type Result struct {
	Stack     string           `json:"stack"`
	Config    *infra.Config    `json:"-"`
	Resources []Resource       `json:"resources"`
	Findings  []policy.Finding `json:"findings"`
	Outputs   map[string]any   `json:"outputs"`
	Cost      Cost             `json:"cost"`
	// Quotas is what the stack draws from AWS's default quotas.
	Quotas []Quota `json:"quotas"`
	// UserData maps each EC2 instance's name to its rendered cloud-init.
	UserData map[string]string `json:"-"`
}

// ErrInvalidConfig wraps configuration problems (exit code 2).
var ErrInvalidConfig = errors.New("invalid configuration")

// Run loads raw config (as ReadConfig returns it), runs the program on the mock engine and evaluates the
// policy pack on what it registered.
func Run(ctx context.Context, stack string, raw map[string]string) (*Result, error) {
	cfg, err := infra.Load(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	engine := &Engine{Project: "deploylab", Stack: stack, Region: cfg.Region}
	var exported pulumi.Map
	err = pulumi.RunErr(func(pctx *pulumi.Context) error {
		exported, err = infra.Deploy(pctx, cfg)
		return err
	}, pulumi.WithMocks("deploylab", stack, engine), withConfig(raw))
	var refused *awslimits.Error
	switch {
	case errors.As(err, &refused):
		return nil, fmt.Errorf("the AWS provider or API would refuse this stack (docs/limits.md): %w", refused)
	case err != nil:
		return nil, fmt.Errorf("program failed on the mock engine: %w", err)
	}
	outputs, err := Await(ctx, exported)
	if err != nil {
		return nil, err
	}
	res := &Result{Stack: stack, Config: cfg, Resources: engine.Resources(), Outputs: outputs, UserData: map[string]string{}}
	for _, r := range res.Resources {
		if r.userData != "" {
			res.UserData[r.Name] = r.userData
		}
	}
	res.Findings, err = policy.Evaluate(ctx, policyResources(res.Resources))
	if err != nil {
		return nil, fmt.Errorf("policy pack: %w", err)
	}
	res.Quotas = Quotas(res.Resources)
	res.Findings = append(res.Findings, placeholderFindings(cfg)...)
	res.Findings = append(res.Findings, userDataFindings(res.Resources)...)
	res.Findings = append(res.Findings, quotaFindings(res.Quotas)...)
	res.Cost = Estimate(cfg, res.Resources)
	return res, nil
}

// Denied reports whether a finding blocks the stack.
func (r *Result) Denied() bool {
	for _, f := range r.Findings {
		if f.Level == "deny" {
			return true
		}
	}
	return false
}

// placeholderFindings reports each documentation placeholder in the config. A warning here, not a deny: the plan
// creates nothing, and the shipped prod stack file is an example with placeholders to fill in; `pulumi preview`
// and `up` refuse the same values (infra.Program) before anything is created.
func placeholderFindings(cfg *infra.Config) []policy.Finding {
	var out []policy.Finding
	for _, p := range infra.Placeholders(cfg) {
		out = append(out, policy.Finding{Policy: "placeholder-value", Level: policy.LevelWarn, Type: "pulumi:pulumi:Stack",
			Message: p + " (pulumi preview/up refuse it)"})
	}
	return out
}

// userDataFindings warns about user data over deploylab's budget (80% of EC2's limit); over the limit itself the
// program has already failed (awslimits).
func userDataFindings(resources []Resource) []policy.Finding {
	var out []policy.Finding
	for _, r := range resources {
		if r.UserDataBytes > awslimits.UserDataBudget {
			out = append(out, policy.Finding{Policy: "user-data-budget", Level: policy.LevelWarn, URN: r.URN, Type: r.Type, Name: r.Name,
				Message: fmt.Sprintf("user data is %d bytes as EC2 receives it, over deploylab's budget of %d (80%% of EC2's %d): little room is left to grow", r.UserDataBytes, awslimits.UserDataBudget, awslimits.UserDataLimit)})
		}
	}
	return out
}

func policyResources(resources []Resource) []policy.Resource {
	out := make([]policy.Resource, 0, len(resources))
	for _, r := range resources {
		if !r.Custom {
			continue // components have no properties of their own; the analyzer sees custom resources
		}
		out = append(out, policy.Resource{Type: r.Type, Name: r.Name, URN: r.URN, Properties: r.Inputs, Protect: r.Protect})
	}
	return out
}

// withConfig hands the raw config to the mock engine's context, as the real engine would.
func withConfig(raw map[string]string) pulumi.RunOption {
	return func(info *pulumi.RunInfo) {
		info.Config = raw
	}
}

// Await reads stack outputs once the mock run has finished (RunErr returns after every registration and
// apply). A secret output becomes the placeholder, so plan output never shows a secret; an output that never
// resolved is a program bug and an error, not a hang.
func Await(ctx context.Context, out pulumi.Map) (map[string]any, error) {
	values := make(map[string]any, len(out))
	for name, input := range out {
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		res, err := internals.UnsafeAwaitOutput(wait, pulumi.ToOutput(input))
		cancel()
		switch {
		case err != nil:
			return nil, fmt.Errorf("stack output %q did not resolve: %w", name, err)
		case res.Secret:
			values[name] = stackfile.SecretPlaceholder
		case !res.Known:
			values[name] = Unknown
		default:
			values[name] = res.Value
		}
	}
	return values, nil
}
