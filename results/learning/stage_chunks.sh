# Here, after ../shared/tools/gpu-stage-gemma: Gemma's GGUF in five parts of at most 50 MiB (.gpu-stage/s1..s5,
# git-ignored), so each staging call carries one part with the whole working tree (its four ~61 MiB chunks
# leave under 3 MiB for the tree, which results/ outgrew). Then, back to back while the machine is warm:
#   carry [".gpu-stage/sN"]: mkdir -p ~/stage && cp .gpu-stage/sN/* ~/stage/      (N = 1..5)
# and device_setup.sh joins them (~/stage/*.part0*) and checks the sha256. Make the first call alone and batch the
# rest only once it has a machine: a failed start is charged for every call of a batch (run 7 lost 16 minutes).
set -eu
cd "$(git rev-parse --show-toplevel)"
whole=$(mktemp)
trap 'rm -f "$whole"' EXIT
cat .gpu-stage/p1/*.part00 .gpu-stage/p2/*.part01 .gpu-stage/p3/*.part02 .gpu-stage/p4/*.part03 > "$whole"
echo "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818  $whole" | sha256sum -c --quiet
rm -rf .gpu-stage/s[1-5]
for n in 1 2 3 4 5; do mkdir -p .gpu-stage/s$n; done
split -b 50M -d -a 2 "$whole" .gpu-stage/part
for n in 1 2 3 4 5; do mv ".gpu-stage/part0$((n - 1))" ".gpu-stage/s$n/gemma-3-270m-q4_k_m.gguf.part0$((n - 1))"; done
du -sh .gpu-stage/s[1-5]
echo "working tree: $(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1) bytes tracked"
