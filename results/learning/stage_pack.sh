# This machine: a seed's SFT pack (cm2.train.portable, brought home by device_fetch.sh) cut into the parts that
# the next session carries up, one call each: .gpu-stage/up/NN/pack.tar.partNN of at most PART (default 52 MiB),
# so that each fits a call beside the working tree (64 MiB together; the tree is 7.8 MB with run 13's records and
# grows with each run's); UP names another folder (one per seed). On the GPU
# machine, one call per part:
#   carry [".gpu-stage/up/NN"]: mkdir -p ~/up && cp .gpu-stage/up/NN/* ~/up/
# and device_restore.sh joins them into ~/sft-pack (`portable unpack` checks every file's sha256).
# Usage: bash results/learning/stage_pack.sh PACK_DIR [MD5_FILE]
#   PACK_DIR: the pack's files as device_fetch.sh brought them (NAME, or its parts NAME.part00 ...: joined here);
#   MD5_FILE: pack_md5.txt from device_fetch.sh 0, checked before cutting.
set -eu
pack=$(cd "$1" && pwd)
md5=${2:+$(realpath "$2")}
cd "$(git rev-parse --show-toplevel)"
if ls "$pack"/*.part[0-9][0-9] > /dev/null 2>&1; then
  joined=$(mktemp -d)
  trap 'rm -rf "$joined"' EXIT
  for f in "$pack"/*; do
    name=$(basename "$f")
    case "$name" in
      *.part00) cat "$pack/${name%.part00}".part[0-9][0-9] > "$joined/${name%.part00}" ;;
      *.part[0-9][0-9]) ;;
      *) cp "$f" "$joined/" ;;
    esac
  done
  pack=$joined
fi
[ -f "$pack/portable.json" ] || { echo "$pack: no portable.json, not a pack" >&2; exit 2; }
if [ -n "$md5" ]; then (cd "$pack" && md5sum --quiet -c "$md5"); fi
up=${UP:-.gpu-stage/up}
rm -rf "$up"
mkdir -p "$up"
tar -cf - -C "$pack" . | split -b "${PART:-52M}" -d -a 2 - "$up"/pack.tar.part
for part in "$up"/pack.tar.part*; do
  n=${part##*.part}
  mkdir -p "$up/$n" && mv "$part" "$up/$n"/
done
ls "$up" | sed "s|^|$up/|"
echo "working tree: $(git ls-files -z | du -cb --files0-from=- | tail -1 | cut -f1) bytes tracked"
