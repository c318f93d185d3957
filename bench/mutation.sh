#!/bin/sh
# Mutation testing of the rule modules (config: [tool.mutmut] in pyproject.toml), on SQLite.
# mutmut maps each function to the tests that run it and runs only those for its mutants.
#   bench/mutation.sh                      every module
#   bench/mutation.sh 'app.screening*'     one module (mutant names are module.x_function__mutmut_N)
# Afterwards: `.venv/bin/mutmut results` lists survivors, `.venv/bin/mutmut show NAME` one diff.
set -eu
cd "$(dirname "$0")/.."
exec .venv/bin/mutmut run --max-children "${MUTMUT_CHILDREN:-2}" "$@"
