SHELL := /bin/bash

.PHONY: build test bench fuzz run services-up services-down clean

build:
	go build -o bin/tinbao ./cmd/tinbao

# go vet, gofmt check and go test -race against throwaway Postgres + Redis.
test:
	bash scripts/test.sh test

bench:
	bash scripts/test.sh bench

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
