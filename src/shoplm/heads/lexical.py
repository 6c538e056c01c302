"""A word-level classifier beside a head: TF-IDF of words and word pairs, logistic regression.

Why: a head reads the encoder's pooled vector, and a small encoder's vector smooths over the
exact words a label can turn on ("not", "returned", "runs small", "disappointed").  A bag of
words and word pairs keeps them.  On its own it scores below the LoRA head, but it errs on
other rows, so the two blended (:mod:`shoplm.heads.blend`) can beat either.

Words are shoplm's search tokens (:func:`shoplm.text.tokenize.tokenize`: lowercased, plurals
folded, Chinese cut into words), plus each pair of neighbouring tokens.  A term kept in the
vocabulary appears in at least ``min_count`` training texts (the most common
``max_terms`` of them at most).  A text's vector is its sublinear term counts
(1 + log count) times smoothed inverse document frequencies, scaled to unit length; the
multinomial logistic regression on it is fitted by full-batch L-BFGS (deterministic), with
the L2 strength chosen on validation.

On disk (beside a head's own files)::

    lexical.json           format, vocabulary (terms in column order), settings
    lexical.safetensors    idf [terms], weight [terms, labels], bias [labels]
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from safetensors.torch import save_file
from scipy.special import log_softmax

from shoplm.heads import storage
from shoplm.text.tokenize import tokenize

FORMAT = "shoplm-lexical-classifier/1"
MANIFEST = "lexical.json"
TENSORS = "lexical.safetensors"
L2_GRID = (1e-5, 3e-5, 1e-4)
MAX_ITERATIONS = 200


@dataclass(frozen=True)
class LexicalSettings:
    """The vocabulary's limits and the L2 strengths tried on validation."""

    min_count: int = 2
    max_terms: int = 200_000
    l2_grid: tuple[float, ...] = L2_GRID

    def __post_init__(self) -> None:
        if self.min_count < 1 or self.max_terms < 1:
            raise ValueError("min_count and max_terms must be at least 1")
        if not self.l2_grid or min(self.l2_grid) <= 0:
            raise ValueError(f"l2_grid must hold positive strengths, got {self.l2_grid}")


def terms(text: str) -> list[str]:
    """A text's tokens and its pairs of neighbouring tokens ("runs small")."""
    tokens = tokenize(text)
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


class LexicalClassifier:
    """TF-IDF features and a logistic regression over a head's labels."""

    def __init__(
        self,
        vocabulary: Sequence[str],
        idf: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray,
        l2: float,
    ) -> None:
        self.vocabulary = list(vocabulary)
        self.columns = {term: i for i, term in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.weight = np.asarray(weight, dtype=np.float32)
        self.bias = np.asarray(bias, dtype=np.float32)
        self.l2 = float(l2)

    # ----------------------------------------------------------------- training
    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: np.ndarray,
        n_labels: int,
        valid_texts: Sequence[str],
        choose: Callable[[LexicalClassifier, np.ndarray], float],
        settings: LexicalSettings | None = None,
    ) -> tuple[LexicalClassifier, dict[str, float], np.ndarray]:
        """One classifier per L2 strength on (texts, label indices); keeps the one ``choose``
        rates best (a validation score, higher is better, of a classifier and its outputs on
        ``valid_texts``).  Returns it, every score, and its validation outputs; the validation
        texts are read once, as every candidate shares one vocabulary."""
        settings = settings or LexicalSettings()
        labels = np.asarray(labels, dtype=np.int64)
        if len(texts) != len(labels) or len(texts) == 0:
            raise ValueError("the lexical classifier needs one label per text, and some texts")
        documents = [terms(t) for t in texts]
        vocabulary, idf = _vocabulary(documents, settings)
        columns = {t: i for i, t in enumerate(vocabulary)}
        features = _features(documents, columns, idf)
        valid_features = _features([terms(t) for t in valid_texts], columns, idf)
        scores: dict[str, float] = {}
        best: tuple[float, LexicalClassifier, np.ndarray] | None = None
        for l2 in settings.l2_grid:
            weight, bias = _logistic_regression(features, labels, n_labels, l2)
            model = cls(vocabulary, idf, weight, bias, l2)
            outputs = model.outputs_of(valid_features)
            score = choose(model, outputs)
            scores[f"{l2:g}"] = round(score, 5)
            if best is None or score > best[0] + 1e-9:
                best = (score, model, outputs)
        assert best is not None
        return best[1], scores, best[2]

    # --------------------------------------------------------------- predicting
    def features(self, texts: Sequence[str]) -> sp.csr_matrix:
        return _features([terms(t) for t in texts], self.columns, self.idf)

    def outputs(self, texts: Sequence[str]) -> np.ndarray:
        """Log-probabilities ``[n, labels]``."""
        return self.outputs_of(self.features(texts))

    def outputs_of(self, features: sp.csr_matrix) -> np.ndarray:
        """:meth:`outputs` of texts already made into :meth:`features`."""
        logits = features @ self.weight + self.bias
        return log_softmax(np.asarray(logits, dtype=np.float64), axis=1)

    # ------------------------------------------------------------ save / load
    def save(self, folder: Path) -> None:
        """Tensors first, the manifest last (a folder without it holds no classifier)."""
        (folder / MANIFEST).unlink(missing_ok=True)
        tensors = {
            "idf": torch.from_numpy(self.idf.copy()),
            "weight": torch.from_numpy(self.weight.copy()),
            "bias": torch.from_numpy(self.bias.copy()),
        }
        save_file(tensors, folder / TENSORS)
        manifest = {"vocabulary": self.vocabulary, "l2": self.l2}
        storage.write_manifest(folder, manifest, MANIFEST, FORMAT)

    @classmethod
    def load(cls, folder: Path) -> LexicalClassifier:
        manifest = storage.read_manifest(folder, MANIFEST, FORMAT, "lexical classifier")
        tensors = storage.read_tensors(folder, TENSORS)
        vocabulary = manifest["vocabulary"]
        if tensors["idf"].shape[0] != len(vocabulary) or tensors["weight"].shape[0] != len(
            vocabulary
        ):
            raise storage.HeadFormatError(
                f"{folder}: {TENSORS} does not fit the {len(vocabulary)} terms of {MANIFEST}"
            )
        return cls(
            vocabulary,
            tensors["idf"].numpy(),
            tensors["weight"].numpy(),
            tensors["bias"].numpy(),
            float(manifest["l2"]),
        )

    @staticmethod
    def remove(folder: Path) -> None:
        """Take a saved classifier out of ``folder`` (a head saved again without one)."""
        for name in (MANIFEST, TENSORS):
            (folder / name).unlink(missing_ok=True)

    @staticmethod
    def saved_in(folder: Path) -> bool:
        return (folder / MANIFEST).is_file()


def _vocabulary(
    documents: list[list[str]], settings: LexicalSettings
) -> tuple[list[str], np.ndarray]:
    """Terms in at least ``min_count`` documents (the most common ``max_terms``), in a fixed
    order, and their smoothed inverse document frequencies."""
    counts = Counter(term for doc in documents for term in set(doc))
    kept = [term for term, n in counts.items() if n >= settings.min_count]
    kept.sort(key=lambda term: (-counts[term], term))
    kept = sorted(kept[: settings.max_terms])
    n = len(documents)
    idf = np.array([math.log((1 + n) / (1 + counts[t])) + 1.0 for t in kept], dtype=np.float32)
    return kept, idf


def _features(
    documents: list[list[str]], columns: dict[str, int], idf: np.ndarray
) -> sp.csr_matrix:
    """Unit-length rows of sublinear term counts times idf; unknown terms are ignored."""
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    for row, doc in enumerate(documents):
        for term, count in Counter(doc).items():
            col = columns.get(term)
            if col is not None:
                rows.append(row)
                cols.append(col)
                values.append((1.0 + math.log(count)) * float(idf[col]))
    matrix = sp.csr_matrix(
        (np.asarray(values, dtype=np.float32), (rows, cols)),
        shape=(len(documents), len(columns)),
        dtype=np.float32,
    )
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix, dtype=np.float32)


def _logistic_regression(
    features: sp.csr_matrix, labels: np.ndarray, n_labels: int, l2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression, mean cross-entropy + l2 * |W|^2, by full-batch L-BFGS
    from zero: the same data gives the same weights."""
    coo = features.tocoo()
    x = torch.sparse_coo_tensor(
        np.vstack([coo.row, coo.col]),
        coo.data,
        coo.shape,
        dtype=torch.float32,
        check_invariants=False,  # built from a valid scipy matrix
    ).coalesce()
    y = torch.from_numpy(labels)
    weight = torch.zeros(features.shape[1], n_labels, requires_grad=True)
    bias = torch.zeros(n_labels, requires_grad=True)
    optimiser = torch.optim.LBFGS(
        [weight, bias], max_iter=MAX_ITERATIONS, line_search_fn="strong_wolfe"
    )

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = torch.nn.functional.cross_entropy(torch.sparse.mm(x, weight) + bias, y)
        value = value + l2 * (weight * weight).sum()
        value.backward()
        return value

    optimiser.step(loss)
    return weight.detach().numpy().copy(), bias.detach().numpy().copy()
