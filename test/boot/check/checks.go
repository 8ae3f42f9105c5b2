package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The address sshd -T is asked about: TEST-NET-2, never a real client, and inside no admin CIDR of the samples.
const probeAddr = "198.51.100.7"

var stages = []string{"init-local", "init", "modules-config", "modules-final"}

func (h *host) cloudInit() {
	st := h.sh("cloud-init status --long")
	h.r.check("cloud-init status --long: done", errors.Join(st.err("cloud-init status --long"),
		want(strings.Contains(st.out, "status: done"), "no `status: done` in:\n"+st.out)))

	raw := h.sh("cat /run/cloud-init/status.json")
	var status struct {
		V1 map[string]json.RawMessage `json:"v1"`
	}
	err := errors.Join(raw.err("cat status.json"), json.Unmarshal([]byte(raw.out), &status))
	var errs []string
	times := map[string]float64{}
	for _, s := range stages {
		var stage struct {
			Start    *float64 `json:"start"`
			Finished *float64 `json:"finished"`
			Errors   []string `json:"errors"`
		}
		if e := json.Unmarshal(status.V1[s], &stage); e != nil || stage.Finished == nil || stage.Start == nil {
			errs = append(errs, fmt.Sprintf("stage %s did not run to its end (%s)", s, status.V1[s]))
			continue
		}
		times[s+".start"], times[s+".finished"] = *stage.Start, *stage.Finished
		for _, e := range stage.Errors {
			errs = append(errs, s+": "+e)
		}
	}
	if len(errs) > 0 {
		err = errors.Join(err, errors.New(strings.Join(errs, "\n")))
	}
	if h.r.check("cloud-init ran init-local, init, modules:config, modules:final without errors", err) {
		fmt.Printf("INFO boot-to-ready (cloud-init init-local start to modules:final done): %.1f s (init-local %.1f, init %.1f, config %.1f, final %.1f)\n",
			times["modules-final.finished"]-times["init-local.start"],
			times["init-local.finished"]-times["init-local.start"], times["init.finished"]-times["init.start"],
			times["modules-config.finished"]-times["modules-config.start"],
			times["modules-final.finished"]-times["modules-final.start"])
	}

	res := h.sh("cat /run/cloud-init/result.json")
	var result struct {
		V1 struct {
			Datasource string   `json:"datasource"`
			Errors     []string `json:"errors"`
		} `json:"v1"`
	}
	err = errors.Join(res.err("cat result.json"), json.Unmarshal([]byte(res.out), &result))
	if err == nil {
		err = errors.Join(want(len(result.V1.Errors) == 0, "errors: "+strings.Join(result.V1.Errors, "; ")),
			want(strings.Contains(result.V1.Datasource, "NoCloud"), "datasource "+result.V1.Datasource+", want NoCloud"))
	}
	h.r.check("cloud-init result.json: NoCloud datasource, no errors", err)

	// A module that fails logs a WARNING ("Running module X failed") and usually a Traceback.
	logHits := h.sh("grep -nE 'Traceback|WARNING|ERROR|CRITICAL' /var/log/cloud-init.log /var/log/cloud-init-output.log || true")
	h.r.check("cloud-init logs: no Traceback, WARNING or ERROR", want(strings.TrimSpace(logHits.out) == "", logHits.out))

	h.r.check("cloud-init schema --system", h.sh("cloud-init schema --system").err("cloud-init schema --system"))
}

func (h *host) services(ud userData) {
	for _, unit := range []string{"ssh", "nginx", "docker"} {
		h.r.check("service active: "+unit, h.sh("systemctl is-active "+unit).err("systemctl is-active "+unit))
	}
	run := h.sh("systemctl is-system-running; systemctl --failed --no-legend --plain")
	h.r.check("systemd: running, no failed unit", want(strings.HasPrefix(run.out, "running"), run.out))
	for _, p := range ud.Packages {
		st := h.sh("dpkg-query -W -f='${Status}' " + q(p))
		h.r.check("package installed: "+p, want(st.out == "install ok installed", st.out))
	}
}

func (h *host) users(ud userData) {
	for _, u := range ud.Users {
		if !h.r.check("user exists: "+u.Name, h.sh("getent passwd "+q(u.Name)).err("getent passwd")) {
			continue
		}
		groups := strings.Fields(h.sh("id -nG " + q(u.Name)).out)
		for _, g := range u.Groups {
			h.r.check(fmt.Sprintf("user %s in group %s", u.Name, g), want(contains(groups, g), "groups: "+strings.Join(groups, " ")))
		}
		if strings.Contains(u.Sudo, "NOPASSWD") {
			h.r.check("sudo -n true as "+u.Name, h.sh("runuser -u "+q(u.Name)+" -- sudo -n true").err("sudo -n true"))
		}
		shadow := strings.Split(strings.TrimSpace(h.sh("getent shadow "+q(u.Name)).out), ":")
		locked := u.LockPasswd == nil || *u.LockPasswd // cloud-init locks by default
		switch {
		case len(shadow) < 2:
			h.r.check("password state of "+u.Name, errors.New("no shadow entry"))
		case u.HashedPasswd != "" && !locked:
			h.r.check("password of "+u.Name+" is the user data's hash, unlocked", want(shadow[1] == u.HashedPasswd, "shadow has a different hash"))
		case locked:
			h.r.check("password of "+u.Name+" locked", want(strings.HasPrefix(shadow[1], "!") || shadow[1] == "*", "shadow field "+redact(shadow[1])))
		}
	}
}

// redact keeps a hash out of the test output.
func redact(s string) string {
	if len(s) > 4 {
		return s[:4] + "…"
	}
	return s
}

// maxAuthTries is the global MaxAuthTries the drop-in asks for (sshd keeps the first value; a Match block is not
// global), sshd's default 6 without one.
func maxAuthTries(dropIn string) string {
	if loc := regexp.MustCompile(`(?mi)^\s*Match\s`).FindStringIndex(dropIn); loc != nil {
		dropIn = dropIn[:loc[0]]
	}
	if m := regexp.MustCompile(`(?mi)^\s*MaxAuthTries\s+(\d+)`).FindStringSubmatch(dropIn); m != nil {
		return m[1]
	}
	return "6"
}

func (h *host) sshd(ud userData) {
	h.r.check("sshd -t", h.sh("sshd -t").err("sshd -t"))
	dropIn, ok := ud.file(sshdDropIn)
	if !h.r.check("user data writes "+sshdDropIn, want(ok, "no write_files entry")) {
		return
	}
	text, err := dropIn.content()
	names := make([]string, 0, len(ud.Users))
	for _, u := range ud.Users {
		names = append(names, u.Name)
	}
	var intent map[string]string
	if err == nil {
		intent, err = passwordIntent(text, names)
	}
	if !h.r.check("sshd drop-in readable", err) {
		return
	}
	for _, u := range names {
		res := h.sh(fmt.Sprintf("sshd -T -C user=%s,addr=%s,host=x", q(u), probeAddr))
		if !h.r.check("sshd -T for "+u, res.err("sshd -T")) {
			continue
		}
		got := map[string]string{}
		for _, line := range strings.Split(res.out, "\n") {
			if k, v, ok := strings.Cut(line, " "); ok {
				got[k] = v
			}
		}
		for _, kv := range [][2]string{{"passwordauthentication", intent[u]}, {"permitrootlogin", "no"}, {"maxauthtries", maxAuthTries(text)}} {
			h.r.check(fmt.Sprintf("sshd -T user=%s: %s %s", u, kv[0], kv[1]), want(got[kv[0]] == kv[1], "got "+got[kv[0]]))
		}
	}
}

// files checks every write_files entry: content, owner and mode as the user data says (cloud-init's defaults
// root:root and 0644 when it is silent). Checked before any deploy rewrites the nginx upstream.
func (h *host) files(ud userData) {
	for _, w := range ud.WriteFiles {
		wantContent, err := w.content()
		if !h.r.check("write_files decodable: "+w.Path, err) {
			continue
		}
		owner, perm := w.Owner, w.Permissions
		if owner == "" {
			owner = "root:root"
		}
		if perm == "" {
			perm = "0644"
		}
		mode, _ := strconv.ParseUint(perm, 8, 32)
		st := h.sh("stat -c '%U:%G %a' " + q(w.Path))
		h.r.check(fmt.Sprintf("file %s: %s %s", w.Path, owner, perm), errors.Join(st.err("stat"),
			want(strings.TrimSpace(st.out) == fmt.Sprintf("%s %o", owner, mode), "got "+st.out)))
		got := h.sh("cat " + q(w.Path))
		h.r.check("file content as in the user data: "+w.Path, want(got.code == 0 && got.out == wantContent,
			fmt.Sprintf("%d bytes on disk, %d in the user data", len(got.out), len(wantContent))))
	}
}

// fetched checks what came with the files the host fetched from S3 at boot: the stack's host key is the one sshd
// serves, the ready check passed, Docker runs with daemon.json, Jenkins' key is restricted to deploy.sh ssh.
func (h *host) fetched(ud userData) {
	if !ud.fetched {
		return
	}
	ready := h.sh("grep -c 'deploylab app host ready' /var/log/cloud-init-output.log")
	h.r.check("the ready check passed and said so", ready.err("grep the ready message"))
	if ud.hostKeyPub != "" {
		scan := h.sh("ssh-keyscan -t ed25519 127.0.0.1 2>/dev/null")
		h.r.check("sshd serves the stack's ED25519 host key", want(strings.Contains(scan.out, ud.hostKeyPub),
			"ssh-keyscan: "+scan.out+"\nwant "+ud.hostKeyPub))
	}
	info := h.sh("docker info -f '{{.LiveRestoreEnabled}} {{.LoggingDriver}}'")
	h.r.check("docker: live-restore on, json-file logs (daemon.json)", want(strings.TrimSpace(info.out) == "true json-file", "docker info: "+info.out))
	if ud.restrictedKeys > 0 {
		keys := h.sh("grep -c '^" + deployKeyOptions + " ' /home/*/.ssh/authorized_keys | awk -F: '{n += $NF} END {print n}'")
		h.r.check("the deploy key is restricted to deploy.sh ssh in authorized_keys", want(strings.TrimSpace(keys.out) == strconv.Itoa(ud.restrictedKeys),
			fmt.Sprintf("%s lines start with %s, the user data has %d", strings.TrimSpace(keys.out), deployKeyOptions, ud.restrictedKeys)))
	}
}

// deployKeyOptions are the options the app host puts before Jenkins' deploy key.
const deployKeyOptions = `restrict,command="/usr/local/bin/deploy.sh ssh"`

func (h *host) nginxIdle() {
	h.r.check("nginx -t", h.sh("nginx -t").err("nginx -t"))
	code := h.httpCode("/")
	h.r.check("nginx answers 502 with no colour running", want(code == "502", "got HTTP "+code))
}

func (h *host) httpCode(path string) string {
	return strings.TrimSpace(h.sh("curl -s -o /dev/null -m 5 -w '%{http_code}' http://127.0.0.1" + path).out)
}

func (h *host) fail2ban(ud userData) {
	passwordHost := false
	if dropIn, ok := ud.file(sshdDropIn); ok {
		text, _ := dropIn.content()
		names := []string{}
		for _, u := range ud.Users {
			names = append(names, u.Name)
		}
		intent, _ := passwordIntent(text, names)
		for _, v := range intent {
			passwordHost = passwordHost || v == "yes"
		}
	}
	if passwordHost {
		h.r.check("password host: fail2ban active", h.sh("systemctl is-active fail2ban").err("systemctl is-active fail2ban"))
		h.r.check("password host: fail2ban sshd jail up", h.sh("fail2ban-client status sshd").err("fail2ban-client status sshd"))
		return
	}
	st := h.sh("dpkg-query -W -f='${Status}' fail2ban 2>/dev/null; systemctl is-active fail2ban")
	h.r.check("key-only host: fail2ban absent", want(!strings.Contains(st.out, "install ok installed") &&
		!strings.Contains(st.out, "\nactive"), st.out))
}

func (h *host) admin(ud userData) string {
	if h.opts.adminUser != "" {
		return h.opts.adminUser
	}
	for _, u := range ud.Users {
		if strings.Contains(u.Sudo, "NOPASSWD") {
			return u.Name
		}
	}
	return ""
}

// colours reads the ports from the env file the user data installs (defaults of the design otherwise).
func colours(ud userData) map[string]string {
	ports := map[string]string{"blue": "8081", "green": "8082"}
	w, ok := ud.file("/etc/deploylab/deploy.env")
	if !ok {
		return ports
	}
	text, _ := w.content()
	for _, line := range strings.Split(text, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		v = strings.Trim(v, `"'`)
		switch k {
		case "BLUE_PORT":
			ports["blue"] = v
		case "GREEN_PORT":
			ports["green"] = v
		}
	}
	return ports
}

// version is what the test app serves on "/" for an image: boot-test.sh bakes VERSION=<tag> into each image.
func version(image string) string { return image[strings.LastIndex(image, ":")+1:] }

func (h *host) deploy(admin, image string) bool {
	// The images were docker-loaded (no registry here): PULL=never, from the environment since the rendered env
	// file leaves PULL at its default (always).
	res := h.shT(h.opts.deployTimeout, nil, fmt.Sprintf("cd / && sudo -u %s -H env PULL=never /usr/local/bin/deploy.sh deploy %s", q(admin), q(image)))
	return h.r.check(fmt.Sprintf("deploy.sh deploy %s as %s", image, admin), res.err("deploy.sh deploy"))
}

// serves asserts the colour is the only one listening and nginx answers with its version.
func (h *host) serves(ud userData, colour, image string) {
	ports := colours(ud)
	other := map[string]string{"blue": "green", "green": "blue"}[colour]
	listen := h.sh("ss -ltnH").out
	h.r.check(fmt.Sprintf("%s listening on %s, %s port %s closed", colour, ports[colour], other, ports[other]),
		want(strings.Contains(listen, ":"+ports[colour]+" ") && !strings.Contains(listen, ":"+ports[other]+" "), listen))
	body := h.sh("curl -fsS -m 5 http://127.0.0.1/")
	h.r.check(fmt.Sprintf("nginx serves %s (%s)", version(image), colour),
		errors.Join(body.err("curl"), want(strings.TrimSpace(body.out) == version(image), "got "+body.out)))
}

func (h *host) status(admin, colour string) {
	res := h.sh(fmt.Sprintf("cd / && sudo -u %s -H /usr/local/bin/deploy.sh status", q(admin)))
	fmt.Printf("INFO deploy.sh status:\n     %s\n", indent(res.out))
	live := ""
	for _, line := range strings.Split(res.out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "live:" {
			live = f[1]
		}
	}
	h.r.check("deploy.sh status: live "+colour, errors.Join(res.err("deploy.sh status"), want(live == colour, "live: "+live)))
	// deploy.sh status prints a "deploying:" line naming the holder while the lock is held.
	h.r.check("deploy.sh status: lock free", want(!strings.Contains(res.out, "deploying:"), res.out))
}

func (h *host) deploys(admin string) {
	ud, _ := loadUserData(h.opts.userData)
	f, err := os.Open(h.opts.appImages)
	if !h.r.check("open app images", err) {
		return
	}
	defer f.Close()
	if !h.r.check("docker load app images into the host's Docker", h.shT(h.opts.deployTimeout, f, "docker load").err("docker load")) {
		return
	}
	if h.deploy(admin, h.opts.image1) {
		h.serves(ud, "blue", h.opts.image1)
	}
	if h.deploy(admin, h.opts.image2) {
		h.serves(ud, "green", h.opts.image2)
	}
	h.status(admin, "green")
}

// reboot restarts the container (systemd shuts down on SIGRTMIN+3 and boots again) and asserts the host comes
// back serving the live colour with the deploy lock free: a further deploy must go through.
func (h *host) reboot(admin string) {
	ud, _ := loadUserData(h.opts.userData)
	start := time.Now()
	out, err := exec.Command(h.opts.docker, "restart", "-t", "60", h.opts.container).CombinedOutput()
	if !h.r.check("reboot (docker restart)", errWith(err, out)) {
		return
	}
	err = h.waitFor("systemd up after reboot", func() bool {
		s := strings.TrimSpace(h.sh("systemctl is-system-running").out)
		return s == "running" || s == "degraded"
	})
	err = errors.Join(err, h.waitFor("live colour answers through nginx", func() bool {
		return h.httpCode("/") == "200"
	}))
	if !h.r.check("host back after reboot", err) {
		return
	}
	fmt.Printf("INFO reboot to serving: %.1f s\n", time.Since(start).Seconds())
	for _, unit := range []string{"ssh", "nginx", "docker"} {
		h.r.check("after reboot, service active: "+unit, h.sh("systemctl is-active "+unit).err("systemctl is-active "+unit))
	}
	h.serves(ud, "green", h.opts.image2)
	h.status(admin, "green")
	if h.deploy(admin, h.opts.image1) {
		h.serves(ud, "blue", h.opts.image1)
	}
}

func (h *host) waitFor(what string, ok func() bool) error {
	deadline := time.Now().Add(h.opts.rebootTimeout)
	for time.Now().Before(deadline) {
		if ok() {
			return nil
		}
		time.Sleep(2 * time.Second)
	}
	return fmt.Errorf("%s: not within %s", what, h.opts.rebootTimeout)
}

func errWith(err error, out []byte) error {
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

func want(ok bool, msg string) error {
	if ok {
		return nil
	}
	return errors.New(strings.TrimSpace(msg))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
