"""Bad input along the Planet lesson's path (CSV of tags -> data block -> submission), beyond tests/test_data_bad_input.py:
each error or warning names the row/file/tag at fault and says what to do."""
import warnings
import pandas as pd, pytest, torch
from PIL import Image
from l3.data import DataError
from l3.vision_data import ImageList
from l3.tasks.planet import submission, pred_tags, run


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


def test_submission_bad_input():
    probs = torch.tensor([[0.9, 0.1], [0.3, 0.6]])
    with pytest.raises(ValueError, match=r'3 image names but 2 rows of predictions'): submission(['a', 'b', 'c'], probs, ['x', 'y'])
    with pytest.raises(ValueError, match=r'thresh has 3 values but there are 2 classes'): pred_tags(probs, ['x', 'y'], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r'\(2, 2\) do not fit 3 classes'): pred_tags(probs, ['x', 'y', 'z'])
    assert submission(['t/a.jpg', 'b.jpg'], probs, ['x', 'y'], thresh=0.5).tags.tolist() == ['x', 'y']


def test_run_unknown_arch(tmp_path):
    with pytest.raises(ValueError, match=r"unknown arch 'vgg16': use resnet18"): run(tmp_path, arch='vgg16')
