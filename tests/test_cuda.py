"""The CUDA path against the CPU, on tiny models: skipped without a CUDA device (``scripts/gpu_check.sh`` runs
``pytest -m cuda`` on a lent GPU)."""

from __future__ import annotations

import pytest
import torch

from optical.distill import FrozenPrefix, ProjectedTextEncoder, shared_prefix_embeddings
from optical.scoring import late_scores, rank_late
from optical.transport import cost_matrix, sinkhorn_plan
from tests.fakes import tiny_text_encoder

pytestmark = pytest.mark.cuda
TEXTS = ["der hund", "ein roter apfel und ein gruener baum", "a dog", "das haus"]


def test_sinkhorn_on_cuda_equals_the_cpu():
    gen = torch.Generator().manual_seed(0)
    S, E = torch.randn(16, 12, 32, generator=gen), torch.randn(16, 9, 32, generator=gen)
    cpu = sinkhorn_plan(cost_matrix(S, E), 0.05, n_iter=500, tol=1e-6)
    gpu = sinkhorn_plan(cost_matrix(S.cuda(), E.cuda()), 0.05, n_iter=500, tol=1e-6)
    assert torch.allclose(gpu.plan.cpu(), cpu.plan, atol=1e-5) and torch.allclose(gpu.value.cpu(), cpu.value, atol=1e-5)


@torch.no_grad()
def test_frozen_layer_cache_on_cuda_equals_the_cpu_and_runs_in_bf16():
    torch.manual_seed(0)
    model = ProjectedTextEncoder(tiny_text_encoder(layers=3), 8).eval()
    cpu = shared_prefix_embeddings({"m": model}, TEXTS, n_frozen=1)["m"]
    model.cuda()
    gpu = shared_prefix_embeddings({"m": model}, TEXTS, n_frozen=1)["m"]
    assert torch.allclose(gpu, cpu, atol=1e-4)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        low = shared_prefix_embeddings({"m": model}, TEXTS, n_frozen=1)["m"]
    assert torch.nn.functional.cosine_similarity(low, cpu, dim=-1).min() > 0.98
    prefix = FrozenPrefix.for_top_layers(model, 2, TEXTS)
    idx = torch.tensor([1, 0])
    full = model({k: v.cuda() for k, v in model.tokenize([TEXTS[i] for i in idx]).items()})
    assert torch.allclose(prefix.forward(model, idx)["sentence_embedding"], full["sentence_embedding"], atol=1e-4)


def test_late_scores_and_ranking_on_cuda_equal_the_cpu_and_run_in_bf16():
    gen = torch.Generator().manual_seed(0)
    text, regions = torch.randn(40, 12, 32, generator=gen), torch.randn(30, 16, 32, generator=gen)
    text_mask = torch.arange(12)[None, :] < torch.randint(1, 13, (40, 1), generator=gen)
    region_mask = torch.ones(30, 16, dtype=torch.bool)
    region_mask[-1, 1:] = False  # a one-region image
    cpu = late_scores(text, text_mask, regions, region_mask, chunk=7)
    gpu = late_scores(text.cuda(), text_mask.cuda(), regions.cuda(), region_mask.cuda(), chunk=7)
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-5)
    top, idx = rank_late(text.cuda(), text_mask.cuda(), regions.cuda(), region_mask.cuda(), k=5, chunk=9)
    assert torch.equal(idx.cpu(), cpu.topk(5, dim=1).indices)
    assert torch.allclose(top.cpu(), cpu.topk(5, dim=1).values, atol=1e-5)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        low = late_scores(text.cuda(), text_mask.cuda(), regions.cuda(), region_mask.cuda(), chunk=7)
    assert (low.float().cpu() - cpu).abs().max() < 0.05
