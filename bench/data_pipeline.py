"""Data pipeline throughput: decode + resize + collate of JPEG tiles to 128x128, l3 against fastai's DataLoaders.

Both read the same synthetic Planet tiles (256x256 JPEGs, the real Planet size) with the same batch size, worker count,
multi-label targets and ImageNet normalisation, on the CPU, in one run. Prints images/s and the ratio l3/fastai
(target >= 1.0x), then the share of a ResNet-18 training step (bs 64, 128x128, CPU) spent waiting for data.

    python bench/data_pipeline.py            # full run (3-6 minutes on 2 busy cores)
    python bench/data_pipeline.py --quick    # smoke run (seconds)

Each figure is the fastest pass of alternating l3/fastai rounds (the machine may be shared and its load drifts).
fastai runs in the same interpreter when importable, else through the peer environment `.venv-bench/` (same files,
same run); without either, only l3 is measured and "fastai not installed" is printed.
"""
from __future__ import annotations
import argparse, json, os, shutil, subprocess, sys, tempfile, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT/'.venv-bench'/'bin'/'python'
warnings.filterwarnings('ignore', category=DeprecationWarning)


def make_tiles(dest: Path, n: int, size: int = 256) -> Path:
    "Write `n` synthetic Planet tiles (`train-jpg/train_N.jpg` + `train_v2.csv`) with l3.synth."
    from l3.synth import synth_planet
    synth_planet(dest, n=n, n_test=1, size=size)
    return dest


def _timed_epochs(make_iter, n_epochs):
    "Seconds of the fastest full pass over `make_iter()` (after a warm-up pass), and the images seen per pass."
    times, n_img = [], 0
    for e in range(n_epochs + 1):
        t0, n = time.perf_counter(), 0
        for xb, yb in make_iter(): n += len(xb)
        if e: times.append(time.perf_counter() - t0)
        n_img = n
    return min(times), n_img


def l3_loaders(path: Path, bs: int, size: int, num_workers: int | None):
    from l3.vision_data import ImageList, imagenet_stats
    return (ImageList.from_csv(path, 'train_v2.csv', folder='train-jpg', suffix='.jpg')
            .split_none().label_from_df(label_delim=' ')
            .transform(size=size).databunch(bs=bs, num_workers=num_workers, device='cpu')
            .normalize(imagenet_stats))


def bench_l3(path, bs, size, workers, epochs):
    res = {}
    for w in workers:
        data = l3_loaders(path, bs, size, w)
        secs, n = _timed_epochs(lambda: iter(data.train_dl), epochs)
        xb, _ = data.one_batch()
        assert xb.shape[-2:] == (size, size) and xb.dtype.is_floating_point
        res[w] = n/secs
        del data
    return res


def fastai_loaders(path: Path, bs: int, size: int, num_workers: int):
    import pandas as pd
    from fastai.vision.all import (DataBlock, ImageBlock, MultiCategoryBlock, ColReader, Resize, Normalize,
                                   imagenet_stats, IndexSplitter)
    df = pd.read_csv(path/'train_v2.csv')
    dblock = DataBlock(blocks=(ImageBlock, MultiCategoryBlock),
                       get_x=ColReader(0, pref=f'{path}/train-jpg/', suff='.jpg'),
                       get_y=ColReader(1, label_delim=' '),
                       splitter=IndexSplitter([]),
                       item_tfms=Resize(size),
                       batch_tfms=[Normalize.from_stats(*imagenet_stats)])
    return dblock.dataloaders(df, bs=bs, num_workers=num_workers, device='cpu')


def bench_fastai(path, bs, size, workers, epochs):
    res = {}
    for w in workers:
        dls = fastai_loaders(path, bs, size, w)
        secs, n = _timed_epochs(lambda: iter(dls.train), epochs)
        res[w] = n/secs
        del dls
    return res


def fastai_where():
    "'here' (importable), 'peer' (.venv-bench), or None."
    try:
        import fastai  # noqa: F401
        return 'here'
    except ImportError: pass
    if PEER.exists():
        ok = subprocess.run([str(PEER), '-c', 'import fastai'], capture_output=True).returncode == 0
        if ok: return 'peer'
    return None


def run_fastai(where, path, bs, size, workers, epochs):
    if where == 'here': return bench_fastai(path, bs, size, workers, epochs)
    cmd = [str(PEER), __file__, '--fastai-only', str(path), '--bs', str(bs), '--size', str(size), '--epochs', str(epochs),
           '--workers', *map(str, workers)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode: raise RuntimeError(f'fastai peer failed:\n{out.stderr[-2000:]}')
    return {int(k): v for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def wait_fraction(path, bs, size, num_workers, steps):
    "Share of wall time of ResNet-18 training steps spent waiting for the next batch (l3 loader)."
    import torch, torchvision
    data = l3_loaders(path, bs, size, num_workers)
    model = torchvision.models.resnet18(num_classes=data.c)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_f = torch.nn.BCEWithLogitsLoss()
    it = iter(data.train_dl)
    xb, yb = next(it)                       # warm-up step (workers start, first allocations)
    loss_f(model(xb), yb).backward(); opt.step(); opt.zero_grad()
    wait = step = 0.
    for _ in range(steps):
        t0 = time.perf_counter()
        try: xb, yb = next(it)
        except StopIteration: it = iter(data.train_dl); xb, yb = next(it)
        t1 = time.perf_counter()
        loss_f(model(xb), yb).backward(); opt.step(); opt.zero_grad()
        t2 = time.perf_counter()
        wait += t1 - t0; step += t2 - t1
    return wait/(wait + step), (wait + step)/steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--quick', action='store_true', help='smoke run: few images, one worker setting, one step')
    p.add_argument('--n', type=int, default=None, help='number of tiles (default 1024, 64 with --quick)')
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--size', type=int, default=None, help='output size (default 128, 64 with --quick)')
    p.add_argument('--epochs', type=int, default=None, help='timed passes after a warm-up one (fastest kept)')
    p.add_argument('--workers', type=int, nargs='*', default=None, help='num_workers settings to compare')
    p.add_argument('--steps', type=int, default=None, help='training steps for the wait share')
    p.add_argument('--rounds', type=int, default=None, help='alternating l3/fastai rounds, best kept (default 2, 1 quick)')
    p.add_argument('--no-fastai', action='store_true', help='measure l3 only')
    p.add_argument('--fastai-only', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.fastai_only:   # child mode in the peer environment: print {workers: images/s}
        print(json.dumps(bench_fastai(Path(a.fastai_only), a.bs, a.size, a.workers, a.epochs))); return 0

    import torch
    n = a.n or (64 if a.quick else 1024)
    a.size = a.size or (64 if a.quick else 128)
    epochs = a.epochs or (1 if a.quick else 2)
    workers = a.workers if a.workers is not None else ([0] if a.quick else [0, 1, 2])
    steps = a.steps or (1 if a.quick else 4)
    rounds = a.rounds or (1 if a.quick else 2)
    bs = min(a.bs, 16) if a.quick else a.bs
    tmp = Path(tempfile.mkdtemp(prefix='l3_bench_data_'))
    try:
        t0 = time.perf_counter(); path = make_tiles(tmp/'planet', n)
        print(f'{n} JPEG tiles 256x256 -> {a.size}x{a.size}, bs {bs}, {len(os.sched_getaffinity(0))} CPUs, '
              f'torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} (tiles written in {time.perf_counter()-t0:.1f}s)')
        where = None if a.no_fastai else fastai_where()
        if where is None: print('fastai not measured (--no-fastai)' if a.no_fastai else
                                'fastai not installed: l3 only (the peer lives in .venv-bench, see the contract)')
        # alternate l3 and fastai rounds and keep each one's best: the machine is shared, its load drifts
        l3r, far = {}, ({} if where else None)
        for r in range(rounds):
            for w, v in bench_l3(path, bs, a.size, workers, epochs).items(): l3r[w] = max(v, l3r.get(w, 0))
            if where:
                try:
                    for w, v in run_fastai(where, path, bs, a.size, workers, epochs).items(): far[w] = max(v, far.get(w, 0))
                except Exception as e: print(f'fastai run failed: {e}'); far = None; where = None
        print(f"\n{'num_workers':>11} {'l3 img/s':>10} {'fastai img/s':>13} {'ratio':>7}")
        for w in workers:
            fa = f'{far[w]:13.0f}' if far else f"{'-':>13}"
            ratio = f'{l3r[w]/far[w]:6.2f}x' if far else f"{'-':>7}"
            print(f'{w:>11} {l3r[w]:10.0f} {fa} {ratio}')
        if far: print(f'best setting: l3 {max(l3r.values()):.0f} img/s vs fastai {max(far.values()):.0f} img/s = '
                      f'{max(l3r.values())/max(far.values()):.2f}x (target >= 1.0x)')
        from l3.data import default_num_workers
        dw = default_num_workers(n)
        for w in sorted({0, dw}):
            frac, per = wait_fraction(path, bs, a.size, w, steps)
            print(f'ResNet-18 step (bs {bs}, {a.size}px, CPU), num_workers={w}{" (default)" if w == dw else ""}: '
                  f'{per:.2f}s/step, {100*frac:.1f}% of it waiting for data')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
