#!/bin/sh
# Re-records tests/fixtures/reference-suite.json from the Python reference's own test suite.
# Usage: scripts/reference-suite/harvest.sh REFERENCE_CHECKOUT PYTHON
# (a checkout of github.com/sheneman/neural_compiler, and a Python with torch and pytest).
set -eu
ref=$1 python=$2
here=$(cd "$(dirname "$0")" && pwd)
records=$(mktemp)
cp "$here/conftest.py" "$ref/conftest.py"
(cd "$ref" && NC_HARVEST="$records" PYTHONPATH="$ref" "$python" -m pytest -q -p no:cacheprovider tests)
rm "$ref/conftest.py"
"$python" "$here/to_fixture.py" "$records" "$here/../../tests/fixtures/reference-suite.json"
rm "$records"
