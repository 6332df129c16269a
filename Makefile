# The two README commands, and a few more.
.PHONY: demo test lint sanity version-matrix bench clean

demo:  ## Deploy the example app to a local systemd container on http://127.0.0.1:8080/
	bash scripts/demo.sh

test:  ## Lint, ansible-test sanity, unit tests, syntax on each ansible-core, every Molecule scenario
	bash scripts/test.sh

bench:  ## Deploy the example app to a container and measure it (docs/performance.md), 10-12 minutes
	bash scripts/bench.sh

lint:
	bash scripts/bootstrap.sh bookworm && . .venv/bin/activate && yamllint --strict . && ansible-lint --offline

sanity:  ## ansible-test sanity, every test, no ignore file (scripts/sanity.sh)
	bash scripts/sanity.sh

version-matrix:  ## Syntax checks and ansible-test sanity on each ansible-core in requires_ansible's range, by hand
	bash scripts/version-matrix.sh

clean:
	docker rm -f pydeploy-demo pydeploy-bench pydeploy-bench-floor >/dev/null 2>&1 || true
