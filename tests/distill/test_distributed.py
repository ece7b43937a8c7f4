"""DDP on 2 CPU processes (gloo): ranks follow rank 0's early-stopping decision; a crash on rank 0 frees the others."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import torch
    import torch.distributed as dist
    from optical.distill._models import DualEncoder
    from optical.distill._teacher import train_teacher
    from optical.distill.distributed import process_group
    from optical.config import TrainConfig
    from tests.fakes import CAPTIONS, tiny_text_encoder

    out, case = Path(sys.argv[1]), sys.argv[2]
    # rank 1 computes a slightly different score at epoch 3: alone it would see an improvement and go on
    scores = {0: [1.0, 2.0, 2.0, 2.0], 1: [1.0, 2.0, 2.0 + 1e-9, 2.0 + 2e-9]}
    try:
        with process_group("cpu") as info:
            torch.manual_seed(0)
            teacher = DualEncoder(tiny_text_encoder(), embed_dim=8, image_dim=6)
            teacher.freeze(-1)
            if case == "crash" and info.rank == 0:
                validate = lambda: 1 / 0
            else:
                validate = iter(scores[info.rank]).__next__
            state = train_teacher(teacher, CAPTIONS, torch.randn(8, 6), CAPTIONS,
                                  TrainConfig(epochs=4, batch_size=4, lr=1e-3, patience=1), info, out / "work",
                                  validate=validate)
            (out / f"rank{info.rank}.json").write_text(json.dumps(
                {"epochs": [h["epoch"] for h in state.history], "val": [h["val"] for h in state.history],
                 "best_epoch": state.best_epoch}))
    except (ZeroDivisionError, RuntimeError) as err:
        rank = int(__import__("os").environ["RANK"])
        (out / f"rank{rank}.txt").write_text(f"{type(err).__name__}; group left: {dist.is_initialized()}")
        if rank == 0:  # stay alive: only the destroyed process group can free rank 1, not this process's exit
            deadline = time.time() + 60
            while not (out / "rank1.txt").exists() and time.time() < deadline:
                time.sleep(0.2)
    """
)


def _torchrun(tmp_path: Path, case: str, port: int) -> Path:
    script, out = tmp_path / "ddp_fit.py", tmp_path / case
    script.write_text(SCRIPT)
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           str(script), str(out), case]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_ranks_stop_at_rank_0s_epoch_when_their_scores_differ(tmp_path):
    out = _torchrun(tmp_path, "near-tie", 29611)
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1] == {"epochs": [1, 2, 3], "val": [1.0, 2.0, 2.0], "best_epoch": 2}


@pytest.mark.slow
def test_a_crash_on_rank_0_in_validation_does_not_leave_rank_1_waiting(tmp_path):
    out = _torchrun(tmp_path, "crash", 29612)
    assert (out / "rank0.txt").read_text() == "ZeroDivisionError; group left: False"
    assert (out / "rank1.txt").read_text().startswith("RuntimeError")  # its broadcast failed instead of hanging
