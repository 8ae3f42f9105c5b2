// Command fakeaws stands in for the two AWS endpoints an app host talks to at its first boot, so the boot test
// runs the host's real fetch (files/deploylab-bootstrap.sh: IMDSv2, then an S3 GET signed with SigV4 by curl):
//
//   - IMDSv2: PUT /latest/api/token, then, with the token, the region and the instance role's temporary
//     credentials (the role name, then a JSON document, laid out as EC2's metadata service serves them).
//   - S3: GET and PUT /s3/BUCKET/KEY (path style), answered only when the request is signed like S3 demands: SigV4 with
//     the credentials issued above, every x-amz-* header signed, x-amz-content-sha256 present, the session token
//     sent; anything else gets S3's 403 codes.
//
// The objects are the aws:s3/bucketObjectv2 resources of the plan.json files given (what `pulumi up` would
// upload). A secret object (the SSH host key, "[secret]" in a plan) is replaced by a fresh ED25519 key made with
// ssh-keygen. Every object is also written under -objects DIR/BUCKET/KEY for the checker.
package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

const secretPlaceholder = "[secret]"

type server struct {
	region, role          string
	akid, secret, session string
	mu                    sync.Mutex
	tokens                map[string]bool
	objects               map[string][]byte // BUCKET/KEY
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (the boot container reaches the Docker bridge's)")
	addrFile := flag.String("addr-file", "", "write the address listened on to this file")
	objectsDir := flag.String("objects", "", "write every object to DIR/BUCKET/KEY (required)")
	region := flag.String("region", "eu-central-1", "the region IMDS reports and S3 signatures must name")
	flag.Parse()
	if *objectsDir == "" {
		log.Fatal("fakeaws: -objects is required")
	}
	s := newServer(*region)
	for _, plan := range flag.Args() {
		if err := s.load(plan, *objectsDir); err != nil {
			log.Fatalf("fakeaws: %s: %v", plan, err)
		}
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("fakeaws: %v", err)
	}
	if *addrFile != "" {
		if err := os.WriteFile(*addrFile, []byte(ln.Addr().String()), 0o644); err != nil {
			log.Fatalf("fakeaws: %v", err)
		}
	}
	log.Printf("fakeaws: %d objects, listening on %s", len(s.objects), ln.Addr())
	log.Fatal(http.Serve(ln, s))
}

func newServer(region string) *server {
	return &server{region: region, role: "deploylab-boot-test-role", akid: "ASIA" + randomHex(16), secret: randomHex(40),
		session: base64.StdEncoding.EncodeToString([]byte(randomHex(32))), tokens: map[string]bool{}, objects: map[string][]byte{}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return strings.ToUpper(hex.EncodeToString(b))[:n]
}

// load reads the objects of one plan.json.
func (s *server) load(path, dir string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var plan struct {
		Resources []struct {
			Type   string         `json:"type"`
			Inputs map[string]any `json:"inputs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(raw, &plan); err != nil {
		return err
	}
	for _, r := range plan.Resources {
		if r.Type != "aws:s3/bucketObjectv2:BucketObjectv2" {
			continue
		}
		bucket, _ := r.Inputs["bucket"].(string)
		key, _ := r.Inputs["key"].(string)
		var body []byte
		switch content, b64 := r.Inputs["content"], r.Inputs["contentBase64"]; {
		case content == secretPlaceholder || b64 == secretPlaceholder:
			if !strings.HasSuffix(key, "ssh_host_ed25519_key") {
				return fmt.Errorf("object %s/%s is secret and not a host key: nothing to stand in for it", bucket, key)
			}
			if body, err = newHostKey(); err != nil {
				return err
			}
		case b64 != nil:
			if body, err = base64.StdEncoding.DecodeString(fmt.Sprint(b64)); err != nil {
				return fmt.Errorf("object %s/%s: contentBase64: %w", bucket, key, err)
			}
		default:
			body = []byte(fmt.Sprint(content))
		}
		if bucket == "" || key == "" {
			return fmt.Errorf("an object without bucket or key: %v", r.Inputs)
		}
		s.objects[bucket+"/"+key] = body
		file := filepath.Join(dir, bucket, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(file, body, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func newHostKey() ([]byte, error) {
	dir, err := os.MkdirTemp("", "fakeaws-key")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	key := filepath.Join(dir, "key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "deploylab-boot-test", "-f", key).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	return os.ReadFile(key)
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/latest/api/token":
		if r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "IMDSv2: PUT with X-aws-ec2-metadata-token-ttl-seconds", http.StatusBadRequest)
			return
		}
		token := randomHex(32)
		s.mu.Lock()
		s.tokens[token] = true
		s.mu.Unlock()
		fmt.Fprint(w, token)
	case strings.HasPrefix(r.URL.Path, "/latest/"):
		s.mu.Lock()
		ok := s.tokens[r.Header.Get("X-aws-ec2-metadata-token")]
		s.mu.Unlock()
		if !ok {
			http.Error(w, "", http.StatusUnauthorized) // IMDSv2 only, as the hosts require (http_tokens=required)
			return
		}
		s.metadata(w, strings.TrimPrefix(r.URL.Path, "/latest/"))
	case strings.HasPrefix(r.URL.Path, "/s3/") && (r.Method == http.MethodGet || r.Method == http.MethodPut):
		s.object(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (s *server) metadata(w http.ResponseWriter, path string) {
	switch path {
	case "meta-data/placement/region":
		fmt.Fprint(w, s.region)
	case "meta-data/iam/security-credentials/":
		fmt.Fprint(w, s.role)
	case "meta-data/iam/security-credentials/" + s.role:
		// One field per line, like the metadata service.
		fmt.Fprintf(w, "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2026-12-07T00:00:00Z\",\n  \"Type\" : \"AWS-HMAC\",\n"+
			"  \"AccessKeyId\" : %q,\n  \"SecretAccessKey\" : %q,\n  \"Token\" : %q,\n  \"Expiration\" : \"2099-01-01T00:00:00Z\"\n}",
			s.akid, s.secret, s.session)
	default:
		http.NotFound(w, nil)
	}
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	log.Printf("fakeaws: S3 %d %s: %s", status, code, msg)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<Error><Code>%s</Code><Message>%s</Message></Error>", code, msg)
}

func (s *server) object(w http.ResponseWriter, r *http.Request) {
	if err := s.verify(r); err != nil {
		s3Error(w, http.StatusForbidden, "SignatureDoesNotMatch", err.Error())
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/s3/")
	if r.Method == http.MethodPut {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			s3Error(w, http.StatusBadRequest, "IncompleteBody", err.Error())
			return
		}
		s.mu.Lock()
		s.objects[name] = body
		s.mu.Unlock()
		log.Printf("fakeaws: PUT s3://%s (%d bytes), signed", name, len(body))
		return
	}
	s.mu.Lock()
	body, ok := s.objects[name]
	s.mu.Unlock()
	if !ok {
		s3Error(w, http.StatusNotFound, "NoSuchKey", name)
		return
	}
	log.Printf("fakeaws: GET s3://%s (%d bytes), signed", name, len(body))
	_, _ = w.Write(body)
}

// verify checks a request's SigV4 header signature the way S3 does (AWS docs, "Authenticating Requests:
// Using the Authorization Header (AWS Signature Version 4)").
func (s *server) verify(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return fmt.Errorf("not a SigV4 Authorization header: %q", auth)
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] != s.akid || scope[2] != s.region || scope[3] != "s3" || scope[4] != "aws4_request" {
		return fmt.Errorf("credential %q: want %s/DATE/%s/s3/aws4_request", fields["Credential"], s.akid, s.region)
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !sort.StringsAreSorted(signed) {
		return errors.New("SignedHeaders are not sorted")
	}
	isSigned := map[string]bool{}
	for _, h := range signed {
		isSigned[h] = true
	}
	if !isSigned["host"] {
		return errors.New("host is not signed")
	}
	for name := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-amz-") && !isSigned[l] {
			return fmt.Errorf("header %s is sent but not signed (S3 requires every x-amz-* header signed)", l)
		}
	}
	if r.Header.Get("X-Amz-Security-Token") != s.session {
		return errors.New("x-amz-security-token is missing or not the session token issued")
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return errors.New("x-amz-content-sha256 is missing")
	}
	date := r.Header.Get("X-Amz-Date")
	if len(date) < 8 || date[:8] != scope[1] {
		return fmt.Errorf("x-amz-date %q does not match the credential date %s", date, scope[1])
	}
	var canonical strings.Builder
	canonical.WriteString(r.Method + "\n" + r.URL.EscapedPath() + "\n" + r.URL.RawQuery + "\n")
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		canonical.WriteString(h + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	canonical.WriteString("\n" + fields["SignedHeaders"] + "\n" + payload)
	sum := sha256.Sum256([]byte(canonical.String()))
	toSign := "AWS4-HMAC-SHA256\n" + date + "\n" + strings.Join(scope[1:], "/") + "\n" + hex.EncodeToString(sum[:])
	key := []byte("AWS4" + s.secret)
	for _, part := range append(scope[1:], toSign) {
		key = hmacSHA256(key, part)
	}
	if want := hex.EncodeToString(key); !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return fmt.Errorf("signature %s does not match (canonical request:\n%s)", fields["Signature"], canonical.String())
	}
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
