# GPU machine, after the GGUF's parts are in ~/stage (stage_chunks.sh, or ../shared/tools/gpu-stage-gemma's four
# chunks) and this call carries
# .gpu-stage/extra (tokenizer files) and .whl (wheels the image lacks): packages, then Gemma-3-270M converted once.
set -eu
mkdir -p /tmp/site
ls .whl/*.whl | grep -v -e transformers- -e huggingface_hub- -e hf_xet- -e kernels- \
  | xargs pip install -q --no-deps --no-index --target /tmp/site 2>&1 | tail -2
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 USE_HUB_KERNELS=NO
# cm2 runs from the checkout on PYTHONPATH, not installed: register its entry points (BFCL's tool environment)
d=/tmp/site/cm2_checkout-0.dist-info && mkdir -p $d && printf 'Metadata-Version: 2.1\nName: cm2-checkout\nVersion: 0\n' > $d/METADATA
python3 -c "import tomllib; e = tomllib.load(open('pyproject.toml', 'rb'))['project']['entry-points']
print(''.join(f'[{g}]\n' + ''.join(f'{k} = {v}\n' for k, v in m.items()) for g, m in e.items()))" > $d/entry_points.txt
# an earlier session's torch.compile caches (device_run.sh says where they go), when this call carries them
if ls .gpu-stage/cc/cc.tgz.part* > /dev/null 2>&1; then
  cat .gpu-stage/cc/cc.tgz.part* | tar -xzf - -C ~ && echo "compile cache: $(du -sm ~/cc | cut -f1) MiB"
fi
# NO_BASE=1: no base model, for a session that restores a seed's SFT model (device_restore.sh) and evaluates no
# base: the GGUF's four staging calls are saved
if [ -z "${NO_BASE:-}" ]; then
  cat ~/stage/*.part0* > ~/gemma.gguf
  echo "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818  $HOME/gemma.gguf" | sha256sum -c
  mkdir -p ~/tok && cp .gpu-stage/extra/tok/tokenizer_config.json .gpu-stage/extra/tok/chat_template.jinja ~/tok/
  gunzip -c .gpu-stage/extra/tok/tokenizer.json.gz > ~/tok/tokenizer.json
  python3 -c "from cm2.train.gemma import prepare_gemma270m as p; print(p('$HOME/gemma', gguf='$HOME/gemma.gguf', tokenizer_from='$HOME/tok'))" 2>&1 | tail -2
fi
# the CLI imports its server modules at the top (starlette, uvicorn, sse-starlette must be among the wheels):
# fail here, not minutes later in the detached experiment
python3 -c "import cm2.cli.root, torch, transformers, trl, cm2.tools.environments as t, cm2.benchmarks.bfcl.environment as b; print(torch.__version__, transformers.__version__, trl.__version__, t.environment_name('bfcl')); b.load_entry('multi_turn_base_0')"
