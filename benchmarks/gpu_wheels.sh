#!/usr/bin/env bash
# Run HERE before a GPU session: fetch the wheels the lent GPU machine's image lacks (diffusers,
# the transformers we test with, platformdirs, bitsandbytes) into .whl/, which git ignores.
# With the tree they must stay under the 64 MiB a device call carries (about 63 MB today).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
py=.venv/bin/python; [ -x "$py" ] || py=python3
version() { "$py" -c "import importlib.metadata as m; print(m.version('$1'))"; }
rm -rf .whl && mkdir .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .whl \
    "diffusers==$(version diffusers)" "transformers==$(version transformers)" \
    "platformdirs==$(version platformdirs)" bitsandbytes
du -sh .whl
