# tcpscale: the entry points.  `make` builds, `make test` runs every test,
# `make bench` runs a benchmark suite and writes its report.
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

clean:
	for c in $(COMPONENTS); do $(MAKE) -C $$c clean; done
	rm -rf build
