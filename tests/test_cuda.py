"""The CUDA path against the CPU, on tiny models: skipped without a CUDA device (``scripts/gpu_check.sh`` runs
``pytest -m cuda`` on a lent GPU)."""

from __future__ import annotations

import pytest
import torch

from optical.distill import FrozenPrefix, ProjectedTextEncoder, shared_prefix_embeddings
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
