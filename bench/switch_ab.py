"""One speed switch of l3 (an `L3_` setting read when the learner is built) measured on and off, interleaved.

    python bench/switch_ab.py L3_DENSE_GRAD                      # U-Net and classifier, frozen and unfrozen, bf16
    python bench/switch_ab.py L3_BF16_MATMUL --tasks cnn --phases unfrozen --rounds 8
    python bench/switch_ab.py --quick                            # smoke run (what `l3 bench all --quick` runs)

Two learners of `bench/conv_shapes.py` (the bench's models and batches, l3's defaults) are built in one process, one
with the switch off and one with it on; their training steps then alternate (`--steps` of one, `--steps` of the
other, `--rounds` times), each timed in CPU seconds of this process on one torch thread, so that a shared machine's
neighbours slow both alike. Printed per configuration: the median and the range of each side's step, and on/off.
"""
import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'bench'))

import torch  # noqa: E402
from conv_shapes import TASKS, learner, step_times  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('switch', nargs='?', default='L3_DENSE_GRAD',
                    help='an L3_ setting that l3 reads when it builds a learner (1: on, 0: off; default L3_DENSE_GRAD)')
    ap.add_argument('--tasks', default='unet,cnn')
    ap.add_argument('--phases', default='frozen,unfrozen')
    ap.add_argument('--dtype', default='bfloat16', choices=['bfloat16', 'float32'])
    ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--steps', type=int, default=3, help='steps of one side per round')
    ap.add_argument('--quick', action='store_true', help='smoke run: the classifier unfrozen, 1 round of 1 step')
    args = ap.parse_args(argv)
    if args.quick: args.tasks, args.phases, args.rounds, args.steps = 'cnn', 'unfrozen', 1, 1
    torch.set_num_threads(1)
    print(f'{torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, one thread; {args.switch} off / on; '
          f'CPU seconds per step, median [range] of {args.rounds} x {args.steps} steps each')
    for task in args.tasks.split(','):
        for phase in args.phases.split(','):
            learns = {}
            for on in ('0', '1'):
                os.environ[args.switch] = on
                torch.manual_seed(0)
                learns[on] = learner(task, phase == 'frozen', getattr(torch, args.dtype))
                step_times(learns[on], 1)
            del os.environ[args.switch]
            times = {'0': [], '1': []}
            for r in range(args.rounds):
                for on in (('0', '1') if r % 2 == 0 else ('1', '0')): times[on] += step_times(learns[on], args.steps)
            med = {k: statistics.median(v) for k, v in times.items()}
            name = {'cnn': 'classifier', 'unet': 'U-Net'}[task]
            print(f'{name} {TASKS[task][0]} {phase} {args.dtype}: off {med["0"]:.3f} s [{min(times["0"]):.3f}-'
                  f'{max(times["0"]):.3f}], on {med["1"]:.3f} s [{min(times["1"]):.3f}-{max(times["1"]):.3f}]: '
                  f'on/off {med["1"] / med["0"]:.3f}')
    os.system('uptime')


if __name__ == '__main__': main()
