#!/usr/bin/env bash
# One schedule probe of docs/real_lol/schedule_search.md (run from the repository root): train Restoration_net on the full our485 behind the
# released DecomNet (train_restoration.py trains on the original's [0:466]), then score it on the validation
# split (our485 sorted pairs 466..484) under gt_ratio with the released DecomNet and Illumination_adjust_net.
#   usage: LOL=<full LOL> VAL=<folder with low/ and high/ of pairs 466..484> REF=<released checkpoints> \
#          OUT=<folder> scripts/probe.sh NAME [train_restoration.py flags...]
# (`python -m kind_tf2.reproduce --validation` makes such a VAL folder: <out>/validation_split.)
set -u
name=$1; shift
out=$OUT/$name
start=$(date +%s)
python3 train_restoration.py --data_dir="$LOL" --decom_checkpoint="$REF/decom_net_train" \
  --checkpoint_dir="$out" --eval_every=100000 --log_every=20 --export_tf1=false "$@" > "$OUT/$name.train.log" 2>&1
echo "train rc=$? seconds=$(( $(date +%s) - start ))" >> "$OUT/$name.train.log"
python3 evaluate.py --input_dir="$VAL/low" --high_dir="$VAL/high" --protocol=gt_ratio \
  --checkpoint_dir="$REF" --restoration_checkpoint="$out" --output_dir="$out/val" > "$OUT/$name.val.log" 2>&1
grep "^mean" "$OUT/$name.val.log"
if [ -n "${EVAL15:-}" ]; then  # only for the precision check, never to choose a schedule
  python3 evaluate.py --input_dir="$LOL/eval15/low" --high_dir="$LOL/eval15/high" --protocol=gt_ratio \
    --checkpoint_dir="$REF" --restoration_checkpoint="$out" --output_dir="$out/eval15" > "$OUT/$name.eval15.log" 2>&1
  grep "^mean" "$OUT/$name.eval15.log"
fi
