#!/bin/bash
# The real-LOL loss study (issue 23): every number and picture in docs/loss_study comes from this script.
#   usage, from the repository root: LOL=<full LOL> [REF=<released checkpoints>] [RUNS=runs] scripts/loss_study.sh
# LOL: the full LOL-v1 (our485 + eval15; ../shared/lol/README.md says where the 485 come from).
# Re-running continues: finished (variant, seed) runs are read back, an interrupted one resumes.
# About 100 minutes of training and scoring on 2 CPU cores (2026-11-30: AVX-512 + AVX512_BF16, by its speed an AMD
# EPYC Zen 4; see docs/real_lol/README.md#machine), then about 10 for the anatomy (9.5 min measured).
set -euo pipefail
LOL=${LOL:-/work/data/LOL}
REF=${REF:-../shared/kind_reference/checkpoints}
RUNS=${RUNS:-runs}
kind-tf2 lab --stage=restoration --data_dir="$LOL" \
  --decom_checkpoint="$REF/decom_net_train" --illumination_checkpoint="$REF/illumination_adjust_net_train" \
  --out="$RUNS/loss_study" --preset=cpu --epochs=3 --seeds=3 --log_every=58 \
  --variants="default;l1:1;charbonnier:1;ms_ssim:0.84,l1:0.16;l2:1,grad:1,ssim:1,color:1;l2:1,laplacian:1,ssim:1;l2:1,ssim:1"
kind-tf2 anatomy --images="$LOL/eval15/high" --low_images="$LOL/eval15/low" --out="$RUNS/anatomy_eval15"
# The small outputs, committed to docs/loss_study/ (next to this scripts/ folder).
HERE=$(dirname "$0")/../docs/loss_study
mkdir -p "$HERE/lab" "$HERE/anatomy"
cp "$RUNS"/loss_study/{results.md,results.csv,results.json,metrics.png,differences.png,curves.png,samples.png} "$HERE/lab/"
cp "$RUNS"/anatomy_eval15/{summary.md,correlations.md,anatomy.csv,metrics.csv,responses.png,heatmaps.png} "$HERE/anatomy/"
# Committed at 1600 and 1400 px wide, to keep the repository small (the run's own files are full size).
python - "$HERE" <<'PY'
import sys
from PIL import Image
for name, width in (("lab/samples.png", 1600), ("anatomy/heatmaps.png", 1400)):
    path = f"{sys.argv[1]}/{name}"
    im = Image.open(path).convert("RGB")
    if im.width > width:
        im = im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
    im.save(path, optimize=True)
PY
