"""Which tokens carry transport mass, and how much: token roles (special, input prefix, content) and IDF weights.

The OT losses read two optional per-token tensors from the encoders' output dicts, beside ``attention_mask``:
``token_roles`` (B, L) with the codes below (for the ``tokens`` option) and ``token_weights`` (B, L), the
unnormalised mass of each token (for :class:`IdfOpticalLoss`). :class:`TokenMass` adds both to a batch from its
``input_ids``; it is built once per run from the tokenizer and the training bitext.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from optical.config import TOKEN_MODES
from optical.encoders import TextEncoder

PAD, CONTENT, SPECIAL, PREFIX = 0, 1, 2, 3  # token role codes
# probes that share no first character: the common start of their token ids is <s> and the input prefix
_PROBES = ("a", "1", "Z")


@dataclass(frozen=True)
class TokenRoles:
    """The tokenizer's special-token ids and the ids the input prefix (e5: ``"query: "``) tokenizes to."""

    special_ids: tuple[int, ...]
    prefix_ids: tuple[int, ...]

    @classmethod
    def from_encoder(cls, encoder: TextEncoder) -> TokenRoles:
        """Read both from ``encoder``'s tokenizer: the prefix is what every input starts with after the leading
        special tokens (found by tokenizing probe texts, not hard-coded: e5's ``"query: "`` alone tokenizes to
        ``▁que ry : ▁``, inside a sentence to ``▁que ry :``)."""
        special = tuple(sorted(set(encoder.tokenizer.all_special_ids)))
        rows = [encoder.tokenize([text])["input_ids"][0].tolist() for text in _PROBES]
        common = []
        for column in zip(*rows):
            if len(set(column)) > 1:
                break
            common.append(column[0])
        lead = 0
        while lead < len(common) and common[lead] in special:
            lead += 1
        return cls(special, tuple(common[lead:]))

    def roles(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Role codes (B, L) for ``input_ids`` (B, L): PAD off the mask, SPECIAL for special ids, PREFIX for the
        prefix's tokens where they follow the leading special tokens (the same ids later are content), else CONTENT."""
        mask = attention_mask.bool()
        special = torch.isin(input_ids, torch.tensor(self.special_ids, device=input_ids.device)) & mask
        roles = torch.full_like(input_ids, CONTENT).masked_fill(special, SPECIAL)
        if self.prefix_ids:
            k = len(self.prefix_ids)
            prefix = torch.tensor(self.prefix_ids, device=input_ids.device)
            start = (~special).long().argmax(dim=1)  # (B,): first token after the leading specials
            positions = start.unsqueeze(1) + torch.arange(k, device=input_ids.device)  # (B, k)
            fits = positions[:, -1] < input_ids.shape[1]
            safe = positions.clamp_max(input_ids.shape[1] - 1)
            found = fits & (input_ids.gather(1, safe) == prefix).all(dim=1) & mask.gather(1, safe).all(dim=1)
            roles.scatter_(1, safe, torch.where(found.unsqueeze(1), PREFIX, roles.gather(1, safe)))
        return roles.masked_fill(~mask, PAD)


# ``tokens`` option of the OT losses (optical.config.TOKEN_MODES: all, no-special, content) -> the roles that carry mass
_MASS_ROLES = dict(zip(TOKEN_MODES, ((CONTENT, SPECIAL, PREFIX), (CONTENT, PREFIX), (CONTENT,))))


def check_tokens(tokens: str) -> None:
    """ValueError unless ``tokens`` is one of ``TOKEN_MODES`` (a library argument check; a user's setting is
    validated once, as ``ot.tokens``, by ``optical.config``)."""
    if tokens not in _MASS_ROLES:
        raise ValueError(f"unknown tokens mode {tokens!r}; expected one of {list(TOKEN_MODES)}")


def mass_mask(roles: Tensor, tokens: str) -> Tensor:
    """True (B, L) where a token of role code ``roles`` (B, L) carries mass under the ``tokens`` mode."""
    check_tokens(tokens)
    return torch.isin(roles, torch.tensor(_MASS_ROLES[tokens], device=roles.device))


def massless(ids: list[Tensor], roles: TokenRoles, tokens: str, batch_size: int = 1024) -> list[int]:
    """Indices of the sentences, token ids (L_i,) each (``token_ids``), none of whose tokens carries mass under the
    ``tokens`` mode: OT has nothing to transport for them (e.g. a caption of unknown characters, all ``<unk>``,
    under ``"content"``)."""
    empty: list[int] = []
    for start in range(0, len(ids), batch_size):
        chunk = ids[start : start + batch_size]
        padded = nn.utils.rnn.pad_sequence(chunk, batch_first=True)  # (B, L)
        mask = nn.utils.rnn.pad_sequence([torch.ones_like(row) for row in chunk], batch_first=True)
        kept = mass_mask(roles.roles(padded, mask), tokens).any(dim=1)  # (B,)
        empty.extend(start + i for i in (~kept).nonzero().flatten().tolist())
    return empty


def token_ids(encoder: TextEncoder, texts: list[str], batch_size: int = 1024) -> list[Tensor]:
    """The token ids (L_i,) of each text as ``encoder`` reads it (prefix and special tokens included)."""
    ids: list[Tensor] = []
    for start in range(0, len(texts), batch_size):
        feats = encoder.tokenize(texts[start : start + batch_size])
        ids.extend(row[mask.bool()] for row, mask in zip(feats["input_ids"], feats["attention_mask"]))
    return ids


def idf_table(sequences: list[Tensor], vocab_size: int) -> Tensor:
    r"""Smoothed inverse document frequency per token id, shape (vocab_size,).

    :math:`\mathrm{idf}(t) = \log\frac{1 + N}{1 + \mathrm{df}(t)} + 1` over the N ``sequences`` (1-d id
    tensors, one per sentence), as scikit-learn's ``smooth_idf``: a token in every sentence (``<s>``, the
    prefix) gets 1, the minimum; a token never seen gets the maximum, :math:`\log(1 + N) + 1`.
    """
    df = torch.zeros(vocab_size, dtype=torch.float64)
    for ids in sequences:
        df[torch.unique(ids)] += 1
    return (math.log(1 + len(sequences)) - torch.log1p(df) + 1).float()


@dataclass
class TokenMass:
    """Adds ``token_roles`` and ``token_weights`` to a batch of one side (student or teacher).

    roles : the student tokenizer's special and prefix ids, also the teacher's unless ``teacher_roles`` (a student
    with its own encoder reads another vocabulary); idf : side -> IDF table over that side's vocabulary
    (``"student"``: the foreign side of the bitext, ``"teacher"``: the English side, ``"student-english"``: the
    English side as the student tokenizes it, for the English term), or None for weights 1 on every real token.
    The sides: ``"student"`` (the student reading the foreign sentence), ``"teacher"`` (the teacher reading the
    English one) and ``"student-english"`` (the student reading the English one: the student's roles).
    """

    roles: TokenRoles
    idf: dict[str, Tensor] | None = None
    teacher_roles: TokenRoles | None = None

    @classmethod
    def from_bitext(
        cls, encoder: TextEncoder, student_ids: list[Tensor], teacher_ids: list[Tensor],
        teacher_encoder: TextEncoder | None = None, student_english_ids: list[Tensor] | None = None,
    ) -> TokenMass:
        """Roles from the tokenizers (``encoder``: the student's; ``teacher_encoder``: the teacher's, when another),
        IDF tables from the token ids of each side's training sentences. ``student_english_ids``: the English
        sentences as ``encoder`` tokenizes them (the ``"student-english"`` side); None: ``teacher_ids`` when the
        teacher's tokenizer is the student's (``teacher_encoder`` None or of the same vocabulary), else no table
        (``add`` for that side then raises)."""
        teacher = teacher_encoder or encoder
        idf = {"student": idf_table(student_ids, len(encoder.tokenizer)),
               "teacher": idf_table(teacher_ids, len(teacher.tokenizer))}
        if student_english_ids is not None:
            idf["student-english"] = idf_table(student_english_ids, len(encoder.tokenizer))
        elif teacher.tokenizer is encoder.tokenizer or teacher.tokenizer.get_vocab() == encoder.tokenizer.get_vocab():
            idf["student-english"] = idf["teacher"]
        return cls(
            TokenRoles.from_encoder(encoder), idf,
            TokenRoles.from_encoder(teacher_encoder) if teacher_encoder is not None else None,
        )

    def add(self, features: dict[str, Tensor], side: str) -> dict[str, Tensor]:
        """``features`` (with ``input_ids``, ``attention_mask`` (B, L)) plus ``token_roles``, ``token_weights``."""
        ids, mask = features["input_ids"], features["attention_mask"]
        weights = mask.float()
        if self.idf is not None:
            if side not in self.idf:
                raise ValueError(f"TokenMass has no IDF table for the {side!r} side: build it with "
                                 "from_bitext(..., student_english_ids=...) (the English sentences' ids as the "
                                 "student tokenizes them)")
            weights = self.idf[side].to(ids.device)[ids] * weights  # (B, L)
        return {**features, "token_roles": self.side_roles(side).roles(ids, mask), "token_weights": weights}

    def side_roles(self, side: str) -> TokenRoles:
        """The roles of ``side``'s tokenizer (``"student"``, ``"student-english"``: the student's, or
        ``"teacher"``)."""
        return self.teacher_roles if side == "teacher" and self.teacher_roles is not None else self.roles

    def massless(self, ids: list[Tensor], side: str, tokens: str) -> list[int]:
        """``massless`` for sentences of ``side``: those whose token ids (L_i,) keep no token under ``tokens``."""
        return massless(ids, self.side_roles(side), tokens)
