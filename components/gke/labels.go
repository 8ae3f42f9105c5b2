package gke

import (
	"strings"
)

// LabelValue turns a raw value into one that is valid both as a GCP label value (lowercase letters, digits, _
// and -, at most 63 characters) and as a Kubernetes label value (which must also start and end with a letter or
// digit), since node labels go to both. Every other character becomes "-": the RFC 3339 time
// "2026-12-01T18:00:00+09:00" becomes "2026-12-01t18-00-00-09-00".
func LabelValue(raw string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(raw) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	v := b.String()
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.Trim(v, "-_")
}

// labels returns the args' labels with every value made valid by LabelValue.
func (a *ClusterArgs) labels() map[string]string {
	out := make(map[string]string, len(a.Labels))
	for k, v := range a.Labels {
		out[k] = LabelValue(v)
	}
	return out
}
