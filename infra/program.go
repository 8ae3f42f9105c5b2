package infra

import (
	"encoding/json"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Program is the Pulumi program of deploylab: it loads the stack's configuration and deploys what it enables.
// main.go runs it; tests and `deploylab plan` run Deploy with a configuration they loaded themselves.
func Program(ctx *pulumi.Context) error {
	cfg, err := Load(rawConfig(ctx))
	if err != nil {
		return err
	}
	// Placeholders stop a real preview or update before anything is created; `deploylab plan` reports them as
	// findings instead (it never creates anything), so the shipped example stacks can still be planned.
	if found := Placeholders(cfg); len(found) > 0 {
		return &ConfigError{Problems: found}
	}
	_, err = Deploy(ctx, cfg)
	return err
}

// rawConfig returns the stack's configuration as the engine hands it to the program. The engine passes every
// key in PULUMI_CONFIG, which is what lets Load refuse a misspelt key; without it (mock tests) the known keys
// are read one by one.
func rawConfig(ctx *pulumi.Context) map[string]string {
	raw := map[string]string{}
	if env := os.Getenv(pulumi.EnvConfig); env != "" && json.Unmarshal([]byte(env), &raw) == nil {
		return raw
	}
	for _, key := range append(KnownKeys(), "aws:region") {
		full := key
		if key != "aws:region" {
			full = Namespace + ":" + key
		}
		if v, ok := ctx.GetConfig(full); ok {
			raw[full] = v
		}
	}
	return raw
}
