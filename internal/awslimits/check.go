package awslimits

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Resource is what a check sees of one resource: its type token, its logical name and its inputs as plain values
// (maps keyed by Pulumi property names, lists, strings, numbers, booleans).
type Resource struct {
	Type, Name string
	Inputs     map[string]any
	// DeleteBeforeReplace is the resource option of that name.
	DeleteBeforeReplace bool
}

// Violation is one argument the provider or the service would refuse.
type Violation struct {
	Type, Name, Property string
	// Value is the refused value as a message shows it (user data by size only).
	Value, Problem, Limit, Source string
}

func (v Violation) String() string {
	value := ""
	if v.Value != "" {
		value = " " + v.Value
	}
	return fmt.Sprintf("%s %q: %s%s: %s (accepted: %s; source: %s)", v.Type, v.Name, v.Property, value, v.Problem, v.Limit, v.Source)
}

// Error lists every violation of one resource.
type Error struct{ Violations []Violation }

func (e *Error) Error() string {
	lines := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		lines[i] = v.String()
	}
	return "AWS would refuse this value:\n  " + strings.Join(lines, "\n  ")
}

// autoNameSample stands for Pulumi's random suffix: "<logical name>-" and seven characters.
const autoNameSample = "-abcdefg"

// Check returns every violation of r against the table, plus the replacement-order rule: an instance with a
// fixed private address must be deleted before its replacement is created.
func Check(r Resource) []Violation {
	var out []Violation
	for _, rule := range Rules {
		if rule.Type != r.Type && !(rule.Type == "aws:*" && strings.HasPrefix(r.Type, "aws:")) {
			continue
		}
		if rule.Property == "tags" {
			for _, problem := range checkTags(r.Type, r.Inputs["tags"]) {
				out = append(out, Violation{Type: r.Type, Name: r.Name, Property: "tags", Value: "", Problem: problem, Limit: rule.Limit, Source: rule.Source})
			}
			continue
		}
		values := lookup(r.Inputs, rule.Property)
		if len(values) == 0 && rule.AutoName {
			if _, set := r.Inputs["namePrefix"]; !set {
				values = []found{{path: rule.Property + " (autonamed " + r.Name + "-<7 random characters>)", value: r.Name + autoNameSample}}
			}
		}
		for _, f := range values {
			if problem := rule.check(f.value); problem != "" {
				value := describe(f.value)
				if strings.HasPrefix(rule.Property, "userData") {
					value = "" // large, and it can hold password hashes: its size is in the problem
				}
				out = append(out, Violation{Type: r.Type, Name: r.Name, Property: f.path, Value: value, Problem: problem, Limit: rule.Limit, Source: rule.Source})
			}
		}
	}
	if r.Type == "aws:ec2/instance:Instance" && !r.DeleteBeforeReplace {
		if ip, ok := r.Inputs["privateIp"].(string); ok && ip != "" {
			out = append(out, Violation{Type: r.Type, Name: r.Name, Property: "privateIp", Value: describe(ip),
				Problem: "is fixed, so a replacement created before the old instance is deleted fails with InvalidIPAddress.InUse",
				Limit:   "a fixed private address needs the deleteBeforeReplace resource option", Source: tfInstanceIP})
		}
	}
	return out
}

// found is one value at a property path, with the concrete path (indexes filled in) for the message.
type found struct {
	path  string
	value any
}

// lookup returns the values at a path such as "ingress[].description" or "healthCheck.path"; absent or nil
// values are left out.
func lookup(inputs map[string]any, path string) []found {
	current := []found{{path: "", value: inputs}}
	for _, segment := range strings.Split(path, ".") {
		name, each := strings.CutSuffix(segment, "[]")
		var next []found
		for _, f := range current {
			m, ok := f.value.(map[string]any)
			if !ok {
				continue
			}
			v, ok := m[name]
			if !ok || v == nil {
				continue
			}
			p := name
			if f.path != "" {
				p = f.path + "." + name
			}
			if !each {
				next = append(next, found{path: p, value: v})
				continue
			}
			list, _ := v.([]any)
			for i, item := range list {
				next = append(next, found{path: fmt.Sprintf("%s[%d]", p, i), value: item})
			}
		}
		current = next
	}
	return current
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
