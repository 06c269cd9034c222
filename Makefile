# tcpscale: the entry points.  `make` builds, `make test` runs every test,
# `make bench` runs a benchmark suite and writes its report, `make gate`
# judges it against its history.
SUITE ?= default
PYTHON := /usr/bin/python3
COMPONENTS := loadgen refstack

.PHONY: all deps test bench report gate clean $(COMPONENTS)

all: $(COMPONENTS)

$(COMPONENTS):
	$(MAKE) -C $@

deps:
	@sh scripts/deps.sh

test: deps all
	@bash tests/run-all.sh

bench: deps all
	./tcpscale run $(SUITE)

# Regenerate the report of a stored run: make report RUN=<run-id>
report:
	./tcpscale report $(RUN)

# Judge a run (default: the latest) against the history of its suite, as a
# nightly CI does after `make bench SUITE=nightly`; GATE_ARGS passes options
# (e.g. GATE_ARGS="--baseline RUN -o gate-out").  Exit 0 pass, 1 regression,
# 3 unknown cells only, 2 usage error.  Unknown cells are re-run, hence the
# build.
gate: deps all
	./tcpscale gate $(GATE_ARGS) $(RUN)

clean:
	for c in $(COMPONENTS); do $(MAKE) -C $$c clean; done
	rm -rf build
