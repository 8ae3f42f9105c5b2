package plan

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one resource the program registered, as plan.json records it.
type Resource struct {
	URN     string         `json:"urn"`
	Type    string         `json:"type"`
	Name    string         `json:"name"`
	Parent  string         `json:"parent,omitempty"`
	Custom  bool           `json:"custom"`
	Inputs  map[string]any `json:"inputs"`
	Protect bool           `json:"protect"`
	// DeleteBeforeReplace: a forced replacement deletes the old resource first (a fixed address or name would
	// otherwise collide); shown for every resource, beside protect and ignoreChanges.
	DeleteBeforeReplace bool     `json:"deleteBeforeReplace"`
	IgnoreChanges       []string `json:"ignoreChanges"`
	RetainOnDelete      bool     `json:"retainOnDelete,omitempty"`
	Dependencies        []string `json:"dependencies,omitempty"`
	// UserDataBytes is an EC2 instance's user data as EC2 receives it (after base64 decoding, gzip kept).
	UserDataBytes int `json:"userDataBytes,omitempty"`
	// userData is an EC2 instance's cloud-init, kept whole even when it is a secret (it holds password
	// hashes): plan writes it to DIR/userdata so it can be checked and booted.
	userData string
}

// Engine stands in for the Pulumi engine and the cloud providers: it records every registered resource and
// answers the provider functions deploylab calls with fixed, plausible values. No credentials, no network.
type Engine struct {
	Project, Stack, Region string

	mu        sync.Mutex
	resources []Resource
	counter   int
}

var _ pulumi.MockResourceMonitor = (*Engine)(nil)

// NewResource records the resource and returns its inputs plus the computed outputs other resources read.
func (e *Engine) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	req := args.RegisterRPC
	r := Resource{
		Type:   args.TypeToken,
		Name:   args.Name,
		Custom: args.Custom,
		Inputs: plain(args.Inputs),
	}
	if args.TypeToken == "aws:ec2/instance:Instance" {
		r.userData = userDataOf(args.Inputs)
		r.UserDataBytes = userDataBytes(args.Inputs)
	}
	r.IgnoreChanges = []string{}
	if req != nil {
		r.Parent = req.GetParent()
		r.URN = string(resource.NewURN(tokens.QName(e.Stack), tokens.PackageName(e.Project), parentType(req.GetParent()), tokens.Type(args.TypeToken), args.Name))
		r.Protect = req.GetProtect()
		r.DeleteBeforeReplace = req.GetDeleteBeforeReplace()
		r.RetainOnDelete = req.GetRetainOnDelete()
		r.IgnoreChanges = append(r.IgnoreChanges, req.GetIgnoreChanges()...)
		r.Dependencies = req.GetDependencies()
	}
	e.mu.Lock()
	e.counter++
	id := fmt.Sprintf("%s-%04d", shortType(args.TypeToken), e.counter)
	e.resources = append(e.resources, r)
	e.mu.Unlock()
	return id, computed(args, id, e.Region), nil
}

// Call answers the provider functions (data sources) the components use.
func (e *Engine) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		return resource.NewPropertyMapFromMap(map[string]any{
			"names":   []any{e.Region + "a", e.Region + "b", e.Region + "c"},
			"zoneIds": []any{"az1", "az2", "az3"},
		}), nil
	case "aws:ssm/getParameter:getParameter":
		return resource.NewPropertyMapFromMap(map[string]any{
			"name": args.Args["name"].V, "type": "String", "value": "ami-0123456789abcdef0", "insecureValue": "ami-0123456789abcdef0",
		}), nil
	case "aws:index/getCallerIdentity:getCallerIdentity":
		return resource.NewPropertyMapFromMap(map[string]any{"accountId": "123456789012", "arn": "arn:aws:iam::123456789012:user/plan", "userId": "PLAN"}), nil
	case "aws:index/getRegion:getRegion":
		return resource.NewPropertyMapFromMap(map[string]any{"name": e.Region, "id": e.Region}), nil
	case "aws:index/getPartition:getPartition":
		return resource.NewPropertyMapFromMap(map[string]any{"partition": "aws", "dnsSuffix": "amazonaws.com"}), nil
	}
	return args.Args, nil
}

// Resources returns what was registered, ordered by URN so a plan reads the same every run.
func (e *Engine) Resources() []Resource {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := append([]Resource(nil), e.resources...)
	sort.Slice(out, func(i, j int) bool { return out[i].URN < out[j].URN })
	return out
}

// parentType is the type part of a child's URN: the parent's qualified type, except for the stack itself,
// exactly as the engine (and its mock monitor) builds URNs.
func parentType(parent string) tokens.Type {
	if parent == "" || resource.URN(parent).QualifiedType() == resource.RootStackType {
		return ""
	}
	return resource.URN(parent).QualifiedType()
}

func shortType(token string) string {
	parts := strings.Split(token, ":")
	return strings.ToLower(parts[len(parts)-1])
}
