package infra

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestProjectFileDocumentsEveryKey keeps Pulumi.yaml's config block true: every key Load accepts is there with a
// description, every field of an object key is listed as "field (default ...)", and the defaults it states
// are the ones SetDefaults applies.
func TestProjectFileDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../Pulumi.yaml")
	require.NoError(t, err)
	var project struct {
		Name           string `yaml:"name"`
		Runtime        string `yaml:"runtime"`
		StackConfigDir string `yaml:"stackConfigDir"`
		Config         map[string]struct {
			Type        string `yaml:"type"`
			Description string `yaml:"description"`
		} `yaml:"config"`
	}
	require.NoError(t, yaml.Unmarshal(data, &project))
	require.Equal(t, "deploylab", project.Name)
	require.Equal(t, "go", project.Runtime)
	require.Equal(t, "stacks", project.StackConfigDir)
	require.Len(t, project.Config, len(KnownKeys()))

	defaults := &Config{Env: "dev"}
	SetDefaults(defaults)
	for _, key := range KnownKeys() {
		doc, ok := project.Config[Namespace+":"+key]
		require.True(t, ok, "Pulumi.yaml does not document %s:%s", Namespace, key)
		require.NotEmpty(t, doc.Description, key)
		field := reflect.ValueOf(defaults).Elem().FieldByIndex(fieldIndex(t, key))
		if field.Kind() != reflect.Struct {
			continue
		}
		for i := 0; i < field.NumField(); i++ {
			name := strings.Split(field.Type().Field(i).Tag.Get("json"), ",")[0]
			require.Contains(t, doc.Description, name+" (", "%s:%s does not document %s", Namespace, key, name)
			if def := defaultText(field.Field(i)); def != "" {
				entry := doc.Description[strings.Index(doc.Description, name+" ("):]
				entry = entry[:strings.Index(entry, ")")]
				require.Contains(t, entry, def, "%s.%s: Pulumi.yaml states another default than SetDefaults", key, name)
			}
		}
	}
}

func fieldIndex(t *testing.T, key string) []int {
	typ := reflect.TypeOf(Config{})
	for i := 0; i < typ.NumField(); i++ {
		if strings.Split(typ.Field(i).Tag.Get("json"), ",")[0] == key {
			return []int{i}
		}
	}
	t.Fatalf("no Config field for key %s", key)
	return nil
}

// defaultText renders a non-empty default the way Pulumi.yaml writes it ("" for values that depend on env or
// that are empty).
func defaultText(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() || v.Elem().Kind() == reflect.Bool {
			return "" // env-dependent booleans are described in words
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Int:
		if v.Int() != 0 {
			return fmt.Sprint(v.Int())
		}
	}
	return ""
}

// TestProjectFileRequiresWhatTheProgramRequires holds Pulumi.yaml's defaults to what the CLI does with them. The CLI
// refuses a stack that lacks a key declared without a `default`, and hands the program the default of every other
// key it lacks (pulumi/pulumi v3.274.1 pkg/workspace/config.go, mergeConfig and createConfigValue). So a key without
// a default must be one the program requires in every environment, and a default must read as "not set": the same
// configuration, or the same problems, as leaving the key out. test/cli checks the same under the real engine.
func TestProjectFileRequiresWhatTheProgramRequires(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../Pulumi.yaml")
	require.NoError(t, err)
	var project struct {
		Config map[string]struct {
			Default any `yaml:"default"`
		} `yaml:"config"`
	}
	require.NoError(t, yaml.Unmarshal(data, &project))
	valid := map[string]string{
		"deploylab:env":        "dev",
		"deploylab:owner":      "team",
		"deploylab:adminCidrs": `["198.51.100.0/24"]`,
		"deploylab:appHost":    `{"passwordAuth": true}`,
	}
	_, err = Load(valid)
	require.NoError(t, err)
	var required []string
	for key, decl := range project.Config {
		if decl.Default != nil {
			continue
		}
		required = append(required, key)
		without := maps.Clone(valid)
		delete(without, key)
		_, err := Load(without)
		require.ErrorContains(t, err, key+":", "Pulumi.yaml makes %s required (no default), but the program accepts a stack without it", key)
	}
	require.ElementsMatch(t, []string{"deploylab:env", "deploylab:owner", "deploylab:adminCidrs"}, required)

	for key, decl := range project.Config {
		if decl.Default == nil {
			continue
		}
		for _, env := range Envs {
			t.Run(key+"/"+env, func(t *testing.T) {
				t.Parallel()
				base := map[string]string{"deploylab:env": env, "deploylab:owner": "team", "deploylab:adminCidrs": `["198.51.100.0/24"]`}
				withDefault := maps.Clone(base)
				withDefault[key] = engineEncoding(t, decl.Default)
				wantCfg, wantErr := Load(base)
				gotCfg, gotErr := Load(withDefault)
				require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(gotErr), "the default of %s does not read as not set", key)
				require.Equal(t, wantCfg, gotCfg, "the default of %s does not read as not set", key)
			})
		}
	}
}

// engineEncoding renders a Pulumi.yaml default the way the engine hands it to a program: strings, numbers and
// booleans as text, anything else as JSON (createConfigValue).
func engineEncoding(t *testing.T, v any) string {
	switch v.(type) {
	case string, int, bool:
		return fmt.Sprint(v)
	}
	out, err := json.Marshal(v)
	require.NoError(t, err)
	return string(out)
}
