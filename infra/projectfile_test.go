package infra

import (
	"fmt"
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
