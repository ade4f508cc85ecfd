#!/usr/bin/env bash
# Issue 31, step 1: a first screen of Restoration_net objectives on our485's validation split (466..484),
# never eval15, behind the released DecomNet and Illumination_adjust_net, at the cpu preset's settings for
# a short schedule (6 epochs of 116 steps: 4 x 192², lr 1e-4 with cosine decay, precision auto).
# Resumable: re-running it reads the finished variants back and resumes the one that was interrupted.
#   LOL=<full LOL-v1, 485 our485 pairs> REF=../shared/kind_reference OUT=runs/objective_screen scripts/objective_screen.sh
set -euo pipefail
LOL=${LOL:?the full LOL-v1 folder (our485 with 485 pairs, eval15)}
REF=${REF:-../shared/kind_reference}
OUT=${OUT:-runs/objective_screen}
EPOCHS=${EPOCHS:-6}
SEEDS=${SEEDS:-1}
kind-tf2 lab --stage=restoration --data_dir="$LOL" --scoring=validation --preset=cpu --epochs="$EPOCHS" \
  --seeds="$SEEDS" --out="$OUT" \
  --decom_checkpoint="$REF/checkpoints/decom_net_train" \
  --illumination_checkpoint="$REF/checkpoints/illumination_adjust_net_train" \
  --variants="default;l2:1,grad:1,ssim:1,color:0.1;l2:1,grad:1,ssim:1,color:0.5;l1:1,grad:1,ssim:1;charbonnier:1,grad:1,ssim:1"
