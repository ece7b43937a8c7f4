"""Teacher and students train on tiny models: every method, resume after a kill, DDP on 2 CPU processes."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from optical.distill._models import DualEncoder
from optical.distill._student import teacher_targets, train_student
from optical.distill._teacher import clip_loss, train_teacher
from optical.distill.distributed import DistInfo
from optical.distill.losses import TokenMass, create_loss, token_ids
from optical.distill import train as train_module
from optical.distill._prefix import FrozenPrefix, forward_texts
from optical.config import TrainConfig
from optical.distill.train import train_mode
from optical.encoders import create_text_encoder
from tests.fakes import CAPTIONS, FOREIGN, saved_tiny_text_encoder, tiny_text_encoder

CPU = DistInfo()


def _teacher() -> DualEncoder:
    teacher = DualEncoder(tiny_text_encoder(), embed_dim=8, image_dim=6)
    teacher.freeze(-1)
    return teacher


def test_clip_loss_soft_targets_for_identical_captions():
    text = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]), dim=-1)
    image = text.clone()
    scale = torch.tensor(4.0)
    swapped = image[[1, 0, 2]]
    # pairs 0 and 1 are one group (identical captions): which of their images comes first does not matter
    groups = torch.tensor([0, 0, 1])
    assert torch.allclose(clip_loss(text, image, groups, scale), clip_loss(text, swapped, groups, scale))
    # as separate groups, swapping their images is a mistake the loss sees
    distinct = torch.tensor([0, 1, 2])
    assert clip_loss(text, swapped, distinct, scale) > clip_loss(text, image, distinct, scale) + 0.1


def test_teacher_learns_and_keeps_best_epoch(tmp_path):
    torch.manual_seed(0)
    teacher = _teacher()
    feats = torch.randn(len(CAPTIONS), 6)
    config = TrainConfig(epochs=4, batch_size=4, lr=1e-3, head_lr=1e-2, patience=10)
    scores = iter([1.0, 3.0, 2.0, 0.5])
    state = train_teacher(
        teacher, CAPTIONS, feats, CAPTIONS, config, CPU, tmp_path / "work", validate=lambda: next(scores)
    )
    assert [h["epoch"] for h in state.history] == [1, 2, 3, 4]
    assert state.best_epoch == 2 and state.best_score == 3.0
    assert state.history[-1]["loss"] < state.history[0]["loss"]
    best = DualEncoder.load(tmp_path / "work" / "best")
    assert torch.allclose(best.image_proj.weight, teacher.image_proj.weight)
    assert not (tmp_path / "work" / "checkpoint" / "optimizer.pt").exists()  # the last epoch: no resume needs it


def test_early_stopping_stops_after_patience(tmp_path):
    teacher = _teacher()
    config = TrainConfig(epochs=10, batch_size=4, patience=2)
    state = train_teacher(
        teacher, CAPTIONS, torch.randn(8, 6), CAPTIONS, config, CPU, tmp_path / "w", validate=lambda: 1.0
    )
    assert state.epoch == 3  # best at 1, then two epochs without improvement


@pytest.mark.parametrize("method", ["mse", "optical", "optical+mse", "optical-uot", "optical-idf", "optical-content",
                                    "token-nn"])
def test_student_methods_reduce_their_loss(tmp_path, method):
    torch.manual_seed(0)
    teacher = _teacher()
    targets = teacher_targets(teacher, CAPTIONS)
    assert len(targets.token_embeddings) == len(CAPTIONS) == len(targets.input_ids)
    student = teacher.text_side()
    student.freeze(-1)
    options = {"mse": {}, "token-nn": {}, "optical-content": {"reg": 0.1, "tokens": "content"}}.get(method, {"reg": 0.1})
    loss = create_loss(method.replace("-content", ""), **options)
    mass = TokenMass.from_bitext(teacher.text, token_ids(teacher.text, FOREIGN), targets.input_ids)

    def full_loss() -> float:
        with torch.no_grad():
            student_out = mass.add(student(student.tokenize(FOREIGN)), "student")
            return float(loss(student_out, mass.add(targets.batch(torch.arange(8), CPU.device), "teacher")))

    before = full_loss()
    config = TrainConfig(epochs=8, batch_size=8, lr=1e-4, head_lr=1e-4)
    train_student(student, targets, list(range(8)), FOREIGN, loss, config, CPU, tmp_path / "s", mass=mass)
    student.eval()
    assert full_loss() < before - 0.02 * abs(before)  # scale-free optical+mse: log L_o + log L_m, negative
    # the teacher is untouched by distillation
    assert not any(p.grad is not None for p in teacher.parameters())


@pytest.mark.parametrize(("on_base", "method"), [(False, "mse"), (True, "mse"), (False, "optical+mse")])
def test_resume_continues_exactly(tmp_path, monkeypatch, on_base, method):
    """optical+mse: scale-free (each term divided by its value at that step) keeps no state, so resuming is exact;
    the first step's gradient record comes back from the checkpoint."""
    states = []

    def run(work: Path, epochs: int) -> torch.Tensor:
        torch.manual_seed(0)
        text = create_text_encoder(saved_tiny_text_encoder(tmp_path)) if on_base else tiny_text_encoder()
        teacher = DualEncoder(text, embed_dim=8, image_dim=6)
        student = teacher.text_side()
        student.freeze(1 if on_base else -1)
        targets = teacher_targets(teacher, CAPTIONS)
        config = TrainConfig(epochs=epochs, batch_size=4, lr=1e-3)
        loss = create_loss(method, **({"reg": 0.1} if method == "optical+mse" else {}))
        states.append(train_student(student, targets, list(range(8)), FOREIGN, loss, config, CPU, work))
        return student.proj.weight.detach().clone()

    straight = run(tmp_path / "a", 3)
    assert not (tmp_path / "a" / "checkpoint" / "optimizer.pt").exists()  # finished: nothing left to resume

    class Killed(Exception):
        pass

    def kill(info) -> None:  # the process dies right after epoch 1's checkpoint
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(train_module, "barrier", kill)
        with pytest.raises(Killed):
            run(tmp_path / "b", 3)
    state = json.loads((tmp_path / "b" / "checkpoint" / "trainer_state.json").read_text())
    assert state["epoch"] == 1 and (tmp_path / "b" / "checkpoint" / "optimizer.pt").is_file()
    # on a saved base, the checkpoint holds the trained top layer and the projection, not the whole tower
    assert (tmp_path / "b" / "checkpoint" / "model" / "text").is_dir() != on_base
    resumed = run(tmp_path / "b", 3)
    assert torch.allclose(straight, resumed, atol=1e-6)
    first_steps = [state.first_step for state in states]  # straight, resumed (the killed run returned nothing)
    if method == "optical+mse":
        assert first_steps[0]["weighting"] == "scale-free" and first_steps[1] == first_steps[0] | {
            "seconds": first_steps[1]["seconds"]}
    else:
        assert first_steps == [None, None]


def test_first_step_gradient_ratio_is_printed_and_recorded_once(tmp_path, monkeypatch, capsys):
    """optical+mse: the first step measures each term's gradient (two extra autograd.grad calls, that step only),
    prints one line and keeps the record in the state and its checkpoint; training is otherwise the same."""
    from optical.distill.losses import CombinedLoss

    def trained(weighting: str, work: Path, measure: bool = True):
        torch.manual_seed(0)
        teacher = _teacher()
        targets = teacher_targets(teacher, CAPTIONS)
        student = teacher.text_side()
        student.freeze(-1)
        loss = create_loss("optical+mse", reg=0.1, english=False, weighting=weighting)
        if not measure:
            loss.gradient_ratio = None  # train_student then never measures
        config = TrainConfig(epochs=2, batch_size=4, lr=1e-3, head_lr=1e-3)
        state = train_student(student, targets, list(range(8)), FOREIGN, loss, config, CPU, work, desc="optical+mse")
        return state, student.proj.weight.detach().clone()

    calls = []
    original = CombinedLoss.gradient_ratio
    monkeypatch.setattr(CombinedLoss, "gradient_ratio", lambda self, *a: calls.append(1) or original(self, *a))
    state, weight = trained("scale-free", tmp_path / "a")
    assert len(calls) == 1  # 2 epochs x 2 steps: the first step only
    record = state.first_step
    assert record["weighting"] == "scale-free" and record["optical_grad_norm"] > 0 and record["mse_grad_norm"] > 0
    assert record["grad_ratio"] == pytest.approx(record["optical_grad_norm"] / record["mse_grad_norm"])
    # scale-free: each gradient divided by its term's value
    assert record["weighted_grad_ratio"] == pytest.approx(record["grad_ratio"] * record["mse"] / record["optical"])
    saved = json.loads((tmp_path / "a" / "checkpoint" / "trainer_state.json").read_text())
    assert saved["first_step"] == record
    printed = [line for line in capsys.readouterr().err.splitlines() if "first step" in line]
    assert len(printed) == 1 and printed[0].startswith("optical+mse: first step: |grad OT| / |grad MSE| = ")
    # measuring changes nothing in the training itself
    _, unmeasured = trained("scale-free", tmp_path / "b", measure=False)
    assert torch.equal(weight, unmeasured)
    fixed, _ = trained("fixed", tmp_path / "c")
    assert fixed.first_step["weighting"] == "fixed"
    assert fixed.first_step["weighted_grad_ratio"] == pytest.approx(fixed.first_step["grad_ratio"])
    # mse has one term: nothing to measure
    assert train_student(_teacher().text_side(), teacher_targets(_teacher(), CAPTIONS), list(range(8)),
                         FOREIGN, create_loss("mse"), TrainConfig(epochs=1, batch_size=4), CPU, tmp_path / "d",
                         english=CAPTIONS).first_step is None


DDP_SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from pathlib import Path
    from optical.distill._models import DualEncoder
    from optical.distill._student import teacher_targets, train_student
    from optical.distill.distributed import init_distributed, is_main_process
    from optical.distill.losses import TokenMass, create_loss, token_ids
    from optical.config import TrainConfig
    from tests.fakes import CAPTIONS, FOREIGN, tiny_text_encoder

    out = Path(sys.argv[1])
    info = init_distributed("cpu")
    torch.manual_seed(0)
    teacher = DualEncoder(tiny_text_encoder(), embed_dim=8, image_dim=6)
    student = teacher.text_side()
    student.freeze(-1)
    targets = teacher_targets(teacher, CAPTIONS)
    config = TrainConfig(epochs=2, batch_size=4, lr=1e-3)
    train_student(student, targets, list(range(8)), FOREIGN, create_loss("optical+mse", reg=0.1), config, info, out / "work")
    if is_main_process(info):
        torch.save(student.proj.weight.detach(), out / "weight.pt")
    """
)


@pytest.mark.slow
def test_ddp_two_processes_match_one(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    weights = []
    for nproc in (1, 2):
        out = tmp_path / f"n{nproc}"
        out.mkdir()
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
               "--master_port", str(29500 + nproc), str(script), str(out)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        weights.append(torch.load(out / "weight.pt", weights_only=True))
    # same data, same global batch, gradients averaged: equal up to float summation order (Adam amplifies it)
    diff = (weights[0] - weights[1]).abs().max().item()
    assert diff < 1e-4, diff


def test_frozen_prefix_matches_full_forward_and_training(tmp_path):

    teacher = _teacher()
    assert FrozenPrefix.supported(teacher)
    # the tiny tower has 2 layers: no cache for -1 (all train) or 2 (all of them train)
    assert all(FrozenPrefix.for_top_layers(teacher, k, FOREIGN) is None for k in (-1, 2))
    idx = torch.tensor([3, 0, 5])
    with torch.no_grad():
        full = teacher(teacher.tokenize([FOREIGN[i] for i in idx]))
        heads_only = FrozenPrefix.for_top_layers(teacher, 0, FOREIGN)  # the whole tower cached: heads train
        assert heads_only.n_frozen == 2
        assert torch.allclose(full["sentence_embedding"], heads_only.forward(teacher, idx)["sentence_embedding"],
                              atol=1e-5)
    prefix = FrozenPrefix.for_top_layers(teacher, 1, FOREIGN)
    assert prefix is not None and prefix.n_frozen == 1
    with torch.no_grad():
        part = prefix.forward(teacher, idx)
    assert torch.allclose(full["sentence_embedding"], part["sentence_embedding"], atol=1e-5)
    mask = full["attention_mask"].bool()
    assert torch.allclose(full["token_embeddings"][mask], part["token_embeddings"][part["attention_mask"].bool()], atol=1e-5)
    assert torch.equal(full["input_ids"][mask], part["input_ids"][part["attention_mask"].bool()])

    targets = teacher_targets(teacher, CAPTIONS)
    weights = []
    for use_prefix in (False, True):
        torch.manual_seed(0)
        student = teacher.text_side()
        student.freeze(1)  # the top layer trains; layer 0 is the frozen prefix
        config = TrainConfig(epochs=2, batch_size=4, lr=1e-3)
        train_student(
            student, targets, list(range(8)), FOREIGN, create_loss("optical", reg=0.1), config, CPU,
            tmp_path / f"p{use_prefix}", prefix=prefix if use_prefix else None,
        )
        weights.append(student.proj.weight.detach().clone())
    assert torch.allclose(weights[0], weights[1], atol=1e-5)


def _one_step(student, prefix, idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Loss and gradients of one OPTICAL step on sentences ``idx``, in training mode, from a fixed RNG state."""
    targets = teacher_targets(student, CAPTIONS)
    student.zero_grad(set_to_none=True)
    train_mode(student)
    torch.manual_seed(1)
    out = forward_texts(student, FOREIGN, idx, prefix, torch.device("cpu"))
    loss = create_loss("optical", reg=0.1)(out, targets.batch(idx, torch.device("cpu")))
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in student.named_parameters() if p.requires_grad}


def test_frozen_prefix_and_full_forward_train_the_same_model_with_dropout(tmp_path):
    teacher = DualEncoder(tiny_text_encoder(layers=3, dropout=0.1), embed_dim=8, image_dim=6)
    student = teacher.text_side()
    student.freeze(1)  # layers 0-1 and the embeddings are frozen; layer 2 trains, with dropout 0.1
    prefix = FrozenPrefix.for_top_layers(student, 1, FOREIGN)
    idx = torch.tensor([3, 0, 5, 7])
    full_loss, full_grads = _one_step(student, None, idx)
    cached_loss, cached_grads = _one_step(student, prefix, idx)
    assert torch.allclose(full_loss, cached_loss, atol=1e-5), (full_loss, cached_loss)
    for name, grad in full_grads.items():
        assert torch.allclose(grad, cached_grads[name], atol=1e-5), name
    assert student.text.model.encoder.layer[2].training and not student.text.model.encoder.layer[1].training
    assert not student.text.model.embeddings.training
    # dropout is really on in the trainable layer: another RNG state gives another loss
    torch.manual_seed(2)
    other = create_loss("optical", reg=0.1)(forward_texts(student, FOREIGN, idx, prefix, torch.device("cpu")),
                                            teacher_targets(student, CAPTIONS).batch(idx, torch.device("cpu")))
    assert not torch.allclose(other.detach(), cached_loss, atol=1e-5)
    # and through fit(), which puts the model in training mode itself
    targets, weights = teacher_targets(teacher, CAPTIONS), []
    for use_prefix in (False, True):
        student = teacher.text_side()
        student.freeze(1)
        train_student(student, targets, list(range(8)), FOREIGN, create_loss("optical", reg=0.1),
                      TrainConfig(epochs=2, batch_size=4, lr=1e-3), CPU, tmp_path / f"p{use_prefix}",
                      prefix=prefix if use_prefix else None)
        weights.append(student.proj.weight.detach().clone())
    assert torch.allclose(weights[0], weights[1], atol=1e-5)


def test_frozen_prefix_warns_naming_what_is_missing(monkeypatch):
    student = _teacher().text_side()
    monkeypatch.delattr(student.text.core, "embeddings")  # a tower of a kind whose input embeddings are elsewhere
    with pytest.warns(RuntimeWarning, match=r"needs BertModel.embeddings; .*falls back to the full forward"):
        assert FrozenPrefix.for_top_layers(student, 1, FOREIGN) is None


def test_student_reads_the_english_side_and_stops_early_on_val(tmp_path):
    torch.manual_seed(0)
    teacher = _teacher()
    targets = teacher_targets(teacher, CAPTIONS)
    student = teacher.text_side()
    student.freeze(-1)
    loss = create_loss("mse", mse_english=True)
    config = TrainConfig(epochs=10, batch_size=4, lr=1e-3, head_lr=1e-3, patience=2)
    with pytest.raises(ValueError, match="English sentences"):
        train_student(student, targets, list(range(8)), FOREIGN, loss, config, CPU, tmp_path / "x")
    scores = iter([1.0, 3.0, 2.0, 2.5, 9.0])
    state = train_student(student, targets, list(range(8)), FOREIGN, loss, config, CPU, tmp_path / "s",
                          english=CAPTIONS, validate=lambda: next(scores))
    assert state.epoch == 4 and state.best_epoch == 2 and state.best_score == 3.0  # two epochs without a better score
    best = type(student).load(tmp_path / "s" / "best")
    assert torch.allclose(best.proj.weight, student.proj.weight)  # the best epoch's weights are left in the model


class _Recorder(torch.nn.Module):
    """A loss that keeps (detached) what ``train_student`` gives it, then computes ``loss`` on it."""

    def __init__(self, loss: torch.nn.Module):
        super().__init__()
        self.loss = loss
        self.calls: list[tuple[dict, dict]] = []

    @property
    def uses_english(self) -> bool:
        return self.loss.uses_english

    def forward(self, student, teacher):
        keep = lambda out: {k: v.detach().clone() for k, v in out.items()}  # noqa: E731
        self.calls.append((keep(student), keep(teacher)))
        return self.loss(student, teacher)


@pytest.mark.parametrize("cached", [False, True])
def test_train_student_feeds_the_english_reading_to_the_token_losses(tmp_path, cached):
    """The English term: each pair's English sentence read by the student (token states of the targets' layer,
    roles and IDF weights of the "student-english" side) beside its foreign reading; each distinct English sentence
    forwarded once, pairs that share it get the same rows."""
    from optical.distill.losses import LossConfig

    torch.manual_seed(0)
    teacher = _teacher()
    english, english_index = CAPTIONS[:4], [0, 1, 2, 3, 0, 1, 2, 3]  # two pairs per English sentence
    layer = 2 if cached else -1  # cached: the states after layer 2 (unprojected), through the frozen-layer cache
    targets = teacher_targets(teacher, english, layer=layer)
    student = teacher.text_side()
    student.freeze(1 if cached else -1)
    prefix = FrozenPrefix.for_top_layers(student, 1, FOREIGN + english) if cached else None
    assert cached == (prefix is not None)
    mass = TokenMass.from_bitext(teacher.text, token_ids(teacher.text, FOREIGN), targets.input_ids)
    loss = _Recorder(create_loss("optical-idf", LossConfig(reg=0.1, tokens="no-special")))
    assert loss.uses_english  # the experiment's default
    with torch.no_grad():
        feats = student.tokenize(english)
        reference = mass.add(student(feats, layer), "student-english")  # before the first step
    config = TrainConfig(epochs=1, batch_size=8, lr=1e-3, head_lr=1e-3)
    train_student(student, targets, english_index, FOREIGN, loss, config, CPU, tmp_path / "s", prefix=prefix,
                  mass=mass, english=english)
    out, teacher_out = loss.calls[0]
    width = 32 if cached else 8  # the tower's hidden size, or the projection's
    assert out["english_token_embeddings"].shape[0] == 8 and out["english_token_embeddings"].shape[2] == width
    for b in range(8):
        n = int(teacher_out["attention_mask"][b].sum())
        ids = teacher_out["input_ids"][b, :n]
        e = next(i for i in range(4) if torch.equal(targets.input_ids[i], ids))  # the pair's English sentence
        # the student read the very sentence the teacher's target is of, with its own tokenizer and roles
        assert torch.equal(out["english_input_ids"][b, :n], ids) and int(out["english_attention_mask"][b].sum()) == n
        torch.testing.assert_close(out["english_token_embeddings"][b, :n], reference["token_embeddings"][e, :n],
                                   atol=1e-5, rtol=0)
        torch.testing.assert_close(out["english_sentence_embedding"][b], reference["sentence_embedding"][e],
                                   atol=1e-5, rtol=0)
        assert torch.equal(out["english_token_roles"][b, :n], reference["token_roles"][e, :n])
        torch.testing.assert_close(out["english_token_weights"][b, :n], reference["token_weights"][e, :n])
    # the weights of the English reading are the IDF over the English side (the student's tokenizer is the teacher's)
    torch.testing.assert_close(out["english_token_weights"], mass.add(
        {"input_ids": out["english_input_ids"], "attention_mask": out["english_attention_mask"]}, "teacher"
    )["token_weights"])


def test_train_student_foreign_only_reads_no_english(tmp_path):
    from optical.distill.losses import LossConfig

    teacher = _teacher()
    targets = teacher_targets(teacher, CAPTIONS)
    student = teacher.text_side()
    student.freeze(-1)
    loss = _Recorder(create_loss("optical", LossConfig(reg=0.1, english=False)))
    train_student(student, targets, list(range(8)), FOREIGN, loss, TrainConfig(epochs=1, batch_size=8), CPU,
                  tmp_path / "s")  # no English sentences needed
    assert not any(key.startswith("english_") for key in loss.calls[0][0])


def test_token_mass_of_the_students_english_reading(tmp_path):
    from optical.distill.losses import CONTENT, SPECIAL

    teacher = _teacher()
    english_ids = token_ids(teacher.text, CAPTIONS)
    own = TokenMass.from_bitext(teacher.text, token_ids(teacher.text, FOREIGN), english_ids)
    assert own.idf["student-english"] is own.idf["teacher"]  # one tokenizer: the English side's table
    features = teacher.text.tokenize(CAPTIONS[:2])
    added = own.add(features, "student-english")
    assert added["token_roles"][0, 0] == SPECIAL and CONTENT in added["token_roles"][0].tolist()
    # a teacher with its own tokenizer: the English ids as the student reads them are needed for the IDF weights
    other = create_text_encoder(saved_tiny_text_encoder(tmp_path))
    other.tokenizer = type(other.tokenizer).from_pretrained(saved_tiny_text_encoder(tmp_path))
    other.tokenizer.add_tokens(["zzzz"])  # another vocabulary
    mixed = TokenMass.from_bitext(teacher.text, token_ids(teacher.text, FOREIGN), english_ids, other)
    with pytest.raises(ValueError, match="student_english_ids"):
        mixed.add(features, "student-english")
    given = TokenMass.from_bitext(teacher.text, token_ids(teacher.text, FOREIGN), english_ids, other, english_ids)
    torch.testing.assert_close(given.add(features, "student-english")["token_weights"], added["token_weights"])
