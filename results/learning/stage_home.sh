# This machine, first thing in a session: builds what the GPU machine needs and git does not carry (a new
# checkout has none of it; everything lands in git-ignored folders):
#   .whl/                 wheels the device image lacks, for its Python 3.12 (device_setup.sh installs them)
#   .gpu-stage/extra/tok  Gemma's tokenizer files, as cm2 converts them here
#   .gpu-stage/s1 ... s5  the GGUF in five parts of at most 50 MiB (stage_chunks.sh)
# Needs the project's venv with the dev extra (the GGUF package and gguf). About 2 minutes.
set -eu
cd "$(git rev-parse --show-toplevel)"
mkdir -p .git/info
for path in /.whl/ /.gpu-stage/; do grep -qx "$path" .git/info/exclude 2>/dev/null || echo "$path" >> .git/info/exclude; done
# The image has torch, transformers, accelerate, peft, numpy and pyarrow; this is the rest of what the experiment
# imports (cm2's dependencies, TRL and datasets, BFCL's backends and what they import at load time).
python -m pip download -q -d .whl --no-deps --only-binary=:all: --implementation cp --python-version 3.12 \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  trl==1.16.0 datasets==5.2.0 dill multiprocess xxhash gguf starlette uvicorn sse-starlette h11 "pydantic>=2.6" \
  pydantic-core typing-inspection annotated-types typing_extensions pyyaml httpx httpcore anyio sniffio idna \
  certifi httpx2 openai jiter distro jsonschema jsonschema-specifications referencing rpds-py attrs typer click \
  shellingham rich markdown-it-py mdurl pygments tqdm docstring-parser ijson overrides rank-bm25==0.2.2 \
  tree-sitter==0.21.3 tree-sitter-java==0.21.0 tree-sitter-javascript==0.21.4 tenacity bfcl-eval==2026.3.23 \
  python-dotenv requests urllib3 charset-normalizer pandas python-dateutil pytz tzdata six
# pydantic pins its core exactly: fetch the matching one if the line above got another
core=$(unzip -p .whl/pydantic-2*.whl '*/METADATA' | sed -n 's/^Requires-Dist: pydantic-core==//p')
ls .whl/pydantic_core-"$core"-* > /dev/null
echo ".whl: $(ls .whl | wc -l) wheels, $(du -sm .whl | cut -f1) MiB"
tok=$(mktemp -d)
trap 'rm -rf "$tok"' EXIT
python -c "from cm2.train.gemma import prepare_gemma270m as p; p('$tok/gemma')" > /dev/null 2>&1
mkdir -p .gpu-stage/extra/tok
cp "$tok"/gemma/tokenizer_config.json "$tok"/gemma/chat_template.jinja .gpu-stage/extra/tok/
gzip -c "$tok"/gemma/tokenizer.json > .gpu-stage/extra/tok/tokenizer.json.gz
bash ../shared/tools/gpu-stage-gemma > /dev/null
bash results/learning/stage_chunks.sh
rm -rf .gpu-stage/p[1-4]
