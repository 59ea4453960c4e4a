"""CamVid segmentation, end to end: l3's `unet_learner` against fastai 2.8's `unet_learner(dls, resnet34, pretrained=False)`.

    python bench/segmentation.py            # CPU: camvid_tiny (stand-in offline) at 48x64, bs 8, 8 epochs, both libraries
    python bench/segmentation.py --quick    # smoke run: resnet18, 32x32, 1 epoch, l3 (and fastai when installed)
    python bench/segmentation.py --gpu      # CUDA: images/s at 360x480 and 720x960, fp32 and mixed precision, peak memory
    python bench/segmentation.py --seeds 3 --target 0.8 --emulate-avx2   # + time to acc_camvid 0.8, as on an AVX2 CPU

Time to accuracy (both libraries, each seed): the wall time from the data block to the end of the first epoch whose
validation acc_camvid (each library's own per-epoch metric: l3's over all pixels of the set, fastai's averaged over
batches) reaches `--target` (default 0.80), beside the fixed-budget figures; "-" when a seed never gets there.

CPU mode (the issue's comparison): both libraries get the same files (the `camvid_tiny` data set, or its synthetic
stand-in offline), the same split (validation = the `Seq05VD` video), the same size (half the source size), batch size,
augmentation (each library's default `get_transforms()` / `aug_transforms()`), ImageNet normalisation, ResNet-34 U-Net
with random weights (`pretrained=False`), weight decay 1e-2 and `fit_one_cycle(epochs, lr, pct_start=0.9)`. Each
library runs in its own fresh process (fastai from /work/main/.venv-bench when it is not in this Python) and reports
its wall time from the data block to the end of training (imports excluded), its CPU time, and the final masked
accuracy (`acc_camvid`: Void pixels excluded) of its model on the validation set, computed the same way for both from
`get_preds`. l3 runs with its defaults (bf16 autocast where it measures faster, channels_last); `--fp32` adds an
l3 float32 run. fastai runs with its defaults (float32). Data loading runs in the main process for both
(num_workers=0), with `--threads` torch threads (default 1, as bench/train_step.py: steadier on a shared machine).
Training is noisy on 75 images: `--seeds` repeats each library with other seeds and averages. One seed's accuracy
spreads by 0.04-0.06 (standard deviation over 30 seeds) for either library, and a seed now and then fails (below
0.8), so comparing accuracy takes 30 seeds (10 seeds have put either library ahead); the summary gives the standard
error of the difference, the medians and the failed seeds. A training with one thread is deterministic on a CPU, so a
seed's accuracy does not depend on what else runs: `--libs` picks the runs to make and `--first-seed` where the seeds
start, to split a long comparison over shells or sessions (wall times from runs sharing the machine are not
comparable, so take the time ratio from a run in turns).

GPU mode (`--gpu`, needs CUDA; it reuses bench/train_step.py's workers): training steps on random images at 360x480
and 720x960 (U-Net ResNet-34, 32 classes, bs 8 and 2), l3 and fastai in fp32 and mixed precision (`to_fp16()`):
images/s and peak GPU memory (`torch.cuda.max_memory_allocated`). Not run on a GPU yet when this was written.

Without fastai only l3 is measured ("fastai not installed").
"""
import argparse, os, statistics, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from _peer import (BENCH_VENV_PY, fastai_python, emit, run_worker, add_emulate_arg, emulate_avx2, hardware,
                   check_emulation, print_hardware)   # shared with the other benches
VALID_SEQ, VOID = 'Seq05VD', 30
RUNS = ('l3', 'l3-fp32', 'fastai')   # what --libs can name


def masked_acc(preds, targs, void=VOID) -> float:
    "Pixel accuracy over the whole set, pixels labelled `void` left out (the lesson's acc_camvid, summed not averaged)."
    if targs.dim() == preds.dim(): targs = targs[:, 0]
    keep = targs != void
    return float((preds.argmax(1)[keep] == targs[keep]).float().mean())


# --- workers: one library, one training, one process ----------------------------------------------------------------

def train_l3(path, size, bs, epochs, lr, arch, seed, fp32):
    sys.path.insert(0, str(ROOT))
    import l3
    from l3.core import set_seed
    from l3.vision_data import imagenet_stats
    from l3.augment import get_transforms
    from l3.metrics import masked_accuracy
    from l3.vision import unet_learner
    from l3.dataset_readers import camvid_valid_names
    from l3.vision_data import SegmentationItemList
    import numpy as np
    set_seed(seed)
    t0, c0 = time.perf_counter(), time.process_time()
    src = (SegmentationItemList.from_folder(Path(path)/'images').split_by_files(camvid_valid_names(path))   # split by video
           .label_from_func(lambda x: Path(path)/'labels'/f'{x.stem}_P{x.suffix}', classes=np.loadtxt(Path(path)/'codes.txt', dtype=str)))
    data = (src.transform(get_transforms(), size=size, tfm_y=True)
            .databunch(bs=bs, num_workers=0).normalize(imagenet_stats))
    learn = unet_learner(data, arch, pretrained=False, metrics=masked_accuracy(VOID, name='acc_camvid'), wd=1e-2,
                         mixed_precision=False if fp32 else 'auto')
    setup = time.perf_counter() - t0
    learn.fit_one_cycle(epochs, lr, pct_start=0.9)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    preds, targs = learn.get_preds(activ=False)
    amp = str(learn.amp_dtype).replace('torch.', '') if learn.amp_dtype else 'fp32'
    hist = learn.recorder.history
    return dict(wall=wall, cpu=cpu, acc=masked_acc(preds, targs), desc=f'l3 {getattr(l3, "__version__", "?")} ({amp})',
                epochs=[h['time'] for h in hist], setup=setup, epoch_acc=[float(h['acc_camvid']) for h in hist])

def train_fastai(path, size, bs, epochs, lr, arch, seed, fp32):
    import warnings; warnings.filterwarnings('ignore')
    import numpy as np, fastai
    from fastai.vision.all import (DataBlock, ImageBlock, MaskBlock, get_image_files, FuncSplitter, Resize, aug_transforms,
                                   Normalize, imagenet_stats, unet_learner, resnet18, resnet34, set_seed, Callback)
    set_seed(seed)
    path = Path(path)
    codes = np.loadtxt(path/'codes.txt', dtype=str)
    label_func = lambda o: path/'labels'/f'{o.stem}_P{o.suffix}'
    t0, c0 = time.perf_counter(), time.process_time()
    dblock = DataBlock(blocks=(ImageBlock, MaskBlock(codes)), get_items=get_image_files, get_y=label_func,
                       splitter=FuncSplitter(lambda o: o.name.startswith(VALID_SEQ)), item_tfms=Resize(tuple(size)),
                       batch_tfms=[*aug_transforms(), Normalize.from_stats(*imagenet_stats)])
    dls = dblock.dataloaders(path/'images', bs=bs, num_workers=0)
    def acc_camvid(inp, targ):
        keep = targ != VOID
        return (inp.argmax(dim=1)[keep] == targ[keep]).float().mean()
    learn = unet_learner(dls, {'resnet18': resnet18, 'resnet34': resnet34}[arch], pretrained=False, metrics=acc_camvid, wd=1e-2)
    times, accs = [], []
    class EpochTimer(Callback):
        order = 100   # after the recorder: its metric of the epoch is in
        def before_epoch(self): self.t = time.perf_counter()
        def after_epoch(self): times.append(time.perf_counter() - self.t); accs.append(float(self.recorder.metrics[0].value))
    setup = time.perf_counter() - t0
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr, pct_start=0.9, cbs=EpochTimer())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    preds, targs = learn.get_preds()
    return dict(wall=wall, cpu=cpu, acc=masked_acc(preds, targs), desc=f'fastai {fastai.__version__} (fp32)', epochs=times,
                setup=setup, epoch_acc=accs)

def worker(lib, args):
    os.environ.setdefault('L3_QUIET', '1'); os.environ.setdefault('L3_OFFLINE', '1')
    import torch
    if args.threads: torch.set_num_threads(args.threads)
    f = train_fastai if lib == 'fastai' else train_l3
    res = f(args.path, args.size, args.bs, args.epochs, args.lr, args.arch, args.seed, lib == 'l3-fp32')
    res['threads'] = torch.get_num_threads()
    emit(res)


# --- GPU: images/s and peak memory, through bench/train_step.py's workers -------------------------------------------

def gpu_worker(config, h, w, bs, steps):
    sys.path.insert(0, str(ROOT/'bench'))
    import torch, train_step
    spec = ('resnet34', bs, (h, w), 32)
    run = train_step.run_fastai if config.startswith('fastai') else train_step.run_l3
    torch.cuda.reset_peak_memory_stats()
    times, _, desc = run('unet', spec, config, 2 + steps, 'cuda', False)
    emit({'times': [t[0] for t in times[2:]], 'desc': desc, 'gpu_peak_mb': torch.cuda.max_memory_allocated() / 2**20})

def gpu_main(args, fa_py):
    configs = ['l3-fp32', 'l3-fp16'] + (['fastai', 'fastai-fp16'] if fa_py else [])
    for (h, w), bs in (((360, 480), 8), ((720, 960), 2)):
        print(f'\nU-Net resnet34, {h}x{w}, bs {bs}, cuda, {args.steps} timed steps after 2 warm-up steps (unfrozen)')
        print(f"  {'config':<12} {'what':<36} {'img/s':>7} {'peak GPU MB':>12}")
        for c in configs:
            py = fa_py if c.startswith('fastai') else sys.executable
            res = run_worker(py, __file__, ['--gpu-worker', c, str(h), str(w), str(bs), '--steps', str(args.steps)], c)
            if res: print(f"  {c:<12} {res['desc']:<36} {bs/statistics.median(res['times']):>7.1f} {res['gpu_peak_mb']:>12.0f}")


# --- driver ---------------------------------------------------------------------------------------------------------

def time_to_acc(r, target):
    "Seconds from the data block to the end of the first epoch whose validation accuracy reaches `target` (None: never)."
    t = r.get('setup', 0.)
    for dt, acc in zip(r['epochs'], r.get('epoch_acc', [])):
        t += dt
        if acc >= target: return t
    return None

def _acc_diff_se(res) -> str:
    "' ± s' with s the standard error of the l3 - fastai accuracy difference over the seeds (empty for one seed each)."
    a, b = ([r['acc'] for r in res[l]] for l in ('l3', 'fastai'))
    if len(a) < 2 or len(b) < 2: return ''
    return f" ± {(statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5:.4f} (standard error over seeds)"

def data_path():
    "The camvid_tiny folder (the synthetic stand-in offline): the same files for both libraries."
    sys.path.insert(0, str(ROOT))
    from l3.datasets import get_dataset
    return get_dataset('camvid_tiny')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true', help='smoke run: resnet18, 32x32, bs 4, 1 epoch, one seed')
    ap.add_argument('--epochs', type=int, default=None, help='epochs of the one cycle (default 8; quick 1)')
    ap.add_argument('--bs', type=int, default=None, help='batch size (default 8; quick 4)')
    ap.add_argument('--lr', type=float, default=3e-3, help='peak learning rate of fit_one_cycle (default 3e-3, the lesson\'s)')
    ap.add_argument('--arch', default=None, help='resnet34 (default) or resnet18 (quick)')
    ap.add_argument('--seeds', type=int, default=1, help='trainings per library (seeds 42, 43, ...), averaged')
    ap.add_argument('--threads', type=int, default=1,
                    help="torch CPU threads per run (default 1: on a shared machine multi-threaded steps wait on "
                         "descheduled threads and wall times swing; 0 keeps torch's default)")
    ap.add_argument('--fp32', action='store_true', help='also run l3 in float32 (mixed_precision=False)')
    ap.add_argument('--no-fastai', action='store_true', help='measure l3 only')
    ap.add_argument('--libs', default=None,
                    help="comma-separated runs to make, from l3, l3-fp32, fastai (default: l3, plus l3-fp32 with --fp32, "
                         "plus fastai when installed)")
    ap.add_argument('--first-seed', type=int, default=42, help='seed of the first training (then +1 per seed)')
    ap.add_argument('--gpu', action='store_true', help='CUDA images/s and peak memory at 360x480 and 720x960 instead')
    ap.add_argument('--steps', type=int, default=10, help='--gpu: timed steps per configuration')
    ap.add_argument('--target', type=float, default=0.8, help='acc_camvid of the time-to-accuracy figure (default 0.8)')
    add_emulate_arg(ap)
    ap.add_argument('--worker', help=argparse.SUPPRESS)
    ap.add_argument('--gpu-worker', nargs=4, help=argparse.SUPPRESS)
    ap.add_argument('--path', help=argparse.SUPPRESS); ap.add_argument('--size', nargs=2, type=int, help=argparse.SUPPRESS)
    ap.add_argument('--seed', type=int, default=42, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.libs is not None:   # checked before any data or training
        args.libs = [l.strip() for l in args.libs.split(',') if l.strip()]
        bad = [l for l in args.libs if l not in RUNS]
        if bad or not args.libs:
            what = f"unknown run(s) {', '.join(map(repr, bad))}" if bad else 'no run named'
            ap.error(f"--libs: {what}; choose from {', '.join(RUNS)}")
        args.no_fastai = 'fastai' not in args.libs
    q = args.quick
    args.epochs, args.bs = args.epochs or (1 if q else 8), args.bs or (4 if q else 8)
    args.arch = args.arch or ('resnet18' if q else 'resnet34')
    if args.worker: return worker(args.worker, args)
    if args.gpu_worker:
        c, h, w, bs = args.gpu_worker
        return gpu_worker(c, int(h), int(w), int(bs), args.steps)

    emulate_avx2(args.emulate_avx2)          # the workers inherit the environment
    hw = hardware(args.threads); print_hardware(hw)
    if args.emulate_avx2: check_emulation(hw)
    fa_py = None if args.no_fastai else fastai_python()
    if args.libs and 'fastai' in args.libs and fa_py is None: ap.error('--libs names fastai, but no Python here imports fastai')
    if args.no_fastai: print('fastai not measured (--no-fastai, or --libs without it): measuring l3 only')
    elif fa_py is None: print(f'fastai not installed: measuring l3 only (install it in a separate env such as {BENCH_VENV_PY})')
    if args.gpu:
        import torch
        if not torch.cuda.is_available(): print('--gpu: no CUDA GPU here', file=sys.stderr); return 2
        return gpu_main(args, fa_py)

    path = data_path()
    from l3.vision_data import open_mask
    src_size = open_mask(next((path/'labels').iterdir())).shape
    size = (32, 32) if q else (src_size[0]//2, src_size[1]//2)
    libs = args.libs or ['l3'] + (['l3-fp32'] if args.fp32 else []) + (['fastai'] if fa_py else [])
    print(f'CamVid {path.name} ({"stand-in" if (path/".l3_synthetic").exists() else "real"}), U-Net {args.arch} random init, '
          f'{size[0]}x{size[1]}, bs {args.bs}, fit_one_cycle({args.epochs}, {args.lr:g}, pct_start=0.9), wd 1e-2, '
          f'CPU, {args.seeds} seed(s) from {args.first_seed}, torch threads: {args.threads or "default"}')
    os.system('uptime')
    res = {l: [] for l in libs}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for lib in libs:                       # in turns, so a busier spell of a shared machine hits both
            r = run_worker(fa_py if lib == 'fastai' else sys.executable, __file__,
                      ['--worker', lib, '--path', str(path), '--size', *map(str, size), '--bs', str(args.bs),
                       '--epochs', str(args.epochs), '--lr', str(args.lr), '--arch', args.arch, '--seed', str(seed),
                       '--threads', str(args.threads)], lib)
            if r: res[lib].append(r)
    res = {l: rs for l, rs in res.items() if rs}
    if not res: return 1
    mean = lambda l, k: statistics.mean(r[k] for r in res[l])
    print(f"\n  {'library':<8} {'what':<22} {'wall s':>7} {'cpu s':>7} {'s/epoch':>8} {'acc_camvid':>10}  per seed (wall s / acc)")
    for l, rs in res.items():
        per = ', '.join(f"{r['wall']:.0f}/{r['acc']:.4f}" for r in rs)
        ep = statistics.mean(statistics.median(r['epochs']) for r in rs)
        print(f"  {l:<8} {rs[0]['desc']:<22} {mean(l, 'wall'):>7.1f} {mean(l, 'cpu'):>7.1f} {ep:>8.2f} {mean(l, 'acc'):>10.4f}  {per}")
    print(f"\n  time to acc_camvid >= {args.target:g} (data block to the end of the first epoch there, s; '-': not reached)")
    ttas = {}
    for l, rs in res.items():
        ttas[l] = [time_to_acc(r, args.target) for r in rs]
        got = [t for t in ttas[l] if t is not None]
        med = f'median {statistics.median(got):.1f} s over {len(got)}/{len(rs)} seeds' if got else 'never reached'
        print(f"  {l:<8} {rs[0]['desc']:<22} {rs[0].get('dtype', 'float32' if 'fp32' in rs[0]['desc'] else 'bfloat16'):<9} "
              f"{med}; per seed: {', '.join('-' if t is None else f'{t:.0f}' for t in ttas[l])}")
    both = [(a, b) for a, b in zip(ttas.get('l3', []), ttas.get('fastai', [])) if a is not None and b is not None]
    if both: print(f"  l3 / fastai time to accuracy (seeds where both got there): "
                   f"{statistics.median(a / b for a, b in both):.2f} (median of {len(both)})")
    if 'fastai' in res and 'l3' in res:
        print(f"\nl3 / fastai wall time: {mean('l3', 'wall')/mean('fastai', 'wall'):.2f} (target <= 0.5), "
              f"cpu time: {mean('l3', 'cpu')/mean('fastai', 'cpu'):.2f}; "
              f"acc_camvid l3 - fastai: {mean('l3', 'acc') - mean('fastai', 'acc'):+.4f}{_acc_diff_se(res)} (target >= 0)")
        if len(res['l3']) > 2 and len(res['fastai']) > 2:   # a bad seed or two (acc < 0.8) move the mean: medians too
            med = lambda l: statistics.median(r['acc'] for r in res[l])
            print(f"acc_camvid medians: l3 {med('l3'):.4f}, fastai {med('fastai'):.4f}; seeds below 0.8: "
                  f"l3 {sum(r['acc'] < 0.8 for r in res['l3'])}, fastai {sum(r['acc'] < 0.8 for r in res['fastai'])}")
    print(f"wall s: data block + model + fit_one_cycle (imports and the final get_preds excluded); cpu s: the process's CPU "
          f"time for the same (all threads); acc_camvid: masked accuracy of the final model on the validation video.")
    os.system('uptime')
    return 0

if __name__ == '__main__': sys.exit(main())
