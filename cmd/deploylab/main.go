// Command deploylab is the operator CLI: `plan` (offline, no cloud account) and `reap` (training teardown).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/deploylab/deploylab/internal/stackfile"
	"io"
	"os"

	"github.com/deploylab/deploylab/internal/plan"
	"github.com/deploylab/deploylab/internal/reap"
)

const usage = `usage:
  deploylab plan --stack NAME | --config FILE [--out DIR] [--format text|json]
  deploylab reap [--now RFC3339] [--yes] [--parallel N]
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "plan":
		return runPlan(args[1:], stdout, stderr)
	case "reap":
		return reap.Command(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "deploylab: unknown command %q\n%s", args[0], usage)
	return 2
}

// runPlan exits 0 when the plan is clean or has warnings only, 1 when the policy pack denies, 2 on invalid
// configuration or usage.
func runPlan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stack := fs.String("stack", "", "stack name: plans stacks/Pulumi.NAME.yaml")
	config := fs.String("config", "", "a stack file to plan instead of --stack")
	out := fs.String("out", "", "write DIR/plan.json and DIR/userdata/<instance>.yaml")
	format := fs.String("format", "text", "text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if (*stack == "") == (*config == "") || (*format != "text" && *format != "json") || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "deploylab plan: give exactly one of --stack or --config, and --format text or json\n%s", usage)
		return 2
	}
	path, name := *config, *stack
	if path == "" {
		path = stackfile.Path(".", name)
	} else {
		name = stackfile.StackName(path)
	}
	raw, _, err := stackfile.Read(path)
	if err != nil {
		fmt.Fprintf(stderr, "deploylab plan: %v\n", err)
		return 2
	}
	res, err := plan.Run(context.Background(), name, raw)
	if err != nil {
		fmt.Fprintf(stderr, "deploylab plan: %v\n", err)
		if errors.Is(err, plan.ErrInvalidConfig) {
			return 2
		}
		return 1
	}
	if *out != "" {
		if err := res.WriteDir(*out); err != nil {
			fmt.Fprintf(stderr, "deploylab plan: %v\n", err)
			return 1
		}
	}
	if *format == "json" {
		if err := res.WriteJSON(stdout); err != nil {
			fmt.Fprintf(stderr, "deploylab plan: %v\n", err)
			return 1
		}
	} else {
		res.WriteText(stdout)
	}
	if res.Denied() {
		fmt.Fprintln(stderr, "deploylab plan: the policy pack denies this plan")
		return 1
	}
	return 0
}
