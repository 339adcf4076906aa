# kubedebug.lab — entry points. Two commands matter after clone:
#   make lab     set up this machine and run the local debug lab
#   make test    run every test (what .ci/run calls)
SHELL := /bin/bash
.DEFAULT_GOAL := help
HACK := $(CURDIR)/hack

.PHONY: help bootstrap lab test lint unit sanity integration molecule bench clean

help:
	@echo "make lab    - set up this machine and run the local debug lab (LAB_ARGS=\"-e kubedebug_lab_version=v1.20.2\" for the offline release)"
	@echo "make test   - run every test: ruff, pytest, ansible-lint, ansible-test sanity, integration, molecule"
	@echo "make bench  - benchmarks (print figures and ratios)"
	@echo "stages alone: make lint | unit | sanity | integration | molecule"

bootstrap:
	$(HACK)/bootstrap.sh

lab: bootstrap
	$(HACK)/lab.sh $(LAB_ARGS)

test: bootstrap
	$(HACK)/test.sh all

lint unit sanity integration molecule: bootstrap
	$(HACK)/test.sh $@

bench: bootstrap
	$(HACK)/bench.sh

clean:
	rm -rf .build .pytest_cache .ruff_cache .hypothesis
