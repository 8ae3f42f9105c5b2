package deploytest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/deploylab/deploylab/internal/nginxsite"
)

// loadStats counts what a keepalive client saw. A request fails on a socket error or a non-2xx answer; the
// client never retries (unlike net/http's Transport, which silently retries on a closed keepalive connection and
// would hide exactly the failures this measures).
type loadStats struct {
	mu        sync.Mutex
	total     int
	failed    int
	latencies []time.Duration
	wait      func()
}

// runLoad sends GET / over `conns` keepalive connections to addr until ctx ends: bounded by the connection count,
// loopback only.
func runLoad(ctx context.Context, addr string, conns int) *loadStats {
	s := &loadStats{}
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var rd *bufio.Reader
			req := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
			for ctx.Err() == nil {
				if c == nil {
					var err error
					if c, err = net.DialTimeout("tcp", addr, 2*time.Second); err != nil {
						s.record(0, false)
						time.Sleep(10 * time.Millisecond)
						c = nil
						continue
					}
					rd = bufio.NewReader(c)
				}
				start := time.Now()
				_ = c.SetDeadline(start.Add(5 * time.Second))
				ok := false
				if _, err := c.Write(req); err == nil {
					if resp, err := http.ReadResponse(rd, nil); err == nil {
						_, err = bufio.NewReader(resp.Body).WriteTo(discard{})
						_ = resp.Body.Close()
						ok = err == nil && resp.StatusCode/100 == 2
						if resp.Close {
							_ = c.Close()
							c = nil
						}
					}
				}
				s.record(time.Since(start), ok)
				if !ok && c != nil {
					_ = c.Close()
					c = nil
				}
			}
			if c != nil {
				_ = c.Close()
			}
		}()
	}
	s.wait = wg.Wait
	return s
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func (s *loadStats) record(d time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	if !ok {
		s.failed++
	}
	s.latencies = append(s.latencies, d)
}

func (s *loadStats) percentile(p float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.latencies) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), s.latencies...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[int(float64(len(l)-1)*p)]
}

var (
	readyRe = regexp.MustCompile(`ready after ([0-9.]+)s`)
	doneRe  = regexp.MustCompile(`deployed .* in ([0-9.]+)s`)
)

// deployer performs one deploy of image on h and returns the seconds it spent beyond the new container's readiness.
type deployer func(b *testing.B, h *host, image string, n int) float64

// deployScriptDeploy is scripts/deploy.sh as shipped.
func deployScriptDeploy(b *testing.B, h *host, image string, _ int) float64 {
	r := h.run("deploy", image)
	if r.code != 0 {
		b.Fatalf("deploy.sh failed:\n%s", r.stderr)
	}
	ready, _ := strconv.ParseFloat(readyRe.FindStringSubmatch(r.stderr)[1], 64)
	total, _ := strconv.ParseFloat(doneRe.FindStringSubmatch(r.stderr)[1], 64)
	return total - ready
}

// naiveDeploy is the seed's procedure: stop the old container, start the new one on the other port, point nginx
// at it and reload, then wait until it answers.
func naiveDeploy(b *testing.B, h *host, image string, n int) float64 {
	ports := []int{h.blue, h.green}
	oldName, newName := fmt.Sprintf("%s-naive-%d", h.app, n-1), fmt.Sprintf("%s-naive-%d", h.app, n)
	_ = exec.Command("docker", "rm", "-f", oldName).Run()
	start := time.Now()
	out, err := exec.Command("docker", "run", "-d", "--name", newName,
		"--label", "com.docker.compose.project="+h.app+"-blue",
		"-p", fmt.Sprintf("127.0.0.1:%d:8080", ports[n%2]), image).CombinedOutput()
	if err != nil {
		b.Fatalf("docker run: %v\n%s", err, out)
	}
	if err := os.WriteFile(h.upstream, []byte(nginxsite.Upstream(ports[n%2])), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("bash", "-c", h.nginx.Command("-s", "reload")).CombinedOutput(); err != nil {
		b.Fatalf("reload: %v\n%s", err, out)
	}
	for code, _ := get(h.publicURL + "/"); code != 200; code, _ = get(h.publicURL + "/") {
		if time.Since(start) > time.Minute {
			b.Fatal("naive deploy never answered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0
}

// BenchmarkDeploy runs b.N deploys under a steady keepalive load through nginx, once with the naive procedure
// and once with deploy.sh, and reports failed requests per mechanism and the deploy overhead.
//
//	go test -run '^$' -bench BenchmarkDeploy -benchtime 20x -timeout 60m ./internal/deploytest
func BenchmarkDeploy(b *testing.B) {
	for _, m := range []struct {
		name   string
		deploy deployer
	}{{"naive", naiveDeploy}, {"deploy.sh", deployScriptDeploy}} {
		b.Run(m.name, func(b *testing.B) {
			h := newHost(b, withEnv(map[string]string{"DRAIN_SECONDS": "1", "HEALTH_INTERVAL": "0.1"}))
			images := []string{buildImage(b, map[string]string{"VERSION": "even"}), buildImage(b, map[string]string{"VERSION": "odd"})}
			m.deploy(b, h, images[0], 0)
			ctx, cancel := context.WithCancel(context.Background())
			load := runLoad(ctx, h.publicURL[len("http://"):], 4)
			time.Sleep(2 * time.Second)
			steadyP50, steadyP99 := load.percentile(0.50), load.percentile(0.99)
			overhead := 0.0
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				overhead += m.deploy(b, h, images[i%2], i)
			}
			b.StopTimer()
			time.Sleep(time.Second)
			cancel()
			load.wait()
			b.ReportMetric(float64(load.failed), "failed")
			b.ReportMetric(float64(load.total), "requests")
			b.ReportMetric(float64(load.failed)/float64(b.N), "failed/deploy")
			b.ReportMetric(overhead/float64(b.N), "overhead-s/deploy")
			b.ReportMetric(float64(steadyP50.Microseconds())/1000, "steady-p50-ms")
			b.ReportMetric(float64(steadyP99.Microseconds())/1000, "steady-p99-ms")
			b.ReportMetric(float64(load.percentile(0.99).Microseconds())/1000, "run-p99-ms")
		})
	}
}
