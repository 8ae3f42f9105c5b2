package apphost

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/deploylab/deploylab/internal/cloudinit"
)

// Where a host's files live in its bucket. The bundle is not secret; the host key object is.
const (
	FilesObjectKey   = "host/files.tar.gz"
	HostKeyObjectKey = "host/ssh_host_ed25519_key"
)

// bundleTime is every entry's modification time: a fixed one keeps the archive, and so its sha256 in the user
// data, the same for the same files (a changed pin replaces the host).
var bundleTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Bundle is the gzipped tar of the files a host unpacks at its first boot, and its sha256 (hex), which the user
// data pins.
type Bundle struct {
	Archive []byte
	SHA256  string
}

// buildBundle packs files into a deterministic tar.gz. Owners are recorded by name (tar, run as root, gives the
// file to that user, who exists by then); each file of a user other than root also gets its parent directory
// owned by that user (the admin's ~/.docker, which `docker login` must be able to write).
func buildBundle(files []cloudinit.WriteFile) (Bundle, error) {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	dirs := map[string]bool{}
	for _, f := range files {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return Bundle{}, fmt.Errorf("bundle: %q is not a clean absolute path", f.Path)
		}
		mode, err := strconv.ParseInt(f.Permissions, 8, 32)
		if err != nil {
			return Bundle{}, fmt.Errorf("bundle: %s: permissions %q: want octal, e.g. 0644", f.Path, f.Permissions)
		}
		user, group := "root", "root"
		if f.Owner != "" {
			var ok bool
			if user, group, ok = strings.Cut(f.Owner, ":"); !ok {
				return Bundle{}, fmt.Errorf("bundle: %s: owner %q: want user:group", f.Path, f.Owner)
			}
		}
		if dir := path.Dir(f.Path); user != "root" && !dirs[dir] {
			dirs[dir] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: 0o755,
				Uname: user, Gname: group, ModTime: bundleTime, Format: tar.FormatPAX}); err != nil {
				return Bundle{}, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/"), Mode: mode,
			Size: int64(len(f.Content)), Uname: user, Gname: group, ModTime: bundleTime, Format: tar.FormatPAX}); err != nil {
			return Bundle{}, err
		}
		if _, err := tw.Write([]byte(f.Content)); err != nil {
			return Bundle{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Bundle{}, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression) // no name and a zero time in the header: stable bytes
	if err != nil {
		return Bundle{}, err
	}
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return Bundle{}, err
	}
	if err := zw.Close(); err != nil {
		return Bundle{}, err
	}
	sum := sha256.Sum256(gz.Bytes())
	return Bundle{Archive: gz.Bytes(), SHA256: hex.EncodeToString(sum[:])}, nil
}
