package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/deploylab/deploylab/internal/awslimits"
)

// WriteText prints the human summary: the resource tree by component, counts by type, findings, outputs and
// the estimated cost.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "Plan of stack %q (env %s, owner %s) — offline, mock engine, no cloud calls\n\n", r.Stack, r.Config.Env, r.Config.Owner)
	children := map[string][]Resource{}
	for _, res := range r.Resources {
		children[res.Parent] = append(children[res.Parent], res)
	}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, res := range children[parent] {
			fmt.Fprintf(w, "%s%s  %s\n", strings.Repeat("  ", depth+1), res.Name, res.Type)
			walk(res.URN, depth+1)
		}
	}
	fmt.Fprintln(w, "Resources:")
	for _, parent := range slices.Sorted(maps.Keys(children)) {
		if !r.hasURN(parent) {
			walk(parent, 0)
		}
	}

	counts := map[string]int{}
	custom := 0
	for _, res := range r.Resources {
		counts[res.Type]++
		if res.Custom {
			custom++
		}
	}
	fmt.Fprintf(w, "\n%d resources (%d cloud resources, %d components):\n", len(r.Resources), custom, len(r.Resources)-custom)
	for _, t := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(w, "  %3d  %s\n", counts[t], t)
	}

	r.writeUserData(w)
	r.writeQuotas(w)

	fmt.Fprintf(w, "\nPolicy findings: %d\n", len(r.Findings))
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  %-4s %s  %s (%s): %s\n", strings.ToUpper(f.Level), f.Policy, f.Name, f.Type, f.Message)
	}

	fmt.Fprintln(w, "\nOutputs:")
	for _, name := range slices.Sorted(maps.Keys(r.Outputs)) {
		fmt.Fprintf(w, "  %-30s %v\n", name, r.Outputs[name])
	}

	fmt.Fprintf(w, "\nEstimated monthly cost: $%.2f (%s)\n", r.Cost.Total, r.Cost.Note)
	for _, item := range r.Cost.Items {
		fmt.Fprintf(w, "  $%8.2f  %s\n", item.Monthly, item.What)
	}
}

// writeUserData prints each EC2 instance's user data size as EC2 receives it, against the limit and the budget.
func (r *Result) writeUserData(w io.Writer) {
	var lines []string
	for _, res := range r.Resources {
		if res.Type != "aws:ec2/instance:Instance" {
			continue
		}
		state := "ok"
		if res.UserDataBytes > awslimits.UserDataBudget {
			state = "OVER BUDGET"
		}
		lines = append(lines, fmt.Sprintf("  %-24s %6d bytes  %3d%% of the limit  %s", res.Name, res.UserDataBytes, res.UserDataBytes*100/awslimits.UserDataLimit, state))
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "\nUser data as EC2 receives it (limit %d bytes; budget 80%% = %d):\n%s\n", awslimits.UserDataLimit, awslimits.UserDataBudget, strings.Join(lines, "\n"))
}

// writeQuotas prints what the stack draws from AWS's default quotas and how many such stacks share a region.
func (r *Result) writeQuotas(w io.Writer) {
	fmt.Fprintf(w, "\nAWS default quotas (this stack's use; docs/operations.md says which to raise for a class):\n")
	for _, q := range r.Quotas {
		if q.Used == 0 {
			continue
		}
		reserved := ""
		if q.Reserved > 0 {
			reserved = fmt.Sprintf(" (+%d default)", q.Reserved)
		}
		over := ""
		if q.Over() {
			over = "  OVER THE DEFAULT"
		}
		fmt.Fprintf(w, "  %-52s %4d%s of %d%s\n", q.What, q.Used, reserved, q.Default, over)
	}
	if n, by := StacksThatFit(r.Quotas); n >= 0 {
		fmt.Fprintf(w, "  %d stacks like this one fit in one account and region at the default quotas (limited by %s)\n", n, by)
	}
}

func (r *Result) hasURN(urn string) bool {
	for _, res := range r.Resources {
		if res.URN == urn {
			return true
		}
	}
	return false
}

// WriteJSON writes plan.json.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteDir writes DIR/plan.json and DIR/userdata/<instance name>.yaml.
func (r *Result) WriteDir(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "userdata"), 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, "plan.json"))
	if err != nil {
		return err
	}
	if err := r.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for name, ud := range r.UserData {
		if err := os.WriteFile(filepath.Join(dir, "userdata", name+".yaml"), []byte(ud), 0o644); err != nil {
			return err
		}
	}
	return nil
}
