"""l3.datasets against a local HTTP server on 127.0.0.1 (never the internet) and a fake Kaggle API.

Every server is a `local_http_server` context: its thread stops when the `with` block ends; all timeouts are short.
"""
import io
import sys
import json
import socket
import hashlib
import tarfile
import zipfile
import subprocess
import dataclasses
import types
from pathlib import Path
import pytest
import l3.datasets as ds
from l3.datasets import (DATASETS, DownloadError, NetworkError, KaggleError, local_http_server, download_url,
                         extract_archive, kaggle_download, get_dataset, dataset_status, list_datasets, file_hash,
                         PLANET_COMPETITION, SYNTH_MARKER, MARKER)

PAYLOAD = bytes(range(256)) * 1200          # 307,200 bytes, deterministic
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def closed_port() -> int:
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_tar(path, members: dict, links: dict | None = None, hardlinks: dict | None = None, mode='w:gz'):
    with tarfile.open(path, mode) as tf:
        for n, data in members.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        for kind, d in ((tarfile.SYMTYPE, links or {}), (tarfile.LNKTYPE, hardlinks or {})):
            for n, target in d.items():
                ti = tarfile.TarInfo(n)
                ti.type = kind
                ti.linkname = target
                tf.addfile(ti)
    return Path(path)


def make_zip(path, members: dict):
    with zipfile.ZipFile(path, 'w') as zf:
        for n, data in members.items(): zf.writestr(zipfile.ZipInfo(n), data)
    return Path(path)


MNIST_MEMBERS = {'mnist_tiny/labels.csv': b'name,label\ntrain/3/a.png,3\n', 'mnist_tiny/train/3/a.png': b'3',
                 'mnist_tiny/train/7/b.png': b'7', 'mnist_tiny/valid/3/c.png': b'3', 'mnist_tiny/test/d.png': b'?'}


def fake_synth(name, dest, seed=0):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest/'labels.csv').write_text('name,label\n')
    (dest/SYNTH_MARKER).write_text(json.dumps(dict(name=name, seed=seed, version=ds.SYNTH_VERSION)))
    return dest


@pytest.fixture
def fake_synth_module(monkeypatch):
    monkeypatch.setitem(sys.modules, 'l3.synth_text', types.SimpleNamespace(synth=fake_synth))


@pytest.fixture
def mnist_at(monkeypatch, fake_synth_module):
    "Point mnist_tiny's registry record at a URL (the local server)."
    def point(url, **kw):
        monkeypatch.setitem(DATASETS, 'mnist_tiny',
                            dataclasses.replace(DATASETS['mnist_tiny'], url=url, md5=None, size=None, **kw))
    return point


# ---------------------------------------------------------------- download_url
def test_full_download_and_second_call_does_nothing(tmp_path):
    with local_http_server({'/f.bin': PAYLOAD}) as (base, log):
        p = download_url(f'{base}/f.bin', tmp_path/'f.bin', sha256=SHA, timeout=5)
        assert p.read_bytes() == PAYLOAD and not (tmp_path/'f.bin.part').exists()
        mtime = p.stat().st_mtime_ns
        download_url(f'{base}/f.bin', tmp_path/'f.bin', sha256=SHA, timeout=5)
    assert len(log) == 1 and p.stat().st_mtime_ns == mtime


def test_md5_and_size_accepted(tmp_path):
    with local_http_server({'/f.bin': PAYLOAD}) as (base, _):
        p = download_url(f'{base}/f.bin', tmp_path/'f.bin', md5=hashlib.md5(PAYLOAD).hexdigest(), size=len(PAYLOAD), timeout=5)
    assert p.read_bytes() == PAYLOAD


def test_resume_after_cut_connection(tmp_path):
    with local_http_server({'/f.bin': PAYLOAD}, cut_after={'/f.bin': 100_000}) as (base, log):
        with pytest.raises(DownloadError, match='cut after 100000 of 307200 bytes'):
            download_url(f'{base}/f.bin', tmp_path/'f.bin', retries=0, timeout=5)
        assert (tmp_path/'f.bin.part').stat().st_size == 100_000 and not (tmp_path/'f.bin').exists()
        download_url(f'{base}/f.bin', tmp_path/'f.bin', sha256=SHA, retries=0, timeout=5)
    assert log == [('/f.bin', None), ('/f.bin', 'bytes=100000-')]
    assert (tmp_path/'f.bin').read_bytes() == PAYLOAD and not (tmp_path/'f.bin.part').exists()


def test_resume_within_one_call(tmp_path):
    with local_http_server({'/f.bin': PAYLOAD}, cut_after={'/f.bin': 5_000}) as (base, log):
        download_url(f'{base}/f.bin', tmp_path/'f.bin', sha256=SHA, timeout=5)
    assert log == [('/f.bin', None), ('/f.bin', 'bytes=5000-')] and (tmp_path/'f.bin').read_bytes() == PAYLOAD


def test_server_ignoring_range_starts_over(tmp_path):
    (tmp_path/'f.bin.part').write_bytes(b'X' * 1000)   # a stale partial file that must NOT be appended to
    with local_http_server({'/f.bin': PAYLOAD}, ignore_range=True) as (base, log):
        download_url(f'{base}/f.bin', tmp_path/'f.bin', sha256=SHA, timeout=5)
    assert log == [('/f.bin', 'bytes=1000-')] and (tmp_path/'f.bin').read_bytes() == PAYLOAD


def test_part_longer_than_file_restarts(tmp_path):
    (tmp_path/'f.bin.part').write_bytes(b'X' * (len(PAYLOAD) + 10))
    with local_http_server({'/f.bin': PAYLOAD}) as (base, log):
        download_url(f'{base}/f.bin', tmp_path/'f.bin', sha256=SHA, timeout=5)
    assert (tmp_path/'f.bin').read_bytes() == PAYLOAD and log[-1] == ('/f.bin', None)


@pytest.mark.parametrize('kw', [dict(sha256='0' * 64), dict(md5='0' * 32), dict(size=12)])
def test_checksum_mismatch(tmp_path, kw):
    with local_http_server({'/f.bin': PAYLOAD}) as (base, _):
        with pytest.raises(DownloadError) as e:
            download_url(f'{base}/f.bin', tmp_path/'f.bin', timeout=5, **kw)
    msg = str(e.value)
    assert 'checksum mismatch' in msg and 'expected' in msg and 'got' in msg and str(list(kw.values())[0]) in msg
    assert '\n' not in msg and f'{base}/f.bin' in msg
    assert not (tmp_path/'f.bin').exists() and not (tmp_path/'f.bin.part').exists() and (tmp_path/'f.bin.bad').exists()


@pytest.mark.parametrize('code', [404, 403])
def test_http_errors(tmp_path, code):
    with local_http_server({}, status={'/x.tgz': code}) as (base, _):
        with pytest.raises(DownloadError) as e:
            download_url(f'{base}/x.tgz', tmp_path/'x.tgz', timeout=5)
    msg = str(e.value)
    assert str(code) in msg and f'{base}/x.tgz' in msg and '\n' not in msg and not isinstance(e.value, NetworkError)
    assert not list(tmp_path.iterdir())


def test_no_network(tmp_path):
    with pytest.raises(NetworkError) as e:
        download_url(f'http://127.0.0.1:{closed_port()}/x.tgz', tmp_path/'x.tgz', timeout=2)
    assert 'L3_OFFLINE=1' in str(e.value) and '\n' not in str(e.value)


# ---------------------------------------------------------------- extract_archive
@pytest.mark.parametrize('fmt', ['tgz', 'tar', 'zip', '7z', 'tar.7z'])
def test_extract_formats_and_second_call(tmp_path, fmt):
    members = {'top/a.txt': b'a', 'top/sub/b.txt': b'b'}
    if fmt in ('tgz', 'tar'): arc = make_tar(tmp_path/f'x.{fmt}', members, mode='w:gz' if fmt == 'tgz' else 'w')
    elif fmt == 'zip': arc = make_zip(tmp_path/'x.zip', members)
    else:
        py7zr = pytest.importorskip('py7zr')
        src = tmp_path/'src'
        for n, d in members.items():
            (src/n).parent.mkdir(parents=True, exist_ok=True)
            (src/n).write_bytes(d)
        arc = tmp_path/f'x.{fmt}'
        with py7zr.SevenZipFile(arc, 'w') as z:
            if fmt == '7z': z.writeall(src/'top', 'top')
            else:
                make_tar(tmp_path/'x.tar', members, mode='w')
                z.write(tmp_path/'x.tar', 'x.tar')
    out = extract_archive(arc, tmp_path/'out', strip_root=True)
    assert (out/'a.txt').read_bytes() == b'a' and (out/'sub/b.txt').read_bytes() == b'b' and (out/MARKER).exists()
    assert not (out/'x.tar').exists()
    (out/'a.txt').unlink()
    extract_archive(arc, tmp_path/'out', strip_root=True)          # marker: nothing is redone
    assert not (out/'a.txt').exists()
    assert not [p for p in tmp_path.iterdir() if '.extract-' in p.name]


@pytest.mark.parametrize('members,links,hard,culprit', [
    ({'ok.txt': b'1', '../evil.txt': b'x'}, None, None, '../evil.txt'),
    ({'a/../../evil.txt': b'x'}, None, None, 'a/../../evil.txt'),
    ({'/tmp/l3_evil.txt': b'x'}, None, None, '/tmp/l3_evil.txt'),
    ({}, {'lnk': '../outside'}, None, 'lnk'),
    ({}, {'lnk': '/etc'}, None, 'lnk'),
    ({}, None, {'hl': '../outside'}, 'hl'),
])
def test_tar_path_escape_refused(tmp_path, members, links, hard, culprit):
    arc = make_tar(tmp_path/'bad.tgz', members, links, hard)
    with pytest.raises(DownloadError) as e: extract_archive(arc, tmp_path/'out')
    assert culprit in str(e.value) and 'refusing' in str(e.value)
    assert not (tmp_path/'out').exists() and not (tmp_path/'evil.txt').exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['bad.tgz']        # nothing left behind


def test_strip_root_ignores_macos_litter(tmp_path):
    arc = make_tar(tmp_path/'x.tgz', {'ds/a.txt': b'a', '._ds': b'junk', '__MACOSX/ds/._a.txt': b'junk'})
    out = extract_archive(arc, tmp_path/'out', strip_root=True)
    assert (out/'a.txt').read_bytes() == b'a'


def test_symlink_inside_is_fine(tmp_path):
    arc = make_tar(tmp_path/'ok.tgz', {'d/a.txt': b'a'}, links={'d/b.txt': 'a.txt'})
    out = extract_archive(arc, tmp_path/'out')
    assert (out/'d/b.txt').read_bytes() == b'a'


@pytest.mark.parametrize('name', ['../evil.txt', '/tmp/l3_evil_zip.txt', 'a/../../evil.txt'])
def test_zip_path_escape_refused(tmp_path, name):
    arc = make_zip(tmp_path/'bad.zip', {'ok.txt': b'1', name: b'x'})
    with pytest.raises(DownloadError) as e: extract_archive(arc, tmp_path/'out')
    assert name in str(e.value) and not (tmp_path/'out').exists()


def test_unknown_archive_type(tmp_path):
    (tmp_path/'x.rar').write_bytes(b'not an archive')
    with pytest.raises(DownloadError, match='unknown archive type'): extract_archive(tmp_path/'x.rar', tmp_path/'out')


# ---------------------------------------------------------------- get_dataset
def test_unknown_dataset_name_lists_known_ones():
    for f in (get_dataset, dataset_status):
        with pytest.raises(KeyError) as e: f('mnist')
        assert str(e.value).startswith("unknown dataset 'mnist'; known datasets:") and all(n in str(e.value) for n in DATASETS)


def test_get_dataset_downloads_extracts_and_records_checksum(tmp_path, mnist_at):
    arc = make_tar(tmp_path/'mnist_tiny.tgz', MNIST_MEMBERS)
    root = tmp_path/'data'
    with local_http_server({'/mnist_tiny.tgz': arc.read_bytes()}) as (base, log):
        mnist_at(f'{base}/mnist_tiny.tgz')
        p = get_dataset('mnist_tiny', root/'mnist_tiny', offline=False)
        assert p == root/'mnist_tiny' and dataset_status('mnist_tiny', p) == 'real'
        assert (p/'train/7/b.png').read_bytes() == b'7' and (p/'test/d.png').exists()
        sums = json.loads((root/'.checksums.json').read_text())
        assert sums[f'{base}/mnist_tiny.tgz'] == dict(sha256=file_hash(arc), size=arc.stat().st_size)
        assert get_dataset('mnist_tiny', p, offline=False) == p and len(log) == 1   # second call: nothing
        # next download is verified against the recorded checksum
        sums[f'{base}/mnist_tiny.tgz']['sha256'] = 'f' * 64
        (root/'.checksums.json').write_text(json.dumps(sums))
        import shutil
        shutil.rmtree(p)
        with pytest.raises(DownloadError, match='checksum mismatch'): get_dataset('mnist_tiny', p, offline=False)
        assert dataset_status('mnist_tiny', p) == 'absent'


def test_get_dataset_known_sha256(tmp_path, mnist_at):
    arc = make_tar(tmp_path/'mnist_tiny.tgz', MNIST_MEMBERS)
    with local_http_server({'/mnist_tiny.tgz': arc.read_bytes()}) as (base, _):
        mnist_at(f'{base}/mnist_tiny.tgz', sha256='0' * 64)
        with pytest.raises(DownloadError, match='checksum mismatch'):
            get_dataset('mnist_tiny', tmp_path/'data'/'mnist_tiny', offline=False)
    assert not (tmp_path/'data'/'mnist_tiny').exists()


def test_get_dataset_incomplete_archive(tmp_path, mnist_at):
    arc = make_tar(tmp_path/'mnist_tiny.tgz', {'mnist_tiny/labels.csv': b'x'})
    with local_http_server({'/mnist_tiny.tgz': arc.read_bytes()}) as (base, _):
        mnist_at(f'{base}/mnist_tiny.tgz')
        with pytest.raises(DownloadError, match='lacks'): get_dataset('mnist_tiny', tmp_path/'d'/'mnist_tiny', offline=False)
    assert not (tmp_path/'d'/'mnist_tiny').exists()


def test_get_dataset_404_is_an_error_not_a_fallback(tmp_path, mnist_at):
    with local_http_server({}) as (base, _):
        mnist_at(f'{base}/mnist_tiny.tgz')
        with pytest.raises(DownloadError, match='404'): get_dataset('mnist_tiny', tmp_path/'mnist_tiny', offline=False)
    assert not (tmp_path/'mnist_tiny').exists()


def test_no_network_falls_back_to_stand_in(tmp_path, mnist_at, capsys):
    mnist_at(f'http://127.0.0.1:{closed_port()}/mnist_tiny.tgz')
    p = get_dataset('mnist_tiny', tmp_path/'mnist_tiny', offline=False)
    assert (p/SYNTH_MARKER).exists() and dataset_status('mnist_tiny', p) == 'stand-in'
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'stand-in' in err[0] and str(p) in err[0] and 'no network' in err[0]
    assert get_dataset('mnist_tiny', p, offline=False) == p                 # a stand-in counts as present
    assert capsys.readouterr().err == ''


def test_offline_env_uses_stand_in_without_any_request(tmp_path, mnist_at, monkeypatch, capsys):
    monkeypatch.setenv('L3_OFFLINE', '1')
    with local_http_server({'/mnist_tiny.tgz': b'never'}) as (base, log):
        mnist_at(f'{base}/mnist_tiny.tgz')
        p = get_dataset('mnist_tiny', tmp_path/'mnist_tiny')
    assert log == [] and dataset_status('mnist_tiny', p) == 'stand-in'
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_default_dest_is_data_path(tmp_path, monkeypatch, fake_synth_module):
    monkeypatch.setenv('L3_DATA', str(tmp_path))
    p = get_dataset('imdb_sample', offline=True)
    assert p == tmp_path/'imdb_sample' and dataset_status('imdb_sample') == 'stand-in'
    rows = {r['name']: r for r in list_datasets()}
    assert rows['imdb_sample']['status'] == 'stand-in' and rows['imdb_sample']['bytes'] > 0
    assert rows['camvid']['status'] == 'absent' and rows['camvid']['bytes'] == 0


def test_replace_synth_and_force_synth(tmp_path, mnist_at):
    arc = make_tar(tmp_path/'mnist_tiny.tgz', MNIST_MEMBERS)
    dest = tmp_path/'data'/'mnist_tiny'
    with local_http_server({'/mnist_tiny.tgz': arc.read_bytes()}) as (base, _):
        mnist_at(f'{base}/mnist_tiny.tgz')
        get_dataset('mnist_tiny', dest, force_synth=True)
        assert dataset_status('mnist_tiny', dest) == 'stand-in'
        get_dataset('mnist_tiny', dest, offline=False, replace_synth=True)
        assert dataset_status('mnist_tiny', dest) == 'real' and not (dest/SYNTH_MARKER).exists()
        with pytest.raises(ValueError, match='real'): get_dataset('mnist_tiny', dest, force_synth=True)


def test_incomplete_folder_is_not_overwritten_by_stand_in(tmp_path, fake_synth_module):
    dest = tmp_path/'mnist_tiny'
    dest.mkdir()
    (dest/'my_notes.txt').write_text('mine')
    with pytest.raises(DownloadError, match='incomplete'): get_dataset('mnist_tiny', dest, offline=True)
    assert (dest/'my_notes.txt').read_text() == 'mine'


def test_real_synth_module_if_present(tmp_path):
    synth = pytest.importorskip('l3.synth_text')
    if not hasattr(synth, 'synth'): pytest.skip('l3.synth_text not written yet')
    p = get_dataset('imdb_sample', tmp_path/'imdb_sample', offline=True)
    assert (p/'texts.csv').exists() and dataset_status('imdb_sample', p) == 'stand-in'


def test_import_does_not_touch_network_or_kaggle():
    code = ("import socket, sys\n"
            "def boom(*a, **k): raise AssertionError('network used at import')\n"
            "socket.socket.connect = boom; socket.create_connection = boom\n"
            "import l3.datasets\n"
            "assert 'kaggle' not in sys.modules and 'py7zr' not in sys.modules, sorted(sys.modules)\n")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- Kaggle (fake API at the boundary)
class FakeKaggle:
    "Stands in for KaggleApi.competition_download_file: writes files the way Kaggle serves them, or raises."
    def __init__(self, files=None, error=None): self.files, self.error, self.calls = files or {}, error, []
    def competition_download_file(self, competition, file_name, path=None, force=False, quiet=False):
        self.calls.append((competition, file_name))
        if self.error is not None: raise self.error
        served_as, data = self.files[file_name]
        out = Path(path)/served_as
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)


class HTTPErr(Exception):
    def __init__(self, code):
        super().__init__(f'{code} Client Error')
        self.response = types.SimpleNamespace(status_code=code)


CSV = b'image_name,tags\ntrain_0,clear primary\ntrain_1,cloudy\n'


def planet_7z(tmp_path) -> bytes:
    py7zr = pytest.importorskip('py7zr')
    make_tar(tmp_path/'train-jpg.tar', {'train-jpg/train_0.jpg': b'j0', 'train-jpg/train_1.jpg': b'j1'}, mode='w')
    with py7zr.SevenZipFile(tmp_path/'train-jpg.tar.7z', 'w') as z: z.write(tmp_path/'train-jpg.tar', 'train-jpg.tar')
    return (tmp_path/'train-jpg.tar.7z').read_bytes()


def zipped(name, data) -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, 'w') as zf: zf.writestr(name, data)
    return b.getvalue()


@pytest.mark.parametrize('csv_as', ['plain', 'zip', 'nested', 'nested_zip'])
def test_kaggle_success_with_renamed_files(tmp_path, csv_as):
    served = {'plain': ('train_v2.csv', CSV), 'zip': ('train_v2.csv.zip', zipped('train_v2.csv', CSV)),
              'nested': ('planet/train_v2.csv', CSV),
              'nested_zip': ('planet/train_v2.csv.zip', zipped('planet/train_v2.csv', CSV))}[csv_as]
    api = FakeKaggle({'train-jpg.tar.7z': ('train-jpg.tar.7z', planet_7z(tmp_path)), 'train_v2.csv': served})
    out = kaggle_download(PLANET_COMPETITION, ['train-jpg.tar.7z', 'train_v2.csv'], tmp_path/'planet', api=api)
    assert (out/'train_v2.csv').read_bytes() == CSV and (out/'train-jpg/train_1.jpg').read_bytes() == b'j1'
    assert not (out/'train-jpg.tar.7z').exists() and not (out/'train_v2.csv.zip').exists()
    kaggle_download(PLANET_COMPETITION, ['train-jpg.tar.7z', 'train_v2.csv'], tmp_path/'planet', api=api)
    assert len(api.calls) == 2 and api.calls[0] == (PLANET_COMPETITION, 'train-jpg.tar.7z')


def test_get_dataset_planet_through_kaggle(tmp_path):
    api = FakeKaggle({'train-jpg.tar.7z': ('train-jpg.tar.7z', planet_7z(tmp_path)),
                      'train_v2.csv': ('train_v2.csv.zip', zipped('train_v2.csv', CSV))})
    p = get_dataset('planet', tmp_path/'data'/'planet', offline=False, api=api)
    assert dataset_status('planet', p) == 'real' and (p/'train-jpg/train_0.jpg').exists()
    assert sorted(x.name for x in (tmp_path/'data').iterdir()) == ['planet']   # the staging folder is gone


@pytest.mark.parametrize('error', [HTTPErr(403), type('ApiException', (Exception,), {'status': 403})('Forbidden')])
def test_kaggle_403_says_accept_rules(tmp_path, error):
    with pytest.raises(KaggleError) as e:
        kaggle_download(PLANET_COMPETITION, ['train_v2.csv'], tmp_path/'p', api=FakeKaggle(error=error))
    assert f'accept the competition rules at https://www.kaggle.com/c/{PLANET_COMPETITION}/rules' in str(e.value)


def test_kaggle_401_and_404(tmp_path):
    with pytest.raises(KaggleError, match='kaggle.json'):
        kaggle_download(PLANET_COMPETITION, ['train_v2.csv'], tmp_path/'p', api=FakeKaggle(error=HTTPErr(401)))
    with pytest.raises(KaggleError, match='404'):
        kaggle_download(PLANET_COMPETITION, ['train_v2.csv'], tmp_path/'p', api=FakeKaggle(error=HTTPErr(404)))


def test_kaggle_file_missing_after_download(tmp_path):
    api = FakeKaggle({'train_v2.csv': ('something_else.csv', CSV)})
    with pytest.raises(KaggleError, match='not in'):
        kaggle_download(PLANET_COMPETITION, ['train_v2.csv'], tmp_path/'p', api=api)


def test_kaggle_missing_credentials_without_importing_kaggle(tmp_path, monkeypatch):
    for v in ('KAGGLE_USERNAME', 'KAGGLE_KEY', 'KAGGLE_API_TOKEN', 'KAGGLE_CONFIG_DIR'): monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv('HOME', str(tmp_path))
    for m in [m for m in sys.modules if m == 'kaggle' or m.startswith('kaggle.')]: monkeypatch.delitem(sys.modules, m)
    with pytest.raises(KaggleError) as e: kaggle_download(PLANET_COMPETITION, ['train_v2.csv'], tmp_path/'p')
    msg = str(e.value)
    assert '~/.kaggle/kaggle.json' in msg and 'chmod 600' in msg and 'KAGGLE_USERNAME' in msg and '\n' not in msg
    assert 'kaggle' not in sys.modules
    with pytest.raises(KaggleError, match='kaggle.json'):        # get_dataset does not hide it behind a stand-in
        get_dataset('planet', tmp_path/'planet', offline=False)


def test_kaggle_network_error_falls_back(tmp_path, fake_synth_module, capsys):
    api = FakeKaggle(error=ConnectionRefusedError(111, 'Connection refused'))
    p = get_dataset('planet', tmp_path/'planet', offline=False, api=api)
    assert dataset_status('planet', p) == 'stand-in' and 'no network' in capsys.readouterr().err


def test_progress_bar_shown_unless_quiet(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('L3_QUIET', raising=False)
    with local_http_server({'/f.bin': PAYLOAD}) as (base, _):
        download_url(f'{base}/f.bin', tmp_path/'f.bin', timeout=5)
        assert '100%' in capsys.readouterr().err
        monkeypatch.setenv('L3_QUIET', '1')
        download_url(f'{base}/f.bin', tmp_path/'g.bin', timeout=5)
        assert '100%' not in capsys.readouterr().err


def test_interrupted_before_rename_finishes_without_download(tmp_path, mnist_at):
    staged = tmp_path/'.mnist_tiny.extracted'
    for n, d in MNIST_MEMBERS.items():
        f = staged/n.split('/', 1)[1]
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(d)
    with local_http_server({}) as (base, log):
        mnist_at(f'{base}/mnist_tiny.tgz')
        p = get_dataset('mnist_tiny', tmp_path/'mnist_tiny', offline=False)
    assert log == [] and dataset_status('mnist_tiny', p) == 'real' and not staged.exists()

def test_stand_in_from_an_older_generator_is_set_aside_and_rewritten(tmp_path, capsys):
    "A stand-in written by an older l3 (its marker has an older version) is moved aside, not deleted, and regenerated."
    dest = ds.get_dataset('mnist_tiny', dest=tmp_path/'mnist_tiny', offline=True)
    assert ds.synth_version(dest) == ds.SYNTH_VERSION
    marker = json.loads((dest/ds.SYNTH_MARKER).read_text())
    del marker['version']     # as written before versions
    (dest/ds.SYNTH_MARKER).write_text(json.dumps(marker))
    (dest/'models').mkdir()
    (dest/'models'/'mine.pth').write_text('x')
    assert ds.synth_version(dest) == 1
    capsys.readouterr()
    again = ds.get_dataset('mnist_tiny', dest=dest, offline=True)
    assert again == dest and ds.synth_version(dest) == ds.SYNTH_VERSION and not (dest/'models').exists()
    old = tmp_path/'.mnist_tiny.old-stand-in'
    assert (old/'models'/'mine.pth').read_text() == 'x'
    assert 'older l3' in capsys.readouterr().err
    assert ds.get_dataset('mnist_tiny', dest=dest, offline=True) == dest   # current version: kept as it is
    assert (dest/'labels.csv').exists()


def test_coco_tiny_downloads_from_a_tgz_of_the_stand_in(tmp_path, monkeypatch):
    "coco_tiny (no published checksum): fetched, extracted under its top folder, checksum recorded, then read by get_annotations."
    from l3.synth_scenes import synth_coco_tiny
    from l3.vision_data import get_annotations
    src = synth_coco_tiny(tmp_path/'src'/'coco_tiny', n=6)
    (src/SYNTH_MARKER).unlink()                                  # as the real archive: no stand-in marker
    arc = tmp_path/'coco_tiny.tgz'
    with tarfile.open(arc, 'w:gz') as tf: tf.add(src, arcname='coco_tiny')
    info = DATASETS['coco_tiny']
    assert info.url == 'https://s3.amazonaws.com/fast-ai-coco/coco_tiny.tgz' and info.sha256 is None and info.synth == 'coco_tiny'
    root = tmp_path/'data'
    with local_http_server({'/coco_tiny.tgz': arc.read_bytes()}) as (base, log):
        monkeypatch.setitem(DATASETS, 'coco_tiny', dataclasses.replace(info, url=f'{base}/coco_tiny.tgz'))
        p = get_dataset('coco_tiny', root/'coco_tiny', offline=False)
        assert dataset_status('coco_tiny', p) == 'real' and len(list((p/'train').glob('*.jpg'))) == 6
        assert json.loads((root/'.checksums.json').read_text())[f'{base}/coco_tiny.tgz']['sha256'] == file_hash(arc)
        assert get_dataset('coco_tiny', p, offline=False) == p and len(log) == 1
    names, lbls = get_annotations(p/'train.json')
    assert len(names) == 6 and all(len(b) == len(n) > 0 for b, n in lbls)
