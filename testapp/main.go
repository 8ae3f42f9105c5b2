// Command testapp is the stand-in application the deploy tests and the benchmark ship with scripts/deploy.sh.
// It is static (stdlib only, CGO_ENABLED=0) so it can be packed into an image FROM scratch without a registry.
//
// Environment (all optional):
//
//	VERSION        text served on "/" and "/version" (default "dev")
//	PORT           port to listen on (default 8080)
//	HEALTH_PATH    health endpoint, answers {"status":"UP"} (default: /actuator/health and
//	               /actuator/health/readiness, as Spring Boot with management.endpoint.health.probes.enabled)
//	UNHEALTHY      "1": the health endpoint answers 503 {"status":"DOWN"} while "/" still works
//	START_DELAY    seconds to wait before listening (a slow start)
//	CRASH_AFTER    seconds after which the process exits with status 1 (a crash)
//	SLOW_MS        milliseconds "/" takes to answer (a slow request, for the drain)
//	EXIT_ON_TERM   "1": exit at once on SIGTERM, dropping requests in flight (Spring Boot before 3.4 by default)
//	ROOT_404       "1": nothing on "/": 404 with a body that changes on every request (Spring's error page has a
//	               timestamp); the version stays on /version
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

const defaultHealthPath = "/actuator/health"

type config struct {
	version    string
	port       int
	healthPath string
	unhealthy  bool
	startDelay time.Duration
	crashAfter time.Duration
	slow       time.Duration
	exitOnTerm bool
	root404    bool
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{version: "dev", port: 8080, healthPath: defaultHealthPath}
	var errs []error
	if v := getenv("VERSION"); v != "" {
		c.version = v
	}
	if v := getenv("HEALTH_PATH"); v != "" {
		c.healthPath = v
	}
	c.unhealthy = getenv("UNHEALTHY") == "1"
	c.exitOnTerm = getenv("EXIT_ON_TERM") == "1"
	c.root404 = getenv("ROOT_404") == "1"
	intVar := func(key string, dst *int, min int) {
		v := getenv(key)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			errs = append(errs, fmt.Errorf("%s=%q: want an integer >= %d", key, v, min))
			return
		}
		*dst = n
	}
	var delay, crash, slow int
	intVar("PORT", &c.port, 1)
	intVar("START_DELAY", &delay, 0)
	intVar("CRASH_AFTER", &crash, 0)
	intVar("SLOW_MS", &slow, 0)
	c.slow = time.Duration(slow) * time.Millisecond
	c.startDelay = time.Duration(delay) * time.Second
	c.crashAfter = time.Duration(crash) * time.Second
	return c, errors.Join(errs...)
}

func handler(c config) http.Handler {
	mux := http.NewServeMux()
	health := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if c.unhealthy {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"status":"DOWN"}`)
			return
		}
		fmt.Fprintln(w, `{"status":"UP"}`)
	}
	mux.HandleFunc(c.healthPath, health)
	if c.healthPath == defaultHealthPath {
		mux.HandleFunc(defaultHealthPath+"/readiness", health)
	}
	version := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, c.version)
	}
	mux.HandleFunc("/version", version)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(c.slow)
		if c.root404 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"timestamp":%q,"status":404,"error":"Not Found","path":%q}`+"\n",
				time.Now().Format(time.RFC3339Nano), r.URL.Path)
			return
		}
		version(w, r)
	})
	return mux
}

func main() {
	c, err := loadConfig(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	if c.crashAfter > 0 {
		time.AfterFunc(c.crashAfter, func() {
			log.Printf("crashing after %s as asked by CRASH_AFTER", c.crashAfter)
			os.Exit(1)
		})
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	select {
	case <-time.After(c.startDelay):
	case <-ctx.Done():
		return
	}
	srv := &http.Server{Addr: fmt.Sprintf(":%d", c.port), Handler: handler(c), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		if c.exitOnTerm {
			log.Printf("SIGTERM: exiting at once as asked by EXIT_ON_TERM")
			os.Exit(0)
		}
		// Finish the requests in flight on SIGTERM (docker stop) so a drained colour loses nothing.
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	log.Printf("testapp %s listening on :%d, health on %s", c.version, c.port, c.healthPath)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
