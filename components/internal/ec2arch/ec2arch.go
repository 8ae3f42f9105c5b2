// Package ec2arch derives the CPU architecture of an EC2 instance type, so a host gets an AMI it can boot:
// an arm64 image on Graviton types, amd64 on the others. AWS refuses to launch an instance whose AMI architecture
// does not match its type ("The architecture 'x86_64' of the specified instance type does not match the
// architecture 'arm64' of the specified AMI"), after the plan looked fine.
package ec2arch

import (
	"fmt"
	"regexp"
)

// Debian's names for the two architectures, as in the public AMI parameters /aws/service/debian/release/12/latest/{amd64,arm64}.
const (
	AMD64 = "amd64"
	ARM64 = "arm64"
)

var (
	// typeRe is FAMILY.SIZE, as every current instance type is named (t3.medium, m7i-flex.large, c7gn.2xlarge).
	typeRe = regexp.MustCompile(`^([a-z][a-z0-9-]*)\.([a-z0-9]+)$`)
	// gravitonRe matches the Graviton families: the processor letter `g` right after the generation digit
	// (t4g, m6g, m7gd, c6gn, x2gd, im4gn, is4gen, g5g, hpc7g), per the EC2 instance type naming conventions
	// (docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html). a1 is the first-generation Graviton.
	gravitonRe = regexp.MustCompile(`^([a-z]+[0-9]+g[a-z]*|a1)$`)
)

// ForInstanceType returns AMD64 or ARM64 for an instance type, or an error naming the value when it is not an
// instance type name at all.
func ForInstanceType(instanceType string) (string, error) {
	m := typeRe.FindStringSubmatch(instanceType)
	if m == nil {
		return "", fmt.Errorf("%q is not an EC2 instance type (FAMILY.SIZE, such as t3.medium or t4g.medium)", instanceType)
	}
	if gravitonRe.MatchString(m[1]) {
		return ARM64, nil
	}
	return AMD64, nil
}
