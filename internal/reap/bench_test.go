package reap

import (
	"fmt"
	"testing"
)

// BenchmarkReap times `reap --yes` of 12 expired training stacks on the real
// engine with --parallel 1 and 4. Creating the stacks is not timed. Run with
// -benchtime 1x: each iteration deploys 12 stacks first.
func BenchmarkReap(b *testing.B) {
	const stacks = 12
	for _, parallel := range []int{1, 4} {
		b.Run(fmt.Sprintf("parallel-%d", parallel), func(b *testing.B) {
			useRealEngine(b)
			for i := range b.N {
				b.StopTimer()
				fixtures := make([]fixture, stacks)
				for j := range fixtures {
					fixtures[j] = fixture{name: fmt.Sprintf("class-%d-%02d", i, j), outputs: training("2000-01-01T00:00:00Z")}
				}
				deploy(b, fixtures)
				b.StartTimer()
				stdout, stderr, code := runReap("--yes", "--parallel", fmt.Sprint(parallel))
				if code != exitOK {
					b.Fatalf("exit %d; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*stacks), "ms/stack")
		})
	}
}
