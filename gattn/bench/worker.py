"""``python -m gattn.bench.worker CASE PARAMS_JSON``: measure one case, print one JSON line."""

from __future__ import annotations

import json
import sys

import torch

from .cases import build_case
from .measure import measure_step


def main(argv: list[str]) -> int:
    case, params = argv[0], json.loads(argv[1])
    device = params.pop("device", "cpu")
    repeats = params.pop("repeats", 5)
    threads = params.pop("threads", None)
    if threads:
        torch.set_num_threads(int(threads))
    torch.manual_seed(0)
    step, extra = build_case(case, device, params)
    result = measure_step(step, device=device, repeats=repeats)
    result.extra.update(extra)
    print(json.dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
