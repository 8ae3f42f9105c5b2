#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for a bounded time each (default 10s).
#
# Go's -fuzztime can end a healthy run with a bare "context deadline exceeded" and no failing input
# (golang/go#75804). Such a run is tried once more; a failure that wrote an input under testdata/fuzz, or a
# second failure, fails the script.
set -o errexit -o nounset -o pipefail

GO="${GO:-go}"

main() {
	local fuzztime="${1:-10s}"
	local failed=0 pkg target
	while read -r pkg target; do
		if ! fuzz_once "$pkg" "$target" "$fuzztime"; then
			failed=1
		fi
	done < <(list_targets)
	return "$failed"
}

# list_targets prints "package target" for every func Fuzz* in a _test.go file.
list_targets() {
	grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sort | while read -r file; do
		local dir
		dir="./$(dirname "${file#./}")"
		grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //' | while read -r target; do
			echo "$dir $target"
		done
	done
}

fuzz_once() {
	local pkg="$1" target="$2" fuzztime="$3" log attempt
	log="$(mktemp)"
	for attempt in 1 2; do
		echo "fuzz: $pkg $target for $fuzztime (attempt $attempt)"
		if "$GO" test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
			tail -n 3 "$log"
			rm -f "$log"
			return 0
		fi
		if grep -q 'Failing input written' "$log" || ! grep -q 'context deadline exceeded' "$log"; then
			break
		fi
		echo "fuzz: $target ended on a bare deadline with no failing input (golang/go#75804); trying once more" >&2
	done
	cat "$log" >&2
	rm -f "$log"
	echo "fuzz: FAIL $pkg $target" >&2
	return 1
}

main "$@"
