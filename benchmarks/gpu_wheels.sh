#!/usr/bin/env bash
# Run HERE before a GPU session: fetch the wheels the lent GPU machine's image lacks (diffusers,
# the transformers we test with and the regex it needs, platformdirs, bitsandbytes) into .whl/,
# which git ignores. With the tree they must stay under the 64 MiB a device call carries
# (about 62 MiB of wheels today; the script prints the total).
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
    "platformdirs==$(version platformdirs)" "regex==$(version regex)" bitsandbytes==0.50.2
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
wheels=$(du -cb .whl/*.whl | tail -1 | cut -f1)
echo "wheels $((wheels / 1048576)) MiB + tree $((tree / 1048576)) MiB of the 64 MiB a device call carries"
[ $((wheels + tree)) -lt $((64 * 1048576)) ] || { echo "too much to carry"; exit 1; }
