#!/bin/bash
# msgat_v6: msgat_v5 fine-tuned with noisy copies of half the training scans (colour noise up to 40 RGB levels)
cd /work/main && source .venv/bin/activate
OMP_NUM_THREADS=1 nmc train msgat --data ../shared/data/osd -o /work/msgat_run8/msgat_v6.pt \
  --cache /work/msgat_run8/cache --init nmc/models/msgat_v5.pt --colour-noise 40 --loss cloud \
  --lr 1e-3 --steps 1000000 --time-limit ${LIMIT:-85} --threads 1 --val-every 500 $RESUME
