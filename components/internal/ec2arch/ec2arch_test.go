package ec2arch

import "testing"

func TestArch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ instanceType, want string }{
		{"a1.large", "arm64"}, {"t4g.small", "arm64"}, {"m7g.large", "arm64"}, {"m7gd.xlarge", "arm64"},
		{"c6gn.large", "arm64"}, {"c7gn.medium", "arm64"}, {"r8g.large", "arm64"}, {"x2gd.large", "arm64"},
		{"im4gn.large", "arm64"}, {"is4gen.large", "arm64"}, {"i4g.large", "arm64"}, {"g5g.xlarge", "arm64"},
		{"hpc7g.4xlarge", "arm64"},
		{"t3.small", "amd64"}, {"t3a.medium", "amd64"}, {"m5dn.large", "amd64"}, {"c7i.large", "amd64"},
		{"m7i-flex.large", "amd64"}, {"g4dn.xlarge", "amd64"}, {"g4ad.xlarge", "amd64"}, {"g5.xlarge", "amd64"},
		{"x2iedn.xlarge", "amd64"}, {"r7iz.large", "amd64"}, {"a2.large", "amd64"}, {"u7i-12tb.224xlarge", "amd64"},
	} {
		if got := Arch(tc.instanceType); got != tc.want {
			t.Errorf("Arch(%q) = %s, want %s", tc.instanceType, got, tc.want)
		}
	}
}
