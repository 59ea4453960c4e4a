"""Boxes through the data block API (issue 15): properties of the box warp (corners follow the pixels, kept boxes
inside with an area, boxes and classes paired, the dihedral group, deterministic validation), `bb_pad_collate`, the
COCO reader's bad input (each error names the file, image or annotation), drawing and export. Small images, few
examples: this runs on 2 shared CPU cores."""
import json
import shutil
import warnings
import pytest
import torch
from hypothesis import given, settings, HealthCheck, strategies as st

from l3.core import DataError
from l3.synth_scenes import synth_coco_tiny
from l3.augment import (DIHEDRAL, Dihedral, Rotate, Zoom, Warp, draw_params, apply_params, move_boxes, move_points,
                        box_corners, get_transforms)
from l3.labels import label_from_desc
from l3.vision_data import (ObjectItemList, BBoxLabel, LargestBBoxLabel, BoxClassLoss, get_annotations, bb_pad_collate,
                            box_iou, scale_points)

FAST = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
STRONG = [Dihedral(p=1.), Warp(0.4, p=1.), Rotate(45., p=1.), Zoom(2., p=1.)]   # every geometric kind, always on
seeds = st.integers(0, 2**31 - 1)
def gen(seed): return torch.Generator().manual_seed(seed)

@pytest.fixture(scope='module')
def coco(tmp_path_factory):
    return synth_coco_tiny(tmp_path_factory.mktemp('coco')/'coco_tiny', n=24)

def boxes_data(coco, tfms=None, size=64, bs=8, label_cls=None):
    img2bbox = dict(zip(*get_annotations(coco/'train.json')))
    return (ObjectItemList.from_folder(coco).split_by_rand_pct(0.25, seed=0)
            .label_from_func(lambda o: img2bbox[o.name], label_cls=label_cls)
            .transform(tfms, size=size, tfm_y=True)
            .databunch(bs=bs, collate_fn=None if label_cls else bb_pad_collate, device='cpu'))

# ---------------------------------------------------------------- the corners follow the pixels
@FAST
@given(seed=seeds, t=st.integers(4, 24), l=st.integers(4, 24), h=st.integers(6, 18), w=st.integers(6, 18))
def test_box_follows_its_marked_pixels(seed, t, l, h, w):
    """Mark a box's pixels; after random rotate + zoom + warp + dihedral the moved box encloses what is left of them,
    tightly when the box stays in view (cut by the border, the box of the whole warped shape is clipped, as in fastai)."""
    n, S = 8, 48
    mask = torch.zeros(n, S, S, dtype=torch.long)
    mask[:, t:t + h, l:l + w] = 1
    box = scale_points(torch.tensor([[t, l], [t + h, l + w]], dtype=torch.float32), (S, S)).view(1, 1, 4).expand(n, 1, 4)
    params = draw_params(STRONG, n, S, S, gen(seed))
    _, m2 = apply_params(params, torch.rand(n, 3, S, S), mask, 'mask')
    moved, keep = move_boxes(box, params['mat'], (S, S))
    corners = move_points(box_corners(box), params['mat'])                  # n x 1 x 4 x 2, before clipping
    for i in range(n):
        rows, cols = torch.nonzero(m2[i] == 1, as_tuple=True)
        if len(rows) < 9: continue                                          # (almost) all of it left the frame
        assert keep[i, 0]
        px = ((moved[i, 0].view(2, 2) + 1)*S/2).flatten().tolist()          # top, left, bottom, right in pixels
        got = [rows.min().item(), cols.min().item(), rows.max().item() + 1, cols.max().item() + 1]
        assert px[0] <= got[0] + 1.5 and px[1] <= got[1] + 1.5 and px[2] >= got[2] - 1.5 and px[3] >= got[3] - 1.5, (px, got)
        if (corners[i].abs() <= 1).all(): assert all(abs(a - b) <= 2 for a, b in zip(px, got)), (px, got)

# ---------------------------------------------------------------- kept boxes: inside, with an area, paired with their class
@FAST
@given(seed=seeds, m=st.integers(0, 6))
def test_warp_keeps_boxes_inside_and_paired(seed, m):
    lbl, n, S = BBoxLabel(['background'] + [f'c{k}' for k in range(1, 7)]), 8, 48
    g = gen(seed)
    lo = torch.rand(n, m, 2, generator=g)*1.6 - 1
    b = torch.cat([lo, (lo + .05 + torch.rand(n, m, 2, generator=g)*.6).clamp(max=1)], -1)
    c = torch.arange(1, m + 1).expand(n, m).clone()                        # class k for the k-th box: its identity
    params = draw_params(STRONG, n, S, S, gen(seed + 1))
    x = torch.rand(n, 3, S, S)
    _, (b2, c2) = apply_params(params, x, (b, c), lbl)
    ref, keep = move_boxes(b, params['mat'], (S, S))
    assert b2.shape == b.shape and c2.shape == c.shape
    kept = c2 > 0
    assert (b2[kept].abs() <= 1).all() and ((b2[..., 2:] - b2[..., :2]) > 0).all(-1)[kept].all()
    assert (b2[~kept] == 0).all() and (kept.sum(1) == keep.sum(1)).all()    # the dropped ones: padding
    for i in range(n):
        k = int(kept[i].sum())
        assert (c2[i, :k] > 0).all() and (c2[i, k:] == 0).all()            # kept boxes first
        for j in range(k): assert torch.allclose(b2[i, j], ref[i, c2[i, j] - 1], atol=1e-6)   # each with its own class

def test_pipeline_batches_are_valid(coco):
    data = boxes_data(coco, get_transforms(flip_vert=True, max_rotate=30, max_zoom=1.5, max_warp=.3))
    for _ in range(2):
        for xb, (bb, cc) in data.train_dl:
            kept = cc > 0
            assert (bb[kept].abs() <= 1).all() and ((bb[..., 2:] > bb[..., :2]).all(-1) == kept).all()
            assert (bb[~kept] == 0).all()

# ---------------------------------------------------------------- the dihedral group
def test_dihedral_acts_on_boxes_as_a_group():
    b = torch.tensor([[[-.9, -.6, -.2, .3], [.1, .2, .95, .4]]])              # asymmetric boxes on a square image
    move = lambda bx, k: move_boxes(bx, DIHEDRAL[k:k + 1].float(), (32, 32))[0]
    images = [move(b, k) for k in range(8)]
    assert torch.allclose(images[0], b)
    assert len({tuple(im.flatten().round(decimals=4).tolist()) for im in images}) == 8   # 8 distinct images
    for k1 in range(8):
        for k2 in range(8):
            twice = move(move(b, k1), k2)
            k3 = [k for k in range(8) if torch.allclose(images[k], twice, atol=1e-5)]
            assert len(k3) == 1                                                # closed: one of the eight
            assert torch.allclose(move(b, 0), b) and torch.allclose(twice, move_boxes(b, (DIHEDRAL[k1] @ DIHEDRAL[k2])[None].float(), (32, 32))[0], atol=1e-5)
        assert any(torch.allclose(move(move(b, k1), k), b, atol=1e-5) for k in range(8))   # an inverse

def test_validation_is_deterministic(coco):
    data = boxes_data(coco, get_transforms())
    a, b = list(data.valid_dl), list(data.valid_dl)
    for (xa, (ba, ca)), (xb, (bb, cb)) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ba, bb) and torch.equal(ca, cb)

# ---------------------------------------------------------------- bb_pad_collate
@FAST
@given(counts=st.lists(st.integers(0, 5), min_size=1, max_size=6), pad=st.sampled_from([0, 7]))
def test_bb_pad_collate(counts, pad):
    samples = [(torch.zeros(3, 8, 8, dtype=torch.uint8), (torch.rand(k, 4) + .1, torch.arange(1, k + 1))) for k in counts]
    xb, (bb, cc) = bb_pad_collate(samples, pad_idx=pad)
    m = max(counts)
    assert xb.shape == (len(counts), 3, 8, 8) and bb.shape == (len(counts), m, 4) and cc.shape == (len(counts), m)
    for i, k in enumerate(counts):
        assert torch.equal(bb[i, :k], samples[i][1][0]) and torch.equal(cc[i, :k], samples[i][1][1])
        assert (bb[i, k:] == 0).all() and (cc[i, k:] == pad).all()

def test_image_with_zero_boxes_goes_through(coco):
    img2bbox = dict(zip(*get_annotations(coco/'train.json')))
    first = sorted(img2bbox)[0]
    data = (ObjectItemList.from_folder(coco).split_none()
            .label_from_func(lambda o: [[], []] if o.name == first else img2bbox[o.name], classes=['book', 'chair', 'couch', 'remote', 'tv', 'vase'])
            .transform(get_transforms(), size=32, tfm_y=True).databunch(bs=4, collate_fn=bb_pad_collate, device='cpu'))
    x, (b, c) = data.train_ds[0]
    assert b.shape == (0, 4) and c.shape == (0,)
    xb, (bb, cc) = next(iter(data.train_dl.new(shuffle=False)))
    assert (cc[0] == 0).all() and (bb[0] == 0).all() and data.classes[0] == 'background'

# ---------------------------------------------------------------- bad input: a clear error naming the culprit
def _write(coco, tmp_path, edit, name='train.json'):
    js = json.loads((coco/'train.json').read_text())
    edit(js)
    d = tmp_path/'c'
    d.mkdir(exist_ok=True)
    (d/name).write_text(json.dumps(js))
    return d/name

@pytest.mark.parametrize('edit,msg', [
    (lambda j: j['annotations'][2].update(bbox=[10, 10, 0, 5]), 'annotation 2 (image_id'),
    (lambda j: j['annotations'][2].update(bbox=[10, 10, -3, 5]), 'width or height <= 0'),
    (lambda j: j['annotations'][5].update(image_id=-4), "annotation 5 (image_id -4): no image has this id"),
    (lambda j: j['annotations'][1].update(category_id=5), "category_id 5 is not in 'categories'"),
    (lambda j: j.pop('annotations'), "no top-level list 'annotations'"),
    (lambda j: j.pop('categories'), "no top-level list 'categories'"),
    (lambda j: j['images'][0].pop('file_name'), "entry 0 of 'images' lacks ['file_name']"),
    (lambda j: j['annotations'][0].update(bbox=[1, 2, 3]), 'bbox must be [x, y, w, h]'),
    (lambda j: [j['images'][0].update(width=128, height=128), j['annotations'].append(
        dict(image_id=j['images'][0]['id'], bbox=[100, 5, 40, 10], category_id=62))], 'lies outside the image'),
])
def test_bad_json(coco, tmp_path, edit, msg):
    f = _write(coco, tmp_path, edit)
    with pytest.raises(DataError, match=None) as e: get_annotations(f)
    assert msg in str(e.value) and str(f) in str(e.value), str(e.value)

def test_malformed_json(tmp_path):
    (tmp_path/'train.json').write_text('{"categories": [], "images": [{"id": 1,')
    with pytest.raises(DataError, match='train.json is not valid JSON'): get_annotations(tmp_path/'train.json')
    (tmp_path/'list.json').write_text('[1, 2]')
    with pytest.raises(DataError, match="no top-level list 'categories'"): get_annotations(tmp_path/'list.json')

def test_missing_image_files_counted_and_listed(coco, tmp_path):
    d = tmp_path/'copy'
    shutil.copytree(coco, d)
    gone = sorted((d/'train').iterdir())[:7]
    for f in gone: f.unlink()
    with pytest.raises(DataError) as e: get_annotations(d/'train.json')
    s = str(e.value)
    assert '7 of 24 images listed in' in s and gone[0].name in s and 'e.g.' in s

def test_box_outside_image_found_when_labelling(coco):
    "No width/height in the json (as coco_tiny): the box is checked against the image file's size."
    with pytest.raises(DataError, match=r'lies outside the image of size \(128, 128\)') as e:
        ObjectItemList.from_folder(coco).split_none().label_from_func(lambda o: [[[0., 0., 10., 140.]], ['tv']])
    assert '.jpg' in str(e.value)

def test_image_without_annotations_kept_and_said_once(coco, tmp_path):
    def edit(j):
        ids = {j['images'][0]['id'], j['images'][1]['id']}
        j['annotations'] = [a for a in j['annotations'] if a['image_id'] not in ids]
    f = _write(coco, tmp_path, edit)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        names, lbls = get_annotations(f, folder=coco/'train')
    said = [x for x in w if 'no box' in str(x.message)]
    assert len(said) == 1 and '2 images have no box' in str(said[0].message) and str(f) in str(said[0].message)
    assert len(names) == 24 and lbls[0] == [[], []] and lbls[1] == [[], []]

def test_crowd_boxes_kept_or_dropped(coco, tmp_path):
    f = _write(coco, tmp_path, lambda j: [a.update(iscrowd=1, area=1., segmentation=[]) for a in j['annotations'][:3]] and
               j.update(info={'year': 2017}, licenses=[]))
    n_all = sum(len(b) for b, _ in get_annotations(f, folder=coco/'train')[1])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')                              # an image may be left with no box: said, and kept
        n_kept = sum(len(b) for b, _ in get_annotations(f, folder=coco/'train', keep_crowd=False)[1])
    assert n_all - n_kept == 3

def test_bad_labels(coco):
    il = ObjectItemList.from_folder(coco).split_none()
    with pytest.raises(DataError, match='pair \\[boxes, class names\\]'): il.label_from_func(lambda o: [[[0, 0, 5, 5]], []])
    with pytest.raises(DataError, match="class 'lamp' of .*jpg is not in classes"):
        il.label_from_func(lambda o: [[[0, 0, 5, 5]], ['lamp']], classes=['tv'])
    with pytest.raises(DataError, match='has no area'): il.label_from_func(lambda o: [[[5, 0, 5, 5]], ['tv']])

# ---------------------------------------------------------------- drawing, describe, the largest object, export
def test_show_batch_draws_boxes_with_names(coco):
    import matplotlib
    matplotlib.use('Agg')
    data = boxes_data(coco, get_transforms(), bs=4)
    fig = data.show_batch(rows=2, figsize=(4, 4), ds_type='valid')
    _, (bb, cc) = data.one_batch('valid')
    assert len(fig.axes[0].patches) == int((cc[0] > 0).sum())
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert texts and texts <= set(data.classes[1:])

def test_largest_box_label_and_loss(coco):
    data = boxes_data(coco, get_transforms(), label_cls=LargestBBoxLabel, bs=4)
    img2bbox = dict(zip(*get_annotations(coco/'train.json')))
    raw_b, raw_n = img2bbox[data.train_ds.items[0].name]
    area = [(b[2] - b[0])*(b[3] - b[1]) for b in raw_b]
    (b0, c0) = data.train_ds.y[0]
    assert torch.allclose(b0[0], torch.tensor(raw_b[area.index(max(area))])) and data.classes[int(c0[0])] == raw_n[area.index(max(area))]
    xb, yb = data.one_batch()
    assert yb.shape == (4, 5) and data.c == len(data.classes) + 4
    lf = data.label.loss()
    assert isinstance(lf, BoxClassLoss)
    out = torch.randn(4, data.c, requires_grad=True)
    lf(out, yb).backward()
    assert out.grad.abs().sum() > 0
    box, names = data.label.decode(lf.activation(out)[0])
    assert box.shape == (1, 4) and names[0] in data.classes
    assert box_iou(yb[:1, :4], yb[:1, :4]).item() == pytest.approx(1.) or yb[0, 4] == 0
    assert label_from_desc(data.describe()).classes == data.classes and data.describe()['label']['name'] == 'LargestBBoxLabel'

def test_export_keeps_the_classes(coco, tmp_path):
    from l3.vision import cnn_learner
    from l3.learner_export import load_learner
    data = boxes_data(coco, None, size=32, label_cls='largest_bbox', bs=4)
    learn = cnn_learner(data, 'resnet18', pretrained=False, path=tmp_path)
    learn.export()
    back = load_learner(tmp_path)
    assert back.data.classes == data.classes and type(back.data.label) is LargestBBoxLabel and back.data.c == data.c
    box, names = back.predict(data.valid_ds.items[0])[0]
    assert box.shape == (1, 4) and names[0] in data.classes
