"""MinHash signatures and LSH blocking: what page and document matching share.

Text becomes a set of word 3-gram shingles (32-bit hashes of folded words),
the set a 128-number MinHash signature; the share of equal positions in two
signatures estimates the Jaccard similarity of the two texts. ``LshIndex``
cuts the signatures of one side into bands (bands and rows chosen by
datasketch for a Jaccard threshold) and finds, for each signature of the
other side, the items sharing a band: candidate pairs without comparing all
pairs, so 100,000 x 100,000 items block in seconds. Everything is vectorized
with numpy; nothing here knows about pages or documents.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

from archiver.extract import fold

NUM_PERM = 128
_WORD = re.compile(r"\w+")
_SIGN_BATCH = 1024  # shingles hashed per numpy batch (bounded temporary memory for long texts)


def words(text: str) -> list[str]:
    """The folded words of a text."""
    return _WORD.findall(fold(text))


class Shingler:
    """Folded word -> a 64-bit id from its bytes (BLAKE2b), remembered in a plain dict: the same on
    every run, whatever order pages are read in (unlike ``hash()``, salted per process), and a saved
    portal index pickles on every Python version."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self._mix = np.random.default_rng(20190701).integers(1, 1 << 63, size=3, dtype=np.uint64) | np.uint64(1)

    def shingles(self, text: str) -> np.ndarray:
        """Distinct 32-bit hashes of the word 3-grams (the words themselves for very short texts)."""
        ids = self.ids
        found = np.fromiter([ids.get(w) or ids.setdefault(w, _word_id(w)) for w in words(text)], dtype=np.uint64)
        with np.errstate(over="ignore"):
            if len(found) < 3:
                grams = found * self._mix[0]
            else:
                grams = found[:-2] * self._mix[0] + found[1:-1] * self._mix[1] + found[2:] * self._mix[2]
        return np.unique((grams >> np.uint64(32)).astype(np.uint32))


def _word_id(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little") | 1


class Signer:
    """MinHash signatures: multiply-shift hashing, one random odd multiplier per permutation."""

    def __init__(self, num_perm: int = NUM_PERM, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.a = rng.integers(1, 1 << 63, size=num_perm, dtype=np.uint64) | np.uint64(1)
        self.b = rng.integers(0, 1 << 63, size=num_perm, dtype=np.uint64)
        self.num_perm = num_perm

    def sign(self, shingles: np.ndarray) -> np.ndarray:
        out = np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint32)
        for start in range(0, len(shingles), _SIGN_BATCH):
            hv = shingles[start:start + _SIGN_BATCH].astype(np.uint64)[:, None]
            with np.errstate(over="ignore"):
                phv = ((hv * self.a + self.b) >> np.uint64(32)).astype(np.uint32)
            np.minimum(out, phv.min(axis=0), out=out)
        return out

    def sign_all(self, shingles: list[np.ndarray]) -> np.ndarray:
        """(n, num_perm) signatures of n shingle sets."""
        if not shingles:
            return np.empty((0, self.num_perm), np.uint32)
        return np.vstack([self.sign(s) for s in shingles])


def drop_common(shingles: list[np.ndarray], share: float) -> list[np.ndarray]:
    """The shingle sets without shingles found in more than ``share`` of them (and in more than 5):
    a site's furniture (navigation, footers, templates), removed by statistics."""
    if not shingles:
        return shingles
    values, counts = np.unique(np.concatenate(shingles), return_counts=True)
    common = values[counts > max(5, share * len(shingles))]
    if not len(common):
        return shingles
    return [s[~np.isin(s, common, assume_unique=True)] if len(s) else s for s in shingles]


def agreement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of equal positions of row-aligned signatures: the Jaccard estimate of each pair."""
    return (a == b).mean(axis=1)


def expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For ranges [lo[i], hi[i]): (owner i, position) of every element, vectorized."""
    counts = hi - lo
    owners = np.repeat(np.arange(len(lo)), counts)
    if not len(owners):
        return owners, owners
    starts = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    return owners, starts + np.arange(len(owners))


class LshIndex:
    """LSH band buckets of one side's signatures, queried with the other side's.

    ``usable`` marks the signatures worth indexing (enough text); a bucket
    holding more than ``bucket_cap`` items is furniture and blocks nothing.
    """

    def __init__(self, signatures: np.ndarray, usable: np.ndarray, *, threshold: float, bucket_cap: int) -> None:
        # imported here: datasketch loads scipy, over a second, for the band and row counts alone
        from datasketch import MinHashLSH

        tuned = MinHashLSH(threshold=threshold, num_perm=signatures.shape[1] if len(signatures) else NUM_PERM)
        self.bands, self.rows = tuned.b, tuned.r
        self.size = len(signatures)
        self.bucket_cap = bucket_cap
        self._mix = np.random.default_rng(7).integers(1, 1 << 63, size=self.rows, dtype=np.uint64) | np.uint64(1)
        keys = self._band_keys(signatures)
        keys[~usable] = 0  # items without text join no bucket
        self._order = np.argsort(keys, axis=0, kind="stable")
        self._sorted = np.take_along_axis(keys, self._order, axis=0)

    def _band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """(n, bands) uint64: one key per LSH band (never 0 for a real band)."""
        n = len(signatures)
        used = signatures[:, : self.bands * self.rows].astype(np.uint64).reshape(n, self.bands, self.rows)
        with np.errstate(over="ignore"):
            keys = (used * self._mix).sum(axis=2, dtype=np.uint64)
        return keys | np.uint64(1)

    def candidates(self, signatures: np.ndarray, usable: np.ndarray, *, per_item: int) -> tuple[np.ndarray, np.ndarray]:
        """(query index, indexed item) pairs sharing a band, sorted by query index; per query
        the ``per_item`` items sharing the most bands."""
        if not self.size or not len(signatures):
            return np.empty(0, np.int64), np.empty(0, np.int64)
        keys = self._band_keys(signatures)
        owners_all, found_all = [], []
        for band in range(self.bands):
            column, order = self._sorted[:, band], self._order[:, band]
            lo = np.searchsorted(column, keys[:, band], "left")
            hi = np.searchsorted(column, keys[:, band], "right")
            hi = np.where(((hi - lo) > self.bucket_cap) | ~usable, lo, hi)  # giant buckets are furniture
            owners, positions = expand(lo, hi)
            owners_all.append(owners)
            found_all.append(order[positions])
        pair = np.concatenate(owners_all) * self.size + np.concatenate(found_all)
        pair, shared = np.unique(pair, return_counts=True)
        owners, found = pair // self.size, pair % self.size
        order = np.lexsort((-shared, owners))
        owners, found = owners[order], found[order]
        first = np.searchsorted(owners, owners, "left")
        keep = (np.arange(len(owners)) - first) < per_item
        return owners[keep], found[keep]
