"""Distributed training under torchrun: 2 CPU processes (gloo on 127.0.0.1) train the same model.

Checks that both processes end with identical weights (each started from different random weights: DDP must
broadcast process 0's), that each saw half of the training data, that the validation metrics are reduced across the
processes (both report the metrics of the whole validation set, equal to a single-process evaluation of the final
model), and that only process 0 prints and saves.
"""
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent('''
    import json, os, sys
    from pathlib import Path
    import torch, torch.nn as nn
    from l3.learner import Learner
    from l3.tensor_data import tensor_data
    from l3.distributed import rank, world_size
    import l3.schedules        # learn.fit_one_cycle
    import l3.learner_export   # learn.save
    from l3.metrics import accuracy
    out = Path(sys.argv[1])

    def blobs(n, seed):
        g = torch.Generator().manual_seed(seed)
        y = torch.randint(0, 3, (n,), generator=g)
        return torch.tensor([[0., 2.], [2., -1.], [-2., -1.]])[y] + torch.randn(n, 2, generator=g) * 0.8, y

    data = tensor_data(*blobs(256, 0), *blobs(128, 1), bs=16, classes=['a', 'b', 'c'], device='cpu', path=out)
    torch.manual_seed(100 + int(os.environ['RANK']))      # different initial weights in each process on purpose
    model = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    learn = Learner(data, model, metrics=[accuracy], path=out)
    learn.fit_one_cycle(2, 1e-2)
    r = rank()
    torch.save(learn.model.state_dict(), out / f'rank{r}.pt')
    h = learn.recorder.history[-1]
    (out / f'rank{r}.json').write_text(json.dumps({'world_size': world_size(), 'n_batches': len(learn.recorder.losses),
                                                   'valid_loss': h['valid_loss'], 'accuracy': h['accuracy'],
                                                   'validate': learn.validate()}))
    learn.save('final')
    torch.distributed.destroy_process_group()
''')

def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def _blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    return torch.tensor([[0., 2.], [2., -1.], [-2., -1.]])[y] + torch.randn(n, 2, generator=g) * 0.8, y

@pytest.mark.skipif(not torch.distributed.is_available(), reason='torch.distributed is not available')
def test_ddp_two_cpu_processes(tmp_path):
    (tmp_path / 'worker.py').write_text(WORKER)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'GLOO_SOCKET_IFNAME': 'lo', 'L3_QUIET': '0', 'L3_DEVICE': 'cpu',
           'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')])}
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=2', '--master_addr=127.0.0.1',
           f'--master_port={_free_port()}', str(tmp_path / 'worker.py'), str(tmp_path)]
    try: res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    except subprocess.TimeoutExpired as e: pytest.fail(f'torchrun did not finish in 240 s: {e.stdout} {e.stderr}')
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]

    w0, w1 = (torch.load(tmp_path / f'rank{r}.pt', weights_only=True) for r in (0, 1))
    assert w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0), 'weights differ across processes'
    m0, m1 = (json.loads((tmp_path / f'rank{r}.json').read_text()) for r in (0, 1))
    assert m0['world_size'] == m1['world_size'] == 2
    assert m0['n_batches'] == m1['n_batches'] == 2 * 8            # 256 items / 2 processes / bs 16, for 2 epochs
    assert m0['accuracy'] == m1['accuracy'] and m0['valid_loss'] == m1['valid_loss']   # reduced across processes

    # the reduced metrics are those of the whole validation set, as one process computes them on the final model
    model = nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    model.load_state_dict(w0)
    model.eval()
    x, y = _blobs(128, 1)
    with torch.no_grad(): out = model(x)
    acc, loss = (out.argmax(1) == y).float().mean().item(), F.cross_entropy(out, y).item()
    assert abs(m0['accuracy'] - acc) < 1e-6 and abs(m0['valid_loss'] - loss) < 1e-5, (m0, acc, loss)
    assert abs(m0['validate'][1] - acc) < 1e-6
    assert m0['accuracy'] > 0.8

    # only process 0 prints the epoch table and writes the checkpoint
    assert res.stdout.count('valid_loss') == 1, res.stdout
    assert (tmp_path / 'models' / 'final.pth').exists()
