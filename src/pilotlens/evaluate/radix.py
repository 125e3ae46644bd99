"""A stable sort of each row of a float32 batch of maps, compiled by numba: least-significant-digit radix sort.

Each value becomes a 32-bit key that orders as the float does (`sorting`'s key: a negative value's magnitude
bits turned around, -0 made +0), offset to unsigned and, for a descending sort, turned around; the keys are
then sorted by three 11-bit digits (10 for the last), each a counting pass that keeps the order of equal
digits, so equal values keep their order: exactly torch's stable sort. A digit every key of the row shares
is skipped (the sign and the exponent's top bits of maps in [0, 1]). One pass takes all three histograms.

A row of 13,200 floats (a PilotNet map) is sorted in three passes over 106 KB, in the second level of the
cache: 32 such rows, a part of them per thread (`evaluate.sorting` calls it), in 1.8 ms on 2 threads
against 7.5-10.7 ms through torch's stable sort.

A row with a NaN is left to torch (it sorts NaN last): the kernels return False for the batch.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_DIGIT = 11
_BUCKETS = 1 << _DIGIT
_MASK = _BUCKETS - 1
_SIGN = 0x7FFFFFFF
_NEG_ZERO = -(1 << 31)
_TOP = (1 << 32) - 1


@njit(nogil=True, cache=True)
def _sort_row(bits, descending, key, key2, idx, idx2, hist):
    """Sort one row's int32 bits (the float32 values' bits). Returns (ok, sorted keys, their positions), the
    two arrays among the work arrays given; ok False for a row with a NaN."""
    n = bits.shape[0]
    hist[:, :] = 0
    for i in range(n):
        v = np.int64(bits[i])
        if (v & _SIGN) > 0x7F800000:                 # a NaN
            return False, key, idx
        if v == _NEG_ZERO:
            v = 0
        k = (v ^ _SIGN if v < 0 else v) + (1 << 31)  # unsigned, ordered as the floats
        if descending:
            k = _TOP - k
        key[i] = k
        idx[i] = i
        hist[0, k & _MASK] += 1
        hist[1, (k >> _DIGIT) & _MASK] += 1
        hist[2, k >> (2 * _DIGIT)] += 1
    src_k, src_i, dst_k, dst_i = key, idx, key2, idx2
    for d in range(3):
        shift = d * _DIGIT
        h = hist[d]
        if n == 0 or h[(src_k[0] >> shift) & _MASK] == n:    # every key shares this digit: nothing to move
            continue
        total = 0
        for c in range(_BUCKETS):
            count = h[c]
            h[c] = total
            total += count
        for i in range(n):
            k = src_k[i]
            c = (k >> shift) & _MASK
            p = h[c]
            h[c] = p + 1
            dst_k[p] = k
            dst_i[p] = src_i[i]
        src_k, dst_k = dst_k, src_k
        src_i, dst_i = dst_i, src_i
    return True, src_k, src_i


@njit(nogil=True, cache=True)
def _workspace(n):
    """_sort_row's work arrays for rows of n: two key and two position buffers, the three histograms."""
    return (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64),
            np.empty((3, _BUCKETS), np.int64))


@njit(nogil=True, cache=True)
def order_rows(values, descending, keys_out, order_out):
    """keys_out[b], order_out[b] = each row's sorted keys (equal exactly where the values are) and the
    positions that sort it, stably (int64, B x n each). values: B x n float32, C-contiguous. False if a
    row holds a NaN (the outputs are then incomplete)."""
    key, key2, idx, idx2, hist = _workspace(values.shape[1])
    for b in range(values.shape[0]):
        ok, k, i = _sort_row(values[b].view(np.int32), descending, key, key2, idx, idx2, hist)
        if not ok:
            return False
        keys_out[b] = k
        order_out[b] = i
    return True


@njit(nogil=True, cache=True)
def average_ranks_rows(values, ranks_out):
    """ranks_out[b] = each value's rank 0 .. n-1 in its row, tied values sharing the middle of their group's
    first and last sorted position (float64). values: B x n float32, C-contiguous. False if a row holds a
    NaN (the outputs are then incomplete)."""
    n = values.shape[1]
    key, key2, idx, idx2, hist = _workspace(n)
    for b in range(values.shape[0]):
        ok, k, i = _sort_row(values[b].view(np.int32), False, key, key2, idx, idx2, hist)
        if not ok:
            return False
        out = ranks_out[b]
        start = 0
        while start < n:
            end = start + 1
            while end < n and k[end] == k[start]:
                end += 1
            middle = (start + end - 1) * 0.5
            for t in range(start, end):
                out[i[t]] = middle
            start = end
    return True
