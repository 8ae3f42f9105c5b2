// Package policy evaluates the Rego policy pack in policy/ offline, the way the pulumi-policy-opa analyzer
// evaluates it during `pulumi preview --policy-pack policy`: the same input shape per resource, the same rule
// name prefixes, one query per rule, and the stack rules over every resource at once.
package policy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"

	pack "github.com/deploylab/deploylab/policy"
)

// Resource is one resource as the mock engine recorded it.
type Resource struct {
	// Type is the Pulumi type token, e.g. aws:ec2/instance:Instance. Required.
	Type string
	// Name is the Pulumi resource name. Required.
	Name string
	// URN is the resource URN; stack findings are reported on the root stack URN derived from it.
	URN string
	// Properties are the resource inputs: plain JSON-like values, camelCase keys, secrets as "[secret]".
	Properties map[string]any
	// Protect is the protect resource option.
	Protect bool
}

// Finding is one violation reported by one rule.
type Finding struct {
	// Policy is the Rego rule name, e.g. deny_world_open_ingress.
	Policy string
	// Level is LevelDeny (mandatory: blocks the deployment) or LevelWarn (advisory).
	Level string
	// URN, Type and Name identify the resource; a stack rule reports the root stack resource, as the analyzer does,
	// and names the offending resource in its message.
	URN, Type, Name string
	// Message is the rule's message; it names the resource and what to change.
	Message string
}

// Rule describes one policy of the pack, read from its METADATA annotation.
type Rule struct {
	// Name is the Rego rule name.
	Name string
	// Level is LevelDeny or LevelWarn.
	Level string
	// Stack is true for stack_* rules, which see every resource in input.resources.
	Stack bool
	// Title, Description and Remediation come from the METADATA block (remediation is custom.remediation).
	Title, Description, Remediation string
}

// Levels of a finding: deny blocks (plan exits 1, preview fails), warn is advisory.
const (
	LevelDeny = "deny"
	LevelWarn = "warn"
)

// The analyzer's rule classification: anything else is a helper and never evaluated on its own.
var (
	denyRule      = regexp.MustCompile(`^(deny|violation)(_[a-zA-Z0-9]+)*$`)
	warnRule      = regexp.MustCompile(`^warn(_[a-zA-Z0-9]+)*$`)
	stackDenyRule = regexp.MustCompile(`^stack_(deny|violation)(_[a-zA-Z0-9]+)*$`)
	stackWarnRule = regexp.MustCompile(`^stack_warn(_[a-zA-Z0-9]+)*$`)
)

// engine is the compiled pack with one prepared query for the resource rules and one for the stack rules.
type engine struct {
	pkg                       string
	rules                     []Rule
	resourceQuery, stackQuery ruleQuery
}

var (
	loadOnce  sync.Once
	loaded    *engine
	errLoaded error
)

// load compiles the embedded pack once; the pack cannot change while the binary runs.
func load() (*engine, error) {
	loadOnce.Do(func() { loaded, errLoaded = compile(pack.Files) })
	return loaded, errLoaded
}

// Rules lists every policy of the pack, sorted by name.
func Rules() ([]Rule, error) {
	e, err := load()
	if err != nil {
		return nil, err
	}
	return append([]Rule(nil), e.rules...), nil
}

// Evaluate runs every resource rule on each resource and every stack rule on all of them, and returns the findings
// sorted deny first, then by URN, policy and message.
func Evaluate(ctx context.Context, resources []Resource) ([]Finding, error) {
	if err := validate(resources); err != nil {
		return nil, err
	}
	e, err := load()
	if err != nil {
		return nil, err
	}
	inputs := make([]any, len(resources))
	for i, r := range resources {
		inputs[i] = shape(r)
	}
	var findings []Finding
	for i, r := range resources {
		results, err := e.eval(ctx, e.resourceQuery, inputs[i])
		if err != nil {
			return nil, fmt.Errorf("policies on %s %q: %w", r.Type, r.Name, err)
		}
		for _, res := range results {
			findings = append(findings, Finding{Policy: res.rule.Name, Level: res.rule.Level, URN: r.URN, Type: r.Type, Name: r.Name, Message: res.msg})
		}
	}
	stackURN := rootStackURN(resources)
	results, err := e.eval(ctx, e.stackQuery, map[string]any{"resources": inputs})
	if err != nil {
		return nil, fmt.Errorf("stack policies: %w", err)
	}
	for _, res := range results {
		findings = append(findings, Finding{
			Policy: res.rule.Name, Level: res.rule.Level, URN: string(stackURN), Type: string(resource.RootStackType),
			Name: stackName(stackURN), Message: res.msg,
		})
	}
	sort.Slice(findings, func(i, j int) bool {
		a, b := findings[i], findings[j]
		if a.Level != b.Level {
			return a.Level == LevelDeny
		}
		if a.URN != b.URN {
			return a.URN < b.URN
		}
		if a.Policy != b.Policy {
			return a.Policy < b.Policy
		}
		return a.Message < b.Message
	})
	return findings, nil
}

// validate rejects resources the analyzer could never see, naming each bad one.
func validate(resources []Resource) error {
	var errs []error
	for i, r := range resources {
		if r.Type == "" {
			errs = append(errs, fmt.Errorf("resources[%d] (name %q): Type is empty; want a Pulumi type token such as aws:ec2/instance:Instance", i, r.Name))
		}
		if r.Name == "" {
			errs = append(errs, fmt.Errorf("resources[%d] (type %q): Name is empty; want the Pulumi resource name", i, r.Type))
		}
		if r.URN != "" && !resource.URN(r.URN).IsValid() {
			errs = append(errs, fmt.Errorf("resources[%d] (%s %q): URN %q is not a Pulumi URN (urn:pulumi:STACK::PROJECT::TYPE::NAME)", i, r.Type, r.Name, r.URN))
		}
	}
	return errors.Join(errs...)
}

// ruleQuery evaluates a group of rules in one pass: the analyzer queries data.<package>.<rule> once per rule, and
// binding each rule's value to its own variable gives the same sets while converting the input only once.
type ruleQuery struct {
	rules []Rule
	query rego.PreparedEvalQuery
}

type result struct {
	rule Rule
	msg  string
}

func (e *engine) prepare(ctx context.Context, compiler *ast.Compiler, stack bool) (ruleQuery, error) {
	q := ruleQuery{}
	var exprs []string
	for _, rule := range e.rules {
		if rule.Stack == stack {
			exprs = append(exprs, fmt.Sprintf("r%d = data.%s.%s", len(q.rules), e.pkg, rule.Name))
			q.rules = append(q.rules, rule)
		}
	}
	if len(exprs) == 0 {
		return q, nil
	}
	prepared, err := rego.New(rego.Query(strings.Join(exprs, "; ")), rego.Compiler(compiler)).PrepareForEval(ctx)
	if err != nil {
		return q, fmt.Errorf("preparing the policy query: %w", err)
	}
	q.query = prepared
	return q, nil
}

// eval returns every message of every rule of q, in rule order; like the analyzer it accepts only strings.
func (e *engine) eval(ctx context.Context, q ruleQuery, input any) ([]result, error) {
	if len(q.rules) == 0 {
		return nil, nil
	}
	rs, err := q.query.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return nil, err
	}
	if len(rs) != 1 {
		return nil, fmt.Errorf("policy query gave %d results, want 1", len(rs))
	}
	var out []result
	for i, rule := range q.rules {
		set, ok := rs[0].Bindings[fmt.Sprintf("r%d", i)].([]any)
		if !ok {
			return nil, fmt.Errorf("%s is %T, want a set of messages", rule.Name, rs[0].Bindings[fmt.Sprintf("r%d", i)])
		}
		for _, v := range set {
			m, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("%s gave %v (%T), want a string message (the analyzer reports only strings)", rule.Name, v, v)
			}
			out = append(out, result{rule: rule, msg: m})
		}
	}
	return out, nil
}

// shape builds the input object exactly as pulumi-policy-opa's buildOPAInput does: metadata first, the properties
// overlaid on top (so a property named type or name hides the metadata field), then the __-prefixed metadata that
// nothing can hide. The analyzer passes no provider to the offline plan, so provider is the empty object it uses
// when a resource has none.
func shape(r Resource) map[string]any {
	props := r.Properties
	if props == nil {
		props = map[string]any{}
	}
	options := map[string]any{
		"protect":                 r.Protect,
		"ignoreChanges":           nil,
		"deleteBeforeReplace":     false,
		"additionalSecretOutputs": nil,
		"aliasURNs":               nil,
		"aliases":                 nil,
		"customTimeouts":          map[string]any{"create": 0.0, "update": 0.0, "delete": 0.0},
		"parent":                  "",
	}
	provider := map[string]any{}
	obj := map[string]any{
		"type":       r.Type,
		"urn":        r.URN,
		"name":       r.Name,
		"__name":     r.Name,
		"options":    options,
		"provider":   provider,
		"properties": props,
	}
	for k, v := range props {
		obj[k] = v
	}
	obj["__type"] = r.Type
	obj["__urn"] = r.URN
	obj["__name"] = r.Name
	obj["__options"] = options
	obj["__properties"] = props
	obj["__provider"] = provider
	return obj
}

// rootStackURN is the URN the analyzer reports stack findings on, derived from the first valid resource URN.
func rootStackURN(resources []Resource) resource.URN {
	for _, r := range resources {
		if u := resource.URN(r.URN); u.IsValid() {
			return resource.DefaultRootStackURN(u.Stack(), tokens.PackageName(u.Project()))
		}
	}
	return ""
}

func stackName(u resource.URN) string {
	if u == "" {
		return ""
	}
	return u.Name()
}

// compile parses every *.rego file of the pack (the *_test.rego files too, as the analyzer's directory walk does),
// checks they share one package, and prepares a query per rule.
func compile(files fs.FS) (*engine, error) {
	modules, err := parseModules(files)
	if err != nil {
		return nil, err
	}
	compiler := ast.NewCompiler()
	compiler.Compile(modules)
	if compiler.Failed() {
		return nil, fmt.Errorf("policy pack does not compile: %w", compiler.Errors)
	}
	e := &engine{}
	seen := map[string]bool{}
	for _, file := range slices.Sorted(maps.Keys(modules)) {
		m := compiler.Modules[file]
		pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
		if e.pkg == "" {
			e.pkg = pkg
		} else if pkg != e.pkg {
			return nil, fmt.Errorf("%s: package %s, want %s: the analyzer requires one package for the whole pack", file, pkg, e.pkg)
		}
		for _, r := range m.Rules {
			name := r.Head.Name.String()
			level, stack, ok := classify(name)
			if !ok || seen[name] {
				continue
			}
			seen[name] = true
			rule := Rule{Name: name, Level: level, Stack: stack}
			if len(r.Annotations) > 0 {
				a := r.Annotations[0]
				rule.Title, rule.Description = a.Title, a.Description
				rule.Remediation, _ = a.Custom["remediation"].(string)
			}
			e.rules = append(e.rules, rule)
		}
	}
	sort.Slice(e.rules, func(i, j int) bool { return e.rules[i].Name < e.rules[j].Name })
	if e.resourceQuery, err = e.prepare(context.Background(), compiler, false); err != nil {
		return nil, err
	}
	if e.stackQuery, err = e.prepare(context.Background(), compiler, true); err != nil {
		return nil, err
	}
	return e, nil
}

// classify applies the analyzer's prefixes: stack_deny/stack_violation and deny/violation are mandatory,
// stack_warn and warn advisory.
func classify(name string) (level string, stack, ok bool) {
	switch {
	case stackDenyRule.MatchString(name):
		return LevelDeny, true, true
	case stackWarnRule.MatchString(name):
		return LevelWarn, true, true
	case denyRule.MatchString(name):
		return LevelDeny, false, true
	case warnRule.MatchString(name):
		return LevelWarn, false, true
	}
	return "", false, false
}

// parseModules reads every *.rego file of files with METADATA annotations processed.
func parseModules(files fs.FS) (map[string]*ast.Module, error) {
	names, err := fs.Glob(files, "*.rego")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errors.New("policy pack has no *.rego files")
	}
	modules := map[string]*ast.Module{}
	for _, name := range names {
		src, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, err
		}
		m, err := ast.ParseModuleWithOpts(path.Join("policy", name), string(src), ast.ParserOptions{ProcessAnnotation: true})
		if err != nil {
			return nil, err
		}
		modules[name] = m
	}
	return modules, nil
}
