"Properties of l3.text, l3.text_data and l3.text_models: tokenizer, vocab, loaders (hypothesis), plus bad input."
import math
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings, strategies as st, HealthCheck

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
    repetition marker: the output is lower-case and has no run of 3 equal characters. Only `xxbos` comes again."""
    toks = _no_ws(tokenize1(text))
    again = _no_ws(tokenize1(' '.join(toks[1:])))
    for m in (TK_MAJ, TK_UP, TK_REP):
        assert again.count(m) == toks.count(m), (m, toks, again)
    assert again.count(BOS) == toks.count(BOS)

@FAST
@given(reviews)
@example('The the the')
def test_retokenizing_reviews_is_stable(text):
    """On review-like text the whole token sequence is a fixed point (with the lesson's word list above). One exception,
    as in fastai: a word repeated in different capitals ('The the the') is not a repetition until its capitals became
    markers ('xxmaj the the the'), so one more pass finds it; after that pass the sequence is fixed."""
    toks = _no_ws(tokenize1(text))
    again = _no_ws(tokenize1(' '.join(toks[1:])))
    if tokenize1(text.lower()).count(TK_WREP) == toks.count(TK_WREP): assert again == toks
    assert _no_ws(tokenize1(' '.join(again[1:]))) == again

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
        xs = torch.cat([x for x, _ in batches], 1)
        ys = torch.cat([y for _, y in batches], 1)
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
            seen.append(d)
            i += k
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
from l3.text_models import (get_language_model, get_text_classifier, load_pretrained, find_pretrained)
import pickle
import subprocess
import sys
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
    x = torch.randint(2, 30, (2, 17))
    x[1, :9] = 1
    assert c(x).shape == (2, 3)
    x2 = x.clone()
    x2[:, :5] = 7      # tokens before the last max_len only build the state: output changes, no crash
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

# ---------------------------------------------------------------- distributed LM loader, memory, factories, bad input
from torch.utils.data.distributed import DistributedSampler
from l3.text import iter_tokenized
from l3.text_data import TextDataBunch, TextLMDataBunch, TextClasDataBunch, lm_databunch_on_disk
from l3.text_models import get_text_classifier, TextClassifierLearner, text_classifier_learner, AWD_LSTM
from l3.data import DataError
from l3.text_data import TextList
import pandas as pd

@FAST
@given(st.lists(st.integers(1, 60), min_size=1, max_size=15), st.integers(1, 4), st.integers(2, 3), st.integers(3, 12),
       st.booleans(), st.integers(0, 3))
def test_lm_loader_distributed_shares(lens, bs, world, bptt, shuffle, epoch):
    "Each process reads its own rows of the same stream: equal numbers of batches, disjoint, together the whole."
    docs = [np.arange(i * 100, i * 100 + n) for i, n in enumerate(lens)]
    if sum(lens) // (bs * world) < 2: return
    samplers = [DistributedSampler(docs, num_replicas=world, rank=r, shuffle=shuffle, seed=7) for r in range(world)]
    for s in samplers: s.set_epoch(epoch)
    dls = [LMDataLoader(docs, bs=bs, bptt=bptt, sampler=s) for s in samplers]
    assert len({len(d) for d in dls}) == 1
    rows = [torch.cat([x for x, _ in d], 1) for d in dls]
    flat = torch.cat(rows).flatten().tolist()
    assert len(set(flat)) == len(flat)
    if not shuffle:   # together: the single-process stream with bs x world rows, in order
        one = LMDataLoader(docs, bs=bs * world, bptt=bptt, shuffle=False)
        assert torch.equal(torch.cat(rows), torch.cat([x for x, _ in one], 1))

def test_lm_loader_new_keeps_sampler():
    docs = [np.arange(200)]
    s = DistributedSampler(docs, num_replicas=2, rank=1, shuffle=False)
    dl = LMDataLoader(docs, bs=2, bptt=10).new(sampler=s, shuffle=False)
    assert dl.sampler is s and next(iter(dl))[0][0, 0] == 100   # rank 1: the second half of the stream

def test_databunch_ddp_new_passes_sampler(tmp_path):
    "The data block's text loader hands the DDP sampler to the stream loader (l3.learner calls .new(sampler=...))."
    # 43 tokens a text, each text its own (one word repeated would collapse into `xxwrep n word`: too short a stream)
    texts = [' '.join([f'word{j}' for j in range(40)] + [f'w{i}', f'w{i}']) for i in range(20)]
    data = (TextList.from_df(pd.DataFrame({'text': texts}), tmp_path, cols='text').split_by_idx([0, 1])
            .label_for_lm().databunch(bs=2, bptt=8, device='cpu'))
    s0, s1 = (DistributedSampler(data.train_ds, num_replicas=2, rank=r, shuffle=True, seed=0) for r in (0, 1))
    d0, d1 = data.train_dl.new(sampler=s0, shuffle=False), data.train_dl.new(sampler=s1, shuffle=False)
    assert len(d0) == len(d1) and len(d0) < len(data.train_dl)
    assert not torch.equal(next(iter(d0))[0], next(iter(d1))[0])

DDP_WORKER = '''
import json, os, sys
from pathlib import Path
import torch, pandas as pd
from l3.callbacks import Callback
from l3.distributed import rank
from l3.text_data import TextList
from l3.synth_text import synth
from l3.text_models import language_model_learner, AWD_LSTM
out = Path(sys.argv[1])
path = synth('imdb_sample', out/'data')
df = pd.read_csv(path/'texts.csv').iloc[:120]
data = TextList.from_df(df, path, cols='text').split_by_rand_pct(0.1, seed=0).label_for_lm().databunch(bs=4, bptt=20, device='cpu')
seen = []
class Seen(Callback):
    def before_batch(self):
        if self.learn.training: seen.extend(self.learn.xb[:, 0].tolist())
torch.manual_seed(int(os.environ['RANK']))
learn = language_model_learner(data, AWD_LSTM, config=dict(emb_sz=8, n_hid=16, n_layers=2), path=out)
learn.fit(1, 1e-3, callbacks=[Seen()])
r = rank()
torch.save(learn.model.state_dict(), out/f'rank{r}.pt')
(out/f'rank{r}.json').write_text(json.dumps({'n': len(learn.recorder.losses), 'single': len(data.train_dl),
                                             'first_tokens': seen}))
torch.distributed.destroy_process_group()
'''

@pytest.mark.skipif(not torch.distributed.is_available(), reason='torch.distributed is not available')
def test_ddp_language_model(tmp_path):
    "torchrun, 2 CPU processes: each reads half the stream rows (half the batches), and they end with equal weights."
    import os
    import socket
    (tmp_path/'worker.py').write_text(DDP_WORKER)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'GLOO_SOCKET_IFNAME': 'lo', 'L3_DEVICE': 'cpu',
           'PYTHONPATH': os.pathsep.join([str(root), os.environ.get('PYTHONPATH', '')])}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2', '--master_addr=127.0.0.1',
           f'--master_port={port}', str(tmp_path/'worker.py'), str(tmp_path)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    m0, m1 = (json.loads((tmp_path/f'rank{r}.json').read_text()) for r in (0, 1))
    assert m0['n'] == m1['n'] > 0 and m0['n'] <= 0.75 * m0['single']   # about half the batches each, the same number
    w0, w1 = (torch.load(tmp_path/f'rank{r}.pt', weights_only=True) for r in (0, 1))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)

import json

def test_iter_tokenized_reads_lazily():
    "With worker processes, only a few chunks of the input are read ahead (not the whole corpus)."
    read = []
    def texts():
        for i in range(2000):
            read.append(i)
            yield f'Review number {i}, quite GOOD!!!'
    it = iter_tokenized(texts(), n_workers=2, progress=False, chunksize=10)
    first = next(it)
    assert first[:3] == ['xxbos', 'xxmaj', 'review'] and len(read) <= 10 * 6, len(read)
    assert sum(1 for _ in it) == 1999

def _peak_tokenize_to_disk(n, dest):
    import tracemalloc
    import l3.text
    l3.text._REMAP_CHUNK = 1 << 12   # the final remapping works in chunks; small ones here so the corpus dominates
    rng = np.random.default_rng(0)
    words = [f'word{i}' for i in range(300)]
    texts = (' '.join(rng.choice(words, 60)) for _ in range(n))
    tracemalloc.start()
    tokenize_to_disk(texts, dest, progress=False, chunksize=100)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak

def test_tokenize_to_disk_memory_does_not_grow_with_corpus(tmp_path):
    "Peak memory while tokenizing to disk: the vocabulary and a chunk, not the corpus (4x the texts, about the same peak)."
    import l3.text
    chunk = l3.text._REMAP_CHUNK
    try: small, big = _peak_tokenize_to_disk(2000, tmp_path/'a'), _peak_tokenize_to_disk(8000, tmp_path/'b')
    finally: l3.text._REMAP_CHUNK = chunk
    ids_small, ids_big = ((tmp_path/d/'ids.npy').stat().st_size for d in 'ab')
    assert big - small < 0.1 * (ids_big - ids_small), (small, big, ids_small, ids_big)   # grows by ~8 bytes a document
    assert big < ids_big, (big, ids_big)                                                 # less than the ids themselves
    ids, v = load_ids(tmp_path/'b')
    assert len(ids) == 8000 and all(len(d) >= 61 and d[0] == v.stoi['xxbos'] for d in ids[:50])

def test_lm_databunch_on_disk_refreshes_when_texts_change(tmp_path):
    texts = [f'A review of film {i % 7}. I liked it.' for i in range(40)]
    il = TextList.from_df(pd.DataFrame({'text': texts}), tmp_path, cols='text')
    d1 = lm_databunch_on_disk(il.split_by_idx(range(5)), tmp_path/'tok', bs=2, bptt=5, progress=False)
    il2 = TextList.from_df(pd.DataFrame({'text': texts[:-1] + ['Something else entirely, twice twice.']}), tmp_path, cols='text')
    d2 = lm_databunch_on_disk(il2.split_by_idx(range(5)), tmp_path/'tok', bs=2, bptt=5, progress=False)
    assert list(d2.train_ds.ids[-1]) != list(d1.train_ds.ids[-1])
    assert 'twice' in d2.vocab.stoi and 'twice' not in d1.vocab.stoi

def test_factories(tmp_path):
    (tmp_path/'train'/'pos').mkdir(parents=True)
    (tmp_path/'train'/'neg').mkdir()
    (tmp_path/'valid'/'pos').mkdir(parents=True)
    (tmp_path/'valid'/'neg').mkdir()
    (tmp_path/'test').mkdir()
    for split, n in (('train', 6), ('valid', 2)):
        for lab, w in (('pos', 'great'), ('neg', 'awful')):
            for i in range(n): (tmp_path/split/lab/f'{i}.txt').write_text(f'A {w} film, {w} acting.')
    (tmp_path/'test'/'0.txt').write_text('Unknown.')
    data = TextDataBunch.from_folder(tmp_path, test='test', bs=4)
    assert data.classes == ['neg', 'pos'] and len(data.train_ds) == 12 and len(data.test_ds) == 1
    lm = TextLMDataBunch.from_folder(tmp_path, bs=2, bptt=5)
    assert lm.label.name == 'lm' and isinstance(lm, type(data))
    df = pd.DataFrame({'label': ['a', 'b'] * 10, 'text': [f'text {i} ok' for i in range(20)]})
    d = TextClasDataBunch.from_df(tmp_path, df.iloc[:15], df.iloc[15:], test_df=df.iloc[:3], bs=4)
    assert len(d.train_ds) == 15 and len(d.valid_ds) == 5 and len(d.test_ds) == 3
    with pytest.raises(DataError, match=r'nope\.csv does not exist'): TextDataBunch.from_csv(tmp_path, 'nope.csv')

# bad input -----------------------------------------------------------------------------------------------------------
def test_empty_texts_pass_through(tmp_path):
    "Empty (or NaN) texts become just `xxbos`; they batch with padding and the classifier gives finite outputs."
    df = pd.DataFrame({'label': ['a', 'b', 'a', 'b'] * 3, 'text': ['fine review', '', float('nan'), '   '] * 3})
    df.to_csv(tmp_path/'t.csv', index=False)
    data = TextList.from_csv(tmp_path, 't.csv', cols='text').split_by_idx([0, 1]).label_from_df(cols=0).databunch(bs=4)
    assert [len(o) for o in data.train_ds.ids[:3]] == [1, 1, 3]        # rows 2, 3, 4: NaN -> '', '   ', 'fine review'
    assert len(data.valid_ds.ids[1]) == 1                               # row 1: ''
    learn = text_classifier_learner(data, AWD_LSTM, config=dict(emb_sz=8, n_hid=12, n_layers=2))
    x, _ = data.one_batch()
    assert torch.isfinite(learn.model.eval()(x)).all()

def test_text_nan_label(tmp_path):
    pd.DataFrame({'label': ['pos', None, 'neg'], 'text': ['a', 'b', 'c']}).to_csv(tmp_path/'t.csv', index=False)
    with pytest.raises(DataError, match=r"label column 'label' has NaN"):
        TextList.from_csv(tmp_path, 't.csv', cols='text').split_none().label_from_df(cols='label')

def test_text_label_not_in_classes(tmp_path):
    for lab in ('pos', 'neg', 'neutral'):
        (tmp_path/'train'/lab).mkdir(parents=True)
        (tmp_path/'train'/lab/'0.txt').write_text(f'{lab} text')
        (tmp_path/'test'/lab).mkdir(parents=True)
        (tmp_path/'test'/lab/'0.txt').write_text(f'{lab} text')
    with pytest.raises(DataError, match=r"not in classes, e\.g\. 'neutral'.*add the label to classes"):
        TextList.from_folder(tmp_path).split_by_folder(valid='test').label_from_folder(classes=['neg', 'pos'])

def test_text_not_utf8_replace_when_asked(tmp_path):
    (tmp_path/'train'/'pos').mkdir(parents=True)
    (tmp_path/'train'/'pos'/'bad.txt').write_bytes('caf\xe9 great'.encode('latin-1'))
    with pytest.raises(DataError, match=r'bad\.txt is not valid UTF-8'):
        TextList.from_folder(tmp_path).split_none().label_from_folder()
    lls = TextList.from_folder(tmp_path, encoding_errors='replace').split_none().label_from_folder()
    assert 'caf\ufffd' in lls.train.x.texts()[0]

def test_load_encoder_vocab_mismatch(tmp_path):
    df = pd.DataFrame({'label': ['a', 'b'] * 6, 'text': [f'words {i % 3} and more' for i in range(12)]})
    cfg = dict(emb_sz=8, n_hid=12, n_layers=2)
    data = TextList.from_df(df, tmp_path, cols='text').split_by_idx([0, 1]).label_from_df(cols=0).databunch(bs=4)
    learn = text_classifier_learner(data, AWD_LSTM, config=cfg, path=tmp_path)
    learn.save_encoder('enc')
    other = Vocab(SPECIAL_TOKENS + ['only', 'these'])
    bad = TextClassifierLearner(data, get_text_classifier(len(other), 2, config=cfg), path=tmp_path)
    with pytest.raises(ValueError, match=rf'vocab size mismatch: the vocab has {len(other)} tokens but the encoder file '
                                         rf'.*enc\.pth has an embedding of {len(data.vocab)} rows'):
        bad.load_encoder('enc')

def test_text_train_bench_smoke():
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(root/'bench'/'text_train.py'), '--quick', '--no-fastai'], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert 'tokens/s' in r.stdout and 'fastai not measured' in r.stdout

def test_lm_mixed_precision_keeps_lstms_float32(tmp_path):
    "bf16 autocast (mixed_precision=True on CPU): bf16 scores, float32 LSTM states, finite losses, predict still works."
    from l3.text_models import language_model_learner
    df = pd.DataFrame({'text': [f'The film {i % 5} was great. I liked it a lot, really.' for i in range(60)]})
    data = TextList.from_df(df, tmp_path, cols='text').split_by_rand_pct(0.1, seed=0).label_for_lm().databunch(bs=4, bptt=8, device='cpu')
    learn = language_model_learner(data, AWD_LSTM, config=dict(emb_sz=8, n_hid=16, n_layers=2), pretrained=False,
                                   mixed_precision=True, path=tmp_path)
    assert learn.amp_dtype == torch.bfloat16
    learn.fit(1, 1e-2)
    assert all(math.isfinite(l) for l in learn.recorder.losses)
    xb, _ = data.one_batch()
    learn.model.train()
    with learn._autocast(): out = learn.model(xb)
    assert out.dtype == torch.bfloat16 and learn.model[0].hidden[0][0].dtype == torch.float32
    assert learn.predict('The film', n_words=3).startswith('The film ')
    fp32 = language_model_learner(data, AWD_LSTM, config=dict(emb_sz=8, n_hid=16, n_layers=2), pretrained=False,
                                  mixed_precision=False)
    assert fp32.amp_dtype is None
