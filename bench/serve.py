"""Serving load: `l3 serve`'s app under a bounded loopback load, per task (no peer: fastai has no server).

    python bench/serve.py                    # 8 clients x 50 requests to each of mnist, planet, camvid, head_pose, imdb
    python bench/serve.py --quick            # smoke run: 2 clients x 5 requests, mnist and imdb
    python bench/serve.py --clients 4 --requests 20 --tasks mnist camvid

Each task's model is a small untrained export on the synthetic stand-ins (the one tests/test_serve.py uses: the time is
the server's and the model's, not the accuracy's). One uvicorn in a background thread on 127.0.0.1 (a free port);
`clients` threads each send `requests` predictions (multipart images, or JSON texts) over HTTP/1.1 with the standard
library. Prints requests/s, p50/p99 latency, errors (must be 0) and the CPU's vector capability.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT/'tests')]   # this checkout's l3; the tests' model builders
os.environ.setdefault('L3_OFFLINE', '1')
os.environ.setdefault('L3_QUIET', '1')
import torch  # noqa: E402  (after the path and the environment above)
from l3.serve import create_app, BackgroundServer  # noqa: E402
from _serve_models import build_models, sample_inputs, NAMES  # noqa: E402

def request(url, name, data):
    if isinstance(data, str): body, ctype = json.dumps({'text': data}).encode(), 'application/json'
    else:
        b = uuid.uuid4().hex
        head = f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
        body = head.encode() + data + f'\r\n--{b}--\r\n'.encode()
        ctype = f'multipart/form-data; boundary={b}'
    req = urllib.request.Request(f'{url}/api/models/{name}/predict', body, {'Content-Type': ctype})
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()
        return r.status

def load(url, name, data, clients, n):
    lat, errors, lock = [], [], threading.Lock()
    def client():
        for _ in range(n):
            t = time.perf_counter()
            try: ok = request(url, name, data) == 200
            except Exception as e:
                ok = False
                errors.append(repr(e))
            with lock: lat.append(time.perf_counter() - t)
            if not ok and not errors: errors.append('non-200')
    ts = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in ts: t.start()
    for t in ts: t.join()
    wall = time.perf_counter() - t0
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
    return {'requests': len(lat), 'rps': len(lat) / wall, 'p50_ms': 1000 * statistics.median(lat),
            'p99_ms': 1000 * q[98], 'errors': len(errors)}

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--clients', type=int, default=8)
    p.add_argument('--requests', type=int, default=50)
    p.add_argument('--tasks', nargs='*', default=list(NAMES))
    p.add_argument('--quick', action='store_true')
    a = p.parse_args(argv)
    if a.quick: a.clients, a.requests, a.tasks = 2, 5, ['mnist', 'imdb']
    print(f'CPU capability: {torch.backends.cpu.get_cpu_capability()}, torch threads: {torch.get_num_threads()}, '
          f'{a.clients} clients x {a.requests} requests per task')
    with tempfile.TemporaryDirectory() as tmp:
        models, ins = build_models(Path(tmp)/'runs', a.tasks), sample_inputs()
        app = create_app(models, db=Path(tmp)/'fb.db')
        res = {}
        with BackgroundServer(app) as srv:
            for name in a.tasks:
                request(srv.url, name, ins[name])                      # warm-up
                res[name] = r = load(srv.url, name, ins[name], a.clients, a.requests)
                print(f"{name:10} {r['rps']:7.1f} req/s   p50 {r['p50_ms']:7.1f} ms   p99 {r['p99_ms']:7.1f} ms   "
                      f"errors {r['errors']}", flush=True)
        print(f"feedback store: {app.state.store.count('predictions')} predictions recorded")
    return 1 if any(r['errors'] for r in res.values()) else 0

if __name__ == '__main__': sys.exit(main())
