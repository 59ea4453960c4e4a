"""Tests of l3.synth, l3.synth_scenes and l3.synth_text: determinism, the real layouts, the label rules, and that the
labels are drawn where they say."""
import hashlib
import json
import re
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from l3.synth import SYNTH_NAMES, PLANET_TAGS, PLANET_WEATHER
from l3.synth_scenes import CAMVID_CODES, convert_biwi
from l3.synth_text import synth

def digest(p: Path) -> str:
    "One hash of every file's relative path and bytes under `p`."
    h = hashlib.sha256()
    for f in sorted(p.rglob('*')):
        if f.is_file():
            h.update(f.relative_to(p).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()

@pytest.fixture(scope='module')
def made(tmp_path_factory):
    "Every stand-in, written once for the module with seed 0."
    root = tmp_path_factory.mktemp('synth')
    return {n: synth(n, root/n) for n in SYNTH_NAMES}

@pytest.mark.parametrize('name', ['mnist_tiny', 'planet_tiny', 'camvid_tiny', 'biwi_head_pose', 'biwi_head_pose_full', 'imdb_sample',
                                  'imdb', 'coco_tiny'])
def test_deterministic(made, tmp_path, name):
    again, other = synth(name, tmp_path/'again'), synth(name, tmp_path/'other', seed=1)
    assert digest(again) == digest(made[name]), f'{name}: the same seed gave different files'
    assert digest(other) != digest(made[name]), f'{name}: seeds 0 and 1 gave the same files'

def test_markers(made):
    for n, p in made.items():
        info = json.loads((p/'.l3_synthetic').read_text())
        assert info['name'] == n and info['seed'] == 0 and info['synthetic'] is True

def test_unknown_name(tmp_path):
    with pytest.raises(ValueError, match='mnist_tiny'): synth('cifar10', tmp_path)

def test_mnist_tiny(made):
    p = made['mnist_tiny']
    df = pd.read_csv(p/'labels.csv')
    assert list(df.columns) == ['name', 'label'] and set(df.label) == {3, 7}
    assert df.name.str.match(r'^(train|valid)/[37]/\d+\.png$').all()
    assert (df.name.str.split('/').str[1].astype(int) == df.label).all()
    assert all((p/n).is_file() for n in df.name)
    counts = {(split, d): len(list((p/split/d).glob('*.png'))) for split in ('train', 'valid') for d in ('3', '7')}
    assert counts == {('train', '3'): 355, ('train', '7'): 354, ('valid', '3'): 350, ('valid', '7'): 349}  # 1,408 as the real one
    assert len(list((p/'test').glob('*.png'))) == 20
    im = Image.open(p/df.name[0])
    assert im.mode == 'L' and im.size == (28, 28)
    # 3s and 7s differ on average (a 7 has ink at the top right, a 3 on its lower right bowl)
    mean = lambda d: np.mean([np.asarray(Image.open(f), np.float32) for f in (p/'train'/d).glob('*.png')], 0)
    assert np.abs(mean('3') - mean('7')).max() > 60

def _check_planet_tags(tags):
    for ts in tags:
        assert sum(t in PLANET_WEATHER for t in ts) == 1, ts
        if 'cloudy' in ts: assert ts == ['cloudy'], ts
        assert set(ts) <= set(PLANET_TAGS) and len(set(ts)) == len(ts), ts

def test_planet_tiny(made):
    p = made['planet_tiny']
    df = pd.read_csv(p/'labels.csv')
    assert list(df.columns) == ['image_name', 'tags'] and df.tags.notna().all()
    assert df.image_name.str.match(r'^train_\d+$').all()
    assert sorted(f.stem for f in (p/'train').glob('*.jpg')) == sorted(df.image_name)
    _check_planet_tags(df.tags.str.split(' '))
    assert set(t for ts in df.tags.str.split(' ') for t in ts) == set(PLANET_TAGS)
    im = Image.open(p/'train'/f'{df.image_name[0]}.jpg')
    assert im.size == (128, 128) and im.mode == 'RGB'

def test_planet_tags_visible(made):
    "Cloudy tiles are bright and grey; tiles with water hold bluish pixels; forest tiles are mostly green."
    p = made['planet_tiny']
    df = pd.read_csv(p/'labels.csv')
    for n, t in df.values[:150]:
        a = np.asarray(Image.open(p/'train'/f'{n}.jpg'), np.float32)
        ts = t.split()
        if 'cloudy' in ts: assert a.mean() > 170, (n, t)
        if 'water' in ts: assert ((a[..., 2] - a[..., 1]) > 40).sum() > 50, (n, t)
        if ts == ['clear', 'primary']: assert (a[..., 1] > a[..., 0] + 20).mean() > 0.7, (n, t)

def test_planet_kaggle_layout(made):
    p = made['planet']
    df = pd.read_csv(p/'train_v2.csv')
    assert list(df.columns) == ['image_name', 'tags']
    assert all((p/'train-jpg'/f'{n}.jpg').is_file() for n in df.image_name)
    assert len(list((p/'test-jpg').glob('test_*.jpg'))) > 0 and len(list((p/'test-jpg-additional').glob('file_*.jpg'))) > 0
    _check_planet_tags(df.tags.str.split(' '))
    assert all(sum(t in ts for ts in df.tags.str.split(' ')) >= 2 for t in PLANET_TAGS)   # full mode sees all 17 classes
    assert Image.open(p/'train-jpg'/f'{df.image_name[0]}.jpg').size == (256, 256)      # the real tile size

@pytest.mark.parametrize('name,size,n_valid', [('camvid_tiny', (96, 128), None), ('camvid', (720, 960), 2)])
def test_camvid(made, name, size, n_valid):
    p = made[name]
    codes = (p/'codes.txt').read_text().splitlines()
    assert codes == CAMVID_CODES and len(codes) == 32 and codes[30] == 'Void'
    ims = sorted((p/'images').glob('*.png'))
    assert ims and all(re.match(r'^(0001TP|0006R0|0016E5|Seq05VD)_f?\d+$', f.stem) for f in ims)
    seen = set()
    for f in ims:
        m = Image.open(p/'labels'/f'{f.stem}_P.png')
        assert m.mode == 'L'
        m = np.asarray(m)
        assert m.shape == size and m.max() < 32, f
        assert Image.open(f).size == size[::-1]
        seen |= set(np.unique(m).tolist())
        # Void sits on borders: every Void pixel touches a non-Void pixel of another class nearby
        v = np.argwhere(m == 30)
        assert len(v) > 0, f'{f.name}: no Void border'
    assert {CAMVID_CODES.index(c) for c in ('Sky', 'Building', 'Road', 'Sidewalk', 'Car', 'Tree', 'Void', 'LaneMkgsDriv')} <= seen
    if n_valid is None: assert not (p/'valid.txt').exists()
    else:
        valid = (p/'valid.txt').read_text().split()
        assert len(valid) == n_valid and all((p/'images'/v).is_file() for v in valid)
        assert {v.split('_')[0] for v in valid} == {'Seq05VD'}
        assert not any(f.name.startswith('Seq05VD') for f in ims if f.name not in valid)

def test_camvid_void_only_at_borders(made):
    "Void pixels are thin (borders), not blobs: no 3x3 block is all Void."
    p = made['camvid_tiny']
    for f in sorted((p/'labels').glob('*.png'))[:20]:
        v = np.asarray(Image.open(f)) == 30
        block = v[:-2, :-2] & v[1:-1, 1:-1] & v[2:, 2:] & v[:-2, 2:] & v[2:, :-2]
        assert not block.any(), f

def test_biwi(made):
    p = made['biwi_head_pose']
    persons = sorted(d.name for d in p.iterdir() if d.is_dir())
    assert '13' in persons and persons[0] == '01' and all(re.match(r'^\d\d$', d) for d in persons)
    n = 0
    for d in persons:
        cal = np.genfromtxt(p/d/'rgb.cal', skip_footer=6)
        assert cal.shape == (3, 3) and cal[2].tolist() == [0, 0, 1]
        for f in sorted((p/d).glob('frame_*_pose.txt')):
            assert re.match(r'^frame_\d{5}_pose$', f.stem)
            assert len(f.read_text().split()) == 12
            row, col = convert_biwi(np.genfromtxt(f, skip_header=3), cal)
            im = np.asarray(Image.open(f.parent/f.name.replace('_pose.txt', '_rgb.jpg')), np.float32)
            assert 0 <= row < im.shape[0] and 0 <= col < im.shape[1]
            # the run of face-coloured pixels along the centre row is centred on `col` within 2 px
            r0, c0 = int(round(row)), int(round(col))
            near = np.abs(im[r0] - im[r0, c0]).sum(-1) < 90  # JPEG noise inside the face stays well below
            left, right = c0, c0
            while left > 0 and near[left - 1]: left -= 1
            while right + 1 < im.shape[1] and near[right + 1]: right += 1
            assert right - left >= 8 and abs((left + right) / 2 - col) <= 2, (f, left, right, col)
            n += 1
    assert n >= 13 * 10

def _check_imdb_sample(df):
    assert list(df.columns) == ['label', 'text', 'is_valid'] and len(df) == 1000
    assert df.is_valid.dtype == bool and df.is_valid.sum() == 200 and set(df.label) == {'negative', 'positive'}
    assert df.text.notna().all() and (df.text.str.len() > 50).all()
    txt = ' '.join(df.text)
    for s in ['<br />', "didn't", "you're", "it's", "don't", "i've"]: assert s in txt.lower(), s
    assert re.search(r'\b[A-Z]{4,}\b', txt), 'no ALL-CAPS word'
    assert re.search(r'([a-z])\1\1\1', txt), 'no stretched word like sooooo'
    assert re.search(r'\b(\w+) \1 \1\b', txt), 'no repeated word'
    # the label is learnable: a word-count rule already gets most reviews right
    from l3.synth_text import _POS, _NEG
    score = df.text.str.lower().str.count('|'.join(_POS)) - df.text.str.lower().str.count('|'.join(_NEG))
    assert ((score > 0) == (df.label == 'positive')).mean() > 0.9

def test_imdb_sample(made):
    "The default: the short templated reviews (about 58 words)."
    df = pd.read_csv(made['imdb_sample']/'texts.csv')
    _check_imdb_sample(df)
    assert df.text.str.split().str.len().mean() < 100


def test_imdb_sample_long(tmp_path):
    "long_reviews=True: as long as the real sample's reviews (mean 248 words, median 186), with a large vocabulary; the same properties."
    from l3.synth_text import synth_imdb_sample
    df = pd.read_csv(synth_imdb_sample(tmp_path, long_reviews=True)/'texts.csv')
    txt = ' '.join(df.text)
    _check_imdb_sample(df)
    assert len(df) == 1000 and df.is_valid.sum() == 200
    n_words = df.text.str.replace('<br />', ' ').str.split().str.len()
    assert 215 < n_words.mean() < 285 and 160 < n_words.median() < 215, (n_words.mean(), n_words.median())
    assert len(set(re.findall(r"[a-z']+", txt.lower()))) > 10000

def test_imdb_full_layout(made):
    p = made['imdb']
    for d in ('train/pos', 'train/neg', 'test/pos', 'test/neg', 'unsup'):
        fs = list((p/d).glob('*.txt'))
        assert fs, d
        assert all(re.match(r'^\d+_\d+$', f.stem) for f in fs)
    assert all(int(f.stem.split('_')[1]) >= 7 for f in (p/'train'/'pos').glob('*.txt'))
    assert all(int(f.stem.split('_')[1]) <= 4 for f in (p/'test'/'neg').glob('*.txt'))
    assert all(f.stem.endswith('_0') for f in (p/'unsup').glob('*.txt'))
    assert (p/'README').is_file() and len((p/'imdb.vocab').read_text().split()) > 100

def test_coco_tiny(made):
    "The real coco_tiny layout: train.json in COCO's format + train/*.jpg at 128x128, 200 images, 6 classes."
    from PIL import Image
    p = made['coco_tiny']
    js = json.loads((p/'train.json').read_text())
    assert {'categories', 'images', 'annotations'} <= set(js) and len(js['images']) == 200
    assert {c['name'] for c in js['categories']} == {'chair', 'couch', 'tv', 'remote', 'book', 'vase'}
    assert {Image.open(p/'train'/o['file_name']).size for o in js['images'][:20]} == {(128, 128)}
    ids = {o['id'] for o in js['images']}
    assert all(a['image_id'] in ids and len(a['bbox']) == 4 for a in js['annotations']) and len(js['annotations']) > 400

def test_biwi_full_size(made):
    "The full-mode BIWI stand-in: the real 480x640 frames, the real focal length, persons 09 and 13 among a few."
    p = made['biwi_head_pose_full']
    persons = sorted(d.name for d in p.iterdir() if d.is_dir())
    assert {'09', '13'} <= set(persons) and 3 <= len(persons) < 13
    cal = np.genfromtxt(p/'13'/'rgb.cal', skip_footer=6)
    assert abs(cal[0, 0] - 517.679) < 1e-3 and cal[0, 2] == 320
    for f in sorted(p.glob('*/frame_*_pose.txt')):
        im = Image.open(f.parent/f.name.replace('_pose.txt', '_rgb.jpg'))
        assert im.size == (640, 480)
        row, col = convert_biwi(np.genfromtxt(f, skip_header=3), cal)
        assert 0 <= row < 480 and 0 <= col < 640
        a = np.asarray(im, np.float32)
        assert a[int(row), int(col), 0] > a[int(row), int(col), 2] + 20   # on the face
