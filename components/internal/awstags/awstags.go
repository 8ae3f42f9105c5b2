// Package awstags builds the tags deploylab puts on each AWS resource: the stack's tags plus a Name tag.
package awstags

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

// Named returns extra plus a Name tag (the name the AWS console shows).
func Named(extra map[string]string, name string) pulumi.StringMap {
	m := pulumi.StringMap{"Name": pulumi.String(name)}
	for k, v := range extra {
		m[k] = pulumi.String(v)
	}
	return m
}
