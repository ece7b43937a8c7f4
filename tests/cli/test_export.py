"""``python -m optical export``: a run's student as a folder plain transformers loads, embedding as the run does."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

from optical.cli import main
from optical.distill._models import ProjectedTextEncoder
from tests.app.fixtures import build_runs

TEXTS = ["ein roter apfel", "the green tree", "a dog on the table", "le chat"]


@pytest.fixture
def tiny_run(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTICAL_CACHE", str(tmp_path / "cache"))
    return build_runs(tmp_path / "cache")["tiny"]


def _plain_transformers(folder, texts: list[str], prefix: str) -> torch.Tensor:
    """What the README says: prefix, tower, mean pooling, the Dense projection, L2 normalisation."""
    tokenizer, model = AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder).eval()
    proj = load_file(str(folder / "2_Dense" / "model.safetensors"))["linear.weight"]
    batch = tokenizer([prefix + t for t in texts], padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        states = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (states * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled @ proj.T, dim=-1)


def test_exported_student_matches_the_run(tiny_run, tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export", str(tiny_run), "mse", str(out)]) == 0
    student = ProjectedTextEncoder.load(tiny_run / "students" / "mse")
    cosine = (_plain_transformers(out, TEXTS, student.text.prefix) * student.encode(TEXTS)).sum(-1)
    assert cosine.min().item() >= 0.9999
    modules = json.loads((out / "modules.json").read_text())
    assert [m["path"] for m in modules] == ["", "1_Pooling", "2_Dense", "3_Normalize"]
    assert json.loads((out / "1_Pooling" / "config.json").read_text())["pooling_mode_mean_tokens"] is True
    readme = (out / "README.md").read_text()
    assert "tiny" in readme and "mean of the final token states" in readme and '"methods"' in readme

    assert main(["export", "tiny", "zero-shot", str(tmp_path / "teacher")]) == 0  # by run id too
    teacher_proj = load_file(str(tmp_path / "teacher" / "2_Dense" / "model.safetensors"))["linear.weight"]
    assert not torch.allclose(teacher_proj, student.proj.weight)


def test_export_refuses_a_non_empty_folder_and_unknown_methods(tiny_run, tmp_path, capsys):
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main(["export", str(tiny_run), "mse", str(full)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert sorted(p.name for p in full.iterdir()) == ["keep.txt"]
    assert main(["export", str(tiny_run), "optical+mse", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no trained model 'optical+mse'" in err and "mse" in err
    assert not (tmp_path / "x").exists()


def test_sentence_transformers_reads_the_export(tiny_run, tmp_path):
    st = pytest.importorskip("sentence_transformers")
    out = tmp_path / "exported"
    assert main(["export", str(tiny_run), "optical", str(out)]) == 0
    student = ProjectedTextEncoder.load(tiny_run / "students" / "optical")
    emb = torch.from_numpy(st.SentenceTransformer(str(out), device="cpu").encode(TEXTS))
    assert (emb * student.encode(TEXTS)).sum(-1).min().item() >= 0.9999
