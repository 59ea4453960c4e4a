"""l3 serve: every endpoint and error of the JSON API (Starlette's TestClient), the feedback store (restart, concurrent
writes), the feedback export layouts, a client that disconnects mid-upload, the CLI commands.

The models are tiny untrained exports of each lesson's kind (tests/_serve_models.py): their answers are noise, but
every shape, view and check is the real one. The fine-tune proof (more corrected items right after) is in
nbs/12_serve.ipynb and the deploy lesson; here the CLI refuses a fine-tune that does not meet its tolerance.
"""
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import urllib.error
import pytest
from PIL import Image
from starlette.testclient import TestClient
from pathlib import Path
from l3.serve import (create_app, BackgroundServer, FeedbackStore, export_feedback, model_versions, reload_token,
                      free_port, app_from_env)
from l3.serve_io import LIMITS
from l3.cli import main
from _serve_models import build_models, sample_inputs

ROOT = Path(__file__).resolve().parents[1]

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
    assert c.get('/api/limits').json() == {**LIMITS, 'max_bytes': 2 * 2**20, 'max_text': 5000}   # the page states them

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
        (lambda: c.post('/api/feedback', content=b'[' * 100_000, headers={'content-type': 'application/json'}), 400),
        (lambda: c.post('/api/feedback', content=b'{"a":' * 50_000 + b'1' + b'}' * 50_000,
                        headers={'content-type': 'application/json'}), 400),     # valid JSON, 50,000 levels deep
        (lambda: c.post('/api/models/imdb/predict', content=b'[' * 100_000,
                        headers={'content-type': 'application/json'}), 400),
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
    r = c.post('/api/feedback', content=b'[' * 100_000, headers={'content-type': 'application/json'})
    assert 'nested too deeply' in r.json()['error']
    r = c.post('/api/models/mnist/predict', content=b'x' * (3 * 2**20))
    assert r.json()['error'] == 'the request body is over 2 MiB'          # a limit in the units a person reads
    assert 'megapixels' in predict(c, 'mnist', png(6000, 5000, 'L')).json()['error']
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

def post_whole_body(url, body, ctype='multipart/form-data; boundary=b', timeout=60):
    "urllib as most clients are: the whole body written before the answer is read -> (status, JSON answer)."
    req = urllib.request.Request(url, body, {'Content-Type': ctype})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r: return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read())

def multipart_stream(mib: int):
    "A chunked upload of a `mib` MiB file (no Content-Length: the server sees its size as it comes)."
    yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\n\r\n'
    for _ in range(mib): yield b'x' * 2**20

def test_whole_body_clients_read_the_413(env):
    """A client that writes a 60 MiB body before reading gets the 413 JSON, not 'connection reset' (the server reads
    and drops the rest of the body first, as nginx's lingering close): announced by Content-Length, or in chunks."""
    with BackgroundServer(env['app']) as srv:
        url = srv.url + '/api/models/mnist/predict'
        t0 = time.monotonic()
        status, answer = post_whole_body(url, b'x' * (60 * 2**20))
        assert (status, answer) == (413, {'error': 'the request body is over 2 MiB'})
        status, answer = post_whole_body(url, multipart_stream(60))              # chunked: refused as it streams
        assert (status, answer) == (413, {'error': 'the request body is over 2 MiB'})
        status, answer = post_whole_body(url, (b'x' * 2**20 for _ in range(60)), 'text/plain')   # refused unread
        assert status == 415 and 'multipart/form-data' in answer['error']
        assert time.monotonic() - t0 < 60
        assert post_whole_body(srv.url + '/healthz', None)[0] == 200

def endless_upload(url, chunk=2**20, pause=0., timeout=60.) -> tuple:
    "POST a chunked body that never ends, until the server cuts it off -> (bytes sent, seconds taken)."
    host, port = url[7:].split(':')
    t0, sent = time.monotonic(), 0
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(b'POST /api/models/mnist/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
                  b'Content-Type: multipart/form-data; boundary=b\r\n\r\n')
        head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        s.sendall(f'{len(head):x}\r\n'.encode() + head + b'\r\n')
        piece = f'{chunk:x}\r\n'.encode() + b'x' * chunk + b'\r\n'
        try:
            while time.monotonic() - t0 < timeout:
                s.sendall(piece)
                sent += chunk
                if pause: time.sleep(pause)
        except OSError: pass                                   # reset or broken pipe: cut off
    return sent, time.monotonic() - t0

def test_endless_clients_are_cut_off_at_the_bound(env):
    "A client that never stops is cut off once `drain_bytes` more have come, or after `drain_seconds`."
    lim = {'max_bytes': 2**20, 'drain_bytes': 8 * 2**20, 'drain_seconds': 3.}
    app = create_app({'mnist': env['app'].state.models['mnist']}, db=env['root']/'fb_endless.db', limits=lim)
    with BackgroundServer(app) as srv:
        fast, took = endless_upload(srv.url)                   # fast: stopped by the bytes
        assert fast < 64 * 2**20 and took < 30, (fast, took)   # 1 + 8 MiB read, plus what the sockets buffer
        sent, slow = endless_upload(srv.url, chunk=64 * 2**10, pause=0.05)   # a trickle: stopped by the clock
        assert 2 < slow < 30 and sent < 16 * 2**20, (sent, slow)
        assert post_whole_body(srv.url + '/healthz', None)[0] == 200
    print(f'endless clients cut off: a fast one after {fast / 2**20:.0f} MiB sent ({took:.1f} s), a trickle after '
          f'{slow:.1f} s')

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

def start_serve(args: list, log: Path, **env) -> tuple:
    "`l3 serve ARGS` in a process of its own, its output in `log`, L3_SERVE_TOKEN unset -> (process, URL on 127.0.0.1)."
    host = args[args.index('--host') + 1]
    port = free_port(host)
    env = {**{k: v for k, v in os.environ.items() if k != 'L3_SERVE_TOKEN'}, 'PYTHONPATH': str(ROOT),
           'PYTHONUNBUFFERED': '1', **env}
    code = 'import sys; from l3.cli import main; sys.exit(main())'
    with open(log, 'w') as out:
        p = subprocess.Popen([sys.executable, '-c', code, 'serve', *args, '--port', str(port)], stdout=out,
                             stderr=subprocess.STDOUT, env=env)
    return p, f'http://127.0.0.1:{port}'

def wait_until_up(p, url, log: Path, timeout=240.):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        assert p.poll() is None, f'l3 serve exited ({p.returncode}):\n{log.read_text()[-3000:]}'
        try:
            with urllib.request.urlopen(url + '/healthz', timeout=5) as r:
                if r.status == 200: return
        except OSError: time.sleep(0.5)
    raise AssertionError(f'l3 serve did not answer within {timeout} s:\n{log.read_text()[-3000:]}')

def reload(url, token=None, name='mnist') -> int:
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    req = urllib.request.Request(f'{url}/api/models/{name}/reload', b'', headers, method='POST')
    try:
        with urllib.request.urlopen(req, timeout=120) as r: return r.status
    except urllib.error.HTTPError as e:
        assert e.code != 401 or ('Authorization: Bearer' in json.loads(e.read())['error']
                                 and e.headers['www-authenticate'] == 'Bearer')
        return e.code

def test_reload_needs_the_token_beyond_loopback(env, tmp_path):
    """Real `l3 serve` processes; every request goes to 127.0.0.1. Beyond loopback (bound to 0.0.0.0) with no token
    given, the server makes one and prints it once; reload needs it. On loopback reload is open, unless a token is set
    (--token wins over L3_SERVE_TOKEN)."""
    mnist = str(env['models']['mnist'])
    runs = {'open': ['--host', '0.0.0.0'], 'loopback': ['--host', '127.0.0.1'],
            'given': ['--host', '127.0.0.1', '--token', 'cli-secret']}
    procs = {k: start_serve([mnist, *a, '--db', str(tmp_path/f'{k}.db')], tmp_path/f'{k}.log',
                            **({'L3_SERVE_TOKEN': 'env-secret'} if k == 'given' else {})) for k, a in runs.items()}
    try:
        for k, (p, url) in procs.items(): wait_until_up(p, url, tmp_path/f'{k}.log')
        made = re.findall(r'reload token: (\S+)', (tmp_path/'open.log').read_text())
        assert len(made) == 1 and len(made[0]) >= 32, made              # printed once, long enough not to be guessed
        url = procs['open'][1]
        assert (reload(url), reload(url, 'wrong'), reload(url, made[0])) == (401, 401, 200)
        assert reload(procs['loopback'][1]) == 200
        assert 'reload token' not in (tmp_path/'loopback.log').read_text()
        url = procs['given'][1]
        assert (reload(url), reload(url, 'env-secret'), reload(url, 'cli-secret')) == (401, 401, 200)
    finally:
        for p, _ in procs.values(): p.terminate()
        for p, _ in procs.values():
            try: p.wait(timeout=30)
            except subprocess.TimeoutExpired: p.kill()

def test_reload_token_sources(env, monkeypatch):
    monkeypatch.delenv('L3_SERVE_TOKEN', raising=False)
    assert reload_token('127.0.0.1') == (None, False) and reload_token('::1') == (None, False)
    assert reload_token('0.0.0.0')[1] and reload_token('192.168.1.5')[1] and reload_token('example.org')[1]
    monkeypatch.setenv('L3_SERVE_TOKEN', 'env-secret')
    assert reload_token('127.0.0.1') == reload_token('0.0.0.0') == ('env-secret', False)
    assert reload_token('0.0.0.0', 'cli-secret') == ('cli-secret', False)
    monkeypatch.delenv('L3_SERVE_TOKEN')
    monkeypatch.setenv('L3_MODELS', str(env['models']['mnist']))
    monkeypatch.setenv('L3_FEEDBACK_DB', str(env['root']/'fb_factory.db'))
    factory = TestClient(app_from_env())                  # under uvicorn's own command line: no token, no reload
    r = factory.post('/api/models/mnist/reload')
    assert r.status_code == 403 and 'L3_SERVE_TOKEN' in r.json()['error']

def test_cli_errors_and_refused_finetune(env, tmp_path, capsys):
    assert main(['serve', str(tmp_path)]) == 2 and 'holds no export.pth' in capsys.readouterr().err
    assert main(['serve']) == 2
    with pytest.raises(SystemExit): main(['serve', '--help'])
    help_text = ' '.join(capsys.readouterr().out.split())
    assert all(w in help_text for w in ('--token', 'L3_SERVE_TOKEN', 'Authorization: Bearer TOKEN', 'printed once'))
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
