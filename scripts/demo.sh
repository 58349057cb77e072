#!/usr/bin/env bash
# Sets everything up and runs the main demo: the Fashion-MNIST CNN trained in eager mode and
# in graph mode, then the two runs side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh -DDUET_BUILD_TESTS=OFF -DDUET_BUILD_BENCH=OFF
EPOCHS=${EPOCHS:-3}
results=()
for mode in eager graph; do
  echo
  echo "=== train_fashion_mnist --mode $mode --epochs $EPOCHS ==="
  if out=$(./build/examples/train_fashion_mnist --mode "$mode" --epochs "$EPOCHS" --json \
           | tee /dev/stderr | tail -n 1); then
    results+=("$out")
  else
    echo "[demo] $mode mode did not run (see the message above)"
  fi
done
echo
python3 - "${results[@]}" <<'PY'
import json, sys
rows = [json.loads(a) for a in sys.argv[1:]]
if not rows:
    sys.exit("no run finished")
keys = ["mode", "epochs", "test_accuracy", "train_loss", "images_per_second", "peak_memory_bytes"]
print("| " + " | ".join(keys) + " |")
print("|" + "---|" * len(keys))
for r in rows:
    cells = []
    for k in keys:
        v = r.get(k, "")
        cells.append(f"{v:.4f}" if isinstance(v, float) else str(v))
    print("| " + " | ".join(cells) + " |")
PY
