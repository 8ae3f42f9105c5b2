package ec2arch

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestForInstanceType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ instanceType, want string }{
		{"t3.medium", AMD64}, {"t3a.small", AMD64}, {"m7i-flex.large", AMD64}, {"g4dn.xlarge", AMD64},
		{"x2iedn.xlarge", AMD64}, {"c6in.large", AMD64}, {"m5zn.large", AMD64}, {"p4de.24xlarge", AMD64},
		{"a1.large", ARM64}, {"t4g.medium", ARM64}, {"m6g.large", ARM64}, {"m7gd.large", ARM64},
		{"c6gn.xlarge", ARM64}, {"x2gd.large", ARM64}, {"im4gn.large", ARM64}, {"is4gen.large", ARM64},
		{"g5g.xlarge", ARM64}, {"hpc7g.4xlarge", ARM64}, {"r8g.large", ARM64},
	} {
		t.Run(tc.instanceType, func(t *testing.T) {
			t.Parallel()
			got, err := ForInstanceType(tc.instanceType)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestForInstanceTypeRefuses(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "t3", "T3.medium", "t3.medium ", "medium", ".large"} {
		_, err := ForInstanceType(bad)
		require.Error(t, err, bad)
		require.Contains(t, err.Error(), "is not an EC2 instance type")
	}
}
