// Package ec2arch tells which image architecture an EC2 instance type needs, so a host never gets an amd64
// image on a Graviton (arm64) instance, which EC2 refuses at launch.
package ec2arch

import "regexp"

// graviton matches the arm64 families: a1 (the first Graviton), and every family whose letters after the
// generation digit contain a g: t4g, m7g, m7gd, c6gn, r8g, x2gd, im4gn, is4gen, i4g, g5g, hpc7g. No x86 family
// has one there (m5dn, c7i, m7a, r7iz, g4ad, x2iedn); GPU families put their g before the digit (g4dn, g5).
// Source: the AWS EC2 instance type list, "Amazon EC2 instance types" (general purpose, compute, memory and
// storage optimized, accelerated computing, HPC).
var graviton = regexp.MustCompile(`^(a1|[a-z]+[0-9][a-z]*g[a-z]*)\.`)

// Arch returns "arm64" for a Graviton instance type and "amd64" for any other: the names Debian's and Canonical's
// public SSM image parameters use.
func Arch(instanceType string) string {
	if graviton.MatchString(instanceType) {
		return "arm64"
	}
	return "amd64"
}
