"""The Planet lesson: what its run wrote (metrics, figures, model, submission; the lesson runs once per test session,
see conftest.lesson_run), and bad input along its path (CSV of tags -> data block), beyond tests/test_data_bad_input.py:
each error or warning names the row/file/tag at fault and says what to do. The submission's bad-input checks are cells
of the lesson itself (nbs/lessons/planet.ipynb, where `submission` and `pred_tags` are written)."""
import json, shutil, subprocess, sys, warnings
from pathlib import Path
import pandas as pd, pytest, torch
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
    with pytest.raises(DataError, match=r"'tags' has NaN \(empty\) values for 1 rows, e\.g\. items \['train/train_1\.jpg'\]; fill or drop"):
        il.split_none().label_from_df(label_delim=' ')


def test_blank_tag_string(tmp_path):
    "A tags field holding only spaces would give an image with no tag at all: refused, naming the item."
    il = _planet(tmp_path, 'train_0,clear primary\ntrain_1,   \ntrain_2,haze primary')
    with pytest.raises(DataError, match=r"1 items have a blank label \(no tag once split on ' '\), e\.g\. \['train/train_1\.jpg'\]; fill or drop"):
        il.split_none().label_from_df(label_delim=' ')


def test_tag_only_in_validation_warns(tmp_path):
    "A tag no training image has: the model can't learn it. The warning names the tag and an image that has it."
    il = _planet(tmp_path, 'train_0,clear primary\ntrain_1,clear primary road\ntrain_2,haze primary\ntrain_3,clear slash_burn')
    with pytest.warns(UserWarning, match=r"tags \['slash_burn'\] appear only in the validation set \(e\.g\. 'slash_burn' of "
                                         r"train/train_3\.jpg\), never in training: the model cannot learn them"):
        lls = il.split_by_idx([3]).label_from_df(label_delim=' ')
    assert 'slash_burn' in lls.classes   # still a class: the validation targets stay exact


def test_no_warning_when_training_has_every_tag(tmp_path):
    il = _planet(tmp_path, 'train_0,clear primary\ntrain_1,clear primary road\ntrain_2,haze primary\ntrain_3,clear road')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        il.split_by_idx([3]).label_from_df(label_delim=' ')
        il.split_by_idx([0]).label_from_df(label_delim=' ', classes=['clear', 'haze', 'primary', 'road'])  # given classes: no check


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


def test_planet_run(lesson_run):
    "The lesson's own run: its learning check and thresholds in metrics.json, its figures, a loadable model, the submission."
    from l3.learner_export import load_learner
    rec = lesson_run('planet')
    assert 'error' not in rec, rec.get('error')
    m, out = rec['metrics'], Path(rec['out'])
    assert m['fbeta'] >= 0.85 and m['checks'] == {'fbeta >= 0.85 (small mode)': True}
    assert m['fbeta_per_class_thresh'] >= m['fbeta_best_thresh'] >= m['fbeta'] - 1e-6 and 0 < m['thresh'] < 1
    assert len(m['per_class_thresh']) == 17 and m['arch'] == 'resnet18' and m['size'] == 128
    assert len(rec['figures']) >= 7 and all((out/'figures'/f).read_bytes()[:4] == b'\x89PNG' for f in rec['figures'])
    inf = load_learner(out)
    from l3.core import data_path
    tags, probs = inf.predict(sorted((data_path()/'planet_tiny'/'train').glob('*.jpg'))[0])
    assert probs.shape == (17,) and isinstance(tags, list) and abs(inf.pred_thresh - m['thresh']) < 1e-6
    sub = pd.read_csv(out/'submission.csv')
    assert list(sub.columns) == ['image_name', 'tags'] and len(sub) == 100 and (out/'models'/'stage-2-128-rn18.pth').exists()

def test_unknown_arch_stops_the_lesson_naming_its_cell(tmp_path):
    "`l3 lesson planet --arch vgg16`: the mode cell refuses it (before any data or training), and the run names that cell."
    exe = shutil.which('l3') or str(Path(sys.executable).parent/'l3')
    r = subprocess.run([exe, 'lesson', 'planet', '--arch', 'vgg16', '--out', str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stdout + r.stderr
    err = json.loads((tmp_path/'run.json').read_text())['error']
    assert "arch 'vgg16' is not supported: use one of resnet18" in err and "(`ARCH = getattr(torchvision.models, arch_name(" in err
    assert "arch 'vgg16' is not supported" in r.stderr and 'FAILED: cell' in r.stdout
