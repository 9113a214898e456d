#!/bin/bash
# control: msgat_v5 continued on the clean scans only, same schedule as train.sh
cd /work/main && source .venv/bin/activate
OMP_NUM_THREADS=1 nmc train msgat --data ../shared/data/osd -o /work/msgat_run8/msgat_clean.pt \
  --cache /work/msgat_run8/cache --init nmc/models/msgat_v5.pt --loss cloud \
  --lr 1e-3 --steps 1000000 --time-limit ${LIMIT:-80} --threads 1 --val-every 500 $RESUME
