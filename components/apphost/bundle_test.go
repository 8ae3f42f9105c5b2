package apphost

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"testing"

	"github.com/deploylab/deploylab/internal/cloudinit"
)

// TestBundle: the same files give the same bytes (the pin must not change when nothing did); owners are recorded
// by name, and a file of the admin's gets its directory owned by the admin too (~/.docker, which `docker login`
// writes as that user).
func TestBundle(t *testing.T) {
	t.Parallel()
	files := []cloudinit.WriteFile{
		{Path: "/etc/deploylab/deploy.env", Content: "APP_NAME=app\n", Permissions: "0644"},
		{Path: "/home/deploy/.docker/config.json", Content: "{}\n", Owner: "deploy:deploy", Permissions: "0600"},
	}
	a, err := buildBundle(files)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := buildBundle(files)
	if a.SHA256 != b.SHA256 || !bytes.Equal(a.Archive, b.Archive) {
		t.Error("the same files gave two different bundles")
	}
	zr, err := gzip.NewReader(bytes.NewReader(a.Archive))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%c %s %s:%s %o", h.Typeflag, h.Name, h.Uname, h.Gname, h.Mode))
	}
	want := "[0 etc/deploylab/deploy.env root:root 644 5 home/deploy/.docker/ deploy:deploy 755 0 home/deploy/.docker/config.json deploy:deploy 600]"
	if fmt.Sprint(got) != want {
		t.Errorf("entries %v\nwant %s", got, want)
	}
	for _, bad := range []cloudinit.WriteFile{{Path: "etc/x", Permissions: "0644"}, {Path: "/etc/../x", Permissions: "0644"},
		{Path: "/etc/x", Permissions: "rw"}, {Path: "/etc/x", Permissions: "0644", Owner: "deploy"}} {
		if _, err := buildBundle([]cloudinit.WriteFile{bad}); err == nil {
			t.Errorf("%+v: accepted", bad)
		}
	}
}
