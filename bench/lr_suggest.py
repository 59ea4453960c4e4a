"""Does `lr_find`'s suggested learning rate earn trust? Each lesson task's small data is trained with `fit_one_cycle` at 5
learning rates spread over three decades, and at each rate `lr_find` suggests ('steep', 'minimum', 'valley'); the table
gives each suggestion's final metric as a share of the best metric of the sweep (target: at least 90% on every task).

    python bench/lr_suggest.py                  # mnist, planet, camvid, biwi, imdb stand-ins; small models; 3 epochs (imdb 12)
    python bench/lr_suggest.py --arch resnet18  # the lesson's models from l3.vision (cnn_learner / unet_learner), slow on CPU
    python bench/lr_suggest.py --quick          # smoke run: mnist only, 1 epoch, 2 rates, a 30-step lr_find

The imdb row is the lesson's language model (an AWD-LSTM with embeddings of 100 and 3 layers, from scratch) on the
imdb_sample stand-in, trained for the imdb task's 12 epochs and scored by its validation cross-entropy (its next-word
accuracy hardly moves from the most common word's share early on, so it tells rates apart poorly); the classifier's
rates are fixed by the lesson, not found.

Every run of a task starts from the same random initial weights (seeded), so the rates are compared on equal terms.
For metrics where lower is better (mse, cross-entropy) the share is best / suggested. This compares l3 with itself, not with fastai:
fastai's own suggestion is not measured here.
"""
import argparse, math, sys, time, warnings
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # this checkout's l3, whatever is installed
import numpy as np
import torch, torch.nn as nn
from l3.core import set_seed
from l3.learner import Learner
import l3.schedules   # noqa: F401 (fit_one_cycle, lr_find on the plain Learner)
from l3.metrics import accuracy, fbeta, masked_accuracy, mse

def lm_cross_entropy(out, targ):
    "Next-word cross-entropy of a language model's output (lower is better)."
    return nn.functional.cross_entropy(out.flatten(0, -2).float(), targ.flatten())

TASKS = {   # name: (metric, higher is better, segmentation)
    'mnist': (accuracy, True, False),
    'planet': (partial(fbeta, thresh=0.2), True, False),
    'camvid': (masked_accuracy(30, name='acc_camvid'), True, True),
    'biwi': (mse, False, False),
    'imdb': (lm_cross_entropy, False, False),
}
LM_CONFIG = dict(emb_sz=100, n_hid=200, n_layers=3)   # the imdb task's small-mode language model

BS = {'mnist': 16, 'planet': 16}   # batch sizes (others: the lesson's, camvid 8, biwi 16)
EPOCHS = {'imdb': 12}   # the imdb task's own small-mode LM budget: in 3 epochs from scratch the LM is still far from done

def small_net(n_out, seg=False):
    "A 4-conv network: quick on a CPU, enough to tell good learning rates from bad ones."
    body = [nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU()]
    if seg: return nn.Sequential(*body, nn.Conv2d(64, n_out, 1), nn.Upsample(scale_factor=4, mode='bilinear'))
    return nn.Sequential(*body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, n_out))

def make_learner(name, data, arch, seed):
    metric, _, seg = TASKS[name]
    set_seed(seed)
    if name == 'imdb':
        from l3.text_models import AWD_LSTM, language_model_learner
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')   # no pretrained WikiText-103 weights offline: from scratch, on purpose
            return language_model_learner(data, AWD_LSTM, drop_mult=0.3, pretrained=False, config=LM_CONFIG,
                                          metrics=[metric])
    n_out = 2 if data.label.name == 'points' else data.c
    if arch == 'small': return Learner(data, small_net(n_out, seg), metrics=[metric])
    from l3 import vision
    a = getattr(__import__('torchvision').models, arch)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        if seg: return vision.unet_learner(data, a, metrics=[metric])
        return vision.cnn_learner(data, a, metrics=[metric], y_range=(-1.1, 1.1) if data.label.name == 'points' else None)

def final_metric(learn, epochs, lr):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)    # a diverging rate stops on NaN: it then scores its last epoch
        learn.fit_one_cycle(epochs, lr)
    v = learn.recorder.history[-1][learn.recorder.names[3]] if learn.recorder.history else None
    return float('nan') if v is None else v

def run_task(name, data, arch, epochs, lrs, seed=0, num_it=100):
    _, higher, _ = TASKS[name]
    t0 = time.time()
    learn = make_learner(name, data, arch, seed)
    sugg = learn.lr_find(num_it=num_it)
    res = {'sweep': {lr: final_metric(make_learner(name, data, arch, seed), epochs, lr) for lr in lrs}}
    res['suggested'] = {k: (lr, final_metric(make_learner(name, data, arch, seed), epochs, lr)) for k, lr in sugg.items()}
    ok = [v for v in res['sweep'].values() if not math.isnan(v)]
    best = max(ok) if higher else min(ok)
    share = lambda v: float('nan') if math.isnan(v) else (v / best if higher else best / v)
    print(f"\n{name}: {learn.recorder.names[3]} after {epochs} epoch(s) of fit_one_cycle ({time.time() - t0:.0f} s)")
    print('  sweep:     ' + '  '.join(f'{lr:.0e}: {v:.4f}' for lr, v in res['sweep'].items()) + f'   best {best:.4f}')
    for k, (lr, v) in res['suggested'].items():
        print(f'  {k:8s}  lr {lr:.1e}  {v:.4f}  = {share(v):6.1%} of best  {"ok" if share(v) >= 0.9 else "BELOW 90%"}')
    return {k: share(v) for k, (_, v) in res['suggested'].items()}

def imdb_lm_data(bs=32, seed=0):
    "The imdb task's language-model data: every text of imdb_sample (or its stand-in), 10% held out."
    import pandas as pd
    from l3.datasets import get_dataset
    from l3.text_data import TextList
    path = get_dataset('imdb_sample')
    df = pd.read_csv(path/'texts.csv')
    return TextList.from_df(df, path, cols='text').split_by_rand_pct(0.1, seed=seed).label_for_lm().databunch(bs=bs)

def data_block(name, bs=None):
    "The data block lesson's DataBunch `name` (mnist, planet, camvid, biwi) at its small size, built with the public API."
    import numpy as np
    from l3.datasets import get_dataset
    from l3.dataset_readers import camvid_valid_names, read_biwi_cal, biwi_point
    from l3.vision_data import ImageList, SegmentationItemList, PointsItemList, imagenet_stats, open_mask
    from l3.augment import get_transforms
    db = lambda lls, size, b, tfms=get_transforms(), **kw: (lls.transform(tfms, size=size, **kw)
                                                             .databunch(bs=bs or b, num_workers=0).normalize(imagenet_stats))
    if name == 'mnist':
        return db(ImageList.from_folder(get_dataset('mnist_tiny')).split_by_folder().label_from_folder(), 28, 64,
                  get_transforms(do_flip=False))
    if name == 'planet':
        return db(ImageList.from_csv(get_dataset('planet_tiny'), 'labels.csv', folder='train', suffix='.jpg')
                  .split_by_rand_pct(0.2, seed=42).label_from_df(label_delim=' '), 64, 64,
                  get_transforms(flip_vert=True, max_lighting=0.1, max_zoom=1.05, max_warp=0.))
    if name == 'camvid':
        p = get_dataset('camvid_tiny'); get_y_fn = lambda x: p/'labels'/f'{x.stem}_P{x.suffix}'
        il = SegmentationItemList.from_folder(p/'images')
        return db(il.split_by_files(camvid_valid_names(p)).label_from_func(get_y_fn, classes=np.loadtxt(p/'codes.txt', dtype=str)),
                  tuple(int(s) // 2 for s in open_mask(get_y_fn(il.items[0])).shape), 8, tfm_y=True)
    if name == 'biwi':
        p = get_dataset('biwi_head_pose'); cal = read_biwi_cal(p/'01'/'rgb.cal')
        return db(PointsItemList.from_folder(p).split_by_valid_func(lambda o: o.parent.name == '13')
                  .label_from_func(lambda o: biwi_point(o, cal)), (60, 80), 16, tfm_y=True)
    raise ValueError(f'unknown task {name!r}: mnist, planet, camvid, biwi or imdb')

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='smoke run: mnist only, 1 epoch, 2 rates')
    ap.add_argument('--arch', default='small', help="'small' (a 4-conv net) or a torchvision resnet name, e.g. resnet18")
    ap.add_argument('--epochs', type=int, default=None, help='epochs per fit (default: 3, imdb 12)')
    ap.add_argument('--tasks', default=','.join(TASKS))
    a = ap.parse_args(argv)
    names = ['mnist'] if a.quick else a.tasks.split(',')
    lrs = [1e-3, 1e-2] if a.quick else [float(v) for v in np.geomspace(1e-4, 1e-1, 5)]
    epochs = lambda n: 1 if a.quick else a.epochs or EPOCHS.get(n, 3)
    num_it = 30 if a.quick else 100
    try: import fastai  # noqa: F401
    except ImportError: print('fastai not installed (not needed: this benchmark compares l3 with its own sweep)')
    torch.set_num_threads(max(1, torch.get_num_threads()))
    # small batches for the two classification tasks: a few hundred images make only ~5 batches of 64 per epoch,
    # too few optimiser steps (BatchNorm's running statistics lag behind) to tell one rate from another
    blocks = {n: imdb_lm_data() if n == 'imdb' else data_block(n, bs=BS.get(n))
              for n in names}
    table = {n: run_task(n, blocks[n], a.arch, epochs(n), lrs, num_it=num_it) for n in names}
    kinds = list(next(iter(table.values())))
    print('\nshare of the best swept rate\'s metric (target >= 90% on every task):')
    print(f"{'task':8s}" + ''.join(f'{k:>10s}' for k in kinds))
    for n, row in table.items(): print(f'{n:8s}' + ''.join(f'{row[k]:10.1%}' for k in kinds))
    worst = {k: min(row[k] for row in table.values()) for k in kinds}
    print(f"{'worst':8s}" + ''.join(f'{worst[k]:10.1%}' for k in kinds))
    return table

if __name__ == '__main__': main()
