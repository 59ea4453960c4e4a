"""The data block lesson's examples, built here as the lesson builds them (small mode, the stand-ins): each block's
label class, classes, item and batch shapes (these were `assert`s in the lesson); the foundations it shows (a
`LabelList` is a torch `Dataset`, a torch `DataLoader` batches it with its `collate`, a `DataBunch` from two loaders);
a labeller called before the split says what to do. What the lesson's own run wrote is checked in test_cli.py."""
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, DataLoader
from l3.datasets import get_dataset
from l3.dataset_readers import camvid_valid_names, biwi_path, read_biwi_cal, biwi_point
from l3.labels import CategoryLabel, MultiCategoryLabel
from l3.databunch import DataBunch, DeviceDataLoader
from l3.vision_data import (ImageList, SegmentationItemList, PointsItemList, ObjectItemList, MaskLabel, PointsLabel,
                            BBoxLabel, imagenet_stats, get_annotations, bb_pad_collate)
from l3.text_data import TextList
from l3.augment import get_transforms


def test_foundations_dataset_dataloader_databunch():
    "The lesson's first section: MNIST's LabelList is a Dataset; torch's DataLoader and l3's DeviceDataLoader batch it."
    path = get_dataset('mnist_tiny')
    lls = ImageList.from_folder(path).split_by_folder().label_from_folder()
    ds = lls.train
    assert isinstance(ds, Dataset) and len(ds) == 709
    x, y = ds[0]
    assert x.shape == (3, 28, 28) and x.dtype == torch.uint8 and int(y) in (0, 1)
    xb, yb = next(iter(DataLoader(ds, batch_size=8, shuffle=True, collate_fn=ds.collate)))
    assert xb.shape == (8, 3, 28, 28) and xb.dtype == torch.uint8 and yb.shape == (8,)
    train_dl = DeviceDataLoader(ds, 'cpu', batch_size=8, shuffle=True, collate_fn=ds.collate)
    xb, yb = next(iter(train_dl))
    assert xb.dtype == torch.float32 and 0 <= xb.min() and xb.max() <= 1 and xb.device.type == 'cpu'
    valid_dl = DeviceDataLoader(lls.valid, 'cpu', batch_size=8, collate_fn=lls.valid.collate)
    data = DataBunch(train_dl, valid_dl, device='cpu')
    assert data.classes == ['3', '7'] and data.c == 2 and len(data.valid_ds) == len(lls.valid)


def test_steps_make_their_types_and_a_step_out_of_order_says_what_to_do():
    items = ImageList.from_folder(get_dataset('mnist_tiny'))
    split = items.split_by_folder()
    labelled = split.label_from_folder()
    assert [type(o).__name__ for o in (items, split, labelled, labelled.train)] == \
        ['ImageList', 'ItemLists', 'LabelLists', 'LabelList']
    with pytest.raises(AttributeError, match=r'split the items first'): items.label_from_folder()


def test_mnist_block():
    data = (ImageList.from_folder(get_dataset('mnist_tiny')).split_by_folder().label_from_folder().add_test_folder()
            .transform(get_transforms(do_flip=False), size=28).databunch(bs=64, num_workers=0)
            .normalize(imagenet_stats))
    x, y = data.train_ds[0]
    assert data.classes == ['3', '7'] and data.c == 2 and x.shape == (3, 28, 28) and len(data.test_ds) > 0
    assert isinstance(data.label, CategoryLabel)


def test_planet_block():
    planet = get_dataset('planet_tiny')
    tfms = get_transforms(flip_vert=True, max_lighting=0.1, max_zoom=1.05, max_warp=0.)
    data = (ImageList.from_csv(planet, 'labels.csv', folder='train', suffix='.jpg').split_by_rand_pct(0.2, seed=42)
            .label_from_df(label_delim=' ').transform(tfms, size=128).databunch(bs=64, num_workers=0)
            .normalize(imagenet_stats))
    x, y = data.train_ds[0]
    assert isinstance(data.label, MultiCategoryLabel) and y.shape == (data.c,) and y.sum() >= 1
    assert x.shape == (3, 128, 128)


def test_camvid_block():
    camvid = get_dataset('camvid_tiny')
    codes = np.loadtxt(camvid/'codes.txt', dtype=str)
    get_y_fn = lambda x: camvid/'labels'/f'{x.stem}_P{x.suffix}'
    data = (SegmentationItemList.from_folder(camvid/'images').split_by_files(camvid_valid_names(camvid))
            .label_from_func(get_y_fn, classes=codes).transform(get_transforms(), size=96, tfm_y=True)
            .databunch(bs=64, num_workers=0).normalize(imagenet_stats))
    x, y = data.train_ds[0]
    assert isinstance(data.label, MaskLabel) and y.shape == x.shape[-2:] == (96, 96) and data.c == len(codes) == 32
    xb, yb = data.one_batch()
    assert yb.shape == (len(xb), 96, 96) and yb.dtype == torch.long


def test_biwi_block():
    biwi = biwi_path(full=False)
    cal = read_biwi_cal(biwi/'01'/'rgb.cal')
    data = (PointsItemList.from_folder(biwi).split_by_valid_func(lambda o: o.parent.name == '13')
            .label_from_func(lambda o: biwi_point(o, cal)).transform(get_transforms(), tfm_y=True, size=(60, 80))
            .databunch(bs=16, num_workers=0).normalize(imagenet_stats))
    x, y = data.train_ds[0]
    assert isinstance(data.label, PointsLabel) and y.shape == (1, 2) and y.abs().max() <= 1 and data.c == 2
    assert len(data.valid_ds) > 0 and all(o.parent.name == '13' for o in data.valid_ds.x.items)


def test_imdb_block():
    data = (TextList.from_csv(get_dataset('imdb_sample'), 'texts.csv', cols='text').split_from_df(col=2)
            .label_from_df(cols=0).databunch(bs=32, num_workers=0))
    assert isinstance(data.label, CategoryLabel) and data.c == 2 and data.classes == ['negative', 'positive']
    assert data.vocab.itos[:2] == ['xxunk', 'xxpad']


def test_coco_block_pads_its_boxes():
    coco = get_dataset('coco_tiny')
    images, lbl_bbox = get_annotations(coco/'train.json')
    img2bbox = dict(zip(images, lbl_bbox))
    data = (ObjectItemList.from_folder(coco).split_by_rand_pct(seed=42).label_from_func(lambda o: img2bbox[o.name])
            .transform(get_transforms(), tfm_y=True, size=128)
            .databunch(bs=16, collate_fn=bb_pad_collate, num_workers=0))
    assert isinstance(data.label, BBoxLabel) and data.classes[0] == 'background' and data.c == 7
    assert len(data.train_ds) + len(data.valid_ds) == 200
    xb, (bb, cb) = data.one_batch()
    assert bb.shape[:2] == cb.shape and bb.shape[-1] == 4 and (bb[cb == 0] == 0).all() and (bb.abs() <= 1).all()
