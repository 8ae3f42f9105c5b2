# deploylab — the README's commands. `make plan STACK=training` and `make test` work on a fresh machine.
SHELL := /bin/bash
export PATH := $(CURDIR)/.tools/bin:/usr/local/go/bin:$(PATH)
STACK ?= training
FUZZTIME ?= 10s

.PHONY: help plan deps tools k8s-tools lint test test-go fuzz boot-test bench bench-plan bench-deploy bench-reap

help:
	@echo "make plan STACK=dev|prod|training   offline plan, no cloud account"
	@echo "make test                            every test (installs packages and tools first)"
	@echo "make bench                           benchmarks (numbers go to docs/BENCHMARKS.md)"

plan:
	go run ./cmd/deploylab plan --stack $(STACK) --out out/$(STACK)

deps:
	bash scripts/install-deps.sh

tools:
	bash scripts/tools.sh

# kube-apiserver, kube-controller-manager, kubectl and pulumi-resource-kubernetes for the class tests, cached in
# ~/.cache/deploylab/k8s (cold: about 20-40 minutes and 5 GB at peak; warm: nothing rebuilt).
k8s-tools:
	nice bash scripts/k8s-tools.sh

lint: deps tools
	shellcheck --version | head -2
	shellcheck scripts/*.sh .ci/run $$(find components test -name '*.sh' 2>/dev/null)
	actionlint -color=false .github/workflows/*.yml
	go vet ./...

test-go: deps tools k8s-tools
	go test -count=1 -timeout 30m ./...

fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

# Boots rendered user data on a Debian 12 rootfs: the dev app host (keys only), a training student's host
# (passwords, fail2ban), and dev's Jenkins controller as far as it goes without its image (up to docker build).
# About 9 minutes warm, 25 cold (debootstrap). The training stack is planned with GKE off: a student host of a GKE
# class installs kubectl from pkgs.k8s.io, which this machine cannot reach.
boot-test: deps
	rm -rf .cache/plan-dev .cache/plan-training .cache/boot-userdata .cache/boot-stack && mkdir -p .cache/boot-userdata .cache/boot-stack
	go run ./cmd/deploylab plan --stack dev --out .cache/plan-dev >/dev/null
	sed '/deploylab:gke:/,$$ s/^    enabled: true$$/    enabled: false/' stacks/Pulumi.training.yaml >.cache/boot-stack/Pulumi.training.yaml
	go run ./cmd/deploylab plan --config .cache/boot-stack/Pulumi.training.yaml --out .cache/plan-training >/dev/null
	cp .cache/plan-dev/userdata/app.yaml .cache/boot-userdata/dev-app.yaml
	cp .cache/plan-training/userdata/student-alice.yaml .cache/boot-userdata/training-student-alice.yaml
	cp .cache/plan-dev/userdata/jenkins.yaml .cache/boot-userdata/dev-jenkins.yaml
	cp .cache/plan-dev/plan.json .cache/boot-userdata/dev-app.plan.json
	cp .cache/plan-training/plan.json .cache/boot-userdata/training-student-alice.plan.json
	bash scripts/boot-test.sh .cache/boot-userdata

test: lint test-go fuzz boot-test

bench: bench-plan bench-deploy bench-reap

bench-plan:
	go test -run '^$$' -bench 'BenchmarkPlanClass' -benchtime 3x ./internal/plan

bench-deploy: deps
	go test -run '^$$' -bench BenchmarkDeploy -benchtime 20x -timeout 60m ./internal/deploytest
	go test -run '^$$' -bench BenchmarkDrain -benchtime 20x -timeout 60m ./internal/deploytest

bench-reap: tools
	go test -run '^$$' -bench . -benchtime 1x -timeout 30m ./internal/reap
