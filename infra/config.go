// Package infra holds the typed stack configuration of deploylab (load, defaults, validation) and the Pulumi
// program that composes the components the configuration enables.
package infra

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Namespace is the Pulumi config namespace of every deploylab key.
const Namespace = "deploylab"

// Config is every `deploylab:` key of a stack, plus the AWS region the stack targets.
type Config struct {
	// Region is `aws:region`; optional, default eu-central-1. Only used for documentation and cost estimates.
	Region string `json:"-"`
	// Env is dev, prod or training. Required.
	Env string `json:"env"`
	// Owner tags and labels every resource. Required.
	Owner string `json:"owner"`
	// ExpiresAt is an RFC 3339 time. Required for training; the reaper destroys the stack after it.
	ExpiresAt string `json:"expiresAt"`
	// AdminCidrs may reach SSH, the Jenkins UI and the GKE API. Required.
	AdminCidrs []string        `json:"adminCidrs"`
	AppHost    AppHostConfig   `json:"appHost"`
	BlueGreen  BlueGreenConfig `json:"blueGreen"`
	Jenkins    JenkinsConfig   `json:"jenkins"`
	GKE        GKEConfig       `json:"gke"`
	Classroom  ClassroomConfig `json:"classroom"`
}

// AppHostConfig is `deploylab:appHost`: the EC2 host that runs the app in blue and green containers.
type AppHostConfig struct {
	// Enabled creates the host. Optional, default true.
	Enabled *bool `json:"enabled"`
	// InstanceType is the EC2 type. Optional, default t3.small.
	InstanceType string `json:"instanceType"`
	// Image selects the official image: debian-12 (default) or ubuntu-24.04.
	Image string `json:"image"`
	// AdminUser is the Linux user with passwordless sudo that deploys. Optional, default deploy.
	AdminUser string `json:"adminUser"`
	// SSHPublicKeys are authorized for the admin user. Optional.
	SSHPublicKeys []string `json:"sshPublicKeys"`
	// PasswordAuth gives every user a random password and allows SSH password login. Optional, default false.
	PasswordAuth bool `json:"passwordAuth"`
	// Domain, with CertbotEmail, makes certbot fetch a Let's Encrypt certificate. Optional.
	Domain string `json:"domain"`
	// CertbotEmail is the ACME account address. Required when Domain is set.
	CertbotEmail string `json:"certbotEmail"`
	// CertbotStaging uses the Let's Encrypt staging CA (no rate limits, untrusted certificates). Default false.
	CertbotStaging bool `json:"certbotStaging"`
	// AppName names the compose projects (APP-blue, APP-green). Optional, default app.
	AppName string `json:"appName"`
	// AppPort is the container port the app listens on. Optional, default 8080.
	AppPort int `json:"appPort"`
	// HealthPath is the app's health endpoint. Optional, default /actuator/health/readiness (Spring Boot's
	// readiness group; the app sets management.endpoint.health.probes.enabled=true).
	HealthPath string `json:"healthPath"`
	// BluePort and GreenPort are the host ports of the two colours. Optional, default 8081 and 8082.
	BluePort  int `json:"bluePort"`
	GreenPort int `json:"greenPort"`
	// ElasticIP gives the host a fixed public address. Optional, default true in prod, false elsewhere.
	ElasticIP *bool `json:"elasticIp"`
	// VolumeSizeGiB is the root volume size. Optional, default 20.
	VolumeSizeGiB int `json:"volumeSizeGiB"`
}

// BlueGreenConfig is `deploylab:blueGreen`: an ALB with a target group per colour in front of the app host.
type BlueGreenConfig struct {
	// Enabled creates the ALB. Optional, default false.
	Enabled bool `json:"enabled"`
	// ActiveColor is the colour the listener forwards to when created: blue (default) or green.
	ActiveColor string `json:"activeColor"`
	// CertificateArn adds an HTTPS listener and turns HTTP into a redirect. Optional.
	CertificateArn string `json:"certificateArn"`
	// AccessLogsBucket receives the ALB access logs. Optional.
	AccessLogsBucket string `json:"accessLogsBucket"`
}

// JenkinsConfig is `deploylab:jenkins`: the Jenkins controller, its ECR repository and its secrets.
type JenkinsConfig struct {
	// Enabled creates the controller. Optional, default false.
	Enabled bool `json:"enabled"`
	// InstanceType is the EC2 type. Optional, default t3.medium.
	InstanceType string `json:"instanceType"`
	// AppRepo is the git repository of the app the pipelines build. Optional, default the design's example.
	AppRepo string `json:"appRepo"`
	// Branch is the branch the deploy pipeline deploys. Optional, default main.
	Branch string `json:"branch"`
	// BuildTool is gradle (default) or maven.
	BuildTool string `json:"buildTool"`
	// Executors on the Jenkins build agent (the controller has none). Optional, default 2.
	Executors *int `json:"executors"`
	// HomeVolumeGiB is the size of the jenkins_home EBS volume. Optional, default 30.
	HomeVolumeGiB int `json:"homeVolumeGiB"`
	// Domain puts nginx and a certbot certificate in front of the UI. Optional.
	Domain string `json:"domain"`
	// CertbotEmail is the ACME account address. Required when Domain is set.
	CertbotEmail string `json:"certbotEmail"`
	// CertbotStaging uses the Let's Encrypt staging CA. Default false.
	CertbotStaging bool `json:"certbotStaging"`
	// PromoteFrom is the ECR repository URL (dev's ecrRepositoryUrl output) whose tested images this stack's
	// app-promote job deploys by digest after an approval. Optional; set it in prod (docs/branching.md).
	PromoteFrom string `json:"promoteFrom"`
}

// GKEConfig is `deploylab:gke`: the Kubernetes cluster of the course.
type GKEConfig struct {
	// Enabled creates the cluster. Optional, default false.
	Enabled bool `json:"enabled"`
	// Project is the GCP project. Required when enabled.
	Project string `json:"project"`
	// Region is the GCP region. Required when enabled.
	Region string `json:"region"`
	// Zone makes the cluster zonal, in this zone of Region (a third of a regional cluster's nodes, and the
	// free tier's management fee credit). Optional, default "" (regional).
	Zone string `json:"zone"`
	// CNI is dataplane-v2 (default) or calico.
	CNI string `json:"cni"`
	// Autopilot creates an Autopilot cluster (no node pools; Dataplane V2 built in). Default false.
	Autopilot bool `json:"autopilot"`
	// MachineType of the nodes. Optional, default e2-standard-2.
	MachineType string `json:"machineType"`
	// MinNodes and MaxNodes bound the autoscaler per zone. Optional, default 1 and 3.
	MinNodes *int `json:"minNodes"`
	MaxNodes *int `json:"maxNodes"`
	// Spot uses Spot VMs. Optional, default true in training, false elsewhere.
	Spot *bool `json:"spot"`
	// ReleaseChannel is RAPID, REGULAR (default) or STABLE.
	ReleaseChannel string `json:"releaseChannel"`
	// SubnetCidr, PodsCidr, ServicesCidr and MasterCidr are the VPC-native ranges. Optional, defaults below.
	SubnetCidr   string `json:"subnetCidr"`
	PodsCidr     string `json:"podsCidr"`
	ServicesCidr string `json:"servicesCidr"`
	MasterCidr   string `json:"masterCidr"`
}

// ClassroomConfig is `deploylab:classroom`: training stacks give every student a host of their own.
type ClassroomConfig struct {
	// Students each get an isolated app host. Training only.
	Students []Student `json:"students"`
}

// Student is one entry of the class roster: a bare name (`- alice`) or a mapping
// (`- {name: alice, sshPublicKeys: [...]}`).
type Student struct {
	// Name is the student's Linux user name and names their host. Required.
	Name string `json:"name"`
	// SSHPublicKeys are authorized for the student. Optional; without them the student logs in by password.
	SSHPublicKeys []string `json:"sshPublicKeys"`
}

// studentShape is what a roster entry may be, in the words of the YAML a teacher writes.
const studentShape = "a name (- alice) or a mapping (- {name: alice, sshPublicKeys: [...]})"

// UnmarshalJSON accepts the shorthand a teacher writes first, a bare name, as well as the mapping. Stack files
// and the engine both hand the roster over as JSON, so this one method serves `deploylab plan` and `pulumi up`.
func (s *Student) UnmarshalJSON(data []byte) error {
	var name string
	if json.Unmarshal(data, &name) == nil {
		*s = Student{Name: name}
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return &yamlError{fmt.Sprintf("got %s, want %s", yamlKind(data), studentShape)}
	}
	type mapping Student // no UnmarshalJSON: decodes the fields
	var m mapping
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*s = Student(m)
	return nil
}

// yamlError is a decoding problem already worded for the stack file's author.
type yamlError struct{ msg string }

func (e *yamlError) Error() string { return e.msg }

// yamlKind names the kind of a JSON value as YAML calls it.
func yamlKind(data []byte) string {
	var v any
	if json.Unmarshal(data, &v) != nil {
		return "something that is not YAML data"
	}
	switch v.(type) {
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "true/false"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return "null"
}

// yamlType says in YAML terms what a field of the config expects, so that no message names a Go type.
func yamlType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return yamlType(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list, each item " + yamlType(t.Elem())
	case reflect.Struct:
		if t == reflect.TypeOf(Student{}) {
			return studentShape
		}
		var keys []string
		for i := 0; i < t.NumField(); i++ {
			if name := strings.Split(t.Field(i).Tag.Get("json"), ",")[0]; name != "" && name != "-" {
				keys = append(keys, name)
			}
		}
		return "a mapping with keys " + strings.Join(keys, ", ")
	}
	return "another kind of value"
}

// topLevelKeys maps each `deploylab:` key to the field it fills; it is the list of keys Load accepts.
var topLevelKeys = []string{"env", "owner", "expiresAt", "adminCidrs", "appHost", "blueGreen", "jenkins", "gke", "classroom"}

// KnownKeys returns the `deploylab:` keys a stack may set, sorted.
func KnownKeys() []string {
	keys := append([]string(nil), topLevelKeys...)
	sort.Strings(keys)
	return keys
}

// Load decodes raw Pulumi config (fully qualified keys such as `deploylab:appHost`, object values as JSON, the
// form the engine hands a program) strictly: an unknown key or field is an error that names it. It applies the
// defaults and validates; every problem is reported at once.
func Load(raw map[string]string) (*Config, error) {
	var problems []string
	obj := map[string]json.RawMessage{}
	cfg := &Config{Region: raw["aws:region"]}
	for key, value := range raw {
		ns, name, ok := strings.Cut(key, ":")
		if !ok || ns != Namespace {
			continue
		}
		if !contains(topLevelKeys, name) {
			problems = append(problems, fmt.Sprintf("%s: unknown key (known: %s)", key, strings.Join(KnownKeys(), ", ")))
			continue
		}
		obj[name] = jsonValue(value, fieldOf(cfg, name))
	}
	for _, name := range slices.Sorted(maps.Keys(obj)) {
		if err := decodeStrict(obj[name], fieldOf(cfg, name)); err != nil {
			problems = append(problems, fmt.Sprintf("%s:%s: %v", Namespace, name, err))
		}
	}
	if len(problems) > 0 {
		return nil, &ConfigError{Problems: problems}
	}
	SetDefaults(cfg)
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ConfigError lists every problem of a stack's configuration, one line each.
type ConfigError struct{ Problems []string }

func (e *ConfigError) Error() string {
	return "invalid stack config:\n  " + strings.Join(e.Problems, "\n  ")
}

// jsonValue turns a config value into JSON: objects, arrays, numbers and booleans arrive as JSON text, plain
// strings arrive bare. The engine hands every scalar over as text, so a string key's value that happens to read
// as JSON (owner: "2026", "true", "null") is still that string; only an object or a list is decoded, so that one
// given where a string belongs is reported as such.
func jsonValue(value string, into any) json.RawMessage {
	_, isString := into.(*string)
	trimmed := strings.TrimSpace(value)
	composite := strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[")
	if json.Valid([]byte(value)) && (!isString || composite) {
		return json.RawMessage(value)
	}
	quoted, _ := json.Marshal(value)
	return quoted
}

func fieldOf(cfg *Config, name string) any {
	switch name {
	case "env":
		return &cfg.Env
	case "owner":
		return &cfg.Owner
	case "expiresAt":
		return &cfg.ExpiresAt
	case "adminCidrs":
		return &cfg.AdminCidrs
	case "appHost":
		return &cfg.AppHost
	case "blueGreen":
		return &cfg.BlueGreen
	case "jenkins":
		return &cfg.Jenkins
	case "gke":
		return &cfg.GKE
	case "classroom":
		return &cfg.Classroom
	}
	panic("infra: topLevelKeys and fieldOf disagree on " + name)
}

// decodeStrict decodes JSON refusing unknown fields, and turns json's messages into ones that name the field
// and the accepted type.
func decodeStrict(data json.RawMessage, into any) error {
	if err := exactKeys(data, reflect.TypeOf(into).Elem(), ""); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(into)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case asType(err, &typeErr):
		where := typeErr.Field
		if where == "" {
			where = "value"
		}
		return fmt.Errorf("%s: got %s, want %s", where, yamlValue(typeErr.Value), yamlType(typeErr.Type))
	case asYAML(err):
		return err
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return fmt.Errorf("cannot decode %s: %v", string(data), err)
}

// exactKeys refuses an object key that is not exactly a field's json name. encoding/json matches names without
// regard to case, so `instancetype` would silently fill instanceType; a stack file should be told instead.
func exactKeys(data json.RawMessage, typ reflect.Type, path string) error {
	switch typ.Kind() {
	case reflect.Pointer:
		return exactKeys(data, typ.Elem(), path)
	case reflect.Slice:
		var items []json.RawMessage
		if json.Unmarshal(data, &items) != nil {
			return nil // not a list: the decoder reports the type
		}
		for i, item := range items {
			if err := exactKeys(item, typ.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		var fields map[string]json.RawMessage
		if json.Unmarshal(data, &fields) != nil {
			return nil
		}
		known := map[string]reflect.Type{}
		for i := 0; i < typ.NumField(); i++ {
			known[strings.Split(typ.Field(i).Tag.Get("json"), ",")[0]] = typ.Field(i).Type
		}
		for _, key := range slices.Sorted(maps.Keys(fields)) {
			name := key
			if path != "" {
				name = path + "." + key
			}
			fieldType, ok := known[key]
			if !ok {
				return fmt.Errorf("unknown field %q%s (known: %s)", name, suggestion(key, known), strings.Join(slices.Sorted(maps.Keys(known)), ", "))
			}
			if err := exactKeys(fields[key], fieldType, name); err != nil {
				return err
			}
		}
	}
	return nil
}

// suggestion names the field a key differs from only in case.
func suggestion[V any](key string, known map[string]V) string {
	for name := range known {
		if strings.EqualFold(name, key) {
			return fmt.Sprintf(", did you mean %q?", name)
		}
	}
	return ""
}

// yamlValue names the kind of value encoding/json reports ("string", "number 5", "object", "array", "bool").
func yamlValue(value string) string {
	kind, _, _ := strings.Cut(value, " ")
	switch kind {
	case "object":
		return "a mapping"
	case "array":
		return "a list"
	case "bool":
		return "true/false"
	case "string":
		return "a string"
	case "number":
		return "a number"
	}
	return value
}

func asYAML(err error) bool {
	var y *yamlError
	return errors.As(err, &y)
}

func asType(err error, target **json.UnmarshalTypeError) bool {
	t, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = t
	}
	return ok
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
