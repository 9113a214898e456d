#!/bin/bash
# msgat_v6 continued on the clean scans, fresh AdamW, peak lr 3e-4 (a gentler restart)
cd /work/main && source .venv/bin/activate
OMP_NUM_THREADS=1 nmc train msgat --data ../shared/data/osd -o /work/msgat_run8/msgat_lr3e-4.pt \
  --cache /work/msgat_run8/cache --init nmc/models/msgat_v6.pt --loss cloud \
  --lr 3e-4 --steps 1000000 --time-limit ${LIMIT:-75} --threads 1 --val-every 500 $RESUME
