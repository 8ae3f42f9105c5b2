package infra

import (
	"fmt"
	"net/mail"
	"net/url"
	"reflect"
	"regexp"
	"strings"
)

// Placeholder values are the ones documentation uses: AWS's example account 123456789012 and the domains RFC 2606
// reserves for examples. They pass every format check, so without this they reach the cloud and fail there after
// minutes of retries (an ALB listener waiting for a certificate that does not exist, certbot asking Let's Encrypt
// for example.com). The prod stack file ships with them, to be replaced.
var (
	// exampleAccount is the account ID of the AWS documentation, inside any ARN.
	exampleAccount = regexp.MustCompile(`^arn:[a-z-]+:[a-z0-9-]*:[a-z0-9-]*:123456789012:`)
	// exampleDomains are reserved by RFC 2606 §3 and resolve to nothing a stack could use.
	exampleDomains = []string{"example.com", "example.org", "example.net"}
)

// Placeholders returns one line per config value that is still a documentation placeholder, naming the key.
// `pulumi preview`/`up` refuse such a stack (Program); `deploylab plan` reports each as a warning finding and
// plans the rest, so a shipped example stack can still be looked at (README, Decisions).
func Placeholders(c *Config) []string {
	var out []string
	walkStrings(reflect.ValueOf(c).Elem(), "", func(key, value string) {
		if why := placeholder(value); why != "" {
			out = append(out, fmt.Sprintf("%s:%s: %q is a placeholder (%s); replace it with your own value before `pulumi up`", Namespace, key, value, why))
		}
	})
	return out
}

// placeholder says why a value is a placeholder, or returns "".
func placeholder(value string) string {
	if exampleAccount.MatchString(value) {
		return "123456789012 is the AWS documentation's example account"
	}
	host := value
	if addr, err := mail.ParseAddress(value); err == nil && strings.Contains(value, "@") && !strings.Contains(value, "://") {
		host = addr.Address[strings.LastIndex(addr.Address, "@")+1:]
	} else if u, err := url.Parse(value); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, d := range exampleDomains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return d + " is reserved for documentation (RFC 2606)"
		}
	}
	return ""
}

// walkStrings calls fn with the dotted key (classroom.students[0].name) of every string in the config.
func walkStrings(v reflect.Value, key string, fn func(key, value string)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkStrings(v.Elem(), key, fn)
		}
	case reflect.String:
		if v.String() != "" {
			fn(key, v.String())
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walkStrings(v.Index(i), fmt.Sprintf("%s[%d]", key, i), fn)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			name := strings.Split(v.Type().Field(i).Tag.Get("json"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			if key != "" {
				name = key + "." + name
			}
			walkStrings(v.Field(i), name, fn)
		}
	}
}
