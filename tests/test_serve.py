"""l3 serve: every endpoint and error of the JSON API (Starlette's TestClient), the feedback store (restart, concurrent
writes), the feedback export layouts, a client that disconnects mid-upload, the CLI commands.

The models are tiny untrained exports of each lesson's kind (tests/_serve_models.py): their answers are noise, but
every shape, view and check is the real one. The fine-tune proof (more corrected items right after) is in
nbs/12_serve.ipynb and the deploy lesson; here the CLI refuses a fine-tune that does not meet its tolerance.
"""
import io
import json
import shutil
import socket
import threading
import urllib.request
import urllib.error
import pytest
from PIL import Image
from starlette.testclient import TestClient
from l3.serve import create_app, BackgroundServer, FeedbackStore, export_feedback, model_versions
from l3.cli import main
from _serve_models import build_models, sample_inputs

@pytest.fixture(scope='module')
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp('serve')
    models = build_models(root/'runs')
    app = create_app(models, db=root/'fb.db', limits={'max_bytes': 2 * 2**20, 'max_text': 5000})
    return dict(root=root, models=models, app=app, client=TestClient(app), inputs=sample_inputs())

def predict(client, name, data):
    if isinstance(data, str): return client.post(f'/api/models/{name}/predict', json={'text': data})
    return client.post(f'/api/models/{name}/predict', files={'file': ('upload.bin', data, 'application/octet-stream')})

def png(w, h, mode='RGB'):
    buf = io.BytesIO()
    Image.new(mode, (w, h)).save(buf, 'PNG')
    return buf.getvalue()

def test_models_and_health(env):
    c = env['client']
    assert c.get('/healthz').json() == {'ok': True, 'models': 5}
    info = {m['name']: m for m in c.get('/api/models').json()}
    assert {n: m['input'] for n, m in info.items()} == {'mnist': 'image', 'planet': 'image', 'camvid': 'image',
                                                          'head_pose': 'image', 'imdb': 'text'}
    assert info['mnist']['classes'] == ['3', '7'] and info['mnist']['version'] == 'v1'
    assert info['planet']['pred_thresh'] == 0.2
    r = c.get('/')
    assert r.status_code == 200 and 'content-security-policy' in r.headers and '/static/app.js' in r.text
    assert c.get('/static/app.js').status_code == 200

def test_predict_every_kind(env):
    c, got = env['client'], {}
    for name, data in env['inputs'].items():
        r = predict(c, name, data)
        assert r.status_code == 200, (name, r.text)
        j = r.json()
        got[name] = j['result']
        assert j['model'] == name and j['model_version'] == 'v1' and len(j['input_sha256']) == 64 and j['prediction_id']
    mn = got['mnist']
    assert mn['view'] == 'bars' and abs(sum(mn['probs']) - 1) < 1e-4 and mn['label'] in ('3', '7')
    assert got['imdb']['view'] == 'bars' and got['imdb']['label'] in got['imdb']['classes']
    t = got['planet']
    assert t['view'] == 'tags' and len(t['probs']) == len(t['classes']) == len(t['thresholds'])
    assert t['thresholds'][0] == 0.2
    assert t['labels'] == [c_ for c_, p in zip(t['classes'], t['probs']) if p > 0.2]
    m = got['camvid']
    assert m['view'] == 'mask' and abs(sum(m['shares'].values()) - 1) < 1e-4
    mask = Image.open(io.BytesIO(__import__('base64').b64decode(m['mask_png'])))
    assert mask.size == (m['width'], m['height'])           # drawn over the uploaded image, in its pixels
    p = got['head_pose']
    assert p['view'] == 'points' and len(p['points']) == 1 and p['width'] > 0 and p['height'] > 0

def test_feedback_right_and_wrong(env):
    c, store = env['client'], env['app'].state.store
    ids = {n: predict(c, n, d).json() for n, d in env['inputs'].items()}
    n0 = store.count('feedback')
    good = {'mnist': {'label': '7'}, 'imdb': {'label': ids['imdb']['result']['classes'][0]},
            'planet': {'labels': ids['planet']['result']['classes'][:2]},
            'camvid': {'classes': ids['camvid']['result']['classes'][:1]},
            'head_pose': {'point': [10, 12.5]}}
    for n, fb in good.items():
        body = {'prediction_id': ids[n]['prediction_id'], 'correct': False, 'note': 'test', **fb}
        r = c.post('/api/feedback', json=body)
        assert r.status_code == 201, (n, r.text)
        assert isinstance(r.json()['feedback_id'], int)
    other = predict(c, 'mnist', env['inputs']['mnist']).json()['prediction_id']
    r = c.post('/api/feedback', json={'prediction_id': other, 'correct': True})
    assert r.status_code == 201 and store.count('feedback') == n0 + 6
    bad = [({'label': '9'}, 'mnist', 422), ({'label': 3}, 'mnist', 422), ({}, 'mnist', 400),
           ({'labels': ['nope']}, 'planet', 422), ({'labels': 'road'}, 'planet', 400),
           ({'point': [10_000, 5]}, 'head_pose', 422), ({'point': ['a', 1]}, 'head_pose', 400),
           ({'point': [float('nan'), 1]}, 'head_pose', 400),
           ({'classes': ['Nope']}, 'camvid', 422), ({'classes': []}, 'camvid', 400)]
    for fb, n, status in bad:
        body = json.dumps({'prediction_id': ids[n]['prediction_id'], 'correct': False, **fb}, allow_nan=True)
        r = c.post('/api/feedback', content=body, headers={'content-type': 'application/json'})
        assert r.status_code == status, (fb, n, r.status_code, r.text)
        assert 'error' in r.json()
    assert store.count('feedback') == n0 + 6

def test_errors_are_json_never_500(env):
    c, ins = env['client'], env['inputs']
    cases = [
        (lambda: c.post('/api/models/nope/predict', json={'text': 'x'}), 404),
        (lambda: c.post('/api/feedback', json={'prediction_id': 'nope', 'correct': True}), 404),
        (lambda: c.post('/api/feedback', json={'prediction_id': 1}), 400),
        (lambda: c.post('/api/feedback', content=b'{not json', headers={'content-type': 'application/json'}), 400),
        (lambda: c.post('/api/feedback', content=b'\xff\xfe', headers={'content-type': 'application/json'}), 400),
        (lambda: predict(c, 'mnist', b'plain text, not an image'), 415),
        (lambda: predict(c, 'mnist', 'a text for an image model'), 415),
        (lambda: predict(c, 'imdb', ins['mnist']), 415),
        (lambda: predict(c, 'mnist', ins['mnist'][:80]), 422),                     # truncated PNG
        (lambda: predict(c, 'mnist', png(6000, 5000, 'L')), 413),              # 30 megapixels: refused before decoding
        (lambda: predict(c, 'imdb', 'x' * 6000), 413),
        (lambda: predict(c, 'imdb', '   '), 400),
        (lambda: c.post('/api/models/mnist/predict', content=b'x' * (3 * 2**20)), 413),   # over max_bytes (its length)
        (lambda: c.post('/api/models/mnist/predict', content=iter([b'x' * 2**20] * 3),   # streamed, no Content-Length
                        headers={'content-type': 'multipart/form-data; boundary=x'}), 413),
        (lambda: c.post('/api/models/mnist/predict', content=b'x', headers={'content-type': 'text/plain'}), 415),
        (lambda: c.post('/api/models/mnist/predict', files={'other': ('a', b'x')}), 400),
        (lambda: c.post('/api/models/mnist/predict', content=b'--x\r\nbroken',
                        headers={'content-type': 'multipart/form-data; boundary=x'}), 400),
        (lambda: c.post('/api/models/imdb/predict', json={'text': 5}), 400),
        (lambda: c.post('/api/models/imdb/predict', json=['text']), 400),
        (lambda: c.get('/api/nothing'), 404),
        (lambda: c.get('/api/models/mnist/predict'), 405),
    ]
    for i, (call, status) in enumerate(cases):
        r = call()
        assert r.status_code == status, (i, r.status_code, r.text)
        assert 'error' in r.json(), (i, r.text)
    pid = predict(c, 'mnist', ins['mnist']).json()['prediction_id']
    r = c.post('/api/feedback', json={'prediction_id': pid, 'correct': True, 'note': 'n' * 3000})
    assert r.status_code == 413

def test_no_path_leaves_its_folder(env):
    c = env['client']
    for path in ('/static/../serve.py', '/static/%2e%2e/serve.py', '/static/..%2fserve.py', '/static//etc/passwd',
                 '/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/static/serve/../../cli.py', '/../l3/serve.py'):
        r = c.get(path)
        assert r.status_code in (404, 400), (path, r.status_code)
        assert 'def ' not in r.text and 'root:' not in r.text
    assert c.post('/api/models/..%2f..%2fetc/predict', json={'text': 'x'}).status_code == 404

def test_store_survives_a_restart_and_reload(env):
    root, models, c = env['root'], env['models'], env['client']
    j = predict(c, 'mnist', env['inputs']['mnist']).json()
    n = FeedbackStore(root/'fb.db').count('predictions')
    again = TestClient(create_app({'mnist': models['mnist']}, db=root/'fb.db'))   # a restart: a new app, the same store
    assert again.app.state.store.count('predictions') == n
    assert again.post('/api/feedback', json={'prediction_id': j['prediction_id'], 'correct': True}).status_code == 201
    shutil.copy(models['mnist']/'export.pth', models['mnist']/'export.v2.pth')   # a new version appears
    try:
        assert predict(c, 'mnist', env['inputs']['mnist']).json()['model_version'] == 'v1'   # served until reload
        assert c.post('/api/models/mnist/reload').json() == {'model': 'mnist', 'model_version': 'v2'}
        assert predict(c, 'mnist', env['inputs']['mnist']).json()['model_version'] == 'v2'
        assert c.post('/api/models/nope/reload').status_code == 404
    finally:
        (models['mnist']/'export.v2.pth').unlink()
        c.post('/api/models/mnist/reload')
    assert [f.name for f in model_versions(models['mnist'])] == ['export.pth']

def test_feedback_export_layouts(env, tmp_path):
    counts = export_feedback(env['root']/'fb.db', tmp_path)
    assert set(counts) == {'mnist', 'planet', 'camvid', 'head_pose', 'imdb'}
    assert counts['mnist']['7'] >= 1 and (tmp_path/'mnist'/'train'/'7').is_dir()
    names = [p.name for p in (tmp_path/'mnist').rglob('*.png')]
    assert names and all(len(n) == 64 + 4 for n in names)          # stored under the sha256, never the client's name
    assert (tmp_path/'planet'/'labels.csv').read_text().startswith('image_name,tags')
    assert (tmp_path/'camvid'/'wrong.csv').exists() and list((tmp_path/'camvid'/'predicted').glob('*_P.png'))
    assert (tmp_path/'head_pose'/'points.csv').read_text().splitlines()[1].endswith(',10.0,12.5')
    assert (tmp_path/'imdb'/'texts.csv').read_text().startswith('label,text,is_valid')
    from l3.vision_data import ImageList
    lls = ImageList.from_folder(tmp_path/'mnist').split_none().label_from_folder()   # the data block API reads it back
    assert len(lls.train) == counts['mnist']['7']
    assert main(['feedback', 'export', str(env['root']/'fb.db'), str(tmp_path/'cli')]) == 0

def test_real_server_concurrency_and_disconnect(env):
    c = env['client']
    pid = predict(c, 'mnist', env['inputs']['mnist']).json()['prediction_id']
    store = env['app'].state.store
    n0 = store.count('feedback')
    with BackgroundServer(env['app']) as srv:
        host, port = srv.url[7:].split(':')
        for _ in range(3):                      # clients that promise a big upload and go away after a few bytes
            s = socket.create_connection((host, int(port)))
            s.sendall(b'POST /api/models/mnist/predict HTTP/1.1\r\nHost: x\r\n'
                      b'Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n'
                      b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n\x89PNG')
            s.close()
        errors = []
        def send(k):
            for i in range(10):
                body = json.dumps({'prediction_id': pid, 'correct': False, 'label': '3', 'note': f'{k}-{i}'}).encode()
                req = urllib.request.Request(srv.url + '/api/feedback', body, {'Content-Type': 'application/json'})
                try: assert urllib.request.urlopen(req, timeout=60).status == 201
                except Exception as e: errors.append(repr(e))
        ts = [threading.Thread(target=send, args=(k,)) for k in range(8)]
        for t in ts: t.start()
        for t in ts: t.join()
        assert not errors, errors[:3]
        assert json.loads(urllib.request.urlopen(srv.url + '/healthz', timeout=30).read())['ok']   # still serving
    assert store.count('feedback') == n0 + 80                  # every concurrent write landed

def test_cli_errors_and_refused_finetune(env, tmp_path, capsys):
    assert main(['serve', str(tmp_path)]) == 2 and 'holds no export.pth' in capsys.readouterr().err
    assert main(['serve']) == 2
    with BackgroundServer(env['app']) as srv:                # a port in use is a message, not a traceback
        assert main(['serve', str(env['models']['mnist']), '--port', srv.url.rsplit(':', 1)[1]]) == 2
        assert 'in use' in capsys.readouterr().err
    from _serve_models import get_dataset
    small = tmp_path/'mnist_small'                           # the MNIST layout, 8 images per folder: a quick proof run
    for split in ('train', 'valid'):
        for c in ('3', '7'):
            (small/split/c).mkdir(parents=True)
            for f in sorted((get_dataset('mnist_tiny')/split/c).glob('*.png'))[:8]: shutil.copy(f, small/split/c/f.name)
    rc = main(['finetune', str(env['models']['mnist']), '--db', str(env['root']/'fb.db'), '--data', str(small),
               '--epochs', '1', '--sample', '8', '--tolerance', '-1'])   # must improve validation by 1.0: refused
    out = capsys.readouterr().out
    assert rc == 1 and 'the old model stays' in out and 'corrected items' in out, out
    assert [f.name for f in model_versions(env['models']['mnist'])] == ['export.pth']
    camvid = ['finetune', str(env['models']['camvid']), '--db', str(env['root']/'fb.db'), '--data', str(tmp_path)]
    assert main(camvid) == 2

def test_bench_quick_runs(capsys):
    "bench/serve.py's smoke run: a loopback load with no errors (figures printed, never asserted)."
    import importlib.util
    from pathlib import Path
    spec = importlib.util.spec_from_file_location('bench_serve', Path(__file__).resolve().parents[1]/'bench'/'serve.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(['--clients', '2', '--requests', '3', '--tasks', 'mnist']) == 0
    out = capsys.readouterr().out
    assert 'req/s' in out and 'errors 0' in out and 'CPU capability' in out
