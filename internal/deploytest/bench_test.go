package deploytest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deploylab/deploylab/internal/nginxsite"
)

// loadStats counts what a keepalive client saw. A request fails on a socket error or a non-2xx answer; the
// client never retries (unlike net/http's Transport, which silently retries on a closed keepalive connection and
// would hide exactly the failures this measures).
type loadStats struct {
	mu      sync.Mutex
	samples []sample
	windows [][2]time.Time // deploys in progress: requests that start inside one count as "during switches"
	wait    func()
}

type sample struct {
	start   time.Time
	latency time.Duration
	ok      bool
}

// runLoad sends GET / over `conns` keepalive connections to addr until ctx ends, each connection at most `rate`
// requests per second: a bounded, steady load on loopback that leaves the machine's CPU to the deploys. The
// connections start `spread` apart in all: slow requests then are in flight at every moment, not in lockstep.
func runLoad(ctx context.Context, addr string, conns, rate int, spread time.Duration) *loadStats {
	s := &loadStats{}
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * spread / time.Duration(conns))
			tick := time.NewTicker(time.Second / time.Duration(rate))
			defer tick.Stop()
			var c net.Conn
			var rd *bufio.Reader
			req := []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
			for ctx.Err() == nil {
				select {
				case <-ctx.Done():
					continue
				case <-tick.C:
				}
				start := time.Now()
				if c == nil {
					var err error
					if c, err = net.DialTimeout("tcp", addr, 2*time.Second); err != nil {
						s.record(start, false)
						c = nil
						continue
					}
					rd = bufio.NewReader(c)
				}
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
				s.record(start, ok)
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

func (s *loadStats) record(start time.Time, ok bool) {
	d := time.Since(start)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples = append(s.samples, sample{start: start, latency: d, ok: ok})
}

func (s *loadStats) window(from, to time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows = append(s.windows, [2]time.Time{from, to})
}

// summary is the count, failures and latency percentiles of the requests inside (or outside) the deploys.
type summary struct {
	total, failed int
	p50, p99      time.Duration
}

func (s *loadStats) summarise(during bool) summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sum summary
	var lat []time.Duration
	for _, x := range s.samples {
		in := false
		for _, w := range s.windows {
			if !x.start.Before(w[0]) && x.start.Before(w[1]) {
				in = true
				break
			}
		}
		if in != during {
			continue
		}
		sum.total++
		if !x.ok {
			sum.failed++
		}
		lat = append(lat, x.latency)
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		sum.p50, sum.p99 = lat[len(lat)/2], lat[int(float64(len(lat)-1)*0.99)]
	}
	return sum
}

var (
	firstHealthyRe = regexp.MustCompile(`first healthy answer from \w+ at ([0-9.]+)s`)
	upRe           = regexp.MustCompile(`\w+ up at ([0-9.]+)s`)
	doneRe         = regexp.MustCompile(`deployed .* in ([0-9.]+)s`)
)

// timing is one deploy as deploy.sh logged it, in seconds since it began.
type timing struct{ up, firstHealthy, done float64 }

// overhead is what the deploy spent beyond the new container's readiness (its first healthy answer): the rest
// of the health gate, the switch, the drain, stopping the old colour and the checks.
func (t timing) overhead() float64 { return t.done - t.firstHealthy }

// appStart is the app's own start time, from the container running to its first healthy answer; everything else
// of the deploy (including `docker-compose up`) is machinery.
func (t timing) appStart() float64 { return t.firstHealthy - t.up }

// deployer performs one deploy of image on h; deploy.sh's deploys return their logged timing.
type deployer func(b *testing.B, h *host, image string, n int) (timing, bool)

func parseSeconds(b *testing.B, re *regexp.Regexp, log string) float64 {
	m := re.FindStringSubmatch(log)
	if m == nil {
		b.Fatalf("no %q in the deploy log:\n%s", re, log)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// deployScriptDeploy is scripts/deploy.sh as shipped.
func deployScriptDeploy(b *testing.B, h *host, image string, n int) (timing, bool) {
	r := h.run("deploy", image)
	if r.code != 0 {
		b.Fatalf("deploy.sh failed:\n%s", r.stderr)
	}
	if n == 2 { // the first switch between two live colours
		b.Logf("deploy %d:\n%s", n, r.stderr) // where the time goes
	}
	return timing{up: parseSeconds(b, upRe, r.stderr), firstHealthy: parseSeconds(b, firstHealthyRe, r.stderr),
		done: parseSeconds(b, doneRe, r.stderr)}, true
}

// naiveDeploy is the seed's procedure: stop the old container, start the new one on the other port, point nginx
// at it and reload, then wait until it answers.
func naiveDeploy(b *testing.B, h *host, image string, n int) (timing, bool) {
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
	return timing{}, false
}

// wrkLoad runs wrk (keepalive, no retries) until stop is called and returns its requests, failures (socket
// errors + non-2xx/3xx answers) and its p50/p99 over the whole run. wrk prints its report on SIGINT.
func wrkLoad(b *testing.B, url string) (stop func() (requests, failed int, p50, p99 time.Duration)) {
	cmd := exec.Command("wrk", "-t1", "-c4", "-d3600s", "--latency", url)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatalf("wrk: %v", err)
	}
	return func() (int, int, time.Duration, time.Duration) {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		o := out.String()
		num := func(re string) int {
			n := 0
			for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(o, -1) {
				for _, g := range m[1:] {
					v, _ := strconv.Atoi(g)
					n += v
				}
			}
			return n
		}
		pct := func(p string) time.Duration {
			if m := regexp.MustCompile(`(?m)^\s+` + p + `%\s+(\S+)`).FindStringSubmatch(o); m != nil {
				d, _ := time.ParseDuration(m[1]) // wrk prints Go-compatible units: us, ms, s
				return d
			}
			return 0
		}
		b.Logf("wrk:\n%s", o)
		return num(`(\d+) requests in`),
			num(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`) + num(`Non-2xx or 3xx responses: (\d+)`),
			pct("50"), pct("99")
	}
}

// BenchmarkDeploy runs b.N deploys back to back under a steady keepalive load through nginx, for the naive
// procedure, deploy.sh with SWITCH=nginx (reload) and deploy.sh with SWITCH=nft, and reports failed requests,
// latency steady vs during the deploys, and deploy.sh's overhead beyond the new container's readiness.
// The load is the Go client below (4 connections x 50 req/s); with wrk on PATH every mechanism also runs under
// wrk (4 connections, as fast as it can: latency and overhead under wrk are those of a saturated machine).
//
//	go test -run '^$' -bench BenchmarkDeploy -benchtime 20x -timeout 60m ./internal/deploytest
func BenchmarkDeploy(b *testing.B) {
	mechanisms := []struct {
		name   string
		opts   []hostOption
		deploy deployer
	}{
		{"naive", nil, naiveDeploy},
		{"reload", []hostOption{withEnv(map[string]string{"SWITCH": "nginx", "DRAIN_SECONDS": "1"})}, deployScriptDeploy},
		{"nft", []hostOption{withNFT()}, deployScriptDeploy},
	}
	loaders := []string{"go"}
	if _, err := exec.LookPath("wrk"); err == nil {
		loaders = append(loaders, "wrk")
	}
	for _, loader := range loaders {
		for _, m := range mechanisms {
			b.Run(m.name+"/"+loader, func(b *testing.B) {
				// deploy.sh's own defaults for the gate, drain and stop: only the harness's test values are undone.
				opts := append([]hostOption{withEnv(map[string]string{"HEALTH_INTERVAL": "0.2", "DRAIN_SECONDS": "",
					"STOP_TIMEOUT": "30", "HEALTH_TIMEOUT": "90"})}, m.opts...)
				h := newHost(b, opts...)
				images := []string{buildImage(b, map[string]string{"VERSION": "even"}), buildImage(b, map[string]string{"VERSION": "odd"})}
				m.deploy(b, h, images[0], 0)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				load := runLoad(ctx, strings.TrimPrefix(h.publicURL, "http://"), 4, 50, 0)
				var stopWrk func() (int, int, time.Duration, time.Duration)
				if loader == "wrk" {
					cancel() // wrk alone is the load
					load.wait()
					stopWrk = wrkLoad(b, h.publicURL+"/")
				}
				time.Sleep(2 * time.Second)
				var over, overMax, appStart, total float64
				b.ResetTimer()
				for i := 1; i <= b.N; i++ {
					from := time.Now()
					t, scripted := m.deploy(b, h, images[i%2], i)
					load.window(from, time.Now())
					total += time.Since(from).Seconds()
					if scripted {
						over += t.overhead()
						overMax = max(overMax, t.overhead())
						appStart += t.appStart()
					}
				}
				b.StopTimer()
				time.Sleep(2 * time.Second)
				n := float64(b.N)
				b.ReportMetric(total/n, "deploy-s")
				if m.name != "naive" {
					b.ReportMetric(over/n, "overhead-s")
					b.ReportMetric(overMax, "overhead-max-s")
					b.ReportMetric((total-appStart)/n, "beyond-app-start-s")
				}
				if loader == "wrk" {
					requests, failed, p50, p99 := stopWrk()
					b.ReportMetric(float64(requests), "requests")
					b.ReportMetric(float64(failed), "failed")
					b.ReportMetric(float64(p50.Microseconds())/1000, "run-p50-ms")
					b.ReportMetric(float64(p99.Microseconds())/1000, "run-p99-ms")
					return
				}
				cancel()
				load.wait()
				steady, during := load.summarise(false), load.summarise(true)
				b.ReportMetric(float64(steady.total+during.total), "requests")
				b.ReportMetric(float64(steady.failed+during.failed), "failed")
				b.ReportMetric(float64(steady.p50.Microseconds())/1000, "steady-p50-ms")
				b.ReportMetric(float64(steady.p99.Microseconds())/1000, "steady-p99-ms")
				b.ReportMetric(float64(during.p50.Microseconds())/1000, "switch-p50-ms")
				b.ReportMetric(float64(during.p99.Microseconds())/1000, "switch-p99-ms")
			})
		}
	}
}

// drainBaselineCommit is the last deploy.sh with the fixed drain: 0.5 s after the switch, then docker stop.
const drainBaselineCommit = "8a805f4"

// baselineScript writes deploy.sh as of drainBaselineCommit (from git history) to a temporary file.
func baselineScript(b *testing.B) string {
	out, err := exec.Command("git", "-C", repoRoot(b), "show", drainBaselineCommit+":scripts/deploy.sh").Output()
	if err != nil {
		b.Fatalf("git show %s:scripts/deploy.sh (needs the repository's history): %v", drainBaselineCommit, err)
	}
	path := filepath.Join(b.TempDir(), "deploy-fixed-drain.sh")
	if err := os.WriteFile(path, out, 0o755); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkDrain runs b.N deploys (SWITCH=nft) under a load of slow requests through nginx (8 keepalive
// connections, each request taking SLOW_MS in the app) to an app that exits at once on SIGTERM, as Spring Boot
// before 3.4 does: every request still in flight on the old colour when it is stopped fails. "inflight" is
// deploy.sh, which waits until no connection is open to the old colour; "fixed" is the baseline, deploy.sh as of
// drainBaselineCommit with its fixed 0.5 s drain, in the same run.
//
//	go test -run '^$' -bench BenchmarkDrain -benchtime 20x -timeout 60m ./internal/deploytest
func BenchmarkDrain(b *testing.B) {
	for _, slow := range []string{"300", "1500"} {
		for _, mech := range []string{"inflight", "fixed"} {
			b.Run(mech+"/slow-"+slow+"ms", func(b *testing.B) {
				// VERSION_PATH on a fast path for both: the baseline's default ("/", the slow path) would make its
				// own check after the switch last as long as a request and drain by accident.
				h := newHost(b, withNFT(), withEnv(map[string]string{"HEALTH_INTERVAL": "0.2", "DRAIN_SECONDS": "",
					"STOP_TIMEOUT": "30", "HEALTH_TIMEOUT": "90", "VERSION_PATH": "/version"}))
				if mech == "fixed" {
					h.script = baselineScript(b)
					delete(h.envEntries, "PULL") // keys the baseline does not know; it never pulls nor prunes
					delete(h.envEntries, "PRUNE")
					h.writeEnv()
				}
				env := func(v string) map[string]string {
					return map[string]string{"VERSION": v, "SLOW_MS": slow, "EXIT_ON_TERM": "1"}
				}
				images := []string{buildImage(b, env("even")), buildImage(b, env("odd"))}
				if r := h.run("deploy", images[0]); r.code != 0 {
					b.Fatalf("first deploy:\n%s", r.stderr)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				ms, _ := strconv.Atoi(slow)
				load := runLoad(ctx, strings.TrimPrefix(h.publicURL, "http://"), 8, 10, time.Duration(ms)*time.Millisecond)
				time.Sleep(2 * time.Second)
				var total float64
				b.ResetTimer()
				for i := 1; i <= b.N; i++ {
					from := time.Now()
					if r := h.run("deploy", images[i%2]); r.code != 0 {
						b.Fatalf("deploy %d:\n%s", i, r.stderr)
					}
					load.window(from, time.Now())
					total += time.Since(from).Seconds()
				}
				b.StopTimer()
				time.Sleep(2 * time.Second)
				cancel()
				load.wait()
				steady, during := load.summarise(false), load.summarise(true)
				b.ReportMetric(total/float64(b.N), "deploy-s")
				b.ReportMetric(float64(steady.total+during.total), "requests")
				b.ReportMetric(float64(steady.failed+during.failed), "failed")
				b.ReportMetric(float64(during.p99.Microseconds())/1000, "switch-p99-ms")
			})
		}
	}
}
