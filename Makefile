SHELL := /bin/bash

.PHONY: build test bench fuzz faults run services-up services-down clean

build:
	go build -o bin/tinbao ./cmd/tinbao

# go vet, gofmt check and go test -race against throwaway Postgres + Redis.
test:
	bash scripts/test.sh test

bench:
	bash scripts/test.sh bench

# the fault drills in full (kill -9, Postgres stopped, Redis killed, SIGTERM, provider
# faults; two replicas), about 7 minutes; prints the table and writes it to bin/faults.md.
# A short version runs in make test.
faults:
	mkdir -p bin
	FAULTS=full FAULTS_OUT=$(CURDIR)/bin/faults.md go test -count=1 -run '^TestFaultDrills$$' -timeout 30m -v ./cmd/tinbao

# every fuzz target for a while (FUZZTIME seconds each, default 20)
fuzz:
	bash scripts/fuzz.sh $${FUZZTIME:-20}

# tinbao with persistent dev services in .dev/ (see scripts/run.sh).
run:
	bash scripts/run.sh

services-up:
	bash scripts/services.sh up .dev

services-down:
	bash scripts/services.sh down .dev

clean:
	rm -rf bin/
