package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// sshdDropIn is the drop-in whose intent the sshd checks compare against: the app host's own, sorting first.
const sshdDropIn = "/etc/ssh/sshd_config.d/00-deploylab.conf"

// userData is the part of a #cloud-config document the checks read. Only what the boot must have produced is
// decoded; the rest of the document is cloud-init's business (and `cloud-init schema --system` checks all of it).
type userData struct {
	Users      []user      `yaml:"users"`
	Packages   []string    `yaml:"packages"`
	WriteFiles []writeFile `yaml:"write_files"`
	RunCmd     []yaml.Node `yaml:"runcmd"`
	// hostKeyPub is the public half of the host key the host fetched; empty when it fetches none.
	hostKeyPub string
	// fetched says the user data fetches its files (deploylab-s3 bootstrap in runcmd).
	fetched bool
	// restrictedKeys counts the authorized keys restricted to deploy.sh's forced command.
	restrictedKeys int
}

type user struct {
	Name         string   `yaml:"name"`
	Keys         []string `yaml:"ssh_authorized_keys"`
	Groups       []string `yaml:"groups"`
	Sudo         string   `yaml:"sudo"`
	LockPasswd   *bool    `yaml:"lock_passwd"`
	HashedPasswd string   `yaml:"hashed_passwd"`
}

type writeFile struct {
	Path        string `yaml:"path"`
	Content     string `yaml:"content"`
	Encoding    string `yaml:"encoding"`
	Owner       string `yaml:"owner"`
	Permissions string `yaml:"permissions"`
}

// groupList accepts both forms cloud-init does: a list or one comma-separated string.
func (u *user) UnmarshalYAML(n *yaml.Node) error {
	var raw struct {
		Name         string    `yaml:"name"`
		Groups       yaml.Node `yaml:"groups"`
		Sudo         string    `yaml:"sudo"`
		LockPasswd   *bool     `yaml:"lock_passwd"`
		HashedPasswd string    `yaml:"hashed_passwd"`
		Keys         []string  `yaml:"ssh_authorized_keys"`
	}
	if err := n.Decode(&raw); err != nil {
		return err
	}
	*u = user{Name: raw.Name, Sudo: raw.Sudo, LockPasswd: raw.LockPasswd, HashedPasswd: raw.HashedPasswd, Keys: raw.Keys}
	switch raw.Groups.Kind {
	case 0:
	case yaml.ScalarNode:
		for _, g := range strings.Split(raw.Groups.Value, ",") {
			if g = strings.TrimSpace(g); g != "" {
				u.Groups = append(u.Groups, g)
			}
		}
	default:
		if err := raw.Groups.Decode(&u.Groups); err != nil {
			return fmt.Errorf("user %q: groups: %w", raw.Name, err)
		}
	}
	return nil
}

func loadUserData(path string) (userData, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return userData{}, err
	}
	if !strings.HasPrefix(string(b), "#cloud-config") {
		return userData{}, fmt.Errorf("%s: not a #cloud-config document (first line %q)", path,
			strings.SplitN(string(b), "\n", 2)[0])
	}
	var ud userData
	if err := yaml.Unmarshal(b, &ud); err != nil {
		return userData{}, fmt.Errorf("%s: %w", path, err)
	}
	for _, u := range ud.Users {
		for _, k := range u.Keys {
			if strings.HasPrefix(k, deployKeyOptions+" ") {
				ud.restrictedKeys++
			}
		}
	}
	for _, u := range ud.Users {
		if u.Name == "" {
			return userData{}, fmt.Errorf("%s: users: an entry without a name (the string form and \"default\" are not used by deploylab)", path)
		}
	}
	return ud, nil
}

// addFetched adds the files of the bundle the user data's `deploylab-s3 bootstrap` fetches, read from the objects
// fakeaws served (DIR/BUCKET/KEY), to the files the checks expect: the bundle must have the sha256 the user data
// pins, each file lands with the owner and mode its tar header records.
func (ud *userData) addFetched(dir string) error {
	var args []string
	for _, n := range ud.RunCmd {
		var words []string
		if n.Decode(&words) == nil && len(words) >= 5 && strings.HasSuffix(words[0], "/deploylab-s3") && words[1] == "bootstrap" {
			args = words[2:]
		}
	}
	if args == nil {
		return nil
	}
	if dir == "" {
		return fmt.Errorf("the user data fetches its files (deploylab-s3 bootstrap %v): -objects is required", args)
	}
	ud.fetched = true
	bucket, key, pin := args[0], args[1], args[2]
	raw, err := os.ReadFile(filepath.Join(dir, bucket, filepath.FromSlash(key)))
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(raw); hex.EncodeToString(sum[:]) != pin {
		return fmt.Errorf("s3://%s/%s: sha256 %x, the user data pins %s", bucket, key, sum, pin)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		ud.WriteFiles = append(ud.WriteFiles, writeFile{Path: "/" + hdr.Name, Content: string(body),
			Owner: hdr.Uname + ":" + hdr.Gname, Permissions: fmt.Sprintf("%04o", hdr.Mode)})
	}
	if len(args) == 4 {
		out, err := exec.Command("ssh-keygen", "-y", "-f", filepath.Join(dir, bucket, filepath.FromSlash(args[3]))).Output()
		if err != nil {
			return fmt.Errorf("ssh-keygen -y on the served host key: %w", err)
		}
		ud.hostKeyPub = strings.Join(strings.Fields(string(out))[:2], " ")
	}
	return nil
}

// content returns a write_files entry's bytes as they must land on disk.
func (w writeFile) content() (string, error) {
	switch w.Encoding {
	case "", "text/plain":
		return w.Content, nil
	case "b64", "base64":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(w.Content))
		return string(b), err
	default:
		return "", fmt.Errorf("write_files %s: encoding %q not supported by the boot test (accepted: b64, base64, text/plain)", w.Path, w.Encoding)
	}
}

func (ud userData) file(path string) (writeFile, bool) {
	for _, w := range ud.WriteFiles {
		if w.Path == path {
			return w, true
		}
	}
	return writeFile{}, false
}

// passwordIntent reads, from the sshd drop-in's text, whether password login is meant for each user: the global
// PasswordAuthentication (sshd's default "yes" when the drop-in is silent) overridden inside `Match User` blocks
// that name the user. Only the Match forms the app host writes are understood; anything else is an error, so a
// new form fails loudly instead of being asserted wrongly.
func passwordIntent(dropIn string, users []string) (map[string]string, error) {
	global := ""
	perUser := map[string]string{}
	var matched []string // users of the current Match block; nil while in the global section
	inMatch := false
	sc := bufio.NewScanner(strings.NewReader(dropIn))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		key := strings.ToLower(fields[0])
		switch {
		case key == "match":
			if len(fields) != 3 || strings.ToLower(fields[1]) != "user" {
				return nil, fmt.Errorf("%s: Match %q: only `Match User a,b` is understood", sshdDropIn, strings.Join(fields[1:], " "))
			}
			inMatch, matched = true, strings.Split(fields[2], ",")
		case key == "passwordauthentication" && len(fields) == 2:
			v := strings.ToLower(fields[1])
			if !inMatch {
				if global == "" { // sshd keeps the first value it reads
					global = v
				}
				continue
			}
			for _, u := range matched {
				if _, set := perUser[u]; !set {
					perUser[u] = v
				}
			}
		}
	}
	if global == "" {
		global = "yes"
	}
	out := make(map[string]string, len(users))
	for _, u := range users {
		out[u] = global
		if v, ok := perUser[u]; ok {
			out[u] = v
		}
	}
	return out, nil
}
