"""Augmentation speed: l3's `augment_batch(get_transforms()...)` against fastai's `aug_transforms()` on the same batch.

    python bench/augment.py                # 64 images 3x128x128 + masks, CPU (and the GPU too when there is one)
    python bench/augment.py --quick        # smoke run: small batch, 2 repetitions, no U-Net step
    /work/main/.venv-bench/bin/python bench/augment.py   # the env with fastai installed: prints the ratio

Both libraries get the same float batch in [0, 1] with its integer masks, default settings (flip, warp 0.2, rotate 10,
zoom 1.1, lighting 0.2, p 0.75), reflection padding, masks moved with nearest sampling. The two are timed in turns in
one process (the machine may be shared: medians of interleaved runs). Without fastai only l3 is measured.
Also reports the share of a U-Net training step (bs 8, 96x128, CPU) spent in augmentation.
"""
import argparse, os, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # this checkout's l3, whatever is installed
import torch
from l3.augment import get_transforms, augment_batch
from l3.vision_data import MaskLabel

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)

def timeit(f, device):
    sync(device); t = time.perf_counter(); f(); sync(device)
    return time.perf_counter() - t

def make_batch(bs, h, w, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(bs, 3, h, w, generator=g)
    m = torch.randint(0, 32, (bs, h, w), generator=g)
    return x.to(device), m.to(device)

def l3_runner(x, m):
    tfms, masks = get_transforms()[0], MaskLabel()
    return lambda: augment_batch(tfms, x, m, masks)

def fastai_runner(x, m):
    "fastai's batch transforms as its DataLoader applies them to a training batch, or None when fastai is absent."
    try:
        import warnings; warnings.filterwarnings('ignore')
        from fastai.vision.all import aug_transforms, TensorImage, TensorMask, Pipeline
        import fastai
    except ImportError: return None, None
    pipe = Pipeline(aug_transforms(), split_idx=0)
    xi, mi = TensorImage(x), TensorMask(m)
    return (lambda: pipe((xi, mi))), fastai.__version__

def compare(bs, h, w, reps, device):
    x, m = make_batch(bs, h, w, device)
    runs = {'l3': l3_runner(x, m)}
    fa, fa_version = fastai_runner(x, m)
    if fa is not None: runs[f'fastai {fa_version}'] = fa
    for f in runs.values():
        for _ in range(2): f()                                      # warm up
    times = {k: [] for k in runs}
    for _ in range(reps):                                           # interleaved: both see the same machine load
        for k, f in runs.items(): times[k].append(timeit(f, device))
    print(f'\n{bs} images 3x{h}x{w} + masks on {device} ({torch.get_num_threads()} threads), median of {reps}:')
    ips, best = {}, {}
    for k, ts in times.items():
        med = statistics.median(ts); ips[k], best[k] = bs/med, bs/min(ts)
        print(f'  {k:14s} {med*1000:8.1f} ms/batch  {ips[k]:9.0f} images/s   (best run {min(ts)*1000:.1f} ms = {best[k]:.0f} images/s)')
    if fa is None: print('  fastai not installed: l3 only (use /work/main/.venv-bench/bin/python for the ratio)')
    else:
        k = f'fastai {fa_version}'
        print(f'  ratio l3/fastai: {ips["l3"]/ips[k]:.2f}x images/s on medians, {best["l3"]/best[k]:.2f}x on best runs '
              f'(target >= 1.5x)')
    if device.type == 'cpu' and os.getloadavg()[0] > (os.cpu_count() or 1) and torch.get_num_threads() > 1:
        print(f'  note: the machine is busy (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); multi-threaded '
              'timings are then dominated by waiting threads: compare with --threads 1')
    return ips

def unet_model():
    "l3's U-Net over a ResNet-34 body, as the CamVid lesson builds it (32 CamVid codes, 96x128 input)."
    from l3.vision import unet_model as make_unet
    return make_unet('resnet34', n_classes=32, img_size=(96, 128), pretrained=False), 'l3.vision.DynamicUnet (resnet34)'

def unet_share(reps=3):
    "Share of one U-Net training step (bs 8, 3x96x128, CPU: augmentation + forward + backward + SGD) spent augmenting."
    torch.manual_seed(0)
    device = torch.device('cpu')
    model, name = unet_model()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x, m = make_batch(8, 96, 128, device)
    aug = l3_runner(x, m)
    def step():
        xb, yb = aug()
        loss = nn_loss(model(xb), yb.masked_fill(yb == 255, -100))
        opt.zero_grad(); loss.backward(); opt.step()
    nn_loss = lambda out, y: torch.nn.functional.cross_entropy(out, y, ignore_index=-100)
    step()                                                           # warm up
    t_step = statistics.median(timeit(step, device) for _ in range(reps))
    t_aug = statistics.median(timeit(aug, device) for _ in range(max(reps, 10)))
    print(f'\nU-Net training step, bs 8, 3x96x128, CPU, model: {name}')
    print(f'  step {t_step*1000:.0f} ms, of which augmentation {t_aug*1000:.1f} ms = {100*t_aug/t_step:.1f}% (target < 10%)')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='smoke run: 8 images 3x32x32, 2 reps, no U-Net')
    ap.add_argument('--bs', type=int, default=64); ap.add_argument('--size', type=int, default=128)
    ap.add_argument('--reps', type=int, default=15)
    ap.add_argument('--no-unet', action='store_true', help='skip the U-Net step share')
    ap.add_argument('--threads', type=int, default=None, help="torch CPU threads for both (default: torch's choice)")
    a = ap.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    bs, size, reps = (8, 32, 2) if a.quick else (a.bs, a.size, a.reps)
    print(f'torch {torch.__version__}; load average {" ".join(f"{v:.1f}" for v in os.getloadavg())} '
          f'on {os.cpu_count()} cores')
    res = {'cpu': compare(bs, size, size, reps, torch.device('cpu'))}
    if torch.cuda.is_available(): res['cuda'] = compare(bs, size, size, reps, torch.device('cuda'))
    if not (a.quick or a.no_unet): unet_share()
    return res

if __name__ == '__main__': main()
