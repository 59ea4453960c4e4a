"""A process that uses l3 ends with its own output: nothing on stderr after it (issue 30, item 6).

`import torchvision` loads triton through torch's compiler; from triton 3.9 on it is built with nanobind, which prints
about 30 lines of "nanobind: leaked ..." at exit for each of its objects still alive then. l3.cpu's `freeze_imports`
(called by `l3 lesson` in each lesson's kernel) hides the objects alive then from the garbage collector, which would
keep nanobind's objects alive to the end; so it unfreezes at exit when a nanobind extension is loaded. The fake
extension below checks that choice where the installed triton is not built with nanobind.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def run_py(code: str, timeout=300, **env) -> subprocess.CompletedProcess:
    "`code` in a fresh Python with l3 from this checkout, quiet progress bars; its completed process."
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), str(ROOT/'tests')]), 'L3_QUIET': '1', **env}
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=timeout)

def test_import_vision_exits_quietly():
    p = run_py('import l3.vision')
    assert p.returncode == 0 and p.stderr == '', p.stderr[-3000:]

def test_training_one_batch_exits_quietly():
    # the data first: offline, l3 says on stderr that it wrote a stand-in, which is not what this test is about
    prep = run_py('from _serve_models import mnist_data; mnist_data()')
    assert prep.returncode == 0, prep.stderr[-3000:]
    p = run_py('''
        from l3.callbacks import Callback, CancelFit
        from l3.vision import cnn_learner
        from _serve_models import mnist_data
        class OneBatch(Callback):
            def after_batch(self):
                self.learn.trained = getattr(self.learn, 'trained', 0) + 1
                raise CancelFit
        learn = cnn_learner(mnist_data(), 'resnet18', pretrained=False)
        learn.fit(1, callbacks=[OneBatch()])
        print('batches', learn.trained)''')
    assert p.returncode == 0 and p.stderr == '', p.stderr[-3000:]
    assert p.stdout.split()[-2:] == ['batches', '1'], p.stdout[-2000:]

FAKE_NANOBIND = '''
    import atexit, gc, sys, types
    # registered before l3.cpu's handler, so it runs after it (atexit is last in, first out): what exit collects
    atexit.register(lambda: print('frozen at exit', gc.get_freeze_count(), flush=True))
    if {fake}:
        ext = types.ModuleType('fake_nanobind_ext')       # an extension: no .py file
        nb_func = type('nb_func', (), {{'__module__': 'nanobind'}})
        ext.f = nb_func()
        sys.modules['fake_nanobind_ext'] = ext
    import l3.fast
    import l3.cpu
    l3.cpu.freeze_imports()                           # as `l3 lesson` does in a lesson's kernel
    print('frozen', gc.get_freeze_count(), flush=True)'''

def test_freeze_undone_at_exit_only_with_nanobind():
    for fake in (False, True):
        p = run_py(FAKE_NANOBIND.format(fake=fake))
        assert p.returncode == 0, p.stderr[-3000:]
        out = dict(line.rsplit(' ', 1) for line in p.stdout.splitlines() if line.startswith('frozen'))
        assert int(out['frozen']) > 100_000, out                       # torch's objects frozen either way
        assert (int(out['frozen at exit']) == 0) == fake, out          # given back to the collector with nanobind
