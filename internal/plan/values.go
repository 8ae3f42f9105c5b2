package plan

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"github.com/deploylab/deploylab/internal/awslimits"
	"github.com/deploylab/deploylab/internal/stackfile"
	"io"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Unknown stands for a value the engine would only know after an update.
const Unknown = "[unknown]"

// plain turns recorded inputs into JSON-like values (what plan.json and the policy pack see): secrets become
// the placeholder, so a secret can never reach the plan, its files or its log.
func plain(m resource.PropertyMap) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if strings.HasPrefix(string(k), "__") {
			continue
		}
		out[string(k)] = plainValue(v)
	}
	return out
}

func plainValue(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return stackfile.SecretPlaceholder
	case v.IsComputed():
		return Unknown
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret {
			return stackfile.SecretPlaceholder
		}
		if !o.Known {
			return Unknown
		}
		return plainValue(o.Element)
	case v.IsResourceReference():
		return string(v.ResourceReferenceValue().URN)
	case v.IsObject():
		return plain(v.ObjectValue())
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = plainValue(e)
		}
		return out
	case v.IsNull():
		return nil
	}
	return v.V
}

// computed returns the state of a new resource: its inputs plus the outputs a provider would compute that other
// resources or stack outputs read. Values are fake but shaped like the real ones (ARNs, IPs, keys).
func computed(args pulumi.MockResourceArgs, id, region string) resource.PropertyMap {
	state := args.Inputs.Copy()
	set := func(key string, value any) {
		if _, ok := state[resource.PropertyKey(key)]; !ok {
			state[resource.PropertyKey(key)] = resource.NewPropertyValue(value)
		}
	}
	service := strings.SplitN(strings.TrimPrefix(args.TypeToken, "aws:"), "/", 2)[0]
	if strings.HasPrefix(args.TypeToken, "aws:") {
		set("arn", fmt.Sprintf("arn:aws:%s:%s:123456789012:%s/%s", service, region, shortType(args.TypeToken), id))
	}
	switch args.TypeToken {
	case "aws:ec2/instance:Instance":
		set("publicIp", "192.0.2.10")
		set("publicDns", "ec2-192-0-2-10."+region+".compute.amazonaws.com")
		set("privateIp", "10.0.1.10")
		set("privateDns", "ip-10-0-1-10."+region+".compute.internal")
	case "aws:ec2/eip:Eip":
		set("publicIp", "198.51.100.200")
		set("publicDns", "ec2-198-51-100-200."+region+".compute.amazonaws.com")
	case "aws:lb/loadBalancer:LoadBalancer":
		set("dnsName", args.Name+"-123456789."+region+".elb.amazonaws.com")
		set("zoneId", "Z215JYRZR1TBD5")
	case "aws:ecr/repository:Repository":
		set("repositoryUrl", "123456789012.dkr.ecr."+region+".amazonaws.com/"+args.Name)
	case "aws:ssm/parameter:Parameter":
		set("version", 1.0)
	case "random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString":
		// Letters and digits only: a crypt salt may be drawn from a random string.
		length := 16
		if l, ok := args.Inputs["length"]; ok && l.IsNumber() {
			length = int(l.NumberValue())
		}
		state["result"] = resource.MakeSecret(resource.NewPropertyValue(MockRandom(args.Name, length)))
	case "tls:index/privateKey:PrivateKey":
		state["publicKeyOpenssh"] = resource.NewPropertyValue("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPLANNEDPLANNEDPLANNEDPLANNEDPLANNEDPLANNEDPL deploylab-plan\n")
		state["privateKeyOpenssh"] = resource.MakeSecret(resource.NewPropertyValue("-----BEGIN OPENSSH PRIVATE KEY-----\nPLANNED\n-----END OPENSSH PRIVATE KEY-----\n"))
		state["privateKeyPem"] = state["privateKeyOpenssh"]
	case "gcp:container/cluster:Cluster":
		set("endpoint", "203.0.113.50")
		auth := resource.PropertyMap{}
		if in, ok := state["masterAuth"]; ok && in.IsObject() {
			auth = in.ObjectValue().Copy()
		}
		auth["clusterCaCertificate"] = resource.NewPropertyValue("UExBTk5FRC1DQQ==")
		state["masterAuth"] = resource.NewObjectProperty(auth)
	case "gcp:serviceaccount/account:Account":
		set("email", args.Name+"@plan.iam.gserviceaccount.com")
	case "kubernetes:core/v1:Secret":
		// The token controller fills a service account token secret; the class's kubeconfigs read it.
		if t, ok := args.Inputs["type"]; ok && t.IsString() && t.StringValue() == "kubernetes.io/service-account-token" {
			state["data"] = resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
				"token": resource.NewPropertyValue("UExBTk5FRC1UT0tFTg=="), // base64 of PLANNED-TOKEN
			}))
		}
	}
	set("name", args.Name)
	return state
}

// MockRandom is the value the mock engine gives a random resource of that name and length, so tests can look
// for it: letters and digits only, as a crypt salt drawn from a random string must be.
func MockRandom(name string, length int) string {
	seed := "Planned" + alnum(name) + "x9"
	for len(seed) < length {
		seed += seed
	}
	return seed[:length]
}

func alnum(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unwrapString returns a string value's text, secret or not.
func unwrapString(v resource.PropertyValue) string {
	switch {
	case v.IsSecret():
		return unwrapString(v.SecretValue().Element)
	case v.IsOutput():
		return unwrapString(v.OutputValue().Element)
	case v.IsString():
		return v.StringValue()
	}
	return ""
}

// userDataBytes is the size of an instance's user data as EC2 receives it, the figure EC2's 16 KB limit applies to.
func userDataBytes(inputs resource.PropertyMap) int {
	for _, key := range []resource.PropertyKey{"userData", "userDataBase64"} {
		if v, ok := inputs[key]; ok {
			n, _ := awslimits.UserDataSize(unwrapString(v), key == "userDataBase64")
			return n
		}
	}
	return 0
}

// userDataOf returns an instance's cloud-init document, from userData or from gzipped userDataBase64 (the
// form a document over EC2's 16 KB limit takes).
func userDataOf(inputs resource.PropertyMap) string {
	if ud, ok := inputs["userData"]; ok {
		return unwrapString(ud)
	}
	encoded, ok := inputs["userDataBase64"]
	if !ok {
		return ""
	}
	data, err := base64.StdEncoding.DecodeString(unwrapString(encoded))
	if err != nil {
		return ""
	}
	if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
		if plainText, err := io.ReadAll(zr); err == nil {
			return string(plainText)
		}
	}
	return string(data)
}
