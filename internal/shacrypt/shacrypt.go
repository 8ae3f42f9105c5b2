// Package shacrypt computes SHA-512-crypt ("$6$") password hashes, the format /etc/shadow and cloud-init's
// hashed_passwd accept on every Debian and Ubuntu release. It follows Ulrich Drepper's specification "Unix crypt
// using SHA-256 and SHA-512" (https://www.akkadia.org/drepper/SHA-crypt.txt) and uses only the standard library.
package shacrypt

import (
	"crypto/sha512"
	"fmt"
	"strconv"
	"strings"
)

const (
	prefix = "$6$"
	// DefaultRounds is the spec's default; a hash made with it omits the "rounds=" field.
	DefaultRounds = 5000
	// MinRounds and MaxRounds are the spec's bounds; values outside are clamped, as crypt(3) does.
	MinRounds = 1000
	MaxRounds = 999999999
	// MaxSaltLen is the spec's salt length; crypt(3) ignores the rest of a longer salt.
	MaxSaltLen = 16
	// MaxPasswordLen caps the input: the P sequence below costs time and memory in the square of the length,
	// so an unbounded password is a cheap denial of service. 256 bytes is far above any generated password.
	MaxPasswordLen = 256
	// alphabet is crypt's base-64 alphabet; salts are restricted to it so a hash never holds ':', '$' or a
	// newline that would break /etc/shadow or the YAML around it.
	alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// Hash returns the SHA-512-crypt hash of password with salt and the default rounds, e.g. "$6$salt$...". The salt
// must be 1 to 16 characters of [./0-9A-Za-z]: unlike Crypt, Hash never truncates, so a caller's salt is the salt.
func Hash(password, salt string) (string, error) {
	if salt == "" || len(salt) > MaxSaltLen {
		return "", fmt.Errorf("shacrypt: salt %q has %d characters (want 1 to %d)", salt, len(salt), MaxSaltLen)
	}
	// Checked here too: Crypt would read a '$' as the end of the salt and hash with a shorter one.
	if err := checkSalt(salt); err != nil {
		return "", err
	}
	return Crypt(password, prefix+salt)
}

// Crypt behaves like glibc crypt(3) for SHA-512 settings: setting is "$6$[rounds=N$]salt[$anything]"; the salt
// is cut at 16 characters and rounds are clamped to [MinRounds, MaxRounds]. Passing a previous hash as the setting
// re-derives that hash when the password is right, which is how a login checks a password.
func Crypt(password, setting string) (string, error) {
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("shacrypt: password has %d bytes (want at most %d)", len(password), MaxPasswordLen)
	}
	if strings.IndexByte(password, 0) >= 0 {
		// C crypt(3) stops at the first NUL, so such a hash could never be checked by a real login.
		return "", fmt.Errorf("shacrypt: password contains a NUL byte (crypt(3) cannot check it)")
	}
	salt, rounds, explicit, err := parseSetting(setting)
	if err != nil {
		return "", err
	}
	sum := digest([]byte(password), []byte(salt), rounds)

	var out strings.Builder
	out.WriteString(prefix)
	if explicit {
		out.WriteString("rounds=" + strconv.Itoa(rounds) + "$")
	}
	out.WriteString(salt)
	out.WriteByte('$')
	encode(&out, sum)
	return out.String(), nil
}

// parseSetting splits "$6$[rounds=N$]salt[$hash]" into its salt and rounds; explicit reports whether a
// rounds field was given (the spec prints it back whenever it was, even when it equals the default).
func parseSetting(setting string) (salt string, rounds int, explicit bool, err error) {
	rest, ok := strings.CutPrefix(setting, prefix)
	if !ok {
		return "", 0, false, fmt.Errorf("shacrypt: setting %q does not start with %q", setting, prefix)
	}
	rounds = DefaultRounds
	if r, after, found := strings.Cut(rest, "$"); found && strings.HasPrefix(r, "rounds=") {
		n, convErr := strconv.ParseUint(strings.TrimPrefix(r, "rounds="), 10, 64)
		if convErr != nil {
			return "", 0, false, fmt.Errorf("shacrypt: setting %q: rounds %q is not a number", setting, r)
		}
		rounds = int(min(max(n, MinRounds), MaxRounds))
		explicit = true
		rest = after
	}
	salt, _, _ = strings.Cut(rest, "$")
	if len(salt) > MaxSaltLen {
		salt = salt[:MaxSaltLen]
	}
	if err := checkSalt(salt); err != nil {
		return "", 0, false, err
	}
	return salt, rounds, explicit, nil
}

func checkSalt(salt string) error {
	for i := 0; i < len(salt); i++ {
		if strings.IndexByte(alphabet, salt[i]) < 0 {
			return fmt.Errorf("shacrypt: salt %q has %q at %d (want only [./0-9A-Za-z])", salt, salt[i], i)
		}
	}
	return nil
}

// digest is steps 1 to 21 of the specification.
func digest(pw, salt []byte, rounds int) []byte {
	// Digest B: password, salt, password.
	b := sha512.New()
	b.Write(pw)
	b.Write(salt)
	b.Write(pw)
	sumB := b.Sum(nil)

	// Digest A: password, salt, then B once per whole 64 bytes of password and its prefix for the rest.
	a := sha512.New()
	a.Write(pw)
	a.Write(salt)
	n := len(pw)
	for ; n > sha512.Size; n -= sha512.Size {
		a.Write(sumB)
	}
	a.Write(sumB[:n])
	// Then, for each bit of the password length from the lowest: B for a one, the password for a zero.
	for l := len(pw); l > 0; l >>= 1 {
		if l&1 == 1 {
			a.Write(sumB)
		} else {
			a.Write(pw)
		}
	}
	sumA := a.Sum(nil)

	// P: the digest of the password repeated once per byte of password, stretched to the password's length.
	dp := sha512.New()
	for range pw {
		dp.Write(pw)
	}
	p := stretch(dp.Sum(nil), len(pw))

	// S: the digest of the salt repeated 16+A[0] times, stretched to the salt's length.
	ds := sha512.New()
	for i := 0; i < 16+int(sumA[0]); i++ {
		ds.Write(salt)
	}
	s := stretch(ds.Sum(nil), len(salt))

	// The rounds: each mixes the previous digest with P and S in an order set by the round number.
	c := sumA
	h := sha512.New()
	for i := 0; i < rounds; i++ {
		h.Reset()
		if i%2 == 1 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i%2 == 1 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}
	return c
}

// stretch repeats sum until it is n bytes long.
func stretch(sum []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, sum[:min(len(sum), n-len(out))]...)
	}
	return out
}

// order is the spec's byte permutation for the SHA-512 output: each triple becomes four characters.
var order = [21][3]int{
	{0, 21, 42}, {22, 43, 1}, {44, 2, 23}, {3, 24, 45}, {25, 46, 4}, {47, 5, 26}, {6, 27, 48},
	{28, 49, 7}, {50, 8, 29}, {9, 30, 51}, {31, 52, 10}, {53, 11, 32}, {12, 33, 54}, {34, 55, 13},
	{56, 14, 35}, {15, 36, 57}, {37, 58, 16}, {59, 17, 38}, {18, 39, 60}, {40, 61, 19}, {62, 20, 41},
}

// encode writes the 64-byte digest as 86 characters of crypt's base 64, least significant bits first.
func encode(out *strings.Builder, sum []byte) {
	put := func(w uint32, chars int) {
		for ; chars > 0; chars-- {
			out.WriteByte(alphabet[w&0x3f])
			w >>= 6
		}
	}
	for _, t := range order {
		put(uint32(sum[t[0]])<<16|uint32(sum[t[1]])<<8|uint32(sum[t[2]]), 4)
	}
	put(uint32(sum[63]), 2)
}
