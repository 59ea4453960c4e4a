"""Head-pose lesson: what its run wrote (the lesson runs once per test session, see conftest.lesson_run); reading BIWI's
files (l3.dataset_readers), bad pose files and points outside the image give clear errors; the error in pixels
(l3.metrics)."""
import re
from pathlib import Path
import numpy as np
import pytest
import torch
from l3.data import DataError
from l3.vision_data import PointsItemList, PointsLabel, imagenet_stats
from l3.augment import get_transforms
from l3.synth_scenes import synth_biwi_head_pose, convert_biwi
from l3.dataset_readers import read_biwi_cal, read_biwi_pose, pose_file, biwi_point, image_size
from l3.metrics import pixel_errors, diagonal

def biwi_databunch(path, size=(120, 160), bs: int = 16, valid_person: str = '13'):
    "The lesson's BIWI `DataBunch`: points as targets, person `valid_person` for validation, augmented, normalised."
    cal = read_biwi_cal(Path(path)/'01'/'rgb.cal')
    return (PointsItemList.from_folder(path).split_by_valid_func(lambda o: o.parent.name == valid_person)
            .label_from_func(lambda o: biwi_point(o, cal)).transform(get_transforms(), tfm_y=True, size=size)
            .databunch(bs=bs, num_workers=0).normalize(imagenet_stats))

ROT = '1 0 0 \n0 1 0 \n0 0 1 \n\n'


@pytest.fixture(scope='module')
def biwi(tmp_path_factory):
    "A tiny BIWI stand-in: 13 persons, 2 frames each, 24x32 images."
    return synth_biwi_head_pose(tmp_path_factory.mktemp('biwi'), n_persons=13, n_frames=2, size=(24, 32))


def _frames(path, person='01'): return sorted((path/person).glob('*_rgb.jpg'))


def test_reads_agree_with_genfromtxt(biwi):
    cal = read_biwi_cal(biwi/'01'/'rgb.cal')
    assert np.array_equal(cal, np.genfromtxt(biwi/'01'/'rgb.cal', skip_footer=6)) and cal.shape == (3, 3)
    fn = _frames(biwi)[0]
    ctr = read_biwi_pose(pose_file(fn))
    assert np.array_equal(ctr, np.genfromtxt(pose_file(fn), skip_header=3))
    pt = biwi_point(fn, cal)
    assert pt.shape == (1, 2) and pt.dtype == torch.float32
    assert torch.allclose(pt[0], torch.tensor(convert_biwi(ctr, cal), dtype=torch.float32))
    assert image_size(fn) == (24, 32)


@pytest.mark.parametrize('last, found', [('10 20', 'found 2 values [10.0, 20.0]'),
                                         ('10 20 800 5', 'found 4 values [10.0, 20.0, 800.0, 5.0]'),
                                         ('10 20 800\n1 2 3', 'found 6 values'),
                                         ('', 'found 0 values'),
                                         ('10 abc 800', 'found 3 values [10.0, nan, 800.0]')])
def test_pose_file_wrong_number_of_values(tmp_path, last, found):
    f = tmp_path/'frame_00003_pose.txt'
    f.write_text(ROT + last + '\n')
    msg = re.escape(str(f)) + r': expected 3 numbers \(the head centre x y z in mm\)'
    with pytest.raises(DataError, match=msg) as e:
        read_biwi_pose(f)
    assert found in str(e.value)


def test_pose_file_ragged_rows(tmp_path):
    "Rows of different lengths make numpy's reader fail: the error still names the file."
    f = tmp_path/'frame_00003_pose.txt'
    f.write_text(ROT + '10 20 800\n1 2\n')
    with pytest.raises(DataError, match=r'pose file .*frame_00003_pose\.txt could not be read as numbers'):
        read_biwi_pose(f)


def test_pose_behind_camera_and_missing(tmp_path):
    f = tmp_path/'frame_00003_pose.txt'
    f.write_text(ROT + '10 20 0\n')
    with pytest.raises(DataError, match=r'z = 0 mm'): read_biwi_pose(f)
    with pytest.raises(DataError, match=r'pose file .*nope_pose\.txt does not exist'):
        read_biwi_pose(tmp_path/'nope_pose.txt')


def test_bad_calibration(tmp_path):
    f = tmp_path/'rgb.cal'
    f.write_text('500 0 80\n0 500 60\n')
    with pytest.raises(DataError, match=r'calibration file .*rgb\.cal: expected the 3x3 intrinsics'): read_biwi_cal(f)


def test_point_outside_image(biwi, tmp_path):
    import shutil
    fn = tmp_path/'01'/'frame_00003_rgb.jpg'
    fn.parent.mkdir()
    shutil.copy(_frames(biwi)[0], fn)
    cal = read_biwi_cal(biwi/'01'/'rgb.cal')
    pose_file(fn).write_text(ROT + '-900 0 1000\n')   # 90 cm to the left at 1 m: far outside a 32 px wide image
    with pytest.raises(DataError, match=r'head centre of .*frame_00003_rgb\.jpg at \(row, col\) = '
                                        r'\(12\.0, -\d+\.\d\) px lies outside the image of size \(24, 32\)'):
        biwi_point(fn, cal)


def test_data_block_stops_at_the_bad_pose_file(biwi, tmp_path):
    "A wrong pose file among good ones: the data block stops when labelling, naming that file (not inside torch)."
    import shutil
    path = tmp_path/'biwi'
    shutil.copytree(biwi, path)
    bad = pose_file(_frames(path, '05')[1])
    bad.write_text(ROT + '10 20\n')
    cal = read_biwi_cal(path/'01'/'rgb.cal')
    items = PointsItemList.from_folder(path).split_by_valid_func(lambda o: o.parent.name == '13')
    with pytest.raises(DataError, match=re.escape(str(bad)) + r': expected 3 numbers .* found 2 values'):
        items.label_from_func(lambda o: biwi_point(o, cal))
    with pytest.raises(DataError, match=re.escape(str(bad))): biwi_databunch(path, size=(24, 32), bs=4)


def test_databunch_points_in_range(biwi):
    data = biwi_databunch(biwi, size=(24, 32), bs=4)
    assert len(data.valid_ds) == 2 and all(o.parent.name == '13' for o in data.valid_ds.x.items)
    assert isinstance(data.label, PointsLabel) and data.c == 2 and len(data.train_ds) > len(data.valid_ds)
    xb, yb = data.one_batch()
    assert xb.shape == (4, 3, 24, 32) and yb.shape == (4, 1, 2) and yb.abs().max() <= 1


def test_pixel_errors():
    t = torch.tensor([[[0., 0.]], [[-1., -1.]]])
    assert torch.equal(pixel_errors(t, t, (480, 640)), torch.zeros(2))
    # one image height up and one width right: the diagonal; a point at the centre vs the corner: half of it
    corner_to_corner = pixel_errors(torch.tensor([[1., -1.]]), torch.tensor([[-1., 1.]]), (480, 640))
    assert torch.allclose(corner_to_corner, torch.tensor([800.]))
    centre_to_corner = pixel_errors(torch.zeros(1, 2), torch.ones(1, 2), (480, 640))
    assert torch.allclose(centre_to_corner, torch.tensor([diagonal((480, 640)) / 2]))


def test_point_follows_the_face_under_augmentation():
    """The lesson's strong augmentation (geometric only: colours stay), on a stand-in frame: the pixel under the moved
    point is still the face's pixel, for the versions where the point stays in the picture; an unmoved point fails."""
    from l3.vision_data import open_image, scale_points, scale_points_back
    from l3.augment import augment_batch
    from l3.datasets import get_dataset
    path = get_dataset('biwi_head_pose')
    fname = sorted((path/'09').glob('*_rgb.jpg'))[0]
    img, pt = open_image(fname), biwi_point(fname, read_biwi_cal(path/'01'/'rgb.cal'))
    geo = get_transforms(max_rotate=20, max_zoom=1.5, max_lighting=0., max_warp=0.4, p_affine=1.)[0]
    xb = (img.float() / 255)[None].expand(8, -1, -1, -1).contiguous()
    pb = scale_points(pt, img.shape[-2:])[None].expand(8, -1, -1).contiguous()
    xa, pa = augment_batch(geo, xb, pb, 'points', generator=torch.Generator().manual_seed(0))

    def pixel_at(p, shape):
        "(row, col) of the pixel under point `p` (1x2 in [-1, 1]), or None when it left the image."
        r, c = scale_points_back(p, shape)[0].round().long().tolist()
        return (r, c) if 0 <= r < shape[0] and 0 <= c < shape[1] else None
    face = xb[0][(slice(None), *pixel_at(pb[0], xb.shape[-2:]))]
    moved = torch.stack([x[(slice(None), *rc)] for x, p in zip(xa, pa)
                         if (rc := pixel_at(p, x.shape[-2:])) is not None])
    assert not torch.allclose(pa, pb), 'the transforms should move the point'
    assert len(moved) >= 4 and (moved - face).abs().max() < 0.1, (face, moved)


def test_head_pose_run(lesson_run):
    """The lesson's own run: its learning checks in metrics.json (recorded, none failed), its figures, the lr finder's
    valley, the exported model predicting a point."""
    from l3.learner_export import load_learner
    rec = lesson_run('head_pose')
    assert 'error' not in rec, rec.get('error')
    m, out = rec['metrics'], Path(rec['out'])
    assert m['pixel_error_pct_diag'] < 10 and m['pixel_error'] < m['baseline_pixel_error'], m
    assert set(m['checks']) == {'mean pixel error under 10% of the diagonal',
                                'better than always guessing the average centre'}
    assert m['failed_checks'] == [] and all(c['ok'] for c in m['checks'].values()), m['checks']
    assert m['train_size'] == [60, 80] and m['arch'] == 'resnet18' and m['lr'] == '0.01' and len(rec['figures']) >= 5
    assert 0 < m['lr_valley'] < 10 and 0 < m['mse'] < 0.1
    inf = load_learner(out)
    from l3.core import data_path
    frame = sorted((data_path()/'biwi_head_pose'/'13').glob('*_rgb.jpg'))[0]
    pt, _ = inf.predict(frame)
    assert tuple(pt.shape) == (1, 2) and inf.data.c == 2
