# This machine: a seed's SFT pack (cm2.train.portable, brought home by device_fetch.sh) cut into the parts that
# the next session carries up, one call each: .gpu-stage/up/NN/pack.tar.partNN of at most 56 MiB, so that each
# fits a call beside the working tree (64 MiB together). On the GPU machine, one call per part:
#   carry [".gpu-stage/up/NN"]: mkdir -p ~/up && cp .gpu-stage/up/NN/* ~/up/
# and device_restore.sh joins them into ~/sft-pack (`portable unpack` checks every file's sha256).
# Usage: bash results/learning/stage_pack.sh PACK_DIR [MD5_FILE]
#   PACK_DIR: the pack's files under their own names (join device_fetch.sh's NAME.partNN first);
#   MD5_FILE: pack_md5.txt from device_fetch.sh 0, checked before cutting.
set -eu
pack=$(cd "$1" && pwd)
cd "$(git rev-parse --show-toplevel)"
[ -f "$pack/portable.json" ] || { echo "$pack: no portable.json, not a pack" >&2; exit 2; }
if [ -n "${2:-}" ]; then (cd "$pack" && md5sum --quiet -c "$(cd "$OLDPWD" && realpath "$2")"); fi
rm -rf .gpu-stage/up
mkdir -p .gpu-stage/up
tar -cf - -C "$pack" . | split -b 56M -d -a 2 - .gpu-stage/up/pack.tar.part
for part in .gpu-stage/up/pack.tar.part*; do
  n=${part##*.part}
  mkdir -p .gpu-stage/up/"$n" && mv "$part" .gpu-stage/up/"$n"/
done
ls .gpu-stage/up | sed 's/^/part /'
echo "working tree: $(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1) bytes tracked"
