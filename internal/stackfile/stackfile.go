// Package stackfile reads Pulumi stack files (Pulumi.<stack>.yaml) into the raw config an engine hands a program.
// It has no Pulumi SDK dependency, so it is cheap to fuzz.
package stackfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// SecretPlaceholder stands for every secure value: planning never needs the stack's passphrase.
const SecretPlaceholder = "[secret]"

// stackFile is the part of a Pulumi.<stack>.yaml that an offline plan reads.
type stackFile struct {
	EncryptionSalt  string               `yaml:"encryptionsalt"`
	SecretsProvider string               `yaml:"secretsprovider"`
	EncryptedKey    string               `yaml:"encryptedkey"`
	Config          map[string]yaml.Node `yaml:"config"`
}

// Path returns the stack file of a stack name in the project's stackConfigDir.
func Path(root, stack string) string {
	return filepath.Join(root, "stacks", "Pulumi."+stack+".yaml")
}

// Read reads a stack file into the raw form the engine hands a program: fully qualified keys, objects and
// lists as JSON, scalars as text, and `secure:` values as a placeholder (reported in secretKeys).
func Read(path string) (raw map[string]string, secretKeys []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var file stackFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	raw = map[string]string{}
	for key, node := range file.Config {
		value, secret, err := configValue(&node)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %w", path, key, err)
		}
		raw[key] = value
		if secret {
			secretKeys = append(secretKeys, key)
		}
	}
	return raw, secretKeys, nil
}

// configValue converts one config value. A mapping whose only key is `secure` is an encrypted value anywhere in
// the tree; it is replaced by the placeholder.
func configValue(node *yaml.Node) (string, bool, error) {
	if node.Kind == yaml.ScalarNode {
		return node.Value, false, nil
	}
	var value any
	if err := node.Decode(&value); err != nil {
		return "", false, err
	}
	secret := false
	value = replaceSecure(value, &secret)
	if s, ok := value.(string); ok {
		return s, secret, nil
	}
	out, err := json.Marshal(value)
	return string(out), secret, err
}

func replaceSecure(v any, secret *bool) any {
	switch t := v.(type) {
	case map[string]any:
		if _, ok := t["secure"]; ok && len(t) == 1 {
			*secret = true
			return SecretPlaceholder
		}
		for k, e := range t {
			t[k] = replaceSecure(e, secret)
		}
	case []any:
		for i, e := range t {
			t[i] = replaceSecure(e, secret)
		}
	}
	return v
}

// StackName derives a stack name from a stack file name (Pulumi.NAME.yaml → NAME; anything else → its base
// name without extension).
func StackName(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return strings.TrimPrefix(base, "Pulumi.")
}
