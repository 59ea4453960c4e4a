"""The Planet lesson: what its run wrote (metrics and learning checks, figures, model, submission; the lesson runs
once per test session, see conftest.lesson_run), the lesson's data block and learner built again here (what the
lesson shows without asserting), and bad input along its path (CSV of tags -> data block), beyond
tests/test_data_bad_input.py: each error or warning names the row/file/tag at fault and says what to do. The
submission helpers (`pred_tags`, `submission`) are tested with l3.metrics."""
import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
import pandas as pd
import pytest
from PIL import Image
from l3.data import DataError
from l3.vision_data import ImageList


def _tiles(path, names):
    (path/'train').mkdir(parents=True, exist_ok=True)
    for n in names: Image.new('RGB', (8, 8), (30, 90, 40)).save(path/'train'/f'{n}.jpg')


def _planet(path, rows: str):
    "A tiny Planet-like folder: `rows` is the CSV body (image_name,tags lines) written as is."
    names = [r.split(',')[0] for r in rows.strip().splitlines()]
    _tiles(path, names)
    (path/'labels.csv').write_text('image_name,tags\n' + rows.strip() + '\n')
    return ImageList.from_csv(path, 'labels.csv', folder='train', suffix='.jpg')


def test_empty_tag_field(tmp_path):
    "A row whose tags field is empty (`train_1,`): pandas reads NaN, the labeller names the row."
    il = _planet(tmp_path, 'train_0,clear primary\ntrain_1,\ntrain_2,haze primary')
    with pytest.raises(DataError, match=r"'tags' has NaN \(empty\) values for 1 rows, "
                                        r"e\.g\. items \['train/train_1\.jpg'\]; fill or drop"):
        il.split_none().label_from_df(label_delim=' ')


def test_blank_tag_string(tmp_path):
    "A tags field holding only spaces would give an image with no tag at all: refused, naming the item."
    il = _planet(tmp_path, 'train_0,clear primary\ntrain_1,   \ntrain_2,haze primary')
    with pytest.raises(DataError, match=r"1 items have a blank label \(no tag once split on ' '\), "
                                        r"e\.g\. \['train/train_1\.jpg'\]; fill or drop"):
        il.split_none().label_from_df(label_delim=' ')


def test_tag_only_in_validation_warns(tmp_path):
    "A tag no training image has: the model can't learn it. The warning names the tag and an image that has it."
    il = _planet(tmp_path, 'train_0,clear primary\ntrain_1,clear primary road\ntrain_2,haze primary\n'
                           'train_3,clear slash_burn')
    with pytest.warns(UserWarning, match=r"tags \['slash_burn'\] appear only in the validation set "
                                         r"\(e\.g\. 'slash_burn' of train/train_3\.jpg\), never in training: "
                                         r"the model cannot learn them"):
        lls = il.split_by_idx([3]).label_from_df(label_delim=' ')
    assert 'slash_burn' in lls.classes   # still a class: the validation targets stay exact


def test_no_warning_when_training_has_every_tag(tmp_path):
    il = _planet(tmp_path, 'train_0,clear primary\ntrain_1,clear primary road\ntrain_2,haze primary\n'
                           'train_3,clear road')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        il.split_by_idx([3]).label_from_df(label_delim=' ')
        # given classes: no check
        il.split_by_idx([0]).label_from_df(label_delim=' ', classes=['clear', 'haze', 'primary', 'road'])


def test_tag_unknown_to_the_trained_classes(tmp_path):
    "New labelled data scored with a trained model's classes: a tag the model never had is named with its image."
    il = _planet(tmp_path, 'train_0,clear primary\ntrain_1,clear mine')
    with pytest.raises(DataError, match=r"tag 'mine' of .*train_1\.jpg is not in classes \['clear', 'primary'\]"):
        il.split_none().label_from_df(label_delim=' ', classes=['clear', 'primary'])


def test_image_removed_after_listing(tmp_path):
    "A file that disappears between reading the CSV and training is named when its batch is read, not deep in torch."
    il = _planet(tmp_path, '\n'.join(f'train_{i},clear primary' for i in range(6)))
    data = il.split_none().label_from_df(label_delim=' ').transform(size=8).databunch(bs=6, num_workers=0)
    (tmp_path/'train'/'train_4.jpg').unlink()
    with pytest.raises(DataError, match=r'image file .*train_4\.jpg does not exist'):
        for _ in data.train_dl: pass


def test_missing_test_folder(tmp_path):
    lls = _planet(tmp_path, 'train_0,clear\ntrain_1,haze').split_none().label_from_df(label_delim=' ')
    with pytest.raises(DataError, match=r'test-jpg does not exist'): lls.add_test_folder('test-jpg')


def _lesson_src():
    "The lesson's labelled lists on planet_tiny (small mode): the same CSV, folder, split and labels."
    from l3.datasets import get_dataset
    path = get_dataset('planet_tiny')
    return path, (ImageList.from_csv(path, 'labels.csv', folder='train', suffix='.jpg')
                  .split_by_rand_pct(0.2, seed=42).label_from_df(label_delim=' '))


def test_planet_data_block_and_learner(tmp_path):
    "The lesson's DataBunch and learner: multi-hot targets over the Planet tags, BCE, one output per tag, the resize."
    from l3.augment import get_transforms
    from l3.labels import MultiCategoryLabel
    from l3.synth import PLANET_TAGS
    from l3.vision import cnn_learner
    from l3.vision_data import imagenet_stats
    path, src = _lesson_src()
    df = pd.read_csv(path/'labels.csv')
    assert list(df.columns) == ['image_name', 'tags'] and df.tags.notna().all()
    assert set(' '.join(df.tags).split()) <= set(PLANET_TAGS)
    tfms = get_transforms(flip_vert=True, max_lighting=0.1, max_zoom=1.05, max_warp=0.)
    data = src.transform(tfms, size=32).databunch(bs=8, device='cpu').normalize(imagenet_stats)
    assert isinstance(data.label, MultiCategoryLabel) and data.c == len(data.classes)
    assert set(data.classes) <= set(PLANET_TAGS)
    x, y = data.train_ds[0]
    assert y.shape == (data.c,) and set(y.unique().tolist()) <= {0., 1.} and y.sum() >= 1
    learn = cnn_learner(data, 'resnet18', pretrained=False, path=tmp_path)
    assert type(learn.loss_func).__name__ == 'BCEWithLogitsFlat'
    xb, _ = data.one_batch()
    assert learn.model.eval()(xb).shape == (len(xb), data.c)
    data2 = src.transform(tfms, size=64).databunch(bs=8, device='cpu').normalize(imagenet_stats)
    assert data2.train_ds[0][0].shape == (3, 64, 64) and data2.one_batch()[0].shape[-2:] == (64, 64)
    assert data2.classes == data.classes
    test = src.add_test(src.valid.items).transform(tfms, size=64).databunch(bs=8, device='cpu')
    assert len(test.test_ds) == len(src.valid.items)


def test_planet_run(lesson_run):
    """The lesson's own run: its learning checks, the lecture's rates, thresholds in metrics.json, its figures, a
    loadable model, the stages saved, and the submission, scored here against the truth (small mode: the test tiles are
    the validation tiles, so scoring submission.csv must give the F2 of the per-tag thresholds)."""
    from l3.core import data_path
    from l3.learner_export import load_learner
    rec = lesson_run('planet')
    assert 'error' not in rec, rec.get('error')
    m, out = rec['metrics'], Path(rec['out'])
    assert m['failed_checks'] == [] and all(c['ok'] for c in m['checks'].values()), m['checks']
    f2_check = 'F2 at threshold 0.2 >= 0.85 (small mode)'
    assert set(m['checks']) == {'the loss still falls at lr = 1e-2 on the first sweep',
                                'stage 1 lowers the valid loss and raises F2', f2_check,
                                "the exported model gives the trained one's probabilities (within 0.05)"}
    assert m['fbeta'] >= 0.85 and m['checks'][f2_check]['figure'] == pytest.approx(m['fbeta'])
    assert m['fbeta_per_class_thresh'] >= m['fbeta_best_thresh'] >= m['fbeta'] - 1e-6 and 0 < m['thresh'] < 1
    assert len(m['per_class_thresh']) == 17 and m['arch'] == 'resnet18' and m['size'] == 128
    assert m['lrs'] == {'head': 1e-2, 'resized': 5e-3}   # the lecture's rates; the last stage is slice(1e-5, 5e-3/5)
    g = m['group_lrs']   # the last stage's layer groups, at the end of its cycle: lr_range(slice(1e-5, 1e-3)) scaled
    assert len(g) >= 2 and g[-1] / g[0] == pytest.approx(100, rel=1e-3)
    assert len(rec['figures']) >= 7 and all((out/'figures'/f).read_bytes()[:4] == b'\x89PNG' for f in rec['figures'])
    assert {f'stage-{s}-rn18.pth' for s in ('1', '2', '1-128', '2-128')} <= {f.name for f in (out/'models').iterdir()}
    inf = load_learner(out)
    tags, probs = inf.predict(sorted((data_path()/'planet_tiny'/'train').glob('*.jpg'))[0])
    assert probs.shape == (17,) and abs(inf.pred_thresh - m['thresh']) < 1e-6
    assert tags == [c for c, p in zip(inf.data.classes, probs) if p > inf.pred_thresh]
    sub = pd.read_csv(out/'submission.csv', keep_default_na=False)
    assert list(sub.columns) == ['image_name', 'tags'] and len(sub) == 100
    labels = pd.read_csv(data_path()/'planet_tiny'/'labels.csv')
    truth = dict(zip(labels.image_name, labels.tags.str.split()))
    f2 = lambda pred, true: 1. if not pred and not true else 5 * len(pred & true) / (4 * len(true) + len(pred))
    sub_f2 = sum(f2(set(t.split()), set(truth[n])) for n, t in zip(sub.image_name, sub.tags)) / len(sub)
    assert sub_f2 == pytest.approx(m['fbeta_per_class_thresh'], abs=1e-4)


def test_unknown_arch_stops_the_lesson_naming_its_cell(tmp_path):
    "`l3 lesson planet --arch vgg16`: the mode cell refuses it (before any data or training), and the run names it."
    exe = shutil.which('l3') or str(Path(sys.executable).parent/'l3')
    r = subprocess.run([exe, 'lesson', 'planet', '--arch', 'vgg16', '--out', str(tmp_path)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr
    err = json.loads((tmp_path/'run.json').read_text())['error']
    assert "arch 'vgg16' is not supported: use one of resnet18" in err
    assert "(`from functools import partial`) failed" in err   # the mode set-up cell, named by its first line
    assert not (tmp_path/'models').exists()                    # before any training
    assert "arch 'vgg16' is not supported" in r.stderr and 'FAILED: cell' in r.stdout
