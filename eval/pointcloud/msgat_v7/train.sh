#!/bin/bash
# msgat_v6 continued on the clean scans, fresh AdamW, peak learning rate $1:
#   train.sh 1e-3  (msgat_v7, msgat_v6's own recipe again)   train.sh 3e-4  (a gentler restart)
# writes $NMC_EXP_DIR/msgat_lr$1.pt; logs of both runs: train_lr1e-3.log, train_lr3e-4.log
LR=${1:?peak learning rate}
RUN=${NMC_EXP_DIR:-/work/msgat_run8}
cd /work/main && source .venv/bin/activate
OMP_NUM_THREADS=1 nmc train msgat --data ../shared/data/osd -o "$RUN/msgat_lr$LR.pt" \
  --cache "$RUN/cache" --init nmc/models/msgat_v6.pt --loss cloud \
  --lr "$LR" --steps 1000000 --time-limit ${LIMIT:-75} --threads 1 --val-every 500 $RESUME
