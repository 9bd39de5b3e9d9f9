"""Train and evaluate the toy models on a GPU in fp32 and in fp16 / bf16 mixed precision.

For every (task, precision) run it calls tools/train.py (``--amp`` with mmengine's
AmpOptimWrapper and its dynamic loss scaler for fp16 and bf16) and then
tools/test.py on the final checkpoint; the runs share the GPU concurrently. The
same models at their initial weights are evaluated too, so that learning shows as
the gap between the two. Writes ``results.json`` and ``results.md`` in the work dir.

    python tools/gpu/toy_precision_matrix.py [--work-dir work_dirs/gpu_toy] [--iters 600]
        [--runs panoptic:fp32 panoptic:fp16 panoptic:bf16 semantic:fp32 semantic:bf16]
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))
from quickstart import TASKS, logged_metrics, save_untrained_checkpoint  # noqa: E402

AMP_DTYPES = {'fp16': 'float16', 'bf16': 'bfloat16'}
DEFAULT_RUNS = ['panoptic:fp32', 'panoptic:fp16', 'panoptic:bf16', 'semantic:fp32',
                'semantic:bf16']


def _tool(args, log):
    """Start a tool of tools/ with this interpreter, its output into ``log``."""
    return subprocess.Popen([sys.executable] + args, cwd=REPO, stdout=open(log, 'w'),
                            stderr=subprocess.STDOUT,
                            env=dict(os.environ, OMP_NUM_THREADS='2'))


def _wait(procs):
    """Wait for {name: (Popen, log)}; exit naming the failed runs and their logs."""
    failed = [f'{name} (log: {log})' for name, (p, log) in procs.items() if p.wait() != 0]
    if failed:
        sys.exit('[toy_precision_matrix] failed: ' + ', '.join(failed))


def _median_iter_time(train_dir):
    """Median of the per-iteration times that mmengine logged during training."""
    logs = glob.glob(osp.join(train_dir, '*', 'vis_data', '*.json'))
    times = [json.loads(line)['time'] for log in logs for line in open(log)
             if '"time"' in line and '"loss"' in line]
    return statistics.median(times) if times else float('nan')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default=osp.join(REPO, 'work_dirs', 'gpu_toy'))
    parser.add_argument('--iters', type=int, default=600)
    parser.add_argument('--runs', nargs='+', default=DEFAULT_RUNS, help='task:precision')
    args = parser.parse_args()
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    runs = [tuple(r.split(':')) for r in args.runs]
    for task, precision in runs:
        if task not in TASKS or precision not in ('fp32', *AMP_DTYPES):
            sys.exit(f'[toy_precision_matrix] unknown run {task}:{precision}')
    subprocess.run([sys.executable, 'tools/generate_toy_data.py'], cwd=REPO, check=True)

    start = time.time()
    training = {}
    for task, precision in runs:
        options = [f'train_cfg.max_iters={args.iters}', f'train_cfg.val_interval={args.iters}',
                   f'param_scheduler.1.end={args.iters}',
                   f'param_scheduler.1.milestones=[{int(args.iters * 0.85)}]']
        amp = []
        if precision in AMP_DTYPES:
            amp = ['--amp']
            options.append(f'optim_wrapper.dtype={AMP_DTYPES[precision]}')
        run_dir = osp.join(work_dir, f'{task}_{precision}')
        log = osp.join(run_dir, 'train.log')
        os.makedirs(run_dir, exist_ok=True)
        training[f'{task}:{precision}'] = (
            _tool(['tools/train.py', TASKS[task]['config'], '--work-dir',
                   osp.join(run_dir, 'train'), *amp, '--cfg-options', *options], log), log)
    print(f'[toy_precision_matrix] training {len(runs)} runs concurrently ...', flush=True)
    _wait(training)
    train_seconds = time.time() - start

    testing = {}
    for task, precision in runs:
        run_dir = osp.join(work_dir, f'{task}_{precision}')
        checkpoint = osp.join(run_dir, 'train', f'iter_{args.iters}.pth')
        testing[f'{task}:{precision}'] = (
            _tool(['tools/test.py', TASKS[task]['config'], checkpoint, '--work-dir',
                   osp.join(run_dir, 'test')], osp.join(run_dir, 'test.log')),
            osp.join(run_dir, 'test.log'))
    for task in sorted({t for t, _ in runs}):
        checkpoint = save_untrained_checkpoint(TASKS[task]['config'],
                                               osp.join(work_dir, f'{task}_untrained.pth'))
        log = osp.join(work_dir, f'{task}_untrained.log')
        testing[f'{task}:untrained'] = (
            _tool(['tools/test.py', TASKS[task]['config'], checkpoint, '--work-dir',
                   osp.join(work_dir, f'{task}_untrained')], log), log)
    _wait(testing)

    results = {}
    for name in testing:
        task, precision = name.split(':')
        run_dir = (osp.join(work_dir, f'{task}_untrained') if precision == 'untrained'
                   else osp.join(work_dir, f'{task}_{precision}', 'test'))
        metrics = logged_metrics(run_dir)
        results[name] = {k: metrics[k] for k in TASKS[task]['metrics']}
        if precision != 'untrained':
            results[name]['s/iter'] = _median_iter_time(
                osp.join(work_dir, f'{task}_{precision}', 'train'))
    summary = dict(iters=args.iters, concurrent_training_seconds=train_seconds, results=results)
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    lines = [f'{args.iters} iterations; {len(runs)} runs trained concurrently on one GPU in '
             f'{train_seconds / 60:.1f} min', '', '| run | metrics |', '|---|---|']
    lines += [f'| {name} | ' + ', '.join(f'{k} {v:.2f}' for k, v in m.items()) + ' |'
              for name, m in sorted(results.items())]
    with open(osp.join(work_dir, 'results.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
