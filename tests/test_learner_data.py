"""The Learner on the data block API's real DataBunch (synthetic stand-ins): every label kind trains, predicts from
a file, exports/loads and shows results."""
from functools import partial
import matplotlib
matplotlib.use('Agg')
import pytest
import torch
import torch.nn as nn
from l3.learner import Learner
from l3.learner_export import register_model, load_learner
from l3.metrics import accuracy, fbeta, masked_accuracy, MeanIoU, mse

def small_net(n_in=3, n_out=2, seg=False):
    body = [nn.Conv2d(n_in, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU()]
    if seg: return nn.Sequential(*body, nn.Conv2d(16, n_out, 1), nn.Upsample(scale_factor=4))
    return nn.Sequential(*body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, n_out))
register_model('test_small_net', small_net)

@pytest.fixture(scope='module')
def blocks():
    "Four of the lesson's data blocks at their small sizes, built with the public API (as the data block lesson does)."
    import numpy as np
    from l3.datasets import get_dataset
    from l3.dataset_readers import camvid_valid_names, read_biwi_cal, biwi_point
    from l3.vision_data import ImageList, SegmentationItemList, PointsItemList, imagenet_stats, open_mask
    from l3.augment import get_transforms
    db = lambda lls, size, bs, tfms=get_transforms(), **kw: (lls.transform(tfms, size=size, **kw)
                                                              .databunch(bs=bs, num_workers=0).normalize(imagenet_stats))
    mnist, planet, camvid, biwi = (get_dataset(n) for n in ('mnist_tiny', 'planet_tiny', 'camvid_tiny', 'biwi_head_pose'))
    get_y_fn = lambda x: camvid/'labels'/f'{x.stem}_P{x.suffix}'
    cams = SegmentationItemList.from_folder(camvid/'images')
    cal = read_biwi_cal(biwi/'01'/'rgb.cal')
    return {'mnist': db(ImageList.from_folder(mnist).split_by_folder().label_from_folder(), 28, 64, get_transforms(do_flip=False)),
            'planet': db(ImageList.from_csv(planet, 'labels.csv', folder='train', suffix='.jpg').split_by_rand_pct(0.2, seed=42)
                         .label_from_df(label_delim=' '), 64, 64, get_transforms(flip_vert=True, max_warp=0.)),
            'camvid': db(cams.split_by_files(camvid_valid_names(camvid))
                         .label_from_func(get_y_fn, classes=np.loadtxt(camvid/'codes.txt', dtype=str)),
                         tuple(int(s) // 2 for s in open_mask(get_y_fn(cams.items[0])).shape), 8, tfm_y=True),
            'biwi': db(PointsItemList.from_folder(biwi).split_by_valid_func(lambda o: o.parent.name == '13')
                       .label_from_func(lambda o: biwi_point(o, cal)), (60, 80), 16, tfm_y=True)}

CASES = {'mnist': ([accuracy], False), 'planet': ([partial(fbeta, thresh=0.2)], False),
         'camvid': ([masked_accuracy(30, name='acc_camvid'), MeanIoU(void_id=30)], True), 'biwi': ([mse], False)}

@pytest.mark.parametrize('name', list(CASES))
def test_every_label_kind(blocks, name, tmp_path):
    data = blocks[name]
    metrics, seg = CASES[name]
    torch.manual_seed(0)
    learn = Learner(data, small_net(3, data.c if data.label.name != 'points' else 2, seg), metrics=metrics, path=tmp_path)
    learn.model_desc = {'kind': 'test_small_net', 'kwargs': {'n_in': 3, 'n_out': data.c if data.label.name != 'points' else 2, 'seg': seg}}
    learn.fit(1, 1e-3)
    h = learn.recorder.history[-1]
    assert all(h[n] is not None for n in learn.recorder.names)
    preds, targs, losses = learn.get_preds(with_loss=True)
    assert len(preds) == len(targs) == len(losses) == len(data.valid_ds)
    assert abs(losses.mean().item() - h['valid_loss']) < 0.05 * h['valid_loss'] + 1e-4 or data.label.name == 'mask'
    item = data.valid_ds.x.items[0]
    f = learn.export()
    inf = load_learner(tmp_path)
    dec, probs = inf.predict(item)
    dec2, probs2 = learn.predict(item)
    assert torch.allclose(probs, probs2, atol=1e-5)
    if data.label.name == 'category': assert dec in data.classes
    if data.label.name == 'multi_category': assert isinstance(dec, list) and set(dec) <= set(data.classes)
    if data.label.name == 'mask': assert dec.shape == tuple(data.one_batch('valid')[1].shape[-2:])
    if data.label.name == 'points': assert dec.shape == (1, 2)
    learn.show_results(rows=2)
    import matplotlib.pyplot as plt
    plt.close('all')
