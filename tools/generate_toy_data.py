"""Generate the deterministic toy dataset that the CPU quickstart trains on.

COCO panoptic + COCO instance + ADE20K-style semantic annotations of the same
synthetic images; see tools/toy_data.py for the layout and classes.

    python tools/generate_toy_data.py [--out data/toy] [--num-train 200] [--num-val 40]
                                      [--size 128 [WIDTH]] [--seed 0]

A second run with the same parameters finds the finished dataset and exits at
once. --out defaults to data/toy in this checkout, whatever the working
directory; a given --out is taken relative to the working directory.
"""
import argparse
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # this checkout's m2f_mm

import toy_data  # noqa: E402  (tools/toy_data.py, beside this script)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default=osp.join(REPO, 'data', 'toy'), help='dataset root')
    parser.add_argument('--num-train', type=int, default=200, help='training images')
    parser.add_argument('--num-val', type=int, default=40, help='validation images')
    parser.add_argument('--size', type=int, nargs='+', default=[128], metavar='PIXELS',
                        help='image height, and width when it differs (default 128)')
    parser.add_argument('--seed', type=int, default=0, help='non-negative random seed')
    args = parser.parse_args(argv)
    if len(args.size) > 2 or min(args.size) < 16:
        parser.error('--size takes HEIGHT [WIDTH], each at least 16 pixels')
    if args.seed < 0 or min(args.num_train, args.num_val) < 0:
        parser.error('--seed, --num-train and --num-val must not be negative')
    return args


def main(argv=None):
    args = parse_args(argv)
    size = (args.size[0], args.size[-1])
    params = dict(num_train=args.num_train, num_val=args.num_val, image_size=size,
                  seed=args.seed)
    described = (f'{args.num_train} train + {args.num_val} val images of {size[0]}x{size[1]} '
                 f'(HxW), seed {args.seed}')
    paths = toy_data.find_toy_dataset(args.out, **params)
    if paths is not None:
        print(f'[toy-data] {paths["root"]} is up to date ({described}); nothing to do')
        return
    print(f'[toy-data] generating {described} in {osp.abspath(args.out)}')
    start = time.perf_counter()
    try:
        paths = toy_data.generate_toy_dataset(
            args.out, log=lambda line: print(f'[toy-data] {line}'), **params)
    except FileExistsError as err:
        sys.exit(f'[toy-data] {err}')
    print(f'[toy-data] done in {time.perf_counter() - start:.1f} s:')
    for key in ('coco_root', 'ade_root', 'meta'):
        print(f'[toy-data]   {paths[key]}')


if __name__ == '__main__':
    main()
