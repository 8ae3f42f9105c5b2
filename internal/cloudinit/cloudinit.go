// Package cloudinit renders typed #cloud-config documents. Hosts describe what they need as data; this package
// owns the YAML form so every host's user data is rendered, ordered and validated the same way.
package cloudinit

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// Config is the subset of cloud-config modules deploylab hosts use. Field names follow the cloud-init schema
// (https://cloudinit.readthedocs.io/en/latest/reference/modules.html); empty fields are left out.
type Config struct {
	// Users replaces the image's default user list. deploylab never lists "default": the image's stock user is
	// not created, so nobody logs in with a key the stack does not name.
	Users []User `yaml:"users,omitempty"`
	// SSHPwauth sets PasswordAuthentication in cloud-init's own sshd drop-in; deploylab writes its own
	// drop-in that sorts first, so this stays false and per-user Match blocks decide.
	SSHPwauth      *bool       `yaml:"ssh_pwauth,omitempty"`
	DisableRoot    *bool       `yaml:"disable_root,omitempty"`
	PackageUpdate  bool        `yaml:"package_update,omitempty"`
	PackageUpgrade bool        `yaml:"package_upgrade,omitempty"`
	Packages       []string    `yaml:"packages,omitempty"`
	WriteFiles     []WriteFile `yaml:"write_files,omitempty"`
	// BootCmd runs on every boot before anything else; RunCmd once, last, on the first boot.
	BootCmd [][]string `yaml:"bootcmd,omitempty"`
	RunCmd  [][]string `yaml:"runcmd,omitempty"`
	// FinalMessage is logged when cloud-init is done; the boot test looks for it.
	FinalMessage string `yaml:"final_message,omitempty"`
}

// User is one entry of `users`.
type User struct {
	Name              string   `yaml:"name"`
	Gecos             string   `yaml:"gecos,omitempty"`
	Groups            []string `yaml:"groups,omitempty,flow"`
	Shell             string   `yaml:"shell,omitempty"`
	Sudo              string   `yaml:"sudo,omitempty"`
	LockPasswd        *bool    `yaml:"lock_passwd,omitempty"`
	HashedPasswd      string   `yaml:"hashed_passwd,omitempty"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys,omitempty"`
}

// WriteFile is one entry of `write_files`. Defer writes the file after users and packages exist, so a file
// may be owned by a user the document creates or land in a directory a package creates.
type WriteFile struct {
	Path        string `yaml:"path"`
	Content     string `yaml:"content"`
	Owner       string `yaml:"owner,omitempty"`
	Permissions string `yaml:"permissions,omitempty"`
	Defer       bool   `yaml:"defer,omitempty"`
}

// Render returns the document with its `#cloud-config` header.
func Render(c Config) (string, error) {
	var buf bytes.Buffer
	buf.WriteString("#cloud-config\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return "", fmt.Errorf("render cloud-config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("render cloud-config: %w", err)
	}
	return buf.String(), nil
}

// Bool is a helper for the optional boolean fields.
func Bool(b bool) *bool { return &b }
