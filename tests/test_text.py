"Properties of l3.text: tokenizer, vocab, loaders (hypothesis), plus bad input."
import math
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st, HealthCheck

from l3.text import (tokenize1, tokenize, Vocab, SPECIAL_TOKENS, TK_MAJ, TK_UP, TK_REP, TK_WREP, BOS, LMDataLoader,
                     pad_collate, SortishSampler, check_vocab_size, tokenize_to_disk, load_ids, clas_dataloader)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
words = st.sampled_from(['the', 'The', 'THE', 'movie', "didn't", "you're", "It's", 'sooooo', 'very', 'GOOD!!!!',
                         '<br />', '&amp;', '9/10', '(great)', 'well-made', '...', ':)', '"', "'", 'a', 'A', 'I',
                         'no', 'No', 'x', '1111', '$5', 'e.g.', 'co-star', '#1', '\\', 'can\'t', 'Won\'t', '?!'])
reviews = st.lists(words, max_size=40).map(' '.join)
any_text = st.one_of(st.text(max_size=200), reviews)

def _no_ws(toks): return [t for t in toks if not t[0].isspace()]

@FAST
@given(any_text)
def test_never_crashes_and_well_formed(text):
    toks = tokenize1(text)
    assert toks[0] == BOS and all(isinstance(t, str) and t for t in toks)
    assert all(' ' not in t for t in toks)          # tokens can be joined with spaces and split back
    assert all(not any('A' <= c <= 'Z' for c in t) for t in toks)  # lower-cased (capitals live in xxmaj/xxup)

@FAST
@given(any_text)
def test_markers_are_idempotent(text):
    """Re-tokenizing the output (tokens joined by spaces, whitespace tokens left out) adds no capital or character-
    repetition marker: the output is lower-case and has no run of 4 equal characters. Only `xxbos` comes again."""
    toks = _no_ws(tokenize1(text))
    again = _no_ws(tokenize1(' '.join(toks[1:])))
    for m in (TK_MAJ, TK_UP, TK_REP):
        assert again.count(m) == toks.count(m), (m, toks, again)
    assert again.count(BOS) == toks.count(BOS)

@FAST
@given(reviews)
def test_retokenizing_reviews_is_stable(text):
    "On review-like text the whole token sequence is a fixed point (with the lesson's word list above)."
    toks = _no_ws(tokenize1(text))
    assert _no_ws(tokenize1(' '.join(toks[1:]))) == toks

def test_lesson_examples():
    t = tokenize1("I didn't like it, you're WRONG. Sooooo bad<br />it's very very very very bad. can't won't")
    s = ' '.join(t)
    for piece in ("did n't", "you 're", 'xxup wrong', 's xxrep 5 o', "it 's", 'xxwrep 4 very', "ca n't", "wo n't"):
        assert piece in s, (piece, s)
    assert '\n' in t

@FAST
@given(st.lists(reviews, min_size=1, max_size=8), st.integers(9, 40), st.integers(1, 3))
def test_vocab_order_and_limits(texts, max_vocab, min_freq):
    docs = tokenize(texts, progress=False)
    counts = Counter(t for d in docs for t in d)
    v = Vocab.create(docs, max_vocab=max_vocab, min_freq=min_freq)
    assert v.itos[:8] == SPECIAL_TOKENS and v.stoi['xxunk'] == 0 and v.stoi['xxpad'] == 1
    assert len(v) <= max_vocab and len(set(v.itos)) == len(v)
    rest = v.itos[8:]
    assert all(counts[t] >= min_freq for t in rest)
    assert [counts[t] for t in rest] == sorted((counts[t] for t in rest), reverse=True)
    if len(v) < max_vocab:  # nothing frequent enough was left out
        assert {t for t, c in counts.items() if c >= min_freq} <= set(v.itos)
    else:
        dropped = [counts[t] for t in counts if t not in v.stoi and counts[t] >= min_freq]
        assert not rest or not dropped or max(dropped) <= counts[rest[-1]]
    # round trip for in-vocab tokens, unknowns -> xxunk
    for d in docs:
        ids = v.numericalize(d)
        assert v.textify(ids, sep=None) == [t if t in v.stoi else 'xxunk' for t in d]

def test_vocab_save_load_and_mismatch(tmp_path):
    v = Vocab.create(tokenize(['a b c a b c'] * 3, progress=False))
    assert Vocab.load(v.save(tmp_path/'v.json')) == v
    with pytest.raises(ValueError, match=r'has 11 tokens.*60000 rows'):
        check_vocab_size(v, 60000, 'the weights file wt103.pth')
    (tmp_path/'bad.json').write_text('{"itos": ["hello"]}')
    with pytest.raises(ValueError, match='special tokens'): Vocab.load(tmp_path/'bad.json')

def test_bad_input():
    assert tokenize1('') == [BOS]
    with pytest.raises(ValueError, match='text #2 is missing'): tokenize(['a', 'b', float('nan')], progress=False)
    with pytest.raises(TypeError, match='text #0'): tokenize([3], progress=False)

def test_parallel_and_disk_agree(tmp_path):
    texts = [f'Review {i}: it was GREAT!!!! <br />didn\'t you think so?' * (i % 3 + 1) for i in range(60)]
    docs = tokenize(texts, progress=False)
    assert tokenize(texts, n_workers=2, chunksize=7, progress=False) == docs
    tokenize_to_disk(iter(texts), tmp_path, n_workers=2, chunksize=9, progress=False)
    ids, v = load_ids(tmp_path)
    assert v == Vocab.create(docs) and [list(a) for a in ids] == [v.numericalize(d) for d in docs]

@FAST
@given(st.lists(st.integers(1, 30), min_size=1, max_size=20), st.integers(1, 6), st.integers(1, 12), st.booleans(),
       st.integers(0, 1000))
def test_lm_loader_covers_stream_once(lens, bs, bptt, shuffle, seed):
    docs = [np.arange(i * 100, i * 100 + n) for i, n in enumerate(lens)]
    total = sum(lens)
    dl = LMDataLoader(docs, bs=bs, bptt=bptt, shuffle=shuffle, seed=seed)
    n = total // bs
    if n < 2:
        with pytest.raises(ValueError, match='not enough text'): list(dl)
        return
    for _ in range(2):  # two epochs
        expected_len = len(dl)
        batches = list(dl)
        assert len(batches) == expected_len
        xs = torch.cat([x for x, _ in batches], 1); ys = torch.cat([y for _, y in batches], 1)
        assert xs.shape == ys.shape == (bs, n - 1) and xs.dtype == torch.long
        assert (xs[:, 1:] == ys[:, :-1]).all()          # y is x shifted by one
        stream = torch.cat([xs, ys[:, -1:]], 1).flatten().tolist()  # the rows, one after another
        assert len(stream) == n * bs
        # the stream is whole documents one after the other (the last one cut), each exactly once
        seen, i = [], 0
        while i < len(stream):
            d = stream[i] // 100
            assert d not in seen
            k = lens[d]
            assert stream[i:i + k] == list(range(d * 100, d * 100 + k))[:len(stream) - i]
            seen.append(d); i += k
        if not shuffle: assert seen == list(range(len(seen)))
        if not shuffle: assert all(x.shape[1] == bptt for x, _ in batches[:-1])

def test_lm_loader_new_and_bptt_varies():
    docs = [np.arange(1000)]
    dl = LMDataLoader(docs, bs=2, bptt=20, seed=1)
    sls = {x.shape[1] for x, _ in dl}
    assert len(sls) > 3 and max(sls) < 60
    d2 = dl.new(bs=4, shuffle=False)
    assert d2.bs == 4 and not d2.shuffle and next(iter(d2))[0].shape == (4, 20)

@FAST
@given(st.lists(st.lists(st.integers(2, 50), max_size=12), min_size=1, max_size=10), st.booleans())
def test_pad_collate(seqs, pad_first):
    x, y = pad_collate([(s, i) for i, s in enumerate(seqs)], pad_idx=1, pad_first=pad_first)
    L = max(map(len, seqs))
    assert x.shape == (len(seqs), L) and x.dtype == torch.long and y.tolist() == list(range(len(seqs)))
    for row, s in zip(x.tolist(), seqs):
        pad = [1] * (L - len(s))
        assert row == (pad + s if pad_first else s + pad)

@FAST
@given(st.lists(st.integers(1, 300), min_size=1, max_size=400), st.integers(1, 16), st.integers(0, 99))
def test_sortish_sampler(lens, bs, seed):
    order = list(SortishSampler(lens, bs, seed=seed))
    assert sorted(order) == list(range(len(lens)))
    assert max(lens[i] for i in order[:bs]) == max(lens)  # longest batch first

def test_clas_loader():
    docs = [np.arange(n) + 2 for n in (5, 50, 7, 3, 40, 41)]
    dl = clas_dataloader(docs, [0, 1, 0, 0, 1, 1], bs=4, shuffle=False)
    (x1, y1), (x2, y2) = list(dl)
    assert x1.shape == (4, 50) and x2.shape == (2, 5) and len(dl) == 2
    assert (x1[:, 0] != 1).sum() == 1  # padded at the start, only the longest fills the row
    with pytest.raises(ValueError, match='6 documents but 5 labels'): clas_dataloader(docs, [0] * 5)

# ---------------------------------------------------------------- models
from l3.text import (get_language_model, get_text_classifier, load_pretrained, find_pretrained, _awd)
import pickle, subprocess, sys
from pathlib import Path

TINY = dict(emb_sz=8, n_hid=12, n_layers=2)

def test_lm_shapes_tied_and_state():
    m = get_language_model(30, drop_mult=0.5, config=TINY)
    out = m(torch.randint(0, 30, (3, 5)))
    assert out.shape == (3, 5, 30) and m[1].decoder.weight is m[0].encoder.weight
    assert m[0].hidden[0][0].shape == (1, 3, 12)
    m(torch.randint(0, 30, (2, 5)))  # another batch size: the state restarts instead of crashing
    assert m[0].hidden[0][0].shape == (1, 2, 12)

def test_classifier_long_documents():
    c = get_text_classifier(30, 3, bptt=4, max_len=6, config=TINY).eval()
    x = torch.randint(2, 30, (2, 17)); x[1, :9] = 1
    assert c(x).shape == (2, 3)
    x2 = x.clone(); x2[:, :5] = 7      # tokens before the last max_len only build the state: output changes, no crash
    assert c(x2).shape == (2, 3)

def test_pretrained_mapping_and_mismatch(tmp_path):
    old_itos = SPECIAL_TOKENS + ['the', 'movie', 'wiki']
    src = get_language_model(len(old_itos), config=TINY)
    sd = {k.replace('module.weight_hh_l0', 'weight_hh_l0_raw'): v for k, v in src.state_dict().items()}  # fastai names
    torch.save(sd, tmp_path/'lstm_fwd.pth')
    with open(tmp_path/'itos_wt103.pkl', 'wb') as f: pickle.dump(old_itos, f)
    assert find_pretrained((tmp_path/'lstm_fwd.pth', tmp_path/'itos_wt103.pkl'))[0].name == 'lstm_fwd.pth'
    vocab = Vocab(SPECIAL_TOKENS + ['movie', 'imdb'])
    m = get_language_model(len(vocab), config=TINY)
    load_pretrained(m, tmp_path/'lstm_fwd.pth', vocab, tmp_path/'itos_wt103.pkl')
    w_old, w_new = src[0].encoder.weight, m[0].encoder.weight
    assert torch.equal(w_new[8], w_old[old_itos.index('movie')])            # known word: its pretrained row
    assert torch.allclose(w_new[9], w_old.mean(0))                            # unknown word: the mean row
    assert torch.equal(m[0].rnns[0].module.weight_hh_l0, src[0].rnns[0].module.weight_hh_l0)
    with pytest.raises(ValueError, match=r'has 10 tokens.*11 rows'):       # no vocab file and another size
        load_pretrained(m, tmp_path/'lstm_fwd.pth', vocab)

def test_bench_smoke():
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(root/'bench'/'tokenizer.py'), '--quick', '--l3-only'], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert 'tokens/s' in r.stdout and 'fastai not installed' in r.stdout
