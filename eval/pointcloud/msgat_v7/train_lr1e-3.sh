#!/bin/bash
# msgat_v6 continued on the clean scans, fresh AdamW, peak lr 1e-3 (msgat_v6's own recipe again)
cd /work/main && source .venv/bin/activate
OMP_NUM_THREADS=1 nmc train msgat --data ../shared/data/osd -o /work/msgat_run8/msgat_lr1e-3.pt \
  --cache /work/msgat_run8/cache --init nmc/models/msgat_v6.pt --loss cloud \
  --lr 1e-3 --steps 1000000 --time-limit ${LIMIT:-75} --threads 1 --val-every 500 $RESUME
