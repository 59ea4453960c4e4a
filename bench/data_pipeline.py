"""Data pipeline throughput: decode + resize + collate of JPEG tiles to 128x128, l3 against fastai's DataLoaders.

Both read the same synthetic Planet tiles (256x256 JPEGs, the real Planet size) with the same batch size, worker count,
multi-label targets and ImageNet normalisation, on the CPU, in one run. Prints images/s and the ratio l3/fastai
(target >= 1.0x), then the share of a ResNet-18 training step (bs 64, 128x128, CPU) spent waiting for data.

    python bench/data_pipeline.py            # full run (3-6 minutes on 2 busy cores)
    python bench/data_pipeline.py --quick    # smoke run (seconds)
    python bench/data_pipeline.py --lessons  # per lesson: share of a training step spent waiting for data
    python bench/data_pipeline.py --lessons --quick    # the same, one lesson, few steps

`--lessons` builds each image lesson's small-mode data (its stand-in offline, its size, batch size, transforms) and
its learner (`cnn_learner` / `unet_learner`, resnet18, random weights: the step is what matters, not what it learns)
and trains two epochs, timing per batch the step (before_batch to after_batch) and the wait before it (after_batch to
the next before_batch: the loader's next batch, decoded, collated, augmented, normalised). It prints the wait share of
the second epoch (the first fills the decode cache) with the decode cache (l3.fast's default) and without it
(`cache_mb=0`). The text lesson's batches come from token ids in memory (no decoding) and are not measured here.

Each figure is the fastest pass of alternating l3/fastai rounds (the machine may be shared and its load drifts).
fastai runs in the same interpreter when importable, else through the peer environment `.venv-bench/` (same files,
same run); without either, only l3 is measured and "fastai not installed" is printed.
"""
from __future__ import annotations
import argparse, json, os, shutil, subprocess, sys, tempfile, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from _peer import add_emulate_arg, emulate_avx2, hardware, check_emulation, print_hardware   # shared with the other benches
PEER = Path(os.environ.get('L3_PEER_PYTHON') or ROOT/'.venv-bench'/'bin'/'python')   # as bench/_peer.py
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


LESSON_DATA = {   # the lessons' small-mode pipelines: name -> (dataset, builder)
    'planet': 'planet_tiny', 'camvid': 'camvid_tiny', 'head_pose': 'biwi_head_pose', 'mnist (data_block_examples)': 'mnist_tiny'}

def _cache(learn, cache_mb):
    "The factories' learner, with its decode cache (the default) or without it (`cache_mb=0`)."
    if cache_mb == 0:
        for cb in [c for c in learn.cbs if type(c).__name__ == 'DecodeCache']: learn.remove_cb(cb)
    return learn

def lesson_learner(name, path, cache_mb):
    "The lesson's small-mode data and a resnet18 learner on it (random weights), with the decode cache or without."
    import numpy as np
    from l3.augment import get_transforms
    from l3.vision_data import (ImageList, SegmentationItemList, PointsItemList, imagenet_stats)
    from l3.vision import cnn_learner, unet_learner
    from l3.dataset_readers import camvid_valid_names, biwi_point, read_biwi_cal
    if name == 'planet':
        data = (ImageList.from_csv(path, 'labels.csv', folder='train', suffix='.jpg').split_by_rand_pct(0.2, seed=42)
                .label_from_df(label_delim=' ')
                .transform(get_transforms(flip_vert=True, max_lighting=0.1, max_zoom=1.05, max_warp=0.), size=64)
                .databunch(bs=16, device='cpu').normalize(imagenet_stats))
        return _cache(cnn_learner(data, 'resnet18', pretrained=False), cache_mb)
    if name == 'camvid':
        from l3.vision_data import open_mask
        codes = np.loadtxt(path/'codes.txt', dtype=str)
        size = np.array(open_mask(next((path/'labels').iterdir())).shape)//2
        data = (SegmentationItemList.from_folder(path/'images').split_by_files(camvid_valid_names(path))
                .label_from_func(lambda x: path/'labels'/f'{x.stem}_P{x.suffix}', classes=codes)
                .transform(get_transforms(), size=size, tfm_y=True).databunch(bs=8, device='cpu').normalize(imagenet_stats))
        return _cache(unet_learner(data, 'resnet18', pretrained=False), cache_mb)
    if name == 'head_pose':
        cal = read_biwi_cal(path/'01'/'rgb.cal')
        data = (PointsItemList.from_folder(path).split_by_valid_func(lambda o: o.parent.name == '13')
                .label_from_func(lambda o: biwi_point(o, cal)).transform(get_transforms(), tfm_y=True, size=(60, 80))
                .databunch(bs=16, device='cpu').normalize(imagenet_stats))
        return _cache(cnn_learner(data, 'resnet18', pretrained=False, y_range=(-1.1, 1.1)), cache_mb)
    data = (ImageList.from_folder(path).split_by_folder().label_from_folder().transform(get_transforms(do_flip=False), size=28)
            .databunch(bs=64, device='cpu').normalize(imagenet_stats))
    return _cache(cnn_learner(data, 'resnet18', pretrained=False), cache_mb)

def lesson_wait(name, cache_mb, epochs=2, max_steps=None):
    "(wait share of the last epoch, step s, wait s per step, images decoded) of the lesson's pipeline; see --lessons."
    from l3.datasets import get_dataset
    from l3.callbacks import Callback, CancelEpoch
    learn = lesson_learner(name, get_dataset(LESSON_DATA[name]), cache_mb)
    rec = []
    class Times(Callback):
        order = -100
        def before_epoch(self): rec.append([]); self.t = None
        def before_batch(self):
            if not self.learn.training: return
            now = time.perf_counter(); self.w = now - self.t if self.t is not None else None; self.t0 = now
        def after_batch(self):
            if not self.learn.training: return
            now = time.perf_counter(); self.t = now
            if self.w is not None: rec[-1].append((self.w, now - self.t0))
            if max_steps and len(rec[-1]) >= max_steps: raise CancelEpoch()
    learn.fit(epochs, 1e-3, callbacks=[Times()])
    last = rec[-1]
    wait, step = sum(w for w, _ in last), sum(s for _, s in last)
    return wait / (wait + step), step / len(last), wait / len(last)

def lessons_main(a):
    os.environ.setdefault('L3_QUIET', '1'); os.environ.setdefault('L3_OFFLINE', '1')
    import torch
    torch.set_num_threads(a.threads or torch.get_num_threads())
    names = list(LESSON_DATA)[:1] if a.quick else list(LESSON_DATA)
    print(f"share of a training step spent waiting for data, per lesson's small-mode pipeline (2nd epoch; "
          f"{torch.get_num_threads()} torch threads, num_workers=0 as l3 chooses for small sets); load average "
          f"{' '.join(f'{l:.2f}' for l in os.getloadavg())}")
    print(f"  {'lesson':<30} {'cache':<6} {'step s':>7} {'wait s':>7} {'wait share':>10}")
    for n in names:
        for mb, what in ((None, 'on'), (0, 'off')):
            share, step, wait = lesson_wait(n, mb, max_steps=3 if a.quick else None)
            print(f"  {n:<30} {what:<6} {step:>7.3f} {wait:>7.4f} {100*share:>9.1f}%  {'(target <= 5%)' if what == 'on' else ''}")
    return 0

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
    p.add_argument('--lessons', action='store_true', help="per lesson: the share of a step spent waiting for data")
    p.add_argument('--threads', type=int, default=1, help='--lessons: torch threads (default 1)')
    add_emulate_arg(p)
    p.add_argument('--fastai-only', default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if not a.fastai_only:
        emulate_avx2(a.emulate_avx2)
        hw = hardware(a.threads if a.lessons else 0); print_hardware(hw)
        if a.emulate_avx2: check_emulation(hw)
    if a.lessons: return lessons_main(a)
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
        from l3.databunch import default_num_workers
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
