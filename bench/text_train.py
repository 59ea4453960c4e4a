"""Language-model training speed: l3's AWD-LSTM language model against fastai 2.8's, same sizes, same tokens, CPU.

    python bench/text_train.py                 # the lesson's AWD-LSTM (emb 400, hidden 1152, 3 layers), vocab 60000,
                                               # bs 16, bptt 70: 2 warm-up + 5 timed steps, 2 rounds
    python bench/text_train.py --quick         # smoke run: tiny model, 2 timed steps, one round
    python bench/text_train.py --vocab 8000 --bs 32 --threads 0

Both libraries build their own language-model learner the way the lesson does (`language_model_learner(data,
AWD_LSTM, drop_mult=0.3, pretrained=False)`; fastai: `get_language_model(AWD_LSTM, vocab, config, drop_mult=0.3)`
in an `LMLearner` with its default regularisation alpha=2, beta=1, which is what `language_model_learner` builds)
with each library's defaults (optimiser, weight decay, precision), on the same stream of token ids (drawn from a
Zipf-like distribution over the vocabulary, like words), read by each library's own language-model loader
(`bs` rows, `bptt` tokens a batch; l3 varies the length a little around `bptt`, so tokens are counted batch by batch).
Configurations:
  l3        l3's default: `mixed_precision='auto'`, bf16 autocast where it measures faster (the decoder
            and its 60000 scores a token; the LSTMs stay float32 on CPU), else float32
  l3-fp32   l3 with `mixed_precision=False`
  fastai    fastai's defaults (float32)
A callback times each batch from `before_batch` to `after_batch` (forward, loss with AR/TAR, backward, optimiser
step); the loader's time between batches is measured too (from one `after_batch` to the next `before_batch`).
Each configuration runs in its own fresh process, in turns, `--rounds` times; each keeps its best round (median
step). The figure: tokens per second (tokens of a batch / its step time, loader included), l3 / fastai (target >= 1.2x).
fastai is looked for in this Python, then in /work/main/.venv-bench; without it only l3 is measured
("fastai not installed").
"""
import argparse, os, statistics, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from _peer import BENCH_VENV_PY, fastai_python, emit, run_worker   # shared with the other benches
FULL = dict(emb_sz=400, n_hid=1152, n_layers=3)
TINY = dict(emb_sz=32, n_hid=64, n_layers=3)


def _docs(vocab, n_tokens, seed=0):
    "Documents of token ids: Zipf-like frequencies over `vocab` ids (the first 8 are the special tokens), xxbos first."
    import numpy as np
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, vocab - 8 + 1) ** 1.1; p /= p.sum()
    ids = rng.choice(np.arange(8, vocab), size=n_tokens, p=p).astype(np.int64)
    lens = rng.integers(100, 400, n_tokens // 100)
    cuts = np.cumsum(lens); cuts = cuts[cuts < n_tokens]
    return [np.concatenate([[2], d]) for d in np.split(ids, cuts) if len(d)]

def _timer(base, rec):
    "A callback of either library (`base` is its Callback class) recording each batch: step time, loader time, tokens."
    class Timer(base):
        order = -100
        def before_batch(self):
            now = time.perf_counter()
            if getattr(self, 'end', None) is not None: rec['load'].append(now - self.end)
            self.t = now
        def after_batch(self):
            self.end = time.perf_counter()
            rec['step'].append(self.end - self.t); rec['tokens'].append(int(self.learn.xb[0].numel() if isinstance(self.learn.xb, tuple) else self.learn.xb.numel()))
    return Timer()

def run_l3(cfg, vocab, bs, bptt, n_batches, mixed_precision='auto'):
    sys.path.insert(0, str(ROOT))
    import torch, l3
    from l3.callbacks import Callback
    from l3.tensor_data import TensorData
    from l3.text import LMDataLoader, Vocab, SPECIAL_TOKENS
    from l3.text_models import language_model_learner, AWD_LSTM
    docs = _docs(vocab, bs * bptt * (n_batches + 2))
    data = TensorData(LMDataLoader(docs, bs=bs, bptt=bptt, device='cpu', seed=0),
                      LMDataLoader(docs[:max(1, len(docs) // 50)], bs=bs, bptt=bptt, shuffle=False, device='cpu'),
                      c=vocab, label_cls='lm')
    data.vocab = Vocab(SPECIAL_TOKENS + [f'w{i}' for i in range(vocab - len(SPECIAL_TOKENS))])
    learn = language_model_learner(data, AWD_LSTM, drop_mult=0.3, pretrained=False, config=cfg,
                                   mixed_precision=mixed_precision)
    rec = {'step': [], 'load': [], 'tokens': []}
    learn.fit(1, 1e-3, callbacks=[_timer(Callback, rec)])
    amp = str(learn.amp_dtype).replace('torch.', '') if learn.amp_dtype else 'fp32'
    return rec, f'l3 {getattr(l3, "__version__", "?")} ({amp})'

def run_fastai(cfg, vocab, bs, bptt, n_batches):
    import warnings; warnings.filterwarnings('ignore')
    import torch, fastai
    from fastai.text.all import (LMDataLoader, DataLoaders, LMLearner, get_language_model, AWD_LSTM, awd_lstm_lm_config,
                                 awd_lstm_lm_split, CrossEntropyLossFlat, Callback, LMTensorText)
    docs = [LMTensorText(torch.from_numpy(d)) for d in _docs(vocab, bs * bptt * (n_batches + 2))]
    dl = LMDataLoader(docs, bs=bs, seq_len=bptt, shuffle=True, device='cpu')
    vdl = LMDataLoader(docs[:max(1, len(docs) // 50)], bs=bs, seq_len=bptt, device='cpu')
    dls = DataLoaders(dl, vdl, device='cpu')
    config = {**awd_lstm_lm_config, **cfg}
    model = get_language_model(AWD_LSTM, vocab, config=config, drop_mult=0.3)
    learn = LMLearner(dls, model, loss_func=CrossEntropyLossFlat(), splitter=awd_lstm_lm_split)
    rec = {'step': [], 'load': [], 'tokens': []}
    learn.add_cb(_timer(Callback, rec))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    return rec, f'fastai {fastai.__version__}'

def worker(config, args):
    os.environ.setdefault('L3_QUIET', '1'); os.environ.setdefault('L3_OFFLINE', '1')
    import torch
    if args.threads: torch.set_num_threads(args.threads)
    cfg = TINY if args.quick else FULL
    t0 = time.perf_counter()
    if config == 'fastai': rec, desc = run_fastai(cfg, args.vocab, args.bs, args.bptt, args.warmup + args.steps)
    else: rec, desc = run_l3(cfg, args.vocab, args.bs, args.bptt, args.warmup + args.steps, 'auto' if config == 'l3' else False)
    w = args.warmup
    out = {'step': rec['step'][w:w + args.steps], 'load': rec['load'][w:w + args.steps], 'tokens': rec['tokens'][w:w + args.steps],
           'desc': desc, 'wall_s': time.perf_counter() - t0, 'threads': torch.get_num_threads()}
    emit(out)

def run_config(py, config, args):
    cmd = ['--worker', config, '--warmup', str(args.warmup), '--steps', str(args.steps), '--vocab',
           str(args.vocab), '--bs', str(args.bs), '--bptt', str(args.bptt), '--threads', str(args.threads)]
    cmd += ['--quick'] if args.quick else []
    return run_worker(py, __file__, cmd, config)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='smoke run: tiny model, vocab 500, 2 timed steps, one round')
    ap.add_argument('--vocab', type=int, default=None, help='vocabulary size (default 60000, the lesson max_vocab)')
    ap.add_argument('--bs', type=int, default=None, help='rows of the stream (default 16)')
    ap.add_argument('--bptt', type=int, default=70)
    ap.add_argument('--rounds', type=int, default=None, help='turns over the configurations (default 2; quick 1)')
    ap.add_argument('--warmup', type=int, default=None, help='untimed first steps (default 2; quick 1)')
    ap.add_argument('--steps', type=int, default=None, help='timed steps per run (default 5; quick 2)')
    ap.add_argument('--threads', type=int, default=1,
                    help="torch CPU threads per run (default 1: steadier on a shared machine; 0 = torch's default)")
    ap.add_argument('--no-fastai', action='store_true', help='measure l3 only')
    ap.add_argument('--worker', metavar='CONFIG', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    q = args.quick
    args.vocab = args.vocab or (500 if q else 60000)
    args.bs = args.bs or (4 if q else 16)
    args.rounds = args.rounds or (1 if q else 2)
    args.warmup = args.warmup if args.warmup is not None else (1 if q else 2)
    args.steps = args.steps or (2 if q else 5)
    if args.worker: return worker(args.worker, args)

    fa_py = None if args.no_fastai else fastai_python('fastai.text')
    if args.no_fastai: print('fastai not measured (--no-fastai): measuring l3 only')
    elif fa_py is None: print(f'fastai not installed: measuring l3 only (install it in a separate env such as {BENCH_VENV_PY})')
    configs = ['l3', 'l3-fp32'] + (['fastai'] if fa_py else [])
    cfg = TINY if q else FULL
    print(f"AWD-LSTM language model emb {cfg['emb_sz']}, hidden {cfg['n_hid']}, {cfg['n_layers']} layers, vocab "
          f"{args.vocab}, bs {args.bs}, bptt {args.bptt}, CPU: {args.warmup} warm-up + {args.steps} timed steps, "
          f"{args.rounds} round(s)")
    best = {}
    for r in range(args.rounds):
        for c in configs:
            res = run_config(fa_py if c == 'fastai' else sys.executable, c, args)
            if res is None: continue
            per = [s + l for s, l in zip(res['step'], res['load'] + [0] * len(res['step']))]
            res['tok_s'] = statistics.median(t / p for t, p in zip(res['tokens'], per))
            res['median_step'], res['median_load'] = statistics.median(res['step']), statistics.median(res['load'] or [0])
            if c not in best or res['tok_s'] > best[c]['tok_s']: best[c] = res
    if not best: return 1
    print(f"  {'config':<8} {'what':<24} {'step s':>7} {'load ms':>8} {'tokens/s':>9}")
    for c, res in best.items():
        print(f"  {c:<8} {res['desc']:<24} {res['median_step']:>7.3f} {res['median_load'] * 1000:>8.1f} {res['tok_s']:>9.0f}")
    if 'fastai' in best:
        for c in ('l3', 'l3-fp32'):
            if c in best: print(f"speed: {c} / fastai = {best[c]['tok_s'] / best['fastai']['tok_s']:.2f}x tokens/s"
                                + (' (target >= 1.2x)' if c == 'l3' else ''))
    print(f"torch threads: {best['l3']['threads'] if 'l3' in best else '?'}; step s: median time of a training step "
          f"(forward, loss, backward, optimiser) in the best round; load ms: the loader's time between two batches.")
    return 0

if __name__ == '__main__': sys.exit(main())
