"""``python -m optical export RUN METHOD DIR``: a run's text model as a standalone folder for other tools.

DIR gets full weights and the tokenizer (``transformers.AutoModel.from_pretrained(DIR)`` loads the tower), the
sentence-transformers modules (``SentenceTransformer(DIR)`` embeds as the run does) and a README saying how
the model was trained and how to embed with plain transformers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from optical.cli._main import Subparsers
from optical.errors import InputError
from optical.store import Run, load_run

TEACHER_ALIASES = ("zero-shot", "teacher")
_POOL_CODE = {
    "mean": 'mask = batch["attention_mask"].unsqueeze(-1).float()\npooled = (states * mask).sum(1) / mask.sum(1)',
    "cls": "pooled = states[:, 0]",
}


def register(sub: Subparsers) -> None:
    p = sub.add_parser("export", help="write a run's teacher or student text model as a standalone folder")
    p.add_argument("run", help="run id (under cache/runs) or folder")
    p.add_argument("method", help="zero-shot (or teacher): the teacher's text side; or a trained student (mse, optical, ...)")
    p.add_argument("dir", help="new or empty folder to write")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    target = Path(args.dir)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InputError("exists and is not an empty folder: pass a new folder to export into", target)
    run = load_run(args.run)
    from optical.explore import load_models  # the model stack is imported only when a command needs it

    models = load_models(run).text_models
    key = "zero-shot" if args.method in TEACHER_ALIASES else args.method
    if key not in models:
        available = ", ".join(["zero-shot", "teacher", *sorted(set(models) - {"zero-shot"})])
        raise InputError(f"run {run.run_id} has no trained model {args.method!r}; it has: {available}")
    model = models[key]
    model.export(target, _readme(run, args.method, model))
    print(f"wrote {target}: {args.method} of run {run.run_id} ({model.embed_dim}-d sentence embeddings)")
    return 0


def _late_section(run: Run) -> str:
    """How a late-interaction run scores captions against images, for the exported README."""
    return f"""
## Scoring against images: late interaction (this run's teacher)

Run `{run.run_id}` scored captions against images by late interaction (FILIP), not by the pooled embedding: skip
step 2's pooling, project every non-padding token state (`states @ proj.T`, prefix and special tokens included),
L2-normalise each, and score a caption against an image's L2-normalised region embeddings (the run folder's
`gallery_regions.npy`, (images, regions, {run.config.get("embed_dim")}) float16, in `gallery.json`'s image order):

```python
tokens = torch.nn.functional.normalize(states[0][batch["attention_mask"][0].bool()] @ proj.T, dim=-1)  # (L, D)
regions = torch.from_numpy(numpy.load("gallery_regions.npy")).float()  # (I, R, D)
sim = torch.einsum("ld,ird->ilr", tokens, regions)  # (I, L, R)
score = 0.5 * (sim.amax(2).mean(1) + sim.amax(1).mean(1))  # (I,): each token's best region, each region's best token
```
"""


def _readme(run: Run, method: str, model) -> str:
    text = model.text
    config = run.config
    trained = "the teacher's text side (trained contrastively on English captions)" if method in TEACHER_ALIASES else (
        f"a student distilled with {method!r} from the teacher, on bitext only"
    )
    languages = ", ".join(config.get("languages", []))
    own_encoder = method not in TEACHER_ALIASES and config.get("student_encoder")
    base = config.get("student_encoder") if own_encoder else config.get("text_encoder")
    pooling = "the mean of the final token states over non-padding tokens" if text.pooling == "mean" else "the first token's state"
    return f"""# {run.run_id} / {method}

Exported by `python -m optical export {run.run_id} {method} DIR` from the optical run `{run.run_id}`: {trained}.
Base text encoder `{base}`, dataset `{config.get("dataset")}`, languages {languages or "-"},
seed {config.get("seed")}. The full configuration of the run is at the end.

## Embedding a sentence

1. Prepend the prefix {json.dumps(text.prefix)} to the text; tokenize (at most {text.max_length} tokens).
2. Run the tower (`AutoModel.from_pretrained(DIR)`) and pool: {pooling}, width {text.hidden_size}.
3. Multiply by the projection `2_Dense/model.safetensors` `linear.weight` ({model.embed_dim} x {text.hidden_size}, no bias).
4. L2-normalise; compare with cosine similarity.

With sentence-transformers: `SentenceTransformer(DIR).encode(texts)` does all four (the prefix is the default prompt).

```python
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

tokenizer, model = AutoTokenizer.from_pretrained(DIR), AutoModel.from_pretrained(DIR).eval()
proj = load_file(f"{{DIR}}/2_Dense/model.safetensors")["linear.weight"]
batch = tokenizer([{json.dumps(text.prefix)} + t for t in texts], padding=True, truncation=True, max_length={text.max_length}, return_tensors="pt")
with torch.no_grad():
    states = model(**batch).last_hidden_state
{_POOL_CODE[text.pooling]}
emb = torch.nn.functional.normalize(pooled @ proj.T, dim=-1)
```
{_late_section(run) if config.get("scoring") == "late" else ""}
## Run configuration

```json
{json.dumps(config, indent=2, ensure_ascii=False)}
```
"""
