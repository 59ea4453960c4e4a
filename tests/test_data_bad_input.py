"""Bad input to the data block API: each error names the file/value at fault and says what to do."""
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from l3.data import DataError, prepare_item
from l3.vision_data import ImageList, SegmentationItemList, PointsItemList, open_image, open_mask
from l3.text_data import TextList


def _img(fn, size=(8, 10), mode='RGB', value=100):
    fn.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size[::-1], value if mode != 'RGB' else (value, 50, 20)).save(fn)
    return fn


@pytest.fixture
def folders(tmp_path):
    for split in ('train', 'valid'):
        for c in ('a', 'b'):
            for i in range(3): _img(tmp_path/split/c/f'{c}{i}.png')
    return tmp_path


@pytest.fixture
def camvid(tmp_path):
    codes = ['Sky', 'Road', 'Void']
    for i in range(4):
        _img(tmp_path/'images'/f'f{i}.png', (6, 8))
        m = np.full((6, 8), i % 3, np.uint8)
        (tmp_path/'labels').mkdir(exist_ok=True)
        Image.fromarray(m).save(tmp_path/'labels'/f'f{i}_P.png')
    return tmp_path, codes, (lambda x: tmp_path/'labels'/f'{x.stem}_P{x.suffix}')


def _planet(tmp_path, names, tags):
    for n in names: _img(tmp_path/'train'/f'{n}.jpg')
    return tmp_path


# --- folders ---------------------------------------------------------------------------------------------------------
def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r'nope does not exist.*check the path'): ImageList.from_folder(tmp_path/'nope')

def test_empty_folder(tmp_path):
    (tmp_path/'empty').mkdir()
    with pytest.raises(DataError, match=r'no image files found in .*empty.*extensions'): ImageList.from_folder(tmp_path/'empty')

def test_folder_of_non_images(tmp_path):
    (tmp_path/'d').mkdir()
    (tmp_path/'d'/'notes.txt').write_text('hi')
    with pytest.raises(DataError, match='no image files'): ImageList.from_folder(tmp_path/'d')

def test_split_by_folder_wrong_name(folders):
    with pytest.raises(DataError, match=r"no items in folder .*validation.*\['train', "
                                        r"'valid'\].*split_by_folder\(train=..., valid=...\)"):
        ImageList.from_folder(folders).split_by_folder(valid='validation')

def test_label_before_split(folders):
    with pytest.raises(AttributeError, match='split the items first'): ImageList.from_folder(folders).label_from_folder()


# --- CSV -------------------------------------------------------------------------------------------------------------
def test_csv_names_missing_files(tmp_path):
    names = [f'train_{i}' for i in range(10)]
    _planet(tmp_path, names[:3], None)
    pd.DataFrame({'image_name': names, 'tags': ['clear'] * 10}).to_csv(tmp_path/'labels.csv', index=False)
    with pytest.raises(DataError) as e: ImageList.from_csv(tmp_path, 'labels.csv', folder='train', suffix='.jpg')
    msg = str(e.value)
    assert '7 of 10 files' in msg and 'labels.csv' in msg and 'train_3.jpg' in msg and "suffix='.jpg'" in msg
    assert 'train_9.jpg' not in msg  # only the first few are listed

def test_csv_missing(tmp_path):
    with pytest.raises(DataError, match=r'CSV file .*labels.csv does not exist'): ImageList.from_csv(tmp_path, 'labels.csv')

def test_label_column_nan(tmp_path):
    names = [f'train_{i}' for i in range(5)]
    _planet(tmp_path, names, None)
    pd.DataFrame({'image_name': names, 'tags': ['clear', None, 'haze', None, 'clear road']}).to_csv(tmp_path/'l.csv', index=False)
    src = ImageList.from_csv(tmp_path, 'l.csv', folder='train', suffix='.jpg').split_none()
    with pytest.raises(DataError, match=r"'tags' has NaN .* 2 rows.*train_1.jpg.*train_3.jpg.*fill or drop"):
        src.label_from_df(label_delim=' ')

def test_unknown_label_column(tmp_path):
    _planet(tmp_path, ['a'], None)
    pd.DataFrame({'image_name': ['a'], 'tags': ['clear']}).to_csv(tmp_path/'l.csv', index=False)
    with pytest.raises(DataError, match=r"label column 'tag' not in the table; its columns are \['image_name', "
                                        r"'tags'\]"):
        ImageList.from_csv(tmp_path, 'l.csv', folder='train', suffix='.jpg').split_none().label_from_df(cols='tag')


# --- labels ----------------------------------------------------------------------------------------------------------
def test_unknown_label_in_classes(folders):
    with pytest.raises(DataError, match=r"labels are not in classes, e\.g\. 'b' for .*b0.png.*add the label to "
                                        r"classes"):
        ImageList.from_folder(folders).split_by_folder().label_from_folder(classes=['a'])

def test_unknown_tag_in_classes(tmp_path):
    _planet(tmp_path, ['x', 'y'], None)
    pd.DataFrame({'image_name': ['x', 'y'], 'tags': ['clear', 'clear mine']}).to_csv(tmp_path/'l.csv', index=False)
    src = ImageList.from_csv(tmp_path, 'l.csv', folder='train', suffix='.jpg').split_none()
    with pytest.raises(DataError, match=r"tag 'mine' of .*y.jpg is not in classes"): src.label_from_df(label_delim=' ', classes=['clear'])

def test_regex_no_match(folders):
    with pytest.raises(DataError, match=r"regex .* does not match 'a0.png'"):
        ImageList.from_folder(folders).split_by_folder().label_from_re(r'^(\d+)_')


# --- images ----------------------------------------------------------------------------------------------------------
def test_corrupt_image_named_at_first_read(folders):
    bad = folders/'train'/'a'/'a0.png'
    bad.write_bytes(b'\x89PNG garbage')
    src = ImageList.from_folder(folders).split_by_folder().label_from_folder().transform(size=4)
    with pytest.raises(DataError, match=r'could not read image .*a0\.png.*remove or replace it'):
        src.databunch(bs=2, num_workers=0)  # the first training item is read when the DataBunch is made

def test_corrupt_image_named_from_worker(folders):
    bad = folders/'train'/'b'/'b2.png'
    bad.write_bytes(b'not an image at all')
    data = ImageList.from_folder(folders).split_by_folder().label_from_folder().transform(size=4).databunch(bs=6, num_workers=1)
    with pytest.raises(DataError, match=r'b2\.png'):
        for _ in data.train_dl: pass

def test_open_image_missing():
    with pytest.raises(DataError, match='ghost.png does not exist'): open_image('ghost.png')

def test_different_sizes_without_size(tmp_path):
    _img(tmp_path/'train'/'a'/'1.png', (8, 8))
    _img(tmp_path/'train'/'a'/'2.png', (9, 8))
    _img(tmp_path/'valid'/'a'/'3.png', (8, 8))
    data = ImageList.from_folder(tmp_path).split_by_folder().label_from_folder().databunch(bs=2)
    with pytest.raises(DataError, match=r'different shapes .*pass size=\.\.\. to \.transform\(\)'): data.one_batch()

def test_bad_transform_args(folders):
    src = ImageList.from_folder(folders).split_by_folder().label_from_folder()
    with pytest.raises(ValueError, match="unknown resize_method 'stretch'"): src.transform(size=4, resize_method='stretch')
    with pytest.raises(ValueError, match=r'size must be a positive int or \(h, w\), got -3'): src.transform(size=-3)

def test_prepare_item_bad_type(folders):
    with pytest.raises(TypeError, match="can't prepare an item of type int"): prepare_item(3, {'x_kind': 'image'})


# --- segmentation ----------------------------------------------------------------------------------------------------
def test_mask_value_outside_codes(camvid):
    path, codes, get_y = camvid
    m = np.zeros((6, 8), np.uint8)
    m[2, 3] = 40
    Image.fromarray(m).save(path/'labels'/'f2_P.png')
    with pytest.raises(DataError, match=r'mask .*f2_P\.png has class 40 .*codes list 3 classes.*fix the mask or the '
                                        r'codes'):
        SegmentationItemList.from_folder(path/'images').split_none().label_from_func(get_y, classes=codes)  # at labelling

def test_mask_value_outside_codes_at_load_time(camvid, monkeypatch):
    "Past the labelling scan (big datasets), the same message comes when the mask is read, before the loss sees it."
    import l3.vision_data
    path, codes, get_y = camvid
    monkeypatch.setattr(l3.vision_data, 'MASK_SCAN_MAX', 0)
    src = SegmentationItemList.from_folder(path/'images').split_none().label_from_func(get_y, classes=codes)
    m = np.zeros((6, 8), np.uint8)
    m[2, 3] = 40
    Image.fromarray(m).save(path/'labels'/'f2_P.png')
    data = src.transform(size=(6, 8), tfm_y=True).databunch(bs=4)
    with pytest.raises(DataError, match=r'mask .*f2_P\.png has class 40 .*codes list 3 classes'): data.one_batch()

def test_mask_size_differs(camvid):
    path, codes, get_y = camvid
    Image.fromarray(np.zeros((5, 8), np.uint8)).save(path/'labels'/'f0_P.png')
    with pytest.raises(DataError, match=r'image .*f0\.png is \(6, 8\) \(h, w\) but its mask .*f0_P\.png is \(5, 8\)'):
        SegmentationItemList.from_folder(path/'images').split_none().label_from_func(get_y, classes=codes)

def test_mask_file_missing(camvid):
    path, codes, get_y = camvid
    (path/'labels'/'f3_P.png').unlink()
    with pytest.raises(DataError, match=r'1 mask files do not exist, e\.g\. .*f3_P\.png for image .*f3\.png'):
        SegmentationItemList.from_folder(path/'images').split_none().label_from_func(get_y, classes=codes)

def test_colour_mask(camvid):
    path, codes, get_y = camvid
    _img(path/'labels'/'x_P.png', (6, 8), 'RGB')
    with pytest.raises(DataError, match=r'mask .*x_P\.png is a colour \(RGB\) image.*class ids'): open_mask(path/'labels'/'x_P.png')

def test_segmentation_needs_codes(camvid):
    path, codes, get_y = camvid
    with pytest.raises(DataError, match=r'classes=codes'):
        SegmentationItemList.from_folder(path/'images').split_none().label_from_func(get_y)

def test_valid_txt_entries_not_found(camvid):
    path, codes, get_y = camvid
    (path/'valid.txt').write_text('f0.png\nf1.png\nmissing_a.png\nmissing_b.png\n')
    with pytest.raises(DataError, match=r"2 of 4 names in .*valid\.txt match no item, e\.g\. \['missing_a\.png', "
                                        r"'missing_b\.png'\]"):
        SegmentationItemList.from_folder(path/'images').split_by_fname_file('../valid.txt')

def test_valid_txt_missing(camvid):
    path, codes, get_y = camvid
    with pytest.raises(DataError, match=r'split file .*valid\.txt does not exist'):
        SegmentationItemList.from_folder(path/'images').split_by_fname_file('../valid.txt')


# --- points ----------------------------------------------------------------------------------------------------------
def test_points_outside_image(tmp_path):
    for i in range(2): _img(tmp_path/'01'/f'frame_{i}_rgb.jpg', (10, 20))
    src = PointsItemList.from_folder(tmp_path).split_none().label_from_func(lambda o: torch.tensor([50., 5.]))
    with pytest.raises(DataError, match=r'point \[\[50\.0, 5\.0\]\] \(row, col\) of .*frame_0_rgb\.jpg lies outside '
                                        r'the image of size \(10, 20\)'):
        src.transform(size=(10, 20), tfm_y=True).databunch(bs=2)


# --- text ------------------------------------------------------------------------------------------------------------
def test_text_file_not_utf8(tmp_path):
    (tmp_path/'train'/'pos').mkdir(parents=True)
    (tmp_path/'train'/'pos'/'ok.txt').write_text('fine text')
    (tmp_path/'train'/'pos'/'bad.txt').write_bytes('caf\xe9'.encode('latin-1'))
    with pytest.raises(DataError, match=r"text file .*bad\.txt is not valid UTF-8.*encoding_errors='replace'"):
        TextList.from_folder(tmp_path).split_none().label_from_folder()

def test_text_column_missing(tmp_path):
    pd.DataFrame({'label': ['a'], 'text': ['x']}).to_csv(tmp_path/'t.csv', index=False)
    with pytest.raises(DataError, match=r"text column 'review' not in the table"): TextList.from_csv(tmp_path, 't.csv', cols='review')


# --- datasets --------------------------------------------------------------------------------------------------------
def test_unknown_dataset_name():
    from l3.datasets import get_dataset
    with pytest.raises(Exception, match=r'mnist_tiny'): get_dataset('mnist_huge')
