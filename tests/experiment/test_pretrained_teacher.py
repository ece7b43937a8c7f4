"""A pretrained CLIP teacher used as is and students on another encoder (the M-CLIP setting), end to end on a tiny
random CLIPModel and a tiny random XLM-R: nothing trains the teacher, students reload, bad names fail early."""

import json

import numpy as np
import pytest
import torch
from transformers import AutoModel, CLIPModel, XLMRobertaModel

from optical.cli import main
from optical.data import open_rgb
from optical.distill import DualEncoder, ProjectedTextEncoder
from optical.encoders import create_image_encoder, encode_image_files
from optical.errors import InputError
from optical.config import ExperimentConfig
from optical.experiment import check_models, teacher_key
from optical.explore import load_models
from optical.store import gallery_images, load_run, runs_dir
from tests.fakes import saved_tiny_clip, saved_tiny_xlmr


@pytest.fixture
def tiny_setup(tiny_setup) -> dict:
    """The conftest's ``tiny_setup`` with the default image tower: a CLIP teacher embeds images with its own."""
    del tiny_setup["image_encoder"]
    return tiny_setup


@pytest.fixture
def clip_setup(stamps_setup, tmp_path) -> dict:
    """``stamps_setup``'s config file (one language; students train their top layer: the frozen-layer cache runs), a
    tiny CLIPModel folder and a tiny XLM-R folder."""
    config = {**stamps_setup, "languages": ["de"], "student_train_layers": 1}
    (tmp_path / "config.json").write_text(json.dumps(config))
    return {"config": tmp_path / "config.json", "clip": saved_tiny_clip(tmp_path / "clip"),
            "xlmr": saved_tiny_xlmr(tmp_path / "xlmr")}


def test_clip_teacher_and_xlmr_students_run_end_to_end(clip_setup, tmp_path):
    clip_dir, xlmr_dir = clip_setup["clip"], clip_setup["xlmr"]
    argv = ["run", "--config", str(clip_setup["config"]), "--teacher", f"clip:{clip_dir}", "--student-encoder",
            str(xlmr_dir), "--methods", "zero-shot,mse,optical", "--epochs", "1", "--ot-tokens", "content", "--run-id", "mclip"]
    assert main(argv) == 0
    run = load_run("mclip")
    metrics = run.metrics()
    assert metrics["methods"] == ["zero-shot", "mse", "optical"] and metrics["complete"] is True
    assert set(metrics["results"]["optical"]) == {"en", "de"}
    assert run.config["teacher_model"] == f"clip:{clip_dir}" and run.config["student_encoder"] == str(xlmr_dir)
    assert run.config["image_encoder"] == str(clip_dir)  # images embedded by the CLIP vision tower
    assert run.status["teacher_pretrained"] == f"clip:{clip_dir}"
    assert not (run.path / "teacher_data.json").exists()  # no teacher training data was assembled

    # the teacher is the CLIP model as is: its text weights, identity heads, CLIP's own embeddings
    clip = CLIPModel.from_pretrained(clip_dir).eval()
    teacher = DualEncoder.load(run.teacher_dir)
    assert json.loads((run.teacher_dir / "optical_model.json").read_text())["trained"] == []
    reference = {**{f"text_model.{k}": v for k, v in clip.text_model.state_dict().items()},
                 **{f"text_projection.{k}": v for k, v in clip.text_projection.state_dict().items()}}
    state = teacher.text.model.state_dict()
    assert set(state) == set(reference) and all(torch.equal(state[k], reference[k]) for k in reference)
    assert torch.equal(teacher.proj.weight, torch.eye(16)) and torch.equal(teacher.image_proj.weight, torch.eye(16))
    captions = ["a red apple", "the dog"]
    images = gallery_images(run.gallery(), run.path / "gallery.json")[:3]
    image_encoder = create_image_encoder(clip_dir)
    with torch.no_grad():
        text_reference = _tensor(clip.get_text_features(**teacher.text.tokenize(captions)))
        pixels = torch.stack([image_encoder.preprocess(open_rgb(p)) for p in images])
        image_reference = _tensor(clip.get_image_features(pixel_values=pixels))
    normalize = torch.nn.functional.normalize
    torch.testing.assert_close(teacher.encode(captions), normalize(text_reference, dim=-1), atol=1e-5, rtol=1e-5)
    features = torch.from_numpy(encode_image_files(images, image_encoder, progress=False))  # the run's cached ones
    torch.testing.assert_close(teacher.embed_images(features), normalize(image_reference, dim=-1), atol=1e-5,
                               rtol=1e-5)

    # the students: the XLM-R tower plus a projection to the teacher's width, trained, and they reload
    for method in ("mse", "optical"):
        student = ProjectedTextEncoder.load(run.student_dir(method), shared_text=teacher.text)
        assert isinstance(student.text.model, XLMRobertaModel) and student.proj.weight.shape == (16, 24)
        base = XLMRobertaModel.from_pretrained(xlmr_dir)
        changed = [k for k, v in base.state_dict().items() if not torch.equal(student.text.model.state_dict()[k], v)]
        assert changed  # distillation moved the student's tower
        again = ProjectedTextEncoder.load(run.student_dir(method))
        assert np.allclose(student.encode(["ein roter apfel"]).numpy(), again.encode(["ein roter apfel"]).numpy())
    models = load_models(run)  # the app's loader
    assert set(models.text_models) == {"zero-shot", "mse", "optical"}
    # a CLIP-teacher run evaluates on a dataset again (images by the CLIP vision tower) and exports its students
    assert main(["eval", "mclip", "--dataset", "stamps", "--name", "again"]) == 0
    assert (run.path / "evals" / "again" / "metrics.json").is_file()
    assert main(["export", "mclip", "optical", str(tmp_path / "export")]) == 0
    dense = json.loads((tmp_path / "export" / "2_Dense" / "config.json").read_text())
    assert (dense["in_features"], dense["out_features"]) == (24, 16)
    assert f"Base text encoder `{xlmr_dir}`" in (tmp_path / "export" / "README.md").read_text()
    assert isinstance(AutoModel.from_pretrained(tmp_path / "export"), XLMRobertaModel)
    plans = [p for p in run.plans() if p["method"] == "optical"]
    assert plans and any(t.startswith("\u2581") for t in plans[0]["foreign_tokens"])  # XLM-R's own tokenizer
    assert len(plans[0]["plan"]) == len(plans[0]["foreign_tokens"])
    assert len(plans[0]["plan"][0]) == len(plans[0]["english_tokens"])


def _tensor(output) -> torch.Tensor:
    return getattr(output, "pooler_output", output)  # a tensor, or an output object in newer transformers


def test_bad_teacher_names_fail_before_any_run_folder(clip_setup, capsys):
    config = str(clip_setup["config"])
    cases = [
        (["--teacher", "openai/clip-vit-base-patch32"], "clip:NAME_OR_PATH"),
        (["--teacher", "clip:/no/such/clip-model"], "/no/such/clip-model"),
        (["--teacher", "clip:no-such-org/no-such-clip"], "no-such-org/no-such-clip"),
        (["--teacher", f"clip:{clip_setup['xlmr']}"], "expected a transformers CLIPModel"),
        (["--student-encoder", "/no/such/student"], "/no/such/student"),
    ]
    for flags, message in cases:
        assert main(["run", "--config", config, *flags, "--run-id", "bad"]) == 2
        assert message in capsys.readouterr().err
        assert not (runs_dir() / "bad").exists()


def test_config_validation_and_teacher_key(tiny_setup, tmp_path):
    clip_dir = str(saved_tiny_clip(tmp_path / "clip"))
    config = ExperimentConfig.from_dict({**tiny_setup, "teacher_model": f"clip:{clip_dir}"})
    assert config.clip_teacher == clip_dir and config.image_encoder == clip_dir
    check_models(config)
    with pytest.raises(InputError, match="own vision tower"):
        ExperimentConfig.from_dict({**tiny_setup, "teacher_model": f"clip:{clip_dir}", "image_encoder": "other"})
    with pytest.raises(InputError, match="student_encoder"):
        ExperimentConfig.from_dict({**tiny_setup, "student_encoder": ""})
    with pytest.raises(InputError, match="teacher_model must be"):
        ExperimentConfig.from_dict({**tiny_setup, "teacher_model": "clip:"})


def test_teacher_key_depends_on_the_pretrained_teacher(tiny_setup, tmp_path):
    from optical.experiment import load_experiment_data

    clip_a, clip_b = (str(saved_tiny_clip(tmp_path / name, seed=seed)) for name, seed in (("a", 2), ("b", 3)))
    configs = [ExperimentConfig.from_dict({**tiny_setup, "teacher_model": f"clip:{c}"}) for c in (clip_a, clip_b)]
    data = load_experiment_data(configs[0], create_image_encoder(clip_a), progress=False)
    assert teacher_key(configs[0], data) != teacher_key(configs[1], data)


def test_frozen_layer_cache_of_an_xlmr_student_matches_its_full_forward(tmp_path):
    from optical.distill import FrozenPrefix
    from optical.encoders import create_text_encoder

    student = ProjectedTextEncoder(create_text_encoder(saved_tiny_xlmr(tmp_path / "xlmr")), 16).eval()
    texts = ["ein roter apfel", "der Hund", "das haus ist rot und blau"]
    prefix = FrozenPrefix.for_top_layers(student, 1, texts)
    assert prefix is not None
    with torch.no_grad():
        cached, full = prefix.forward(student, torch.arange(3)), student(student.tokenize(texts))
    torch.testing.assert_close(cached["sentence_embedding"], full["sentence_embedding"], atol=1e-5, rtol=1e-5)


def test_token_mass_reads_each_side_with_its_own_tokenizer(tmp_path):
    from optical.distill.losses import CONTENT, SPECIAL, TokenMass, token_ids
    from optical.encoders import create_text_encoder

    student = create_text_encoder(saved_tiny_xlmr(tmp_path / "xlmr"))  # <s> 0, <pad> 1, </s> 2
    teacher = create_text_encoder(saved_tiny_clip(tmp_path / "clip"))  # [PAD] 0, [CLS] 2, [SEP] 3
    foreign, english = ["ein roter apfel"], ["a red apple"]
    mass = TokenMass.from_bitext(student, token_ids(student, foreign), token_ids(teacher, english), teacher)
    assert mass.idf["student"].shape == (len(student.tokenizer),)
    assert mass.idf["teacher"].shape == (len(teacher.tokenizer),)
    for encoder, side, texts in ((student, "student", foreign), (teacher, "teacher", english)):
        features = encoder.tokenize(texts)
        roles = mass.add(features, side)["token_roles"][0]
        ids = features["input_ids"][0]
        expected = [SPECIAL if i in encoder.tokenizer.all_special_ids else CONTENT for i in ids.tolist()]
        assert roles.tolist() == expected and roles[0] == SPECIAL and roles[-1] == SPECIAL
    # the teacher's tokenizer misreads the student's ids: XLM-R's "▁a" is id 4, BERT's [MASK]
    wrong = TokenMass.from_bitext(teacher, token_ids(teacher, english), token_ids(teacher, english))
    features = student.tokenize(["a red apple"])
    assert features["input_ids"][0, 1] == 4
    assert wrong.add(features, "student")["token_roles"][0, 1] == SPECIAL
    assert mass.add(features, "student")["token_roles"][0, 1] == CONTENT


def test_ot_layer_needs_one_tower_on_both_sides(tiny_setup, tmp_path):
    xlmr = str(saved_tiny_xlmr(tmp_path / "xlmr"))
    with pytest.raises(InputError, match="ot.layer 1 compares"):
        ExperimentConfig.from_dict({**tiny_setup, "student_encoder": xlmr, "ot": {"layer": 1}})
    clip_dir = str(saved_tiny_clip(tmp_path / "clip"))  # 2 text layers, the students train the top one
    config = {**tiny_setup, "teacher_model": f"clip:{clip_dir}", "student_train_layers": 1}
    check_models(ExperimentConfig.from_dict({**config, "ot": {"layer": 2}}))  # read from the tower: check_models
    with pytest.raises(InputError, match=f"of {clip_dir}"):
        check_models(ExperimentConfig.from_dict({**config, "ot": {"layer": 1}}))
