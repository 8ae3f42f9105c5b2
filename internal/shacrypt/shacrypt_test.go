package shacrypt

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestSpecVectors are the SHA-512 test vectors published with the specification.
func TestSpecVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ setting, password, want string }{
		{"$6$saltstring", "Hello world!",
			"$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"$6$rounds=10000$saltstringsaltstring", "Hello world!",
			"$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
		{"$6$rounds=5000$toolongsaltstring", "This is just a test",
			"$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"},
		{"$6$rounds=1400$anotherlongsaltstring", "a very much longer text to encrypt.  This one even stretches over morethan one line.",
			"$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
		{"$6$rounds=77777$short", "we have a short salt string but not a short password",
			"$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
		{"$6$rounds=123456$asaltof16chars..", "a short string",
			"$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"},
		{"$6$rounds=10$roundstoolow", "the minimum number is still observed",
			"$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			t.Parallel()
			got, err := Crypt(tc.password, tc.setting)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Crypt(%q, %q)\n got %s\nwant %s", tc.password, tc.setting, got, tc.want)
			}
		})
	}
}

// TestAgainstMkpasswd checks Hash against a real crypt(3): mkpasswd from the whois package calls glibc's
// libcrypt (mkpasswd wants 8 to 16 salt characters; the spec's "short" vector covers shorter salts). Lengths straddle the 64-byte block edges the algorithm treats specially, up to the cap.
func TestAgainstMkpasswd(t *testing.T) {
	t.Parallel()
	mkpasswd, err := exec.LookPath("mkpasswd")
	if err != nil {
		t.Fatalf("mkpasswd not found (apt-get install whois; make test installs it): %v", err)
	}
	for _, tc := range []struct{ password, salt string }{
		{"x", "abcdefgh"},
		{"correct horse battery staple", "0123456789abcdef"},
		{"Pässwörd-ユーザー", "./Zz09./"},
		{strings.Repeat("p", 63), "salt0063"},
		{strings.Repeat("p", 64), "salt0064"},
		{strings.Repeat("p", 65), "salt0065"},
		{strings.Repeat("q", 128), "salt0128"},
		{strings.Repeat("r", 129), "salt0129"},
		{strings.Repeat("z", MaxPasswordLen), "saltmax256"},
	} {
		got, err := Hash(tc.password, tc.salt)
		if err != nil {
			t.Fatal(err)
		}
		// --stdin keeps the password out of the process list, as a real caller would.
		cmd := exec.Command(mkpasswd, "--method=sha-512", "--salt="+tc.salt, "--stdin")
		cmd.Stdin = strings.NewReader(tc.password + "\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("mkpasswd for a %d-byte password: %v", len(tc.password), err)
		}
		if want := strings.TrimSpace(string(out)); got != want {
			t.Errorf("%d-byte password, salt %q:\n got %s\nwant %s (mkpasswd)", len(tc.password), tc.salt, got, want)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, password, salt, want string
	}{
		{"too long", strings.Repeat("a", MaxPasswordLen+1), "salt", "257 bytes (want at most 256)"},
		{"NUL", "a\x00b", "salt", "NUL byte"},
		{"empty salt", "pw", "", "want 1 to 16"},
		{"long salt", "pw", strings.Repeat("s", 17), "want 1 to 16"},
		{"colon in salt", "pw", "ab:cd", `has ':' at 2`},
		{"newline in salt", "pw", "ab\ncd", `has '\n' at 2`},
		{"dollar in salt", "pw", "$00", `has '$' at 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Hash(tc.password, tc.salt)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Hash = %q, %v; want an error containing %q", got, err, tc.want)
			}
		})
	}
	if _, err := Crypt("pw", "$5$salt"); err == nil || !strings.Contains(err.Error(), `does not start with "$6$"`) {
		t.Errorf("Crypt with a SHA-256 setting: %v", err)
	}
	if _, err := Crypt("pw", "$6$rounds=many$salt"); err == nil || !strings.Contains(err.Error(), "not a number") {
		t.Errorf("Crypt with bad rounds: %v", err)
	}
}

var hashShape = regexp.MustCompile(`^\$6\$[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}$`)

// FuzzHash checks, for any password and salt, that Hash never panics, refuses what it must, and that its result
// has the crypt shape and verifies: Crypt(password, hash) re-derives hash, as a login would, and a changed
// password does not. Only default rounds run, so every input costs at most a 256-byte password's work.
func FuzzHash(f *testing.F) {
	f.Add("Hello world!", "saltstring")
	f.Add("", "a")
	f.Add(strings.Repeat("x", 64), "0123456789abcdef")
	f.Add("ünïcødé", "./")
	f.Fuzz(func(t *testing.T, password, salt string) {
		got, err := Hash(password, salt)
		if err != nil {
			if len(password) <= MaxPasswordLen && salt != "" && len(salt) <= MaxSaltLen && validSalt(salt) &&
				!strings.ContainsRune(password, 0) {
				t.Fatalf("Hash(%q, %q) refused a valid input: %v", password, salt, err)
			}
			return
		}
		if !hashShape.MatchString(got) || !strings.HasPrefix(got, "$6$"+salt+"$") {
			t.Fatalf("Hash(%q, %q) = %q: not a $6$ crypt string with that salt", password, salt, got)
		}
		again, err := Crypt(password, got)
		if err != nil || again != got {
			t.Fatalf("Crypt(password, its hash) = %q, %v; want %q", again, err, got)
		}
		if len(password) < MaxPasswordLen {
			other, err := Crypt(password+"!", got)
			if err != nil || other == got {
				t.Fatalf("a changed password verified against %q (%v)", got, err)
			}
		}
	})
}

func validSalt(s string) bool {
	for i := 0; i < len(s); i++ {
		if !strings.Contains(alphabet, s[i:i+1]) {
			return false
		}
	}
	return true
}
